package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/costplan/costplan/core"
)

// ProxyCmd runs the metering proxy as a server.
type ProxyCmd struct {
	BudgetFlags     `embed:""`
	UpstreamFlags   `embed:""`
	Host            string       `placeholder:"HOST" help:"Address to listen on (default 127.0.0.1, or [proxy] host). A non-loopback address needs an admin token."`
	Port            *int         `placeholder:"PORT" help:"Port to listen on; 0 picks a free one (default 8080, or [proxy] port)."`
	AdminToken      string       `name:"admin-token" placeholder:"TOKEN" help:"Token that authorizes POST /v1/budget/reset (also COSTPLAN_ADMIN_TOKEN, [proxy] admin_token)."`
	MinOutputTokens *core.Tokens `name:"min-output-tokens" placeholder:"N" help:"Smallest output grant worth sending; a smaller one is a refusal (default 1024)."`
	MaxBody         *byteSize    `name:"max-body" placeholder:"SIZE" help:"Largest request body accepted, like 32MiB (default 32MiB)."`
}

// Help is shown by `costplan proxy --help`.
func (ProxyCmd) Help() string {
	return `Runs the budget-enforcing proxy for Anthropic Messages, OpenAI Chat Completions and
Responses (streaming included). Point clients at it with ANTHROPIC_BASE_URL and
OPENAI_BASE_URL; it prints the exact lines. SIGINT or SIGTERM drain calls in flight.

Examples:
  costplan proxy --per-call 1 --session 10
  costplan proxy --port 0 --session 25 --journal ./spend.jsonl
  costplan proxy --host 0.0.0.0 --admin-token "$TOKEN" --session 100`
}

// apply puts the flags that were given into cfg.
func (c *ProxyCmd) apply(cfg *Config) {
	c.BudgetFlags.apply(cfg)
	c.UpstreamFlags.apply(cfg)
	if c.Host != "" {
		cfg.Proxy.Host = c.Host
	}
	if c.Port != nil {
		cfg.Proxy.Port = *c.Port
	}
	if c.AdminToken != "" {
		cfg.Proxy.AdminToken = c.AdminToken
	}
	if c.MinOutputTokens != nil {
		cfg.Budget.MinOutputTokens = *c.MinOutputTokens
	}
	if c.MaxBody != nil {
		cfg.Proxy.MaxBody = *c.MaxBody
	}
}

// Run serves until SIGINT or SIGTERM.
func (c *ProxyCmd) Run(a *app, g *Globals) error {
	cfg, err := g.load(a)
	if err != nil {
		return err
	}
	c.apply(cfg)
	if !isLoopback(cfg.Proxy.Host) && cfg.Proxy.AdminToken == "" {
		return usageError{fmt.Errorf("--host %s is reachable from other machines: set --admin-token (or COSTPLAN_ADMIN_TOKEN) so that only its holder can reset the budget, or listen on 127.0.0.1", cfg.Proxy.Host)}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Proxy.Host, strconv.Itoa(cfg.Proxy.Port)))
	if err != nil {
		return usageError{fmt.Errorf("listen: %w (choose another --port, or 0 for a free one)", err)}
	}
	s, err := openSession(a.ctx, cfg, a.env, a.stderr, "proxy", 0)
	if err != nil {
		ln.Close()
		return err
	}
	go s.warmUp() // the first call should not wait for the tokenizers
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	origin := "http://" + ln.Addr().String()
	fmt.Fprintf(a.stdout, "costplan proxy listening on %s (session %s)\n%s\n\n", origin, s.id, announceCaps(cfg))
	fmt.Fprintf(a.stdout, "Point clients at it:\n  export ANTHROPIC_BASE_URL=%s\n  export OPENAI_BASE_URL=%s/v1\n", origin, origin)
	fmt.Fprintf(a.stdout, "Codex CLI: codex -c 'openai_base_url=\"%s/v1\"' ...\nBudget: curl %s/v1/budget\n", origin, origin)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-a.ctx.Done():
		fmt.Fprintln(a.stderr, "costplan: shutting down; settling calls in flight (Ctrl-C again to stop at once)")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = srv.Shutdown(shutdownCtx)
	}
	closeErr := s.close(context.Background())
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return closeErr
}

// isLoopback reports whether host only accepts connections from this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
