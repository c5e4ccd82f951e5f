package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/pricing"
)

// claudeAnswer is what the fake upstream has Claude Code say.
const claudeAnswer = "Hi from the fake upstream!"

// claudeUsage is the usage of every answer of the fake: uncached input, a 5-minute
// cache write, a cache read and output, so that each rate of the price is used.
var claudeUsage = core.Usage{InputTokens: 2500, CacheWrite5mTokens: 3000, CacheReadTokens: 20000, OutputTokens: 120}

// claudeRequest is one request the fake upstream received.
type claudeRequest struct {
	at     time.Time
	method string
	uri    string
	model  string
}

// describe tells when r came, counted from start, and what it was.
func (r claudeRequest) describe(start time.Time) string {
	s := fmt.Sprintf("%+.2fs %s %s", r.at.Sub(start).Seconds(), r.method, r.uri)
	if r.model != "" {
		s += " model=" + r.model
	}
	return s
}

// claudeFake is a stand-in for the Anthropic API as Claude Code uses it: HEAD
// /api/hello answers 200 and POST /v1/messages answers an SSE stream of
// claudeAnswer with claudeUsage. Everything else is 404. It records every request.
type claudeFake struct {
	*httptest.Server
	mu   sync.Mutex // guards reqs
	reqs []claudeRequest
}

func newClaudeFake(t *testing.T) *claudeFake {
	f := &claudeFake{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *claudeFake) serve(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Model string `json:"model"`
	}
	raw, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(raw, &body)
	f.mu.Lock()
	f.reqs = append(f.reqs, claudeRequest{at: time.Now(), method: r.Method, uri: r.URL.RequestURI(), model: body.Model})
	f.mu.Unlock()
	switch {
	case r.Method == http.MethodHead && r.URL.Path == "/api/hello":
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages":
		f.stream(w, body.Model)
	default:
		http.NotFound(w, r)
	}
}

// stream writes one message as Anthropic's SSE events.
func (f *claudeFake) stream(w http.ResponseWriter, model string) {
	u := claudeUsage
	events := []struct {
		name string
		data string
	}{
		{"message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_fake","type":"message","role":"assistant","model":%q,`+
			`"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":%d,"cache_creation_input_tokens":%d,`+
			`"cache_read_input_tokens":%d,"cache_creation":{"ephemeral_5m_input_tokens":%d,"ephemeral_1h_input_tokens":0},"output_tokens":1}}}`,
			model, u.InputTokens, u.CacheWrite5mTokens, u.CacheReadTokens, u.CacheWrite5mTokens)},
		{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
		{"ping", `{"type":"ping"}`},
		{"content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":%q}}`, claudeAnswer)},
		{"content_block_stop", `{"type":"content_block_stop","index":0}`},
		{"message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":%d}}`, u.OutputTokens)},
		{"message_stop", `{"type":"message_stop"}`},
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Request-Id", "req_fake")
	w.WriteHeader(http.StatusOK)
	for _, e := range events {
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.name, e.data)
		w.(http.Flusher).Flush()
	}
}

// requests returns the requests received so far.
func (f *claudeFake) requests() []claudeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]claudeRequest(nil), f.reqs...)
}

// messages counts the POST /v1/messages requests received.
func (f *claudeFake) messages() int {
	n := 0
	for _, r := range f.requests() {
		if r.method == http.MethodPost && strings.HasPrefix(r.uri, "/v1/messages") && !strings.HasPrefix(r.uri, "/v1/messages/") {
			n++
		}
	}
	return n
}

// claudeEnv returns the environment for Claude Code under exec: the binary on PATH
// as "claude" (so that exec recognises it), an API key, a fresh HOME, and no update
// or other non-essential traffic.
func claudeEnv(t *testing.T, claudeBin string) []string {
	dir := t.TempDir()
	if err := os.Symlink(claudeBin, filepath.Join(dir, "claude")); err != nil {
		t.Fatal(err)
	}
	return binEnv(t, "PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"ANTHROPIC_API_KEY", "x", "DISABLE_AUTOUPDATER", "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
}

// TestClaudeCode runs the real Claude Code CLI under costplan exec against a fake
// Anthropic upstream. It needs COSTPLAN_CLAUDE_BIN: the claude binary of npm
// @anthropic-ai/claude-code (the native one is
// node_modules/@anthropic-ai/claude-code-linux-x64/claude).
//
//	COSTPLAN_CLAUDE_BIN=/path/to/claude go test ./cmd/costplan -run Claude -v
func TestClaudeCode(t *testing.T) {
	claudeBin := os.Getenv("COSTPLAN_CLAUDE_BIN")
	if claudeBin == "" {
		t.Skip("set COSTPLAN_CLAUDE_BIN to the Claude Code binary to run this test")
	}
	if _, err := os.Stat(claudeBin); err != nil {
		t.Fatalf("COSTPLAN_CLAUDE_BIN: %v", err)
	}
	bin := costplanBinary(t, raceEnabled())
	t.Run("within budget", func(t *testing.T) {
		t.Parallel()
		claudeWithinBudget(t, bin, claudeBin)
	})
	t.Run("budget too small", func(t *testing.T) {
		t.Parallel()
		claudeBudgetTooSmall(t, bin, claudeBin)
	})
}

// claudeRun runs `costplan exec FLAGS -- claude -p "say hi"` and logs what
// happened, with times counted from the start of costplan.
func claudeRun(t *testing.T, bin, claudeBin string, fake *claudeFake, journalPath string, flags ...string) *execRun {
	args := append([]string{"exec", "--anthropic-upstream", fake.URL, "--journal", journalPath}, flags...)
	args = append(args, "--", "claude", "-p", "say hi")
	r := execStart(t, bin, claudeEnv(t, claudeBin), args...)
	code := r.wait()
	t.Logf("costplan exec %s: exit %d after %.2fs", strings.Join(flags, " "), code, r.exited.Sub(r.started).Seconds())
	for _, req := range fake.requests() {
		t.Logf("upstream: %s", req.describe(r.started))
	}
	t.Logf("stdout:\n%s\nstderr:\n%s", r.stdout.String(), r.stderr.String())
	return r
}

func claudeWithinBudget(t *testing.T, bin, claudeBin string) {
	fake := newClaudeFake(t)
	journalPath := filepath.Join(t.TempDir(), "journal.jsonl")
	r := claudeRun(t, bin, claudeBin, fake, journalPath, "--session", "2")
	code, stdout := r.code, r.stdout.String()
	if code != 0 {
		t.Errorf("exit status: got %d, want 0", code)
	}
	if !strings.Contains(stdout, claudeAnswer) {
		t.Errorf("stdout: got %q, want the fake's answer %q", stdout, claudeAnswer)
	}
	l := execSplit(t, execRecords(t, journalPath))
	if len(l.ok) == 0 || len(l.ok) != fake.messages() || len(l.refused) != 0 {
		t.Fatalf("journal: got %d metered and %d refused calls for %d messages upstream, want every message metered",
			len(l.ok), len(l.refused), fake.messages())
	}
	table, err := pricing.New(pricing.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var sum core.Money
	for _, r := range l.ok {
		res, err := table.Lookup(r.Model)
		if err != nil {
			t.Fatalf("price of %s: %v", r.Model, err)
		}
		want, _ := pricing.Cost(res.Model, claudeUsage)
		if r.Usage != claudeUsage || r.Cost != want || r.PriceModel != res.Model.Name {
			t.Errorf("call for %s: got usage %+v, cost %v, priced as %s; want %+v, %v, %s",
				r.Model, r.Usage, r.Cost, r.PriceModel, claudeUsage, want, res.Model.Name)
		}
		t.Logf("journal: %s priced as %s: %v (%v reserved, %d of %d output tokens granted)",
			r.Model, r.PriceModel, r.Cost, r.Reserved, r.MaxTokensGranted, r.MaxTokensRequested)
		sum += r.Cost
	}
	if end := l.events[journal.EventEnd]; end.Spent != sum || end.Command != "claude" || end.Args != 2 {
		t.Errorf("end record: got spent %v by %q with %d args, want %v by \"claude\" with 2", end.Spent, end.Command, end.Args, sum)
	}
}

func claudeBudgetTooSmall(t *testing.T, bin, claudeBin string) {
	fake := newClaudeFake(t)
	journalPath := filepath.Join(t.TempDir(), "journal.jsonl")
	r := claudeRun(t, bin, claudeBin, fake, journalPath, "--session", "0.01")
	code, stdout, stderr := r.code, r.stdout.String(), r.stderr.String()
	if code != exitBudgetStop {
		t.Errorf("exit status: got %d, want %d", code, exitBudgetStop)
	}
	if n := fake.messages(); n != 0 {
		t.Errorf("messages that reached the upstream: got %d, want 0", n)
	}
	if !strings.Contains(stderr, "costplan: budget spent: $0.00 of $0.01") {
		t.Errorf("stderr: want the budget line")
	}
	l := execSplit(t, execRecords(t, journalPath))
	if len(l.ok) != 0 || len(l.refused) == 0 {
		t.Errorf("journal: got %d metered and %d refused calls, want only refusals", len(l.ok), len(l.refused))
	}
	if _, ok := l.events[journal.EventLock]; !ok {
		t.Error("journal: no lock record")
	}
	for _, rec := range l.refused {
		t.Logf("journal: %+.2fs refused %s (%s): %s; costplan exited %.2fs later",
			rec.TS.Sub(r.started).Seconds(), rec.Model, rec.Refusal, rec.Error, r.exited.Sub(rec.TS).Seconds())
	}
	if strings.Contains(stdout, "Request rejected (429)") {
		t.Log("Claude Code printed the refusal before it was stopped")
	}
}
