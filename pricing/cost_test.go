package pricing

import (
	"errors"
	"strings"
	"testing"

	"github.com/costplan/costplan/core"
)

func newTable(t *testing.T, opts Options) *Table {
	t.Helper()
	tb, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tb
}

func TestCost(t *testing.T) {
	tb := newTable(t, Options{})
	tests := []struct {
		name  string
		model string
		usage core.Usage
		want  core.Money
		long  bool
	}{
		{"anthropic all cache kinds", "claude-opus-4-5", core.Usage{InputTokens: 1234, CacheWrite5mTokens: 321, CacheWrite1hTokens: 77,
			CacheReadTokens: 9999, OutputTokens: 4321}, 121_970_750, false},
		{"sonnet 4.5 at the 200k threshold", "claude-sonnet-4-5", core.Usage{InputTokens: 150_000, CacheReadTokens: 50_000, OutputTokens: 1000},
			450_000_000 + 15_000_000 + 15_000_000, false},
		{"sonnet 4.5 one token above 200k", "claude-sonnet-4-5", core.Usage{InputTokens: 150_000, CacheReadTokens: 50_001, OutputTokens: 1000},
			900_000_000 + 30_000_600 + 22_500_000, true},
		{"sonnet 4.5 long tier with cache writes", "claude-sonnet-4-5-20250929", core.Usage{CacheWrite5mTokens: 100_000, CacheWrite1hTokens: 100_001},
			750_000_000 + 1_200_012_000, true},
		{"openai cached input and reasoning", "gpt-5", core.Usage{InputTokens: 2000, CacheReadTokens: 8000, OutputTokens: 3000, ReasoningTokens: 2500},
			2_500_000 + 1_000_000 + 30_000_000, false},
		{"openai cache writes priced", "gpt-5.6-terra", core.Usage{InputTokens: 10, CacheWrite5mTokens: 1000, OutputTokens: 1},
			25_000 + 3_125_000 + 15_000, false},
		{"gpt-5.4 above 272k", "gpt-5.4", core.Usage{InputTokens: 272_001, OutputTokens: 10}, 1_360_005_000 + 225_000, true},
		{"batch halves and rounds up once", "gpt-5-nano", core.Usage{CacheReadTokens: 1, Batch: true}, 3, false},
		{"batch anthropic", "claude-haiku-4-5", core.Usage{InputTokens: 1001, OutputTokens: 333, Batch: true}, 1_333_000, false},
		{"web search per request", "claude-sonnet-4-5", core.Usage{InputTokens: 1, WebSearchRequests: 3}, 30_003_000, false},
		{"fallback prices as newest opus", "claude-opus-5-5", core.Usage{InputTokens: 1_000_000, OutputTokens: 1_000_000}, 30 * core.Dollar, false},
		{"zero usage", "gpt-4o", core.Usage{}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tb.Lookup(tt.model)
			if err != nil {
				t.Fatalf("Lookup(%q): %v", tt.model, err)
			}
			got, b := Cost(res.Model, tt.usage)
			if got != tt.want {
				t.Errorf("Cost = %d nano (%s), want %d nano (%s)", got, got, tt.want, tt.want)
			}
			if b.Total != got || b.LongContext != tt.long || b.Batch != tt.usage.Batch {
				t.Errorf("breakdown %+v: total/long/batch disagree (want long=%v)", b, tt.long)
			}
		})
	}
}

func TestCostBreakdownItems(t *testing.T) {
	tb := newTable(t, Options{})
	res, _ := tb.Lookup("claude-opus-4-5")
	_, b := Cost(res.Model, core.Usage{InputTokens: 1234, CacheWrite5mTokens: 321, CacheWrite1hTokens: 77, CacheReadTokens: 9999, OutputTokens: 4321})
	want := Breakdown{Input: 6_170_000, CacheWrite5m: 2_006_250, CacheWrite1h: 770_000, CacheRead: 4_999_500, Output: 108_025_000, Total: 121_970_750}
	if b != want {
		t.Errorf("got %+v, want %+v", b, want)
	}
}

func TestCostHuge(t *testing.T) {
	tb := newTable(t, Options{})
	res, _ := tb.Lookup("o1-pro")
	got, _ := Cost(res.Model, core.Usage{InputTokens: 1 << 50, OutputTokens: 1 << 50})
	if got != core.MaxMoney {
		t.Errorf("got %d, want saturation at MaxMoney", got)
	}
}

func TestLookup(t *testing.T) {
	tb := newTable(t, Options{})
	tests := []struct {
		name, want, how string
	}{
		{"claude-sonnet-4-5", "claude-sonnet-4-5", HowExact},
		{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5", HowAlias},
		{"Claude-Sonnet-4-5", "claude-sonnet-4-5", HowExact},
		{"anthropic/claude-haiku-4-5", "claude-haiku-4-5", HowAlias},
		{"claude-3-5-haiku-latest", "claude-3-5-haiku", HowAlias},
		{"claude-opus-4-7-20260416", "claude-opus-4-7", HowAlias},
		{"claude-opus-4-8-20270101", "claude-opus-4-8", HowAlias},
		{"claude-sonnet-4-20250514", "claude-sonnet-4", HowAlias},
		{"claude-4-opus-20250514", "claude-opus-4", HowAlias},
		{"openai/gpt-4o", "gpt-4o", HowAlias},
		{"gpt-4o-2024-05-13", "gpt-4o-2024-05-13", HowExact},
		{"gpt-4o-2024-11-20", "gpt-4o", HowAlias},
		{"gpt-5-2025-08-07", "gpt-5", HowAlias},
		{"gpt-5.6-sol", "gpt-5.6", HowAlias},
		{"gpt-3.5-turbo-0125", "gpt-3.5-turbo", HowAlias},
		{"claude-opus-5-5", "claude-opus-4-8", HowFallback},
		{"claude-sonnet-6", "claude-sonnet-5", HowFallback},
		{"claude-haiku-5-5", "claude-haiku-4-5", HowFallback},
		{"claude-fable-5-1", "claude-fable-5", HowFallback},
		{"gpt-6.1-sol", "gpt-5.6", HowFallback},
		{"gpt-6.1-terra", "gpt-5.6-terra", HowFallback},
		{"gpt-6", "gpt-5.6", HowFallback},
		{"gpt-6-mini", "gpt-5.4-mini", HowFallback},
		{"gpt-5.9-codex", "gpt-5.3-codex", HowFallback},
		{"gpt-5.9-codex-mini", "gpt-5.1-codex-mini", HowFallback},
		{"gpt-5.9-pro", "gpt-5.5-pro", HowFallback},
		{"o5-mini", "o4-mini", HowFallback},
		{"o5", "o3", HowFallback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tb.Lookup(tt.name)
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if r.Model.Name != tt.want || r.How != tt.how {
				t.Errorf("got %s (%s), want %s (%s); steps %q", r.Model.Name, r.How, tt.want, tt.how, r.Steps)
			}
			if r.How == HowFallback && !strings.Contains(r.Note, tt.want) {
				t.Errorf("fallback note %q does not name %s", r.Note, tt.want)
			}
		})
	}
}

func TestLookupUnknown(t *testing.T) {
	var warnings []string
	fam := newTable(t, Options{Warn: func(s string) { warnings = append(warnings, s) }})
	rej := newTable(t, Options{UnknownModel: PolicyReject})
	for _, name := range []string{"llama-3-70b", "gpt-image-2", "claude-instant-1", "gpt-5-audio-preview", "mistral-large"} {
		for _, tb := range []*Table{fam, rej} {
			_, err := tb.Lookup(name)
			var ue *UnknownModelError
			if !errors.Is(err, core.ErrUnknownModel) || !errors.As(err, &ue) {
				t.Fatalf("%s under %s: got %v, want ErrUnknownModel", name, tb.Policy(), err)
			}
			if !strings.Contains(err.Error(), `[pricing.models."`+name+`"]`) || !strings.Contains(err.Error(), "output = ") {
				t.Errorf("%s: error lacks the TOML hint:\n%v", name, err)
			}
		}
	}
	_, err := rej.Lookup("claude-opus-5-5")
	if !errors.Is(err, core.ErrUnknownModel) || !strings.Contains(err.Error(), `provider = "anthropic"`) {
		t.Errorf("reject policy: got %v", err)
	}
	for range 3 {
		if _, err := fam.Lookup("claude-opus-5-5"); err != nil {
			t.Fatal(err)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "claude-opus-4-8") {
		t.Errorf("warnings = %q, want exactly one naming claude-opus-4-8", warnings)
	}
	if _, err := New(Options{UnknownModel: "guess"}); err == nil || !strings.Contains(err.Error(), "unknown_model") {
		t.Errorf("bad policy: got %v", err)
	}
}

func TestEmbeddedTable(t *testing.T) {
	tb := newTable(t, Options{})
	if tb.AsOf == "" || tb.Source == "" {
		t.Error("embedded table lacks as_of or source")
	}
	for _, m := range tb.Models() {
		if m.Provider == ProviderAnthropic && m.CacheWrite1h != 2*m.Input {
			t.Errorf("%s: 1h cache write %s, want 2x input %s", m.Name, m.CacheWrite1h.Decimal(), (2 * m.Input).Decimal())
		}
		if m.ContextWindow == 0 || m.MaxOutput == 0 {
			t.Errorf("%s: missing context window or max output", m.Name)
		}
	}
	want := map[string]Rates{
		"claude-3-opus":  {Input: 15 * core.Dollar, Output: 75 * core.Dollar, CacheRead: 1_500_000_000, CacheWrite5m: 18_750_000_000, CacheWrite1h: 30 * core.Dollar},
		"claude-3-haiku": {Input: 250_000_000, Output: 1_250_000_000, CacheRead: 30_000_000, CacheWrite5m: 300_000_000, CacheWrite1h: 500_000_000},
		"gpt-4":          {Input: 30 * core.Dollar, Output: 60 * core.Dollar, CacheRead: 30 * core.Dollar, CacheWrite5m: 30 * core.Dollar, CacheWrite1h: 30 * core.Dollar},
	}
	for name, r := range want {
		res, err := tb.Lookup(name)
		if err != nil || res.Model.Rates != r {
			t.Errorf("%s: got %+v (%v), want %+v", name, res.Model.Rates, err, r)
		}
	}
	if n := len(tb.Models()); n != 53 {
		t.Errorf("embedded table has %d models, want the 53 of the reference list", n)
	}
}

func TestOverrides(t *testing.T) {
	imported := []*Model{{Name: "gpt-4o", Provider: ProviderOpenAI, Rates: Rates{Input: 2 * core.Dollar, Output: 8 * core.Dollar}, Source: "prices.json"}}
	for _, m := range imported {
		if err := m.finish(); err != nil {
			t.Fatal(err)
		}
	}
	tb := newTable(t, Options{
		Imported: imported,
		Overrides: map[string]Entry{
			"gpt-4o":        {Output: 9 * core.Dollar},
			"my-finetune-1": {Provider: "openai", Input: core.Dollar, Output: 2 * core.Dollar},
		},
		OverrideSource: "costplan.toml",
	})
	r, _ := tb.Lookup("gpt-4o")
	if r.Model.Input != 2*core.Dollar || r.Model.Output != 9*core.Dollar || r.Model.Source != "costplan.toml" {
		t.Errorf("gpt-4o: got input %s output %s source %s; want import's input, config's output", r.Model.Input, r.Model.Output, r.Model.Source)
	}
	if r.Model.MaxOutput != 16_384 {
		t.Errorf("gpt-4o max output %d lost in the merge", r.Model.MaxOutput)
	}
	r, err := tb.Lookup("my-finetune-1")
	if err != nil || r.Model.CacheRead != core.Dollar {
		t.Errorf("new model: got %+v, %v", r.Model, err)
	}
	_, err = New(Options{Overrides: map[string]Entry{"x-1": {Provider: "openai", Input: core.Dollar}}, OverrideSource: "c.toml"})
	if err == nil || !strings.Contains(err.Error(), `c.toml: [pricing.models."x-1"]`) || !strings.Contains(err.Error(), "output") {
		t.Errorf("incomplete new model: got %v", err)
	}
}

func TestInputBound(t *testing.T) {
	tb := newTable(t, Options{})
	r, _ := tb.Lookup("claude-sonnet-4-5")
	for _, tt := range []struct {
		tokens     core.Tokens
		kind       InputKind
		in, outPer core.Money
	}{
		{1000, InputPlain, 3_000_000, 15 * core.Dollar},
		{1000, InputCacheWrite5m, 3_750_000, 15 * core.Dollar},
		{1000, InputCacheWrite1h, 6_000_000, 15 * core.Dollar},
		{300_000, InputPlain, 1_800_000_000, 22_500_000_000},
	} {
		in, out := InputBound(r.Model, tt.tokens, tt.kind)
		if in != tt.in || out != tt.outPer {
			t.Errorf("InputBound(%d, %d) = %d, %d; want %d, %d", tt.tokens, tt.kind, in, out, tt.in, tt.outPer)
		}
	}
}

func TestInputBoundCached(t *testing.T) {
	tb := newTable(t, Options{})
	r, _ := tb.Lookup("claude-opus-4-5")
	// 10,000 tokens, 8,000 of them expected from the cache: 8,000 at $0.50 and
	// 2,000 at the 1-hour write rate of $10.
	in, out := InputBoundCached(r.Model, 10_000, 8_000, InputCacheWrite1h)
	if in != 4_000_000+20_000_000 || out != 25*core.Dollar {
		t.Errorf("got %d, %d; want 24000000, %d", in, out, 25*core.Dollar)
	}
	// More cached than the total is capped at the total.
	if in, _ := InputBoundCached(r.Model, 1000, 5000, InputPlain); in != 500_000 {
		t.Errorf("got %d, want 500000", in)
	}
}

func TestOverrideAndImportByAlias(t *testing.T) {
	imported := []*Model{{Name: "claude-3-haiku-20240307", Provider: ProviderAnthropic, Rates: Rates{Input: 300_000_000, Output: 1_500_000_000}, Source: "prices.json"}}
	if err := imported[0].finish(); err != nil {
		t.Fatal(err)
	}
	tb := newTable(t, Options{Imported: imported, Overrides: map[string]Entry{"claude-sonnet-4-5-20250929": {Output: 16 * core.Dollar}}, OverrideSource: "c.toml"})
	for _, name := range []string{"claude-3-haiku", "claude-3-haiku-20240307"} {
		r, err := tb.Lookup(name)
		if err != nil || r.Model.Name != "claude-3-haiku" || r.Model.Input != 300_000_000 {
			t.Errorf("%s: got %+v (%v), want the imported price on the built-in entry", name, r.Model, err)
		}
	}
	for _, name := range []string{"claude-sonnet-4-5", "claude-sonnet-4-5-20250929"} {
		r, _ := tb.Lookup(name)
		if r.Model.Name != "claude-sonnet-4-5" || r.Model.Output != 16*core.Dollar || r.Model.Input != 3*core.Dollar {
			t.Errorf("%s: got %s output %s, want the override on claude-sonnet-4-5", name, r.Model.Name, r.Model.Output)
		}
	}
}
