package mcpserver_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/mcpserver"
	"github.com/costplan/costplan/mcpserver/mcpservertest"
	"github.com/costplan/costplan/pricing"
)

func TestMCPToolList(t *testing.T) {
	mcpservertest.CheckTools(t, inProcess(t, newFixture(t).srv))
}

func TestMCPGetBudget(t *testing.T) {
	c := inProcess(t, newFixture(t).srv)
	var st mcpserver.Status
	mcpservertest.CallJSON(t, c, "get_budget", nil, &st)
	checks := []struct {
		name      string
		got, want any
	}{
		{"source", st.Source, mcpserver.SourceSession},
		{"session", st.Session, "sess-live"},
		{"session cap", st.Snapshot.Session, usd(t, "5")},
		{"per-call cap", st.PerCall, usd(t, "1")},
		{"warn at", st.WarnAt, 0.8},
		{"spent", st.Spent, usd(t, "0.05")},
		{"reserved", st.Reserved, usd(t, "0.23")},
		{"remaining", st.Remaining, usd(t, "4.72")},
		{"calls", st.Calls, int64(1)},
		{"in flight", st.InFlight, int64(1)},
		{"locked", st.Locked, false},
		{"warned", st.Warned, false},
		{"windows", len(st.Windows), 1},
		{"available", st.Available, usd(t, "0.17")},
		{"binding", st.Binding, core.LimitDaily},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	w := st.Windows[0]
	if w.Name != core.LimitDaily || w.Cap != usd(t, "1") || w.Spent != usd(t, "0.83") || w.Remaining != usd(t, "0.17") || !w.ResetsAt.Equal(dayResets) {
		t.Errorf("window: got %+v", w)
	}
}

func TestMCPGetBudgetMoneyIsDecimal(t *testing.T) {
	c := inProcess(t, newFixture(t).srv)
	text, _ := mcpservertest.Call(t, c, "get_budget", nil)
	for _, part := range []string{`"spent_usd":0.05,`, `"reserved_usd":0.23,`, `"remaining_usd":4.72,`, `"available_usd":0.17,`, `"binding_limit":"daily"`} {
		if !strings.Contains(text, part) {
			t.Errorf("get_budget: %s missing from %s", part, text)
		}
	}
}

func TestMCPPredictCost(t *testing.T) {
	f := newFixture(t)
	c := inProcess(t, f.srv)
	est := pricing.NewEstimator()

	t.Run("prompt", func(t *testing.T) {
		var p mcpserver.Prediction
		mcpservertest.CallJSON(t, c, "predict_cost", map[string]any{"model": "gpt-4o", "prompt": "hello world", "max_output_tokens": 100}, &p)
		// 2 tokens at $2.50/M and 100 at $10/M.
		if p.InputTokens != 2 || !p.Exact || p.InputCost != usd(t, "0.000005") || p.WorstOutput != usd(t, "0.001") ||
			p.WorstTotal != usd(t, "0.001005") || p.MaxOutput != 100 || p.Resolution != "exact" {
			t.Errorf("got %+v", p)
		}
		if !*p.FitsPerCall || !*p.FitsBudget || *p.RefusedNow || *p.AffordableOutput != 100 || *p.Available != usd(t, "0.17") {
			t.Errorf("fit: got %+v", p)
		}
	})

	t.Run("messages priced as the proxy prices them", func(t *testing.T) {
		msgs := []any{
			map[string]any{"role": "user", "content": "Summarize the design document."},
			map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": "It describes a budget proxy."}}},
		}
		var p mcpserver.Prediction
		mcpservertest.CallJSON(t, c, "predict_cost", map[string]any{"model": "claude-sonnet-4-5-20250929", "messages": msgs, "system": "Be brief.", "max_output_tokens": 4000}, &p)
		var raw [][]byte
		for _, m := range msgs {
			b, _ := json.Marshal(m)
			raw = append(raw, b)
		}
		e := est.CountPrompt(pricing.EncodingClaude, pricing.Prompt{System: []byte(`"Be brief."`), Messages: raw})
		res, _ := f.prices.Lookup("claude-sonnet-4-5")
		input, rate := pricing.InputBound(res.Model, e.Tokens, pricing.InputPlain)
		output := core.OutputCost(4000, rate)
		if p.InputTokens != e.Tokens || p.Exact || p.InputCost != input || p.WorstOutput != output || p.WorstTotal != input+output {
			t.Errorf("got %+v, want %d tokens, input %s, output %s", p, e.Tokens, input, output)
		}
		if p.PriceModel != "claude-sonnet-4-5" || p.Resolution != "alias" || p.Encoding != "claude" {
			t.Errorf("model: got %+v", p)
		}
	})

	t.Run("too big for the budget left", func(t *testing.T) {
		var p mcpserver.Prediction
		// 64,000 output tokens at $15/M is $0.96: within $1 per call, above the $0.17 left today.
		mcpservertest.CallJSON(t, c, "predict_cost", map[string]any{"model": "claude-sonnet-4-5", "prompt": "hi"}, &p)
		if p.MaxOutput != 64000 || p.WorstOutput != usd(t, "0.96") {
			t.Fatalf("got %+v", p)
		}
		// (0.17 - input) / $15 per million, rounded down.
		want := core.Tokens(core.MulDivFloor(int64(usd(t, "0.17")-p.InputCost), 1_000_000, int64(usd(t, "15"))))
		if !*p.FitsPerCall || *p.FitsBudget || *p.RefusedNow || *p.AffordableOutput != want || !strings.Contains(p.Advice, "shorten") {
			t.Errorf("got %+v, want %d affordable tokens", p, want)
		}
	})

	t.Run("too few output tokens affordable", func(t *testing.T) {
		// $0.17 left pays about 11,300 output tokens at $15/M, below a 20,000-token floor:
		// the proxy refuses rather than shortens, so it would grant nothing.
		strict := inProcess(t, mcpserver.New(mcpserver.Options{Source: f.source, Prices: f.prices, MinOutput: 20_000}))
		var p mcpserver.Prediction
		mcpservertest.CallJSON(t, strict, "predict_cost", map[string]any{"model": "claude-sonnet-4-5", "prompt": "hi"}, &p)
		if p.InputCost >= usd(t, "0.17") || !*p.RefusedNow || *p.AffordableOutput != 0 || !strings.Contains(p.Advice, "too few output tokens") {
			t.Errorf("got %+v, want refused with nothing affordable", p)
		}
	})

	t.Run("above the per-call cap", func(t *testing.T) {
		var p mcpserver.Prediction
		mcpservertest.CallJSON(t, c, "predict_cost", map[string]any{"model": "claude-opus-4-1", "prompt": strings.Repeat("word ", 40000), "max_output_tokens": 1024}, &p)
		if *p.FitsPerCall || *p.FitsBudget || !*p.RefusedNow || *p.AffordableOutput != 0 || !strings.Contains(p.Advice, "refused") {
			t.Errorf("got %+v", p)
		}
	})
}

func TestMCPGetPricing(t *testing.T) {
	c := inProcess(t, newFixture(t).srv)
	var p pricing.Quote
	mcpservertest.CallJSON(t, c, "get_pricing", map[string]any{"model": "claude-sonnet-4-5-20250929"}, &p)
	if p.PriceModel != "claude-sonnet-4-5" || p.Provider != "anthropic" || p.Resolution != "alias" || len(p.Steps) != 1 {
		t.Errorf("resolution: got %+v", p)
	}
	want := pricing.QuoteRates{Input: usd(t, "3"), Output: usd(t, "15"), CacheRead: usd(t, "0.3"), CacheWrite5m: usd(t, "3.75"), CacheWrite1h: usd(t, "6")}
	if p.Prices != want {
		t.Errorf("prices: got %+v, want %+v", p.Prices, want)
	}
	if p.LongContext == nil || p.LongContext.Threshold != 200_000 || p.MaxOutput != 64_000 || p.WebSearch != usd(t, "0.01") {
		t.Errorf("limits: got %+v", p)
	}

	var fb pricing.Quote
	mcpservertest.CallJSON(t, c, "get_pricing", map[string]any{"model": "claude-sonnet-9-9"}, &fb)
	if fb.Resolution != "fallback" || fb.Note == "" || fb.PriceModel == "" {
		t.Errorf("fallback: got %+v", fb)
	}
}

func TestMCPRecentSpend(t *testing.T) {
	c := inProcess(t, newFixture(t).srv)
	tests := []struct {
		args     map[string]any
		models   string
		matched  int64
		total    string
		outcomes string
	}{
		{nil, "claude-sonnet-4-5 gpt-4o claude-opus-4-1", 3, "0.006365", "ok ok refused"},
		{map[string]any{"limit": 2}, "gpt-4o claude-opus-4-1", 3, "0.00035", "ok refused"},
		{map[string]any{"session": "aaaa"}, "claude-sonnet-4-5 claude-opus-4-1", 2, "0.006015", "ok refused"},
		{map[string]any{"session": "zzzz"}, "", 0, "0", ""},
	}
	for _, tt := range tests {
		var r mcpserver.Recent
		mcpservertest.CallJSON(t, c, "recent_spend", tt.args, &r)
		var models, outcomes []string
		for _, call := range r.Calls {
			models = append(models, call.Model)
			outcomes = append(outcomes, call.Outcome)
		}
		if strings.Join(models, " ") != tt.models || r.Matched != tt.matched || r.Total != usd(t, tt.total) ||
			strings.Join(outcomes, " ") != tt.outcomes || r.Returned != len(r.Calls) {
			t.Errorf("%v: got %+v", tt.args, r)
		}
	}
	var r mcpserver.Recent
	mcpservertest.CallJSON(t, c, "recent_spend", map[string]any{"limit": 1}, &r)
	if got := r.Calls[0]; got.Refusal != "per_call" || got.Session != "aaaa1111" || got.Provider != "anthropic" {
		t.Errorf("last call: got %+v", got)
	}
	mcpservertest.CallJSON(t, c, "recent_spend", map[string]any{"session": "aaaa", "limit": 2}, &r)
	if got := r.Calls[0]; got.InputTokens != 1000 || got.OutputTokens != 200 || got.CacheReadTokens != 50 || got.Cost != usd(t, "0.006015") {
		t.Errorf("first call: got %+v", got)
	}
}

func TestMCPInvalidArguments(t *testing.T) {
	c := inProcess(t, newFixture(t).srv)
	tests := []struct {
		tool string
		args map[string]any
		want string
	}{
		{"get_budget", map[string]any{"reset": true}, `unknown argument "reset"`},
		{"predict_cost", map[string]any{"prompt": "hi"}, "model is required"},
		{"predict_cost", map[string]any{"model": "gpt-4o"}, "give the prompt text as prompt"},
		{"predict_cost", map[string]any{"model": "gpt-4o", "prompt": "a", "messages": []any{map[string]any{"role": "user", "content": "b"}}}, "not both"},
		{"predict_cost", map[string]any{"model": "gpt-4o", "messages": []any{map[string]any{"content": "b"}}}, "messages[0]: role is missing"},
		{"predict_cost", map[string]any{"model": "gpt-4o", "messages": []any{map[string]any{"role": "user", "content": 7}}}, "content must be a string"},
		{"predict_cost", map[string]any{"model": "gpt-4o", "messages": "hello"}, "messages: want an array"},
		{"predict_cost", map[string]any{"model": "gpt-4o", "prompt": "hi", "max_output_tokens": 0}, "at least 1"},
		{"predict_cost", map[string]any{"model": "gpt-4o", "prompt": "hi", "max_output_tokens": "many"}, "max_output_tokens: want an integer"},
		{"predict_cost", map[string]any{"model": "gpt-4o", "prompt": "hi", "max_output_tokens": 1.5}, "max_output_tokens: want an integer"},
		{"predict_cost", map[string]any{"model": "no-such-model-anywhere", "prompt": "hi"}, "unknown model"},
		{"get_pricing", map[string]any{}, "model is required"},
		{"get_pricing", map[string]any{"model": "llama-3"}, "add a price to costplan.toml"},
		{"recent_spend", map[string]any{"limit": 0}, "limit must be between 1 and 500"},
		{"recent_spend", map[string]any{"limit": 501}, "limit must be between 1 and 500"},
		{"recent_spend", map[string]any{"session": 5}, "session: want a string"},
	}
	for _, tt := range tests {
		text, isErr := mcpservertest.Call(t, c, tt.tool, tt.args)
		if !isErr || !strings.Contains(text, tt.want) {
			t.Errorf("%s %v: got error=%v %q, want a tool error containing %q", tt.tool, tt.args, isErr, text, tt.want)
		}
	}
}

// failing is a Source that cannot be read.
type failing struct{}

func (failing) Status(context.Context) (mcpserver.Status, error) {
	return mcpserver.Status{}, context.DeadlineExceeded
}

func TestMCPUnreadableBudget(t *testing.T) {
	f := newFixture(t)
	c := inProcess(t, mcpserver.New(mcpserver.Options{Source: failing{}, Prices: f.prices}))
	if text, isErr := mcpservertest.Call(t, c, "get_budget", nil); !isErr || !strings.Contains(text, "the budget cannot be read") {
		t.Errorf("get_budget: got %v %q", isErr, text)
	}
	var p mcpserver.Prediction
	mcpservertest.CallJSON(t, c, "predict_cost", map[string]any{"model": "gpt-4o", "prompt": "hi"}, &p)
	if p.BudgetError == "" || p.FitsBudget != nil || p.WorstTotal == 0 {
		t.Errorf("predict_cost: got %+v", p)
	}
	if text, isErr := mcpservertest.Call(t, c, "recent_spend", nil); !isErr || !strings.Contains(text, "no journal") {
		t.Errorf("recent_spend: got %v %q", isErr, text)
	}
	empty := inProcess(t, mcpserver.New(mcpserver.Options{}))
	for _, tool := range []string{"get_budget", "get_pricing", "predict_cost"} {
		if _, isErr := mcpservertest.Call(t, empty, tool, map[string]any{}); !isErr {
			t.Errorf("%s without a source or prices: want a tool error", tool)
		}
	}
}

func TestMCPLockedSession(t *testing.T) {
	f := newFixture(t)
	if err := f.ledger.Lock(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	c := inProcess(t, f.srv)
	var st mcpserver.Status
	mcpservertest.CallJSON(t, c, "get_budget", nil, &st)
	if !st.Locked || st.LockReason != "test" || st.Available != 0 || st.Binding != core.LimitLocked {
		t.Errorf("get_budget: got %+v", st)
	}
	var p mcpserver.Prediction
	mcpservertest.CallJSON(t, c, "predict_cost", map[string]any{"model": "gpt-4o-mini", "prompt": "hi", "max_output_tokens": 10}, &p)
	if !*p.RefusedNow || !strings.Contains(p.Advice, "locked") {
		t.Errorf("predict_cost: got %+v", p)
	}
}
