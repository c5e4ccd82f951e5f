package costplan_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aopt "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	oopt "github.com/openai/openai-go/v3/option"

	"github.com/costplan/costplan"
)

// fakeAnthropic stands in for the Anthropic Messages API in the examples: it
// answers "Hello, world!" for 10 input and 20 output tokens, as JSON or, when the
// request asks for it, as a stream of events.
func fakeAnthropic(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Stream bool `json:"stream"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",`+
			`"content":[{"type":"text","text":"Hello, world!"}],"stop_reason":"end_turn","stop_sequence":null,`+
			`"usage":{"input_tokens":10,"output_tokens":20}}`)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	for _, ev := range [][2]string{
		{"message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"usage":{"input_tokens":10,"output_tokens":1}}}`},
		{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":", world"}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}}`},
		{"content_block_stop", `{"type":"content_block_stop","index":0}`},
		{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":20}}`},
		{"message_stop", `{"type":"message_stop"}`},
	} {
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev[0], ev[1])
		w.(http.Flusher).Flush()
	}
}

// fakeOpenAI stands in for the OpenAI Chat Completions API in the examples: it
// answers "Hello, world!" for 12 prompt and 40 completion tokens.
func fakeOpenAI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1764835200,"model":"gpt-5-mini-2025-08-07",`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello, world!"},"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":12,"completion_tokens":40,"total_tokens":52}}`)
}

func ExampleNew() {
	api := httptest.NewServer(http.HandlerFunc(fakeAnthropic))
	defer api.Close()

	llm, err := costplan.New(costplan.Config{
		Model:   "claude-sonnet-4-5",
		PerCall: costplan.USD(0.50),
		Session: costplan.USD(5),
		APIKey:  "sk-ant-example", // default: ANTHROPIC_API_KEY
		BaseURL: api.URL,          // default: ANTHROPIC_BASE_URL, else the public API
	})
	if err != nil {
		log.Fatal(err)
	}
	defer llm.Close()

	resp, err := llm.Generate(context.Background(), "Say hello.")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Text)
	fmt.Printf("%d input and %d output tokens cost %v (%d nano-dollars)\n",
		resp.Usage.InputTokens, resp.Usage.OutputTokens, resp.Cost, int64(resp.Cost))
	fmt.Println("spent:", llm.Spent(), "remaining:", llm.Remaining())
	// Output:
	// Hello, world!
	// 10 input and 20 output tokens cost $0.00033 (330000 nano-dollars)
	// spent: $0.00033 remaining: $4.99967
}

func ExampleConfig_onWarning() {
	api := httptest.NewServer(http.HandlerFunc(fakeAnthropic))
	defer api.Close()

	llm, err := costplan.New(costplan.Config{
		Model:   "claude-sonnet-4-5",
		Session: costplan.USD(0.001),
		WarnAt:  0.5, // warn once half the session is spent
		OnWarning: func(spent, remaining, total costplan.Money) {
			fmt.Printf("warning: spent %v of %v, %v left\n", spent, total, remaining)
		},
		MaxTokens: 30,
		APIKey:    "sk-ant-example",
		BaseURL:   api.URL,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer llm.Close()

	for i := 1; i <= 3; i++ {
		resp, err := llm.Generate(context.Background(), "Say hello.")
		var refused *costplan.BudgetExceededError
		switch {
		case errors.As(err, &refused):
			fmt.Printf("call %d refused by the %s cap: spent %v of %v\n", i, refused.Limit, refused.Spent, refused.Cap)
		case err != nil:
			log.Fatal(err)
		default:
			fmt.Printf("call %d cost %v\n", i, resp.Cost)
		}
	}
	// Output:
	// call 1 cost $0.00033
	// warning: spent $0.00066 of $0.001, $0.00034 left
	// call 2 cost $0.00033
	// call 3 refused by the session cap: spent $0.00066 of $0.001
}

func ExampleClient_Reset() {
	api := httptest.NewServer(http.HandlerFunc(fakeAnthropic))
	defer api.Close()

	llm, err := costplan.New(costplan.Config{
		Model: "claude-sonnet-4-5", Session: costplan.USD(0.001), MaxTokens: 30,
		APIKey: "sk-ant-example", BaseURL: api.URL,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer llm.Close()

	ctx := context.Background()
	for {
		_, err := llm.Generate(ctx, "Say hello.")
		if errors.Is(err, costplan.ErrBudgetExceeded) {
			fmt.Println("refused by the budget")
			break
		}
		if err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("spent:", llm.Spent(), "remaining:", llm.Remaining())

	if err := llm.Reset(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("after Reset, spent:", llm.Spent(), "remaining:", llm.Remaining())
	if _, err := llm.Generate(ctx, "Say hello."); err != nil {
		log.Fatal(err)
	}
	fmt.Println("one more call, spent:", llm.Spent())
	// Output:
	// refused by the budget
	// spent: $0.00066 remaining: $0.00034
	// after Reset, spent: $0.00 remaining: $0.001
	// one more call, spent: $0.00033
}

func ExampleClient_GenerateStream() {
	api := httptest.NewServer(http.HandlerFunc(fakeAnthropic))
	defer api.Close()

	llm, err := costplan.New(costplan.Config{
		Model: "claude-sonnet-4-5", PerCall: costplan.USD(0.50), Session: costplan.USD(5),
		APIKey: "sk-ant-example", BaseURL: api.URL,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer llm.Close()

	deltas, final := llm.GenerateStream(context.Background(), []costplan.Message{{Role: "user", Content: "Say hello."}})
	for delta, err := range deltas {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%q\n", delta)
	}
	resp, err := final()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Text, resp.StopReason, resp.Cost)
	// Output:
	// "Hello"
	// ", world"
	// "!"
	// Hello, world! end_turn $0.00033
}

func ExampleNewTransport_anthropic() {
	api := httptest.NewServer(http.HandlerFunc(fakeAnthropic))
	defer api.Close()

	budget, err := costplan.NewTransport(costplan.Config{PerCall: costplan.USD(0.50), Session: costplan.USD(5)})
	if err != nil {
		log.Fatal(err)
	}
	defer budget.Close()

	client := anthropic.NewClient(
		aopt.WithHTTPClient(&http.Client{Transport: budget}),
		aopt.WithBaseURL(api.URL), // in production, leave the SDK's default
		aopt.WithAPIKey("sk-ant-example"),
	)
	msg, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 1024,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Say hello."))},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(msg.Content[0].Text)
	fmt.Println("spent:", budget.Spent(), "remaining:", budget.Remaining())
	// Output:
	// Hello, world!
	// spent: $0.00033 remaining: $4.99967
}

func ExampleNewTransport_openai() {
	api := httptest.NewServer(http.HandlerFunc(fakeOpenAI))
	defer api.Close()

	budget, err := costplan.NewTransport(costplan.Config{PerCall: costplan.USD(0.50), Session: costplan.USD(5)})
	if err != nil {
		log.Fatal(err)
	}
	defer budget.Close()

	client := openai.NewClient(
		oopt.WithHTTPClient(&http.Client{Transport: budget}),
		oopt.WithBaseURL(api.URL+"/v1"), // in production, leave the SDK's default
		oopt.WithAPIKey("sk-example"),
	)
	chat, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-5-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello.")},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(chat.Choices[0].Message.Content)
	fmt.Println("spent:", budget.Spent(), "remaining:", budget.Remaining())
	// Output:
	// Hello, world!
	// spent: $0.000083 remaining: $4.999917
}
