package proxy

import (
	"bytes"
	"net/http"
	"regexp"

	"github.com/tidwall/gjson"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/internal/sse"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/pricing"
)

// reasoningModel matches OpenAI models that take max_completion_tokens only.
var reasoningModel = regexp.MustCompile(`^(?:openai/)?(?:o\d|gpt-5|gpt-6|codex)`)

// openaiErrorBody is the OpenAI error shape; the error type follows from the status
// (a budget refusal is insufficient_quota, which clients do not retry).
func openaiErrorBody(status int, code, msg string) []byte {
	typ := "invalid_request_error"
	switch {
	case status == http.StatusTooManyRequests:
		typ = "insufficient_quota"
	case status >= 500:
		typ = "server_error"
	}
	b := []byte(`{"error":{"message":`)
	b = appendJSONString(b, msg)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, typ)
	b = append(b, `,"param":null,"code":`...)
	if code == "" {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, code)
	}
	return append(b, "}}"...)
}

// openaiUsage converts an OpenAI usage object. Cached and cache-write tokens are
// subsets of the prompt; reasoning tokens a subset of the completion.
func openaiUsage(u gjson.Result, prompt, completion, promptDetails, completionDetails string) core.Usage {
	in := reportedTokens(u.Get(prompt))
	cached := reportedTokens(u.Get(promptDetails + ".cached_tokens"))
	written := reportedTokens(u.Get(promptDetails + ".cache_write_tokens"))
	return core.Usage{
		InputTokens:        max(in-cached-written, 0),
		CacheReadTokens:    cached,
		CacheWrite5mTokens: written,
		OutputTokens:       reportedTokens(u.Get(completion)),
		ReasoningTokens:    reportedTokens(u.Get(completionDetails + ".reasoning_tokens")),
	}
}

func chatUsage(u gjson.Result) core.Usage {
	return openaiUsage(u, "prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details")
}

func responsesUsage(u gjson.Result) core.Usage {
	return openaiUsage(u, "input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details")
}

// openaiInputKind is the worst input rate: OpenAI caches automatically, so a model
// that prices cache writes above input may write any request.
func openaiInputKind() pricing.InputKind { return pricing.InputCacheWrite5m }

// openaiChat is the adapter for POST /v1/chat/completions.
type openaiChat struct{}

var chatWatched = map[string]bool{"model": true, "stream": true, "max_tokens": true, "max_completion_tokens": true,
	"n": true, "stream_options": true, "messages": true, "tools": true, "functions": true}

func (openaiChat) provider() string { return journal.ProviderOpenAI }
func (openaiChat) api() string      { return journal.APIChat }

var chatSplit = map[string]bool{"messages": true}

func (openaiChat) inspect(body []byte) (*request, error) {
	r := &request{choices: 1, thinkingAt: -1, inputKind: openaiInputKind()}
	var streamOpts gjson.Result
	_, err := topLevel(body, chatWatched, chatSplit, func(key string, v gjson.Result, m member) (err error) {
		switch key {
		case "model":
			r.model, err = modelValue(v)
		case "stream":
			r.stream, err = boolValue(key, v)
		case "max_tokens", "max_completion_tokens":
			if v.Type != gjson.Null {
				err = r.addLimit(key, v)
			} else {
				r.addNullLimit(key, v)
			}
		case "n":
			if v.Type != gjson.Null {
				var n core.Tokens
				if n, err = tokensValue(key, v); err == nil {
					if n < 1 || n > 128 {
						return badRequest("n must be between 1 and 128, got %d", n)
					}
					r.choices = int(n)
				}
			}
		case "stream_options":
			streamOpts = v
		case "tools", "functions":
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
	r.insertField = "max_tokens"
	if reasoningModel.MatchString(r.model) {
		r.insertField = "max_completion_tokens"
	}
	if err := streamOptions(r, streamOpts); err != nil {
		return nil, err
	}
	return r, nil
}

// streamOptions reads stream_options. A null is kept to be replaced; anything but an
// object, or an object with two include_usage keys (the upstream may read the other
// one), is refused.
func streamOptions(r *request, streamOpts gjson.Result) error {
	switch {
	case !streamOpts.Exists():
		return nil
	case streamOpts.Type == gjson.Null:
		r.streamOptNull = true
		r.streamOptAt, r.streamOptN = streamOpts.Index, len(streamOpts.Raw)
		return nil
	case !streamOpts.IsObject():
		return badRequest("stream_options must be an object, got %s", streamOpts.Raw)
	}
	var seen int
	streamOpts.ForEach(func(k, _ gjson.Result) bool {
		if k.Str == "include_usage" {
			seen++
		}
		return true
	})
	if seen > 1 {
		return badRequest("duplicate key %q in stream_options", "include_usage")
	}
	r.hasStreamOpt = true
	iu := streamOpts.Get("include_usage")
	r.includeUsage = iu.Type == gjson.True
	if !r.includeUsage {
		r.streamOptAt, r.streamOptN = streamOpts.Index, len(streamOpts.Raw)
		if iu.Exists() {
			r.includeAt, r.includeN = iu.Index, len(iu.Raw)
		}
	}
	return nil
}

func (openaiChat) rewrite(body []byte, r *request, grant core.Tokens) ([]byte, error) {
	edits := r.limitEdits(body, grant)
	if r.stream && !r.includeUsage {
		switch {
		case r.streamOptNull:
			edits = append(edits, edit{r.streamOptAt, r.streamOptN, `{"include_usage":true}`})
		case !r.hasStreamOpt:
			edits = append(edits, insertion(body, "stream_options", `{"include_usage":true}`))
		case r.includeAt > 0:
			edits = append(edits, edit{r.includeAt, r.includeN, "true"})
		default:
			obj := body[r.streamOptAt : r.streamOptAt+r.streamOptN]
			member := `"include_usage":true`
			if inner := trimLeftSpace(obj[1:]); len(inner) > 0 && inner[0] != '}' {
				member += ","
			}
			edits = append(edits, edit{at: r.streamOptAt + 1, val: member})
		}
	}
	return applyEdits(body, edits)
}

func (openaiChat) minOutput(_ *request, floor core.Tokens) core.Tokens { return floor }

func (openaiChat) usage(body []byte) (core.Usage, bool) {
	u := gjson.GetBytes(body, "usage")
	if !u.IsObject() {
		return core.Usage{}, false
	}
	return chatUsage(u), true
}

func (openaiChat) newTap(r *request) tap { return &chatTap{inject: !r.includeUsage} }

func (openaiChat) errorBody(status int, code, msg string) []byte {
	return openaiErrorBody(status, code, msg)
}

// chatTap reads the usage chunk of a Chat Completions stream. When CostPlan asked for
// it on the client's behalf, the chunk is withheld and the "usage":null members of the
// other chunks are removed, so the client sees the stream it asked for.
type chatTap struct {
	inject    bool
	errored   bool
	u         core.Usage
	gotUsage  bool
	done      bool
	generated outputText
	scratch   []byte
}

var usageNull = []byte(`,"usage":null`)

func (t *chatTap) event(ev *sse.Event) []byte {
	if bytes.Equal(ev.Data, []byte("[DONE]")) {
		t.done = true
		return ev.Raw
	}
	if len(ev.Data) == 0 {
		return ev.Raw
	}
	if gjson.GetBytes(ev.Data, "error").Exists() {
		t.errored = true
	}
	if u := gjson.GetBytes(ev.Data, "usage"); u.IsObject() {
		t.u, t.gotUsage = chatUsage(u), true
		if t.inject && len(gjson.GetBytes(ev.Data, "choices").Array()) == 0 {
			return nil
		}
	}
	gjson.GetBytes(ev.Data, "choices").ForEach(func(_, c gjson.Result) bool {
		d := c.Get("delta")
		t.generated.add(d.Get("content").Str)
		t.generated.add(d.Get("reasoning_content").Str)
		d.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
			t.generated.add(tc.Get("function.arguments").Str)
			return true
		})
		return true
	})
	if t.inject && bytes.Contains(ev.Raw, usageNull) {
		t.scratch = append(t.scratch[:0], ev.Raw...)
		t.scratch = bytes.ReplaceAll(t.scratch, usageNull, nil)
		return t.scratch
	}
	return ev.Raw
}

func (t *chatTap) result() (core.Usage, bool) { return t.u, t.gotUsage }
func (t *chatTap) output() *outputText        { return &t.generated }
func (t *chatTap) failed() bool               { return t.errored }

// openaiResponses is the adapter for POST /v1/responses.
type openaiResponses struct{}

var responsesWatched = map[string]bool{"model": true, "stream": true, "max_output_tokens": true, "input": true,
	"instructions": true, "tools": true, "previous_response_id": true, "conversation": true}

func (openaiResponses) provider() string { return journal.ProviderOpenAI }
func (openaiResponses) api() string      { return journal.APIResponses }

var responsesSplit = map[string]bool{"input": true}

func (openaiResponses) inspect(body []byte) (*request, error) {
	r := &request{choices: 1, thinkingAt: -1, insertField: "max_output_tokens", inputKind: openaiInputKind()}
	_, err := topLevel(body, responsesWatched, responsesSplit, func(key string, v gjson.Result, m member) (err error) {
		switch key {
		case "model":
			r.model, err = modelValue(v)
		case "stream":
			r.stream, err = boolValue(key, v)
		case "max_output_tokens":
			if v.Type != gjson.Null {
				err = r.addLimit(key, v)
			} else {
				r.addNullLimit(key, v)
			}
		case "instructions":
			r.prompt.System = m.raw
		case "tools":
			r.prompt.Tools = m.raw
		case "previous_response_id":
			if v.Type == gjson.String {
				r.previousResponse = v.Str
			}
		case "conversation":
			if v.Type != gjson.Null {
				r.statefulContext = true
			}
		case "input":
			if m.elems != nil {
				r.prompt.Messages = m.elems
			} else if v.Type == gjson.String {
				r.prompt.Messages = [][]byte{m.raw}
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if r.model == "" {
		return nil, badRequest("the request names no model")
	}
	return r, nil
}

func (openaiResponses) rewrite(body []byte, r *request, grant core.Tokens) ([]byte, error) {
	return applyEdits(body, r.limitEdits(body, grant))
}

func (openaiResponses) minOutput(_ *request, floor core.Tokens) core.Tokens { return floor }

func (openaiResponses) usage(body []byte) (core.Usage, bool) {
	u := gjson.GetBytes(body, "usage")
	if !u.IsObject() {
		return core.Usage{}, false
	}
	return responsesUsage(u), true
}

func (openaiResponses) newTap(*request) tap { return &responsesTap{} }

func (openaiResponses) errorBody(status int, code, msg string) []byte {
	return openaiErrorBody(status, code, msg)
}

// responsesTap reads usage from the terminal event of a Responses stream.
type responsesTap struct {
	errored   bool
	u         core.Usage
	final     bool
	id        string
	generated outputText
}

func (t *responsesTap) event(ev *sse.Event) []byte {
	name := string(ev.Name)
	if len(ev.Data) == 0 || bytes.Equal(ev.Data, []byte("[DONE]")) {
		return ev.Raw
	}
	if name == "" {
		name = gjson.GetBytes(ev.Data, "type").Str
	}
	switch name {
	case "error":
		t.errored = true
	case "response.completed", "response.incomplete", "response.failed":
		t.errored = t.errored || name == "response.failed"
		resp := gjson.GetBytes(ev.Data, "response")
		t.id = resp.Get("id").Str
		if u := resp.Get("usage"); u.IsObject() {
			t.u, t.final = responsesUsage(u), true
		}
	case "response.output_text.delta", "response.reasoning_text.delta", "response.reasoning_summary_text.delta",
		"response.function_call_arguments.delta", "response.refusal.delta":
		t.generated.add(gjson.GetBytes(ev.Data, "delta").Str)
	}
	return ev.Raw
}

func (t *responsesTap) result() (core.Usage, bool) { return t.u, t.final }
func (t *responsesTap) output() *outputText        { return &t.generated }
func (t *responsesTap) failed() bool               { return t.errored }
