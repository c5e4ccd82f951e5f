package costplan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/internal/sse"
	"github.com/costplan/costplan/proxy"
)

// Message is one turn of a conversation: Role is "user" or "assistant" (and
// "system" for OpenAI).
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Response is the answer to one call.
type Response struct {
	// Text is the answer's text.
	Text string
	// Model is the model that answered (as the provider names it).
	Model string
	// StopReason is why generation stopped (Anthropic stop_reason, OpenAI
	// finish_reason).
	StopReason string
	// Usage is what the call consumed.
	Usage Usage
	// Cost is what it cost.
	Cost Money
	// Predicted is the worst case reserved before the call: the input bound plus
	// the granted output tokens at the output price.
	Predicted Money
	// PredictedInputTokens is the input estimate behind Predicted.
	PredictedInputTokens int64
	// MaxTokens is the output limit the call was sent with (after the clamp).
	MaxTokens int64
	// Estimated is true when part of the usage was estimated (a broken stream).
	Estimated bool
}

// Generate sends prompt as a single user message.
func (c *Client) Generate(ctx context.Context, prompt string) (*Response, error) {
	return c.GenerateMessages(ctx, []Message{{Role: "user", Content: prompt}})
}

// GenerateMessages sends a conversation and returns the answer. A refusal by the
// budget is a *BudgetExceededError (errors.Is ErrBudgetExceeded) and nothing is
// sent. When the call cost more than was reserved, the response comes with a
// *BudgetViolationError.
func (c *Client) GenerateMessages(ctx context.Context, messages []Message) (*Response, error) {
	rep := new(proxy.CallReport)
	resp, err := c.send(proxy.WithCallReport(ctx, rep), messages, false)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("costplan: read the response: %w", err)
	}
	out := &Response{}
	j := gjson.ParseBytes(body)
	if c.cfg.Provider == Anthropic {
		var text bytes.Buffer
		j.Get("content").ForEach(func(_, b gjson.Result) bool {
			if b.Get("type").Str == "text" {
				text.WriteString(b.Get("text").Str)
			}
			return true
		})
		out.Text, out.StopReason = text.String(), j.Get("stop_reason").Str
	} else {
		out.Text, out.StopReason = j.Get("choices.0.message.content").Str, j.Get("choices.0.finish_reason").Str
	}
	out.Model = j.Get("model").Str
	return c.finish(out, rep)
}

// GenerateStream sends a conversation with streaming on and returns an iterator of
// text deltas, and a function that returns the final Response once the iterator is
// done (or abandoned: the call then settles with what was received). Errors,
// refusals included, arrive through the iterator.
func (c *Client) GenerateStream(ctx context.Context, messages []Message) (iter.Seq2[string, error], func() (*Response, error)) {
	rep := new(proxy.CallReport)
	out := &Response{}
	var final error
	seq := func(yield func(string, error) bool) {
		resp, err := c.send(proxy.WithCallReport(ctx, rep), messages, true)
		if err != nil {
			final = err
			yield("", err)
			return
		}
		defer resp.Body.Close()
		var split sse.Splitter
		var pending []string
		var text bytes.Buffer
		var failed error // an error event in the stream
		defer func() { out.Text = text.String() }()
		buf := make([]byte, 16<<10)
		for {
			n, rerr := resp.Body.Read(buf)
			split.Push(buf[:n], func(ev *sse.Event) {
				if failed != nil {
					return
				}
				if failed = c.streamError(ev, resp.StatusCode); failed != nil {
					return
				}
				if t := c.delta(ev, out); t != "" {
					text.WriteString(t)
					pending = append(pending, t)
				}
			})
			for _, t := range pending {
				if !yield(t, nil) {
					return
				}
			}
			pending = pending[:0]
			if failed != nil {
				final = failed
				yield("", final)
				return
			}
			if rerr == io.EOF {
				return
			}
			if rerr != nil {
				final = fmt.Errorf("costplan: stream: %w", rerr)
				yield("", final)
				return
			}
		}
	}
	result := func() (*Response, error) {
		if final != nil {
			return nil, final
		}
		if !rep.Settled {
			return nil, errors.New("costplan: the stream has not been read to its end")
		}
		return c.finish(out, rep)
	}
	return seq, result
}

// streamError returns the error that an event reports after the stream began (the
// provider's error object: Anthropic's error event, an OpenAI chunk with "error"), or
// nil.
func (c *Client) streamError(ev *sse.Event, status int) error {
	e := gjson.GetBytes(ev.Data, "error")
	if !e.IsObject() {
		return nil
	}
	return &APIError{Provider: c.cfg.Provider, StatusCode: status, Type: e.Get("type").Str, Message: e.Get("message").Str}
}

// delta reads one stream event: it returns its text and records the model and the
// stop reason in out.
func (c *Client) delta(ev *sse.Event, out *Response) string {
	if c.cfg.Provider == Anthropic {
		j := gjson.ParseBytes(ev.Data)
		switch j.Get("type").Str {
		case "content_block_delta":
			return j.Get("delta.text").Str
		case "message_start":
			out.Model = j.Get("message.model").Str
		case "message_delta":
			if s := j.Get("delta.stop_reason").Str; s != "" {
				out.StopReason = s
			}
		}
		return ""
	}
	if bytes.Equal(ev.Data, []byte("[DONE]")) || len(ev.Data) == 0 {
		return ""
	}
	j := gjson.ParseBytes(ev.Data)
	if m := j.Get("model").Str; m != "" {
		out.Model = m
	}
	if s := j.Get("choices.0.finish_reason").Str; s != "" {
		out.StopReason = s
	}
	return j.Get("choices.0.delta.content").Str
}

// finish fills the figures from the call report.
func (c *Client) finish(out *Response, rep *proxy.CallReport) (*Response, error) {
	out.Usage, out.Cost, out.Estimated = rep.Usage, rep.Cost, rep.Estimated
	out.Predicted, out.PredictedInputTokens, out.MaxTokens = rep.Reserved, int64(rep.InputEstimate), int64(rep.Granted)
	if rep.Violation > 0 {
		return out, &BudgetViolationError{Reserved: rep.Reserved, Actual: rep.Cost}
	}
	return out, nil
}

// send builds and sends the provider request; non-2xx answers become errors.
func (c *Client) send(ctx context.Context, messages []Message, stream bool) (*http.Response, error) {
	body, url := c.requestBody(messages, stream)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("costplan: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.cfg.Provider == Anthropic {
		req.Header.Set("X-Api-Key", c.key)
		req.Header.Set("Anthropic-Version", "2023-06-01")
	} else {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("costplan: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if rep := proxy.CallReportFrom(ctx); rep != nil && rep.Refusal != nil {
		be := rep.Refusal
		// The Meter's message starts with "costplan: ", which Error adds again.
		return nil, &BudgetExceededError{Limit: string(be.Limit), Spent: be.Spent, Cap: be.Cap, Predicted: be.Needed,
			Message: strings.TrimPrefix(gjson.GetBytes(data, "error.message").Str, "costplan: ")}
	}
	ae := &APIError{Provider: c.cfg.Provider, StatusCode: resp.StatusCode, Message: gjson.GetBytes(data, "error.message").Str,
		Type: gjson.GetBytes(data, "error.type").Str, RequestID: firstNonEmpty(resp.Header.Get("Request-Id"), resp.Header.Get("X-Request-Id"))}
	if gjson.GetBytes(data, "error.code").Str == "costplan_unknown_model" {
		return nil, fmt.Errorf("costplan: %s: %w", ae.Message, core.ErrUnknownModel)
	}
	if ae.Message == "" {
		ae.Message = string(data)
	}
	return nil, ae
}

// requestBody builds the provider's JSON request.
func (c *Client) requestBody(messages []Message, stream bool) ([]byte, string) {
	req := map[string]any{"model": c.cfg.Model}
	if c.cfg.Temperature != nil {
		req["temperature"] = *c.cfg.Temperature
	}
	if stream {
		req["stream"] = true
	}
	if c.cfg.Provider == Anthropic {
		maxTokens := c.cfg.MaxTokens
		if maxTokens == 0 {
			maxTokens = int64(c.model.MaxOutput)
		}
		if maxTokens > 0 { // else the model's limit is unknown: the meter inserts its grant
			req["max_tokens"] = maxTokens
		}
		if c.cfg.System != "" {
			req["system"] = c.cfg.System
		}
		req["messages"] = messages
		body, _ := json.Marshal(req)
		return body, c.base + "/v1/messages"
	}
	if c.cfg.MaxTokens > 0 {
		req["max_completion_tokens"] = c.cfg.MaxTokens
	}
	msgs := messages
	if c.cfg.System != "" {
		msgs = append([]Message{{Role: "system", Content: c.cfg.System}}, messages...)
	}
	req["messages"] = msgs
	body, _ := json.Marshal(req)
	return body, c.base + "/chat/completions"
}
