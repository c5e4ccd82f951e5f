package proxy

import (
	"errors"
	"fmt"
	"strconv"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/pricing"
)

// request is what an adapter reads from a request body before it is sent.
type request struct {
	model  string
	stream bool
	// requested is the output limit the client asked for; zero means none.
	requested core.Tokens
	// limits are the body keys that carry an output limit, with the offsets of
	// their values; insertField is the key to add when there is none.
	limits      []limitField
	insertField string
	// thinkingBudget is Anthropic's thinking.budget_tokens when thinking is enabled.
	thinkingBudget        core.Tokens
	thinkingAt, thinkingN int
	// choices is OpenAI chat's n (at least 1).
	choices int
	// includeUsage is true when an OpenAI chat client asked for the usage chunk.
	includeUsage bool
	hasStreamOpt bool
	// streamOptAt/N and includeAt/N locate stream_options and its include_usage.
	streamOptAt, streamOptN int
	includeAt, includeN     int
	// previousResponse is a Responses previous_response_id; statefulContext is true
	// when the request continues server-held context CostPlan cannot see.
	previousResponse string
	statefulContext  bool
	// inputKind is the worst input rate the request can incur.
	inputKind pricing.InputKind
	prompt    pricing.Prompt
}

// limitField is an output-limit key of a request body and where its value sits.
type limitField struct {
	key   string
	at, n int
	asked core.Tokens
}

// addLimit records an output-limit key; requested is the smallest of them.
func (r *request) addLimit(key string, v gjson.Result) error {
	n, err := tokensValue(key, v)
	if err != nil {
		return err
	}
	r.limits = append(r.limits, limitField{key: key, at: v.Index, n: len(v.Raw), asked: n})
	if r.requested == 0 || n < r.requested {
		r.requested = n
	}
	return nil
}

// limitEdits returns the edits that put grant into the body: lower every limit above
// it, or insert insertField when the client sent none.
func (r *request) limitEdits(body []byte, grant core.Tokens) []edit {
	g := strconv.FormatInt(int64(grant), 10)
	if len(r.limits) == 0 {
		return []edit{insertion(body, r.insertField, g)}
	}
	var edits []edit
	for _, l := range r.limits {
		if l.asked > grant {
			edits = append(edits, edit{l.at, l.n, g})
		}
	}
	return edits
}

// errBadRequest marks request bodies CostPlan cannot read; they are answered 400.
var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errBadRequest}, args...)...)
}

// parseObject parses body as a JSON object without copying it. The results alias
// body, which must not change while they are used.
func parseObject(body []byte) (gjson.Result, error) {
	i := 0
	for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r') {
		i++
	}
	if i == len(body) || body[i] != '{' {
		return gjson.Result{}, badRequest("the request body is not a JSON object")
	}
	if !gjson.ValidBytes(body) {
		return gjson.Result{}, badRequest("the request body is not valid JSON")
	}
	return gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body))), nil
}

// topLevel calls fn for each top-level key of obj and refuses a duplicate of any key
// in watched, because clients and upstreams may read different copies of it.
func topLevel(obj gjson.Result, watched map[string]bool, fn func(key string, v gjson.Result) error) error {
	var seen map[string]bool
	var err error
	obj.ForEach(func(k, v gjson.Result) bool {
		key := k.Str
		if watched[key] {
			if seen[key] {
				err = badRequest("duplicate key %q in the request body", key)
				return false
			}
			if seen == nil {
				seen = map[string]bool{}
			}
			seen[key] = true
		}
		err = fn(key, v)
		return err == nil
	})
	return err
}

// tokensValue reads a non-negative integer token count.
func tokensValue(key string, v gjson.Result) (core.Tokens, error) {
	if v.Type != gjson.Number {
		return 0, badRequest("%s must be a number, got %s", key, v.Raw)
	}
	n, err := strconv.ParseInt(v.Raw, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest("%s must be a non-negative integer, got %s", key, v.Raw)
	}
	return core.Tokens(n), nil
}

// rawBytes returns v's raw JSON as a byte slice aliasing the body.
func rawBytes(v gjson.Result) []byte {
	if v.Raw == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(v.Raw), len(v.Raw))
}

func trimLeftSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// edit replaces n bytes at offset at with val; n == 0 inserts.
type edit struct {
	at, n int
	val   string
}

// applyEdits applies non-overlapping edits to body in one new slice. Edits that
// fall outside the body or overlap are an error, never a panic.
func applyEdits(body []byte, edits []edit) ([]byte, error) {
	if len(edits) == 0 {
		return body, nil
	}
	size := len(body)
	for _, e := range edits {
		size += len(e.val) - e.n
	}
	// Edits are few; sort by offset with insertion sort.
	for i := 1; i < len(edits); i++ {
		for j := i; j > 0 && edits[j].at < edits[j-1].at; j-- {
			edits[j], edits[j-1] = edits[j-1], edits[j]
		}
	}
	prev := 0
	for _, e := range edits {
		if e.at < prev || e.n < 0 || e.at+e.n > len(body) {
			return nil, fmt.Errorf("rewrite the request body: edit at %d+%d outside %d bytes", e.at, e.n, len(body))
		}
		prev = e.at + e.n
	}
	out := make([]byte, 0, size)
	prev = 0
	for _, e := range edits {
		out = append(out, body[prev:e.at]...)
		out = append(out, e.val...)
		prev = e.at + e.n
	}
	return append(out, body[prev:]...), nil
}

// firstMember returns the offset just inside the top-level object's opening brace and
// whether the object has members, for inserting a new first member.
func firstMember(body []byte) (at int, nonEmpty bool) {
	i := 0
	for body[i] != '{' {
		i++
	}
	rest := trimLeftSpace(body[i+1:])
	return i + 1, len(rest) > 0 && rest[0] != '}'
}

// insertion returns the edit that adds "key":val as the first top-level member.
func insertion(body []byte, key, val string) edit {
	at, nonEmpty := firstMember(body)
	member := strconv.Quote(key) + ":" + val
	if nonEmpty {
		member += ","
	}
	return edit{at: at, val: member}
}
