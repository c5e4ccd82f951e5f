package sse

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
		var s Splitter
		var got []struct{ name, data string }
		var raw strings.Builder
		for i := 0; i < len(stream); i += size {
			s.Push([]byte(stream[i:min(i+size, len(stream))]), func(e *Event) {
				got = append(got, struct{ name, data string }{string(e.Name), string(e.Data)})
				raw.Write(e.Raw)
			})
		}
		s.Flush(func(e *Event) { raw.Write(e.Raw) })
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
	var s Splitter
	n := 0
	s.Push([]byte("data: a\n\ndata: b"), func(*Event) { n++ })
	if n != 1 || s.Pending() != len("data: b") {
		t.Fatalf("got %d events, %d pending", n, s.Pending())
	}
	var last string
	s.Flush(func(e *Event) { last = string(e.Data) })
	if last != "b" {
		t.Errorf("flush: got %q, want b", last)
	}
}
