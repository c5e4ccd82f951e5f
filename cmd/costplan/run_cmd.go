package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/costplan/costplan"
	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/pricing"
)

// RunCmd makes one real call and compares the prediction with reality.
type RunCmd struct {
	BudgetFlags `embed:""`
	Prompt      string `arg:"" optional:"" help:"The prompt, or - to read standard input."`
	File        string `short:"f" placeholder:"FILE" type:"existingfile" help:"Read the prompt from a file."`
	Model       string `short:"m" required:"" help:"Model to call."`
	Provider    string `enum:",anthropic,openai" default:"" help:"Force the provider: anthropic or openai (default: the model's)."`
	MaxTokens   int64  `name:"max-tokens" placeholder:"N" help:"Output limit (default: the model's maximum, clamped to the budget)."`
	System      string `placeholder:"TEXT" help:"System prompt."`
	BaseURL     string `name:"base-url" placeholder:"URL" help:"API base (default: ANTHROPIC_BASE_URL / OPENAI_BASE_URL, else the public API)."`
}

// Help is shown by `costplan run --help`.
func (RunCmd) Help() string {
	return `Sends the prompt under the budget, streams the answer to standard output, then prints
on standard error the predicted and actual input tokens, output tokens and cost, and
the error of the prediction. Needs ANTHROPIC_API_KEY or OPENAI_API_KEY.

Examples:
  costplan run "Explain quantum computing in one paragraph." --model claude-sonnet-4-5
  costplan run --file prompt.md --model gpt-5 --per-call 0.25 --json`
}

// runResult is run's report; it is also the JSON output.
type runResult struct {
	Model                string      `json:"model"`
	Text                 string      `json:"text"`
	StopReason           string      `json:"stop_reason"`
	PredictedInputTokens int64       `json:"predicted_input_tokens"`
	InputTokens          core.Tokens `json:"input_tokens"`
	InputErrorPercent    float64     `json:"input_error_percent"`
	MaxTokens            int64       `json:"max_tokens"`
	OutputTokens         core.Tokens `json:"output_tokens"`
	Predicted            core.Money  `json:"predicted_usd"`
	Cost                 core.Money  `json:"cost_usd"`
	CostErrorPercent     float64     `json:"cost_error_percent"`
	Usage                core.Usage  `json:"usage"`
	Remaining            core.Money  `json:"remaining_usd"`
}

// Run makes the call.
func (c RunCmd) Run(a *app, g *Globals) error {
	prompt, err := PredictCmd{Prompt: c.Prompt, File: c.File}.text(a)
	if err != nil {
		return usageError{err}
	}
	if c.MaxTokens < 0 {
		return usageError{fmt.Errorf("--max-tokens must be positive, got %d", c.MaxTokens)}
	}
	cfg, err := g.load(a)
	if err != nil {
		return err
	}
	c.BudgetFlags.apply(cfg)
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	prices, err := cfg.PriceTable(a.env, func(msg string) { fmt.Fprintf(a.stderr, "costplan: warning: %s\n", msg) })
	if err != nil {
		return usageError{err}
	}
	loc, _ := cfg.Location() // Validate checked it
	key, base, err := c.credentials(a, prices)
	if err != nil {
		return err
	}
	sdk := costplan.Config{
		Provider: c.Provider, Model: c.Model, PerCall: cfg.Budget.PerCall, Session: cfg.Budget.Session,
		WarnAt: cfg.Budget.WarnAt, Daily: cfg.Budget.Daily, Monthly: cfg.Budget.Monthly, Location: loc,
		System: c.System, MaxTokens: c.MaxTokens, APIKey: key, BaseURL: base,
		JournalPath: cfg.Journal.Path, Prices: prices, MinOutputTokens: int64(cfg.Budget.MinOutputTokens),
		Hint: runHint,
	}
	warn := func(spent, total core.Money) {
		fmt.Fprintf(a.stderr, "costplan: warning: spent %s of the %s session budget (%.0f%%)\n", spent, total, 100*spent.Float()/total.Float())
	}
	if cfg.Budget.WarnAt > 0 { // the SDK reads zero as its default; here it turns the warning off
		sdk.OnWarning = func(spent, _, total costplan.Money) { warn(spent, total) }
	}
	llm, err := costplan.New(sdk)
	if err != nil {
		return sdkError{err}
	}
	defer llm.Close()
	shared, unshare, err := shareBudget(a.ctx, cfg, llm, a.stderr)
	if err != nil {
		return err
	}
	defer unshare()
	if shared != nil && cfg.Budget.WarnAt > 0 { // the SDK's OnWarning listens to the ledger shareBudget replaced
		shared.Subscribe(func(e core.Event) {
			if e.Kind == core.EventWarn {
				warn(e.Snapshot.Spent, e.Snapshot.Session)
			}
		})
	}
	out := io.Writer(a.stdout)
	if g.JSON {
		out = io.Discard
	}
	seq, final := llm.GenerateStream(a.ctx, []costplan.Message{{Role: "user", Content: prompt}})
	for delta, err := range seq {
		if err != nil {
			return sdkError{err}
		}
		fmt.Fprint(out, delta)
	}
	resp, err := final()
	var violation *costplan.BudgetViolationError
	if err != nil && !errors.As(err, &violation) {
		return sdkError{err}
	}
	if !g.JSON {
		fmt.Fprintln(out)
	}
	r := runResult{Model: resp.Model, Text: resp.Text, StopReason: resp.StopReason, PredictedInputTokens: resp.PredictedInputTokens,
		InputTokens: resp.Usage.TotalInput(), MaxTokens: resp.MaxTokens, OutputTokens: resp.Usage.OutputTokens,
		Predicted: resp.Predicted, Cost: resp.Cost, Usage: resp.Usage, Remaining: llm.Remaining()}
	r.InputErrorPercent = errorPercent(float64(r.PredictedInputTokens), float64(r.InputTokens))
	r.CostErrorPercent = errorPercent(r.Predicted.Float(), r.Cost.Float())
	if g.JSON {
		return writeJSON(a.stdout, r)
	}
	r.print(a.stderr)
	if violation != nil {
		fmt.Fprintf(a.stderr, "costplan: warning: %v\n", violation)
	}
	return nil
}

// runHint says how to raise the limit that refused a call, in run's flags.
func runHint(limit string) string {
	switch core.Limit(limit) {
	case core.LimitPerCall:
		return "raise it with --per-call USD, or ask for fewer output tokens with --max-tokens"
	case core.LimitSession, core.LimitLocked:
		return "raise it with --session USD"
	case core.LimitDaily:
		return "raise it with --daily USD"
	case core.LimitMonthly:
		return "raise it with --monthly USD"
	}
	return ""
}

// sdkError drops the "costplan: " that starts the SDK's errors, since main prints
// its own.
type sdkError struct{ err error }

func (e sdkError) Error() string { return strings.TrimPrefix(e.err.Error(), "costplan: ") }
func (e sdkError) Unwrap() error { return e.err }

// credentials reads the provider's API key and base URL from the environment
// (the --base-url flag wins over the variable).
func (c RunCmd) credentials(a *app, prices *pricing.Table) (key, base string, err error) {
	provider := c.Provider
	if provider == "" {
		res, err := prices.Lookup(c.Model)
		if err != nil {
			return "", "", err
		}
		provider = res.Model.Provider
	}
	keyVar, baseVar := "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"
	if provider == pricing.ProviderOpenAI {
		keyVar, baseVar = "OPENAI_API_KEY", "OPENAI_BASE_URL"
	}
	if key = a.env(keyVar); key == "" {
		return "", "", usageError{fmt.Errorf("no API key: set %s", keyVar)}
	}
	base = c.BaseURL
	if base == "" {
		base = a.env(baseVar)
	}
	return key, base, nil
}

// errorPercent is (predicted - actual) / actual in percent; 0 when actual is 0.
func errorPercent(predicted, actual float64) float64 {
	if actual == 0 {
		return 0
	}
	return math.Round(1000*(predicted-actual)/actual) / 10
}

func (r runResult) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\tpredicted\tactual\terror\n")
	fmt.Fprintf(tw, "input tokens\t%s\t%s\t%+.1f%%\n", core.Tokens(r.PredictedInputTokens), r.InputTokens, r.InputErrorPercent)
	fmt.Fprintf(tw, "output tokens\t≤ %s\t%s\t\n", core.Tokens(r.MaxTokens), r.OutputTokens)
	fmt.Fprintf(tw, "cost\t≤ %s\t%s\t%+.1f%%\n", r.Predicted, r.Cost, r.CostErrorPercent)
	fmt.Fprintf(tw, "remaining\t\t%s\t\n", r.Remaining)
	tw.Flush()
}
