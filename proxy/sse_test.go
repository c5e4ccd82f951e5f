package proxy

import (
	"strings"
	"testing"
)

func TestSSESplitter(t *testing.T) {
	stream := "event: message_start\ndata: {\"a\":1}\n\n" +
		": comment\r\nevent: ping\r\ndata: {}\r\n\r\n" +
		"data: line1\ndata: line2\n\n" +
		"event: x\rdata: cr\r\r" +
		"data: [DONE]\n\n"
	want := []struct{ name, data string }{
		{"message_start", `{"a":1}`}, {"ping", "{}"}, {"", "line1\nline2"}, {"x", "cr"}, {"", "[DONE]"},
	}
	for _, size := range []int{1, 2, 3, 7, 1000} {
		var s sseSplitter
		var got []struct{ name, data string }
		var raw strings.Builder
		for i := 0; i < len(stream); i += size {
			s.push([]byte(stream[i:min(i+size, len(stream))]), func(e *sseEvent) {
				got = append(got, struct{ name, data string }{string(e.name), string(e.data)})
				raw.Write(e.raw)
			})
		}
		s.flush(func(e *sseEvent) { raw.Write(e.raw) })
		if raw.String() != stream {
			t.Errorf("chunk %d: raw bytes changed:\n%q\nwant\n%q", size, raw.String(), stream)
		}
		if len(got) != len(want) {
			t.Fatalf("chunk %d: got %d events %q, want %d", size, len(got), got, len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("chunk %d event %d: got %q, want %q", size, i, got[i], want[i])
			}
		}
	}
}

func TestSSESplitterUnterminated(t *testing.T) {
	var s sseSplitter
	n := 0
	s.push([]byte("data: a\n\ndata: b"), func(*sseEvent) { n++ })
	if n != 1 || s.pending() != len("data: b") {
		t.Fatalf("got %d events, %d pending", n, s.pending())
	}
	var last string
	s.flush(func(e *sseEvent) { last = string(e.data) })
	if last != "b" {
		t.Errorf("flush: got %q, want b", last)
	}
}
