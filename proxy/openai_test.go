package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
)

// Costs of the OpenAI fixtures, by hand from prices.toml (USD per million tokens,
// so tokens × price × 1000 nano-dollars). Cached tokens are a subset of the prompt
// and reasoning tokens a subset of the completion.
const (
	// chat_completion.json on gpt-5-mini ($0.25 in, $0.025 cached, $2 out): 2,345
	// prompt of which 1,024 cached, 812 completion of which 576 reasoning.
	fixtureChatCost core.Money = 1_321*250 + 1_024*25 + 812*2_000 // 1,979,850
	// chat_stream.sse on gpt-5-mini: 1,500 prompt of which 1,280 cached, 300
	// completion of which 192 reasoning.
	fixtureChatStreamCost core.Money = 220*250 + 1_280*25 + 300*2_000 // 687,000
	// responses_response.json on gpt-5 ($1.25 in, $0.125 cached, $10 out): 3,000
	// input of which 2,048 cached, 700 output of which 512 reasoning.
	fixtureResponsesCost core.Money = 952*1_250 + 2_048*125 + 700*10_000 // 8,446,000
	// responses_stream.sse on gpt-5: 1,800 input of which 1,536 cached, 420 output
	// of which 256 reasoning.
	fixtureResponsesStreamCost core.Money = 264*1_250 + 1_536*125 + 420*10_000 // 4,722,000
)

var (
	fixtureChatUsage            = core.Usage{InputTokens: 1321, CacheReadTokens: 1024, OutputTokens: 812, ReasoningTokens: 576}
	fixtureChatStreamUsage      = core.Usage{InputTokens: 220, CacheReadTokens: 1280, OutputTokens: 300, ReasoningTokens: 192}
	fixtureResponsesUsage       = core.Usage{InputTokens: 952, CacheReadTokens: 2048, OutputTokens: 700, ReasoningTokens: 512}
	fixtureResponsesStreamUsage = core.Usage{InputTokens: 264, CacheReadTokens: 1536, OutputTokens: 420, ReasoningTokens: 256}
)

func openaiClient(p *testProxy, opts ...option.RequestOption) openai.Client {
	return openai.NewClient(append([]option.RequestOption{option.WithBaseURL(p.srv.URL + "/v1"), option.WithAPIKey("sk-test")}, opts...)...)
}

func chatParams(model string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model: model,
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You are terse."),
			openai.UserMessage("Hello there"),
		},
	}
}

func responsesParams(model string) responses.ResponseNewParams {
	return responses.ResponseNewParams{
		Model:        model,
		Instructions: openai.String("Answer briefly."),
		Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String("Hello there")},
	}
}

// wire records the bytes of the requests an SDK client sends and of the response
// bodies it reads, as they travel.
type wire struct {
	sent []byte
	got  bytes.Buffer
}

func (w *wire) option() option.RequestOption {
	return option.WithMiddleware(func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		if req.GetBody != nil {
			if b, err := req.GetBody(); err == nil {
				w.sent, _ = io.ReadAll(b)
			}
		}
		resp, err := next(req)
		if resp != nil && resp.Body != nil {
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.TeeReader(resp.Body, &w.got), resp.Body}
		}
		return resp, err
	})
}

// chatLikeTheAPI answers chat streams as the API does: the usage chunk (and
// "usage":null on the other chunks) only when the request asked include_usage.
func chatLikeTheAPI(u *upstream) func(w http.ResponseWriter, r *http.Request, body []byte) {
	return func(w http.ResponseWriter, r *http.Request, body []byte) {
		if strings.HasSuffix(r.URL.Path, "/chat/completions") && gjson.GetBytes(body, "stream").Bool() &&
			!gjson.GetBytes(body, "stream_options.include_usage").Bool() {
			writeSSE(w, readFixture(u.t, "chat_stream_nousage.sse"))
			return
		}
		u.defaultResponse(w, r, body)
	}
}

// serveFixture answers every request with one SSE fixture.
func serveFixture(u *upstream, name string) func(w http.ResponseWriter, r *http.Request, body []byte) {
	return func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		writeSSE(w, readFixture(u.t, name))
	}
}

func (p *testProxy) snapshot(t *testing.T) core.Snapshot {
	t.Helper()
	snap, err := p.meter.Ledger.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func TestOpenAIChatNonStreaming(t *testing.T) {
	p := newTestProxy(t, withFileJournal(t))
	c := openaiClient(p, option.WithOrganization("org-test"), option.WithProject("proj_test"))
	params := chatParams("gpt-5-mini")
	params.MaxCompletionTokens = openai.Int(4000)
	var resp *http.Response
	cc, err := c.Chat.Completions.New(context.Background(), params, option.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cc.Choices[0].Message.Content, "Hello! How can I help you today?"; got != want {
		t.Errorf("content: got %q, want %q", got, want)
	}
	if got, want := cc.Usage.PromptTokensDetails.CachedTokens, int64(1024); got != want {
		t.Errorf("client usage cached_tokens: got %v, want %v", got, want)
	}
	if got, want := resp.Header.Get(HeaderCost), fixtureChatCost.Decimal(); got != want {
		t.Errorf("%s: got %v, want %v", HeaderCost, got, want)
	}
	if got, want := resp.Header.Get(HeaderRemaining), (5*core.Dollar - fixtureChatCost).Decimal(); got != want {
		t.Errorf("%s: got %v, want %v", HeaderRemaining, got, want)
	}

	recs := p.readJournal(t)
	if len(recs) != 1 {
		t.Fatalf("journal lines: got %v, want 1", len(recs))
	}
	rec := recs[0]
	if rec.Provider != "openai" || rec.API != "chat" || rec.Model != "gpt-5-mini" || rec.PriceModel != "gpt-5-mini" ||
		rec.Stream || rec.Status != 200 || rec.Outcome != journal.OutcomeOK || rec.Estimated ||
		rec.MaxTokensRequested != 4000 || rec.MaxTokensGranted != 4000 {
		t.Errorf("journal record: got %+v", rec)
	}
	if rec.Usage != fixtureChatUsage {
		t.Errorf("journal usage: got %+v, want %+v", rec.Usage, fixtureChatUsage)
	}
	if rec.Cost != fixtureChatCost {
		t.Errorf("journal cost: got %v, want %v", rec.Cost, fixtureChatCost)
	}
	// The line itself, as other tools read it.
	line := onlyJournalLine(t, p.journal)
	for key, want := range map[string]string{"provider": "openai", "api": "chat", "usage.input_tokens": "1321",
		"usage.cache_read_tokens": "1024", "usage.reasoning_tokens": "576", "usage.output_tokens": "812"} {
		if got := gjson.Get(line, key).String(); got != want {
			t.Errorf("journal line %s: got %v, want %v", key, got, want)
		}
	}

	snap := p.snapshot(t)
	if snap.Spent != fixtureChatCost || snap.Reserved != 0 || snap.Calls != 1 {
		t.Errorf("ledger: got spent %v reserved %v calls %v, want %v, 0, 1", snap.Spent, snap.Reserved, snap.Calls, fixtureChatCost)
	}

	seen := p.up.seen()
	if len(seen) != 1 {
		t.Fatalf("upstream hits: got %v, want 1", len(seen))
	}
	s := seen[0]
	if s.path != "/v1/chat/completions" {
		t.Errorf("upstream path: got %v, want /v1/chat/completions", s.path)
	}
	for k, want := range map[string]string{"Authorization": "Bearer sk-test", "Openai-Organization": "org-test", "Openai-Project": "proj_test"} {
		if got := s.header.Get(k); got != want {
			t.Errorf("upstream header %s: got %q, want %q", k, got, want)
		}
	}
	if gjson.GetBytes(s.body, "stream_options").Exists() || gjson.GetBytes(s.body, "max_completion_tokens").Int() != 4000 ||
		gjson.GetBytes(s.body, "max_tokens").Exists() {
		t.Errorf("upstream body changed a request that fits: %s", s.body)
	}
}

// onlyJournalLine returns the only line of a file journal.
func onlyJournalLine(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 1 {
		t.Fatalf("journal lines: got %v, want 1", len(lines))
	}
	return lines[0]
}

// streamChat runs a chat stream through the SDK and returns the accumulated
// completion and the chunks seen.
func streamChat(t *testing.T, c openai.Client, params openai.ChatCompletionNewParams, opts ...option.RequestOption) (openai.ChatCompletionAccumulator, []openai.ChatCompletionChunk) {
	t.Helper()
	st := c.Chat.Completions.NewStreaming(context.Background(), params, opts...)
	var acc openai.ChatCompletionAccumulator
	var chunks []openai.ChatCompletionChunk
	for st.Next() {
		ch := st.Current()
		acc.AddChunk(ch)
		chunks = append(chunks, ch)
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	return acc, chunks
}

func TestOpenAIChatStreamInjectsIncludeUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts openai.ChatCompletionStreamOptionsParam
		// wantOptions are the stream_options the upstream must see.
		wantOptions string
	}{
		{"no stream_options", openai.ChatCompletionStreamOptionsParam{}, `{"include_usage":true}`},
		{"include_usage false", openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(false)}, `{"include_usage":true}`},
		{"other stream options", openai.ChatCompletionStreamOptionsParam{IncludeObfuscation: openai.Bool(false)},
			`{"include_usage":true,"include_obfuscation":false}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestProxy(t)
			p.up.setRespond(chatLikeTheAPI(p.up))
			var w wire
			params := chatParams("gpt-5-mini")
			params.MaxCompletionTokens = openai.Int(4000)
			params.StreamOptions = tc.opts
			acc, chunks := streamChat(t, openaiClient(p), params, w.option())

			seen := p.up.seen()
			if len(seen) != 1 {
				t.Fatalf("upstream hits: got %v, want 1", len(seen))
			}
			if got := gjson.GetBytes(seen[0].body, "stream_options").Raw; got != tc.wantOptions {
				t.Errorf("upstream stream_options: got %s, want %s", got, tc.wantOptions)
			}
			if got, want := gjson.GetBytes(seen[0].body, "messages").Raw, gjson.GetBytes(w.sent, "messages").Raw; got != want {
				t.Errorf("upstream messages: got %s, want %s", got, want)
			}
			// The client sees exactly the stream the API sends without include_usage.
			if got, want := w.got.String(), string(readFixture(t, "chat_stream_nousage.sse")); got != want {
				t.Errorf("client stream:\ngot  %q\nwant %q", got, want)
			}
			if strings.Contains(w.got.String(), `"usage"`) {
				t.Errorf("client stream carries a usage member: %s", w.got.String())
			}
			for i, ch := range chunks {
				if len(ch.Choices) == 0 {
					t.Errorf("chunk %d has no choices (the injected usage chunk reached the client)", i)
				}
			}
			if got, want := acc.Choices[0].Message.Content, "Hello! How can I help?"; got != want {
				t.Errorf("content: got %q, want %q", got, want)
			}
			if acc.Usage.TotalTokens != 0 {
				t.Errorf("client usage total_tokens: got %v, want 0", acc.Usage.TotalTokens)
			}

			rec := p.waitCalls(t, 1)[0]
			if rec.Cost != fixtureChatStreamCost || rec.Usage != fixtureChatStreamUsage || !rec.Stream ||
				rec.Outcome != journal.OutcomeOK || rec.Estimated || rec.API != "chat" || rec.Provider != "openai" {
				t.Errorf("journal record: got %+v, want cost %v usage %+v", rec, fixtureChatStreamCost, fixtureChatStreamUsage)
			}
			if snap := p.snapshot(t); snap.Spent != fixtureChatStreamCost || snap.Reserved != 0 {
				t.Errorf("ledger: got spent %v reserved %v, want %v, 0", snap.Spent, snap.Reserved, fixtureChatStreamCost)
			}
		})
	}
}

func TestOpenAIChatStreamClientIncludeUsage(t *testing.T) {
	p := newTestProxy(t)
	p.up.setRespond(chatLikeTheAPI(p.up))
	var w wire
	params := chatParams("gpt-5-mini")
	params.MaxCompletionTokens = openai.Int(4000)
	params.StreamOptions.IncludeUsage = openai.Bool(true)
	acc, chunks := streamChat(t, openaiClient(p), params, w.option())

	seen := p.up.seen()
	if len(seen) != 1 {
		t.Fatalf("upstream hits: got %v, want 1", len(seen))
	}
	// Nothing to change: the grant covers max_completion_tokens and the client asked
	// for usage, so the body goes upstream byte for byte.
	if !bytes.Equal(seen[0].body, w.sent) {
		t.Errorf("upstream body:\ngot  %s\nwant %s", seen[0].body, w.sent)
	}
	if got, want := w.got.String(), string(readFixture(t, "chat_stream.sse")); got != want {
		t.Errorf("client stream:\ngot  %q\nwant %q", got, want)
	}
	if last := chunks[len(chunks)-1]; len(last.Choices) != 0 || last.Usage.PromptTokens != 1500 ||
		last.Usage.PromptTokensDetails.CachedTokens != 1280 || last.Usage.CompletionTokensDetails.ReasoningTokens != 192 {
		t.Errorf("last chunk: got %+v, want the usage chunk", last)
	}
	if got, want := acc.Choices[0].Message.Content, "Hello! How can I help?"; got != want {
		t.Errorf("content: got %q, want %q", got, want)
	}
	rec := p.waitCalls(t, 1)[0]
	if rec.Cost != fixtureChatStreamCost || rec.Usage != fixtureChatStreamUsage || rec.Estimated || rec.Outcome != journal.OutcomeOK {
		t.Errorf("journal record: got %+v, want cost %v usage %+v", rec, fixtureChatStreamCost, fixtureChatStreamUsage)
	}
}

func TestOpenAIChatStreamWithoutUsageEstimated(t *testing.T) {
	p := newTestProxy(t)
	// An upstream that ignores include_usage: the stream ends without usage.
	p.up.setRespond(serveFixture(p.up, "chat_stream_nousage.sse"))
	var w wire
	params := chatParams("gpt-5-mini")
	params.MaxCompletionTokens = openai.Int(4000)
	acc, _ := streamChat(t, openaiClient(p), params, w.option())
	if got, want := acc.Choices[0].Message.Content, "Hello! How can I help?"; got != want {
		t.Errorf("content: got %q, want %q", got, want)
	}
	if got, want := w.got.String(), string(readFixture(t, "chat_stream_nousage.sse")); got != want {
		t.Errorf("client stream:\ngot  %q\nwant %q", got, want)
	}
	rec := p.waitCalls(t, 1)[0]
	if !rec.Estimated || rec.Outcome != journal.OutcomeOK {
		t.Errorf("journal record: got estimated %v outcome %v, want true, ok", rec.Estimated, rec.Outcome)
	}
	if rec.Cost <= 0 || rec.Cost > rec.Reserved {
		t.Errorf("estimated cost: got %v, want > 0 and <= the reservation %v", rec.Cost, rec.Reserved)
	}
	if rec.Usage.InputTokens <= 0 || rec.Usage.OutputTokens <= 0 || rec.Usage.OutputTokens > rec.MaxTokensGranted {
		t.Errorf("estimated usage: got %+v, want input and output > 0, output <= %v", rec.Usage, rec.MaxTokensGranted)
	}
	if snap := p.snapshot(t); snap.Spent != rec.Cost || snap.Reserved != 0 {
		t.Errorf("ledger: got spent %v reserved %v, want %v, 0", snap.Spent, snap.Reserved, rec.Cost)
	}
}

func TestOpenAIResponsesNonStreaming(t *testing.T) {
	p := newTestProxy(t)
	params := responsesParams("gpt-5")
	params.MaxOutputTokens = openai.Int(4000)
	var resp *http.Response
	c := openaiClient(p)
	r, err := c.Responses.New(context.Background(), params, option.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.OutputText(), "Hello! How can I help you today?"; got != want {
		t.Errorf("output text: got %q, want %q", got, want)
	}
	if got, want := resp.Header.Get(HeaderCost), fixtureResponsesCost.Decimal(); got != want {
		t.Errorf("%s: got %v, want %v", HeaderCost, got, want)
	}
	if got, want := resp.Header.Get(HeaderRemaining), (5*core.Dollar - fixtureResponsesCost).Decimal(); got != want {
		t.Errorf("%s: got %v, want %v", HeaderRemaining, got, want)
	}
	rec := p.waitCalls(t, 1)[0]
	if rec.Provider != "openai" || rec.API != "responses" || rec.Model != "gpt-5" || rec.Stream || rec.Estimated ||
		rec.Outcome != journal.OutcomeOK || rec.MaxTokensRequested != 4000 || rec.MaxTokensGranted != 4000 {
		t.Errorf("journal record: got %+v", rec)
	}
	if rec.Usage != fixtureResponsesUsage || rec.Cost != fixtureResponsesCost {
		t.Errorf("journal usage and cost: got %+v %v, want %+v %v", rec.Usage, rec.Cost, fixtureResponsesUsage, fixtureResponsesCost)
	}
	if snap := p.snapshot(t); snap.Spent != fixtureResponsesCost || snap.Reserved != 0 {
		t.Errorf("ledger: got spent %v reserved %v, want %v, 0", snap.Spent, snap.Reserved, fixtureResponsesCost)
	}
	if s := p.up.seen()[0]; s.path != "/v1/responses" || gjson.GetBytes(s.body, "max_output_tokens").Int() != 4000 {
		t.Errorf("upstream: got %s %s", s.path, s.body)
	}
}

// terminal rewrites the terminal event of a Responses stream fixture.
func terminal(fixture []byte, event, status string) []byte {
	b := bytes.ReplaceAll(fixture, []byte("response.completed"), []byte(event))
	i := bytes.LastIndex(b, []byte(`"status":"completed"`))
	return append(b[:i:i], append([]byte(`"status":"`+status+`"`), b[i+len(`"status":"completed"`):]...)...)
}

func TestOpenAIResponsesStreaming(t *testing.T) {
	for _, tc := range []struct {
		name        string
		body        func(t *testing.T) []byte
		wantOutcome string
	}{
		{"completed without DONE", func(t *testing.T) []byte { return readFixture(t, "responses_stream.sse") }, journal.OutcomeOK},
		{"completed with DONE", func(t *testing.T) []byte { return readFixture(t, "responses_stream_done.sse") }, journal.OutcomeOK},
		{"incomplete", func(t *testing.T) []byte {
			return terminal(readFixture(t, "responses_stream.sse"), "response.incomplete", "incomplete")
		}, journal.OutcomeOK},
		{"failed", func(t *testing.T) []byte {
			return terminal(readFixture(t, "responses_stream.sse"), "response.failed", "failed")
		}, journal.OutcomeUpstreamError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestProxy(t)
			body := tc.body(t)
			p.up.setRespond(func(w http.ResponseWriter, _ *http.Request, _ []byte) { writeSSE(w, body) })
			var w wire
			var resp *http.Response
			params := responsesParams("gpt-5")
			params.MaxOutputTokens = openai.Int(4000)
			c := openaiClient(p)
			st := c.Responses.NewStreaming(context.Background(), params, option.WithResponseInto(&resp), w.option())
			var text strings.Builder
			var final responses.Response
			for st.Next() {
				ev := st.Current()
				switch ev.Type {
				case "response.output_text.delta":
					text.WriteString(ev.Delta)
				case "response.completed", "response.incomplete", "response.failed":
					final = ev.Response
				}
			}
			if err := st.Err(); err != nil {
				t.Fatal(err)
			}
			if got, want := text.String(), "Hello! How can I help?"; got != want {
				t.Errorf("text: got %q, want %q", got, want)
			}
			if final.Usage.InputTokensDetails.CachedTokens != 1536 || final.Usage.OutputTokensDetails.ReasoningTokens != 256 {
				t.Errorf("client usage: got %+v, want the fixture's", final.Usage)
			}
			if !bytes.Equal(w.got.Bytes(), body) {
				t.Errorf("client stream differs from the upstream's:\ngot  %q\nwant %q", w.got.String(), body)
			}
			rec := p.waitCalls(t, 1)[0]
			if rec.API != "responses" || !rec.Stream || rec.Estimated || rec.Outcome != tc.wantOutcome {
				t.Errorf("journal record: got %+v, want outcome %v", rec, tc.wantOutcome)
			}
			if rec.Usage != fixtureResponsesStreamUsage || rec.Cost != fixtureResponsesStreamCost {
				t.Errorf("journal usage and cost: got %+v %v, want %+v %v", rec.Usage, rec.Cost, fixtureResponsesStreamUsage, fixtureResponsesStreamCost)
			}
			if got, want := resp.Header.Get(HeaderRemaining), (5*core.Dollar - rec.Reserved).Decimal(); got != want {
				t.Errorf("%s header: got %v, want %v", HeaderRemaining, got, want)
			}
			if !bytes.HasSuffix(body, []byte("data: [DONE]\n\n")) {
				// Without [DONE] the SDK reads the stream to its end, so the trailers
				// arrive; with it, the SDK stops reading at [DONE]
				// (TestOpenAIResponsesStreamTrailers reads those to the end).
				if got, want := resp.Trailer.Get(HeaderCost), fixtureResponsesStreamCost.Decimal(); got != want {
					t.Errorf("trailer %s: got %v, want %v", HeaderCost, got, want)
				}
				if got, want := resp.Trailer.Get(HeaderRemaining), (5*core.Dollar - fixtureResponsesStreamCost).Decimal(); got != want {
					t.Errorf("trailer %s: got %v, want %v", HeaderRemaining, got, want)
				}
			}
			if snap := p.snapshot(t); snap.Spent != fixtureResponsesStreamCost || snap.Reserved != 0 {
				t.Errorf("ledger: got spent %v reserved %v, want %v, 0", snap.Spent, snap.Reserved, fixtureResponsesStreamCost)
			}
		})
	}
}

// TestOpenAIResponsesStreamTrailers reads a Responses stream to its end by hand, so
// the trailers arrive also when the stream ends with [DONE] (the SDK stops reading
// at [DONE]).
func TestOpenAIResponsesStreamTrailers(t *testing.T) {
	for _, fixture := range []string{"responses_stream.sse", "responses_stream_done.sse"} {
		t.Run(fixture, func(t *testing.T) {
			p := newTestProxy(t)
			p.up.setRespond(serveFixture(p.up, fixture))
			req, _ := http.NewRequest("POST", p.srv.URL+"/v1/responses",
				strings.NewReader(`{"model":"gpt-5","stream":true,"max_output_tokens":4000,"input":"Hello there"}`))
			req.Header.Set("Authorization", "Bearer sk-test")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if got, want := readAll(t, resp), string(readFixture(t, fixture)); got != want {
				t.Errorf("stream:\ngot  %q\nwant %q", got, want)
			}
			if got, want := resp.Trailer.Get(HeaderCost), fixtureResponsesStreamCost.Decimal(); got != want {
				t.Errorf("trailer %s: got %v, want %v", HeaderCost, got, want)
			}
			if got, want := resp.Trailer.Get(HeaderRemaining), (5*core.Dollar - fixtureResponsesStreamCost).Decimal(); got != want {
				t.Errorf("trailer %s: got %v, want %v", HeaderRemaining, got, want)
			}
		})
	}
}

func TestOpenAIOutputLimits(t *testing.T) {
	// The default caps: $5 session, $1 per call.
	type call struct {
		api   string // "chat" or "responses"
		model string
		field string // the limit the client sends; "" for none
		asked int64
		// out is the model's output price per million tokens, from prices.toml.
		out core.Money
	}
	for _, tc := range []struct {
		name string
		call call
		// wantField carries wantGrant upstream; absent lists keys that must not appear.
		wantField string
		wantGrant int64 // 0: the per-call clamp, checked against the reservation
		absent    []string
	}{
		// gpt-5-mini: 128,000 × $2/MTok = $0.256 fits under $1; the model limit is the grant.
		{"chat gpt-5 family inserts max_completion_tokens", call{"chat", "gpt-5-mini", "", 0, 2 * core.Dollar}, "max_completion_tokens", 128000, []string{"max_tokens"}},
		// o3: 100,000 × $8/MTok = $0.80 fits.
		{"chat o-series inserts max_completion_tokens", call{"chat", "o3", "", 0, 8 * core.Dollar}, "max_completion_tokens", 100000, []string{"max_tokens"}},
		// gpt-4o: 16,384 × $10/MTok = $0.16 fits.
		{"chat gpt-4o inserts max_tokens", call{"chat", "gpt-4o", "", 0, 10 * core.Dollar}, "max_tokens", 16384, []string{"max_completion_tokens"}},
		{"chat gpt-4o keeps a fitting max_tokens", call{"chat", "gpt-4o", "max_tokens", 1000, 10 * core.Dollar}, "max_tokens", 1000, []string{"max_completion_tokens"}},
		// gpt-5: 120,000 × $10/MTok = $1.20 does not fit under $1.
		{"chat gpt-5 clamps max_completion_tokens", call{"chat", "gpt-5", "max_completion_tokens", 120000, 10 * core.Dollar}, "max_completion_tokens", 0, []string{"max_tokens"}},
		{"chat gpt-5 honours a legacy max_tokens", call{"chat", "gpt-5", "max_tokens", 120000, 10 * core.Dollar}, "max_tokens", 0, []string{"max_completion_tokens"}},
		{"responses gpt-5-mini inserts max_output_tokens", call{"responses", "gpt-5-mini", "", 0, 2 * core.Dollar}, "max_output_tokens", 128000, nil},
		{"responses gpt-5 inserts a clamped max_output_tokens", call{"responses", "gpt-5", "", 0, 10 * core.Dollar}, "max_output_tokens", 0, nil},
		{"responses gpt-5 clamps max_output_tokens", call{"responses", "gpt-5", "max_output_tokens", 128000, 10 * core.Dollar}, "max_output_tokens", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestProxy(t)
			c := openaiClient(p)
			var err error
			if tc.call.api == "chat" {
				params := chatParams(tc.call.model)
				switch tc.call.field {
				case "max_tokens":
					params.MaxTokens = openai.Int(tc.call.asked)
				case "max_completion_tokens":
					params.MaxCompletionTokens = openai.Int(tc.call.asked)
				}
				_, err = c.Chat.Completions.New(context.Background(), params)
			} else {
				params := responsesParams(tc.call.model)
				if tc.call.field != "" {
					params.MaxOutputTokens = openai.Int(tc.call.asked)
				}
				_, err = c.Responses.New(context.Background(), params)
			}
			if err != nil {
				t.Fatal(err)
			}
			sent := gjson.ParseBytes(p.up.seen()[0].body)
			for _, k := range tc.absent {
				if sent.Get(k).Exists() {
					t.Errorf("upstream body has %s: %s", k, sent.Raw)
				}
			}
			grant := sent.Get(tc.wantField).Int()
			rec := p.waitCalls(t, 1)[0]
			if core.Tokens(grant) != rec.MaxTokensGranted || rec.MaxTokensRequested != core.Tokens(tc.call.asked) {
				t.Errorf("upstream %s %d, journal granted %v requested %v", tc.wantField, grant, rec.MaxTokensGranted, rec.MaxTokensRequested)
			}
			input := rec.Reserved - core.OutputCost(core.Tokens(grant), tc.call.out)
			want := tc.wantGrant
			if want == 0 {
				// What $1 pays at the output price after the input bound.
				want = core.MulDivFloor(int64(core.Dollar-input), 1_000_000, int64(tc.call.out))
				if want >= tc.call.asked && tc.call.asked != 0 || want < 90000 {
					t.Fatalf("the case does not clamp: %d tokens fit", want)
				}
			}
			if grant != want {
				t.Errorf("upstream %s: got %v, want %v", tc.wantField, grant, want)
			}
			if input <= 0 || input > core.Cent {
				t.Errorf("input part of the reservation: got %v, want a small positive bound", input)
			}
		})
	}
}

func TestOpenAIChatChoicesReserveEach(t *testing.T) {
	t.Run("reservation", func(t *testing.T) {
		// 2,000 tokens per choice at $2/MTok on gpt-5-mini: each extra choice holds
		// $0.004 more. Each call goes through a fresh proxy, so that the second is
		// not reserved from what the first taught about the conversation.
		var recs []journal.Record
		var last *testProxy
		for _, n := range []int64{1, 3} {
			p := newTestProxy(t)
			params := chatParams("gpt-5-mini")
			params.MaxCompletionTokens = openai.Int(2000)
			params.N = openai.Int(n)
			c := openaiClient(p)
			if _, err := c.Chat.Completions.New(context.Background(), params); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, p.waitCalls(t, 1)...)
			last = p
		}
		if recs[0].MaxTokensGranted != 2000 || recs[1].MaxTokensGranted != 2000 {
			t.Errorf("grants: got %v and %v, want 2000", recs[0].MaxTokensGranted, recs[1].MaxTokensGranted)
		}
		if got, want := recs[1].Reserved-recs[0].Reserved, core.Money(2*2000*2000); got != want {
			t.Errorf("reservation of 3 choices minus 1: got %v, want %v", got, want)
		}
		if got, want := gjson.GetBytes(last.up.seen()[0].body, "n").Int(), int64(3); got != want {
			t.Errorf("upstream n: got %v, want %v", got, want)
		}
	})
	t.Run("clamp", func(t *testing.T) {
		// $0.25 per call on gpt-5 ($10/MTok out) pays one choice of 20,000 tokens
		// ($0.20) but not four: the grant falls to what $0.25 pays at 4 × $10.
		p := newTestProxy(t, withCaps(core.Caps{Session: 5 * core.Dollar, PerCall: core.Dollar / 4}))
		params := chatParams("gpt-5")
		params.MaxCompletionTokens = openai.Int(20000)
		params.N = openai.Int(4)
		c := openaiClient(p)
		if _, err := c.Chat.Completions.New(context.Background(), params); err != nil {
			t.Fatal(err)
		}
		rec := p.waitCalls(t, 1)[0]
		grant := gjson.GetBytes(p.up.seen()[0].body, "max_completion_tokens").Int()
		input := rec.Reserved - core.OutputCost(core.Tokens(grant), 40*core.Dollar)
		want := core.MulDivFloor(int64(core.Dollar/4-input), 1_000_000, int64(40*core.Dollar))
		if grant != want || core.Tokens(grant) != rec.MaxTokensGranted {
			t.Errorf("grant: got upstream %v journal %v, want %v", grant, rec.MaxTokensGranted, want)
		}
		if grant > 6250 || grant < 6000 {
			t.Errorf("grant: got %v, want about a quarter of 25,000", grant)
		}
	})
}

func TestOpenAIRefusalNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name      string
		caps      core.Caps
		stream    bool
		api       string
		wantLimit string
		wantMsg   []string
	}{
		// $0.001 per call cannot pay the 1,024-token floor on gpt-5 ($0.01024).
		{"chat per call", core.Caps{Session: 5 * core.Dollar, PerCall: core.Dollar / 1000}, false, "chat", "per_call",
			[]string{"per-call cap of $0.001", "--per-call"}},
		{"chat stream session", core.Caps{Session: core.Dollar / 200}, true, "chat", "session",
			[]string{"session budget", "--session"}},
		{"responses stream session", core.Caps{Session: core.Dollar / 200}, true, "responses", "session",
			[]string{"session budget", "--session"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestProxy(t, withCaps(tc.caps))
			c := openaiClient(p)
			var resp *http.Response
			var err error
			switch {
			case tc.api == "chat" && !tc.stream:
				_, err = c.Chat.Completions.New(context.Background(), chatParams("gpt-5"), option.WithResponseInto(&resp))
			case tc.api == "chat":
				st := c.Chat.Completions.NewStreaming(context.Background(), chatParams("gpt-5"), option.WithResponseInto(&resp))
				for st.Next() {
				}
				err = st.Err()
			default:
				st := c.Responses.NewStreaming(context.Background(), responsesParams("gpt-5"), option.WithResponseInto(&resp))
				for st.Next() {
				}
				err = st.Err()
			}
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("got %v, want an *openai.Error", err)
			}
			if apiErr.StatusCode != 429 || apiErr.Type != "insufficient_quota" || apiErr.Code != "costplan_budget_exceeded" {
				t.Errorf("error: got status %v type %q code %q, want 429 insufficient_quota costplan_budget_exceeded",
					apiErr.StatusCode, apiErr.Type, apiErr.Code)
			}
			for _, s := range tc.wantMsg {
				if !strings.Contains(apiErr.Message, s) {
					t.Errorf("message %q does not contain %q", apiErr.Message, s)
				}
			}
			raw := gjson.Parse(apiErr.RawJSON())
			if raw.Get("message").Str != apiErr.Message || raw.Get("type").Str != "insufficient_quota" || raw.Get("code").Str != "costplan_budget_exceeded" {
				t.Errorf("error body: got %s", apiErr.RawJSON())
			}
			if resp == nil {
				t.Fatal("no response recorded")
			}
			if got := resp.Header.Get("X-Should-Retry"); got != "false" {
				t.Errorf("x-should-retry: got %q, want false", got)
			}
			if got := resp.Header.Get(HeaderRefusal); got != tc.wantLimit {
				t.Errorf("%s: got %q, want %q", HeaderRefusal, got, tc.wantLimit)
			}
			if n := len(p.up.seen()); n != 0 {
				t.Errorf("upstream hits: got %v, want 0", n)
			}
			// The SDK made exactly one attempt: one refused record.
			recs := p.waitCalls(t, 1)
			if recs[0].Outcome != journal.OutcomeRefused || recs[0].Refusal != tc.wantLimit || recs[0].Status != 429 ||
				recs[0].Provider != "openai" || recs[0].API != tc.api {
				t.Errorf("journal record: got %+v", recs[0])
			}
			if snap := p.snapshot(t); snap.Spent != 0 || snap.Reserved != 0 {
				t.Errorf("ledger: got spent %v reserved %v, want 0, 0", snap.Spent, snap.Reserved)
			}
		})
	}
}

func TestOpenAIRoutes(t *testing.T) {
	p := newTestProxy(t)
	c := openaiClient(p, option.WithOrganization("org-test"), option.WithProject("proj_test"))

	page, err := c.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 {
		t.Errorf("models: got %v, want 1", len(page.Data))
	}
	seen := p.up.seen()
	if len(seen) != 1 || seen[0].method != "GET" || seen[0].path != "/v1/models" {
		t.Fatalf("upstream: got %+v, want GET /v1/models", seen)
	}
	for k, want := range map[string]string{"Authorization": "Bearer sk-test", "Openai-Organization": "org-test", "Openai-Project": "proj_test"} {
		if got := seen[0].header.Get(k); got != want {
			t.Errorf("upstream header %s: got %q, want %q", k, got, want)
		}
	}

	for _, path := range []string{"/v1/embeddings", "/v1/images/generations", "/v1/audio/speech", "/v1/completions"} {
		req, _ := http.NewRequest("POST", p.srv.URL+path, strings.NewReader(`{"model":"gpt-4o","input":"hi","prompt":"hi"}`))
		req.Header.Set("Authorization", "Bearer sk-test")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("%s: got status %v, want 404", path, resp.StatusCode)
		}
		e := gjson.Get(body, "error")
		if !strings.Contains(e.Get("message").Str, path) || e.Get("type").Str != "invalid_request_error" ||
			e.Get("code").Str != "costplan_unmetered_route" || gjson.Get(body, "type").Exists() {
			t.Errorf("%s: got body %s, want the OpenAI error shape naming the path", path, body)
		}
	}
	// Through the SDK, the refusal reaches the caller after one attempt.
	_, err = c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: "text-embedding-3-small", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hi")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || !strings.Contains(apiErr.Message, "/v1/embeddings") {
		t.Errorf("embeddings through the SDK: got %v, want a 404 naming /v1/embeddings", err)
	}

	// Codex's WebSocket attempt is refused at once with 426.
	req, _ := http.NewRequest("GET", p.srv.URL+"/v1/responses", nil)
	req.Header.Set("Authorization", "Bearer sk-test")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("OpenAI-Beta", "responses_websockets=2026-02-06")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired || gjson.Get(body, "error.message").Str == "" {
		t.Errorf("websocket upgrade: got %v %s, want 426 with an OpenAI error", resp.StatusCode, body)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("websocket refusal took %v", d)
	}

	if n := len(p.up.seen()); n != 1 {
		t.Errorf("upstream hits: got %v, want 1 (the model list only)", n)
	}
	if n := len(p.rec.calls()); n != 0 {
		t.Errorf("call records: got %v, want 0", n)
	}
}

// TestOpenAIStreamClientLeavesAfterDone: the SDK stops reading at [DONE] and closes
// the connection; an upstream that holds its response open a little longer then
// sees its request cancelled. The call still finished and is billed exactly.
func TestOpenAIStreamClientLeavesAfterDone(t *testing.T) {
	for _, tc := range []struct {
		api, fixture string
		cost         core.Money
		usage        core.Usage
	}{
		{"chat", "chat_stream.sse", fixtureChatStreamCost, fixtureChatStreamUsage},
		{"responses", "responses_stream_done.sse", fixtureResponsesStreamCost, fixtureResponsesStreamUsage},
	} {
		t.Run(tc.api, func(t *testing.T) {
			p := newTestProxy(t)
			cancelled := make(chan bool, 1)
			p.up.setRespond(func(w http.ResponseWriter, r *http.Request, _ []byte) {
				writeSSE(w, readFixture(p.up.t, tc.fixture))
				select {
				case <-r.Context().Done():
					cancelled <- true
				case <-time.After(3 * time.Second):
					cancelled <- false
				}
			})
			c := openaiClient(p)
			if tc.api == "chat" {
				params := chatParams("gpt-5-mini")
				params.MaxCompletionTokens = openai.Int(4000)
				streamChat(t, c, params)
			} else {
				params := responsesParams("gpt-5")
				params.MaxOutputTokens = openai.Int(4000)
				st := c.Responses.NewStreaming(context.Background(), params)
				for st.Next() {
				}
				if err := st.Err(); err != nil {
					t.Fatal(err)
				}
			}
			if !<-cancelled {
				t.Fatal("the upstream request was not cancelled when the client left")
			}
			rec := p.waitCalls(t, 1)[0]
			if rec.Outcome != journal.OutcomeOK || rec.Estimated || rec.Error != "" {
				t.Errorf("journal record: got outcome %v estimated %v error %q, want ok, false, none", rec.Outcome, rec.Estimated, rec.Error)
			}
			if rec.Cost != tc.cost || rec.Usage != tc.usage {
				t.Errorf("journal cost and usage: got %v %+v, want %v %+v", rec.Cost, rec.Usage, tc.cost, tc.usage)
			}
		})
	}
}
