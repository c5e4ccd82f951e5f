// Command bench measures CostPlan's proxy against a direct call and a plain
// httputil.ReverseProxy on the same fast in-process fake upstream, and prints a
// Markdown table: overhead per call (p50, p99), calls per second, allocations per
// call, time to first byte on streams, memory for open streams, and the pre-call
// time on a resent 600 KB conversation.
//
//	go run ./bench
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/sjson"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/pricing"
	"github.com/costplan/costplan/proxy"
)

var (
	calls       = flag.Int("calls", 3000, "sequential calls per mode for latency")
	concurrency = flag.Int("concurrency", 16, "concurrent clients for calls per second")
	duration    = flag.Duration("duration", 3*time.Second, "time per mode for calls per second")
	streams     = flag.Int("streams", 1000, "open streams for the memory figure")
	repo        = flag.String("repo", ".", "repository root (for fixtures)")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type fixtures struct {
	message, stream, conversation []byte
	first                         []byte // the first event of the stream
}

func loadFixtures() (fixtures, error) {
	var f fixtures
	var err error
	read := func(p ...string) []byte {
		if err != nil {
			return nil
		}
		var b []byte
		b, err = os.ReadFile(filepath.Join(append([]string{*repo}, p...)...))
		return b
	}
	f.message = read("proxy", "testdata", "anthropic_message.json")
	f.stream = read("proxy", "testdata", "anthropic_stream.sse")
	f.conversation = read("pricing", "testdata", "estimate", "conversation_600k.json")
	if err != nil {
		return f, fmt.Errorf("%w (run from the repository root or pass -repo)", err)
	}
	f.first = f.stream[:bytes.Index(f.stream, []byte("\n\n"))+2]
	return f, nil
}

// upstream is the fake provider: JSON, a stream, or a stream held open after its
// first event until release is closed.
func upstream(f fixtures, release chan struct{}) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case bytes.Contains(body, []byte(`"hold":true`)):
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write(f.first)
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case bytes.Contains(body, []byte(`"stream":true`)):
			w.Header().Set("Content-Type", "text/event-stream")
			fl := w.(http.Flusher)
			for _, ev := range bytes.SplitAfter(f.stream, []byte("\n\n")) {
				_, _ = w.Write(ev)
				fl.Flush()
			}
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(f.message)
		}
	}))
}

type nopRecorder struct{}

func (nopRecorder) Append(context.Context, journal.Record) error { return nil }

func newMeter(prices *pricing.Table, est *pricing.Estimator, tr http.RoundTripper) *proxy.Meter {
	ledger, _ := core.NewMemoryLedger(core.Caps{Session: 1_000_000_000 * core.Dollar})
	return &proxy.Meter{Ledger: ledger, Prices: prices, Estimator: est, Recorder: nopRecorder{}, Session: "bench", Transport: tr}
}

type mode struct {
	name string
	url  string
}

func run() error {
	f, err := loadFixtures()
	if err != nil {
		return err
	}
	prices, err := pricing.New(pricing.Options{})
	if err != nil {
		return err
	}
	est := pricing.NewEstimator()
	release := make(chan struct{})
	up := upstream(f, release)
	defer up.Close()
	target, _ := url.Parse(up.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64 // the same pool as CostPlan's own transport
	rp.Transport = tr
	rp.ErrorLog = log.New(io.Discard, "", 0)
	plain := httptest.NewServer(rp)
	defer plain.Close()
	oa, _ := url.Parse(up.URL + "/v1")
	cp := httptest.NewServer(proxy.NewHandler(newMeter(prices, est, nil), target, oa))
	defer cp.Close()
	modes := []mode{{"direct", up.URL}, {"reverse proxy", plain.URL}, {"costplan", cp.URL}}

	body := []byte(`{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"Write a haiku about budgets."}]}`)
	streamBody, _ := sjson.SetBytes(bytes.Clone(body), "stream", true)
	holdBody, _ := sjson.SetBytes(bytes.Clone(streamBody), "hold", true)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxIdleConns: 256}}
	rows := map[string][]string{}
	add := func(k string, vals ...string) { rows[k] = append(rows[k], vals...) }
	var p50s [3]time.Duration
	for i, m := range modes {
		lat, allocs := latencies(client, m.url, body, *calls)
		p50, p99 := pct(lat, 50), pct(lat, 99)
		p50s[i] = p50
		add("p50", fmt.Sprint(p50.Round(time.Microsecond)))
		add("p99", fmt.Sprint(p99.Round(time.Microsecond)))
		add("allocs", fmt.Sprintf("%.0f", allocs))
		add("rps", fmt.Sprintf("%.0f", throughput(m.url, body)))
		ttfb, _ := latenciesTTFB(client, m.url, streamBody, *calls/3)
		add("ttfb", fmt.Sprint(pct(ttfb, 50).Round(time.Microsecond)))
	}
	memRP, err := openStreams(plain.URL, holdBody, *streams)
	if err != nil {
		return err
	}
	memCP, err := openStreams(cp.URL, holdBody, *streams)
	if err != nil {
		return err
	}
	close(release)
	pre := preCall(prices, est, f)

	fmt.Printf("CostPlan proxy benchmark (%s, %d CPUs, Go %s); figures from one run\n\n", runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	fmt.Println("| | direct | reverse proxy | costplan |")
	fmt.Println("|---|---|---|---|")
	line := func(label, key string) {
		r := rows[key]
		fmt.Printf("| %s | %s | %s | %s |\n", label, r[0], r[1], r[2])
	}
	line("latency per call, p50 (JSON)", "p50")
	line("latency per call, p99 (JSON)", "p99")
	fmt.Printf("| overhead per call over direct, p50 | | %s | %s |\n", (p50s[1] - p50s[0]).Round(time.Microsecond), (p50s[2] - p50s[0]).Round(time.Microsecond))
	fmt.Printf("| costplan ÷ reverse proxy, p50 | | | %.2f× |\n", float64(p50s[2])/float64(p50s[1]))
	line(fmt.Sprintf("calls per second, %d clients", *concurrency), "rps")
	line("allocations per call (client, proxy and upstream together)", "allocs")
	line("time to first byte on a stream, p50", "ttfb")
	fmt.Printf("| memory for %d open streams (heap in use) | | %.1f MB | %.1f MB |\n", *streams, memRP, memCP)
	fmt.Printf("| pre-call work, 600 KB conversation resent with one new message | | | %s |\n", pre.Round(10*time.Microsecond))
	return nil
}

func latencies(c *http.Client, base string, body []byte, n int) ([]time.Duration, float64) {
	for range 100 {
		call(c, base, body, nil)
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	out := make([]time.Duration, n)
	for i := range out {
		t := time.Now()
		call(c, base, body, nil)
		out[i] = time.Since(t)
	}
	runtime.ReadMemStats(&ms1)
	return out, float64(ms1.Mallocs-ms0.Mallocs) / float64(n)
}

func latenciesTTFB(c *http.Client, base string, body []byte, n int) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for range n {
		var ttfb time.Duration
		call(c, base, body, &ttfb)
		out = append(out, ttfb)
	}
	return out, nil
}

// call sends one request; ttfb, when not nil, gets the time to the first body byte.
func call(c *http.Client, base string, body []byte, ttfb *time.Duration) {
	t := time.Now()
	req, _ := http.NewRequest("POST", base+"/v1/messages", bytes.NewReader(body))
	req.Header.Set("X-Api-Key", "k")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	resp, err := c.Do(req)
	if err != nil {
		panic(err)
	}
	if ttfb != nil {
		var one [1]byte
		_, _ = io.ReadFull(resp.Body, one[:])
		*ttfb = time.Since(t)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		panic(fmt.Sprintf("%s: status %d", base, resp.StatusCode))
	}
}

func throughput(base string, body []byte) float64 {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency * 2}}
	var n atomic.Int64
	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	for range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				call(c, base, body, nil)
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / duration.Seconds()
}

// openStreams opens n streams that stay open after their first event and returns
// the growth of the heap in use, in MB, while they are open.
func openStreams(base string, body []byte, n int) (float64, error) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0}}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	before := heap()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var failed atomic.Int64
	opened := make(chan struct{}, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/messages", bytes.NewReader(body))
			req.Header.Set("X-Api-Key", "k")
			resp, err := c.Do(req)
			if err != nil {
				failed.Add(1)
				opened <- struct{}{}
				return
			}
			var one [1]byte
			_, _ = io.ReadFull(resp.Body, one[:])
			opened <- struct{}{}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	for range n {
		<-opened
	}
	if f := failed.Load(); f > 0 {
		return 0, fmt.Errorf("%d of %d streams failed to open", f, n)
	}
	after := heap()
	cancel()
	wg.Wait()
	c.CloseIdleConnections()
	return float64(after-before) / 1e6, nil
}

// preCall times CostPlan's own work on a resent 600 KB conversation, with an
// upstream transport that answers at once.
func preCall(prices *pricing.Table, est *pricing.Estimator, f fixtures) time.Duration {
	m := newMeter(prices, est, rtFunc(func(r *http.Request) (*http.Response, error) {
		_, _ = io.Copy(io.Discard, r.Body)
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader(f.message)), Request: r}, nil
	}))
	send := func(body []byte) {
		req, _ := http.NewRequest("POST", "http://upstream.invalid/v1/messages", bytes.NewReader(body))
		resp, err := m.RoundTrip(req)
		if err != nil {
			panic(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	send(f.conversation)
	const n = 200
	var times []time.Duration
	for i := range n {
		turn := fmt.Sprintf(`{"role":"user","content":"And one more question, number %d?"}`, i)
		body, _ := sjson.SetRawBytes(bytes.Clone(f.conversation), "messages.-1", []byte(turn))
		t := time.Now()
		send(body)
		times = append(times, time.Since(t))
	}
	return pct(times, 50)
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}
