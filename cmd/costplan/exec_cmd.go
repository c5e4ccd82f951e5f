package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/wrap"
)

// ExecCmd runs a command under a budget.
type ExecCmd struct {
	BudgetFlags   `embed:""`
	UpstreamFlags `embed:""`
	Signal        string    `placeholder:"NAME" help:"Signal that stops the child when the budget is spent: TERM, INT, HUP, QUIT, KILL, USR1 or USR2 (default TERM, or [exec] signal)."`
	Grace         *duration `placeholder:"DURATION" help:"Time between that signal and SIGKILL (default 5s, or [exec] grace)."`
	OnExhaust     string    `name:"on-exhaust" enum:",stop,block" default:"" placeholder:"stop|block" help:"When the budget is spent: stop the child (exit 99), or block further calls and let it run (default stop)."`
	PTY           string    `name:"pty" enum:",auto,always,never" default:"" placeholder:"auto|always|never" help:"Run the child under a pseudo-terminal: auto (when stdin is a terminal), always or never."`
	Agent         string    `enum:",auto,claude,codex,none" default:"" placeholder:"auto|claude|codex|none" help:"Adapt the command line of a coding agent; auto detects it by the command's name."`
	Quiet         bool      `short:"q" help:"Print no warning line and no summary."`
	MCP           bool      `name:"mcp" help:"Give a detected agent (claude, codex) CostPlan's MCP server for this session on its command line, leaving its config files alone (also [exec] mcp)."`
	Cmd           []string  `arg:"" passthrough:"partial" name:"command" help:"The command to run, after --."`
}

// Help is shown by `costplan exec --help`.
func (ExecCmd) Help() string {
	return `Runs COMMAND with its API base URLs pointed at an in-process proxy that enforces the
budget: ANTHROPIC_BASE_URL, OPENAI_BASE_URL (and -c openai_base_url for Codex),
COSTPLAN_URL and COSTPLAN_SESSION are set for it. When the budget is spent the child
is stopped and costplan exits 99; otherwise it exits with the child's status.
The child never sees the admin token and cannot reset or raise its budget.

Examples:
  costplan exec --session 5 -- claude
  costplan exec --session 2 --per-call 0.5 -- make eval
  costplan exec --session 3 --on-exhaust block -- codex`
}

// exitCommandNotFound is the shell's status for a command that cannot be found.
const exitCommandNotFound = 127

// apply puts the flags that were given into cfg.
func (c *ExecCmd) apply(cfg *Config) {
	c.BudgetFlags.apply(cfg)
	c.UpstreamFlags.apply(cfg)
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Exec.Signal, c.Signal)
	set(&cfg.Exec.OnExhaust, c.OnExhaust)
	set(&cfg.Exec.PTY, c.PTY)
	set(&cfg.Exec.Agent, c.Agent)
	if c.Grace != nil {
		cfg.Exec.Grace = *c.Grace
	}
	cfg.Exec.Quiet = cfg.Exec.Quiet || c.Quiet
	cfg.Exec.MCP = cfg.Exec.MCP || c.MCP
}

// stopSignals are the signals --signal accepts.
var stopSignals = map[string]syscall.Signal{"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "HUP": syscall.SIGHUP,
	"QUIT": syscall.SIGQUIT, "KILL": syscall.SIGKILL, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2}

func parseSignal(name string) (syscall.Signal, error) {
	n := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(name)), "SIG")
	if s, ok := stopSignals[n]; ok {
		return s, nil
	}
	return 0, fmt.Errorf("--signal %q: want TERM, INT, HUP, QUIT, KILL, USR1 or USR2", name)
}

// execPlan is what exec decided before starting anything.
type execPlan struct {
	argv   []string
	agent  wrap.Agent
	signal syscall.Signal
	mode   wrap.PTYMode
}

func (c *ExecCmd) plan(cfg *Config, env func(string) string) (execPlan, error) {
	argv := c.Cmd
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		return execPlan{}, usageError{errors.New("no command to run: costplan exec [flags] -- COMMAND [ARGS...]")}
	}
	sig, err := parseSignal(cfg.Exec.Signal)
	if err != nil {
		return execPlan{}, usageError{err}
	}
	agent, err := wrap.ParseAgent(cfg.Exec.Agent)
	if err != nil {
		return execPlan{}, usageError{fmt.Errorf("[exec] agent: %w", err)}
	}
	mode, err := wrap.ParsePTYMode(cfg.Exec.PTY)
	if err != nil {
		return execPlan{}, usageError{fmt.Errorf("[exec] pty: %w", err)}
	}
	if cfg.Exec.OnExhaust != "stop" && cfg.Exec.OnExhaust != "block" {
		return execPlan{}, usageError{fmt.Errorf("[exec] on_exhaust must be stop or block, got %q", cfg.Exec.OnExhaust)}
	}
	// Chain in front of a gateway the user already has, unless an upstream was named.
	if !cfg.UpstreamSet.Anthropic && env("ANTHROPIC_BASE_URL") != "" {
		cfg.Upstream.Anthropic = env("ANTHROPIC_BASE_URL")
	}
	if !cfg.UpstreamSet.OpenAI && env("OPENAI_BASE_URL") != "" {
		cfg.Upstream.OpenAI = env("OPENAI_BASE_URL")
	}
	return execPlan{argv: argv, agent: agent.Resolve(argv), signal: sig, mode: mode}, nil
}

// Run supervises the command and returns its exit status through exitError.
func (c *ExecCmd) Run(a *app, g *Globals) error {
	cfg, err := g.load(a)
	if err != nil {
		return err
	}
	c.apply(cfg)
	p, err := c.plan(cfg, a.env)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	if _, err := exec.LookPath(p.argv[0]); err != nil {
		fmt.Fprintf(a.stderr, "costplan: command not found: %s (%v)\n", p.argv[0], errors.Unwrap(err))
		return exitError{exitCommandNotFound}
	}
	cfg.Proxy.AdminToken = "" // the supervised child must not be able to reset its budget
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen on loopback: %w", err)
	}
	s, err := openSession(a.ctx, cfg, a.env, a.stderr, p.argv[0], len(p.argv)-1)
	if err != nil {
		ln.Close()
		return err
	}
	// Load the tokenizers once the child is on its way, so the first call does
	// not wait for them and a short command does not pay for them.
	warm := time.AfterFunc(150*time.Millisecond, s.warmUp)
	defer warm.Stop()
	if !cfg.Exec.Quiet {
		fmt.Fprintf(a.stderr, "costplan: %s; session %s\n", announceCaps(cfg), s.id)
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	origin := "http://" + ln.Addr().String()
	status, stopped, runErr := c.supervise(a, cfg, s, p, origin)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	snap, _ := s.ledger.Snapshot(context.Background())
	if err := s.close(shutdownCtx); err != nil {
		fmt.Fprintf(a.stderr, "costplan: %v\n", err)
	}
	if runErr != nil {
		return runErr
	}
	if !cfg.Exec.Quiet {
		s.summary(a.stderr, snap)
	}
	if stopped && status.Stopped {
		return exitError{exitBudgetStop}
	}
	return exitError{status.Code}
}

// supervise starts the child and waits for it, stopping it when the budget locks.
func (c *ExecCmd) supervise(a *app, cfg *Config, s *session, p execPlan, origin string) (wrap.Status, bool, error) {
	argv := p.argv
	if p.agent == wrap.AgentCodex {
		argv = wrap.InjectCodex(argv, origin+"/v1")
	}
	if cfg.Exec.MCP {
		argv = withMCP(a.stderr, p.agent, argv, cfg, origin, s.id)
	}
	env := wrap.Environ(a.environ(), map[string]string{
		"ANTHROPIC_BASE_URL": origin, "OPENAI_BASE_URL": origin + "/v1",
		"COSTPLAN_URL": origin, "COSTPLAN_SESSION": s.id,
	}, []string{"COSTPLAN_ADMIN_TOKEN", "COSTPLAN_STORE"}) // nothing that could raise its own budget
	var (
		mu      sync.Mutex
		child   *wrap.Child
		stopped bool
		nl      = "\n"
	)
	say := func(format string, args ...any) {
		fmt.Fprintf(a.stderr, "costplan: "+format+nl, args...)
	}
	cancel := s.ledger.Subscribe(func(e core.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case e.Kind == core.EventWarn && !cfg.Exec.Quiet:
			say("warning: spent %s of the %s session budget (%.0f%%)", e.Snapshot.Spent, e.Snapshot.Session,
				100*e.Snapshot.Spent.Float()/e.Snapshot.Session.Float())
		case e.Kind == core.EventLock && cfg.Exec.OnExhaust == "stop" && !stopped:
			stopped = true
			say("budget spent: %s of %s (%s); stopping %s. Raise it with --session USD or [budget] session.",
				e.Snapshot.Spent, e.Snapshot.Session, e.Snapshot.LockReason, p.argv[0])
			if child != nil {
				child.Stop()
			}
		case e.Kind == core.EventLock:
			say("budget spent: %s of %s; further calls are refused (--on-exhaust block)", e.Snapshot.Spent, e.Snapshot.Session)
		}
	})
	defer cancel()
	ch, err := wrap.Start(context.WithoutCancel(a.ctx), wrap.Options{
		Argv: argv, Env: env, PTY: p.mode, Stdin: a.stdinFile(), Stdout: a.stdout, Stderr: a.stderr,
		StopSignal: p.signal, Grace: time.Duration(cfg.Exec.Grace),
	})
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			fmt.Fprintf(a.stderr, "costplan: %v\n", err)
			return wrap.Status{Code: exitCommandNotFound}, false, nil
		}
		return wrap.Status{}, false, err
	}
	defer ch.Restore()
	mu.Lock()
	child = ch
	if ch.PTY() {
		nl = "\r\n"
	}
	if stopped {
		ch.Stop()
	}
	mu.Unlock()
	st, err := ch.Wait()
	mu.Lock()
	defer mu.Unlock()
	nl = "\n"
	return st, stopped, err
}

// summary prints the session's totals.
func (s *session) summary(w io.Writer, snap core.Snapshot) {
	fmt.Fprintf(w, "costplan: spent %s of %s in %d calls", snap.Spent, snap.Session, snap.Calls)
	if snap.Refused > 0 {
		fmt.Fprintf(w, " (%d refused)", snap.Refused)
	}
	fmt.Fprintln(w)
	if top := s.tally.top(3); len(top) > 0 {
		fmt.Fprintf(w, "costplan: top models: %s\n", strings.Join(top, ", "))
	}
	fmt.Fprintf(w, "costplan: journal %s (costplan history --session %s)\n", s.journal.Path(), s.id)
}

// tally sums the session's calls by model for the summary. It wraps the journal.
type tally struct {
	next interface {
		Append(context.Context, journal.Record) error
	}
	mu     sync.Mutex // guards byName
	byName map[string]*modelTally
}

type modelTally struct {
	name  string
	cost  core.Money
	calls int
}

func (t *tally) Append(ctx context.Context, r journal.Record) error {
	if r.Type == journal.TypeCall && r.Outcome != journal.OutcomeRefused {
		t.mu.Lock()
		m := t.byName[r.PriceModel]
		if m == nil {
			m = &modelTally{name: r.PriceModel}
			t.byName[r.PriceModel] = m
		}
		m.cost += r.Cost
		m.calls++
		t.mu.Unlock()
	}
	return t.next.Append(ctx, r)
}

func (t *tally) top(n int) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	ms := make([]*modelTally, 0, len(t.byName))
	for _, m := range t.byName {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool {
		return ms[i].cost > ms[j].cost || ms[i].cost == ms[j].cost && ms[i].name < ms[j].name
	})
	var out []string
	for i, m := range ms {
		if i == n {
			break
		}
		out = append(out, fmt.Sprintf("%s %s (%d)", m.name, m.cost, m.calls))
	}
	return out
}
