package proxy

import (
	"encoding/json"
	"github.com/tidwall/gjson"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/internal/sse"
)

// adapter reads and rewrites one wire API.
type adapter interface {
	provider() string
	api() string
	// inspect reads what the budget needs from a request body; an error wrapping
	// errBadRequest is answered 400.
	inspect(body []byte) (*request, error)
	// rewrite returns the body with the output grant (and what follows from it)
	// applied, editing bytes in place of re-encoding.
	rewrite(body []byte, r *request, grant core.Tokens) ([]byte, error)
	// minOutput is the smallest grant worth sending for this request.
	minOutput(r *request, floor core.Tokens) core.Tokens
	// usage reads the usage of a complete JSON response.
	usage(body []byte) (core.Usage, bool)
	// newTap returns a reader of usage for one streamed response.
	newTap(r *request) tap
	// errorBody is an error in the provider's own JSON shape, its type chosen by
	// the status the way the provider chooses it.
	errorBody(status int, code, msg string) []byte
}

// tap reads usage from the events of a streamed response as they pass.
type tap interface {
	// event sees one event and returns the bytes to forward: ev.Raw, other bytes,
	// or nil to withhold the event.
	event(ev *sse.Event) []byte
	// result is the usage seen so far and whether the stream finished with it.
	result() (u core.Usage, complete bool)
	// failed reports an error event in the stream (after the 200 status).
	failed() bool
	// output is the generated text seen so far, for estimating an unfinished stream.
	output() *outputText
}

// maxOutputText bounds the text kept for estimating the output of a broken stream;
// beyond it every byte counts as one token.
const maxOutputText = 4 << 20

// outputText collects generated text for an estimate.
type outputText struct {
	text  []byte
	extra int64
}

func (o *outputText) add(s string) {
	if room := maxOutputText - len(o.text); room < len(s) {
		o.extra += int64(len(s) - max(room, 0))
		s = s[:max(room, 0)]
	}
	o.text = append(o.text, s...)
}

// maxReportedTokens bounds a token count read from a response. No call comes near
// it, and the four input counts of a call summed stay far from overflow.
const maxReportedTokens = 1 << 53

// reportedTokens reads a token count from a provider's usage. A negative count reads
// as zero, and a count above maxReportedTokens (or above int64, which gjson's Int
// wraps to a negative number) as maxReportedTokens, so that no reply lowers a cost.
func reportedTokens(v gjson.Result) core.Tokens {
	if v.Float() >= maxReportedTokens {
		return maxReportedTokens
	}
	return core.Tokens(max(v.Int(), 0))
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}
