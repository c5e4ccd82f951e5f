package proxy

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
)

// withMinOutput sets the smallest output grant the proxy sends.
func withMinOutput(n core.Tokens) proxyOpt {
	return func(p *testProxy) { p.meter.MinOutput = n }
}

// mixedCall is one kind of call in the mixed test, with the exact cost of its
// fixture.
type mixedCall struct {
	name     string
	api      string
	stream   bool
	wantCost core.Money
	run      func(p *testProxy) (cost string, err error)
}

func mixedCalls() []mixedCall {
	ctx := context.Background()
	return []mixedCall{
		{"anthropic", journal.APIMessages, false, fixtureAnthropicCost, func(p *testProxy) (string, error) {
			c := anthropicClient(p)
			var resp *http.Response
			_, err := c.Messages.New(ctx, helloParams(8000), aoption.WithResponseInto(&resp))
			return header(resp, err), err
		}},
		{"anthropic stream", journal.APIMessages, true, fixtureAnthropicCost, func(p *testProxy) (string, error) {
			c := anthropicClient(p)
			st := c.Messages.NewStreaming(ctx, helloParams(8000))
			for st.Next() {
			}
			return "", st.Err()
		}},
		{"chat", journal.APIChat, false, fixtureChatCost, func(p *testProxy) (string, error) {
			c := openaiClient(p)
			params := chatParams("gpt-5-mini")
			params.MaxCompletionTokens = openai.Int(8000)
			var resp *http.Response
			_, err := c.Chat.Completions.New(ctx, params, option.WithResponseInto(&resp))
			return header(resp, err), err
		}},
		{"chat stream", journal.APIChat, true, fixtureChatStreamCost, func(p *testProxy) (string, error) {
			c := openaiClient(p)
			params := chatParams("gpt-5-mini")
			params.MaxCompletionTokens = openai.Int(8000)
			st := c.Chat.Completions.NewStreaming(ctx, params)
			for st.Next() {
				if len(st.Current().Choices) == 0 {
					return "", errors.New("the injected usage chunk reached the client")
				}
			}
			return "", st.Err()
		}},
		{"responses", journal.APIResponses, false, fixtureResponsesCost, func(p *testProxy) (string, error) {
			c := openaiClient(p)
			params := responsesParams("gpt-5")
			params.MaxOutputTokens = openai.Int(8000)
			var resp *http.Response
			_, err := c.Responses.New(ctx, params, option.WithResponseInto(&resp))
			return header(resp, err), err
		}},
		{"responses stream", journal.APIResponses, true, fixtureResponsesStreamCost, func(p *testProxy) (string, error) {
			c := openaiClient(p)
			params := responsesParams("gpt-5")
			params.MaxOutputTokens = openai.Int(8000)
			st := c.Responses.NewStreaming(ctx, params)
			for st.Next() {
			}
			return "", st.Err()
		}},
	}
}

func header(resp *http.Response, err error) string {
	if err != nil || resp == nil {
		return ""
	}
	return resp.Header.Get(HeaderCost)
}

// refused reports a budget refusal from either SDK.
func refused(err error) bool {
	var oe *openai.Error
	if errors.As(err, &oe) {
		return oe.StatusCode == http.StatusTooManyRequests && oe.Code == "costplan_budget_exceeded"
	}
	var ae *anthropic.Error
	return errors.As(err, &ae) && ae.StatusCode == http.StatusTooManyRequests
}

// TestMixedProvidersOneSessionCap runs Anthropic and OpenAI calls, streaming and
// not, in parallel against one session cap that pays only some of them.
//
// A minimum grant of 4,096 tokens makes every admitted reservation cover its
// fixture's cost (the dearest, the Anthropic fixture at $0.04903, against 4,096
// tokens at $15/MTok = $0.06144), so the settled spend must stay under the cap.
func TestMixedProvidersOneSessionCap(t *testing.T) {
	const (
		sessionCap = core.Dollar / 2
		workers    = 60
	)
	p := newTestProxy(t, withCaps(core.Caps{Session: sessionCap, PerCall: core.Dollar}), withMinOutput(4096))
	p.up.setRespond(chatLikeTheAPI(p.up))
	kinds := mixedCalls()

	type result struct {
		kind int
		cost string
		err  error
	}
	results := make([]result, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := i % len(kinds)
			cost, err := kinds[k].run(p)
			results[i] = result{k, cost, err}
		}()
	}
	wg.Wait()

	var ok, refusedCalls int
	for i, r := range results {
		switch {
		case r.err == nil:
			ok++
			if want := kinds[r.kind].wantCost; r.cost != "" && r.cost != want.Decimal() {
				t.Errorf("call %d (%s): %s got %v, want %v", i, kinds[r.kind].name, HeaderCost, r.cost, want.Decimal())
			}
		case refused(r.err):
			refusedCalls++
		default:
			t.Errorf("call %d (%s): got %v, want success or a budget refusal", i, kinds[r.kind].name, r.err)
		}
	}
	if ok == 0 || refusedCalls == 0 {
		t.Errorf("outcomes: got %d ok and %d refused, want some of each", ok, refusedCalls)
	}

	recs := p.waitCalls(t, workers)
	var sum core.Money
	var okRecs, refusedRecs int
	for _, rec := range recs {
		switch rec.Outcome {
		case journal.OutcomeOK:
			okRecs++
			sum += rec.Cost
			want := core.Money(-1)
			for _, k := range kinds {
				if k.api == rec.API && k.stream == rec.Stream {
					want = k.wantCost
				}
			}
			if rec.Cost != want || rec.Estimated || rec.Violation != 0 {
				t.Errorf("%s stream=%v record: got cost %v estimated %v violation %v, want %v, false, 0",
					rec.API, rec.Stream, rec.Cost, rec.Estimated, rec.Violation, want)
			}
		case journal.OutcomeRefused:
			refusedRecs++
			if rec.Status != http.StatusTooManyRequests || rec.Cost != 0 {
				t.Errorf("refused record: got status %v cost %v, want 429, 0", rec.Status, rec.Cost)
			}
		default:
			t.Errorf("record: got outcome %v (%+v), want ok or refused", rec.Outcome, rec)
		}
	}
	if okRecs != ok || refusedRecs != refusedCalls {
		t.Errorf("journal: got %d ok and %d refused, want %d and %d as the clients saw", okRecs, refusedRecs, ok, refusedCalls)
	}

	snap := p.snapshot(t)
	if snap.Spent != sum {
		t.Errorf("ledger spent: got %v, want the journal's sum %v", snap.Spent, sum)
	}
	if snap.Spent > sessionCap {
		t.Errorf("ledger spent: got %v, want at most the cap %v", snap.Spent, sessionCap)
	}
	if snap.Reserved != 0 || snap.InFlight != 0 {
		t.Errorf("ledger: got reserved %v in flight %v, want 0, 0", snap.Reserved, snap.InFlight)
	}
	if snap.Calls != int64(ok) || snap.Refused != int64(refusedCalls) || snap.Violations != 0 {
		t.Errorf("ledger counts: got calls %v refused %v violations %v, want %v, %v, 0", snap.Calls, snap.Refused, snap.Violations, ok, refusedCalls)
	}
	t.Logf("%d ok, %d refused, spent %v of %v", ok, refusedCalls, snap.Spent, sessionCap)
}
