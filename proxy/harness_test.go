package proxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
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

// upstream is a fake provider API that records what it receives and answers with
// a fixture: a JSON body or an SSE stream written event by event.
type upstream struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex // guards the following fields
	requests []seenRequest
	// respond answers a request; nil uses the default fixtures.
	respond func(w http.ResponseWriter, r *http.Request, body []byte)
}

type seenRequest struct {
	method, path, query string
	header              http.Header
	body                []byte
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{t: t}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.requests = append(u.requests, seenRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		respond := u.respond
		u.mu.Unlock()
		if respond != nil {
			respond(w, r, body)
			return
		}
		u.defaultResponse(w, r, body)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) setRespond(f func(w http.ResponseWriter, r *http.Request, body []byte)) {
	u.mu.Lock()
	u.respond = f
	u.mu.Unlock()
}

func (u *upstream) seen() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.requests...)
}

func (u *upstream) defaultResponse(w http.ResponseWriter, r *http.Request, body []byte) {
	stream := bytes.Contains(body, []byte(`"stream":true`))
	var fixture string
	switch {
	case strings.HasSuffix(r.URL.Path, "/messages/count_tokens"):
		writeFixtureJSON(w, `{"input_tokens":42}`)
		return
	case strings.HasSuffix(r.URL.Path, "/models"):
		writeFixtureJSON(w, `{"data":[{"id":"claude-sonnet-4-5"}],"object":"list"}`)
		return
	case strings.HasSuffix(r.URL.Path, "/messages") && stream:
		fixture = "anthropic_stream.sse"
	case strings.HasSuffix(r.URL.Path, "/messages"):
		fixture = "anthropic_message.json"
	case strings.HasSuffix(r.URL.Path, "/chat/completions") && stream:
		fixture = "chat_stream.sse"
	case strings.HasSuffix(r.URL.Path, "/chat/completions"):
		fixture = "chat_completion.json"
	case strings.HasSuffix(r.URL.Path, "/responses") && stream:
		fixture = "responses_stream.sse"
	case strings.HasSuffix(r.URL.Path, "/responses"):
		fixture = "responses_response.json"
	default:
		http.NotFound(w, r)
		return
	}
	data := readFixture(u.t, fixture)
	w.Header().Set("Request-Id", "req_test_1")
	if strings.HasSuffix(fixture, ".sse") {
		writeSSE(w, data)
		return
	}
	writeFixtureJSON(w, string(data))
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return b
}

func writeFixtureJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, body)
}

// writeSSE writes a stream event by event, flushing each.
func writeSSE(w http.ResponseWriter, data []byte) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl := w.(http.Flusher)
	for _, ev := range bytes.SplitAfter(data, []byte("\n\n")) {
		if len(ev) == 0 {
			continue
		}
		_, _ = w.Write(ev)
		fl.Flush()
	}
}

// memRecorder is an in-memory Recorder.
type memRecorder struct {
	mu   sync.Mutex // guards recs
	recs []journal.Record
}

func (m *memRecorder) Append(_ context.Context, r journal.Record) error {
	m.mu.Lock()
	m.recs = append(m.recs, r)
	m.mu.Unlock()
	return nil
}

func (m *memRecorder) calls() []journal.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []journal.Record
	for _, r := range m.recs {
		if r.Type == journal.TypeCall {
			out = append(out, r)
		}
	}
	return out
}

// testProxy is a proxy in front of a fake upstream.
type testProxy struct {
	up      *upstream
	meter   *Meter
	handler *Handler
	srv     *httptest.Server
	rec     *memRecorder
	journal string // path, when a file journal is used
}

type proxyOpt func(*testProxy)

func withCaps(c core.Caps) proxyOpt {
	return func(p *testProxy) {
		l, err := core.NewMemoryLedger(c)
		if err != nil {
			panic(err)
		}
		p.meter.Ledger = l
	}
}

// withFileJournal journals to a real file in t.TempDir().
func withFileJournal(t testing.TB) proxyOpt {
	return func(p *testProxy) {
		p.journal = filepath.Join(t.TempDir(), "journal.jsonl")
		w, err := journal.Open(p.journal)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		p.meter.Recorder = w
	}
}

var sharedPrices = func() *pricing.Table {
	t, err := pricing.New(pricing.Options{})
	if err != nil {
		panic(err)
	}
	return t
}()

var sharedEstimator = pricing.NewEstimator()

func newTestProxy(t testing.TB, opts ...proxyOpt) *testProxy {
	t.Helper()
	p := &testProxy{up: newUpstream(t), rec: &memRecorder{}}
	ledger, _ := core.NewMemoryLedger(core.Caps{Session: 5 * core.Dollar, PerCall: core.Dollar, WarnAt: 0.8})
	p.meter = &Meter{Ledger: ledger, Prices: sharedPrices, Estimator: sharedEstimator, Recorder: p.rec, Session: "test-session"}
	for _, o := range opts {
		o(p)
	}
	base, _ := url.Parse(p.up.srv.URL)
	oa, _ := url.Parse(p.up.srv.URL + "/v1")
	p.handler = NewHandler(p.meter, base, oa)
	p.srv = httptest.NewServer(p.handler)
	t.Cleanup(p.srv.Close)
	return p
}

// readJournal parses the file journal.
func (p *testProxy) readJournal(t testing.TB) []journal.Record {
	t.Helper()
	var out []journal.Record
	f, err := os.Open(p.journal)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r journal.Record
		if err := r.UnmarshalJSON(sc.Bytes()); err != nil {
			t.Fatalf("journal line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// waitCalls waits for n call records (streams settle when the body closes).
func (p *testProxy) waitCalls(t testing.TB, n int) []journal.Record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		calls := p.rec.calls()
		if len(calls) >= n || time.Now().After(deadline) {
			if len(calls) != n {
				t.Fatalf("got %d call records, want %d: %+v", len(calls), n, calls)
			}
			return calls
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
