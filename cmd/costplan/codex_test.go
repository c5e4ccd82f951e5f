package main

// End-to-end tests with the real Codex CLI (npm @openai/codex) in front of a fake
// OpenAI upstream: through `costplan proxy` and under `costplan exec`, within
// budget and with a session cap too small for one call. Codex first asks for the
// Responses API over a WebSocket; the proxy refuses the upgrade with 426, and Codex
// falls back to a streamed POST /v1/responses at once. Through `costplan proxy`,
// a recording reverse proxy (the tap) between Codex and costplan counts those
// attempts, which never reach the upstream.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/pricing"
)

const (
	// codexQuick is how long a Codex run that answers "hi" may take: Codex waits
	// seconds between WebSocket attempts, so a run that sat through its retries
	// takes longer.
	codexQuick = 10 * time.Second
	// codexAnswer is what the fake upstream has Codex say.
	codexAnswer = "hi"
	// codexStream is the fake's streamed answer (testdata/codex).
	codexStream = "responses_stream.sse"
)

// codexUsage is the usage in the fake's response.completed event: 3000 input tokens
// of which 1000 cached, and 50 output tokens of which 20 reasoning.
var codexUsage = core.Usage{InputTokens: 2000, CacheReadTokens: 1000, OutputTokens: 50, ReasoningTokens: 20}

// codexRequest is one request seen by the fake upstream or by the tap in front of
// the proxy.
type codexRequest struct {
	at      time.Time
	method  string
	uri     string
	upgrade string // the Upgrade header
	model   string
	stream  bool
	status  int // the status answered (0 when unknown)
}

// ws reports a WebSocket upgrade request.
func (r codexRequest) ws() bool { return strings.EqualFold(r.upgrade, "websocket") }

// describe tells when r came, counted from start, and what it was.
func (r codexRequest) describe(start time.Time) string {
	s := fmt.Sprintf("%+.3fs %s %s", r.at.Sub(start).Seconds(), r.method, r.uri)
	if r.upgrade != "" {
		s += " Upgrade: " + r.upgrade
	}
	if r.model != "" {
		s += fmt.Sprintf(" model=%s stream=%t", r.model, r.stream)
	}
	if r.status != 0 {
		s += fmt.Sprintf(" → %d", r.status)
	}
	return s
}

// codexLog is a list of requests safe for concurrent use.
type codexLog struct {
	mu   sync.Mutex // guards reqs
	reqs []codexRequest
}

func (l *codexLog) add(r codexRequest) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, r)
	return len(l.reqs) - 1
}

func (l *codexLog) setStatus(i, status int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs[i].status = status
}

func (l *codexLog) all() []codexRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]codexRequest(nil), l.reqs...)
}

// count returns how many requests match.
func (l *codexLog) count(match func(codexRequest) bool) int {
	n := 0
	for _, r := range l.all() {
		if match(r) {
			n++
		}
	}
	return n
}

func codexIsPost(r codexRequest) bool { return r.method == http.MethodPost && r.uri == "/v1/responses" }

// codexRecord reads r's body (restoring it) and notes what it asks for.
func codexRecord(r *http.Request) codexRequest {
	rec := codexRequest{at: time.Now(), method: r.Method, uri: r.URL.RequestURI(), upgrade: r.Header.Get("Upgrade")}
	if r.Body != nil && r.Method == http.MethodPost {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		rec.model = gjson.GetBytes(body, "model").Str
		rec.stream = gjson.GetBytes(body, "stream").Bool()
	}
	return rec
}

// codexFake is a stand-in for the OpenAI API: POST /v1/responses answers the
// stream of testdata/codex/responses_stream.sse, everything else 404 in OpenAI's
// error shape. It records every request.
type codexFake struct {
	*httptest.Server
	log codexLog
}

func newCodexFake(t *testing.T) *codexFake {
	stream, err := os.ReadFile(filepath.Join("testdata", "codex", codexStream))
	if err != nil {
		t.Fatal(err)
	}
	f := &codexFake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := codexRecord(r)
		i := f.log.add(rec)
		if !codexIsPost(rec) || !rec.stream {
			f.log.setStatus(i, http.StatusNotFound)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":{"message":"the fake upstream has no %s %s","type":"invalid_request_error","param":null,"code":null}}`,
				r.Method, r.URL.Path)
			return
		}
		f.log.setStatus(i, http.StatusOK)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("X-Request-Id", "req_codex_fake")
		w.WriteHeader(http.StatusOK)
		for ev := range strings.SplitAfterSeq(string(stream), "\n\n") {
			_, _ = io.WriteString(w, ev)
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// codexTap is a reverse proxy in front of `costplan proxy` that records every
// request Codex sends and the status it got, WebSocket upgrades included (which
// the proxy answers itself, so the fake upstream never sees them).
type codexTap struct {
	*httptest.Server
	log codexLog
}

func newCodexTap(t *testing.T, target string) *codexTap {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	tp := &codexTap{}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		FlushInterval: -1,
	}
	tp.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := tp.log.add(codexRecord(r))
		sw := &codexStatusWriter{ResponseWriter: w}
		rp.ServeHTTP(sw, r)
		tp.log.setStatus(i, sw.status)
	}))
	t.Cleanup(tp.Close)
	return tp
}

// codexStatusWriter remembers the status written through it.
type codexStatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *codexStatusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *codexStatusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *codexStatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// codexEnv returns the whole environment for Codex and costplan: the binary on
// PATH as "codex" (so that exec recognises it), a dummy API key, and HOME,
// CODEX_HOME and the XDG directories in a new temporary directory, so that no
// configuration, login or journal of the machine is read.
func codexEnv(t *testing.T, codexBin string) []string {
	dir := t.TempDir()
	binDir := filepath.Join(dir, "bin")
	codexHome := filepath.Join(dir, "codex")
	for _, d := range []string{binDir, codexHome} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(codexBin, filepath.Join(binDir, "codex")); err != nil {
		t.Fatal(err)
	}
	return binEnv(t, "PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"CODEX_HOME", codexHome, "OPENAI_API_KEY", "x", "NO_COLOR", "1")
}

// codexProxy starts `costplan proxy` on a free port with the fake as its OpenAI
// upstream and returns the run and the proxy's origin.
func codexProxy(t *testing.T, bin string, env []string, fake *codexFake, journalPath string, flags ...string) (*execRun, string) {
	t.Helper()
	return startBinaryProxy(t, bin, env, append([]string{"--openai-upstream", fake.URL + "/v1", "--journal", journalPath}, flags...)...)
}

// codexJournal reads the journal at path, logs every line and returns the call
// and the session records.
func codexJournal(t *testing.T, path string) (calls []journal.Record, sessions []journal.Record) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("journal: %v", err)
	}
	t.Logf("journal %s:\n%s", filepath.Base(path), raw)
	if _, err := journal.ReadFile(path, func(r journal.Record) error {
		if r.Type == journal.TypeCall {
			calls = append(calls, r)
		} else {
			sessions = append(sessions, r)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return calls, sessions
}

// codexCost returns what the fake's answer costs for model, and how it resolves.
func codexCost(t *testing.T, model string) (core.Money, pricing.Resolution) {
	t.Helper()
	table, err := pricing.New(pricing.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := table.Lookup(model)
	if err != nil {
		t.Fatalf("price of %s: %v", model, err)
	}
	cost, _ := pricing.Cost(res.Model, codexUsage)
	return cost, res
}

// codexCheckCall checks the journal's one call record against the model Codex asked
// for and the fake's usage.
func codexCheckCall(t *testing.T, calls []journal.Record, model string) {
	t.Helper()
	if len(calls) != 1 {
		t.Fatalf("journal: got %d call records, want 1", len(calls))
	}
	c := calls[0]
	want, res := codexCost(t, model)
	if res.Model.Name == "gpt-5.6" {
		// gpt-5.6: $5 input, $0.50 cached input, $30 output per million tokens:
		// 2000×5 + 1000×0.5 + 50×30 = 12000 micro-dollars.
		if exact := 12 * core.Dollar / 1000; want != exact {
			t.Fatalf("price of the fake's answer as %s: got %v, want %v (has the price of gpt-5.6 changed?)", model, want, exact)
		}
	}
	if c.Provider != journal.ProviderOpenAI || c.API != journal.APIResponses || c.Model != model ||
		c.PriceModel != res.Model.Name || c.Fallback != res.Fallback() {
		t.Errorf("call: got provider %s, api %s, model %s priced as %s (fallback %t); want openai, responses, %s priced as %s (fallback %t)",
			c.Provider, c.API, c.Model, c.PriceModel, c.Fallback, model, res.Model.Name, res.Fallback())
	}
	if c.Outcome != journal.OutcomeOK || c.Status != http.StatusOK || !c.Stream || c.Estimated || c.RequestID != "req_codex_fake" {
		t.Errorf("call: got outcome %s, status %d, stream %t, estimated %t, request id %q; want ok, 200, streamed, exact, req_codex_fake",
			c.Outcome, c.Status, c.Stream, c.Estimated, c.RequestID)
	}
	if c.Usage != codexUsage || c.Cost != want {
		t.Errorf("call: got usage %+v costing %v; want %+v costing %v", c.Usage, c.Cost, codexUsage, want)
	}
	t.Logf("call: %s priced as %s (fallback %t): %v, %v reserved, %d of %d output tokens granted, client %q",
		c.Model, c.PriceModel, c.Fallback, c.Cost, c.Reserved, c.MaxTokensGranted, c.MaxTokensRequested, c.Client)
}

// codexLogRequests logs the requests seen by one party, timed from start.
func codexLogRequests(t *testing.T, who string, l *codexLog, start time.Time) {
	t.Helper()
	for _, r := range l.all() {
		t.Logf("%s: %s", who, r.describe(start))
	}
}

// TestCodex runs the real Codex CLI against a fake OpenAI upstream, through
// `costplan proxy` and under `costplan exec`, within budget and with a session cap
// too small for one call. It needs COSTPLAN_CODEX_BIN: the codex of npm
// @openai/codex, either node_modules/.bin/codex or the native binary
// node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex.
// Codex needs no network and no login: it gets a dummy OPENAI_API_KEY and a fresh
// HOME and CODEX_HOME.
//
//	COSTPLAN_CODEX_BIN=/path/to/codex go test ./cmd/costplan -run Codex -v
func TestCodex(t *testing.T) {
	codexBin := os.Getenv("COSTPLAN_CODEX_BIN")
	if codexBin == "" {
		t.Skip("set COSTPLAN_CODEX_BIN to the Codex CLI binary (npm @openai/codex) to run this test")
	}
	if _, err := os.Stat(codexBin); err != nil {
		t.Fatalf("COSTPLAN_CODEX_BIN: %v", err)
	}
	out, err := exec.Command(codexBin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", codexBin, err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
	bin := costplanBinary(t, raceEnabled())
	tests := []struct {
		name string
		run  func(t *testing.T, bin, codexBin string)
	}{
		{"Proxy", codexTestProxy},
		{"ProxyRefusal", codexTestProxyRefusal},
		{"Exec", codexTestExec},
		{"ExecRefusal", codexTestExecRefusal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, bin, codexBin)
		})
	}
}

// codexViaProxy runs `codex exec "say hi"` against `costplan proxy FLAGS`, through
// the tap, and returns the runs of Codex and of the proxy (stopped) and the journal.
func codexViaProxy(t *testing.T, bin, codexBin string, flags ...string) (cx *execRun, fake *codexFake, tap *codexTap, journalPath string) {
	fake = newCodexFake(t)
	journalPath = filepath.Join(t.TempDir(), "journal.jsonl")
	env := codexEnv(t, codexBin)
	proxy, origin := codexProxy(t, bin, env, fake, journalPath, flags...)
	tap = newCodexTap(t, origin)
	cx = startProcess(t, env, codexBin, "exec", "--skip-git-repo-check", "-c", `openai_base_url="`+tap.URL+`/v1"`, "say hi")
	cx.wait()
	cx.logOutput()
	codexLogRequests(t, "proxy got", &tap.log, cx.started)
	codexLogRequests(t, "upstream got", &fake.log, cx.started)
	proxy.stop(syscall.SIGTERM)
	proxy.logOutput()
	return cx, fake, tap, journalPath
}

// codexCheckWebSocket checks that every WebSocket attempt was answered 426 by the
// proxy and none reached the upstream.
func codexCheckWebSocket(t *testing.T, tap *codexTap, fake *codexFake) {
	t.Helper()
	ws := 0
	for _, r := range tap.log.all() {
		if r.ws() {
			ws++
			if r.status != http.StatusUpgradeRequired {
				t.Errorf("WebSocket %s %s: proxy answered %d, want 426", r.method, r.uri, r.status)
			}
		}
	}
	t.Logf("WebSocket attempts answered 426 by the proxy: %d", ws)
	if n := fake.log.count(codexRequest.ws); n != 0 {
		t.Errorf("WebSocket requests that reached the upstream: %d, want 0", n)
	}
}

func codexTestProxy(t *testing.T, bin, codexBin string) {
	cx, fake, tap, journalPath := codexViaProxy(t, bin, codexBin)
	if cx.code != 0 {
		t.Errorf("codex exit status: got %d, want 0", cx.code)
	}
	if got := strings.TrimSpace(cx.stdout.String()); got != codexAnswer {
		t.Errorf("codex stdout: got %q, want the fake's answer %q", got, codexAnswer)
	}
	if d := cx.elapsed(); d > codexQuick {
		t.Errorf("codex took %v, want under %v: did it sit through WebSocket retries?", d, codexQuick)
	}
	codexCheckWebSocket(t, tap, fake)
	posts := fake.log.all()
	if len(posts) != 1 || !codexIsPost(posts[0]) || !posts[0].stream {
		t.Fatalf("upstream: got %d requests, want one streamed POST /v1/responses", len(posts))
	}
	if n := tap.log.count(codexIsPost); n != 1 {
		t.Errorf("POST /v1/responses at the proxy: got %d, want 1", n)
	}
	calls, _ := codexJournal(t, journalPath)
	codexCheckCall(t, calls, posts[0].model)
}

func codexTestProxyRefusal(t *testing.T, bin, codexBin string) {
	cx, fake, tap, journalPath := codexViaProxy(t, bin, codexBin, "--session", "0.001")
	if cx.code == 0 {
		t.Errorf("codex exit status: got 0, want an error for the refused call")
	}
	if d := cx.elapsed(); d > codexQuick {
		t.Errorf("codex took %v after the refusal, want under %v", d, codexQuick)
	}
	codexCheckWebSocket(t, tap, fake)
	if n := fake.log.count(codexIsPost); n != 0 {
		t.Errorf("POST /v1/responses at the upstream: got %d, want 0", n)
	}
	// Codex does not retry a 429 (retry_429 is false), whatever x-should-retry says.
	posts := tap.log.count(codexIsPost)
	if posts != 1 {
		t.Errorf("POST /v1/responses at the proxy: got %d, want 1 (no retry of the 429)", posts)
	}
	for _, r := range tap.log.all() {
		if codexIsPost(r) && r.status != http.StatusTooManyRequests {
			t.Errorf("POST /v1/responses: proxy answered %d, want 429", r.status)
		}
	}
	// Codex prints no body of a 429: for an error of type or code
	// insufficient_quota it prints its own "Quota exceeded" line, so the reason
	// is in the journal (and, under costplan exec, on costplan's stderr).
	for _, line := range strings.Split(cx.stderr.String(), "\n") {
		if strings.HasPrefix(line, "ERROR: ") {
			t.Logf("codex printed: %s", line)
		}
	}
	calls, _ := codexJournal(t, journalPath)
	if len(calls) != posts {
		t.Errorf("journal: got %d call records for %d requests", len(calls), posts)
	}
	for _, c := range calls {
		if c.Outcome != journal.OutcomeRefused || c.Status != http.StatusTooManyRequests || c.Cost != 0 || c.API != journal.APIResponses {
			t.Errorf("call: got outcome %s, status %d, cost %v, api %s; want a refused responses call, 429, $0",
				c.Outcome, c.Status, c.Cost, c.API)
		}
		t.Logf("refused: %s (%s): %s", c.Model, c.Refusal, c.Error)
	}
}

// codexViaExec runs `costplan exec FLAGS -- codex exec --skip-git-repo-check "say hi"`.
func codexViaExec(t *testing.T, bin, codexBin string, flags ...string) (*execRun, *codexFake, string) {
	fake := newCodexFake(t)
	journalPath := filepath.Join(t.TempDir(), "journal.jsonl")
	args := append([]string{bin, "exec", "--openai-upstream", fake.URL + "/v1", "--journal", journalPath}, flags...)
	args = append(args, "--", "codex", "exec", "--skip-git-repo-check", "say hi")
	r := startProcess(t, codexEnv(t, codexBin), args...)
	r.wait()
	r.logOutput()
	codexLogRequests(t, "upstream got", &fake.log, r.started)
	return r, fake, journalPath
}

func codexTestExec(t *testing.T, bin, codexBin string) {
	r, fake, journalPath := codexViaExec(t, bin, codexBin, "--session", "2")
	if r.code != 0 {
		t.Errorf("costplan exec: got exit %d, want 0", r.code)
	}
	if got := strings.TrimSpace(r.stdout.String()); got != codexAnswer {
		t.Errorf("stdout: got %q, want the fake's answer %q", got, codexAnswer)
	}
	if d := r.elapsed(); d > codexQuick {
		t.Errorf("costplan exec took %v, want under %v: did Codex sit through WebSocket retries?", d, codexQuick)
	}
	posts := fake.log.all()
	if len(posts) != 1 || !codexIsPost(posts[0]) || !posts[0].stream {
		t.Fatalf("upstream: got %d requests, want one streamed POST /v1/responses", len(posts))
	}
	calls, sessions := codexJournal(t, journalPath)
	codexCheckCall(t, calls, posts[0].model)
	for _, s := range sessions {
		if s.Event == journal.EventEnd && (s.Command != "codex" || s.Spent != calls[0].Cost) {
			t.Errorf("end record: got spent %v by %q, want %v by codex", s.Spent, s.Command, calls[0].Cost)
		}
	}
}

func codexTestExecRefusal(t *testing.T, bin, codexBin string) {
	r, fake, journalPath := codexViaExec(t, bin, codexBin, "--session", "0.001")
	// The refusal locks the session, which stops Codex before it can print it.
	if r.code != exitBudgetStop {
		t.Errorf("costplan exec: got exit %d, want %d", r.code, exitBudgetStop)
	}
	mustContain(t, "stderr", r.stderr.String(), "costplan: budget spent: $0.00 of $0.001", "stopping codex")
	if d := r.elapsed(); d > codexQuick {
		t.Errorf("costplan exec took %v after the refusal, want under %v", d, codexQuick)
	}
	if n := fake.log.count(codexIsPost); n != 0 {
		t.Errorf("POST /v1/responses at the upstream: got %d, want 0", n)
	}
	calls, sessions := codexJournal(t, journalPath)
	if len(calls) != 1 {
		t.Errorf("journal: got %d call records, want the one refusal", len(calls))
	}
	locked := false
	for _, s := range sessions {
		locked = locked || s.Event == journal.EventLock
	}
	if !locked {
		t.Error("journal: no lock record")
	}
	for _, c := range calls {
		if c.Outcome != journal.OutcomeRefused || c.Status != http.StatusTooManyRequests || c.Cost != 0 {
			t.Errorf("call: got outcome %s, status %d, cost %v; want refused, 429, $0", c.Outcome, c.Status, c.Cost)
		}
	}
}
