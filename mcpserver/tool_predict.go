package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/pricing"
)

const predictCostDescription = `Prices an LLM call before it is sent: call it before a large prompt, a long conversation or a big max_output_tokens, or to compare models, to learn whether the call fits the per-call cap and the budget left.

Arguments: model (required); either prompt (plain text, counted alone: exact for OpenAI models) or messages (an array of {role, content} as sent to the API, content a string or an array of content blocks; counted with chat framing as the budget proxy counts them); optional system (system prompt text); optional max_output_tokens (default: the model's output limit).

Returns JSON (amounts in US dollars): price_model and resolution (how the name was matched; a "fallback" carries a note), input_tokens and exact (false means an upper-bound estimate: Claude has no public tokenizer), input_usd, max_output_tokens, worst_output_usd, worst_total_usd; per_call_cap_usd and fits_per_call; available_usd and fits_budget (whether the worst case fits what is left now); affordable_output_tokens (the output limit the proxy would grant now, 0 when it would refuse; it shortens a call's output limit to it); refused_now (the proxy would refuse the call now); advice (one sentence). Nothing is sent to any model.`

// PredictCostTool returns predict_cost: the worst-case cost of a call and whether
// it fits now. It counts and prices with the estimator and pricing functions the
// proxy uses; minOutput is the smallest output grant the proxy sends (zero means
// core.DefaultMinOutput) and a nil est means a new Estimator.
func PredictCostTool(src Source, prices *pricing.Table, est *pricing.Estimator, minOutput core.Tokens) server.ServerTool {
	opts := append([]mcp.ToolOption{
		mcp.WithDescription(predictCostDescription),
		mcp.WithString("model", mcp.Required(), mcp.MinLength(1),
			mcp.Description("Model name as the API takes it, like claude-sonnet-4-5 or gpt-4o.")),
		mcp.WithString("prompt", mcp.Description("Prompt text. Give prompt or messages, not both.")),
		mcp.WithArray("messages", mcp.Description("Messages as sent to the API. Give prompt or messages, not both."),
			mcp.MinItems(1), mcp.Items(map[string]any{
				"type": "object",
				"properties": map[string]any{
					"role":    map[string]any{"type": "string", "description": "user, assistant, system, developer or tool"},
					"content": map[string]any{"type": []string{"string", "array"}, "description": "Text, or an array of content blocks."},
				},
				"required": []string{"role", "content"},
			})),
		mcp.WithString("system", mcp.Description("System prompt text, if any.")),
		mcp.WithInteger("max_output_tokens", mcp.Min(1),
			mcp.Description("Output limit of the call; default the model's maximum output.")),
	}, readOnly("Predict the cost of an LLM call")...)
	if minOutput <= 0 {
		minOutput = core.DefaultMinOutput
	}
	if est == nil {
		est = pricing.NewEstimator()
	}
	p := predictor{src: src, prices: prices, est: est, minOutput: minOutput}
	return server.ServerTool{Tool: mcp.NewTool("predict_cost", opts...), Handler: p.handle}
}

// predictor carries predict_cost's dependencies.
type predictor struct {
	src       Source
	prices    *pricing.Table
	est       *pricing.Estimator
	minOutput core.Tokens
}

// predictArgs are predict_cost's arguments.
type predictArgs struct {
	Model           string            `json:"model"`
	Prompt          *string           `json:"prompt"`
	System          string            `json:"system"`
	Messages        []json.RawMessage `json:"messages"`
	MaxOutputTokens *int64            `json:"max_output_tokens"`
}

// Prediction is predict_cost's result; the tool's description explains each JSON
// field to the agent. Money is in US dollars, tokens are counts.
type Prediction struct {
	Model       string      `json:"model"`
	PriceModel  string      `json:"price_model"`
	Provider    string      `json:"provider"`
	Resolution  string      `json:"resolution"`
	Note        string      `json:"note,omitempty"`
	Encoding    string      `json:"encoding"`
	InputTokens core.Tokens `json:"input_tokens"`
	Exact       bool        `json:"exact"`
	InputCost   core.Money  `json:"input_usd"`
	MaxOutput   core.Tokens `json:"max_output_tokens"`
	WorstOutput core.Money  `json:"worst_output_usd"`
	WorstTotal  core.Money  `json:"worst_total_usd"`
	LongContext bool        `json:"long_context,omitempty"`
	// rate is the output price per million tokens that applies.
	rate core.Money

	// The fields below describe the budget now; they are absent when it cannot be
	// read, and BudgetError says why.
	PerCallCap       *core.Money  `json:"per_call_cap_usd,omitempty"`
	FitsPerCall      *bool        `json:"fits_per_call,omitempty"`
	Available        *core.Money  `json:"available_usd,omitempty"`
	FitsBudget       *bool        `json:"fits_budget,omitempty"`
	AffordableOutput *core.Tokens `json:"affordable_output_tokens,omitempty"`
	RefusedNow       *bool        `json:"refused_now,omitempty"`
	Advice           string       `json:"advice,omitempty"`
	BudgetError      string       `json:"budget_error,omitempty"`
}

func (p predictor) handle(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var args predictArgs
	if err := bind(req, &args); err != nil {
		return toolError("%v", err), nil
	}
	if args.Model == "" {
		return toolError("model is required, like claude-sonnet-4-5 or gpt-4o"), nil
	}
	if p.prices == nil {
		return toolError("no price table is configured"), nil
	}
	res, err := p.prices.Lookup(args.Model)
	if err != nil {
		return toolError("%v", err), nil
	}
	pred, err := p.price(res, args)
	if err != nil {
		return toolError("%v", err), nil
	}
	p.fit(ctx, &pred)
	return jsonResult(pred), nil
}

// price counts the input and prices the worst case of the call.
func (p predictor) price(res pricing.Resolution, args predictArgs) (Prediction, error) {
	m := res.Model
	enc := pricing.Encoding(m.Encoding)
	tokens, exact, err := p.count(enc, args)
	if err != nil {
		return Prediction{}, err
	}
	maxOut := m.MaxOutput
	if args.MaxOutputTokens != nil {
		if *args.MaxOutputTokens < 1 {
			return Prediction{}, fmt.Errorf("max_output_tokens must be at least 1, got %d", *args.MaxOutputTokens)
		}
		maxOut = core.Tokens(*args.MaxOutputTokens)
		if m.MaxOutput > 0 && maxOut > m.MaxOutput {
			maxOut = m.MaxOutput // the proxy clamps to the model's limit too
		}
	}
	if maxOut <= 0 {
		return Prediction{}, fmt.Errorf("the output limit of %s is unknown: pass max_output_tokens", m.Name)
	}
	input, rate := pricing.InputBound(m, tokens, pricing.InputPlain)
	output := core.OutputCost(maxOut, rate)
	_, long := m.RatesFor(tokens)
	return Prediction{
		Model: res.Requested, PriceModel: m.Name, Provider: m.Provider, Resolution: res.How, Note: res.Note,
		Encoding: string(enc), InputTokens: tokens, Exact: exact, InputCost: input, MaxOutput: maxOut,
		WorstOutput: output, WorstTotal: addMoney(input, output), LongContext: long, rate: rate,
	}, nil
}

// count returns the input tokens of the prompt or the messages.
func (p predictor) count(enc pricing.Encoding, args predictArgs) (core.Tokens, bool, error) {
	switch {
	case args.Prompt != nil && len(args.Messages) > 0:
		return 0, false, errors.New("give prompt or messages, not both")
	case args.Prompt != nil:
		n, exact := p.est.CountText(enc, *args.Prompt)
		if args.System != "" {
			s, sExact := p.est.CountText(enc, args.System)
			n, exact = n+s, exact && sExact
		}
		return n, exact, nil
	case len(args.Messages) > 0:
		for i, raw := range args.Messages {
			if err := checkMessage(raw); err != nil {
				return 0, false, fmt.Errorf("messages[%d]: %w", i, err)
			}
		}
		prompt := pricing.Prompt{Messages: make([][]byte, len(args.Messages))}
		for i, raw := range args.Messages {
			prompt.Messages[i] = raw
		}
		if args.System != "" {
			prompt.System, _ = json.Marshal(args.System)
		}
		est := p.est.CountPrompt(enc, prompt)
		return est.Tokens, est.Exact, nil
	}
	return 0, false, errors.New("give the prompt text as prompt, or the conversation as messages")
}

// checkMessage accepts {"role": "...", "content": string or array}.
func checkMessage(raw json.RawMessage) error {
	var m struct {
		Role    *string         `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return errors.New("want an object with role and content")
	}
	if m.Role == nil || *m.Role == "" {
		return errors.New("role is missing")
	}
	if len(m.Content) == 0 || (m.Content[0] != '"' && m.Content[0] != '[') {
		return errors.New("content must be a string or an array of content blocks")
	}
	return nil
}

// fit compares the worst case with the budget now.
func (p predictor) fit(ctx context.Context, pred *Prediction) {
	if p.src == nil {
		pred.BudgetError = "no budget source is configured"
		return
	}
	st, err := p.src.Status(ctx)
	if err != nil {
		pred.BudgetError = err.Error()
		return
	}
	perCall, avail := st.PerCall, st.Available
	fitsPerCall := perCall == 0 || pred.WorstTotal <= perCall
	fitsBudget := pred.WorstTotal <= avail
	limit := avail
	if perCall > 0 && perCall < limit {
		limit = perCall
	}
	// The grant the proxy's reservation would make now: zero tokens when refused.
	afford, _, _, granted := core.DecideGrant(core.ReserveRequest{Input: pred.InputCost, OutputRate: pred.rate,
		Requested: pred.MaxOutput, MinOutput: p.minOutput}, limit)
	refused := st.Locked || !granted
	pred.PerCallCap, pred.FitsPerCall, pred.Available, pred.FitsBudget = &perCall, &fitsPerCall, &avail, &fitsBudget
	pred.AffordableOutput, pred.RefusedNow = &afford, &refused
	pred.Advice = advice(st.Locked, limit, *pred, fitsPerCall && fitsBudget, refused)
}

// advice says in one sentence what the agent can do; limit is the most one call
// may spend now.
func advice(locked bool, limit core.Money, pred Prediction, fits, refused bool) string {
	switch {
	case locked:
		return "the session is locked: every call is refused until an operator resets or raises the budget"
	case fits:
		return "fits: the worst case is within the per-call cap and the budget left"
	case refused && pred.InputCost > limit:
		return fmt.Sprintf("would be refused: the input alone (%s) is more than one call may spend now (%s); use a cheaper model or a shorter prompt", pred.InputCost, limit)
	case refused:
		return "would be refused: too few output tokens are affordable; use a cheaper model, a shorter prompt or a smaller max_output_tokens"
	}
	return fmt.Sprintf("the full worst case does not fit; the proxy would shorten the output limit to %d tokens", *pred.AffordableOutput)
}

// addMoney adds two non-negative amounts, saturating at core.MaxMoney.
func addMoney(a, b core.Money) core.Money {
	if a > core.MaxMoney-b {
		return core.MaxMoney
	}
	return a + b
}
