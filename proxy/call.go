package proxy

import (
	"errors"
	"fmt"
	"strconv"

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
	// nulls are output-limit keys sent as null, which set no limit.
	nulls []limitField
	// thinkingBudget is Anthropic's thinking.budget_tokens when thinking is enabled.
	thinkingBudget        core.Tokens
	thinkingAt, thinkingN int
	// choices is OpenAI chat's n (at least 1).
	choices int
	// includeUsage is true when an OpenAI chat client asked for the usage chunk.
	includeUsage bool
	hasStreamOpt bool
	// streamOptNull is true when stream_options was sent as null.
	streamOptNull bool
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
	if n == 0 {
		// Zero is no output at all; the providers refuse it, and a grant cannot apply.
		return badRequest("%s must be at least 1, got 0", key)
	}
	r.limits = append(r.limits, limitField{key: key, at: v.Index, n: len(v.Raw), asked: n})
	if r.requested == 0 || n < r.requested {
		r.requested = n
	}
	return nil
}

// addNullLimit records an output-limit key sent as null.
func (r *request) addNullLimit(key string, v gjson.Result) {
	r.nulls = append(r.nulls, limitField{key: key, at: v.Index, n: len(v.Raw)})
}

// limitEdits returns the edits that put grant into the body: lower every limit above
// it, or, when the client sent none, set insertField: in place of its null if it
// sent one (a second copy of the key would let the upstream read the null, no
// limit), else as a new member.
func (r *request) limitEdits(body []byte, grant core.Tokens) []edit {
	g := strconv.FormatInt(int64(grant), 10)
	if len(r.limits) == 0 {
		for _, l := range r.nulls {
			if l.key == r.insertField {
				return []edit{{l.at, l.n, g}}
			}
		}
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

// topLevel scans body (see scanBody) and calls fn for each top-level member. It
// refuses a duplicate of any key in watched, because clients and upstreams may read
// different copies of it. The arrays named in split come with their elements.
func topLevel(body []byte, watched, split map[string]bool, fn func(key string, v gjson.Result, m member) error) (*scanned, error) {
	sc, err := scanBody(body, split)
	if err != nil {
		return nil, err
	}
	var seen map[string]bool
	for _, m := range sc.members {
		if watched[m.key] {
			if seen[m.key] {
				return nil, badRequest("duplicate key %q in the request body", m.key)
			}
			if seen == nil {
				seen = map[string]bool{}
			}
			seen[m.key] = true
		}
		var v gjson.Result
		if m.elems == nil {
			v = m.result()
		}
		if err := fn(m.key, v, m); err != nil {
			return nil, err
		}
	}
	return sc, nil
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
		if e.at < prev || e.n < 0 || e.n > len(body)-e.at { // e.at >= prev >= 0: no overflow
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
