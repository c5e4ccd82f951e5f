package proxy

import (
	"net/http"
	"strconv"

	"github.com/tidwall/gjson"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/internal/sse"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/pricing"
)

// anthropicMessages is the adapter for POST /v1/messages.
type anthropicMessages struct{}

var anthropicWatched = map[string]bool{"model": true, "stream": true, "max_tokens": true, "thinking": true,
	"messages": true, "system": true, "tools": true}

func (anthropicMessages) provider() string { return journal.ProviderAnthropic }
func (anthropicMessages) api() string      { return journal.APIMessages }

var anthropicSplit = map[string]bool{"messages": true}

func (anthropicMessages) inspect(body []byte) (*request, error) {
	r := &request{insertField: "max_tokens", thinkingAt: -1, choices: 1}
	sc, err := topLevel(body, anthropicWatched, anthropicSplit, func(key string, v gjson.Result, m member) (err error) {
		switch key {
		case "model":
			r.model, err = modelValue(v)
		case "stream":
			r.stream, err = boolValue(key, v)
		case "max_tokens":
			err = r.addLimit(key, v)
		case "thinking":
			if v.Get("type").Str == "enabled" {
				b := v.Get("budget_tokens")
				if r.thinkingBudget, err = tokensValue("thinking.budget_tokens", b); err == nil {
					r.thinkingAt, r.thinkingN = b.Index, len(b.Raw) // Result.Get offsets are absolute
				}
			}
		case "system":
			r.prompt.System = m.raw
		case "tools":
			r.prompt.Tools = m.raw
		case "messages":
			r.prompt.Messages, err = m.array()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if r.model == "" {
		return nil, badRequest("the request names no model")
	}
	if sc.cacheControl {
		r.inputKind = pricing.InputCacheWrite5m
		if sc.ttl1h {
			r.inputKind = pricing.InputCacheWrite1h
		}
	}
	return r, nil
}

func (anthropicMessages) rewrite(body []byte, r *request, grant core.Tokens) ([]byte, error) {
	edits := r.limitEdits(body, grant)
	if r.thinkingAt >= 0 && r.thinkingBudget >= grant {
		edits = append(edits, edit{r.thinkingAt, r.thinkingN, strconv.FormatInt(int64(grant-1), 10)})
	}
	return applyEdits(body, edits)
}

func (anthropicMessages) minOutput(r *request, floor core.Tokens) core.Tokens {
	if r.thinkingAt >= 0 {
		// budget_tokens must stay at least 1024 and below max_tokens.
		return max(floor, 1025)
	}
	return floor
}

func (anthropicMessages) usage(body []byte) (core.Usage, bool) {
	u := gjson.GetBytes(body, "usage")
	if !u.IsObject() {
		return core.Usage{}, false
	}
	var a anthropicUsage
	a.start(u)
	a.batch = gjson.GetBytes(body, "usage.service_tier").Str == "batch"
	return a.usage(), true
}

func (anthropicMessages) newTap(*request) tap { return &anthropicTap{} }

// errorBody writes Anthropic's error shape; the error type follows from the status
// as on Anthropic's errors page.
func (anthropicMessages) errorBody(status int, code, msg string) []byte {
	typ := "invalid_request_error"
	switch {
	case status == http.StatusNotFound:
		typ = "not_found_error"
	case status == http.StatusRequestEntityTooLarge:
		typ = "request_too_large"
	case status == http.StatusTooManyRequests:
		typ = "rate_limit_error"
	case status >= 500:
		typ = "api_error"
	}
	b := []byte(`{"type":"error","error":{"type":`)
	b = appendJSONString(b, typ)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, msg)
	if code != "" {
		b = append(b, `,"code":`...)
		b = appendJSONString(b, code)
	}
	return append(b, "}}"...)
}

// anthropicUsage merges Anthropic usage by the replace-not-add rule: message_start
// gives a full usage; each message_delta replaces the fields it carries (non-null).
type anthropicUsage struct {
	input, output, cacheRead, cacheCreate core.Tokens
	split5m, split1h                      core.Tokens
	hasSplit                              bool
	webSearch                             int64
	batch                                 bool
}

func (a *anthropicUsage) start(u gjson.Result) {
	a.input = reportedTokens(u.Get("input_tokens"))
	a.output = reportedTokens(u.Get("output_tokens"))
	a.cacheRead = reportedTokens(u.Get("cache_read_input_tokens"))
	a.cacheCreate = reportedTokens(u.Get("cache_creation_input_tokens"))
	if cc := u.Get("cache_creation"); cc.IsObject() {
		a.hasSplit = true
		a.split5m = reportedTokens(cc.Get("ephemeral_5m_input_tokens"))
		a.split1h = reportedTokens(cc.Get("ephemeral_1h_input_tokens"))
	}
	a.webSearch = int64(reportedTokens(u.Get("server_tool_use.web_search_requests")))
	a.batch = a.batch || u.Get("service_tier").Str == "batch"
}

// delta applies a message_delta usage.
func (a *anthropicUsage) delta(u gjson.Result) {
	set := func(dst *core.Tokens, key string) {
		if v := u.Get(key); v.Type == gjson.Number {
			*dst = reportedTokens(v)
		}
	}
	set(&a.output, "output_tokens")
	set(&a.input, "input_tokens")
	set(&a.cacheRead, "cache_read_input_tokens")
	set(&a.cacheCreate, "cache_creation_input_tokens")
	if v := u.Get("server_tool_use.web_search_requests"); v.Type == gjson.Number {
		a.webSearch = int64(reportedTokens(v))
	}
}

// usage returns the merged usage. Cache writes are split by TTL as message_start
// said, scaled when the final total differs; without a split all writes are 5m.
func (a *anthropicUsage) usage() core.Usage {
	u := core.Usage{InputTokens: a.input, OutputTokens: a.output, CacheReadTokens: a.cacheRead,
		WebSearchRequests: a.webSearch, Batch: a.batch}
	switch split := a.split5m + a.split1h; {
	case !a.hasSplit || split == 0:
		u.CacheWrite5mTokens = a.cacheCreate
	case split == a.cacheCreate:
		u.CacheWrite5mTokens, u.CacheWrite1hTokens = a.split5m, a.split1h
	default:
		h := core.Tokens(core.MulDivFloor(int64(a.cacheCreate), int64(a.split1h), int64(split)))
		u.CacheWrite1hTokens, u.CacheWrite5mTokens = h, a.cacheCreate-h
	}
	return u
}

// anthropicTap reads usage from a Messages stream.
type anthropicTap struct {
	u         anthropicUsage
	started   bool
	stopped   bool
	errored   bool
	generated outputText
	// final is set by a message_delta carrying output_tokens, the real usage.
	final bool
}

func (t *anthropicTap) event(ev *sse.Event) []byte {
	name := string(ev.Name)
	if name == "" {
		name = gjson.GetBytes(ev.Data, "type").Str
	}
	switch name {
	case "message_start":
		t.started = true
		t.u.start(gjson.GetBytes(ev.Data, "message.usage"))
	case "message_delta":
		u := gjson.GetBytes(ev.Data, "usage")
		t.u.delta(u)
		t.final = t.final || u.Get("output_tokens").Type == gjson.Number
	case "content_block_delta":
		d := gjson.GetBytes(ev.Data, "delta")
		for _, k := range [...]string{"text", "thinking", "partial_json"} {
			if v := d.Get(k); v.Exists() {
				t.generated.add(v.Str)
				break
			}
		}
	case "message_stop":
		t.stopped = true
	case "error":
		t.errored = true
	}
	return ev.Raw
}

func (t *anthropicTap) result() (core.Usage, bool) {
	return t.u.usage(), t.started && t.final && t.stopped && !t.errored
}

func (t *anthropicTap) output() *outputText { return &t.generated }
func (t *anthropicTap) failed() bool        { return t.errored }

// modelValue reads the model name.
func modelValue(v gjson.Result) (string, error) {
	if v.Type != gjson.String || v.Str == "" {
		return "", badRequest("model must be a non-empty string, got %s", v.Raw)
	}
	return v.Str, nil
}

func boolValue(key string, v gjson.Result) (bool, error) {
	switch v.Type {
	case gjson.True:
		return true, nil
	case gjson.False, gjson.Null:
		return false, nil
	}
	return false, badRequest("%s must be true or false, got %s", key, v.Raw)
}
