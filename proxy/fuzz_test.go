package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/internal/sse"
	"github.com/costplan/costplan/pricing"
)

// The seeds below run in every test run, with the corpora in testdata/fuzz/<FuzzName>/
// (FuzzInspect's hand-written edge cases, and what fuzzing found). Fuzz with, say,
//
//	go test -run '^$' -fuzz '^FuzzInspect$' -fuzztime 60s ./proxy/

// Streamed requests whose responses the tap fuzzers feed.
const (
	fuzzAnthropicRequest = `{"model":"claude-sonnet-4-5-20250929","max_tokens":4096,"stream":true,"messages":[{"role":"user","content":"Hello there"}]}`
	fuzzChatRequest      = `{"model":"gpt-5-mini","stream":true,"messages":[{"role":"user","content":"Hello there"}]}`
	fuzzChatUsageRequest = `{"model":"gpt-5-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello there"}]}`
	fuzzResponsesRequest = `{"model":"gpt-5","stream":true,"input":"Hello there"}`
	fuzzTapSessionCap    = 100 * core.Dollar
	fuzzMaxStream        = 1 << 20
)

// fuzzStreamSeeds adds the stream fixtures and hand-written edge cases, each with a
// seed for the read chunking and FuzzChatTap's inject flag, which the other tap
// fuzzers ignore.
func fuzzStreamSeeds(f *testing.F, fixtures []string, edges []string) {
	f.Helper()
	for i, name := range fixtures {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint64(i), false)
		f.Add(b, uint64(i)+0x5eed, true)
	}
	f.Add([]byte(nil), uint64(0), false)
	for i, e := range edges {
		f.Add([]byte(e), uint64(i)*0x9e3779b97f4a7c15, i%2 == 0)
	}
}

// fuzzReader returns its data in chunks of pseudo-random sizes, as a network does.
type fuzzReader struct {
	data []byte
	rng  *rand.Rand
}

func (r *fuzzReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(r.data), 1+r.rng.IntN(64))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// checkUsage fails when any count of u is negative.
func checkUsage(t *testing.T, where string, u core.Usage) {
	t.Helper()
	if u.InputTokens < 0 || u.OutputTokens < 0 || u.CacheReadTokens < 0 || u.CacheWrite5mTokens < 0 ||
		u.CacheWrite1hTokens < 0 || u.ReasoningTokens < 0 || u.WebSearchRequests < 0 || u.TotalInput() < 0 {
		t.Fatalf("%s: got usage %+v, want no negative count", where, u)
	}
}

// tapEvents passes in through a fresh tap event by event, checking after each that
// the usage read so far has no negative count, and returns what the tap forwards.
// want says, for each event, whether the tap may forward exactly these bytes.
func tapEvents(t *testing.T, tp tap, in []byte, want func(ev *sse.Event, out []byte) bool) []byte {
	t.Helper()
	var out []byte
	var split sse.Splitter
	n := 0
	forward := func(ev *sse.Event) {
		b := tp.event(ev)
		if !want(ev, b) {
			t.Fatalf("event %d %q: the tap forwarded %q", n, ev.Raw, b)
		}
		out = append(out, b...)
		u, _ := tp.result()
		checkUsage(t, "event "+strconv.Itoa(n), u)
		n++
	}
	split.Push(in, forward)
	split.Flush(forward)
	return out
}

// streamThroughMeter reserves a call for request on a fresh Meter, answers it with
// in as a 200 event stream read in random chunks, and checks what the Meter makes
// of it: the client reads wantOut, the call settles once with non-negative usage at
// the exact price of that usage, the ledger holds that cost and no reservation, and
// the trailers carry it.
func streamThroughMeter(t *testing.T, a adapter, request string, in []byte, seed uint64, wantOut []byte) {
	t.Helper()
	rec := &memRecorder{}
	ledger, err := core.NewMemoryLedger(core.Caps{Session: fuzzTapSessionCap})
	if err != nil {
		t.Fatal(err)
	}
	m := &Meter{Ledger: ledger, Prices: sharedPrices, Estimator: sharedEstimator, Recorder: rec, Session: "fuzz"}
	m.init()
	body := []byte(request)
	req := httptest.NewRequest(http.MethodPost, "/v1/"+a.api(), bytes.NewReader(body))
	r, err := a.inspect(body)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Prices.Lookup(r.model)
	if err != nil {
		t.Fatal(err)
	}
	c := &callState{m: m, a: a, start: m.now(), req: req, r: r, res: res}
	if c.grant, err = m.reserve(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	m.inflight.Add(1)
	upstream := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body: io.NopCloser(&fuzzReader{data: in, rng: rand.New(rand.NewPCG(seed, 1))}), Request: req}
	resp, err := c.response(upstream)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the metered stream: %v", err)
	}
	resp.Body.Close()
	if !bytes.Equal(got, wantOut) {
		t.Fatalf("the client read %q, want %q", got, wantOut)
	}

	calls := rec.calls()
	if len(calls) != 1 {
		t.Fatalf("got %d call records, want 1", len(calls))
	}
	cr := calls[0]
	checkUsage(t, "journal record", cr.Usage)
	if want, _ := pricing.Cost(res.Model, cr.Usage); cr.Cost != want || cr.Cost < 0 {
		t.Fatalf("got cost %v for usage %+v, want %v", cr.Cost, cr.Usage, want)
	}
	snap, err := ledger.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap.Spent != cr.Cost || snap.Reserved != 0 || snap.InFlight != 0 {
		t.Fatalf("ledger: got spent %v, reserved %v, in flight %v; want %v, 0, 0", snap.Spent, snap.Reserved, snap.InFlight, cr.Cost)
	}
	if got := resp.Trailer.Get(HeaderCost); got != cr.Cost.Decimal() {
		t.Fatalf("trailer %s: got %v, want %v", HeaderCost, got, cr.Cost.Decimal())
	}
}

// unchanged is the forwarding rule of the Anthropic and Responses taps: every event
// as it came.
func unchanged(ev *sse.Event, out []byte) bool { return bytes.Equal(out, ev.Raw) }

// Edge cases shared by the tap fuzzers: usage that is negative, huge, fractional,
// a string or null; events without names; broken JSON; line-end variants.
var fuzzTapEdges = []string{
	"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":-5,\"output_tokens\":-1,\"cache_read_input_tokens\":-7,\"cache_creation_input_tokens\":-3,\"cache_creation\":{\"ephemeral_5m_input_tokens\":-1,\"ephemeral_1h_input_tokens\":4}}}}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":-900,\"server_tool_use\":{\"web_search_requests\":-2}}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
	"data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":1e300,\"output_tokens\":99999999999999999999}}}\n\n" +
		"data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9223372036854775807,\"input_tokens\":-9223372036854775808}}\n\n" +
		"data: {\"type\":\"message_stop\"}\n\n",
	"event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":\"12\",\"output_tokens\":null,\"cache_creation\":{\"ephemeral_5m_input_tokens\":1.5}}}}\r\n\r\n" +
		"event: message_delta\rdata: {\"usage\":{\"output_tokens\":2.9}}\r\r",
	"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":-10,\"completion_tokens\":-3,\"prompt_tokens_details\":{\"cached_tokens\":-4,\"cache_write_tokens\":-1},\"completion_tokens_details\":{\"reasoning_tokens\":-2}}}\n\ndata: [DONE]\n\n",
	"data: {\"choices\":[{\"delta\":{\"content\":\",\\\"usage\\\":null\"}}],\"usage\":null}\n\n" +
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1e400,\"completion_tokens\":18446744073709551616}}\n\ndata: [DONE]\n\n",
	"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null,\"x\":{\"usage\":null}}\n\ndata: {\"error\":{\"message\":\"overloaded\"}}\n\n",
	"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r1\",\"usage\":{\"input_tokens\":-1,\"output_tokens\":-1,\"input_tokens_details\":{\"cached_tokens\":-1},\"output_tokens_details\":{\"reasoning_tokens\":-1}}}}\n\n",
	"data: {\"type\":\"response.output_text.delta\",\"delta\":\"hé😀\"}\n\ndata: {\"type\":\"response.incomplete\",\"response\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":1e19}}}\n\n",
	"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\n\n",
	"data: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"",
	"data: {\"usage\":{\"output_tokens\":1}}\ndata: {\"usage\":{\"output_tokens\":2}}\n\n",
	":\n\n\n\n\r\n\r\r",
}

// FuzzAnthropicTap streams any bytes as a Messages response: nothing panics, the
// usage read is never negative, every event reaches the client unchanged, and the
// call settles at the exact price of the usage it journals.
func FuzzAnthropicTap(f *testing.F) {
	fuzzStreamSeeds(f, []string{"anthropic_stream.sse", "fault_malformed.sse"}, fuzzTapEdges)
	f.Fuzz(func(t *testing.T, in []byte, seed uint64, _ bool) {
		if len(in) > fuzzMaxStream {
			return
		}
		out := tapEvents(t, &anthropicTap{}, in, unchanged)
		if !bytes.Equal(out, in) {
			t.Fatalf("forwarded %q, want the input %q", out, in)
		}
		streamThroughMeter(t, anthropicMessages{}, fuzzAnthropicRequest, in, seed, in)
	})
}

// FuzzResponsesTap is FuzzAnthropicTap for the Responses API.
func FuzzResponsesTap(f *testing.F) {
	fuzzStreamSeeds(f, []string{"responses_stream.sse", "responses_stream_done.sse"}, fuzzTapEdges)
	f.Fuzz(func(t *testing.T, in []byte, seed uint64, _ bool) {
		if len(in) > fuzzMaxStream {
			return
		}
		out := tapEvents(t, &responsesTap{}, in, unchanged)
		if !bytes.Equal(out, in) {
			t.Fatalf("forwarded %q, want the input %q", out, in)
		}
		streamThroughMeter(t, openaiResponses{}, fuzzResponsesRequest, in, seed, in)
	})
}

// chatForwardRule is what a chat tap that asked for the usage chunk on the client's
// behalf may forward for one event: the event unchanged; nothing, for the usage
// chunk (a usage object and no choices); or the event with its "usage":null members
// removed, which leaves JSON data valid JSON.
func chatForwardRule(ev *sse.Event, out []byte) bool {
	if bytes.Equal(out, ev.Raw) {
		return true
	}
	if out == nil {
		return gjson.GetBytes(ev.Data, "usage").IsObject() && len(gjson.GetBytes(ev.Data, "choices").Array()) == 0
	}
	if !bytes.Equal(out, bytes.ReplaceAll(ev.Raw, usageNull, nil)) {
		return false
	}
	if json.Valid(ev.Data) {
		var again sse.Splitter
		valid := true
		again.Push(out, func(e *sse.Event) { valid = valid && json.Valid(e.Data) })
		again.Flush(func(e *sse.Event) { valid = valid && json.Valid(e.Data) })
		return valid
	}
	return true
}

// FuzzChatTap streams any bytes as a Chat Completions response, with and without
// CostPlan asking for the usage chunk: nothing panics, the usage read is never
// negative, the client gets every event unchanged except, when CostPlan asked for
// it, the withheld usage chunk and the "usage":null members, and the call settles
// at the exact price of the usage it journals.
func FuzzChatTap(f *testing.F) {
	fuzzStreamSeeds(f, []string{"chat_stream.sse", "chat_stream_nousage.sse"}, fuzzTapEdges)
	f.Fuzz(func(t *testing.T, in []byte, seed uint64, inject bool) {
		if len(in) > fuzzMaxStream {
			return
		}
		if !inject {
			out := tapEvents(t, &chatTap{}, in, unchanged)
			if !bytes.Equal(out, in) {
				t.Fatalf("forwarded %q, want the input %q", out, in)
			}
			streamThroughMeter(t, openaiChat{}, fuzzChatUsageRequest, in, seed, in)
			return
		}
		out := tapEvents(t, &chatTap{inject: true}, in, chatForwardRule)
		streamThroughMeter(t, openaiChat{}, fuzzChatRequest, in, seed, out)
	})
}

// limitKeys are the output-limit keys of each adapter.
var limitKeys = map[string][]string{
	"messages":         {"max_tokens"},
	"chat.completions": {"max_tokens", "max_completion_tokens"},
	"responses":        {"max_output_tokens"},
}

// decodeTop decodes a JSON object's top level as a standard parser does (the last
// of duplicate keys wins).
func decodeTop(t *testing.T, body []byte) map[string]json.RawMessage {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return obj
}

// limitValue reads an output limit: ok is false when it is absent or null.
func limitValue(t *testing.T, obj map[string]json.RawMessage, key string) (n int64, ok bool) {
	t.Helper()
	raw, present := obj[key]
	if !present || string(raw) == "null" {
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		t.Fatalf("%s: got %s, want an integer", key, raw)
	}
	return n, true
}

// checkRewrite rewrites an accepted body with grant and checks that it succeeds and
// leaves its input alone. When the body is valid JSON (inspect checks number and
// escape syntax loosely and leaves bodies that are not to the upstream, which
// refuses them) it checks the result too: valid JSON, the model unchanged, every
// output limit the grant or the client's smaller value (the grant set when the
// client set none), and for a chat stream whose client did not ask for the usage
// chunk, the request for it.
func checkRewrite(t *testing.T, a adapter, body []byte, grant core.Tokens) {
	t.Helper()
	orig := slices.Clone(body)
	r, err := a.inspect(body)
	if err != nil {
		return
	}
	out, err := a.rewrite(body, r, grant)
	if err != nil {
		t.Fatalf("%s: rewrite of an accepted body with grant %d: %v", a.api(), grant, err)
	}
	if !bytes.Equal(body, orig) {
		t.Fatalf("%s: rewrite changed its input", a.api())
	}
	if !json.Valid(orig) {
		return
	}
	if !json.Valid(out) {
		t.Fatalf("%s: rewrite with grant %d made invalid JSON: %q from %q", a.api(), grant, out, orig)
	}
	before, after := decodeTop(t, orig), decodeTop(t, out)
	// A standard parser reads each byte of invalid UTF-8 as U+FFFD, as a []rune
	// conversion does.
	var model string
	if err := json.Unmarshal(after["model"], &model); err != nil || model != string([]rune(r.model)) || !bytes.Equal(before["model"], after["model"]) {
		t.Fatalf("%s: model: got %s (inspected %q), want %s", a.api(), after["model"], r.model, before["model"])
	}
	anyLimit := false
	for _, k := range limitKeys[a.api()] {
		if _, ok := limitValue(t, before, k); ok {
			anyLimit = true
		}
	}
	for _, k := range limitKeys[a.api()] {
		was, had := limitValue(t, before, k)
		got, has := limitValue(t, after, k)
		want, wantOK := min(was, int64(grant)), had
		if !anyLimit && k == r.insertField {
			want, wantOK = int64(grant), true
		}
		if has != wantOK || got != want {
			t.Fatalf("%s: %s after a grant of %d: got %d (set %v), want %d (set %v); body %q from %q",
				a.api(), k, grant, got, has, want, wantOK, out, orig)
		}
	}
	if _, chat := a.(openaiChat); chat && r.stream {
		var opts struct {
			IncludeUsage *bool `json:"include_usage"`
		}
		if raw := after["stream_options"]; raw != nil {
			_ = json.Unmarshal(raw, &opts)
		}
		if opts.IncludeUsage == nil || !*opts.IncludeUsage {
			t.Fatalf("chat stream: got stream_options %s, want include_usage true; body %q from %q", after["stream_options"], out, orig)
		}
	}
}

// FuzzInspect gives every adapter's inspect any body: it never panics, and a body
// it accepts rewrites under any grant as checkRewrite requires.
func FuzzInspect(f *testing.F) {
	for _, name := range []string{"anthropic_message.json", "chat_completion.json", "responses_response.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, int64(1024))
	}
	for i, body := range []string{fuzzAnthropicRequest, fuzzChatRequest, fuzzChatUsageRequest, fuzzResponsesRequest} {
		f.Add([]byte(body), int64(i)*1000)
	}
	f.Fuzz(func(t *testing.T, body []byte, grant int64) {
		g := core.Tokens(grant & math.MaxInt64)
		for _, a := range []adapter{anthropicMessages{}, openaiChat{}, openaiResponses{}} {
			checkRewrite(t, a, body, g)
		}
	})
}

// referenceEdits applies edits the slow way, or reports them invalid: out of the
// body, negative, or overlapping once sorted by offset (stably).
func referenceEdits(body []byte, edits []edit) (string, bool) {
	sorted := slices.Clone(edits)
	slices.SortStableFunc(sorted, func(a, b edit) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	})
	var b strings.Builder
	prev := 0
	for _, e := range sorted {
		if e.at < prev || e.n < 0 || e.at > len(body) || e.n > len(body)-e.at {
			return "", false
		}
		b.Write(body[prev:e.at])
		b.WriteString(e.val)
		prev = e.at + e.n
	}
	b.Write(body[prev:])
	return b.String(), true
}

// FuzzRewriteEdits gives applyEdits any edits: it never panics, refuses edits out of
// range or overlapping, and applies the others as the reference does. Offsets and
// lengths are small numbers, so that the fuzzer lands in and around the body; huge
// turns the first length into one near the largest int, where offset plus length
// overflows.
func FuzzRewriteEdits(f *testing.F) {
	body := []byte(`{"model":"m","max_tokens":100}`)
	f.Add(body, int16(26), int16(3), "64", int16(1), int16(0), `"stream":true,`, int16(0), int16(0), false)
	f.Add(body, int16(26), int16(3), "64", int16(26), int16(3), "1", int16(0), int16(0), false)
	f.Add(body, int16(-1), int16(0), "x", int16(0), int16(0), "", int16(0), int16(0), false)
	f.Add(body, int16(29), int16(2), "x", int16(0), int16(0), "", int16(0), int16(0), false)
	f.Add(body, int16(30), int16(0), "}", int16(30), int16(0), "", int16(30), int16(0), false)
	f.Add(body, int16(1), int16(0), "x", int16(0), int16(0), "", int16(0), int16(0), true)
	f.Add([]byte{}, int16(0), int16(0), "{}", int16(0), int16(0), "", int16(0), int16(0), false)
	f.Fuzz(func(t *testing.T, body []byte, at1, n1 int16, v1 string, at2, n2 int16, v2 string, at3, n3 int16, huge bool) {
		edits := []edit{{int(at1), int(n1), v1}, {int(at2), int(n2), v2}, {int(at3), int(n3), ""}}
		if huge {
			edits[0].n = math.MaxInt - int(n1)
		}
		want, valid := referenceEdits(body, edits)
		orig := slices.Clone(body)
		got, err := applyEdits(body, slices.Clone(edits))
		if !bytes.Equal(body, orig) {
			t.Fatalf("applyEdits changed its input")
		}
		switch {
		case !valid && err == nil:
			t.Fatalf("edits %+v on %d bytes: got %q, want an error", edits, len(body), got)
		case valid && err != nil:
			t.Fatalf("edits %+v on %d bytes: got %v, want %q", edits, len(body), err, want)
		case valid && string(got) != want:
			t.Fatalf("edits %+v: got %q, want %q", edits, got, want)
		}
	})
}
