package mcpserver

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

const getBudgetDescription = `Reports how much money this session may still spend on LLM API calls, before you start expensive work or when a call was refused for budget reasons.

Returns JSON (amounts in US dollars): available_usd (what the next calls may spend now, the tightest of all limits) and binding_limit (which limit sets it: session, daily, monthly or locked); session_usd, per_call_usd and warn_at (the caps; per_call_usd 0 means no per-call cap); spent_usd, reserved_usd (held by calls in flight) and remaining_usd of the session; calls, refused and in_flight counts; locked and lock_reason (a locked session refuses every call); warned (the warning threshold was crossed); windows (daily/monthly caps with cap_usd, spent_usd, remaining_usd, resets_at); session (the session id); source ("session" for a live session, "journal" when no session runs here, with today_spent_usd and month_spent_usd). No arguments. Reading the budget never changes it.`

// GetBudgetTool returns get_budget: the budget's caps, spend and what is left.
func GetBudgetTool(src Source) server.ServerTool {
	opts := append([]mcp.ToolOption{mcp.WithDescription(getBudgetDescription)}, readOnly("Remaining LLM budget")...)
	return server.ServerTool{
		Tool: mcp.NewTool("get_budget", opts...),
		Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if err := bind(req, &struct{}{}); err != nil {
				return toolError("%v", err), nil
			}
			if src == nil {
				return toolError("no budget source is configured"), nil
			}
			st, err := src.Status(ctx)
			if err != nil {
				return toolError("the budget cannot be read: %v", err), nil
			}
			return jsonResult(st), nil
		},
	}
}
