// Package journal keeps CostPlan's record of calls and sessions: one JSON object per
// line in an append-only file that several processes can write at once. It appends
// records under a file lock, reads journals of any size in constant memory (skipping
// torn or corrupt lines), filters and aggregates records for the history and stats
// reports, and follows the tail of the file to count the spend of the current day
// and month for time-window caps.
//
// A record holds figures and names only. It has no field for an API key, a request
// or response body, or any prompt text.
package journal

import (
	"fmt"
	"time"

	"github.com/costplan/costplan/core"
)

// Version is the record version this package writes.
const Version = 1

// Record types.
const (
	// TypeCall is a metered, refused or failed call.
	TypeCall = "call"
	// TypeSession marks a session's lifecycle.
	TypeSession = "session"
)

// Providers.
const (
	// ProviderAnthropic is Anthropic's API.
	ProviderAnthropic = "anthropic"
	// ProviderOpenAI is OpenAI's API.
	ProviderOpenAI = "openai"
)

// Wire APIs.
const (
	// APIMessages is the Anthropic Messages API.
	APIMessages = "messages"
	// APIChat is the OpenAI Chat Completions API.
	APIChat = "chat"
	// APIResponses is the OpenAI Responses API.
	APIResponses = "responses"
)

// Outcomes of a call.
const (
	// OutcomeOK is a call that was sent upstream and answered.
	OutcomeOK = "ok"
	// OutcomeRefused is a call CostPlan refused before it left.
	OutcomeRefused = "refused"
	// OutcomeUpstreamError is a call the upstream answered with an error status.
	OutcomeUpstreamError = "upstream_error"
	// OutcomeAborted is a call cut short: the client went away or the stream broke.
	OutcomeAborted = "aborted"
)

// Session events.
const (
	// EventStart is a session starting, with its caps and command.
	EventStart = "start"
	// EventWarn is the session crossing its warning threshold.
	EventWarn = "warn"
	// EventLock is the session locking: it refuses every call until reset.
	EventLock = "lock"
	// EventReset is the session's spend being reset.
	EventReset = "reset"
	// EventEnd is a session ending, with its totals.
	EventEnd = "end"
)

// MaxErrorLen is the longest Error text written; longer texts are cut.
const MaxErrorLen = 200

// Record is one journal line: a call record (Type TypeCall) or a session record
// (Type TypeSession). The two kinds share the common fields V, Type, TS and
// Session; call fields are zero in session records and session fields are zero in
// call records.
//
// MarshalJSON decides which keys appear: a call record always carries every call
// key (refusal, budget_key, error, fallback and violation_usd only when set); a
// session record carries the common keys and event, and the other session keys only
// when set. The struct tags name the keys for decoding.
type Record struct {
	// V is the record version; Append writes Version when it is zero. Records
	// written without "v" read back with V zero.
	V int `json:"v"`
	// Type is TypeCall or TypeSession. Readers keep records of other types.
	Type string `json:"type"`
	// TS is when the call finished or the event happened. Append writes it in UTC
	// with nanoseconds and fills in the current time when it is zero.
	TS time.Time `json:"ts"`
	// Session identifies the session that made the call or had the event.
	Session string `json:"session"`

	// Provider is ProviderAnthropic or ProviderOpenAI.
	Provider string `json:"provider"`
	// API is the wire API: APIMessages, APIChat or APIResponses.
	API string `json:"api"`
	// Model is the model name the client asked for.
	Model string `json:"model"`
	// PriceModel is the price-table entry the call was priced with.
	PriceModel string `json:"price_model"`
	// Stream reports a streamed response.
	Stream bool `json:"stream"`
	// Status is the HTTP status the client received.
	Status int `json:"status"`
	// Outcome is one of the Outcome constants.
	Outcome string `json:"outcome"`
	// Usage is what the call consumed.
	Usage core.Usage `json:"usage"`
	// Cost is what the call cost.
	Cost core.Money `json:"cost_usd"`
	// Reserved is what the call's reservation held before it left.
	Reserved core.Money `json:"reserved_usd"`
	// MaxTokensRequested is the output limit the client asked for; zero means none.
	MaxTokensRequested core.Tokens `json:"max_tokens_requested"`
	// MaxTokensGranted is the output limit the call was sent with.
	MaxTokensGranted core.Tokens `json:"max_tokens_granted"`
	// Estimated reports that part of the usage was estimated, for example the
	// output of a stream that broke before its final usage.
	Estimated bool `json:"estimated"`
	// LatencyMS is the time from request to the end of the response, in milliseconds.
	LatencyMS int64 `json:"latency_ms"`
	// TTFBMS is the time to the first response byte, in milliseconds.
	TTFBMS int64 `json:"ttfb_ms"`
	// RequestID is the upstream's request id, when it sent one.
	RequestID string `json:"request_id"`
	// Client is the client's User-Agent.
	Client string `json:"client"`
	// Refusal names the limit that refused the call (core.Limit values).
	Refusal string `json:"refusal,omitempty"`
	// BudgetKey names the shared budget the call was counted against, if any.
	BudgetKey string `json:"budget_key,omitempty"`
	// Error is a short error text of CostPlan's own (never an upstream body); it is
	// cut to MaxErrorLen bytes when written.
	Error string `json:"error,omitempty"`
	// Fallback reports that the price came from an unknown-model family fallback.
	Fallback bool `json:"fallback,omitempty"`
	// Violation is how much the cost exceeded the reservation.
	Violation core.Money `json:"violation_usd,omitempty"`

	// Event is one of the Event constants.
	Event string `json:"event,omitempty"`
	// SessionCap is the session cap.
	SessionCap core.Money `json:"session_usd,omitempty"`
	// PerCallCap is the per-call cap.
	PerCallCap core.Money `json:"per_call_usd,omitempty"`
	// Spent is what the session had spent at the event.
	Spent core.Money `json:"spent_usd,omitempty"`
	// Calls is how many calls the session had made at the event.
	Calls int64 `json:"calls,omitempty"`
	// Refused is how many calls the session had refused at the event.
	Refused int64 `json:"refused,omitempty"`
	// Command is the program a session ran (its argv[0]), never its arguments.
	Command string `json:"command,omitempty"`
	// Args is how many arguments that program was given.
	Args int `json:"args,omitempty"`
}

// MarshalJSON writes the record as one line of JSON without the newline, with the
// keys in a fixed order (see Record). A TS whose year is outside 0-9999, which RFC
// 3339 cannot hold, is an error, as it is for encoding/json.
func (r Record) MarshalJSON() ([]byte, error) {
	if err := checkTS(r.TS); err != nil {
		return nil, err
	}
	return r.appendJSON(make([]byte, 0, 512)), nil
}

// checkTS refuses a timestamp that no reader could parse back, so that a record is
// never written as a line that every reader skips.
func checkTS(ts time.Time) error {
	if y := ts.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("timestamp %s: year outside 0-9999", ts)
	}
	return nil
}

// UnmarshalJSON reads a record the way Scan does: the input must be a JSON object;
// unknown keys are ignored; a known key whose value has the wrong JSON type is left
// as it was; an invalid ts or money amount is an error.
func (r *Record) UnmarshalJSON(b []byte) error {
	d := decoder{}
	return d.decode(b, r)
}
