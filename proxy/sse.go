package proxy

import "bytes"

// sseEvent is one server-sent event as it passed on the wire.
type sseEvent struct {
	// raw is the event's bytes, blank-line terminator included, exactly as received.
	raw []byte
	// name is the event field ("" when absent).
	name []byte
	// data is the data field; several data lines are joined with '\n'. It aliases
	// raw when the event has a single data line.
	data []byte
}

// sseSplitter cuts a byte stream into events at blank lines (LF, CRLF or CR line
// ends). It keeps an incomplete event until the rest arrives.
type sseSplitter struct {
	buf []byte
	// scanned is how far buf has been searched for the end of the current event.
	scanned int
	multi   []byte
}

// push appends p and calls fn for every event it completes. The event's slices are
// valid only during fn.
func (s *sseSplitter) push(p []byte, fn func(*sseEvent)) {
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

// flush returns the bytes of an unterminated final event (a stream that ended
// without a blank line) and parses them as an event.
func (s *sseSplitter) flush(fn func(*sseEvent)) {
	if len(s.buf) > 0 {
		s.emit(s.buf, fn)
		s.buf = s.buf[:0]
		s.scanned = 0
	}
}

// pending reports how many bytes wait for the end of their event.
func (s *sseSplitter) pending() int { return len(s.buf) }

// eventEnd finds the end of the event that starts at start: the index just past the
// blank line that closes it, or -1. s.scanned is always the start of a line.
func (s *sseSplitter) eventEnd(start int) int {
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
func (s *sseSplitter) emit(raw []byte, fn func(*sseEvent)) {
	ev := sseEvent{raw: raw}
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
			ev.name = value
		case "data":
			if lines == 0 {
				ev.data = value
			} else {
				if lines == 1 {
					s.multi = append(s.multi[:0], ev.data...)
				}
				s.multi = append(append(s.multi, '\n'), value...)
				ev.data = s.multi
			}
			lines++
		}
	}
	fn(&ev)
}
