package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/pricing"
)

// badGzip compresses s.
func badGzip(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// badInputMaxBody is the body limit of the proxies in TestBadInput.
const badInputMaxBody = 4096

// TestBadInput sends what a client can get wrong to POST /v1/messages over raw
// HTTP: each is answered in the Anthropic error shape with a status and a message
// that says what is wrong, and none reaches the upstream.
func TestBadInput(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"Hello there"}]`
	rejectPrices, err := pricing.New(pricing.Options{UnknownModel: pricing.PolicyReject})
	if err != nil {
		t.Fatal(err)
	}
	huge := `{"model":"claude-sonnet-4-5","max_tokens":100,` + msgs + `,"pad":"` + strings.Repeat("x", badInputMaxBody) + `"}`
	for _, tc := range []struct {
		name     string
		body     []byte
		encoding string
		chunked  bool // send without a Content-Length
		reject   bool // price table with unknown_model = "reject"
		status   int
		errType  string
		msg      []string
		// refusal is the journaled refusal reason; empty means bad_request.
		refusal string
	}{
		{name: "malformed JSON", body: []byte(`{"model":"claude-sonnet-4-5","max_tokens":100,` + msgs),
			status: 400, msg: []string{"not valid JSON"}},
		{name: "empty body", body: []byte(``), status: 400, msg: []string{"no body"}},
		{name: "blank body", body: []byte(" \n"), status: 400, msg: []string{"not a JSON object"}},
		{name: "array body", body: []byte(`[{"model":"claude-sonnet-4-5"}]`), status: 400, msg: []string{"not a JSON object"}},
		{name: "string body", body: []byte(`"claude-sonnet-4-5"`), status: 400, msg: []string{"not a JSON object"}},
		{name: "model missing", body: []byte(`{"max_tokens":100,` + msgs + `}`), status: 400, msg: []string{"names no model"}},
		{name: "model a number", body: []byte(`{"model":45,"max_tokens":100,` + msgs + `}`), status: 400, msg: []string{"model must be a non-empty string", "45"}},
		{name: "model empty", body: []byte(`{"model":"","max_tokens":100,` + msgs + `}`), status: 400, msg: []string{"model must be a non-empty string"}},
		{name: "max_tokens negative", body: []byte(`{"model":"claude-sonnet-4-5","max_tokens":-5,` + msgs + `}`),
			status: 400, msg: []string{"max_tokens must be a non-negative integer", "-5"}},
		{name: "max_tokens zero", body: []byte(`{"model":"claude-sonnet-4-5","max_tokens":0,` + msgs + `}`),
			status: 400, msg: []string{"max_tokens must be at least 1"}},
		{name: "max_tokens a string", body: []byte(`{"model":"claude-sonnet-4-5","max_tokens":"100",` + msgs + `}`),
			status: 400, msg: []string{"max_tokens must be a number", `"100"`}},
		{name: "max_tokens a fraction", body: []byte(`{"model":"claude-sonnet-4-5","max_tokens":10.5,` + msgs + `}`),
			status: 400, msg: []string{"max_tokens must be a non-negative integer", "10.5"}},
		{name: "max_tokens absurd", body: []byte(`{"model":"claude-sonnet-4-5","max_tokens":99999999999999999999999,` + msgs + `}`),
			status: 400, msg: []string{"max_tokens must be a non-negative integer"}},
		{name: "stream a string", body: []byte(`{"model":"claude-sonnet-4-5","max_tokens":100,"stream":"yes",` + msgs + `}`),
			status: 400, msg: []string{"stream must be true or false", `"yes"`}},
		{name: "messages an object", body: []byte(`{"model":"claude-sonnet-4-5","max_tokens":100,"messages":{"role":"user"}}`),
			status: 400, msg: []string{"messages must be an array"}},
		{name: "thinking budget a string", body: []byte(`{"model":"claude-sonnet-4-5","max_tokens":4000,"thinking":{"type":"enabled","budget_tokens":"2000"},` + msgs + `}`),
			status: 400, msg: []string{"thinking.budget_tokens must be a number"}},
		// The upstream might read the other copy of a duplicated key.
		{name: "duplicate max_tokens", body: []byte(`{"model":"claude-sonnet-4-5","max_tokens":100,` + msgs + `,"max_tokens":128000}`),
			status: 400, msg: []string{`duplicate key "max_tokens"`}},
		{name: "duplicate model", body: []byte(`{"model":"claude-haiku-4-5","max_tokens":100,` + msgs + `,"model":"claude-opus-4-1"}`),
			status: 400, msg: []string{`duplicate key "model"`}},
		{name: "duplicate stream", body: []byte(`{"model":"claude-sonnet-4-5","stream":false,"max_tokens":100,` + msgs + `,"stream":true}`),
			status: 400, msg: []string{`duplicate key "stream"`}},
		{name: "unknown model, reject policy", reject: true, body: []byte(`{"model":"claude-sonnet-9-9","max_tokens":100,` + msgs + `}`),
			status: 400, msg: []string{`unknown model "claude-sonnet-9-9"`, `unknown_model = "reject"`, `[pricing.models."claude-sonnet-9-9"]`, "costplan.toml"},
			refusal: "unknown_model"},
		{name: "unmatchable model, family policy", body: []byte(`{"model":"acme-wizard-7","max_tokens":100,` + msgs + `}`),
			status: 400, msg: []string{`unknown model "acme-wizard-7"`, "no model of its family", `[pricing.models."acme-wizard-7"]`, "output = "},
			refusal: "unknown_model"},
		{name: "over max body", body: []byte(huge), status: 413, errType: "request_too_large", msg: []string{"4096-byte limit", "--max-body"}},
		{name: "over max body, chunked", body: []byte(huge), chunked: true, status: 413, errType: "request_too_large", msg: []string{"4096-byte limit"}},
		{name: "over max body once decompressed", body: badGzip(t, huge), encoding: "gzip", status: 413, errType: "request_too_large", msg: []string{"4096-byte limit"}},
		{name: "corrupt gzip", body: []byte("not gzip at all"), encoding: "gzip", status: 400, msg: []string{"gzip request body is corrupt"}},
		{name: "zstd body", body: []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0}, encoding: "zstd", status: 415,
			msg: []string{`compressed with "zstd"`, "send it uncompressed, gzip or deflate"}},
		{name: "brotli body", body: []byte{0x0b, 0x02, 0x80}, encoding: "br", status: 415,
			msg: []string{`compressed with "br"`, "send it uncompressed, gzip or deflate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestProxy(t)
			p.meter.MaxBody = badInputMaxBody
			if tc.reject {
				p.meter.Prices = rejectPrices
			}
			var body io.Reader = bytes.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // hides the length
			}
			req, err := http.NewRequest(http.MethodPost, p.srv.URL+"/v1/messages", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Api-Key", "sk-ant-bad-input")
			req.Header.Set("Anthropic-Version", "2023-06-01")
			if tc.encoding != "" {
				req.Header.Set("Content-Encoding", tc.encoding)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got := readAll(t, resp)
			resp.Body.Close()
			errType := tc.errType
			if errType == "" {
				errType = "invalid_request_error"
			}
			if resp.StatusCode != tc.status || gjson.Get(got, "type").Str != "error" || gjson.Get(got, "error.type").Str != errType {
				t.Errorf("got %d %s, want %d with an Anthropic %s", resp.StatusCode, got, tc.status, errType)
			}
			msg := gjson.Get(got, "error.message").Str
			for _, want := range tc.msg {
				if !strings.Contains(msg, want) {
					t.Errorf("got message %q, want it to contain %q", msg, want)
				}
			}
			if resp.Header.Get("X-Should-Retry") != "false" {
				t.Errorf("got x-should-retry %q, want false", resp.Header.Get("X-Should-Retry"))
			}
			if n := len(p.up.seen()); n != 0 {
				t.Errorf("got %d upstream requests, want 0", n)
			}
			// Every refusal is journaled; a request that could not be read is a
			// bad_request refusal.
			refusal := tc.refusal
			if refusal == "" {
				refusal = "bad_request"
			}
			if calls := p.rec.calls(); len(calls) != 1 || calls[0].Outcome != journal.OutcomeRefused || calls[0].Refusal != refusal || calls[0].Status != tc.status {
				t.Errorf("got journal %+v, want one %q refusal with status %d", calls, refusal, tc.status)
			}
			if snap := faultSnapshot(t, p); snap.Spent != 0 || snap.Reserved != 0 {
				t.Errorf("got spent %s, reserved %s; want 0, 0", snap.Spent, snap.Reserved)
			}
		})
	}
}

// TestBadInputGzipAccepted: a gzip-compressed request is decoded, metered and sent
// upstream uncompressed.
func TestBadInputGzipAccepted(t *testing.T) {
	p := newTestProxy(t)
	plain := `{"model":"claude-sonnet-4-5","max_tokens":1000,"messages":[{"role":"user","content":"Hello there"}]}`
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, p.srv.URL+"/v1/messages", bytes.NewReader(badGzip(t, plain)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("X-Api-Key", "sk-ant-bad-input")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(HeaderCost) != fixtureAnthropicCost.Decimal() {
		t.Fatalf("got %d %s with cost %q, want 200 with cost %s", resp.StatusCode, body, resp.Header.Get(HeaderCost), fixtureAnthropicCost.Decimal())
	}
	seen := p.up.seen()
	if len(seen) != 1 || string(seen[0].body) != plain || seen[0].header.Get("Content-Encoding") != "" {
		t.Fatalf("got upstream requests %+v, want one with the decoded body and no Content-Encoding", seen)
	}
	rec := p.waitCalls(t, 1)[0]
	if rec.Outcome != journal.OutcomeOK || rec.Cost != fixtureAnthropicCost || rec.MaxTokensRequested != 1000 {
		t.Errorf("got outcome %q, cost %s, requested %d; want ok, %s, 1000", rec.Outcome, rec.Cost, rec.MaxTokensRequested, fixtureAnthropicCost)
	}
}
