package journal

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/costplan/costplan/core"
)

// appendJSON appends the record as one line of JSON (without the newline) to dst.
func (r *Record) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, int64(r.V), 10)
	dst = appendStringField(dst, "type", r.Type)
	dst = append(dst, `,"ts":"`...)
	dst = r.TS.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	dst = appendStringField(dst, "session", r.Session)
	if r.Type == TypeCall {
		dst = r.appendCall(dst)
	} else {
		dst = r.appendOptionalCall(dst)
	}
	dst = r.appendSession(dst)
	return append(dst, '}')
}

// appendCall appends the call keys, each present, then the optional ones.
func (r *Record) appendCall(dst []byte) []byte {
	dst = appendStringField(dst, "provider", r.Provider)
	dst = appendStringField(dst, "api", r.API)
	dst = appendStringField(dst, "model", r.Model)
	dst = appendStringField(dst, "price_model", r.PriceModel)
	dst = appendBoolField(dst, "stream", r.Stream)
	dst = appendIntField(dst, "status", int64(r.Status))
	dst = appendStringField(dst, "outcome", r.Outcome)
	dst = append(dst, `,"usage":`...)
	dst = appendUsage(dst, r.Usage)
	dst = appendMoneyField(dst, "cost_usd", r.Cost)
	dst = appendMoneyField(dst, "reserved_usd", r.Reserved)
	dst = appendIntField(dst, "max_tokens_requested", int64(r.MaxTokensRequested))
	dst = appendIntField(dst, "max_tokens_granted", int64(r.MaxTokensGranted))
	dst = appendBoolField(dst, "estimated", r.Estimated)
	dst = appendIntField(dst, "latency_ms", r.LatencyMS)
	dst = appendIntField(dst, "ttfb_ms", r.TTFBMS)
	dst = appendStringField(dst, "request_id", r.RequestID)
	dst = appendStringField(dst, "client", r.Client)
	return r.appendCallExtras(dst)
}

// appendCallExtras appends the call keys that appear only when set.
func (r *Record) appendCallExtras(dst []byte) []byte {
	if r.Refusal != "" {
		dst = appendStringField(dst, "refusal", r.Refusal)
	}
	if r.BudgetKey != "" {
		dst = appendStringField(dst, "budget_key", r.BudgetKey)
	}
	if r.Error != "" {
		dst = appendStringField(dst, "error", truncateUTF8(r.Error, MaxErrorLen))
	}
	if r.Fallback {
		dst = appendBoolField(dst, "fallback", true)
	}
	if r.Violation != 0 {
		dst = appendMoneyField(dst, "violation_usd", r.Violation)
	}
	return dst
}

// appendOptionalCall appends the call keys that are set, for records that are not
// calls (a session record normally has none).
func (r *Record) appendOptionalCall(dst []byte) []byte {
	strs := []struct{ key, val string }{
		{"provider", r.Provider}, {"api", r.API}, {"model", r.Model},
		{"price_model", r.PriceModel},
	}
	for _, s := range strs {
		if s.val != "" {
			dst = appendStringField(dst, s.key, s.val)
		}
	}
	if r.Stream {
		dst = appendBoolField(dst, "stream", true)
	}
	if r.Status != 0 {
		dst = appendIntField(dst, "status", int64(r.Status))
	}
	if r.Outcome != "" {
		dst = appendStringField(dst, "outcome", r.Outcome)
	}
	if r.Usage != (core.Usage{}) {
		dst = append(dst, `,"usage":`...)
		dst = appendUsage(dst, r.Usage)
	}
	return r.appendOptionalCallFigures(dst)
}

// appendOptionalCallFigures continues appendOptionalCall with the numeric keys.
func (r *Record) appendOptionalCallFigures(dst []byte) []byte {
	moneys := []struct {
		key string
		val core.Money
	}{{"cost_usd", r.Cost}, {"reserved_usd", r.Reserved}}
	for _, m := range moneys {
		if m.val != 0 {
			dst = appendMoneyField(dst, m.key, m.val)
		}
	}
	ints := []struct {
		key string
		val int64
	}{
		{"max_tokens_requested", int64(r.MaxTokensRequested)},
		{"max_tokens_granted", int64(r.MaxTokensGranted)},
	}
	for _, n := range ints {
		if n.val != 0 {
			dst = appendIntField(dst, n.key, n.val)
		}
	}
	if r.Estimated {
		dst = appendBoolField(dst, "estimated", true)
	}
	ints = []struct {
		key string
		val int64
	}{{"latency_ms", r.LatencyMS}, {"ttfb_ms", r.TTFBMS}}
	for _, n := range ints {
		if n.val != 0 {
			dst = appendIntField(dst, n.key, n.val)
		}
	}
	for _, s := range []struct{ key, val string }{{"request_id", r.RequestID}, {"client", r.Client}} {
		if s.val != "" {
			dst = appendStringField(dst, s.key, s.val)
		}
	}
	return r.appendCallExtras(dst)
}

// appendSession appends the session keys that are set.
func (r *Record) appendSession(dst []byte) []byte {
	if r.Event != "" {
		dst = appendStringField(dst, "event", r.Event)
	}
	moneys := []struct {
		key string
		val core.Money
	}{{"session_usd", r.SessionCap}, {"per_call_usd", r.PerCallCap}, {"spent_usd", r.Spent}}
	for _, m := range moneys {
		if m.val != 0 {
			dst = appendMoneyField(dst, m.key, m.val)
		}
	}
	if r.Calls != 0 {
		dst = appendIntField(dst, "calls", r.Calls)
	}
	if r.Refused != 0 {
		dst = appendIntField(dst, "refused", r.Refused)
	}
	if r.Command != "" {
		dst = appendStringField(dst, "command", r.Command)
	}
	if r.Args != 0 {
		dst = appendIntField(dst, "args", int64(r.Args))
	}
	return dst
}

// appendUsage appends u as a JSON object with core.Usage's keys.
func appendUsage(dst []byte, u core.Usage) []byte {
	dst = append(dst, `{"input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.InputTokens), 10)
	dst = appendIntField(dst, "output_tokens", int64(u.OutputTokens))
	dst = appendIntField(dst, "cache_read_tokens", int64(u.CacheReadTokens))
	dst = appendIntField(dst, "cache_write_5m_tokens", int64(u.CacheWrite5mTokens))
	dst = appendIntField(dst, "cache_write_1h_tokens", int64(u.CacheWrite1hTokens))
	dst = appendIntField(dst, "reasoning_tokens", int64(u.ReasoningTokens))
	if u.WebSearchRequests != 0 {
		dst = appendIntField(dst, "web_search_requests", u.WebSearchRequests)
	}
	if u.Batch {
		dst = appendBoolField(dst, "batch", true)
	}
	return append(dst, '}')
}

func appendKey(dst []byte, key string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

func appendStringField(dst []byte, key, val string) []byte {
	return appendString(appendKey(dst, key), val)
}

func appendIntField(dst []byte, key string, val int64) []byte {
	return strconv.AppendInt(appendKey(dst, key), val, 10)
}

func appendBoolField(dst []byte, key string, val bool) []byte {
	return strconv.AppendBool(appendKey(dst, key), val)
}

func appendMoneyField(dst []byte, key string, val core.Money) []byte {
	return append(appendKey(dst, key), val.Decimal()...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD; control
// characters, U+2028 and U+2029 are escaped so that the line stays one line.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
