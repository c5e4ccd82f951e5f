package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"unicode"
	"unicode/utf8"

	"github.com/costplan/costplan/core"
)

// Decoding limits.
const (
	// maxDepth is the deepest nesting accepted, as encoding/json does.
	maxDepth = 10000
	// maxInterned bounds the strings a decoder keeps for reuse.
	maxInterned = 4096
	// maxInternLen is the longest string a decoder keeps for reuse.
	maxInternLen = 128
)

// errNotObject is returned for a line that is valid JSON but not an object.
var errNotObject = errors.New("not a json object")

// decoder reads journal lines into Records without reflection. It accepts exactly the
// JSON that encoding/json accepts, matches keys as encoding/json does (exactly, else
// case-insensitively), ignores unknown keys and values of the wrong type, and fails on
// invalid syntax, ts or money. The zero value is ready to use; newDecoder's also
// interns repeated short strings such as model names, so that scanning a large
// journal allocates little.
type decoder struct {
	data  []byte
	off   int
	depth int
	strs  map[string]string // nil: no interning
}

// newDecoder returns a decoder that interns strings, for reading many lines.
func newDecoder() *decoder {
	return &decoder{strs: make(map[string]string)}
}

// decode parses one line into r, which it first resets.
func (d *decoder) decode(line []byte, r *Record) error {
	*r = Record{}
	d.data, d.off, d.depth = line, 0, 0
	d.skipWS()
	if d.off >= len(d.data) {
		return d.syntax("empty line")
	}
	if d.data[d.off] != '{' {
		if _, err := d.value(); err != nil {
			return err
		}
		return errNotObject
	}
	if err := d.object(r, false); err != nil {
		return err
	}
	d.skipWS()
	if d.off != len(d.data) {
		return d.syntax("data after the object")
	}
	return nil
}

func (d *decoder) syntax(msg string) error {
	return fmt.Errorf("invalid json at byte %d: %s", d.off, msg)
}

func (d *decoder) skipWS() {
	for d.off < len(d.data) {
		switch d.data[d.off] {
		case ' ', '\t', '\n', '\r':
			d.off++
		default:
			return
		}
	}
}

// expect consumes c after optional whitespace.
func (d *decoder) expect(c byte) error {
	d.skipWS()
	if d.off >= len(d.data) || d.data[d.off] != c {
		return d.syntax(fmt.Sprintf("want %q", c))
	}
	d.off++
	return nil
}

func (d *decoder) enter() error {
	d.depth++
	if d.depth > maxDepth {
		return d.syntax("nested too deeply")
	}
	return nil
}

// object parses the object at d.off into r, or into r.Usage when usage is set.
func (d *decoder) object(r *Record, usage bool) error {
	return d.composite('}', func() error {
		key, err := d.key()
		if err != nil {
			return err
		}
		if usage {
			return d.usageField(key, &r.Usage, true)
		}
		return d.recordField(key, r, true)
	})
}

// composite scans the object or array at d.off through its closing byte, calling
// elem at each member or element.
func (d *decoder) composite(closer byte, elem func() error) error {
	d.off++ // '{' or '['
	if err := d.enter(); err != nil {
		return err
	}
	d.skipWS()
	if d.off < len(d.data) && d.data[d.off] == closer {
		d.off++
		d.depth--
		return nil
	}
	for {
		d.skipWS()
		if err := elem(); err != nil {
			return err
		}
		d.skipWS()
		if d.off >= len(d.data) {
			if closer == '}' {
				return d.syntax("unterminated object")
			}
			return d.syntax("unterminated array")
		}
		switch d.data[d.off] {
		case ',':
			d.off++
		case closer:
			d.off++
			d.depth--
			return nil
		default:
			return d.syntax("want ',' or '" + string(closer) + "'")
		}
	}
}

// key scans a member's key, unescaped, and the colon after it.
func (d *decoder) key() ([]byte, error) {
	if d.off >= len(d.data) || d.data[d.off] != '"' {
		return nil, d.syntax("want a key")
	}
	tok, plain, err := d.str()
	if err != nil {
		return nil, err
	}
	key := tok[1 : len(tok)-1]
	if !plain {
		key = []byte(unquote(tok))
	}
	if err := d.expect(':'); err != nil {
		return nil, err
	}
	d.skipWS()
	return key, nil
}

// recordField decodes the value of key into r. exact is false when key was already
// folded to a known name.
func (d *decoder) recordField(key []byte, r *Record, exact bool) error {
	switch string(key) {
	case "v":
		return d.setInt(&r.V)
	case "type":
		return d.setString(&r.Type, true)
	case "ts":
		tok, err := d.value()
		if err != nil {
			return err
		}
		return r.TS.UnmarshalJSON(tok)
	case "session":
		return d.setString(&r.Session, true)
	case "provider":
		return d.setString(&r.Provider, true)
	case "api":
		return d.setString(&r.API, true)
	case "model":
		return d.setString(&r.Model, true)
	case "price_model":
		return d.setString(&r.PriceModel, true)
	case "stream":
		return d.setBool(&r.Stream)
	case "status":
		return d.setInt(&r.Status)
	case "outcome":
		return d.setString(&r.Outcome, true)
	case "usage":
		if d.off < len(d.data) && d.data[d.off] == '{' {
			return d.object(r, true)
		}
		_, err := d.value()
		return err
	case "cost_usd":
		return d.setMoney(&r.Cost)
	case "reserved_usd":
		return d.setMoney(&r.Reserved)
	case "max_tokens_requested":
		return d.setInt64((*int64)(&r.MaxTokensRequested))
	case "max_tokens_granted":
		return d.setInt64((*int64)(&r.MaxTokensGranted))
	case "estimated":
		return d.setBool(&r.Estimated)
	case "latency_ms":
		return d.setInt64(&r.LatencyMS)
	case "ttfb_ms":
		return d.setInt64(&r.TTFBMS)
	case "request_id":
		return d.setString(&r.RequestID, false)
	case "client":
		return d.setString(&r.Client, true)
	case "refusal":
		return d.setString(&r.Refusal, true)
	case "budget_key":
		return d.setString(&r.BudgetKey, true)
	case "error":
		return d.setString(&r.Error, false)
	case "fallback":
		return d.setBool(&r.Fallback)
	case "violation_usd":
		return d.setMoney(&r.Violation)
	case "event":
		return d.setString(&r.Event, true)
	case "session_usd":
		return d.setMoney(&r.SessionCap)
	case "per_call_usd":
		return d.setMoney(&r.PerCallCap)
	case "spent_usd":
		return d.setMoney(&r.Spent)
	case "calls":
		return d.setInt64(&r.Calls)
	case "refused":
		return d.setInt64(&r.Refused)
	case "command":
		return d.setString(&r.Command, true)
	case "args":
		return d.setInt(&r.Args)
	}
	if exact {
		if name := foldedRecordKey(key); name != "" {
			return d.recordField([]byte(name), r, false)
		}
	}
	_, err := d.value()
	return err
}

// usageField decodes the value of key into u.
func (d *decoder) usageField(key []byte, u *core.Usage, exact bool) error {
	switch string(key) {
	case "input_tokens":
		return d.setInt64((*int64)(&u.InputTokens))
	case "output_tokens":
		return d.setInt64((*int64)(&u.OutputTokens))
	case "cache_read_tokens":
		return d.setInt64((*int64)(&u.CacheReadTokens))
	case "cache_write_5m_tokens":
		return d.setInt64((*int64)(&u.CacheWrite5mTokens))
	case "cache_write_1h_tokens":
		return d.setInt64((*int64)(&u.CacheWrite1hTokens))
	case "reasoning_tokens":
		return d.setInt64((*int64)(&u.ReasoningTokens))
	case "web_search_requests":
		return d.setInt64(&u.WebSearchRequests)
	case "batch":
		return d.setBool(&u.Batch)
	}
	if exact {
		if name := foldedUsageKey(key); name != "" {
			return d.usageField([]byte(name), u, false)
		}
	}
	_, err := d.value()
	return err
}

// foldedRecordKey returns the record key that key matches case-insensitively, or "".
func foldedRecordKey(key []byte) string {
	switch string(foldName(key)) {
	case "V":
		return "v"
	case "TYPE":
		return "type"
	case "TS":
		return "ts"
	case "SESSION":
		return "session"
	case "PROVIDER":
		return "provider"
	case "API":
		return "api"
	case "MODEL":
		return "model"
	case "PRICE_MODEL":
		return "price_model"
	case "STREAM":
		return "stream"
	case "STATUS":
		return "status"
	case "OUTCOME":
		return "outcome"
	case "USAGE":
		return "usage"
	case "COST_USD":
		return "cost_usd"
	case "RESERVED_USD":
		return "reserved_usd"
	case "MAX_TOKENS_REQUESTED":
		return "max_tokens_requested"
	case "MAX_TOKENS_GRANTED":
		return "max_tokens_granted"
	case "ESTIMATED":
		return "estimated"
	case "LATENCY_MS":
		return "latency_ms"
	case "TTFB_MS":
		return "ttfb_ms"
	case "REQUEST_ID":
		return "request_id"
	case "CLIENT":
		return "client"
	case "REFUSAL":
		return "refusal"
	case "BUDGET_KEY":
		return "budget_key"
	case "ERROR":
		return "error"
	case "FALLBACK":
		return "fallback"
	case "VIOLATION_USD":
		return "violation_usd"
	case "EVENT":
		return "event"
	case "SESSION_USD":
		return "session_usd"
	case "PER_CALL_USD":
		return "per_call_usd"
	case "SPENT_USD":
		return "spent_usd"
	case "CALLS":
		return "calls"
	case "REFUSED":
		return "refused"
	case "COMMAND":
		return "command"
	case "ARGS":
		return "args"
	}
	return ""
}

// foldedUsageKey returns the usage key that key matches case-insensitively, or "".
func foldedUsageKey(key []byte) string {
	switch string(foldName(key)) {
	case "INPUT_TOKENS":
		return "input_tokens"
	case "OUTPUT_TOKENS":
		return "output_tokens"
	case "CACHE_READ_TOKENS":
		return "cache_read_tokens"
	case "CACHE_WRITE_5M_TOKENS":
		return "cache_write_5m_tokens"
	case "CACHE_WRITE_1H_TOKENS":
		return "cache_write_1h_tokens"
	case "REASONING_TOKENS":
		return "reasoning_tokens"
	case "WEB_SEARCH_REQUESTS":
		return "web_search_requests"
	case "BATCH":
		return "batch"
	}
	return ""
}

// foldName maps a key to its case-folded form the way encoding/json does: ASCII
// letters to upper case, other runes to the smallest rune of their fold set.
func foldName(in []byte) []byte {
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); {
		if c := in[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(in[i:])
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		out = utf8.AppendRune(out, r)
		i += n
	}
	return out
}

// setString stores a string value; null and other types leave *p as it was.
// intern keeps the string for reuse by later lines.
func (d *decoder) setString(p *string, intern bool) error {
	if d.off >= len(d.data) || d.data[d.off] != '"' {
		_, err := d.value()
		return err
	}
	tok, plain, err := d.str()
	if err != nil {
		return err
	}
	switch {
	case !plain:
		*p = unquote(tok)
	case intern:
		*p = d.intern(tok[1 : len(tok)-1])
	default:
		*p = string(tok[1 : len(tok)-1])
	}
	return nil
}

func (d *decoder) intern(b []byte) string {
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.strs != nil && len(b) <= maxInternLen && len(d.strs) < maxInterned {
		d.strs[s] = s
	}
	return s
}

// setInt64 stores an integer value; null, other types, fractions, exponents and
// out-of-range numbers leave *p as it was.
func (d *decoder) setInt64(p *int64) error {
	tok, err := d.value()
	if err != nil {
		return err
	}
	if n, ok := parseInt(tok); ok {
		*p = n
	}
	return nil
}

func (d *decoder) setInt(p *int) error {
	tok, err := d.value()
	if err != nil {
		return err
	}
	if n, ok := parseInt(tok); ok && int64(int(n)) == n {
		*p = int(n)
	}
	return nil
}

// setBool stores true or false; null and other types leave *p as it was.
func (d *decoder) setBool(p *bool) error {
	tok, err := d.value()
	if err != nil {
		return err
	}
	switch string(tok) {
	case "true":
		*p = true
	case "false":
		*p = false
	}
	return nil
}

// setMoney stores a dollar amount. Plain decimals are converted here; anything else
// goes through core.Money's UnmarshalJSON, whose error makes the line invalid.
func (d *decoder) setMoney(p *core.Money) error {
	tok, err := d.value()
	if err != nil {
		return err
	}
	if m, ok := parseMoney(tok); ok {
		*p = m
		return nil
	}
	return p.UnmarshalJSON(tok)
}

// parseInt parses a JSON number token that is a whole number fitting an int64.
func parseInt(tok []byte) (int64, bool) {
	if len(tok) == 0 {
		return 0, false
	}
	neg := tok[0] == '-'
	if neg {
		tok = tok[1:]
	}
	if len(tok) == 0 {
		return 0, false
	}
	var u uint64
	for _, c := range tok {
		if c < '0' || c > '9' {
			return 0, false
		}
		if u > (1<<63)/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case neg && u == 1<<63:
		return math.MinInt64, true
	case u < 1<<63 && neg:
		return -int64(u), true
	case u < 1<<63:
		return int64(u), true
	}
	return 0, false
}

// parseMoney converts a plain decimal token with at most nine digits on each side of
// the point; ok is false for every other form.
func parseMoney(tok []byte) (core.Money, bool) {
	var whole, frac int64
	i := 0
	for ; i < len(tok) && tok[i] >= '0' && tok[i] <= '9'; i++ {
		whole = whole*10 + int64(tok[i]-'0')
	}
	if i == 0 || i > 9 {
		return 0, false
	}
	if i == len(tok) {
		return core.Money(whole * 1e9), true
	}
	if tok[i] != '.' {
		return 0, false
	}
	digits := tok[i+1:]
	if len(digits) == 0 || len(digits) > 9 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		frac = frac*10 + int64(c-'0')
	}
	for range 9 - len(digits) {
		frac *= 10
	}
	return core.Money(whole*1e9 + frac), true
}

// unquote decodes a JSON string token with escapes or non-ASCII bytes exactly as
// encoding/json does (invalid UTF-8 becomes U+FFFD).
func unquote(tok []byte) string {
	var s string
	_ = json.Unmarshal(tok, &s) // tok was validated by str
	return s
}

// value scans any JSON value at d.off and returns its bytes.
func (d *decoder) value() ([]byte, error) {
	start := d.off
	if d.off >= len(d.data) {
		return nil, d.syntax("want a value")
	}
	var err error
	switch c := d.data[d.off]; {
	case c == '"':
		_, _, err = d.str()
	case c == '{':
		err = d.skipObject()
	case c == '[':
		err = d.skipArray()
	case c == 't':
		err = d.literal("true")
	case c == 'f':
		err = d.literal("false")
	case c == 'n':
		err = d.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		err = d.number()
	default:
		err = d.syntax("want a value")
	}
	return d.data[start:d.off], err
}

func (d *decoder) literal(lit string) error {
	if len(d.data)-d.off < len(lit) || string(d.data[d.off:d.off+len(lit)]) != lit {
		return d.syntax("bad literal")
	}
	d.off += len(lit)
	return nil
}

// number scans a JSON number.
func (d *decoder) number() error {
	b, i := d.data, d.off
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i)
	default:
		d.off = i
		return d.syntax("bad number")
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			d.off = j
			return d.syntax("bad number")
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			d.off = j
			return d.syntax("bad number")
		}
		i = j
	}
	d.off = i
	return nil
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// str scans a JSON string and returns it with its quotes. plain reports a string
// without escapes and with valid UTF-8, whose contents are its value.
func (d *decoder) str() (tok []byte, plain bool, err error) {
	b, start := d.data, d.off
	i := start + 1
	esc, ascii := false, true
	for {
		for i < len(b) && b[i] >= 0x20 && b[i] != '"' && b[i] != '\\' && b[i] < utf8.RuneSelf {
			i++
		}
		if i >= len(b) {
			d.off = i
			return nil, false, d.syntax("unterminated string")
		}
		c := b[i]
		switch {
		case c == '"':
			d.off = i + 1
			tok = b[start:d.off]
			plain = !esc && (ascii || utf8.Valid(tok))
			return tok, plain, nil
		case c == '\\':
			n, ok := escapeLen(b[i:])
			if !ok {
				d.off = i
				return nil, false, d.syntax("bad escape")
			}
			esc = true
			i += n
		case c < 0x20:
			d.off = i
			return nil, false, d.syntax("control character in string")
		default:
			if c >= utf8.RuneSelf {
				ascii = false
			}
			i++
		}
	}
}

// escapeLen returns the length of the escape sequence at the start of b.
func escapeLen(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, true
	case 'u':
		if len(b) < 6 {
			return 0, false
		}
		for _, c := range b[2:6] {
			if !isHex(c) {
				return 0, false
			}
		}
		return 6, true
	}
	return 0, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// skipObject scans an object whose values are not kept.
func (d *decoder) skipObject() error {
	return d.composite('}', func() error {
		if _, err := d.key(); err != nil {
			return err
		}
		_, err := d.value()
		return err
	})
}

// skipArray scans an array whose elements are not kept.
func (d *decoder) skipArray() error {
	return d.composite(']', func() error {
		_, err := d.value()
		return err
	})
}
