package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/mcpserver"
	"github.com/costplan/costplan/wrap"
)

// McpCmd serves the MCP tools over stdio.
type McpCmd struct {
	ProxyURL  string `name:"proxy-url" placeholder:"URL" help:"Origin of the session's proxy (also COSTPLAN_URL, which costplan exec sets)."`
	SessionID string `name:"session-id" placeholder:"ID" help:"The session to report (also COSTPLAN_SESSION, which costplan exec sets)."`
}

// Help is shown by `costplan mcp --help`.
func (McpCmd) Help() string {
	return `Serves CostPlan's MCP tools on standard input and output, for an agent to ask what it
may still spend: get_budget, predict_cost, get_pricing and recent_spend. Every tool only
reads. Inside costplan exec (COSTPLAN_URL and COSTPLAN_SESSION set) it reports the live
budget of that session; outside one it reports the configured caps and today's and this
month's spend from the journal. Only protocol goes to standard output; logs go to
standard error.

Examples:
  claude mcp add costplan -- costplan mcp
  costplan exec --session 5 --mcp -- claude`
}

// Run serves until standard input ends or the process is interrupted.
func (c McpCmd) Run(a *app, g *Globals) error {
	cfg, err := g.load(a)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	prices, err := cfg.PriceTable(a.env, func(msg string) { log.Warn(msg) })
	if err != nil {
		return usageError{err}
	}
	src, err := c.source(a, cfg, log)
	if err != nil {
		return err
	}
	srv := mcpserver.New(mcpserver.Options{
		Source: src, Prices: prices, MinOutput: cfg.Budget.MinOutputTokens, Journal: cfg.Journal.Path,
		Version: version, Logger: log,
	})
	err = srv.ServeStdio(a.ctx, a.stdin, a.stdout)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// source picks the live session's proxy when one is named, else the journal.
func (c McpCmd) source(a *app, cfg *Config, log *slog.Logger) (mcpserver.Source, error) {
	url, session := c.ProxyURL, c.SessionID
	if url == "" {
		url = a.env("COSTPLAN_URL")
	}
	if session == "" {
		session = a.env("COSTPLAN_SESSION")
	}
	if url != "" && session != "" {
		if err := checkUpstream(url); err != nil {
			return nil, usageError{fmt.Errorf("proxy URL %q: %w (set --proxy-url or COSTPLAN_URL)", url, err)}
		}
		return &mcpserver.ProxySource{URL: url, Session: session}, nil
	}
	if url != "" || session != "" {
		log.Warn("COSTPLAN_URL and COSTPLAN_SESSION must both be set to report a live session; reporting from the journal")
	}
	loc, err := cfg.Location()
	if err != nil {
		return nil, usageError{err}
	}
	return &mcpserver.JournalSource{Caps: cfg.Caps(), Daily: cfg.Budget.Daily, Monthly: cfg.Budget.Monthly,
		Tail: &journal.Tail{Path: cfg.Journal.Path, Location: loc}}, nil
}

// mcpServer returns the MCP server over the session's live ledger, for /mcp.
func (s *session) mcpServer() *mcpserver.Server {
	return mcpserver.New(mcpserver.Options{
		Source:    &mcpserver.LedgerSource{Ledger: s.ledger, Session: s.id, Windows: s.meter.Windows},
		Prices:    s.prices,
		Estimator: s.meter.Estimator,
		MinOutput: s.cfg.Budget.MinOutputTokens,
		Journal:   s.cfg.Journal.Path,
		Version:   version,
		Logger:    s.log,
	})
}

// withMCP returns argv with the agent told to start `costplan mcp` for this
// session, for exec --mcp; it warns on w and returns argv unchanged when the
// running binary cannot be found. Other commands are left alone: they inherit
// COSTPLAN_URL and COSTPLAN_SESSION.
func withMCP(w io.Writer, agent wrap.Agent, argv []string, cfg *Config, origin, session string) []string {
	if agent != wrap.AgentClaude && agent != wrap.AgentCodex {
		return argv
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(w, "costplan: --mcp: cannot find the costplan binary (%v); the agent runs without the MCP server\n", err)
		return argv
	}
	return mcpArgv(agent, argv, self, mcpServerArgs(cfg, origin, session))
}

// mcpServerArgs are the arguments of `costplan mcp` for a session: the session's
// proxy and id (agents may not pass the environment on to MCP servers), and the
// journal and configuration this costplan uses.
func mcpServerArgs(cfg *Config, origin, session string) []string {
	args := []string{"mcp", "--proxy-url", origin, "--session-id", session}
	if p, err := filepath.Abs(cfg.Journal.Path); err == nil {
		args = append(args, "--journal", p)
	}
	if cfg.File != "" {
		if p, err := filepath.Abs(cfg.File); err == nil {
			args = append(args, "--config", p)
		}
	}
	return args
}

// mcpArgv inserts the MCP server entry into an agent's command line, without
// touching the user's configuration files: Claude Code takes an inline JSON
// --mcp-config (in its --opt=value form, since the option takes several values and
// would swallow the prompt otherwise), Codex takes -c overrides of mcp_servers.
func mcpArgv(agent wrap.Agent, argv []string, command string, args []string) []string {
	switch agent {
	case wrap.AgentClaude:
		cfg, _ := json.Marshal(map[string]any{"mcpServers": map[string]any{
			mcpserver.Name: map[string]any{"command": command, "args": args},
		}})
		return wrap.InsertArgs(argv, "--mcp-config="+string(cfg))
	case wrap.AgentCodex:
		// A JSON string or array of strings is also a TOML basic string or array.
		cmd, _ := json.Marshal(command)
		list, _ := json.Marshal(args)
		return wrap.InsertArgs(argv,
			"-c", "mcp_servers."+mcpserver.Name+".command="+string(cmd),
			"-c", "mcp_servers."+mcpserver.Name+".args="+string(list))
	}
	return argv
}
