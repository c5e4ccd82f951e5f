package costplan_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/costplan/costplan"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/pricing"
)

// The fixtures' usage on claude-sonnet-4-5 ($3 input, $0.30 cache read, $15 output
// per million tokens): 1,200 input, 4,000 cache reads and 300 output tokens.
const anthropicCost costplan.Money = 1200*3_000 + 4000*300 + 300*15_000 // $0.0093

var anthropicUsage = costplan.Usage{InputTokens: 1200, CacheReadTokens: 4000, OutputTokens: 300}

// The fixtures' usage on gpt-5-mini ($0.25 input, $0.025 cached, $2 output per
// million): 2,000 prompt tokens of which 1,000 cached, 500 completion tokens of
// which 200 reasoning.
const openaiCost costplan.Money = 1000*250 + 1000*25 + 500*2_000 // $0.001275

var openaiUsage = costplan.Usage{InputTokens: 1000, CacheReadTokens: 1000, OutputTokens: 500, ReasoningTokens: 200}

// Per-token prices in nano-dollars.
const (
	sonnetIn, sonnetOut   costplan.Money = 3_000, 15_000
	gpt5miniIn, gpt5Out   costplan.Money = 250, 2_000
	sonnetMaxOutput       int64          = 64_000
	gpt5miniMaxOutput     int64          = 128_000
	anthropicModel                       = "claude-sonnet-4-5"
	openaiModel                          = "gpt-5-mini"
	defaultMinOutput      int64          = 1024
	testPrompt                           = "Explain quantum computing in one paragraph."
	anthropicFixtureModel                = "claude-sonnet-4-5-20250929"
	openaiFixtureModel                   = "gpt-5-mini-2025-08-07"
)

// fakeUpstream is a fake Anthropic and OpenAI API that records what it receives and
// answers with the fixtures in testdata: JSON, or SSE written event by event.
type fakeUpstream struct {
	t    testing.TB
	srv  *httptest.Server
	hits atomic.Int64

	mu     sync.Mutex // guards the following fields
	bodies []seen
	// respond answers instead of the fixtures when not nil.
	respond func(w http.ResponseWriter, r *http.Request, body []byte)
}

// seen is one request the upstream received.
type seen struct {
	path   string
	header http.Header
	body   []byte
}

func newFakeUpstream(t testing.TB) *fakeUpstream {
	u := &fakeUpstream{t: t}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.bodies = append(u.bodies, seen{r.URL.Path, r.Header.Clone(), body})
		respond := u.respond
		u.mu.Unlock()
		if respond != nil {
			respond(w, r, body)
			return
		}
		serveFixture(w, r, body)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *fakeUpstream) setRespond(f func(w http.ResponseWriter, r *http.Request, body []byte)) {
	u.mu.Lock()
	u.respond = f
	u.mu.Unlock()
}

// last returns the last request received.
func (u *fakeUpstream) last() seen {
	u.t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.bodies) == 0 {
		u.t.Fatal("the upstream received no request")
	}
	return u.bodies[len(u.bodies)-1]
}

// baseURL is the base URL a provider's client is configured with: the origin for
// Anthropic, the origin plus /v1 for OpenAI.
func (u *fakeUpstream) baseURL(provider string) string {
	if provider == costplan.OpenAI {
		return u.srv.URL + "/v1"
	}
	return u.srv.URL
}

// serveFixture answers a request with the fixture for its path and stream flag.
func serveFixture(w http.ResponseWriter, r *http.Request, body []byte) {
	stream := gjson.GetBytes(body, "stream").Bool()
	var name string
	switch {
	case strings.HasSuffix(r.URL.Path, "/v1/messages/count_tokens"):
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"input_tokens":42}`)
		return
	case strings.HasSuffix(r.URL.Path, "/v1/messages"):
		name = "anthropic_message.json"
	case strings.HasSuffix(r.URL.Path, "/v1/chat/completions"):
		name = "chat_completion.json"
	case strings.HasSuffix(r.URL.Path, "/v1/responses"):
		name = "responses_response.json"
	default:
		http.NotFound(w, r)
		return
	}
	if stream {
		name = strings.NewReplacer("_message.json", "_stream.sse", "_completion.json", "_stream.sse", "_response.json", "_stream.sse").Replace(name)
	}
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if stream {
		writeEvents(w, string(data), -1)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
}

// writeEvents writes the first n events of an SSE stream (all when n < 0), flushing
// each.
func writeEvents(w http.ResponseWriter, data string, n int) {
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	for i, ev := range strings.SplitAfter(data, "\n\n") {
		if ev == "" || i == n {
			break
		}
		io.WriteString(w, ev)
		fl.Flush()
	}
}

// fixture returns a testdata file.
func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// newTestClient returns a Client of provider calling up, with cfg's other fields.
func newTestClient(t testing.TB, up *fakeUpstream, provider string, cfg costplan.Config) *costplan.Client {
	t.Helper()
	cfg.Provider = provider
	if cfg.Model == "" {
		cfg.Model = anthropicModel
		if provider == costplan.OpenAI {
			cfg.Model = openaiModel
		}
	}
	if cfg.APIKey == "" {
		cfg.APIKey = "sk-test-0123456789"
	}
	cfg.BaseURL = up.baseURL(provider)
	c, err := costplan.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// providerCase holds what differs between the providers in the tests.
type providerCase struct {
	provider      string
	cost          costplan.Money
	usage         costplan.Usage
	model         string
	stopReason    string
	path          string
	inRate        costplan.Money
	outRate       costplan.Money
	modelMax      int64
	outputLimitAt string // the request field that carries the output limit
}

var providers = []providerCase{
	{costplan.Anthropic, anthropicCost, anthropicUsage, anthropicFixtureModel, "end_turn", "/v1/messages",
		sonnetIn, sonnetOut, sonnetMaxOutput, "max_tokens"},
	{costplan.OpenAI, openaiCost, openaiUsage, openaiFixtureModel, "stop", "/v1/chat/completions",
		gpt5miniIn, gpt5Out, gpt5miniMaxOutput, "max_completion_tokens"},
}

// checkResponse compares a fixture's answer with what is expected of p.
func checkResponse(t *testing.T, p providerCase, resp *costplan.Response) {
	t.Helper()
	if resp.Text != "Hello, world!" {
		t.Errorf("Text: got %q, want %q", resp.Text, "Hello, world!")
	}
	if resp.Model != p.model {
		t.Errorf("Model: got %v, want %v", resp.Model, p.model)
	}
	if resp.StopReason != p.stopReason {
		t.Errorf("StopReason: got %v, want %v", resp.StopReason, p.stopReason)
	}
	if resp.Usage != p.usage {
		t.Errorf("Usage: got %+v, want %+v", resp.Usage, p.usage)
	}
	if resp.Cost != p.cost {
		t.Errorf("Cost: got %v (%d), want %v (%d)", resp.Cost, int64(resp.Cost), p.cost, int64(p.cost))
	}
	if resp.Estimated {
		t.Errorf("Estimated: got true, want false")
	}
	if resp.PredictedInputTokens <= 0 {
		t.Errorf("PredictedInputTokens: got %v, want > 0", resp.PredictedInputTokens)
	}
	// The prediction is the input bound plus the granted output at the output price.
	want := costplan.Money(resp.PredictedInputTokens)*p.inRate + costplan.Money(resp.MaxTokens)*p.outRate
	if resp.Predicted != want {
		t.Errorf("Predicted: got %v, want %v (%d input tokens, %d output tokens)", resp.Predicted, want, resp.PredictedInputTokens, resp.MaxTokens)
	}
}

func TestClientGenerate(t *testing.T) {
	for _, p := range providers {
		t.Run(p.provider, func(t *testing.T) {
			up := newFakeUpstream(t)
			c := newTestClient(t, up, p.provider, costplan.Config{})
			resp, err := c.Generate(context.Background(), testPrompt)
			if err != nil {
				t.Fatal(err)
			}
			checkResponse(t, p, resp)
			// Default caps: $1 per call, $5 per session; the model's maximum fits.
			if resp.MaxTokens != p.modelMax {
				t.Errorf("MaxTokens: got %v, want %v", resp.MaxTokens, p.modelMax)
			}
			if got, want := c.Spent(), p.cost; got != want {
				t.Errorf("Spent: got %v, want %v", got, want)
			}
			if got, want := c.Remaining(), costplan.USD(5)-p.cost; got != want {
				t.Errorf("Remaining: got %v, want %v", got, want)
			}
			req := up.last()
			if req.path != p.path {
				t.Errorf("path: got %v, want %v", req.path, p.path)
			}
			if got := gjson.GetBytes(req.body, "messages.0.content").Str; got != testPrompt {
				t.Errorf("prompt sent: got %q, want %q", got, testPrompt)
			}
			if p.provider == costplan.Anthropic {
				if got := req.header.Get("X-Api-Key"); got != "sk-test-0123456789" {
					t.Errorf("X-Api-Key: got %q, want the key", got)
				}
				if got := req.header.Get("Anthropic-Version"); got == "" {
					t.Errorf("Anthropic-Version: got none, want one")
				}
			} else if got := req.header.Get("Authorization"); got != "Bearer sk-test-0123456789" {
				t.Errorf("Authorization: got %q, want the bearer key", got)
			}
		})
	}
}

func TestClientGenerateMessages(t *testing.T) {
	temp := 0.25
	for _, p := range providers {
		t.Run(p.provider, func(t *testing.T) {
			up := newFakeUpstream(t)
			c := newTestClient(t, up, p.provider, costplan.Config{System: "Answer briefly.", Temperature: &temp, MaxTokens: 2000})
			resp, err := c.GenerateMessages(context.Background(), []costplan.Message{
				{Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello."}, {Role: "user", Content: "Say it again."}})
			if err != nil {
				t.Fatal(err)
			}
			checkResponse(t, p, resp)
			body := up.last().body
			if got := gjson.GetBytes(body, "temperature").Float(); got != temp {
				t.Errorf("temperature: got %v, want %v", got, temp)
			}
			if got := gjson.GetBytes(body, p.outputLimitAt).Int(); got != 2000 {
				t.Errorf("%s: got %v, want %v", p.outputLimitAt, got, 2000)
			}
			roles := []string{}
			for _, m := range gjson.GetBytes(body, "messages.#.role").Array() {
				roles = append(roles, m.Str)
			}
			system, want := gjson.GetBytes(body, "system").Str, "user assistant user"
			if p.provider == costplan.OpenAI {
				system, want = gjson.GetBytes(body, "messages.0.content").Str, "system user assistant user"
			}
			if got := strings.Join(roles, " "); got != want {
				t.Errorf("roles: got %v, want %v", got, want)
			}
			if system != "Answer briefly." {
				t.Errorf("system prompt: got %q, want %q", system, "Answer briefly.")
			}
		})
	}
}

// TestClientClamp checks the output limit the upstream receives: lowered to what a
// small session can pay, and for OpenAI inserted when none was asked for.
func TestClientClamp(t *testing.T) {
	tests := []struct {
		name      string
		p         providerCase
		cfg       costplan.Config
		fixed     int64 // the limit expected, or 0 for the budget's clamp
		absentKey string
	}{
		{"anthropic small session", providers[0], costplan.Config{Session: costplan.USD(0.50)}, 0, ""},
		{"anthropic max tokens kept", providers[0], costplan.Config{MaxTokens: 1000}, 1000, ""},
		{"anthropic max tokens lowered", providers[0], costplan.Config{MaxTokens: 50_000, Session: costplan.USD(0.30)}, 0, ""},
		{"openai small session, no max tokens", providers[1], costplan.Config{Session: costplan.USD(0.10)}, 0, "max_tokens"},
		{"openai no max tokens inserts the model maximum", providers[1], costplan.Config{}, gpt5miniMaxOutput, "max_tokens"},
		{"openai max tokens kept", providers[1], costplan.Config{MaxTokens: 1000}, 1000, "max_tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newFakeUpstream(t)
			c := newTestClient(t, up, tt.p.provider, tt.cfg)
			resp, err := c.Generate(context.Background(), testPrompt)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.fixed
			if want == 0 {
				input := costplan.Money(resp.PredictedInputTokens) * tt.p.inRate
				want = int64((tt.cfg.Session - input) / tt.p.outRate)
				if want >= tt.p.modelMax || want >= tt.cfg.MaxTokens && tt.cfg.MaxTokens > 0 {
					t.Fatalf("the session of %v does not clamp: %d tokens fit", tt.cfg.Session, want)
				}
			}
			body := up.last().body
			if got := gjson.GetBytes(body, tt.p.outputLimitAt).Int(); got != want {
				t.Errorf("%s sent: got %v, want %v", tt.p.outputLimitAt, got, want)
			}
			if tt.absentKey != "" && gjson.GetBytes(body, tt.absentKey).Exists() {
				t.Errorf("%s sent: got %s, want none", tt.absentKey, gjson.GetBytes(body, tt.absentKey).Raw)
			}
			if resp.MaxTokens != want {
				t.Errorf("MaxTokens: got %v, want %v", resp.MaxTokens, want)
			}
			wantPredicted := costplan.Money(resp.PredictedInputTokens)*tt.p.inRate + costplan.Money(want)*tt.p.outRate
			if resp.Predicted != wantPredicted {
				t.Errorf("Predicted: got %v, want %v", resp.Predicted, wantPredicted)
			}
			if resp.Cost != tt.p.cost {
				t.Errorf("Cost: got %v, want %v", resp.Cost, tt.p.cost)
			}
		})
	}
}

// predictedInput returns the input estimate of testPrompt for provider, from a call
// under a generous budget.
func predictedInput(t *testing.T, provider string, cfg costplan.Config) costplan.Money {
	t.Helper()
	cfg.PerCall, cfg.Session, cfg.MaxTokens = 0, costplan.USD(100), 0
	c := newTestClient(t, newFakeUpstream(t), provider, cfg)
	resp, err := c.Generate(context.Background(), testPrompt)
	if err != nil {
		t.Fatal(err)
	}
	return costplan.Money(resp.PredictedInputTokens)
}

func TestClientRefusalWithoutNetwork(t *testing.T) {
	tests := []struct {
		name      string
		p         providerCase
		cfg       costplan.Config
		limit     string
		cap       costplan.Money
		minOutput int64
	}{
		{"anthropic session", providers[0], costplan.Config{Session: costplan.USD(0.001)}, "session", costplan.USD(0.001), defaultMinOutput},
		{"anthropic per call", providers[0], costplan.Config{PerCall: costplan.USD(0.01), Session: costplan.USD(5)}, "per_call", costplan.USD(0.01), defaultMinOutput},
		{"anthropic small max tokens", providers[0], costplan.Config{MaxTokens: 100, Session: costplan.USD(0.0005)}, "session", costplan.USD(0.0005), 100},
		{"openai session", providers[1], costplan.Config{Session: costplan.USD(0.001)}, "session", costplan.USD(0.001), defaultMinOutput},
		{"openai per call", providers[1], costplan.Config{PerCall: costplan.USD(0.001), Session: costplan.USD(5)}, "per_call", costplan.USD(0.001), defaultMinOutput},
		{"openai min output", providers[1], costplan.Config{MinOutputTokens: 4000, Session: costplan.USD(0.005)}, "session", costplan.USD(0.005), 4000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantPredicted := predictedInput(t, tt.p.provider, tt.cfg)*tt.p.inRate + costplan.Money(tt.minOutput)*tt.p.outRate
			check := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, costplan.ErrBudgetExceeded) {
					t.Fatalf("%s: got %v, want ErrBudgetExceeded", what, err)
				}
				var be *costplan.BudgetExceededError
				if !errors.As(err, &be) {
					t.Fatalf("%s: got %T, want *BudgetExceededError", what, err)
				}
				if be.Limit != tt.limit || be.Cap != tt.cap || be.Spent != 0 || be.Predicted != wantPredicted {
					t.Errorf("%s: got %+v, want limit %v, cap %v, spent 0, predicted %v", what, *be, tt.limit, tt.cap, wantPredicted)
				}
				if msg := be.Error(); !strings.HasPrefix(msg, "costplan: "+tt.limit) && !strings.HasPrefix(msg, "costplan: per-call") ||
					strings.Count(msg, "costplan:") != 1 || !strings.Contains(msg, "raise Config.") {
					t.Errorf("%s: got message %q, want one \"costplan: \" prefix, the limit and the hint to raise a Config field", what, msg)
				}
			}
			// A session that cannot pay a minimal call locks, so each way in gets a
			// Client of its own.
			t.Run("Generate", func(t *testing.T) {
				up := newFakeUpstream(t)
				c := newTestClient(t, up, tt.p.provider, tt.cfg)
				resp, err := c.Generate(context.Background(), testPrompt)
				if resp != nil {
					t.Errorf("got a response %+v, want nil", resp)
				}
				check("Generate", err)
				checkNothingSpent(t, up, c, tt.cfg.Session)
			})
			t.Run("GenerateStream", func(t *testing.T) {
				up := newFakeUpstream(t)
				c := newTestClient(t, up, tt.p.provider, tt.cfg)
				seq, final := c.GenerateStream(context.Background(), []costplan.Message{{Role: "user", Content: testPrompt}})
				n := 0
				for delta, err := range seq {
					n++
					if delta != "" {
						t.Errorf("got delta %q, want none", delta)
					}
					check("GenerateStream", err)
				}
				if n != 1 {
					t.Errorf("got %d values, want one error", n)
				}
				_, err := final()
				check("GenerateStream final", err)
				checkNothingSpent(t, up, c, tt.cfg.Session)
			})
		})
	}
}

// checkNothingSpent checks that no request left and nothing is spent or held.
func checkNothingSpent(t *testing.T, up *fakeUpstream, c *costplan.Client, session costplan.Money) {
	t.Helper()
	if got := up.hits.Load(); got != 0 {
		t.Errorf("upstream hits: got %v, want 0", got)
	}
	if c.Spent() != 0 || c.Remaining() != session {
		t.Errorf("Spent, Remaining: got %v, %v, want 0, %v", c.Spent(), c.Remaining(), session)
	}
}

func TestClientOnWarningOnceAndReset(t *testing.T) {
	type warning struct{ spent, remaining, total costplan.Money }
	var mu sync.Mutex
	var got []warning
	session := costplan.USD(0.05)
	up := newFakeUpstream(t)
	c := newTestClient(t, up, costplan.Anthropic, costplan.Config{
		Session: session, WarnAt: 0.5, MaxTokens: 1024,
		OnWarning: func(spent, remaining, total costplan.Money) {
			mu.Lock()
			got = append(got, warning{spent, remaining, total})
			mu.Unlock()
		},
	})
	warnings := func() []warning {
		mu.Lock()
		defer mu.Unlock()
		return append([]warning(nil), got...)
	}
	generate := func(n int) {
		t.Helper()
		for range n {
			if _, err := c.Generate(context.Background(), "Hi"); err != nil {
				t.Fatal(err)
			}
		}
	}
	// $0.0093 a call: the third crosses $0.025, half the session.
	generate(2)
	if w := warnings(); len(w) != 0 {
		t.Fatalf("after 2 calls: got warnings %+v, want none", w)
	}
	generate(1)
	want := warning{3 * anthropicCost, session - 3*anthropicCost, session}
	if w := warnings(); len(w) != 1 || w[0] != want {
		t.Fatalf("after 3 calls: got warnings %+v, want [%+v]", w, want)
	}
	generate(1)
	if w := warnings(); len(w) != 1 {
		t.Fatalf("after 4 calls: got %d warnings, want 1", len(w))
	}

	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if c.Spent() != 0 || c.Remaining() != session {
		t.Errorf("after Reset: got spent %v, remaining %v, want 0, %v", c.Spent(), c.Remaining(), session)
	}
	generate(2)
	if w := warnings(); len(w) != 1 {
		t.Fatalf("2 calls after Reset: got %d warnings, want 1", len(w))
	}
	generate(1)
	if w := warnings(); len(w) != 2 || w[1] != want {
		t.Fatalf("3 calls after Reset: got warnings %+v, want a second %+v", w, want)
	}
}

// TestClientResetUnlocks spends a session, sees it refuse, resets it and calls again.
func TestClientResetUnlocks(t *testing.T) {
	session := costplan.USD(0.03)
	up := newFakeUpstream(t)
	c := newTestClient(t, up, costplan.Anthropic, costplan.Config{Session: session, MaxTokens: 1024})
	for i := range 2 {
		if _, err := c.Generate(context.Background(), "Hi"); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	// $0.0114 left cannot hold 1,024 output tokens at $15 per million ($0.01536).
	_, err := c.Generate(context.Background(), "Hi")
	var be *costplan.BudgetExceededError
	if !errors.As(err, &be) || be.Limit != "session" || be.Spent != 2*anthropicCost || be.Cap != session {
		t.Fatalf("call 3: got %v, want a session refusal after spending %v", err, 2*anthropicCost)
	}
	_, err = c.Generate(context.Background(), "Hi")
	if !errors.As(err, &be) || be.Limit != "locked" {
		t.Fatalf("call 4: got %v, want the locked session refused", err)
	}
	hits := up.hits.Load()
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if got := c.Remaining(); got != session {
		t.Errorf("Remaining after Reset: got %v, want %v", got, session)
	}
	resp, err := c.Generate(context.Background(), "Hi")
	if err != nil {
		t.Fatalf("after Reset: %v", err)
	}
	if got, want := up.hits.Load(), hits+1; got != want {
		t.Errorf("upstream hits: got %v, want %v", got, want)
	}
	if c.Spent() != resp.Cost || c.Remaining() != session-resp.Cost {
		t.Errorf("after a call: got spent %v, remaining %v, want %v, %v", c.Spent(), c.Remaining(), resp.Cost, session-resp.Cost)
	}
}

// TestClientViolation has the upstream report far more input than the request
// could hold: the response comes with a *BudgetViolationError, the real cost is
// spent, and the session, now over its cap, refuses the next call.
func TestClientViolation(t *testing.T) {
	up := newFakeUpstream(t)
	up.setRespond(func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",`+
			`"content":[{"type":"text","text":"Done."}],"stop_reason":"end_turn",`+
			`"usage":{"input_tokens":500000,"output_tokens":300}}`)
	})
	session := costplan.USD(2)
	c := newTestClient(t, up, costplan.Anthropic, costplan.Config{Session: session, MaxTokens: 1000})
	resp, err := c.Generate(context.Background(), "Hi")
	// 500,000 input tokens is above the 200,000 long-context threshold: $6 input and
	// $22.50 output per million.
	const want costplan.Money = 500_000*6_000 + 300*22_500
	var v *costplan.BudgetViolationError
	if !errors.As(err, &v) {
		t.Fatalf("got %v, want a *BudgetViolationError", err)
	}
	if errors.Is(err, costplan.ErrBudgetExceeded) {
		t.Errorf("a violation matches ErrBudgetExceeded: got true, want false")
	}
	if resp == nil {
		t.Fatal("got no response, want it with the violation")
	}
	if resp.Text != "Done." || resp.Cost != want || resp.Usage.InputTokens != 500_000 {
		t.Errorf("response: got text %q cost %v usage %+v, want %q, %v, 500000 input", resp.Text, resp.Cost, resp.Usage, "Done.", want)
	}
	if v.Actual != want || v.Reserved != resp.Predicted || v.Reserved >= v.Actual {
		t.Errorf("violation: got %+v, want actual %v above the reserved %v", *v, want, resp.Predicted)
	}
	if got := c.Spent(); got != want {
		t.Errorf("Spent: got %v, want %v", got, want)
	}
	if got := c.Remaining(); got != 0 {
		t.Errorf("Remaining: got %v, want 0", got)
	}
	_, err = c.Generate(context.Background(), "Hi")
	var be *costplan.BudgetExceededError
	if !errors.As(err, &be) || be.Limit != "locked" || be.Spent != want || be.Cap != session {
		t.Errorf("next call: got %v, want a locked refusal with spent %v of %v", err, want, session)
	}
	if got := up.hits.Load(); got != 1 {
		t.Errorf("upstream hits: got %v, want 1", got)
	}
}

func TestNewMissingAPIKey(t *testing.T) {
	for _, tt := range []struct{ provider, model, variable string }{
		{costplan.Anthropic, anthropicModel, "ANTHROPIC_API_KEY"},
		{costplan.OpenAI, openaiModel, "OPENAI_API_KEY"},
		{"", "gpt-4o-mini", "OPENAI_API_KEY"},
	} {
		t.Run(tt.variable+"/"+tt.model, func(t *testing.T) {
			t.Setenv(tt.variable, "")
			c, err := costplan.New(costplan.Config{Provider: tt.provider, Model: tt.model})
			if err == nil {
				c.Close()
				t.Fatal("got no error, want a missing key")
			}
			if !strings.Contains(err.Error(), tt.variable) {
				t.Errorf("got %q, want it to name %s", err, tt.variable)
			}
		})
	}
	t.Run("from the environment", func(t *testing.T) {
		up := newFakeUpstream(t)
		t.Setenv("ANTHROPIC_API_KEY", "sk-from-env")
		t.Setenv("ANTHROPIC_BASE_URL", up.srv.URL)
		c, err := costplan.New(costplan.Config{Model: anthropicModel})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Generate(context.Background(), "Hi"); err != nil {
			t.Fatal(err)
		}
		if got := up.last().header.Get("X-Api-Key"); got != "sk-from-env" {
			t.Errorf("X-Api-Key: got %q, want %q", got, "sk-from-env")
		}
	})
}

func TestNewRejects(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	table, err := pricing.New(pricing.Options{})
	if err != nil {
		t.Fatal(err)
	}
	journalPath := filepath.Join(t.TempDir(), "journal.jsonl")
	tests := []struct {
		name string
		cfg  costplan.Config
		is   error  // when not nil, errors.Is must match
		want string // the error must contain it
	}{
		{"unknown model rejected", costplan.Config{Model: "acme-super-9000", UnknownModel: "reject"}, costplan.ErrUnknownModel, "acme-super-9000"},
		{"no model", costplan.Config{}, nil, "Model"},
		{"negative session", costplan.Config{Model: anthropicModel, Session: -1}, nil, "session"},
		{"negative per call", costplan.Config{Model: anthropicModel, PerCall: -500_000_000}, nil, "per-call"},
		{"negative per call from USD", costplan.Config{Model: anthropicModel, PerCall: costplan.USD(-0.5)}, nil, "per-call"},
		{"negative daily", costplan.Config{Model: anthropicModel, Daily: -1, JournalPath: journalPath}, nil, "negative"},
		{"negative monthly", costplan.Config{Model: anthropicModel, Monthly: -1, JournalPath: journalPath}, nil, "negative"},
		{"negative max tokens", costplan.Config{Model: anthropicModel, MaxTokens: -5}, nil, "negative"},
		{"warn at above one", costplan.Config{Model: anthropicModel, WarnAt: 1.5}, nil, "warn"},
		{"daily without a journal", costplan.Config{Model: anthropicModel, Daily: costplan.USD(10)}, nil, "JournalPath"},
		{"monthly without a journal", costplan.Config{Model: anthropicModel, Monthly: costplan.USD(100)}, nil, "JournalPath"},
		{"unknown provider", costplan.Config{Model: anthropicModel, Provider: "acme"}, nil, "Provider"},
		{"temperature not a number", costplan.Config{Model: anthropicModel, Temperature: &nan}, nil, "Temperature"},
		{"infinite temperature", costplan.Config{Model: anthropicModel, Temperature: &inf}, nil, "Temperature"},
		{"a policy beside a table", costplan.Config{Model: anthropicModel, Prices: table, UnknownModel: "reject"}, nil, "UnknownModel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.APIKey = "sk-test"
			c, err := costplan.New(tt.cfg)
			if err == nil {
				c.Close()
				t.Fatal("got no error, want one")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("got %v, want errors.Is %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
			if tt.name != "no model" && tt.name != "unknown model rejected" && tt.name != "unknown provider" {
				tr, err := costplan.NewTransport(tt.cfg)
				if err == nil {
					tr.Close()
					t.Errorf("NewTransport: got no error, want one")
				}
			}
		})
	}
}

// TestNewFailureClosesJournal checks that a New that fails after opening the
// journal leaves no file open behind it.
func TestNewFailureClosesJournal(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skipf("no /proc/self/fd to list open files: %v", err)
	}
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	openJournals := func() int {
		n := 0
		entries, _ := os.ReadDir("/proc/self/fd")
		for _, e := range entries {
			if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == path {
				n++
			}
		}
		return n
	}
	for _, cfg := range []costplan.Config{
		{Model: "acme-super-9000", UnknownModel: "reject", APIKey: "k", JournalPath: path},
		{Model: anthropicModel, Provider: "acme", APIKey: "k", JournalPath: path},
	} {
		if c, err := costplan.New(cfg); err == nil {
			c.Close()
			t.Fatalf("New(%+v): got no error, want one", cfg)
		}
	}
	if n := openJournals(); n != 0 {
		t.Errorf("journal files left open after New failed: got %d, want 0", n)
	}
}

// TestClientUnknownModelPolicy shows the default policy pricing an unknown model
// by its family, and "reject" refusing it.
func TestClientUnknownModelPolicy(t *testing.T) {
	up := newFakeUpstream(t)
	c := newTestClient(t, up, costplan.Anthropic, costplan.Config{Model: "claude-sonnet-9"})
	resp, err := c.Generate(context.Background(), "Hi")
	if err != nil {
		t.Fatalf("family policy: %v", err)
	}
	if resp.Cost <= 0 || gjson.GetBytes(up.last().body, "model").Str != "claude-sonnet-9" {
		t.Errorf("family policy: got cost %v, model sent %s, want a priced call of claude-sonnet-9", resp.Cost, up.last().body)
	}
	_, err = costplan.New(costplan.Config{Model: "claude-sonnet-9", APIKey: "k", UnknownModel: "reject"})
	if !errors.Is(err, costplan.ErrUnknownModel) {
		t.Errorf("reject policy: got %v, want ErrUnknownModel", err)
	}
}

// TestClientPrices prices the calls with the table given in Config.Prices: a model
// only it knows, at its prices.
func TestClientPrices(t *testing.T) {
	table, err := pricing.New(pricing.Options{Overrides: map[string]pricing.Entry{
		"house-sonnet": {Provider: costplan.Anthropic, Input: 2 * sonnetIn * 1_000_000, Output: 2 * sonnetOut * 1_000_000,
			CacheRead: 2 * 300 * 1_000_000},
	}})
	if err != nil {
		t.Fatal(err)
	}
	up := newFakeUpstream(t)
	c := newTestClient(t, up, costplan.Anthropic, costplan.Config{Model: "house-sonnet", Prices: table})
	resp, err := c.Generate(context.Background(), "Hi")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Cost != 2*anthropicCost {
		t.Errorf("cost: got %v, want %v (twice the claude-sonnet-4-5 prices)", resp.Cost, 2*anthropicCost)
	}
	// The table knows no output limit for the model: the call goes with the grant.
	if sent := gjson.GetBytes(up.last().body, "max_tokens").Int(); sent <= 0 || sent != resp.MaxTokens {
		t.Errorf("max_tokens sent: got %d, want the grant %d", sent, resp.MaxTokens)
	}
}

// readJournal returns the call records of the journal at path.
func readJournal(t *testing.T, path string) []journal.Record {
	t.Helper()
	var out []journal.Record
	if _, err := journal.ReadFile(path, func(r journal.Record) error {
		if r.Type == journal.TypeCall {
			out = append(out, r)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestClientJournal(t *testing.T) {
	for _, p := range providers {
		t.Run(p.provider, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal.jsonl")
			up := newFakeUpstream(t)
			c := newTestClient(t, up, p.provider, costplan.Config{JournalPath: path, MaxTokens: 3000})
			resp, err := c.Generate(context.Background(), testPrompt)
			if err != nil {
				t.Fatal(err)
			}
			seq, final := c.GenerateStream(context.Background(), []costplan.Message{{Role: "user", Content: testPrompt}})
			for _, err := range seq {
				if err != nil {
					t.Fatal(err)
				}
			}
			streamed, err := final()
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			recs := readJournal(t, path)
			if len(recs) != 2 {
				t.Fatalf("got %d call records, want 2: %+v", len(recs), recs)
			}
			for i, r := range recs {
				want := []*costplan.Response{resp, streamed}[i]
				if r.Provider != p.provider || r.Outcome != journal.OutcomeOK || r.Status != 200 || r.Cost != want.Cost ||
					r.Usage != want.Usage || r.Reserved != want.Predicted || r.MaxTokensGranted != 3000 || r.Stream != (i == 1) || r.Estimated {
					t.Errorf("record %d: got %+v, want provider %v, ok, cost %v, usage %+v, reserved %v, stream %v", i, r, p.provider, p.cost, p.usage, want.Predicted, i == 1)
				}
				if want.Cost != p.cost || want.Usage != p.usage {
					t.Errorf("response %d: got cost %v usage %+v, want %v %+v", i, want.Cost, want.Usage, p.cost, p.usage)
				}
				if r.Session == "" || r.Session != recs[0].Session {
					t.Errorf("record %d: got session %q, want the Client's", i, r.Session)
				}
			}
		})
	}
}

// TestClientDailyCap has two Clients share a journal: the second sees what the
// first spent today and stops at the daily cap.
func TestClientDailyCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	up := newFakeUpstream(t)
	daily := costplan.USD(0.025)
	cfg := costplan.Config{JournalPath: path, Daily: daily, MaxTokens: 1024}
	first := newTestClient(t, up, costplan.Anthropic, cfg)
	if _, err := first.Generate(context.Background(), "Hi"); err != nil {
		t.Fatal(err)
	}
	second := newTestClient(t, up, costplan.Anthropic, cfg)
	if _, err := second.Generate(context.Background(), "Hi"); err != nil {
		t.Fatal(err)
	}
	// $0.0064 left today cannot hold 1,024 output tokens.
	_, err := second.Generate(context.Background(), "Hi")
	var be *costplan.BudgetExceededError
	if !errors.As(err, &be) || be.Limit != "daily" || be.Cap != daily || be.Spent != 2*anthropicCost {
		t.Fatalf("got %v, want a daily refusal with %v spent of %v", err, 2*anthropicCost, daily)
	}
	if got := up.hits.Load(); got != 2 {
		t.Errorf("upstream hits: got %v, want 2", got)
	}
	if got := second.Spent(); got != anthropicCost {
		t.Errorf("second Client's own Spent: got %v, want %v", got, anthropicCost)
	}
}

func TestClientGenerateStream(t *testing.T) {
	for _, p := range providers {
		t.Run(p.provider, func(t *testing.T) {
			up := newFakeUpstream(t)
			c := newTestClient(t, up, p.provider, costplan.Config{MaxTokens: 4000})
			seq, final := c.GenerateStream(context.Background(), []costplan.Message{{Role: "user", Content: testPrompt}})
			var deltas []string
			for delta, err := range seq {
				if err != nil {
					t.Fatal(err)
				}
				deltas = append(deltas, delta)
			}
			if got, want := strings.Join(deltas, "|"), "Hello|, world|!"; got != want {
				t.Errorf("deltas: got %q, want %q", got, want)
			}
			resp, err := final()
			if err != nil {
				t.Fatal(err)
			}
			checkResponse(t, p, resp)
			if resp.MaxTokens != 4000 {
				t.Errorf("MaxTokens: got %v, want 4000", resp.MaxTokens)
			}
			if c.Spent() != p.cost {
				t.Errorf("Spent: got %v, want %v", c.Spent(), p.cost)
			}
			body := up.last().body
			if !gjson.GetBytes(body, "stream").Bool() {
				t.Errorf("stream: got %s, want true", body)
			}
			if p.provider == costplan.OpenAI && !gjson.GetBytes(body, "stream_options.include_usage").Bool() {
				t.Errorf("stream_options.include_usage: got %s, want true", body)
			}
		})
	}
}

// TestClientGenerateStreamAbandoned breaks out of the iterator while the upstream
// still streams: the call settles on what was received and holds nothing.
func TestClientGenerateStreamAbandoned(t *testing.T) {
	for _, p := range providers {
		t.Run(p.provider, func(t *testing.T) {
			up := newFakeUpstream(t)
			name := "anthropic_stream.sse"
			if p.provider == costplan.OpenAI {
				name = "chat_stream.sse"
			}
			events := fixture(t, name)
			// Everything up to the first text delta, then an upstream that waits.
			first := 4
			if p.provider == costplan.OpenAI {
				first = 2
			}
			up.setRespond(func(w http.ResponseWriter, r *http.Request, _ []byte) {
				writeEvents(w, events, first)
				<-r.Context().Done()
			})
			session := costplan.USD(5)
			c := newTestClient(t, up, p.provider, costplan.Config{Session: session, MaxTokens: 2000})
			seq, final := c.GenerateStream(context.Background(), []costplan.Message{{Role: "user", Content: testPrompt}})
			var got []string
			for delta, err := range seq {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, delta)
				break
			}
			if len(got) != 1 || got[0] != "Hello" {
				t.Errorf("deltas: got %q, want [Hello]", got)
			}
			resp, err := final()
			if err != nil {
				t.Fatal(err)
			}
			if !resp.Estimated {
				t.Errorf("Estimated: got false, want true")
			}
			if resp.Usage.OutputTokens < 1 || resp.Usage.OutputTokens > 2000 {
				t.Errorf("estimated output: got %v, want between 1 and the grant", resp.Usage.OutputTokens)
			}
			cost := costplan.Money(resp.Usage.InputTokens)*p.inRate + costplan.Money(resp.Usage.OutputTokens)*p.outRate
			if p.provider == costplan.Anthropic {
				// message_start said 1,200 input and 4,000 cache reads.
				if resp.Usage.InputTokens != 1200 || resp.Usage.CacheReadTokens != 4000 {
					t.Errorf("usage: got %+v, want the input of message_start", resp.Usage)
				}
				cost += 4000 * 300
			} else if costplan.Money(resp.Usage.InputTokens) != costplan.Money(resp.PredictedInputTokens) {
				t.Errorf("input: got %v, want the estimate %v", resp.Usage.InputTokens, resp.PredictedInputTokens)
			}
			if resp.Cost != cost || c.Spent() != cost {
				t.Errorf("Cost, Spent: got %v, %v, want %v", resp.Cost, c.Spent(), cost)
			}
			if got := c.Remaining(); got != session-cost {
				t.Errorf("Remaining: got %v, want %v (no reservation left)", got, session-cost)
			}
		})
	}
}

func TestClientContextCanceled(t *testing.T) {
	session := costplan.USD(5)
	t.Run("before the call", func(t *testing.T) {
		up := newFakeUpstream(t)
		c := newTestClient(t, up, costplan.Anthropic, costplan.Config{Session: session})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Generate(ctx, "Hi")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		if up.hits.Load() != 0 || c.Spent() != 0 || c.Remaining() != session {
			t.Errorf("got %d hits, spent %v, remaining %v, want 0, 0, %v", up.hits.Load(), c.Spent(), c.Remaining(), session)
		}
	})
	t.Run("waiting for the answer", func(t *testing.T) {
		up := newFakeUpstream(t)
		arrived := make(chan struct{})
		up.setRespond(func(w http.ResponseWriter, r *http.Request, _ []byte) {
			close(arrived)
			<-r.Context().Done()
		})
		c := newTestClient(t, up, costplan.OpenAI, costplan.Config{Session: session})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-arrived; cancel() }()
		start := time.Now()
		_, err := c.Generate(ctx, "Hi")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Generate returned after %v, want at once", d)
		}
		if c.Spent() != 0 || c.Remaining() != session {
			t.Errorf("got spent %v, remaining %v, want 0, %v (the reservation released)", c.Spent(), c.Remaining(), session)
		}
	})
	t.Run("mid stream", func(t *testing.T) {
		up := newFakeUpstream(t)
		events := fixture(t, "anthropic_stream.sse")
		up.setRespond(func(w http.ResponseWriter, r *http.Request, _ []byte) {
			writeEvents(w, events, 4)
			<-r.Context().Done()
		})
		c := newTestClient(t, up, costplan.Anthropic, costplan.Config{Session: session, MaxTokens: 2000})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		seq, final := c.GenerateStream(ctx, []costplan.Message{{Role: "user", Content: "Hi"}})
		var deltas []string
		var streamErr error
		for delta, err := range seq {
			if err != nil {
				streamErr = err
				break
			}
			deltas = append(deltas, delta)
			cancel()
		}
		if !errors.Is(streamErr, context.Canceled) {
			t.Errorf("stream error: got %v, want context.Canceled", streamErr)
		}
		if len(deltas) != 1 {
			t.Errorf("deltas: got %q, want one", deltas)
		}
		if _, err := final(); !errors.Is(err, context.Canceled) {
			t.Errorf("final: got %v, want context.Canceled", err)
		}
		// The upstream billed what it generated: the call settled on an estimate.
		if spent := c.Spent(); spent <= 0 || c.Remaining() != session-spent {
			t.Errorf("got spent %v, remaining %v, want a settled estimate and no reservation", spent, c.Remaining())
		}
	})
}

// TestClientAPIError checks that an upstream error is an *APIError and costs
// nothing.
func TestClientAPIError(t *testing.T) {
	for _, p := range providers {
		t.Run(p.provider, func(t *testing.T) {
			up := newFakeUpstream(t)
			up.setRespond(func(w http.ResponseWriter, r *http.Request, _ []byte) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Request-Id", "req_42")
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`)
			})
			c := newTestClient(t, up, p.provider, costplan.Config{})
			_, err := c.Generate(context.Background(), "Hi")
			var ae *costplan.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v, want an *APIError", err)
			}
			if ae.StatusCode != 401 || ae.Type != "authentication_error" || ae.Message != "invalid x-api-key" || ae.RequestID != "req_42" {
				t.Errorf("got %+v, want 401 authentication_error", *ae)
			}
			if errors.Is(err, costplan.ErrBudgetExceeded) {
				t.Errorf("errors.Is ErrBudgetExceeded: got true, want false")
			}
			if c.Spent() != 0 || c.Remaining() != costplan.USD(5) {
				t.Errorf("got spent %v, remaining %v, want nothing charged", c.Spent(), c.Remaining())
			}
		})
	}
}

// TestClientConcurrentSessionCap has 100 goroutines share one Client: the
// session never spends more than its cap, and what the answered calls cost adds up
// to what was spent, to the nano-dollar.
func TestClientConcurrentSessionCap(t *testing.T) {
	for _, p := range providers {
		t.Run(p.provider, func(t *testing.T) {
			up := newFakeUpstream(t)
			// Room for about a quarter of the calls.
			session := 25 * p.cost
			c := newTestClient(t, up, p.provider, costplan.Config{Session: session, MaxTokens: 1024})
			const n = 100
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex // guards the following
				sum      costplan.Money
				ok       int
				refused  int
				failures []error
			)
			for i := range n {
				wg.Go(func() {
					var resp *costplan.Response
					var err error
					if i%2 == 0 {
						resp, err = c.Generate(context.Background(), fmt.Sprintf("Question %d", i))
					} else {
						seq, final := c.GenerateStream(context.Background(), []costplan.Message{{Role: "user", Content: fmt.Sprintf("Question %d", i)}})
						for _, e := range seq {
							if e != nil {
								break
							}
						}
						resp, err = final()
					}
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
						sum += resp.Cost
					case errors.Is(err, costplan.ErrBudgetExceeded):
						refused++
					default:
						failures = append(failures, err)
					}
				})
			}
			wg.Wait()
			for _, err := range failures {
				t.Errorf("a call failed: %v", err)
			}
			if ok+refused != n {
				t.Errorf("ok + refused: got %d + %d, want %d", ok, refused, n)
			}
			if ok == 0 || refused == 0 {
				t.Errorf("got %d ok and %d refused, want both", ok, refused)
			}
			spent := c.Spent()
			if spent > session {
				t.Errorf("Spent: got %v, want at most the session %v", spent, session)
			}
			if sum != spent {
				t.Errorf("sum of the costs: got %v, want Spent %v", sum, spent)
			}
			if spent != costplan.Money(ok)*p.cost {
				t.Errorf("Spent: got %v, want %d calls at %v", spent, ok, p.cost)
			}
			if got := up.hits.Load(); got != int64(ok) {
				t.Errorf("upstream hits: got %v, want %v (refusals send nothing)", got, ok)
			}
			if got := c.Remaining(); got != session-spent {
				t.Errorf("Remaining: got %v, want %v", got, session-spent)
			}
		})
	}
}

// TestClientGenerateStreamErrorEvent has the upstream report an error inside a
// stream it began with 200: the error reaches the caller after the text before it,
// and the call settles.
func TestClientGenerateStreamErrorEvent(t *testing.T) {
	for _, p := range providers {
		t.Run(p.provider, func(t *testing.T) {
			events := "event: message_start\n" + `data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"usage":{"input_tokens":10,"output_tokens":1}}}` + "\n\n" +
				"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}` + "\n\n" +
				"event: error\n" + `data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}` + "\n\n"
			wantType, wantMsg := "overloaded_error", "Overloaded"
			if p.provider == costplan.OpenAI {
				events = `data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-5-mini-2025-08-07","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}` + "\n\n" +
					`data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}` + "\n\n"
				wantType, wantMsg = "server_error", "The server had an error while processing your request."
			}
			up := newFakeUpstream(t)
			up.setRespond(func(w http.ResponseWriter, _ *http.Request, _ []byte) { writeEvents(w, events, -1) })
			session := costplan.USD(5)
			c := newTestClient(t, up, p.provider, costplan.Config{Session: session, MaxTokens: 1000})
			seq, final := c.GenerateStream(context.Background(), []costplan.Message{{Role: "user", Content: "Hi"}})
			var deltas []string
			var streamErr error
			for delta, err := range seq {
				if err != nil {
					streamErr = err
					continue
				}
				deltas = append(deltas, delta)
			}
			if strings.Join(deltas, "|") != "Hello" {
				t.Errorf("deltas: got %q, want [Hello]", deltas)
			}
			var ae *costplan.APIError
			if !errors.As(streamErr, &ae) || ae.Type != wantType || ae.Message != wantMsg {
				t.Fatalf("stream error: got %v, want an *APIError %s: %s", streamErr, wantType, wantMsg)
			}
			if _, err := final(); !errors.As(err, &ae) {
				t.Errorf("final: got %v, want the *APIError", err)
			}
			if spent := c.Spent(); spent <= 0 || c.Remaining() != session-spent {
				t.Errorf("got spent %v, remaining %v, want the call settled and no reservation", spent, c.Remaining())
			}
		})
	}
}
