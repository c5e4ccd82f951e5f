package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tidwall/sjson"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
)

// benchUpstream answers every call at once with the fixture of its API: a JSON
// body, or an SSE stream when the request asks for one.
func benchUpstream(b *testing.B) *httptest.Server {
	fixtures := map[string][2][]byte{}
	for path, names := range map[string][2]string{
		"/v1/messages":         {"anthropic_message.json", "anthropic_stream.sse"},
		"/v1/chat/completions": {"chat_completion.json", "chat_stream.sse"},
		"/v1/responses":        {"responses_response.json", "responses_stream.sse"},
	} {
		fixtures[path] = [2][]byte{readFixture(b, names[0]), readFixture(b, names[1])}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f := fixtures[r.URL.Path]
		if bytes.Contains(body, []byte(`"stream":true`)) {
			writeSSE(w, f[1])
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(f[0])
	}))
	b.Cleanup(srv.Close)
	return srv
}

// benchPair serves the same upstream through a plain httputil.ReverseProxy and
// through CostPlan.
func benchPair(b *testing.B) (plain, costplan *httptest.Server) {
	up := benchUpstream(b)
	target, _ := url.Parse(up.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	plain = httptest.NewServer(rp)
	b.Cleanup(plain.Close)
	ledger, _ := core.NewMemoryLedger(core.Caps{Session: 1_000_000 * core.Dollar})
	m := &Meter{Ledger: ledger, Prices: sharedPrices, Estimator: sharedEstimator, Recorder: &discardRecorder{}, Session: "bench"}
	oa, _ := url.Parse(up.URL + "/v1")
	costplan = httptest.NewServer(NewHandler(m, target, oa))
	b.Cleanup(costplan.Close)
	return plain, costplan
}

type discardRecorder struct{}

func (discardRecorder) Append(context.Context, journal.Record) error { return nil }

var benchBody = []byte(`{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"Write a haiku about budgets."}]}`)

// benchRoutes are the three metered APIs with a small request each.
var benchRoutes = []struct {
	name, path string
	body       []byte
}{
	{"messages", "/v1/messages", benchBody},
	{"chat", "/v1/chat/completions", []byte(`{"model":"gpt-5-mini","max_completion_tokens":1024,"messages":[{"role":"user","content":"Write a haiku about budgets."}]}`)},
	{"responses", "/v1/responses", []byte(`{"model":"gpt-5","max_output_tokens":1024,"input":"Write a haiku about budgets."}`)},
}

func benchCall(b *testing.B, c *http.Client, base, path string, body []byte) {
	req, _ := http.NewRequest("POST", base+path, bytes.NewReader(body))
	req.Header.Set("X-Api-Key", "k")
	req.Header.Set("Authorization", "Bearer k")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// BenchmarkOverhead times the same call through a plain reverse proxy and through
// CostPlan, interleaved so that both see the same machine load, and reports the
// ratio of their times per call.
func BenchmarkOverhead(b *testing.B) {
	for _, route := range benchRoutes {
		for _, stream := range []bool{false, true} {
			body, name := route.body, route.name+"/json"
			if stream {
				body, name = mustSet(route.body, "stream", true), route.name+"/stream"
			}
			b.Run(name, func(b *testing.B) {
				plain, cp := benchPair(b)
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
				for range 50 { // warm up connections and tokenizers
					benchCall(b, client, plain.URL, route.path, body)
					benchCall(b, client, cp.URL, route.path, body)
				}
				var tPlain, tCP time.Duration
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					t0 := time.Now()
					benchCall(b, client, plain.URL, route.path, body)
					t1 := time.Now()
					benchCall(b, client, cp.URL, route.path, body)
					tCP += time.Since(t1)
					tPlain += t1.Sub(t0)
				}
				b.ReportMetric(float64(tPlain.Nanoseconds())/float64(b.N), "plain-ns/call")
				b.ReportMetric(float64(tCP.Nanoseconds())/float64(b.N), "costplan-ns/call")
				b.ReportMetric(float64(tCP)/float64(tPlain), "ratio")
			})
		}
	}
}

func mustSet(body []byte, path string, v any) []byte {
	out, err := sjson.SetBytes(bytes.Clone(body), path, v)
	if err != nil {
		panic(err)
	}
	return out
}

// BenchmarkPreCall600K measures the work CostPlan does on a Claude Code-sized
// request (a ~600 KB conversation) resent with one new message, as agents do: read,
// inspect, estimate (per-message counts cached), reserve, rewrite, then settle a
// small answer. The upstream is a transport that answers at once, so the figure is
// CostPlan's own time per call.
func BenchmarkPreCall600K(b *testing.B) {
	conv, err := os.ReadFile(filepath.Join("..", "pricing", "testdata", "estimate", "conversation_600k.json"))
	if err != nil {
		b.Skip("conversation fixture missing:", err)
	}
	msg := readFixture(b, "anthropic_message.json")
	ledger, _ := core.NewMemoryLedger(core.Caps{Session: 1_000_000 * core.Dollar})
	m := &Meter{Ledger: ledger, Prices: sharedPrices, Estimator: sharedEstimator, Session: "bench",
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			_, _ = io.Copy(io.Discard, r.Body)
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(bytes.NewReader(msg)), Request: r}, nil
		})}
	send := func(body []byte) {
		req, _ := http.NewRequest("POST", "http://upstream.invalid/v1/messages", bytes.NewReader(body))
		resp, err := m.RoundTrip(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("round trip: %v %v", err, resp.Status)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	send(conv) // the conversation so far: tokenized once, then cached per message
	var bodies [][]byte
	for i := range 64 {
		turn := fmt.Sprintf(`{"role":"user","content":"And one more question, number %d?"}`, i)
		out, _ := sjson.SetRawBytes(bytes.Clone(conv), "messages.-1", []byte(turn))
		bodies = append(bodies, out)
	}
	b.SetBytes(int64(len(conv)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		send(bodies[i%len(bodies)])
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// BenchmarkScanBody600K measures the single pass over a ~600 KB request body.
func BenchmarkScanBody600K(b *testing.B) {
	conv, err := os.ReadFile(filepath.Join("..", "pricing", "testdata", "estimate", "conversation_600k.json"))
	if err != nil {
		b.Skip("conversation fixture missing:", err)
	}
	b.SetBytes(int64(len(conv)))
	for i := 0; i < b.N; i++ {
		if _, err := scanBody(conv, anthropicSplit); err != nil {
			b.Fatal(err)
		}
	}
}
