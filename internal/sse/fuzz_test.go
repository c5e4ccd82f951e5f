package sse

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// splitEvent is an event copied out of the Splitter's callback.
type splitEvent struct{ raw, name, data string }

// referenceEvents splits a whole stream the simple way: cut it into lines at LF,
// CRLF or CR, close an event at every empty line, and keep what is left at the end
// as a last event. Names and data follow the field rules: the last event field wins,
// data lines join with '\n', one space after the colon is dropped.
func referenceEvents(in []byte) []splitEvent {
	var events []splitEvent
	var cur splitEvent
	var dataLines int
	closeEvent := func() {
		events = append(events, cur)
		cur, dataLines = splitEvent{}, 0
	}
	for len(in) > 0 {
		line, term := in, len(in)
		if k := bytes.IndexAny(in, "\r\n"); k >= 0 {
			line, term = in[:k], k+1
			if in[k] == '\r' && k+1 < len(in) && in[k+1] == '\n' {
				term++
			}
		}
		cur.raw += string(in[:term])
		in = in[term:]
		if len(line) == 0 && term > 0 {
			closeEvent()
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			cur.name = string(value)
		case "data":
			if dataLines > 0 {
				cur.data += "\n"
			}
			cur.data += string(value)
			dataLines++
		}
	}
	if cur.raw != "" {
		closeEvent()
	}
	return events
}

// chunked feeds in to a Splitter in chunks whose sizes come from seed, checking
// Pending after every push, and returns the events it yields.
func chunked(t *testing.T, in []byte, seed uint64) []splitEvent {
	var s Splitter
	var events []splitEvent
	emitted := 0
	collect := func(e *Event) {
		events = append(events, splitEvent{string(e.Raw), string(e.Name), string(e.Data)})
		emitted += len(e.Raw)
	}
	rng := rand.New(rand.NewPCG(seed, seed>>32))
	for pushed := 0; pushed < len(in); {
		var n int
		switch rng.IntN(4) {
		case 0:
			n = rng.IntN(2) // empty pushes and single bytes
		case 1:
			n = 1 + rng.IntN(8)
		default:
			n = 1 + rng.IntN(len(in))
		}
		n = min(n, len(in)-pushed)
		s.Push(in[pushed:pushed+n], collect)
		pushed += n
		if got, want := s.Pending(), pushed-emitted; got != want {
			t.Fatalf("after %d bytes: got Pending %v, want %v", pushed, got, want)
		}
	}
	s.Flush(collect)
	if got := s.Pending(); got != 0 {
		t.Fatalf("after Flush: got Pending %v, want 0", got)
	}
	return events
}

// FuzzSSESplitter checks that any byte stream, cut into any chunks, splits into the
// events of the simple reference split, and that the events' raw bytes put back
// together are the stream unchanged.
func FuzzSSESplitter(f *testing.F) {
	seeds := []string{
		"",
		"event: message_start\ndata: {\"a\":1}\n\n",
		": comment\r\nevent: ping\r\ndata: {}\r\n\r\n",
		"data: line1\ndata: line2\n\ndata: [DONE]\n\n",
		"event: x\rdata: cr\r\r",
		"data: a\r",
		"data: a\r\r\n",
		"data: a\n\r",
		"\n\n\r\n\r\r",
		"data\ndata:\ndata:  two spaces\nevent\nevent:e1\nevent: e2\n\n",
		"data: unterminated",
		"id: 1\nretry: 10\ndata:x\n\n:\n\n",
		"data: é€😀\xff\xfe\n\n",
		"data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":900}}\n\n" +
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint64(i)*0x9e3779b97f4a7c15)
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		want := referenceEvents(in)
		got := chunked(t, in, seed)
		var raw []byte
		for _, e := range got {
			raw = append(raw, e.raw...)
		}
		if !bytes.Equal(raw, in) {
			t.Fatalf("raw bytes: got %q, want %q", raw, in)
		}
		if len(got) != len(want) {
			t.Fatalf("got %d events %q, want %d %q", len(got), got, len(want), want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("event %d: got %q, want %q", i, got[i], want[i])
			}
		}
	})
}
