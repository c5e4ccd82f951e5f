package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/pricing"
)

// PricingCmd shows prices and imports price files.
type PricingCmd struct {
	Model  string `arg:"" optional:"" help:"Show one model and how its name resolves."`
	Import string `placeholder:"FILE" type:"existingfile" help:"Import a LiteLLM model_prices_and_context_window.json; its prices then replace the embedded ones."`
}

// Help is shown by `costplan pricing --help`.
func (PricingCmd) Help() string {
	return `Prices are USD per million tokens. Precedence: [pricing.models] in costplan.toml >
an imported or configured price file > the embedded table.

Examples:
  costplan pricing
  costplan pricing claude-opus-5-5
  costplan pricing gpt-4o --json
  costplan pricing --import model_prices_and_context_window.json`
}

// Run prints the table, one model, or imports a file.
func (c PricingCmd) Run(a *app, g *Globals) error {
	cfg, err := g.load(a)
	if err != nil {
		return err
	}
	if c.Import != "" {
		return c.importFile(a, cfg)
	}
	table, err := cfg.PriceTable(a.env, nil)
	if err != nil {
		return usageError{err}
	}
	if c.Model == "" {
		if g.JSON {
			return writeJSON(a.stdout, quotes(table.Models()))
		}
		return printTable(a.stdout, table)
	}
	res, err := table.Lookup(c.Model)
	if err != nil {
		return err
	}
	if g.JSON {
		return writeJSON(a.stdout, resolutionJSON(res, table))
	}
	return printModel(a.stdout, res, table)
}

// importFile validates a LiteLLM file and keeps a copy where PriceTable finds it.
func (c PricingCmd) importFile(a *app, cfg *Config) error {
	data, err := os.ReadFile(c.Import)
	if err != nil {
		return err
	}
	models, rep, err := pricing.ParseLiteLLM(bytes.NewReader(data), c.Import)
	if err != nil {
		return err
	}
	dst := importedPricesPath(a.env)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("import prices: %w", err)
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("import prices: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("import prices: %w", err)
	}
	fmt.Fprintf(a.stdout, "imported %d Anthropic and OpenAI models from %s (skipped %d other entries)\n", len(models), c.Import, rep.Skipped)
	fmt.Fprintf(a.stdout, "saved to %s; these prices now replace the embedded ones\n", dst)
	for _, fix := range rep.Corrected {
		fmt.Fprintf(a.stdout, "corrected %s\n", fix)
	}
	if cfg.Pricing.File != "" {
		fmt.Fprintf(a.stdout, "note: %s sets [pricing] file = %q, which is used instead of this import\n", cfg.File, cfg.Pricing.File)
	}
	return nil
}

// perMTok formats a per-million price with at least two decimals.
func perMTok(m core.Money) string {
	s := m.Decimal()
	dot := strings.IndexByte(s, '.')
	switch {
	case dot < 0:
		return s + ".00"
	case len(s)-dot == 2:
		return s + "0"
	}
	return s
}

func printTable(w io.Writer, t *pricing.Table) error {
	fmt.Fprintf(w, "Prices in USD per million tokens (embedded table as of %s; unknown models: %s).\n\n", t.AsOf, t.Policy())
	tt := textTable{left: 2}
	tt.add("MODEL", "PROVIDER", "INPUT", "OUTPUT", "CACHE READ", "WRITE 5M", "WRITE 1H", "CONTEXT", "MAX OUTPUT")
	for _, m := range t.Models() {
		tt.add(m.Name, m.Provider, perMTok(m.Input), perMTok(m.Output), perMTok(m.CacheRead), perMTok(m.CacheWrite5m),
			perMTok(m.CacheWrite1h), m.ContextWindow.String(), m.MaxOutput.String())
	}
	return tt.write(w)
}

func printModel(w io.Writer, res pricing.Resolution, t *pricing.Table) error {
	m := res.Model
	head := m.Name
	if res.Requested != m.Name {
		head = fmt.Sprintf("%s → %s (%s)", res.Requested, m.Name, res.How)
	}
	fmt.Fprintln(w, head)
	for _, s := range res.Steps {
		if s == head {
			continue
		}
		fmt.Fprintf(w, "  %s\n", s)
	}
	if res.Note != "" {
		fmt.Fprintf(w, "  note: %s\n", res.Note)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("provider", m.Provider)
	row("input", "$"+perMTok(m.Input)+" / MTok")
	row("output", "$"+perMTok(m.Output)+" / MTok")
	row("cache read", "$"+perMTok(m.CacheRead)+" / MTok")
	row("cache write 5m", "$"+perMTok(m.CacheWrite5m)+" / MTok")
	row("cache write 1h", "$"+perMTok(m.CacheWrite1h)+" / MTok")
	if lc := m.LongContext; lc != nil {
		row("long context", fmt.Sprintf("above %s input tokens: input $%s, output $%s, cache read $%s, write 5m $%s, write 1h $%s / MTok",
			lc.Threshold, perMTok(lc.Input), perMTok(lc.Output), perMTok(lc.CacheRead), perMTok(lc.CacheWrite5m), perMTok(lc.CacheWrite1h)))
	}
	if m.WebSearch > 0 {
		row("web search", m.WebSearch.String()+" / request")
	}
	row("context window", m.ContextWindow.String()+" tokens")
	row("max output", m.MaxOutput.String()+" tokens")
	enc := m.Encoding + " (exact counts)"
	if m.Encoding == "claude" {
		enc = "claude (estimated: no public tokenizer)"
	}
	row("encoding", enc)
	if m.Deprecated != "" {
		row("deprecated", m.Deprecated)
	}
	src := m.Source
	if src == "embedded" {
		src = "embedded table as of " + t.AsOf
	}
	row("source", src)
	return tw.Flush()
}

// quotes returns the public view of every model.
func quotes(ms []*pricing.Model) []pricing.Quote {
	out := make([]pricing.Quote, len(ms))
	for i, m := range ms {
		out[i] = m.Quote()
	}
	return out
}

// resolutionJSON is one model's quote with the date of the table.
func resolutionJSON(res pricing.Resolution, t *pricing.Table) any {
	return struct {
		pricing.Quote
		AsOf string `json:"prices_as_of"`
	}{res.Quote(), t.AsOf}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
