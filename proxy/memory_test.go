package proxy

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/pricing"
)

func TestConversationsCalibrate(t *testing.T) {
	cs := newConversations(2)
	p := pricing.Prompt{System: []byte(`"sys"`), Messages: [][]byte{[]byte(`{"role":"user","content":"a"}`)}}
	k := cs.key(p, "m")
	now := time.Unix(1_000_000, 0)
	if tok, cached := cs.bound(k, 1000, now); tok != 1000 || cached != 0 {
		t.Fatalf("unknown conversation: got %d, %d; want the estimate and nothing cached", tok, cached)
	}
	// The provider counted half the estimate and cached 400 tokens (5m TTL).
	cs.learn(k, 1000, core.Usage{InputTokens: 100, CacheReadTokens: 300, CacheWrite5mTokens: 100, OutputTokens: 9}, now)
	tok, cached := cs.bound(k, 2000, now.Add(time.Minute))
	if want := core.Tokens(2000*0.5*calibrationMargin) + 1; tok != want || cached != 400 {
		t.Errorf("got %d tokens, %d cached; want %d, 400", tok, cached, want)
	}
	// After the cache's TTL nothing is expected from it.
	if _, cached := cs.bound(k, 2000, now.Add(6*time.Minute)); cached != 0 {
		t.Errorf("after the TTL: got %d cached, want 0", cached)
	}
	// A 1-hour write keeps the cache for an hour.
	cs.learn(k, 1000, core.Usage{CacheWrite1hTokens: 500}, now)
	if _, cached := cs.bound(k, 2000, now.Add(30*time.Minute)); cached != 500 {
		t.Errorf("1h TTL: got %d cached, want 500", cached)
	}
	// The highest recent ratio wins, and a ratio above 1 never raises the estimate.
	cs.learn(k, 1000, core.Usage{InputTokens: 3000}, now)
	if tok, _ := cs.bound(k, 2000, now); tok != 2000 {
		t.Errorf("ratio above 1: got %d, want the estimate 2000", tok)
	}
	// Other system prompts, tools or first messages are other conversations.
	p2 := p
	p2.System = []byte(`"other"`)
	if cs.key(p2, "m") == k || cs.key(p, "m2") == k {
		t.Error("different conversations share a key")
	}
	// The memory is bounded.
	for i := range 5 {
		p3 := p
		p3.Tools = []byte{byte('a' + i)}
		cs.learn(cs.key(p3, "m"), 10, core.Usage{InputTokens: 5}, now)
	}
	if len(cs.byKey) != 2 || len(cs.order) != 2 {
		t.Errorf("memory holds %d conversations, want 2", len(cs.byKey))
	}
}

// TestResentConversationReservesLess shows the second call of a conversation is
// reserved from what the provider reported for the first.
func TestResentConversationReservesLess(t *testing.T) {
	p := newTestProxy(t)
	// The upstream reports what a real one would: about 4,100 tokens, written to
	// the cache by the first call and read back by the second.
	calls := 0
	p.up.setRespond(func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		calls++
		usage := `{"input_tokens":10,"cache_creation_input_tokens":4100,"cache_read_input_tokens":0,"output_tokens":5}`
		if calls > 1 {
			usage = `{"input_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":4100,"output_tokens":5}`
		}
		writeFixtureJSON(w, `{"id":"m","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":`+usage+`}`)
	})
	first := []byte(`{"model":"claude-sonnet-4-5","max_tokens":1000,"system":[{"type":"text","text":"You are terse.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"` + string(bytes.Repeat([]byte("budget words "), 2000)) + `"}]}`)
	second, _ := applyEdits(first, []edit{{at: len(first) - 2, val: `,{"role":"assistant","content":"ok"},{"role":"user","content":"more"}`}})
	for _, body := range [][]byte{first, second} {
		req, _ := http.NewRequest("POST", p.srv.URL+"/v1/messages", bytes.NewReader(body))
		req.Header.Set("X-Api-Key", "k")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	recs := p.waitCalls(t, 2)
	// The first call's bound is the loose offline estimate (about 8,100 tokens at
	// the $3.75 cache-write rate). The second is calibrated by what the provider
	// counted (about half the estimate) and prices the 4,110 cached tokens at the
	// $0.30 read rate: well under half the first reservation's input part.
	out := core.OutputCost(1000, 15*core.Dollar)
	in0, in1 := recs[0].Reserved-out, recs[1].Reserved-out
	if in1*2 >= in0 {
		t.Errorf("input part of the reservations: first %s, second %s; want the second under half the first", in0, in1)
	}
	if recs[1].Cost > recs[1].Reserved {
		t.Errorf("second call cost %s above its reservation %s", recs[1].Cost, recs[1].Reserved)
	}
	snap, _ := p.meter.Ledger.Snapshot(context.Background())
	if snap.Violations != 0 {
		t.Errorf("violations: %d", snap.Violations)
	}
}
