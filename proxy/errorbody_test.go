package proxy

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/tidwall/gjson"
)

// TestErrorBodies checks both error shapes: valid JSON whatever the message holds,
// and the error type each provider gives the status.
func TestErrorBodies(t *testing.T) {
	msg := "model \"x\a\x00\u2028é\" \\ <b>"
	for _, tt := range []struct {
		a        adapter
		status   int
		typePath string
		want     string
	}{
		{anthropicMessages{}, 400, "error.type", "invalid_request_error"},
		{anthropicMessages{}, 404, "error.type", "not_found_error"},
		{anthropicMessages{}, 413, "error.type", "request_too_large"},
		{anthropicMessages{}, 426, "error.type", "invalid_request_error"},
		{anthropicMessages{}, 429, "error.type", "rate_limit_error"},
		{anthropicMessages{}, 502, "error.type", "api_error"},
		{openaiChat{}, 404, "error.type", "invalid_request_error"},
		{openaiChat{}, 429, "error.type", "insufficient_quota"},
		{openaiResponses{}, 503, "error.type", "server_error"},
	} {
		body := tt.a.errorBody(tt.status, "costplan_x", msg)
		if !json.Valid(body) {
			t.Fatalf("%T %d: invalid JSON %q", tt.a, tt.status, body)
		}
		if got := gjson.GetBytes(body, tt.typePath).Str; got != tt.want {
			t.Errorf("%T %d: type %q, want %q", tt.a, tt.status, got, tt.want)
		}
		if got := gjson.GetBytes(body, "error.message").Str; got != msg {
			t.Errorf("%T %d: message %q, want %q", tt.a, tt.status, got, msg)
		}
	}
	if got := gjson.GetBytes(anthropicMessages{}.errorBody(http.StatusBadRequest, "", "m"), "type").Str; got != "error" {
		t.Errorf("anthropic shape: top-level type %q, want error", got)
	}
}
