package proxy

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
)

// concurrencyStream is a Messages stream whose usage fits a short request: 12 input
// tokens and 900 output tokens on claude-sonnet-4-5.
const concurrencyStream = "event: message_start\n" +
	`data: {"type":"message_start","message":{"id":"msg_c","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}` + "\n\n" +
	"event: content_block_start\n" +
	`data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n\n" +
	"event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}` + "\n\n" +
	"event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there"}}` + "\n\n" +
	"event: content_block_stop\n" +
	`data: {"type":"content_block_stop","index":0}` + "\n\n" +
	"event: message_delta\n" +
	`data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":900}}` + "\n\n" +
	"event: message_stop\n" +
	`data: {"type":"message_stop"}` + "\n\n"

// concurrencyCost is concurrencyStream's cost: 12 × $3 + 900 × $15 per million.
const concurrencyCost core.Money = 12*3_000 + 900*15_000

// TestConcurrentStreamsUnderSessionCap runs 200 streamed calls at once against a
// session cap that holds about 20 reservations. Each call asks for 2,000 output
// tokens ($0.03 at $15/MTok plus a small input bound), the cap is $0.61, and each
// call really costs concurrencyCost, which is below even the smallest reservation
// (the 1,024-token floor), so no call can settle above its reservation.
func TestConcurrentStreamsUnderSessionCap(t *testing.T) {
	const calls = 200
	sessionCap := 61 * core.Cent
	p := newTestProxy(t, withCaps(core.Caps{Session: sessionCap}), withFileJournal(t))
	p.up.setRespond(func(w http.ResponseWriter, r *http.Request, body []byte) {
		// Hold each stream open a moment after message_start so calls overlap.
		start, rest, _ := strings.Cut(concurrencyStream, "\n\n")
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte(start + "\n\n"))
		w.(http.Flusher).Flush()
		time.Sleep(5 * time.Millisecond)
		writeSSE(w, []byte(rest))
	})
	c := anthropicClient(p)
	params := helloParams(2000)

	var (
		wg             sync.WaitGroup
		mu             sync.Mutex // guards the following fields
		ok, refused    int
		unexpected     []error
		wrongText      []string
		startingSignal = make(chan struct{})
	)
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startingSignal
			st := c.Messages.NewStreaming(context.Background(), params)
			defer st.Close()
			var text strings.Builder
			for st.Next() {
				if d, isDelta := st.Current().AsAny().(anthropic.ContentBlockDeltaEvent); isDelta {
					text.WriteString(d.Delta.Text)
				}
			}
			err := st.Err()
			var apiErr *anthropic.Error
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
				if text.String() != "Hi there" {
					wrongText = append(wrongText, text.String())
				}
			case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusTooManyRequests:
				refused++
			default:
				unexpected = append(unexpected, err)
			}
		}()
	}
	close(startingSignal)
	wg.Wait()
	waitCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.meter.Wait(waitCtx); err != nil {
		t.Fatalf("calls still in flight after every client returned: %v", err)
	}

	if len(unexpected) > 0 {
		t.Errorf("got %d unexpected errors (first: %v), want none", len(unexpected), unexpected[0])
	}
	if len(wrongText) > 0 {
		t.Errorf("got streamed text %q, want %q", wrongText[0], "Hi there")
	}
	if ok+refused != calls {
		t.Errorf("got ok %d + refused %d = %d, want %d", ok, refused, ok+refused, calls)
	}
	// The first 20 reservations fit the cap whatever the order; no more than the cap
	// divided by the real cost can ever settle.
	if maxOK := int(sessionCap / concurrencyCost); ok < 20 || ok > maxOK {
		t.Errorf("got %d calls through, want between 20 and %d", ok, maxOK)
	}
	if got := len(p.up.seen()); got != ok {
		t.Errorf("got %d upstream requests, want %d (one per call let through, no retries)", got, ok)
	}

	snap, err := p.meter.Ledger.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap.Spent > sessionCap {
		t.Errorf("got spent %s, want at most the cap %s", snap.Spent, sessionCap)
	}
	if snap.Reserved != 0 || snap.InFlight != 0 {
		t.Errorf("got reserved %s, in flight %d; want 0, 0", snap.Reserved, snap.InFlight)
	}
	if want := core.Money(ok) * concurrencyCost; snap.Spent != want {
		t.Errorf("got spent %s, want %d × %s = %s", snap.Spent, ok, concurrencyCost, want)
	}
	if snap.Calls != int64(ok) || snap.Refused != int64(refused) || snap.Violations != 0 {
		t.Errorf("got ledger calls %d, refused %d, violations %d; want %d, %d, 0", snap.Calls, snap.Refused, snap.Violations, ok, refused)
	}

	var sum, maxReserved core.Money
	outcomes := map[string]int{}
	for _, rec := range p.readJournal(t) {
		if rec.Type != journal.TypeCall {
			continue
		}
		outcomes[rec.Outcome]++
		sum += rec.Cost
		switch rec.Outcome {
		case journal.OutcomeOK:
			maxReserved = max(maxReserved, rec.Reserved)
			if rec.Cost != concurrencyCost || rec.Estimated || !rec.Stream || rec.Cost > rec.Reserved {
				t.Errorf("got ok record cost %s (reserved %s, estimated %v, stream %v), want %s exact from a stream",
					rec.Cost, rec.Reserved, rec.Estimated, rec.Stream, concurrencyCost)
			}
		case journal.OutcomeRefused:
			if rec.Status != http.StatusTooManyRequests || rec.Cost != 0 || (rec.Refusal != string(core.LimitSession) && rec.Refusal != string(core.LimitLocked)) {
				t.Errorf("got refused record status %d, refusal %q, cost %s; want 429, session or locked, 0", rec.Status, rec.Refusal, rec.Cost)
			}
		}
	}
	if outcomes[journal.OutcomeOK] != ok || outcomes[journal.OutcomeRefused] != refused || len(outcomes) > 2 {
		t.Errorf("got journal outcomes %v, want ok %d and refused %d only", outcomes, ok, refused)
	}
	if sum != snap.Spent {
		t.Errorf("got journal sum %s, want the ledger's spent %s", sum, snap.Spent)
	}
	t.Logf("ok %d, refused %d, spent %s of %s, full reservation %s", ok, refused, snap.Spent, sessionCap, maxReserved)
	// The sizing this test depends on: a full reservation fits the cap 20 times.
	if n := sessionCap / maxReserved; n != 20 {
		t.Errorf("got a full reservation of %s, which fits the cap %d times, want 20", maxReserved, n)
	}
}
