package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
)

// Sizes of the stress run: the default test run carries stressCalls calls (under
// -race in CI); COSTPLAN_STRESS=1 without -short, and BenchmarkStress1000, carry
// stressFullCalls.
const (
	stressCalls     = 150
	stressFullCalls = 1000
	stressEnv       = "COSTPLAN_STRESS"
	// stressCapPerCall sizes the session cap: calls × $0.01 pays for about a third
	// of the calls, so that many are admitted and many refused.
	stressCapPerCall = core.Cent
	// stressHeapBound bounds the live heap the run leaves behind once its connections
	// are closed: what the proxy keeps between calls (ledger, caches, journal buffer)
	// must not grow with the number of calls. Measured: about 0.4 MiB after 150
	// calls and 2.5 MiB after 1,000, mostly the runtime's descriptors of exited
	// goroutines and the fake upstream's log of the requests it saw.
	stressHeapBound = 8 << 20
	// stressGoroutineSlack is how many goroutines above the starting count are
	// tolerated once every connection is closed.
	stressGoroutineSlack = 5
)

// stressKind is one kind of call in the stress run: a raw HTTP request as the
// official SDKs send it and the exact cost of the fixture that answers it.
type stressKind struct {
	name, path, api string
	stream          bool
	header          http.Header
	body            string
	cost            core.Money
}

func stressKinds() []stressKind {
	anthropicHeader := http.Header{"Anthropic-Version": {"2023-06-01"}, "X-Api-Key": {"sk-ant-test"}, "Content-Type": {"application/json"}}
	openaiHeader := http.Header{"Authorization": {"Bearer sk-test"}, "Content-Type": {"application/json"}}
	const (
		messages  = `{"model":"claude-sonnet-4-5-20250929","max_tokens":8000,%s"messages":[{"role":"user","content":"Hello there"}]}`
		chat      = `{"model":"gpt-5-mini","max_completion_tokens":8000,%s"messages":[{"role":"user","content":"Hello there"}]}`
		responses = `{"model":"gpt-5","max_output_tokens":8000,%s"input":"Hello there"}`
		stream    = `"stream":true,`
	)
	return []stressKind{
		{"anthropic", "/v1/messages", journal.APIMessages, false, anthropicHeader, fmt.Sprintf(messages, ""), fixtureAnthropicCost},
		{"anthropic stream", "/v1/messages", journal.APIMessages, true, anthropicHeader, fmt.Sprintf(messages, stream), fixtureAnthropicCost},
		{"chat", "/v1/chat/completions", journal.APIChat, false, openaiHeader, fmt.Sprintf(chat, ""), fixtureChatCost},
		{"chat stream", "/v1/chat/completions", journal.APIChat, true, openaiHeader, fmt.Sprintf(chat, stream), fixtureChatStreamCost},
		{"responses", "/v1/responses", journal.APIResponses, false, openaiHeader, fmt.Sprintf(responses, ""), fixtureResponsesCost},
		{"responses stream", "/v1/responses", journal.APIResponses, true, openaiHeader, fmt.Sprintf(responses, stream), fixtureResponsesStreamCost},
	}
}

// stressResult is what one stress run measured.
type stressResult struct {
	calls, ok, refused int
	spent, sessionCap  core.Money
	elapsed            time.Duration
	// heapBefore and heapAfter are the live heap before the proxy starts and after
	// every connection is closed; heapPeak is the highest heap in use (HeapInuse,
	// garbage included) sampled during the run.
	heapBefore, heapPeak, heapAfter uint64
	goroutinesBefore, goroutinesMax int
	goroutinesAfter                 int
}

func (r stressResult) String() string {
	return fmt.Sprintf("%d calls in %v: %d ok, %d refused, spent %v of %v; live heap %.1f MiB before, %.1f MiB after, peak heap in use %.1f MiB; goroutines %d before, %d peak, %d after",
		r.calls, r.elapsed.Round(time.Millisecond), r.ok, r.refused, r.spent, r.sessionCap,
		mib(r.heapBefore), mib(r.heapAfter), mib(r.heapPeak), r.goroutinesBefore, r.goroutinesMax, r.goroutinesAfter)
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// liveHeap returns the bytes of live heap objects. It collects twice: the first
// collection only moves what sync.Pools hold (net/http's connection buffers) to
// their victim caches, the second frees it.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// stressCall makes one call and checks its answer: 200 with the fixture's exact
// cost (header, or trailer on a stream), or a 429 budget refusal that the SDKs do not
// retry. It reports whether the call was admitted.
func stressCall(c *http.Client, base string, k stressKind) (admitted bool, err error) {
	req, err := http.NewRequest(http.MethodPost, base+k.path, strings.NewReader(k.body))
	if err != nil {
		return false, err
	}
	req.Header = k.header.Clone()
	resp, err := c.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, fmt.Errorf("%s: read: %w", k.name, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusTooManyRequests:
		if resp.Header.Get("X-Should-Retry") != "false" || resp.Header.Get(HeaderRefusal) == "" {
			return false, fmt.Errorf("%s: got a 429 with x-should-retry %q and refusal %q, want false and a reason",
				k.name, resp.Header.Get("X-Should-Retry"), resp.Header.Get(HeaderRefusal))
		}
		return false, nil
	default:
		return false, fmt.Errorf("%s: got %d %s, want 200 or 429", k.name, resp.StatusCode, body)
	}
	cost := resp.Header.Get(HeaderCost)
	if k.stream {
		cost = resp.Trailer.Get(HeaderCost)
		if k.api == journal.APIChat && (!strings.Contains(string(body), "[DONE]") || strings.Contains(string(body), `"usage"`)) {
			return true, fmt.Errorf("%s: got a stream without [DONE] or with the usage chunk the client did not ask for", k.name)
		}
	}
	if cost != k.cost.Decimal() {
		return true, fmt.Errorf("%s: %s got %v, want %v", k.name, HeaderCost, cost, k.cost.Decimal())
	}
	return true, nil
}

// runStress sends calls concurrent calls, mixing the Anthropic Messages, OpenAI Chat
// Completions and Responses APIs, streamed and not, at one proxy with one session cap
// and a file journal, and checks the guarantees: every call is admitted and charged
// its exact cost or refused with a 429; what settled is within the cap; no
// reservation is left; the journal, parsed from the file, has one line per call and
// sums to the ledger exactly; and once the connections close, the heap and the
// goroutines are back near where they started.
func runStress(tb testing.TB, calls int) stressResult {
	tb.Helper()
	stressWarmUp(tb)
	res := stressResult{calls: calls, sessionCap: core.Money(calls) * stressCapPerCall}
	res.goroutinesBefore = runtime.NumGoroutine()
	res.heapBefore = liveHeap()

	p := newTestProxy(tb, withCaps(core.Caps{Session: res.sessionCap, PerCall: core.Dollar}), withFileJournal(tb), withMinOutput(4096))
	p.up.setRespond(chatLikeTheAPI(p.up))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: calls}, Timeout: time.Minute}
	kinds := stressKinds()

	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
			runtime.ReadMemStats(&ms)
			res.heapPeak = max(res.heapPeak, ms.HeapInuse)
			res.goroutinesMax = max(res.goroutinesMax, runtime.NumGoroutine())
		}
	}()

	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		mu       sync.Mutex // guards the following fields
		admitted = make([]int, len(kinds))
		refused  int
		errs     []error
	)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			k := i % len(kinds)
			ok, err := stressCall(client, p.srv.URL, kinds[k])
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case ok:
				admitted[k]++
			default:
				refused++
			}
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.meter.Wait(ctx); err != nil {
		tb.Fatalf("calls still in flight after every client returned: %v", err)
	}
	res.elapsed = time.Since(began)
	close(stopSampling)
	<-sampled

	if len(errs) > 0 {
		tb.Fatalf("got %d failed calls (first: %v), want none", len(errs), errs[0])
	}
	var want core.Money
	for k, n := range admitted {
		res.ok += n
		want += core.Money(n) * kinds[k].cost
	}
	res.refused = refused
	if res.ok == 0 || res.refused == 0 {
		tb.Errorf("got %d ok and %d refused, want some of each", res.ok, res.refused)
	}

	snap, err := p.meter.Ledger.Snapshot(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	res.spent = snap.Spent
	if snap.Spent > res.sessionCap {
		tb.Errorf("spent: got %v, want at most the cap %v", snap.Spent, res.sessionCap)
	}
	if snap.Spent != want {
		tb.Errorf("spent: got %v, want %v, the sum of the admitted calls' fixture costs", snap.Spent, want)
	}
	if snap.Reserved != 0 || snap.InFlight != 0 {
		tb.Errorf("ledger: got reserved %v, in flight %v; want 0, 0", snap.Reserved, snap.InFlight)
	}
	if snap.Calls != int64(res.ok) || snap.Refused != int64(res.refused) || snap.Violations != 0 {
		tb.Errorf("ledger counts: got calls %v, refused %v, violations %v; want %v, %v, 0", snap.Calls, snap.Refused, snap.Violations, res.ok, res.refused)
	}
	stressCheckJournal(tb, p.journal, kinds, res, snap.Spent)

	// Close every connection: the client's, the proxy's to the upstream, and both
	// servers'. What the run leaves behind must then be small and fixed.
	client.CloseIdleConnections()
	p.srv.Close()
	p.meter.transport.(*http.Transport).CloseIdleConnections()
	p.up.srv.Close()
	res.goroutinesAfter = stressSettleGoroutines(res.goroutinesBefore + stressGoroutineSlack)
	if res.goroutinesAfter > res.goroutinesBefore+stressGoroutineSlack {
		var dump strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&dump, 1)
		tb.Errorf("goroutines: got %d after the run, want at most %d + %d:\n%s", res.goroutinesAfter, res.goroutinesBefore, stressGoroutineSlack, dump.String())
	}
	res.heapAfter = liveHeap()
	if res.heapAfter > res.heapBefore && res.heapAfter-res.heapBefore > stressHeapBound {
		tb.Errorf("live heap: got %.1f MiB more after the run, want at most %.1f MiB", mib(res.heapAfter-res.heapBefore), mib(stressHeapBound))
	}
	runtime.KeepAlive(p)
	return res
}

// stressWarmUp makes one call of each kind through a proxy of its own, so that what
// is built once per process (the tokenizers' tables, the price table's lookups) is
// in the heap before the stress run measures it.
func stressWarmUp(tb testing.TB) {
	tb.Helper()
	p := newTestProxy(tb)
	p.up.setRespond(chatLikeTheAPI(p.up))
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for _, k := range stressKinds() {
		if _, err := stressCall(client, p.srv.URL, k); err != nil {
			tb.Fatalf("warm-up: %v", err)
		}
	}
	p.srv.Close()
	p.meter.transport.(*http.Transport).CloseIdleConnections()
	p.up.srv.Close()
}

// stressSettleGoroutines waits up to five seconds for the goroutine count to fall to
// limit and returns the last count.
func stressSettleGoroutines(limit int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stressCheckJournal parses the journal file: every line a whole record, one call
// record per call, each admitted call at its fixture's exact cost, each refusal a
// free 429, and the costs summing to the ledger's spent exactly.
func stressCheckJournal(tb testing.TB, path string, kinds []stressKind, res stressResult, spent core.Money) {
	tb.Helper()
	var sum core.Money
	var ok, refusedCalls int
	st, err := journal.ReadFile(path, func(rec journal.Record) error {
		if rec.Type != journal.TypeCall {
			return nil
		}
		sum += rec.Cost
		switch rec.Outcome {
		case journal.OutcomeOK:
			ok++
			want := core.Money(-1)
			for _, k := range kinds {
				if k.api == rec.API && k.stream == rec.Stream {
					want = k.cost
				}
			}
			if rec.Cost != want || rec.Estimated || rec.Violation != 0 || rec.Cost > rec.Reserved {
				tb.Errorf("%s stream=%v record: got cost %v (reserved %v, estimated %v, violation %v), want %v exact within its reservation",
					rec.API, rec.Stream, rec.Cost, rec.Reserved, rec.Estimated, rec.Violation, want)
			}
		case journal.OutcomeRefused:
			refusedCalls++
			if rec.Status != http.StatusTooManyRequests || rec.Cost != 0 {
				tb.Errorf("refused record: got status %v, cost %v; want 429, 0", rec.Status, rec.Cost)
			}
		default:
			tb.Errorf("record: got outcome %v (%+v), want ok or refused", rec.Outcome, rec)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if st.Skipped != 0 || st.Torn {
		tb.Errorf("journal: got %d skipped lines (torn %v), want none", st.Skipped, st.Torn)
	}
	if ok != res.ok || refusedCalls != res.refused {
		tb.Errorf("journal: got %d ok and %d refused records, want %d and %d as the clients saw", ok, refusedCalls, res.ok, res.refused)
	}
	if sum != spent {
		tb.Errorf("journal: got a sum of %v, want the ledger's spent %v", sum, spent)
	}
}

// TestStress runs stressCalls concurrent calls through one proxy (see runStress);
// with COSTPLAN_STRESS=1 and without -short, stressFullCalls.
func TestStress(t *testing.T) {
	calls := stressCalls
	if !testing.Short() && os.Getenv(stressEnv) == "1" {
		calls = stressFullCalls
	}
	t.Log(runStress(t, calls))
}

// BenchmarkStress1000 is the full-size stress run; each iteration is 1,000
// concurrent calls through a fresh proxy.
func BenchmarkStress1000(b *testing.B) {
	var last stressResult
	for b.Loop() {
		last = runStress(b, stressFullCalls)
	}
	b.ReportMetric(float64(last.elapsed.Microseconds())/float64(last.calls), "wall-µs/call")
	b.ReportMetric(mib(last.heapPeak), "peak-heap-inuse-MiB")
	b.ReportMetric(mib(last.heapAfter-min(last.heapAfter, last.heapBefore)), "retained-heap-MiB")
	b.Logf("%v", last)
}
