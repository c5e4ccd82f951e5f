package mcpserver

import (
	"context"
	"errors"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
)

// Limits of recent_spend's limit argument.
const (
	DefaultRecentLimit = 10
	MaxRecentLimit     = 500
)

const recentSpendDescription = `Lists the last LLM API calls recorded in CostPlan's journal, newest last: call it to see what recent calls cost, which model was used, or why a call was refused.

Arguments: limit (how many calls, default 10, at most 500); session (optional: only calls of the session whose id starts with it; get_budget reports the current session id).

Returns JSON: calls (each with time, session, provider, model, price_model, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, cost_usd in US dollars, estimated (part of the usage was estimated), outcome ("ok", "refused", "upstream_error" or "aborted") and refusal (the limit that refused it)); returned, matched (how many calls matched in all) and total_usd (the cost of the calls returned).`

// RecentSpendTool returns recent_spend: the last calls in the journal at path.
func RecentSpendTool(path string) server.ServerTool {
	opts := append([]mcp.ToolOption{
		mcp.WithDescription(recentSpendDescription),
		mcp.WithInteger("limit", mcp.Min(1), mcp.Max(MaxRecentLimit), mcp.DefaultNumber(DefaultRecentLimit),
			mcp.Description("How many calls to list, newest last.")),
		mcp.WithString("session", mcp.Description("Only calls of the session whose id starts with this.")),
	}, readOnly("Recent LLM calls and their cost")...)
	return server.ServerTool{
		Tool: mcp.NewTool("recent_spend", opts...),
		Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			args := struct {
				Limit   *int   `json:"limit"`
				Session string `json:"session"`
			}{}
			if err := bind(req, &args); err != nil {
				return toolError("%v", err), nil
			}
			limit := DefaultRecentLimit
			if args.Limit != nil {
				limit = *args.Limit
			}
			if limit < 1 || limit > MaxRecentLimit {
				return toolError("limit must be between 1 and %d, got %d", MaxRecentLimit, limit), nil
			}
			if path == "" {
				return toolError("no journal is configured"), nil
			}
			out, err := recentCalls(ctx, path, args.Session, limit)
			if err != nil {
				return toolError("%v", err), nil
			}
			return jsonResult(out), nil
		},
	}
}

// Recent is recent_spend's result.
type Recent struct {
	// Calls are the last calls that matched, oldest first; never nil.
	Calls []Call `json:"calls"`
	// Returned is len(Calls).
	Returned int `json:"returned"`
	// Matched is how many calls matched in the whole journal.
	Matched int64 `json:"matched"`
	// Total is the cost of Calls.
	Total core.Money `json:"total_usd"`
}

// Call is one call record, with nothing but figures and names; the tool's
// description explains each JSON field to the agent.
type Call struct {
	Time             time.Time   `json:"time"`
	Session          string      `json:"session"`
	Provider         string      `json:"provider"`
	Model            string      `json:"model"`
	PriceModel       string      `json:"price_model"`
	InputTokens      core.Tokens `json:"input_tokens"`
	CacheReadTokens  core.Tokens `json:"cache_read_tokens"`
	CacheWriteTokens core.Tokens `json:"cache_write_tokens"`
	OutputTokens     core.Tokens `json:"output_tokens"`
	Cost             core.Money  `json:"cost_usd"`
	Estimated        bool        `json:"estimated,omitempty"`
	Outcome          string      `json:"outcome"`
	Refusal          string      `json:"refusal,omitempty"`
}

// errStop ends a scan early when ctx is done.
var errStop = errors.New("stop")

// recentCalls reads the last limit call records of the journal at path.
func recentCalls(ctx context.Context, path, session string, limit int) (Recent, error) {
	f := journal.Filter{Session: session, Types: []string{journal.TypeCall}}
	recent := journal.NewRecent(limit)
	n := 0
	_, err := journal.ReadFile(path, func(r journal.Record) error {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return errStop
		}
		if f.Match(r) {
			recent.Add(r)
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return Recent{}, ctx.Err()
	}
	if err != nil {
		return Recent{}, err
	}
	out := Recent{Calls: []Call{}, Matched: recent.Seen()}
	for _, r := range recent.Records() {
		out.Calls = append(out.Calls, Call{
			Time: r.TS, Session: r.Session, Provider: r.Provider, Model: r.Model, PriceModel: r.PriceModel,
			InputTokens: r.Usage.InputTokens, CacheReadTokens: r.Usage.CacheReadTokens,
			CacheWriteTokens: r.Usage.CacheWrite5mTokens + r.Usage.CacheWrite1hTokens,
			OutputTokens:     r.Usage.OutputTokens, Cost: r.Cost, Estimated: r.Estimated, Outcome: r.Outcome,
			Refusal: r.Refusal,
		})
		out.Total = addMoney(out.Total, r.Cost)
	}
	out.Returned = len(out.Calls)
	return out, nil
}
