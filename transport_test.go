package costplan_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aopt "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	oopt "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"

	"github.com/costplan/costplan"
	"github.com/costplan/costplan/journal"
)

// countingTransport counts the attempts an SDK makes.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// newTestTransport returns a Transport with cfg, closed at the end of the test, and
// an attempt counter in front of it.
func newTestTransport(t *testing.T, cfg costplan.Config) (*costplan.Transport, *countingTransport) {
	t.Helper()
	tr, err := costplan.NewTransport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, &countingTransport{next: tr}
}

func anthropicSDK(up *fakeUpstream, rt http.RoundTripper) anthropic.Client {
	return anthropic.NewClient(aopt.WithBaseURL(up.srv.URL), aopt.WithAPIKey("sk-ant-test"),
		aopt.WithHTTPClient(&http.Client{Transport: rt}))
}

func openaiSDK(up *fakeUpstream, rt http.RoundTripper) openai.Client {
	return openai.NewClient(oopt.WithBaseURL(up.srv.URL+"/v1"), oopt.WithAPIKey("sk-test"),
		oopt.WithHTTPClient(&http.Client{Transport: rt}))
}

func messageParams(maxTokens int64) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model: anthropicModel, MaxTokens: maxTokens,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(testPrompt))},
	}
}

func chatParams() openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    openaiModel,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(testPrompt)},
	}
}

func responsesParams() responses.ResponseNewParams {
	return responses.ResponseNewParams{
		Model: openaiModel,
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(testPrompt)},
	}
}

// checkJournal checks that every call record of the journal at path is a complete,
// exact, successful call of cost.
func checkJournal(t *testing.T, path string, n int, cost costplan.Money) {
	t.Helper()
	recs := readJournal(t, path)
	if len(recs) != n {
		t.Fatalf("journal: got %d call records, want %d", len(recs), n)
	}
	for i, r := range recs {
		if r.Outcome != journal.OutcomeOK || r.Estimated || r.Cost != cost {
			t.Errorf("record %d (%s, stream %v): got outcome %v, estimated %v, cost %v, want ok, exact, %v",
				i, r.API, r.Stream, r.Outcome, r.Estimated, r.Cost, cost)
		}
	}
}

func TestTransportAnthropicSDK(t *testing.T) {
	up := newFakeUpstream(t)
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	session := costplan.USD(1)
	tr, rt := newTestTransport(t, costplan.Config{Session: session, JournalPath: path})
	c := anthropicSDK(up, rt)
	ctx := context.Background()

	msg, err := c.Messages.New(ctx, messageParams(2000))
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Content[0].Text; got != "Hello, world!" {
		t.Errorf("text: got %q, want %q", got, "Hello, world!")
	}
	if got := tr.Spent(); got != anthropicCost {
		t.Errorf("Spent after Messages.New: got %v, want %v", got, anthropicCost)
	}
	if got := gjson.GetBytes(up.last().body, "max_tokens").Int(); got != 2000 {
		t.Errorf("max_tokens sent: got %v, want 2000", got)
	}

	st := c.Messages.NewStreaming(ctx, messageParams(2000))
	var acc anthropic.Message
	var text strings.Builder
	for st.Next() {
		ev := st.Current()
		if err := acc.Accumulate(ev); err != nil {
			t.Fatal(err)
		}
		if d, ok := ev.AsAny().(anthropic.ContentBlockDeltaEvent); ok {
			text.WriteString(d.Delta.Text)
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if text.String() != "Hello, world!" || acc.Usage.OutputTokens != 300 || acc.StopReason != "end_turn" {
		t.Errorf("stream: got text %q, output %d, stop %q", text.String(), acc.Usage.OutputTokens, acc.StopReason)
	}
	if got, want := tr.Spent(), 2*anthropicCost; got != want {
		t.Errorf("Spent after the stream: got %v, want %v", got, want)
	}
	if got, want := tr.Remaining(), session-2*anthropicCost; got != want {
		t.Errorf("Remaining: got %v, want %v", got, want)
	}
	if got := rt.n.Load(); got != 2 {
		t.Errorf("attempts: got %v, want 2", got)
	}
	// Token counting is free and passes unmetered.
	if _, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: anthropicModel,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}}); err != nil {
		t.Errorf("CountTokens: %v", err)
	}
	if got, want := tr.Spent(), 2*anthropicCost; got != want {
		t.Errorf("Spent after CountTokens: got %v, want %v", got, want)
	}
	tr.Close()
	checkJournal(t, path, 2, anthropicCost)
}

// TestTransportAnthropicClamp sends a request whose max_tokens the session cannot
// pay: the upstream receives the lower limit the budget grants.
func TestTransportAnthropicClamp(t *testing.T) {
	up := newFakeUpstream(t)
	_, rt := newTestTransport(t, costplan.Config{Session: costplan.USD(0.20)})
	c := anthropicSDK(up, rt)
	st := c.Messages.NewStreaming(context.Background(), messageParams(sonnetMaxOutput))
	for st.Next() {
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	// floor(($0.20 - input) / $15 per million): 13,333 tokens less what the few
	// input tokens take.
	got := gjson.GetBytes(up.last().body, "max_tokens").Int()
	if got < 13_300 || got > 13_333 {
		t.Errorf("max_tokens sent: got %v, want the grant of $0.20 at $15 per million (13,300 to 13,333)", got)
	}
}

func TestTransportOpenAISDK(t *testing.T) {
	up := newFakeUpstream(t)
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	session := costplan.USD(1)
	tr, rt := newTestTransport(t, costplan.Config{Session: session, JournalPath: path})
	c := openaiSDK(up, rt)
	ctx := context.Background()
	calls := costplan.Money(0)
	spent := func(what string) {
		t.Helper()
		calls++
		if got, want := tr.Spent(), calls*openaiCost; got != want {
			t.Errorf("Spent after %s: got %v, want %v", what, got, want)
		}
	}

	chat, err := c.Chat.Completions.New(ctx, chatParams())
	if err != nil {
		t.Fatal(err)
	}
	if chat.Choices[0].Message.Content != "Hello, world!" || chat.Usage.PromptTokens != 2000 {
		t.Errorf("chat: got %q, %d prompt tokens", chat.Choices[0].Message.Content, chat.Usage.PromptTokens)
	}
	spent("Chat.Completions.New")
	if got := gjson.GetBytes(up.last().body, "max_completion_tokens").Int(); got != gpt5miniMaxOutput {
		t.Errorf("max_completion_tokens sent: got %v, want %v", got, gpt5miniMaxOutput)
	}

	for _, includeUsage := range []bool{false, true} {
		params := chatParams()
		if includeUsage {
			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		}
		st := c.Chat.Completions.NewStreaming(ctx, params)
		acc := openai.ChatCompletionAccumulator{}
		for st.Next() {
			acc.AddChunk(st.Current())
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		st.Close()
		if got := acc.Choices[0].Message.Content; got != "Hello, world!" {
			t.Errorf("chat stream: got %q, want %q", got, "Hello, world!")
		}
		// The usage chunk reaches the SDK only when it asked for it.
		if got, want := acc.Usage.PromptTokens, map[bool]int64{false: 0, true: 2000}[includeUsage]; got != want {
			t.Errorf("chat stream (include_usage %v): got %d prompt tokens, want %d", includeUsage, got, want)
		}
		spent("Chat.Completions.NewStreaming")
	}

	r, err := c.Responses.New(ctx, responsesParams())
	if err != nil {
		t.Fatal(err)
	}
	if got := r.OutputText(); got != "Hello, world!" {
		t.Errorf("responses: got %q, want %q", got, "Hello, world!")
	}
	spent("Responses.New")
	if got := gjson.GetBytes(up.last().body, "max_output_tokens").Int(); got != gpt5miniMaxOutput {
		t.Errorf("max_output_tokens sent: got %v, want %v", got, gpt5miniMaxOutput)
	}

	rs := c.Responses.NewStreaming(ctx, responsesParams())
	var text strings.Builder
	for rs.Next() {
		if ev := rs.Current(); ev.Type == "response.output_text.delta" {
			text.WriteString(ev.Delta)
		}
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	rs.Close()
	if text.String() != "Hello, world!" {
		t.Errorf("responses stream: got %q, want %q", text.String(), "Hello, world!")
	}
	spent("Responses.NewStreaming")

	if got, want := tr.Remaining(), session-5*openaiCost; got != want {
		t.Errorf("Remaining: got %v, want %v", got, want)
	}
	if got := rt.n.Load(); got != 5 {
		t.Errorf("attempts: got %v, want 5", got)
	}
	tr.Close()
	checkJournal(t, path, 5, openaiCost)
}

// TestTransportRefusalNotRetried checks that a refusal reaches each SDK as a 429 it
// does not retry, and that nothing reaches the upstream.
func TestTransportRefusalNotRetried(t *testing.T) {
	tests := []struct {
		name string
		cfg  costplan.Config
		call func(up *fakeUpstream, rt http.RoundTripper) error
		want string
	}{
		{"anthropic messages", costplan.Config{Session: costplan.USD(0.001)}, func(up *fakeUpstream, rt http.RoundTripper) error {
			c := anthropicSDK(up, rt)
			_, err := c.Messages.New(context.Background(), messageParams(2000))
			return err
		}, "session budget exhausted"},
		{"anthropic stream", costplan.Config{PerCall: costplan.USD(0.01)}, func(up *fakeUpstream, rt http.RoundTripper) error {
			c := anthropicSDK(up, rt)
			st := c.Messages.NewStreaming(context.Background(), messageParams(2000))
			for st.Next() {
			}
			return st.Err()
		}, "per-call cap of $0.01"},
		{"openai chat", costplan.Config{Session: costplan.USD(0.001)}, func(up *fakeUpstream, rt http.RoundTripper) error {
			c := openaiSDK(up, rt)
			_, err := c.Chat.Completions.New(context.Background(), chatParams())
			return err
		}, "session budget exhausted"},
		{"openai chat stream", costplan.Config{Session: costplan.USD(0.001)}, func(up *fakeUpstream, rt http.RoundTripper) error {
			c := openaiSDK(up, rt)
			st := c.Chat.Completions.NewStreaming(context.Background(), chatParams())
			for st.Next() {
			}
			return st.Err()
		}, "session budget exhausted"},
		{"openai responses", costplan.Config{PerCall: costplan.USD(0.001)}, func(up *fakeUpstream, rt http.RoundTripper) error {
			c := openaiSDK(up, rt)
			_, err := c.Responses.New(context.Background(), responsesParams())
			return err
		}, "per-call cap of $0.001"},
		{"openai responses stream", costplan.Config{Session: costplan.USD(0.001)}, func(up *fakeUpstream, rt http.RoundTripper) error {
			c := openaiSDK(up, rt)
			st := c.Responses.NewStreaming(context.Background(), responsesParams())
			for st.Next() {
			}
			return st.Err()
		}, "session budget exhausted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newFakeUpstream(t)
			tr, rt := newTestTransport(t, tt.cfg)
			err := tt.call(up, rt)
			var status int
			var msg string
			var ae *anthropic.Error
			var oe *openai.Error
			switch {
			case errors.As(err, &ae):
				status, msg = ae.StatusCode, ae.RawJSON()
			case errors.As(err, &oe):
				status, msg = oe.StatusCode, oe.Message
			default:
				t.Fatalf("got %v, want an SDK API error", err)
			}
			if status != http.StatusTooManyRequests {
				t.Errorf("status: got %v, want 429", status)
			}
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, "raise Config.") {
				t.Errorf("message: got %q, want it to contain %q and how to raise the limit", msg, tt.want)
			}
			if got := rt.n.Load(); got != 1 {
				t.Errorf("attempts: got %v, want 1", got)
			}
			if got := up.hits.Load(); got != 0 {
				t.Errorf("upstream hits: got %v, want 0", got)
			}
			if tr.Spent() != 0 {
				t.Errorf("Spent: got %v, want 0", tr.Spent())
			}
		})
	}
}

// TestTransportUnmeteredRouteRefused checks that a billable endpoint the transport
// cannot meter is refused, never passed through.
func TestTransportUnmeteredRouteRefused(t *testing.T) {
	up := newFakeUpstream(t)
	_, rt := newTestTransport(t, costplan.Config{})
	c := openaiSDK(up, rt)
	_, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: "text-embedding-3-small", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hi")}})
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != http.StatusNotFound {
		t.Fatalf("got %v, want a 404", err)
	}
	if got := up.hits.Load(); got != 0 {
		t.Errorf("upstream hits: got %v, want 0", got)
	}
	if got := rt.n.Load(); got != 1 {
		t.Errorf("attempts: got %v, want 1", got)
	}
}

// TestClientTransportSharesBudget sends calls through Generate and through an
// official SDK on Client.Transport: one budget pays for both.
func TestClientTransportSharesBudget(t *testing.T) {
	up := newFakeUpstream(t)
	session := costplan.USD(1)
	c := newTestClient(t, up, costplan.Anthropic, costplan.Config{Session: session})
	if _, err := c.Generate(context.Background(), "Hi"); err != nil {
		t.Fatal(err)
	}
	a, o := anthropicSDK(up, c.Transport()), openaiSDK(up, c.Transport())
	if _, err := a.Messages.New(context.Background(), messageParams(2000)); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Chat.Completions.New(context.Background(), chatParams()); err != nil {
		t.Fatal(err)
	}
	want := 2*anthropicCost + openaiCost
	if got := c.Spent(); got != want {
		t.Errorf("Spent: got %v, want %v", got, want)
	}
	if got := c.Remaining(); got != session-want {
		t.Errorf("Remaining: got %v, want %v", got, session-want)
	}
}
