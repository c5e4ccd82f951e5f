package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/pricing"
)

// PredictCmd prices a prompt offline.
type PredictCmd struct {
	Prompt    string      `arg:"" optional:"" help:"The prompt text, or - to read standard input."`
	File      string      `short:"f" placeholder:"FILE" type:"existingfile" help:"Read the prompt from a file."`
	Model     string      `short:"m" required:"" help:"Model to price the prompt for."`
	Provider  string      `enum:",anthropic,openai" default:"" help:"Force the provider (and so the tokenizer): anthropic or openai."`
	MaxTokens core.Tokens `name:"max-tokens" placeholder:"N" help:"Output limit of the call (default: the model's maximum output)."`
}

// Help is shown by `costplan predict --help`.
func (PredictCmd) Help() string {
	return `Counts the prompt's tokens offline (exact for OpenAI models, an upper-bound estimate
for Claude, which has no public tokenizer) and prices the input and the worst-case
output. No network call is made.

Examples:
  costplan predict "hello world" --model gpt-4o
  costplan predict --file prompt.txt --model claude-sonnet-4-5 --max-tokens 2000
  git diff | costplan predict - --model gpt-5 --json`
}

// prediction is predict's result; it is also the JSON output.
type prediction struct {
	Model       string      `json:"model"`
	PriceModel  string      `json:"price_model"`
	Provider    string      `json:"provider"`
	Note        string      `json:"note,omitempty"`
	Encoding    string      `json:"encoding"`
	InputTokens core.Tokens `json:"input_tokens"`
	Exact       bool        `json:"exact"`
	InputCost   core.Money  `json:"input_usd"`
	MaxOutput   core.Tokens `json:"max_output_tokens"`
	WorstOutput core.Money  `json:"worst_output_usd"`
	WorstTotal  core.Money  `json:"worst_total_usd"`
	LongContext bool        `json:"long_context,omitempty"`
}

// Run prices the prompt.
func (c PredictCmd) Run(a *app, g *Globals) error {
	if c.MaxTokens < 0 {
		return usageError{fmt.Errorf("--max-tokens must be positive, got %d", c.MaxTokens)}
	}
	text, err := c.text(a)
	if err != nil {
		return usageError{err}
	}
	cfg, err := g.load(a)
	if err != nil {
		return err
	}
	table, err := cfg.PriceTable(a.env, func(msg string) { fmt.Fprintf(a.stderr, "costplan: warning: %s\n", msg) })
	if err != nil {
		return usageError{err}
	}
	res, err := table.Lookup(c.Model)
	if err != nil {
		return err
	}
	p, err := predict(pricing.NewEstimator(), res, c.encoding(res.Model), text, c.MaxTokens)
	if err != nil {
		return err
	}
	if g.JSON {
		return writeJSON(a.stdout, p)
	}
	return p.print(a.stdout)
}

// text returns the prompt from the argument, the file or standard input.
func (c PredictCmd) text(a *app) (string, error) {
	switch {
	case c.File != "" && c.Prompt != "":
		return "", errors.New("give the prompt as an argument or with --file, not both")
	case c.File != "":
		b, err := os.ReadFile(c.File)
		return string(b), err
	case c.Prompt == "-":
		b, err := io.ReadAll(a.stdin)
		return string(b), err
	case c.Prompt == "":
		return "", errors.New("no prompt: give it as an argument, with --file FILE, or as - to read standard input")
	}
	return c.Prompt, nil
}

// encoding picks the tokenizer: the model's, unless --provider forces another one.
func (c PredictCmd) encoding(m *pricing.Model) pricing.Encoding {
	switch {
	case c.Provider == pricing.ProviderAnthropic:
		return pricing.EncodingClaude
	case c.Provider == pricing.ProviderOpenAI && m.Provider != pricing.ProviderOpenAI:
		return pricing.EncodingO200k
	}
	return pricing.Encoding(m.Encoding)
}

// predict counts and prices text for the resolved model. The output limit is
// maxTokens, or the model's maximum when it is zero, and never above that maximum:
// the proxy clamps a request to it too.
func predict(est *pricing.Estimator, res pricing.Resolution, enc pricing.Encoding, text string, maxTokens core.Tokens) (prediction, error) {
	m := res.Model
	if maxTokens <= 0 || m.MaxOutput > 0 && maxTokens > m.MaxOutput {
		maxTokens = m.MaxOutput
	}
	if maxTokens <= 0 {
		return prediction{}, usageError{fmt.Errorf("the output limit of %s is unknown: give --max-tokens, or max_output in its [pricing.models] entry", m.Name)}
	}
	n, exact := est.CountText(enc, text)
	input, rate := pricing.InputBound(m, n, pricing.InputPlain)
	output := core.OutputCost(maxTokens, rate)
	_, long := m.RatesFor(n)
	return prediction{
		Model: res.Requested, PriceModel: m.Name, Provider: m.Provider, Note: res.Note, Encoding: string(enc),
		InputTokens: n, Exact: exact, InputCost: input, MaxOutput: maxTokens, WorstOutput: output,
		WorstTotal: min(input, core.MaxMoney-output) + output, LongContext: long, // at most MaxMoney
	}, nil
}

func (p prediction) print(w io.Writer) error {
	model := p.PriceModel
	if p.Model != p.PriceModel {
		model = fmt.Sprintf("%s (priced as %s)", p.Model, p.PriceModel)
	}
	how := "exact"
	if !p.Exact {
		how = "estimated, an upper bound"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s, %s\n", model, p.Provider)
	if p.Note != "" {
		fmt.Fprintf(tw, "note\t%s\n", p.Note)
	}
	fmt.Fprintf(tw, "input\t%s tokens (%s, %s)\n", p.InputTokens, how, p.Encoding)
	fmt.Fprintf(tw, "input cost\t%s\n", p.InputCost)
	fmt.Fprintf(tw, "output, worst case\t%s tokens: %s\n", p.MaxOutput, p.WorstOutput)
	fmt.Fprintf(tw, "total, worst case\t%s\n", p.WorstTotal)
	if p.LongContext {
		fmt.Fprintf(tw, "tier\tlong context (input above the model's threshold)\n")
	}
	return tw.Flush()
}
