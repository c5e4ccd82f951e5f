package proxy

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/tidwall/gjson"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
)

// The fixtures' usage on claude-sonnet-4-5: 1,200 uncached input at $3, 1,000 5m
// writes at $3.75, 2,000 1h writes at $6, 40,000 reads at $0.30, 512 output at $15
// and one web search at $0.01.
const fixtureAnthropicCost core.Money = 3_600_000 + 3_750_000 + 12_000_000 + 12_000_000 + 7_680_000 + 10_000_000

var fixtureAnthropicUsage = core.Usage{InputTokens: 1200, CacheWrite5mTokens: 1000, CacheWrite1hTokens: 2000,
	CacheReadTokens: 40000, OutputTokens: 512, WebSearchRequests: 1}

func anthropicClient(p *testProxy, opts ...option.RequestOption) anthropic.Client {
	return anthropic.NewClient(append([]option.RequestOption{option.WithBaseURL(p.srv.URL), option.WithAPIKey("sk-ant-test-key-0123456789")}, opts...)...)
}

func helloParams(maxTokens int64) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5-20250929", MaxTokens: maxTokens,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello there"))},
	}
}

func TestAnthropicNonStreaming(t *testing.T) {
	p := newTestProxy(t)
	c := anthropicClient(p)
	var resp *http.Response
	msg, err := c.Messages.New(context.Background(), helloParams(1000), option.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Content[0].Text; got != "Hello! How can I help?" {
		t.Errorf("text = %q", got)
	}
	if got := resp.Header.Get(HeaderCost); got != fixtureAnthropicCost.Decimal() {
		t.Errorf("%s = %q, want %q", HeaderCost, got, fixtureAnthropicCost.Decimal())
	}
	wantRemaining := 5*core.Dollar - fixtureAnthropicCost
	if got := resp.Header.Get(HeaderRemaining); got != wantRemaining.Decimal() {
		t.Errorf("%s = %q, want %q", HeaderRemaining, got, wantRemaining.Decimal())
	}
	rec := p.waitCalls(t, 1)[0]
	if rec.Cost != fixtureAnthropicCost || rec.Usage != fixtureAnthropicUsage || rec.Outcome != journal.OutcomeOK ||
		rec.Status != 200 || rec.Stream || rec.Model != "claude-sonnet-4-5-20250929" || rec.PriceModel != "claude-sonnet-4-5" ||
		rec.RequestID != "" && rec.RequestID != "req_test_1" || rec.MaxTokensRequested != 1000 || rec.MaxTokensGranted != 1000 || rec.Estimated {
		t.Errorf("journal record %+v", rec)
	}
	snap, _ := p.meter.Ledger.Snapshot(context.Background())
	if snap.Spent != fixtureAnthropicCost || snap.Reserved != 0 || snap.Calls != 1 {
		t.Errorf("ledger %+v", snap)
	}
	// Auth and other end-to-end headers reach the upstream; the path and query too.
	seen := p.up.seen()[0]
	if seen.path != "/v1/messages" || seen.header.Get("Authorization") == "" || seen.header.Get("Anthropic-Version") == "" {
		t.Errorf("upstream saw %s %v", seen.path, seen.header)
	}
}

func TestAnthropicStreaming(t *testing.T) {
	p := newTestProxy(t)
	c := anthropicClient(p)
	var resp *http.Response
	st := c.Messages.NewStreaming(context.Background(), helloParams(2000), option.WithResponseInto(&resp))
	var msg anthropic.Message
	var text strings.Builder
	for st.Next() {
		ev := st.Current()
		if err := msg.Accumulate(ev); err != nil {
			t.Fatal(err)
		}
		if d, ok := ev.AsAny().(anthropic.ContentBlockDeltaEvent); ok {
			text.WriteString(d.Delta.Text)
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != "Hello! How can I help?" {
		t.Errorf("text = %q", text.String())
	}
	if msg.Usage.OutputTokens != 512 {
		t.Errorf("client accumulated output %d, want the stream unchanged (512)", msg.Usage.OutputTokens)
	}
	if got := resp.Header.Get(HeaderRemaining); got == "" {
		t.Errorf("no %s header at the start of the stream", HeaderRemaining)
	}
	if got := resp.Trailer.Get(HeaderCost); got != fixtureAnthropicCost.Decimal() {
		t.Errorf("trailer %s = %q, want %q", HeaderCost, got, fixtureAnthropicCost.Decimal())
	}
	rec := p.waitCalls(t, 1)[0]
	if rec.Cost != fixtureAnthropicCost || rec.Usage != fixtureAnthropicUsage || !rec.Stream || rec.Outcome != journal.OutcomeOK || rec.Estimated {
		t.Errorf("journal record %+v", rec)
	}
}

func TestAnthropicBetaQueryAndFreeRoutes(t *testing.T) {
	p := newTestProxy(t)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"POST", "/v1/messages/count_tokens?beta=true", 200},
		{"HEAD", "/api/hello", 404}, // passed through: the fake upstream has no such page
		{"GET", "/v1/models", 200},
	} {
		req, _ := http.NewRequest(tc.method, p.srv.URL+tc.path, strings.NewReader(`{"model":"claude-sonnet-4-5","messages":[]}`))
		req.Header.Set("X-Api-Key", "k")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
	if n := len(p.rec.calls()); n != 0 {
		t.Errorf("free routes journaled %d calls", n)
	}
	req, _ := http.NewRequest("POST", p.srv.URL+"/v1/messages?beta=true",
		strings.NewReader(`{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("X-Api-Key", "k")
	req.Header.Set("Anthropic-Beta", "interleaved-thinking-2025-05-14")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	seen := p.up.seen()
	if last := seen[len(seen)-1]; resp.StatusCode != 200 || last.path != "/v1/messages" || last.query != "beta=true" ||
		last.header.Get("Anthropic-Beta") == "" || last.header.Get("X-Api-Key") != "k" {
		t.Errorf("beta call: status %d, reached upstream as %s?%s with %v", resp.StatusCode, last.path, last.query, last.header)
	}
}

func TestAnthropicUnknownRoute(t *testing.T) {
	p := newTestProxy(t)
	req, _ := http.NewRequest("POST", p.srv.URL+"/v1/complete", strings.NewReader(`{}`))
	req.Header.Set("X-Api-Key", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := readAll(t, resp)
	if resp.StatusCode != 404 || gjson.Get(body, "type").Str != "error" || !strings.Contains(gjson.Get(body, "error.message").Str, "/v1/complete") {
		t.Errorf("status %d body %s", resp.StatusCode, body)
	}
	if len(p.up.seen()) != 0 {
		t.Error("an unknown route reached the upstream")
	}
}

func TestAnthropicRefusalNotRetried(t *testing.T) {
	// $0.001 per call cannot pay even the minimum grant on claude-sonnet-4-5.
	p := newTestProxy(t, withCaps(core.Caps{Session: 5 * core.Dollar, PerCall: core.Dollar / 1000}))
	c := anthropicClient(p)
	var resp *http.Response
	_, err := c.Messages.New(context.Background(), helloParams(4000), option.WithResponseInto(&resp))
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 {
		t.Fatalf("got %v, want a 429 API error", err)
	}
	if !strings.Contains(err.Error(), "per-call cap of $0.001") || !strings.Contains(err.Error(), "--per-call") {
		t.Errorf("message does not name the cap and the flag: %v", err)
	}
	if len(p.up.seen()) != 0 {
		t.Errorf("upstream hits: %d, want 0", len(p.up.seen()))
	}
	if got := resp.Header.Get(HeaderRefusal); got != "per_call" {
		t.Errorf("%s = %q", HeaderRefusal, got)
	}
	recs := p.waitCalls(t, 1)
	if recs[0].Outcome != journal.OutcomeRefused || recs[0].Refusal != "per_call" || recs[0].Status != 429 {
		t.Errorf("journal %+v", recs[0])
	}
	// The SDK made exactly one attempt.
	if n := len(p.rec.calls()); n != 1 {
		t.Errorf("attempts journaled: %d, want 1", n)
	}
}

func TestAnthropicClamp(t *testing.T) {
	// Session $0.50 on claude-opus-4-5 ($25/MTok out): a 128,000-token request is
	// clamped to what is left after the input bound.
	p := newTestProxy(t, withCaps(core.Caps{Session: core.Dollar / 2}))
	c := anthropicClient(p)
	params := helloParams(128000)
	params.Model = "claude-opus-4-5"
	params.Thinking = anthropic.ThinkingConfigParamOfEnabled(100000)
	if _, err := c.Messages.New(context.Background(), params, option.WithRequestTimeout(time.Hour)); err != nil {
		t.Fatal(err)
	}
	sent := gjson.ParseBytes(p.up.seen()[0].body)
	grant := sent.Get("max_tokens").Int()
	rec := p.waitCalls(t, 1)[0]
	if grant >= 20000 || grant < 1025 || core.Tokens(grant) != rec.MaxTokensGranted {
		t.Errorf("upstream max_tokens %d, journal grant %d; want the clamp below $0.50/$25 per MTok", grant, rec.MaxTokensGranted)
	}
	if b := sent.Get("thinking.budget_tokens").Int(); b != grant-1 {
		t.Errorf("budget_tokens %d, want %d", b, grant-1)
	}
	// The grant is exactly what the money pays after the input bound.
	input := rec.Reserved - core.OutputCost(core.Tokens(grant), 25*core.Dollar)
	want := core.Tokens(core.MulDivFloor(int64(core.Dollar/2-input), 1_000_000, int64(25*core.Dollar)))
	if core.Tokens(grant) != min(want, 64000) {
		t.Errorf("grant %d, want %d", grant, want)
	}
}

func TestAnthropicBelowFloorRefused(t *testing.T) {
	// $0.02 on opus at $25/MTok pays 800 output tokens: below the 1,024 floor.
	p := newTestProxy(t, withCaps(core.Caps{Session: 2 * core.Cent}))
	c := anthropicClient(p)
	params := helloParams(8000)
	params.Model = "claude-opus-4-5"
	_, err := c.Messages.New(context.Background(), params)
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || !strings.Contains(err.Error(), "session budget") {
		t.Fatalf("got %v, want a 429 naming the session budget", err)
	}
	if len(p.up.seen()) != 0 {
		t.Error("a refused call reached the upstream")
	}
	// The settled spend alone could not pay that call, so the session is locked:
	// even a call small enough to fit is refused now, naming the lock.
	params.MaxTokens = 100
	_, err = c.Messages.New(context.Background(), params)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || !strings.Contains(err.Error(), "locked") {
		t.Errorf("after the lock: got %v, want a 429 naming the lock", err)
	}
	if snap, _ := p.meter.Ledger.Snapshot(context.Background()); !snap.Locked || snap.Refused != 2 {
		t.Errorf("ledger %+v, want locked with 2 refusals", snap)
	}
}

// TestAnswerWithoutUsageChargedTheGrant shows that a complete answer that reports no
// usage is charged at the most its grant allowed, marked estimated, never free.
func TestAnswerWithoutUsageChargedTheGrant(t *testing.T) {
	p := newTestProxy(t)
	p.up.setRespond(func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		writeFixtureJSON(w, `{"id":"m","type":"message","role":"assistant","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn"}`)
	})
	req, _ := http.NewRequest("POST", p.srv.URL+"/v1/messages", strings.NewReader(`{"model":"claude-haiku-4-5","max_tokens":2000,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("X-Api-Key", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	rec := p.waitCalls(t, 1)[0]
	if !rec.Estimated || rec.Usage.OutputTokens != 2000 || rec.Usage.InputTokens == 0 {
		t.Fatalf("journal %+v, want the 2,000 granted output tokens charged and the input estimate, estimated", rec)
	}
	// Input at $1/MTok plus 2,000 output tokens at $5/MTok, exactly.
	want := core.OutputCost(rec.Usage.InputTokens, core.Dollar) + core.OutputCost(2000, 5*core.Dollar)
	if rec.Cost != want || resp.Header.Get(HeaderCost) != want.Decimal() {
		t.Errorf("cost %s (header %s), want %s", rec.Cost, resp.Header.Get(HeaderCost), want)
	}
}
