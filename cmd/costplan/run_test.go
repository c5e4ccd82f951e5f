package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
)

// runUpstream is a fake Anthropic and OpenAI API for `costplan run`: it streams
// "Hello, world!" and reports 12 input and 150 output tokens.
type runUpstream struct {
	srv  *httptest.Server
	hits atomic.Int64
	body atomic.Pointer[[]byte]
}

const (
	// runAnthropicCost is 12 input and 150 output tokens of claude-sonnet-4-5 at $3
	// and $15 per million.
	runAnthropicCost core.Money = 12*3_000 + 150*15_000 // $0.002286
	// runOpenAICost is the same usage on gpt-5-mini at $0.25 and $2 per million.
	runOpenAICost core.Money = 12*250 + 150*2_000 // $0.000303
)

func newRunUpstream(t *testing.T) *runUpstream {
	u := &runUpstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		u.body.Store(&body)
		w.Header().Set("Content-Type", "text/event-stream")
		var events []string
		if strings.HasSuffix(r.URL.Path, "/v1/messages") {
			events = []string{
				`event: message_start` + "\n" + `data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"usage":{"input_tokens":12,"output_tokens":1}}}`,
				`event: content_block_start` + "\n" + `data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
				`event: content_block_delta` + "\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`,
				`event: content_block_delta` + "\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":", world!"}}`,
				`event: content_block_stop` + "\n" + `data: {"type":"content_block_stop","index":0}`,
				`event: message_delta` + "\n" + `data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":150}}`,
				`event: message_stop` + "\n" + `data: {"type":"message_stop"}`,
			}
		} else {
			chunk := `data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-5-mini-2025-08-07","choices":[{"index":0,"delta":{"content":%q},"finish_reason":%s}]}`
			events = []string{
				fmt.Sprintf(chunk, "Hello", "null"),
				fmt.Sprintf(chunk, ", world!", "null"),
				fmt.Sprintf(chunk, "", `"stop"`),
				`data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-5-mini-2025-08-07","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":150,"total_tokens":162}}`,
				`data: [DONE]`,
			}
		}
		for _, ev := range events {
			io.WriteString(w, ev+"\n\n")
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// runEnv returns an app environment with the API keys given and fresh
// configuration and data directories. It clears the base URL variables of this
// process, which the SDK falls back to when run gives it no base URL.
func runEnv(t *testing.T, anthropicKey, openaiKey string) map[string]string {
	t.Helper()
	t.Setenv("ANTHROPIC_BASE_URL", "")
	t.Setenv("OPENAI_BASE_URL", "")
	return testEnv(t, "ANTHROPIC_API_KEY", anthropicKey, "OPENAI_API_KEY", openaiKey)
}

// runJSON is the --json output of run.
type runJSON struct {
	Model                string     `json:"model"`
	Text                 string     `json:"text"`
	StopReason           string     `json:"stop_reason"`
	PredictedInputTokens int64      `json:"predicted_input_tokens"`
	InputTokens          int64      `json:"input_tokens"`
	InputErrorPercent    float64    `json:"input_error_percent"`
	MaxTokens            int64      `json:"max_tokens"`
	OutputTokens         int64      `json:"output_tokens"`
	Predicted            core.Money `json:"predicted_usd"`
	Cost                 core.Money `json:"cost_usd"`
	CostErrorPercent     float64    `json:"cost_error_percent"`
	Usage                core.Usage `json:"usage"`
	Remaining            core.Money `json:"remaining_usd"`
}

// percent is the error of a prediction in percent, to a tenth.
func percent(predicted, actual float64) float64 {
	return math.Round(1000*(predicted-actual)/actual) / 10
}

func TestRunJSON(t *testing.T) {
	tests := []struct {
		model, wantModel, limitField string
		inRate, outRate              core.Money
		maxOutput                    int64
		cost                         core.Money
	}{
		{"claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "max_tokens", 3_000, 15_000, 64_000, runAnthropicCost},
		{"gpt-5-mini", "gpt-5-mini-2025-08-07", "max_completion_tokens", 250, 2_000, 128_000, runOpenAICost},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			up := newRunUpstream(t)
			env := runEnv(t, "sk-ant-test", "sk-test")
			base := up.srv.URL
			if tt.limitField == "max_completion_tokens" {
				base += "/v1"
			}
			stdout, stderr, code := runCLI(t, env, "", "run", "Say hello.", "--model", tt.model, "--base-url", base, "--json")
			if code != 0 {
				t.Fatalf("exit status: got %d, want 0; stderr:\n%s", code, stderr)
			}
			if stderr != "" {
				t.Errorf("stderr: got %q, want nothing", stderr)
			}
			var got runJSON
			dec := json.NewDecoder(strings.NewReader(stdout))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("stdout %q: %v", stdout, err)
			}
			if got.Model != tt.wantModel || got.Text != "Hello, world!" || got.StopReason == "" {
				t.Errorf("answer: got model %q text %q stop %q", got.Model, got.Text, got.StopReason)
			}
			if got.InputTokens != 12 || got.OutputTokens != 150 || got.Usage != (core.Usage{InputTokens: 12, OutputTokens: 150}) {
				t.Errorf("usage: got input %d output %d usage %+v, want 12, 150", got.InputTokens, got.OutputTokens, got.Usage)
			}
			if got.Cost != tt.cost {
				t.Errorf("cost_usd: got %v, want %v", got.Cost, tt.cost)
			}
			// Default caps: $1 per call fits the model's maximum output.
			if got.MaxTokens != tt.maxOutput {
				t.Errorf("max_tokens: got %v, want %v", got.MaxTokens, tt.maxOutput)
			}
			if sent := gjson.GetBytes(*up.body.Load(), tt.limitField).Int(); sent != got.MaxTokens {
				t.Errorf("%s sent: got %v, want %v", tt.limitField, sent, got.MaxTokens)
			}
			if got.PredictedInputTokens <= 0 {
				t.Errorf("predicted_input_tokens: got %v, want > 0", got.PredictedInputTokens)
			}
			wantPredicted := core.Money(got.PredictedInputTokens)*tt.inRate + core.Money(got.MaxTokens)*tt.outRate
			if got.Predicted != wantPredicted {
				t.Errorf("predicted_usd: got %v, want %v", got.Predicted, wantPredicted)
			}
			if want := 5*core.Dollar - tt.cost; got.Remaining != want {
				t.Errorf("remaining_usd: got %v, want %v", got.Remaining, want)
			}
			if want := percent(float64(got.PredictedInputTokens), 12); got.InputErrorPercent != want {
				t.Errorf("input_error_percent: got %v, want %v", got.InputErrorPercent, want)
			}
			if want := percent(float64(got.Predicted), float64(tt.cost)); got.CostErrorPercent != want {
				t.Errorf("cost_error_percent: got %v, want %v", got.CostErrorPercent, want)
			}
			// The call is in the journal.
			var recs []journal.Record
			if _, err := journal.ReadFile(filepath.Join(env["XDG_DATA_HOME"], "costplan", "journal.jsonl"), func(r journal.Record) error {
				recs = append(recs, r)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 || recs[0].Cost != tt.cost || recs[0].Outcome != journal.OutcomeOK || !recs[0].Stream {
				t.Errorf("journal: got %+v, want one streamed call of %v", recs, tt.cost)
			}
		})
	}
}

func TestRunText(t *testing.T) {
	up := newRunUpstream(t)
	env := runEnv(t, "sk-ant-test", "")
	args := []string{"run", "--model", "claude-sonnet-4-5", "--base-url", up.srv.URL, "--session", "2", "--per-call", "0.5"}
	stdout, stderr, code := runCLI(t, env, "", append(args, "Say hello.", "--json")...)
	if code != 0 {
		t.Fatalf("--json: exit status %d; stderr:\n%s", code, stderr)
	}
	var figures runJSON
	if err := json.Unmarshal([]byte(stdout), &figures); err != nil {
		t.Fatal(err)
	}

	// The same prompt from standard input, as text.
	stdout, stderr, code = runCLI(t, env, "Say hello.", append(args, "-")...)
	if code != 0 {
		t.Fatalf("exit status: got %d, want 0; stderr:\n%s", code, stderr)
	}
	if stdout != "Hello, world!\n" {
		t.Errorf("stdout: got %q, want the answer", stdout)
	}
	// $0.50 per call holds 33,333 output tokens less the input's share.
	input := core.Money(figures.PredictedInputTokens) * 3_000
	grant := core.Tokens((core.USD(0.5) - input) / 15_000)
	predicted := input + core.Money(grant)*15_000
	want := [][]string{
		{"predicted", "actual", "error"},
		{"input", "tokens", core.Tokens(figures.PredictedInputTokens).String(), "12",
			fmt.Sprintf("%+.1f%%", percent(float64(figures.PredictedInputTokens), 12))},
		{"output", "tokens", "≤", grant.String(), "150"},
		{"cost", "≤", predicted.String(), runAnthropicCost.String(),
			fmt.Sprintf("%+.1f%%", percent(float64(predicted), float64(runAnthropicCost)))},
		// Each run is a session of its own.
		{"remaining", (2*core.Dollar - runAnthropicCost).String()},
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("stderr: got %d lines, want %d:\n%s", len(lines), len(want), stderr)
	}
	for i, line := range lines {
		if got := strings.Fields(line); strings.Join(got, " ") != strings.Join(want[i], " ") {
			t.Errorf("stderr line %d: got %q, want the fields %q", i+1, line, want[i])
		}
	}
	if got := gjson.GetBytes(*up.body.Load(), "max_tokens").Int(); got != int64(grant) {
		t.Errorf("max_tokens sent: got %v, want %v", got, grant)
	}
}

// TestRunFile reads the prompt from a file.
func TestRunFile(t *testing.T) {
	up := newRunUpstream(t)
	env := runEnv(t, "", "sk-test")
	path := filepath.Join(t.TempDir(), "prompt.md")
	if err := os.WriteFile(path, []byte("Say hello."), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, env, "", "run", "--file", path, "--model", "gpt-5-mini", "--base-url", up.srv.URL+"/v1")
	if code != 0 || stdout != "Hello, world!\n" {
		t.Fatalf("got status %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if got := gjson.GetBytes(*up.body.Load(), "messages.0.content").Str; got != "Say hello." {
		t.Errorf("prompt sent: got %q, want %q", got, "Say hello.")
	}
}

func TestRunMissingAPIKey(t *testing.T) {
	for _, tt := range []struct{ model, variable string }{
		{"claude-sonnet-4-5", "ANTHROPIC_API_KEY"},
		{"gpt-5-mini", "OPENAI_API_KEY"},
	} {
		t.Run(tt.model, func(t *testing.T) {
			up := newRunUpstream(t)
			env := runEnv(t, "", "")
			stdout, stderr, code := runCLI(t, env, "", "run", "Say hello.", "--model", tt.model, "--base-url", up.srv.URL)
			if code != exitUsage { // a configuration error, found before any call
				t.Errorf("exit status: got %d, want %d", code, exitUsage)
			}
			if stdout != "" {
				t.Errorf("stdout: got %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, tt.variable) || !strings.HasPrefix(stderr, "costplan: no API key") {
				t.Errorf("stderr: got %q, want a message naming %s", stderr, tt.variable)
			}
			if up.hits.Load() != 0 {
				t.Errorf("upstream hits: got %v, want 0", up.hits.Load())
			}
		})
	}
}

func TestRunRefused(t *testing.T) {
	for _, tt := range []struct {
		name  string
		flags []string
		want  []string
	}{
		{"session", []string{"--session", "0.001"}, []string{"costplan: session budget exhausted: spent $0.00 of $0.001", "raise it with --session USD"}},
		{"per call", []string{"--per-call", "0.01"}, []string{"costplan: per-call cap of $0.01", "raise it with --per-call USD"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := newRunUpstream(t)
			env := runEnv(t, "sk-ant-test", "")
			args := append([]string{"run", "Say hello.", "--model", "claude-sonnet-4-5", "--base-url", up.srv.URL}, tt.flags...)
			stdout, stderr, code := runCLI(t, env, "", args...)
			if code == 0 {
				t.Errorf("exit status: got 0, want non-zero")
			}
			if stdout != "" {
				t.Errorf("stdout: got %q, want nothing", stdout)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr: got %q, want it to contain %q", stderr, w)
				}
			}
			if strings.Contains(stderr, "Config.") || strings.Count(stderr, "costplan:") != 1 {
				t.Errorf("stderr: got %q, want one message in the command line's terms", stderr)
			}
			if up.hits.Load() != 0 {
				t.Errorf("upstream hits: got %v, want 0", up.hits.Load())
			}
		})
	}
}

// TestRunConfiguredPrices checks that run prices the call with the configuration's
// [pricing.models], like the proxy, and that --warn-at prints the warning.
func TestRunConfiguredPrices(t *testing.T) {
	up := newRunUpstream(t)
	env := runEnv(t, "sk-ant-test", "")
	cfg := writeFile(t, t.TempDir(), "costplan.toml", `[pricing.models."house-sonnet"]
provider = "anthropic"
input = 6.00
output = 30.00
max_output = 4000
`)
	// 12 input and 150 output tokens at twice the claude-sonnet-4-5 prices.
	want := 2 * runAnthropicCost
	stdout, stderr, code := runCLI(t, env, "", "--config", cfg, "run", "Say hello.", "--model", "house-sonnet",
		"--base-url", up.srv.URL, "--session", "0.05", "--warn-at", "0.05", "--json")
	if code != 0 {
		t.Fatalf("exit status: got %d, want 0; stderr:\n%s", code, stderr)
	}
	var got runJSON
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout %q: %v", stdout, err)
	}
	if got.Cost != want || got.MaxTokens > 4000 {
		t.Errorf("got cost %v with %d output tokens granted, want %v and at most the configured 4,000", got.Cost, got.MaxTokens, want)
	}
	if w := fmt.Sprintf("costplan: warning: spent %s of the $0.05 session budget (9%%)\n", want); stderr != w {
		t.Errorf("stderr: got %q, want %q", stderr, w)
	}

	// --warn-at 0 turns the warning off.
	_, stderr, code = runCLI(t, env, "", "--config", cfg, "run", "Say hello.", "--model", "house-sonnet",
		"--base-url", up.srv.URL, "--session", "0.05", "--warn-at", "0", "--json")
	if code != 0 || stderr != "" {
		t.Errorf("--warn-at 0: got exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
}
