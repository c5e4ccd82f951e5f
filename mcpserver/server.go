// Package mcpserver serves CostPlan's budget to agents over the Model Context
// Protocol (github.com/mark3labs/mcp-go): how much a session may still spend, what a
// prompt would cost, what a model's tokens cost, and the last calls in the journal.
//
// It is a thin adapter: one constructor per tool, each tool read-only, over a Source
// of the budget (the live ledger in this process, a session's proxy over HTTP, or
// the journal and configuration outside a session). The same Server answers over
// stdio (costplan mcp) and as an http.Handler for /mcp on the proxy. No tool can
// change a budget, and no result carries an API key or the admin token.
package mcpserver

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/mark3labs/mcp-go/server"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/pricing"
)

// Name is the server name announced to clients.
const Name = "costplan"

// MaxRequestBody is the largest /mcp request body Handler reads.
const MaxRequestBody = 16 << 20

// instructions tell the agent what the server is for.
const instructions = `CostPlan enforces a hard dollar budget on the LLM API calls made here: a cap per call and a cap per session (sometimes also per day and per month). Calls that do not fit are refused before any money is spent. Call get_budget before expensive work to see what is left; call predict_cost to check whether a large prompt fits before sending it; get_pricing compares models; recent_spend lists the last calls and what they cost. Every tool only reads: none can raise or reset a budget. Money is in US dollars.`

// Options configure New. Source and Prices are required; a tool that needs a
// missing one answers with a tool error.
type Options struct {
	// Source reports the budget.
	Source Source
	// Prices resolves and prices models, the same table the proxy uses.
	Prices *pricing.Table
	// Estimator counts tokens; nil means a new one.
	Estimator *pricing.Estimator
	// MinOutput is the smallest output grant the proxy sends, for predict_cost's
	// refused_now; zero means core.DefaultMinOutput.
	MinOutput core.Tokens
	// Journal is the journal file recent_spend reads; empty makes recent_spend
	// answer that no journal is configured.
	Journal string
	// Version is announced to clients; empty means "dev".
	Version string
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// Server is CostPlan's MCP server. It owns no goroutines between requests and is
// safe for concurrent use.
type Server struct {
	mcp  *server.MCPServer
	http *server.StreamableHTTPServer
	log  *slog.Logger
}

// New returns a Server with the four tools registered.
func New(opts Options) *Server {
	if opts.Estimator == nil {
		opts.Estimator = pricing.NewEstimator()
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := server.NewMCPServer(Name, opts.Version,
		server.WithToolCapabilities(false),
		server.WithRecovery(),
		server.WithStrictInputSchemaDefault(),
		server.WithInstructions(instructions),
	)
	s.AddTools(
		GetBudgetTool(opts.Source),
		PredictCostTool(opts.Source, opts.Prices, opts.Estimator, opts.MinOutput),
		GetPricingTool(opts.Prices),
		RecentSpendTool(opts.Journal),
	)
	h := server.NewStreamableHTTPServer(s,
		server.WithStateLess(true),
		server.WithDisableStreaming(true),
		server.WithStreamableHTTPLogger(slog.New(warnings{log.Handler()})),
	)
	return &Server{mcp: s, http: h, log: log}
}

// MCP returns the underlying mcp-go server, for in-process clients.
func (s *Server) MCP() *server.MCPServer { return s.mcp }

// ServeStdio answers MCP messages read from in on out until in ends (nil) or ctx
// is done (ctx's error). When in ends, requests already read are answered first
// (for up to 30 seconds). Nothing but protocol is written to out; diagnostics go
// to the Logger. mcp-go keeps one stdio session per process, so run one ServeStdio
// at a time.
func (s *Server) ServeStdio(ctx context.Context, in io.Reader, out io.Writer) error {
	std := server.NewStdioServer(s.mcp)
	std.SetErrorLogger(slog.NewLogLogger(s.log.Handler(), slog.LevelError))
	o := &owed{}
	r := &drainReader{ctx: ctx, br: bufio.NewReader(in), owed: o}
	err := std.Listen(ctx, r, &drainWriter{w: out, owed: o})
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		s.log.Error("mcp stdio", "err", err)
	}
	return err
}

// Handler returns the streamable HTTP transport for /mcp. It is stateless (no
// session ids), so both protocol generations work without server-side state, and it
// opens no standalone event stream (GET answers 405: the tools have nothing to push),
// so no connection outlives its request and delays a shutdown. A
// request on a loopback listener whose Host header is not a loopback name is
// refused with 403 (DNS-rebinding protection); bodies above MaxRequestBody are
// cut off. Register it with the plain pattern "/mcp": the older protocol also uses
// GET and DELETE.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBody)
		}
		s.http.ServeHTTP(w, r)
	})
}

// warnings passes on warnings and errors only: mcp-go logs every refused GET and
// every session at info level, which would clutter the proxy's log.
type warnings struct{ slog.Handler }

func (w warnings) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && w.Handler.Enabled(ctx, l)
}

func (w warnings) WithAttrs(attrs []slog.Attr) slog.Handler {
	return warnings{w.Handler.WithAttrs(attrs)}
}

func (w warnings) WithGroup(name string) slog.Handler { return warnings{w.Handler.WithGroup(name)} }
