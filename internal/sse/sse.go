// Package sse splits a server-sent event stream into events without changing a
// byte: each event keeps its raw bytes for pass-through next to its parsed name
// and data.
package sse

import "bytes"

// Event is one server-sent event as it passed on the wire.
type Event struct {
	// Raw is the event's bytes, blank-line terminator included, exactly as received.
	Raw []byte
	// Name is the event field ("" when absent).
	Name []byte
	// Data is the data field; several data lines are joined with '\n'. It aliases
	// Raw when the event has a single data line.
	Data []byte
}

// Splitter cuts a byte stream into events at blank lines (LF, CRLF or CR line
// ends). It keeps an incomplete event until the rest arrives.
type Splitter struct {
	buf []byte
	// scanned is how far buf has been searched for the end of the current event.
	scanned int
	multi   []byte
}

// Push appends p and calls fn for every event it completes. The event's slices are
// valid only during fn.
func (s *Splitter) Push(p []byte, fn func(*Event)) {
	s.buf = append(s.buf, p...)
	start := 0
	for {
		end := s.eventEnd(start)
		if end < 0 {
			break
		}
		s.emit(s.buf[start:end], fn)
		start = end
		s.scanned = start
	}
	if start > 0 {
		n := copy(s.buf, s.buf[start:])
		s.buf = s.buf[:n]
		s.scanned -= start
	}
}

// Flush parses the bytes of an unterminated final event (a stream that ended
// without a blank line) and parses them as an event.
func (s *Splitter) Flush(fn func(*Event)) {
	if len(s.buf) > 0 {
		s.emit(s.buf, fn)
		s.buf = s.buf[:0]
		s.scanned = 0
	}
}

// Pending reports how many bytes wait for the end of their event.
func (s *Splitter) Pending() int { return len(s.buf) }

// eventEnd finds the end of the event that starts at start: the index just past the
// blank line that closes it, or -1. s.scanned is always the start of a line.
func (s *Splitter) eventEnd(start int) int {
	b := s.buf
	i := max(s.scanned, start)
	for {
		j := bytes.IndexAny(b[i:], "\r\n")
		if j < 0 {
			s.scanned = i
			return -1
		}
		end := i + j
		next := end + 1
		if b[end] == '\r' {
			if next >= len(b) {
				s.scanned = i // a CR at the end may be the first half of a CRLF
				return -1
			}
			if b[next] == '\n' {
				next++
			}
		}
		if end == i {
			return next // an empty line closes the event
		}
		i = next
	}
}

// emit parses one event's lines and calls fn.
func (s *Splitter) emit(raw []byte, fn func(*Event)) {
	ev := Event{Raw: raw}
	lines := 0
	rest := raw
	for len(rest) > 0 {
		k := bytes.IndexAny(rest, "\r\n")
		line := rest
		if k >= 0 {
			line = rest[:k]
			if rest[k] == '\r' && k+1 < len(rest) && rest[k+1] == '\n' {
				k++
			}
			rest = rest[k+1:]
		} else {
			rest = nil
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(field) {
		case "event":
			ev.Name = value
		case "data":
			if lines == 0 {
				ev.Data = value
			} else {
				if lines == 1 {
					s.multi = append(s.multi[:0], ev.Data...)
				}
				s.multi = append(append(s.multi, '\n'), value...)
				ev.Data = s.multi
			}
			lines++
		}
	}
	fn(&ev)
}
