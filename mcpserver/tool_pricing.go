package mcpserver

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/costplan/costplan/pricing"
)

const getPricingDescription = `Looks up what a model's tokens cost, as CostPlan's budget proxy prices them: call it to compare models or to choose a cheaper one when the budget is low.

Argument: model (a model name as the API takes it; dated IDs, provider prefixes like anthropic/ and -latest are accepted).

Returns JSON: price_model (the price-table entry used), provider, resolution ("exact", "alias" or "fallback") with steps (how the name was matched) and note (for a fallback: the model's family price was used because the name is not in the table); prices_per_million_tokens in US dollars (input, output, cache_read, cache_write_5m, cache_write_1h); long_context (a higher tier that applies when the input is above threshold_tokens), web_search_usd per search, context_window and max_output_tokens, encoding (the tokenizer used for estimates), source (where the price came from). An unknown model is a tool error that says how to add a price.`

// GetPricingTool returns get_pricing: a model's prices and how its name resolved.
func GetPricingTool(prices *pricing.Table) server.ServerTool {
	opts := append([]mcp.ToolOption{
		mcp.WithDescription(getPricingDescription),
		mcp.WithString("model", mcp.Required(), mcp.MinLength(1),
			mcp.Description("Model name, like claude-sonnet-4-5 or gpt-4o.")),
	}, readOnly("Model prices")...)
	return server.ServerTool{
		Tool: mcp.NewTool("get_pricing", opts...),
		Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var args struct {
				Model string `json:"model"`
			}
			if err := bind(req, &args); err != nil {
				return toolError("%v", err), nil
			}
			if args.Model == "" {
				return toolError("model is required, like claude-sonnet-4-5 or gpt-4o"), nil
			}
			if prices == nil {
				return toolError("no price table is configured"), nil
			}
			res, err := prices.Lookup(args.Model)
			if err != nil {
				return toolError("%v", err), nil
			}
			return jsonResult(res.Quote()), nil
		},
	}
}
