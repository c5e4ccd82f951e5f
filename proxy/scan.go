package proxy

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unsafe"

	"github.com/tidwall/gjson"
)

// maxDepth bounds the nesting of a request body; deeper bodies are refused rather
// than walked (the providers refuse them too).
const maxDepth = 256

// member is one top-level member of a request body.
type member struct {
	key string
	// raw is the value's JSON; at its offset in the body.
	raw []byte
	at  int
	// elems are the elements of an array value, for the keys the scan was asked to
	// split (the conversation).
	elems [][]byte
}

// scanned is the result of one pass over a request body.
type scanned struct {
	members []member
	// cacheControl is true when any object has a "cache_control" key; ttl1h when
	// any "ttl" key is "1h".
	cacheControl, ttl1h bool
}

// scanBody checks that body is one well-formed JSON object and, in the same single
// pass, records its top-level members, splits the arrays named in split into their
// elements, and notes prompt-cache markers. It does not decode string contents or
// numbers (escapes and number syntax are checked loosely; the upstream parses the
// body strictly), so a conversation of hundreds of kilobytes costs one scan.
func scanBody(body []byte, split map[string]bool) (*scanned, error) {
	s := &jsonScanner{b: body}
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return nil, badRequest("the request body is not a JSON object")
	}
	out := &scanned{}
	s.out = out
	s.i++
	for first := true; ; first = false {
		s.ws()
		if s.peek() == '}' && first {
			s.i++
			break
		}
		raw, escaped, err := s.key()
		if err != nil {
			return nil, err
		}
		key, err := s.keyString(raw, escaped)
		if err != nil {
			return nil, err
		}
		s.ws()
		m := member{key: key, at: s.i}
		if split[key] && s.peek() == '[' {
			m.elems, err = s.elements()
		} else {
			err = s.value(1)
		}
		if err != nil {
			return nil, err
		}
		m.raw = s.b[m.at:s.i]
		out.members = append(out.members, m)
		if key == "cache_control" {
			out.cacheControl = true
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			continue
		case '}':
			s.i++
		default:
			return nil, s.syntax("expected , or } after a member")
		}
		break
	}
	s.ws()
	if s.i != len(s.b) {
		return nil, s.syntax("unexpected data after the JSON object")
	}
	return out, nil
}

// result returns the member's value as a gjson.Result whose Index (and the Index of
// anything Get finds in it) is an offset in the whole body.
func (m member) result() gjson.Result {
	r := gjson.Parse(unsafe.String(unsafe.SliceData(m.raw), len(m.raw)))
	r.Index = m.at
	return r
}

// array returns the elements of a split array member, or a 400 when it is no array.
func (m member) array() ([][]byte, error) {
	if m.elems == nil {
		return nil, badRequest("%s must be an array", m.key)
	}
	return m.elems, nil
}

type jsonScanner struct {
	b   []byte
	i   int
	out *scanned
}

func (s *jsonScanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) syntax(what string) error {
	return badRequest("the request body is not valid JSON: %s at byte %d", what, s.i)
}

// key reads an object key followed by its colon. It returns the key's raw bytes
// (quotes included) and whether they hold escapes.
func (s *jsonScanner) key() (raw []byte, escaped bool, err error) {
	if s.peek() != '"' {
		return nil, false, s.syntax("expected a string key")
	}
	start := s.i
	if escaped, err = s.str(); err != nil {
		return nil, false, err
	}
	raw = s.b[start:s.i]
	s.ws()
	if s.peek() != ':' {
		return nil, false, s.syntax("expected : after a key")
	}
	s.i++
	return raw, escaped, nil
}

// keyString decodes a key's raw bytes.
func (s *jsonScanner) keyString(raw []byte, escaped bool) (string, error) {
	if !escaped {
		return string(raw[1 : len(raw)-1]), nil
	}
	var key string
	if err := json.Unmarshal(raw, &key); err != nil {
		return "", s.syntax("bad escape in a key")
	}
	return key, nil
}

// str skips a string starting at s.i and reports whether it had escapes. Short
// strings (keys, roles, types: most strings of a request) are scanned byte by byte,
// where a vector search would cost more in calls than it saves; past 32 bytes the
// quote and backslash are found with bytes.IndexByte, the next quote searched for
// again only once an escape has consumed the last one found.
func (s *jsonScanner) str() (escaped bool, err error) {
	b := s.b
	i := s.i + 1
	for end := min(i+32, len(b)); i < end; i++ {
		switch b[i] {
		case '"':
			s.i = i + 1
			return escaped, nil
		case '\\':
			escaped = true
			if i, err = s.escape(i + 1); err != nil {
				return escaped, err
			}
			i--
			end = min(max(end, i+1), len(b))
		}
	}
	q := -1 // the next quote at or after i
	for {
		if q < i {
			if i >= len(b) {
				break
			}
			k := bytes.IndexByte(b[i:], '"')
			if k < 0 {
				break
			}
			q = i + k
		}
		bs := bytes.IndexByte(b[i:q], '\\')
		if bs < 0 {
			s.i = q + 1
			return escaped, nil
		}
		escaped = true
		if i, err = s.escape(i + bs + 1); err != nil {
			return escaped, err
		}
	}
	s.i = len(b)
	return escaped, s.syntax("unterminated string")
}

// escape checks the escape whose character is at i and returns the index after it.
func (s *jsonScanner) escape(i int) (int, error) {
	b := s.b
	if i >= len(b) {
		s.i = len(b)
		return i, s.syntax("unterminated string")
	}
	switch b[i] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 1, nil
	case 'u':
		if i+5 > len(b) || !isHex4(b[i+1:i+5]) {
			s.i = i
			return i, s.syntax("bad \\u escape")
		}
		return i + 5, nil
	}
	s.i = i
	return i, s.syntax("bad escape")
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// elements splits the array at s.i into its elements.
func (s *jsonScanner) elements() ([][]byte, error) {
	s.i++               // [
	elems := [][]byte{} // not nil: an empty array is still an array
	s.ws()
	if s.peek() == ']' {
		s.i++
		return elems, nil
	}
	for {
		s.ws()
		start := s.i
		if err := s.value(2); err != nil {
			return nil, err
		}
		elems = append(elems, s.b[start:s.i])
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return elems, nil
		default:
			return nil, s.syntax("expected , or ] in an array")
		}
	}
}

// value skips one JSON value at nesting depth d.
func (s *jsonScanner) value(d int) error {
	if d > maxDepth {
		return badRequest("the request body nests deeper than %d levels", maxDepth)
	}
	switch c := s.peek(); {
	case c == '"':
		_, err := s.str()
		return err
	case c == '{':
		return s.object(d)
	case c == '[':
		s.i++
		s.ws()
		if s.peek() == ']' {
			s.i++
			return nil
		}
		for {
			s.ws()
			if err := s.value(d + 1); err != nil {
				return err
			}
			s.ws()
			switch s.peek() {
			case ',':
				s.i++
			case ']':
				s.i++
				return nil
			default:
				return s.syntax("expected , or ] in an array")
			}
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 0 && s.i >= len(s.b):
		return s.syntax("unexpected end")
	}
	return s.syntax("unexpected character")
}

// number skips a number by JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) number() error {
	b, i := s.b, s.i
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		s.i = i
		return s.syntax("bad number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			s.i = i
			return s.syntax("bad number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			s.i = i
			return s.syntax("bad number")
		}
	}
	s.i = i
	return nil
}

// object skips an object, noting prompt-cache markers among its keys.
func (s *jsonScanner) object(d int) error {
	s.i++ // {
	s.ws()
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		raw, escaped, err := s.key()
		if err != nil {
			return err
		}
		if escaped { // rare: compare the decoded key
			key, err := s.keyString(raw, escaped)
			if err != nil {
				return err
			}
			raw = []byte(strconv.Quote(key))
		}
		s.ws()
		valStart := s.i
		if err := s.value(d + 1); err != nil {
			return err
		}
		switch string(raw) { // compiled to a comparison, no allocation
		case `"cache_control"`:
			s.out.cacheControl = true
		case `"ttl"`:
			if string(s.b[valStart:s.i]) == `"1h"` {
				s.out.ttl1h = true
			}
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.syntax("expected , or } in an object")
		}
	}
}

func (s *jsonScanner) literal(lit string) error {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return s.syntax("unexpected literal")
	}
	s.i += len(lit)
	return nil
}
