package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/tidwall/gjson"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/pricing"
)

// Each fault test makes the fake upstream misbehave, then checks what the client
// got, the journal line, and that the proxy is still healthy with a consistent
// ledger (faultCheckHealthy).

// faultStart opens a stream: a message_start whose usage has every input kind
// (1,500 uncached input, 300 5m and 500 1h cache writes, 2,000 cache reads and 1
// output token), then the start of a text block.
const faultStart = "event: message_start\n" +
	`data: {"type":"message_start","message":{"id":"msg_f","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1500,"cache_creation_input_tokens":800,"cache_read_input_tokens":2000,"cache_creation":{"ephemeral_5m_input_tokens":300,"ephemeral_1h_input_tokens":500},"output_tokens":1}}}` + "\n\n" +
	"event: content_block_start\n" +
	`data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n\n"

var faultStartUsage = core.Usage{InputTokens: 1500, CacheWrite5mTokens: 300, CacheWrite1hTokens: 500, CacheReadTokens: 2000, OutputTokens: 1}

// faultStartCost is faultStartUsage on claude-sonnet-4-5: 1,500 × $3 + 300 × $3.75 +
// 500 × $6 + 2,000 × $0.30 + 1 × $15 per million.
const faultStartCost core.Money = 4_500_000 + 1_125_000 + 3_000_000 + 600_000 + 15_000

// faultErrorEvent is the error event Anthropic sends after a 200 when it is overloaded.
const faultErrorEvent = "event: error\n" +
	`data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}` + "\n\n"

func faultDelta(text string) string {
	return "event: content_block_delta\n" +
		`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":` + fmt.Sprintf("%q", text) + "}}\n\n"
}

// faultEstimated is what a stream cut short after message_start and the text
// deltas carrying text should settle at: message_start's input and cache usage and
// the output counted from the text by the Estimator the proxy uses.
func faultEstimated(t *testing.T, text string) (core.Usage, core.Money) {
	t.Helper()
	res, err := sharedPrices.Lookup("claude-sonnet-4-5-20250929")
	if err != nil {
		t.Fatal(err)
	}
	u := faultStartUsage
	n, _ := sharedEstimator.CountText(pricing.Encoding(res.Model.Encoding), text)
	u.OutputTokens = max(u.OutputTokens, n)
	cost, _ := pricing.Cost(res.Model, u)
	return u, cost
}

// faultRequest is a raw Messages request for 1,000 output tokens.
func faultRequest(t *testing.T, ctx context.Context, base string, stream bool) *http.Request {
	t.Helper()
	body := fmt.Sprintf(`{"model":"claude-sonnet-4-5-20250929","max_tokens":1000,"stream":%v,"messages":[{"role":"user","content":"Hello there"}]}`, stream)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/messages", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", "sk-ant-fault-key")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	return req
}

// faultSnapshot waits for every call in flight to settle and returns the ledger.
func faultSnapshot(t *testing.T, p *testProxy) core.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.meter.Wait(ctx); err != nil {
		t.Fatalf("calls still in flight: %v", err)
	}
	snap, err := p.meter.Ledger.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// faultCheckHealthy checks that the ledger holds nothing for finished calls, that
// /health answers, and that a normal call goes through and is charged exactly.
func faultCheckHealthy(t *testing.T, p *testProxy) {
	t.Helper()
	snap := faultSnapshot(t, p)
	if snap.Reserved != 0 || snap.InFlight != 0 {
		t.Errorf("got reserved %s, in flight %d after the fault; want 0, 0", snap.Reserved, snap.InFlight)
	}
	resp, err := http.Get(p.srv.URL + "/health")
	if err != nil {
		t.Fatalf("health: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("got /health status %d, want 200", resp.StatusCode)
	}
	p.up.setRespond(nil)
	resp, err = http.DefaultClient.Do(faultRequest(t, context.Background(), p.srv.URL, false))
	if err != nil {
		t.Fatalf("normal call after the fault: %v", err)
	}
	body := readAll(t, resp)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(HeaderCost) != fixtureAnthropicCost.Decimal() {
		t.Errorf("got normal call status %d, cost %q (%s); want 200, %q", resp.StatusCode, resp.Header.Get(HeaderCost), body, fixtureAnthropicCost.Decimal())
	}
	after := faultSnapshot(t, p)
	if after.Spent != snap.Spent+fixtureAnthropicCost || after.Reserved != 0 || after.InFlight != 0 {
		t.Errorf("got spent %s, reserved %s, in flight %d after a normal call; want %s, 0, 0",
			after.Spent, after.Reserved, after.InFlight, snap.Spent+fixtureAnthropicCost)
	}
}

// faultCheckSettled checks the journal line of a stream cut short after the deltas
// carrying text.
func faultCheckSettled(t *testing.T, rec journal.Record, outcome string, text string) {
	t.Helper()
	u, cost := faultEstimated(t, text)
	if rec.Outcome != outcome || rec.Status != http.StatusOK || !rec.Estimated || !rec.Stream {
		t.Errorf("got outcome %q, status %d, estimated %v, stream %v; want %q, 200, true, true",
			rec.Outcome, rec.Status, rec.Estimated, rec.Stream, outcome)
	}
	if rec.Usage != u {
		t.Errorf("got usage %+v, want %+v", rec.Usage, u)
	}
	if rec.Cost != cost {
		t.Errorf("got cost %s, want %s", rec.Cost, cost)
	}
	if rec.Cost < faultStartCost || rec.Cost > rec.Reserved {
		t.Errorf("got cost %s, want between the message_start part %s and the reservation %s", rec.Cost, faultStartCost, rec.Reserved)
	}
}

// faultLog is a log sink safe for concurrent writes.
type faultLog struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *faultLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *faultLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// faultDeadURL is an origin where nothing listens.
func faultDeadURL(t *testing.T) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return &url.URL{Scheme: "http", Host: addr}
}

// faultReset closes a response's connection with a TCP reset.
func faultReset(t *testing.T, w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

func TestFaultUpstreamErrorsPassThrough(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		body   string
		stream bool
	}{
		{"500", http.StatusInternalServerError, map[string]string{"Request-Id": "req_500"},
			`{"type":"error","error":{"type":"api_error","message":"Internal server error"},"request_id":"req_500"}`, false},
		{"529 overloaded", 529, map[string]string{"Request-Id": "req_529", "X-Should-Retry": "true"},
			`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_529"}`, true},
		{"429 with retry-after", http.StatusTooManyRequests, map[string]string{"Retry-After": "17", "Anthropic-Ratelimit-Requests-Remaining": "0"},
			`{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestProxy(t)
			p.up.setRespond(func(w http.ResponseWriter, r *http.Request, body []byte) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			resp, err := http.DefaultClient.Do(faultRequest(t, context.Background(), p.srv.URL, tc.stream))
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			resp.Body.Close()
			if resp.StatusCode != tc.status || body != tc.body {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, body, tc.status, tc.body)
			}
			for k, v := range tc.header {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("got header %s %q, want %q", k, got, v)
				}
			}
			if got := resp.Header.Get(HeaderRefusal); got != "" {
				t.Errorf("got %s %q on an upstream error, want none", HeaderRefusal, got)
			}
			if n := len(p.up.seen()); n != 1 {
				t.Errorf("got %d upstream requests, want 1", n)
			}
			rec := p.waitCalls(t, 1)[0]
			if rec.Outcome != journal.OutcomeUpstreamError || rec.Status != tc.status || rec.Cost != 0 || rec.Reserved == 0 {
				t.Errorf("got journal outcome %q, status %d, cost %s, reserved %s; want %q, %d, 0, the reservation",
					rec.Outcome, rec.Status, rec.Cost, rec.Reserved, journal.OutcomeUpstreamError, tc.status)
			}
			if snap := faultSnapshot(t, p); snap.Spent != 0 {
				t.Errorf("got spent %s, want 0: upstream errors are not charged", snap.Spent)
			}
			faultCheckHealthy(t, p)
		})
	}
}

// TestFaultUpstreamErrorSDKRetries shows that each retry the official SDK makes on
// a 529 is a call of its own: journaled once as upstream_error and not charged.
func TestFaultUpstreamErrorSDKRetries(t *testing.T) {
	p := newTestProxy(t)
	p.up.setRespond(func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After-Ms", "1")
		w.WriteHeader(529)
		_, _ = io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
	})
	c := anthropicClient(p)
	_, err := c.Messages.New(context.Background(), helloParams(1000))
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 529 || !strings.Contains(err.Error(), "overloaded_error") {
		t.Fatalf("got %v, want the upstream's 529 overloaded_error", err)
	}
	const attempts = 3 // the first and the SDK's two retries
	if n := len(p.up.seen()); n != attempts {
		t.Errorf("got %d upstream requests, want %d", n, attempts)
	}
	for i, rec := range p.waitCalls(t, attempts) {
		if rec.Outcome != journal.OutcomeUpstreamError || rec.Status != 529 || rec.Cost != 0 {
			t.Errorf("attempt %d: got outcome %q, status %d, cost %s; want %q, 529, 0", i, rec.Outcome, rec.Status, rec.Cost, journal.OutcomeUpstreamError)
		}
	}
	if snap := faultSnapshot(t, p); snap.Spent != 0 {
		t.Errorf("got spent %s, want 0", snap.Spent)
	}
	faultCheckHealthy(t, p)
}

// faultReadDeltas reads SSE lines from r until want text deltas have passed.
func faultReadDeltas(t *testing.T, r *bufio.Reader, want int) {
	t.Helper()
	for seen := 0; seen < want; {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended after %d of %d deltas: %v", seen, want, err)
		}
		if strings.HasPrefix(line, "event: content_block_delta") {
			seen++
		}
	}
	// The data line of the last delta.
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
}

func TestFaultUpstreamResetMidStream(t *testing.T) {
	p := newTestProxy(t)
	resetNow := make(chan struct{})
	p.up.setRespond(func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, faultStart+faultDelta("Hello")+faultDelta(" world, this is a partial"))
		w.(http.Flusher).Flush()
		select {
		case <-resetNow:
		case <-time.After(10 * time.Second):
		}
		faultReset(t, w)
	})
	resp, err := http.DefaultClient.Do(faultRequest(t, context.Background(), p.srv.URL, true))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	faultReadDeltas(t, br, 2)
	close(resetNow)
	if rest, err := io.ReadAll(br); err == nil {
		t.Errorf("got a clean end of the stream after an upstream reset (%q), want an error", rest)
	}
	rec := p.waitCalls(t, 1)[0]
	faultCheckSettled(t, rec, journal.OutcomeAborted, "Hello world, this is a partial")
	if snap := faultSnapshot(t, p); snap.Spent != rec.Cost {
		t.Errorf("got spent %s, want the journaled %s", snap.Spent, rec.Cost)
	}
	faultCheckHealthy(t, p)
}

func TestFaultUpstreamResetMidBody(t *testing.T) {
	p := newTestProxy(t)
	p.up.setRespond(func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "1000")
		_, _ = io.WriteString(w, `{"id":"msg_x","type":"message","content":[{"type":"te`)
		w.(http.Flusher).Flush()
		faultReset(t, w)
	})
	resp, err := http.DefaultClient.Do(faultRequest(t, context.Background(), p.srv.URL, false))
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || gjson.Get(body, "type").Str != "error" || gjson.Get(body, "error.type").Str != "api_error" {
		t.Errorf("got %d %s, want 502 with an Anthropic api_error", resp.StatusCode, body)
	}
	rec := p.waitCalls(t, 1)[0]
	if rec.Outcome != journal.OutcomeAborted || !rec.Estimated || rec.Status != http.StatusBadGateway || rec.Cost <= 0 || rec.Cost > rec.Reserved {
		t.Errorf("got outcome %q, estimated %v, status %d, cost %s (reserved %s); want %q, true, 502, the input estimate",
			rec.Outcome, rec.Estimated, rec.Status, rec.Cost, rec.Reserved, journal.OutcomeAborted)
	}
	if snap := faultSnapshot(t, p); snap.Spent != rec.Cost {
		t.Errorf("got spent %s, want the journaled %s", snap.Spent, rec.Cost)
	}
	faultCheckHealthy(t, p)
}

func TestFaultClientDisconnectMidStream(t *testing.T) {
	p := newTestProxy(t)
	upstreamDone := make(chan struct{})
	p.up.setRespond(func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, faultStart+faultDelta("Hello")+faultDelta(" world, this is a partial"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(upstreamDone)
		case <-time.After(10 * time.Second):
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := anthropicClient(p)
	st := c.Messages.NewStreaming(ctx, helloParams(1000))
	deltas := 0
	for deltas < 2 && st.Next() {
		if _, ok := st.Current().AsAny().(anthropic.ContentBlockDeltaEvent); ok {
			deltas++
		}
	}
	if deltas != 2 {
		t.Fatalf("got %d deltas before the disconnect (%v), want 2", deltas, st.Err())
	}
	cancel()
	st.Close()
	select {
	case <-upstreamDone:
	case <-time.After(5 * time.Second):
		t.Error("the upstream request was not cancelled when the client went away")
	}
	rec := p.waitCalls(t, 1)[0]
	faultCheckSettled(t, rec, journal.OutcomeAborted, "Hello world, this is a partial")
	faultCheckHealthy(t, p)
}

func TestFaultErrorEventAfter200(t *testing.T) {
	p := newTestProxy(t)
	p.up.setRespond(func(w http.ResponseWriter, r *http.Request, body []byte) {
		writeSSE(w, []byte(faultStart+faultDelta("Partial answer")+faultErrorEvent))
	})
	c := anthropicClient(p)
	st := c.Messages.NewStreaming(context.Background(), helloParams(1000))
	for st.Next() {
	}
	err := st.Err()
	st.Close()
	if err == nil || !strings.Contains(err.Error(), "overloaded_error") {
		t.Errorf("got stream error %v, want the upstream's overloaded_error", err)
	}
	rec := p.waitCalls(t, 1)[0]
	faultCheckSettled(t, rec, journal.OutcomeUpstreamError, "Partial answer")
	faultCheckHealthy(t, p)
}

func TestFaultMalformedSSE(t *testing.T) {
	p := newTestProxy(t)
	fixture := readFixture(t, "fault_malformed.sse")
	p.up.setRespond(func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		// In small pieces, so events and lines are split across reads.
		for b := fixture; len(b) > 0; {
			n := min(len(b), 7)
			_, _ = w.Write(b[:n])
			w.(http.Flusher).Flush()
			b = b[n:]
		}
	})
	resp, err := http.DefaultClient.Do(faultRequest(t, context.Background(), p.srv.URL, true))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("got %v reading a malformed stream, want its bytes", err)
	}
	if !bytes.Equal(body, fixture) {
		t.Errorf("got %q, want the upstream's bytes unchanged %q", body, fixture)
	}
	rec := p.waitCalls(t, 1)[0]
	if rec.Status != http.StatusOK || !rec.Estimated || rec.Cost < faultStartCost || rec.Cost > rec.Reserved {
		t.Errorf("got status %d, estimated %v, cost %s (reserved %s); want 200, true, between %s and the reservation",
			rec.Status, rec.Estimated, rec.Cost, rec.Reserved, faultStartCost)
	}
	if snap := faultSnapshot(t, p); snap.Spent != rec.Cost {
		t.Errorf("got spent %s, want the journaled %s", snap.Spent, rec.Cost)
	}
	faultCheckHealthy(t, p)
}

func TestFaultStalledStream(t *testing.T) {
	t.Run("after message_start", func(t *testing.T) {
		p := newTestProxy(t)
		upstreamDone := make(chan struct{})
		p.up.setRespond(func(w http.ResponseWriter, r *http.Request, body []byte) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, faultStart)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				close(upstreamDone)
			case <-time.After(10 * time.Second):
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		resp, err := http.DefaultClient.Do(faultRequest(t, ctx, p.srv.URL, true))
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v reading a stalled stream, want the client's deadline", err)
		}
		select {
		case <-upstreamDone:
		case <-time.After(5 * time.Second):
			t.Fatal("the upstream request was not cancelled after the client's timeout")
		}
		rec := p.waitCalls(t, 1)[0]
		if rec.Outcome != journal.OutcomeAborted || !rec.Estimated || rec.Usage != faultStartUsage || rec.Cost != faultStartCost {
			t.Errorf("got outcome %q, estimated %v, usage %+v, cost %s; want %q, true, %+v, %s",
				rec.Outcome, rec.Estimated, rec.Usage, rec.Cost, journal.OutcomeAborted, faultStartUsage, faultStartCost)
		}
		faultCheckHealthy(t, p)
	})
	t.Run("before the response", func(t *testing.T) {
		p := newTestProxy(t)
		upstreamDone := make(chan struct{})
		p.up.setRespond(func(w http.ResponseWriter, r *http.Request, body []byte) {
			select {
			case <-r.Context().Done():
				close(upstreamDone)
			case <-time.After(10 * time.Second):
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := http.DefaultClient.Do(faultRequest(t, ctx, p.srv.URL, true))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want the client's deadline", err)
		}
		select {
		case <-upstreamDone:
		case <-time.After(5 * time.Second):
			t.Fatal("the upstream request was not cancelled after the client's timeout")
		}
		rec := p.waitCalls(t, 1)[0]
		if rec.Outcome != journal.OutcomeAborted || rec.Cost != 0 {
			t.Errorf("got outcome %q, cost %s; want %q, 0 (nothing was answered)", rec.Outcome, rec.Cost, journal.OutcomeAborted)
		}
		if snap := faultSnapshot(t, p); snap.Spent != 0 {
			t.Errorf("got spent %s, want 0", snap.Spent)
		}
		faultCheckHealthy(t, p)
	})
}

// faultSmallBuffers shrinks the kernel buffers of every accepted connection, so
// that what a stalled reader leaves in flight is small and measurable.
type faultSmallBuffers struct{ net.Listener }

func (l faultSmallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(32 << 10)
		_ = tc.SetWriteBuffer(32 << 10)
	}
	return c, err
}

func faultSmallDial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(32 << 10)
		_ = tc.SetWriteBuffer(32 << 10)
	}
	return c, err
}

// TestFaultSlowClientBackPressure streams faster than the client reads: the
// upstream's writes must block while the client does not read (back-pressure passes
// through the proxy) and progress as it reads, so the proxy never holds more than a
// bounded window of the stream, however long the stream is.
func TestFaultSlowClientBackPressure(t *testing.T) {
	const (
		streamCap = 64 << 20 // what a proxy that buffered everything would let through
		window    = 2 << 20  // socket buffers and the proxy's small copy buffers, with room
		step      = 1 << 20
	)
	p := newTestProxy(t)
	p.meter.Transport = &http.Transport{DialContext: faultSmallDial}
	var written atomic.Int64
	ping := []byte("event: ping\ndata: {\"type\":\"ping\",\"pad\":\"" + strings.Repeat("x", 16<<10) + "\"}\n\n")
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, faultStart)
		w.(http.Flusher).Flush()
		written.Add(int64(len(faultStart)))
		for written.Load() < streamCap && r.Context().Err() == nil {
			if _, err := w.Write(ping); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			written.Add(int64(len(ping)))
		}
	}))
	up.Listener = faultSmallBuffers{up.Listener}
	up.Start()
	defer up.Close()
	upURL, _ := url.Parse(up.URL)
	oa, _ := url.Parse(up.URL + "/v1")
	front := httptest.NewUnstartedServer(NewHandler(p.meter, upURL, oa))
	front.Listener = faultSmallBuffers{front.Listener}
	front.Start()
	defer front.Close()

	client := &http.Client{Transport: &http.Transport{DialContext: faultSmallDial}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := client.Do(faultRequest(t, ctx, front.URL, true))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()

	// settled waits until the upstream stops writing and returns how much it wrote.
	settled := func() int64 {
		t.Helper()
		last := written.Load()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
			now := written.Load()
			if now == last {
				return now
			}
			last = now
		}
		t.Fatalf("the upstream kept writing (%d bytes) while the client did not read", last)
		return 0
	}
	var read int64
	buf := make([]byte, step)
	prev := int64(0)
	for i := range 4 {
		w := settled()
		if w-read > window {
			t.Fatalf("step %d: got %d bytes written upstream with %d read by the client, want at most %d in between", i, w, read, window)
		}
		if i > 0 && w <= prev {
			t.Errorf("step %d: got no upstream progress (%d bytes) after the client read %d more, want the writes to follow the reads", i, w, step)
		}
		t.Logf("step %d: %d bytes written upstream, %d read by the client", i, w, read)
		prev = w
		n, err := io.ReadFull(resp.Body, buf)
		read += int64(n)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	cancel()
	resp.Body.Close()
	rec := p.waitCalls(t, 1)[0]
	if rec.Outcome != journal.OutcomeAborted || rec.Usage != faultStartUsage || rec.Cost != faultStartCost {
		t.Errorf("got outcome %q, usage %+v, cost %s; want %q, %+v, %s", rec.Outcome, rec.Usage, rec.Cost, journal.OutcomeAborted, faultStartUsage, faultStartCost)
	}
	faultCheckHealthy(t, p)
}

func TestFaultUpstreamUnreachable(t *testing.T) {
	p := newTestProxy(t)
	dead := faultDeadURL(t)
	srv := httptest.NewServer(NewHandler(p.meter, dead, dead.JoinPath("v1")))
	defer srv.Close()
	for _, stream := range []bool{false, true} {
		resp, err := http.DefaultClient.Do(faultRequest(t, context.Background(), srv.URL, stream))
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || gjson.Get(body, "type").Str != "error" || gjson.Get(body, "error.type").Str != "api_error" ||
			!strings.Contains(gjson.Get(body, "error.message").Str, "could not be reached") {
			t.Errorf("stream %v: got %d %s, want 502 in the Anthropic error shape saying the upstream could not be reached", stream, resp.StatusCode, body)
		}
		if got := resp.Header.Get("X-Should-Retry"); got != "false" {
			t.Errorf("stream %v: got x-should-retry %q, want false", stream, got)
		}
	}
	for i, rec := range p.waitCalls(t, 2) {
		if rec.Outcome != journal.OutcomeUpstreamError || rec.Status != http.StatusBadGateway || rec.Cost != 0 || rec.Error == "" {
			t.Errorf("call %d: got outcome %q, status %d, cost %s, error %q; want %q, 502, 0, the cause", i, rec.Outcome, rec.Status, rec.Cost, rec.Error, journal.OutcomeUpstreamError)
		}
	}
	if snap := faultSnapshot(t, p); snap.Spent != 0 {
		t.Errorf("got spent %s, want 0", snap.Spent)
	}
	faultCheckHealthy(t, p)
}

// faultRecorder is a Recorder whose appends fail while err is set.
type faultRecorder struct {
	mu   sync.Mutex // guards the following fields
	err  error
	recs []journal.Record
}

func (r *faultRecorder) Append(_ context.Context, rec journal.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.recs = append(r.recs, rec)
	return nil
}

func (r *faultRecorder) fail(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

func (r *faultRecorder) records() []journal.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]journal.Record(nil), r.recs...)
}

// TestFaultJournalFails: a call whose line cannot be written is reported in the
// logs, the calls after it are refused with 503 until the journal takes a line again
// (the first refusal's own line is the probe), then calls flow again.
func TestFaultJournalFails(t *testing.T) {
	p := newTestProxy(t)
	rec := &faultRecorder{}
	p.meter.Recorder = rec
	var logs faultLog
	p.meter.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	diskFull := fmt.Errorf("journal /data/journal.jsonl: write: %w", syscall.ENOSPC)
	call := func() (int, string, http.Header) {
		t.Helper()
		resp, err := http.DefaultClient.Do(faultRequest(t, context.Background(), p.srv.URL, false))
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		resp.Body.Close()
		return resp.StatusCode, body, resp.Header
	}

	rec.fail(diskFull)
	if status, body, _ := call(); status != http.StatusOK {
		t.Fatalf("got %d %s for the call that hits the full disk, want 200 (it was already answered)", status, body)
	}
	faultSnapshot(t, p)
	log := logs.String()
	for _, want := range []string{"journal append failed", "no space left on device", "claude-sonnet-4-5-20250929", fixtureAnthropicCost.Decimal()} {
		if !strings.Contains(log, want) {
			t.Errorf("got log %q, want it to report the unjournaled call with %q", log, want)
		}
	}

	for i := range 2 {
		status, body, h := call()
		msg := gjson.Get(body, "error.message").Str
		if status != http.StatusServiceUnavailable || gjson.Get(body, "type").Str != "error" || gjson.Get(body, "error.type").Str != "api_error" ||
			!strings.Contains(msg, "journal") || !strings.Contains(msg, "no space left on device") {
			t.Errorf("refusal %d: got %d %s, want 503 in the Anthropic shape naming the journal problem", i, status, body)
		}
		if h.Get("X-Should-Retry") != "false" || h.Get(HeaderRefusal) != "journal" {
			t.Errorf("refusal %d: got x-should-retry %q, %s %q; want false, journal", i, h.Get("X-Should-Retry"), HeaderRefusal, h.Get(HeaderRefusal))
		}
	}
	if n := len(p.up.seen()); n != 1 {
		t.Errorf("got %d upstream requests, want 1: refused calls must not leave", n)
	}

	rec.fail(nil)
	if status, body, _ := call(); status != http.StatusServiceUnavailable {
		t.Errorf("got %d %s for the probe call, want 503 (its refusal line proves the journal works)", status, body)
	}
	if status, body, _ := call(); status != http.StatusOK {
		t.Errorf("got %d %s once the journal works again, want 200", status, body)
	}
	if !strings.Contains(logs.String(), "journal writable again") {
		t.Errorf("got log %q, want the recovery reported", logs.String())
	}
	recs := rec.records()
	if len(recs) != 2 || recs[0].Outcome != journal.OutcomeRefused || recs[0].Refusal != "journal" || recs[1].Outcome != journal.OutcomeOK {
		t.Errorf("got journal %+v, want the probe's refusal then the ok call", recs)
	}
	snap := faultSnapshot(t, p)
	if snap.Spent != 2*fixtureAnthropicCost || snap.Reserved != 0 {
		t.Errorf("got spent %s, reserved %s; want %s, 0", snap.Spent, snap.Reserved, 2*fixtureAnthropicCost)
	}
	faultCheckHealthy(t, p)
}
