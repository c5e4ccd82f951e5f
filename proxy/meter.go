package proxy

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/pricing"
)

// Recorder keeps the record of every metered or refused call. *journal.Writer
// satisfies it.
type Recorder interface {
	Append(ctx context.Context, r journal.Record) error
}

var _ Recorder = (*journal.Writer)(nil)

// Response headers and trailers.
const (
	HeaderCost      = "X-CostPlan-Cost"
	HeaderRemaining = "X-CostPlan-Budget-Remaining"
	HeaderRefusal   = "X-CostPlan-Refusal"
)

// Defaults of Meter's zero fields.
const (
	DefaultMaxBody = 32 << 20
	// maxResponseBody bounds a non-streamed response read to find its usage.
	maxResponseBody = 64 << 20
)

// Meter is an http.RoundTripper that enforces a budget on every call it carries:
// it reserves the worst case before the request leaves, clamps the output limit to
// what the budget can pay, reads the usage from the response or stream as it passes,
// settles the real cost and journals the call. Requests for free endpoints pass
// through; billable requests it cannot meter are refused. The proxy's Handler uses a
// Meter as its transport; programs use it with the official SDKs through
// http.Client{Transport: meter}.
//
// Ledger and Prices are required. Meter is safe for concurrent use.
type Meter struct {
	// Ledger holds the budget.
	Ledger *core.Ledger
	// Prices resolves and prices models.
	Prices *pricing.Table
	// Estimator counts input tokens; nil means a new one on first use.
	Estimator *pricing.Estimator
	// Recorder journals calls; nil means no journal.
	Recorder Recorder
	// Transport sends requests upstream; nil means a clone of http.DefaultTransport.
	Transport http.RoundTripper
	// Session identifies the session in journal records.
	Session string
	// BudgetKey names a shared budget in journal records; empty for none.
	BudgetKey string
	// MinOutput is the smallest output grant worth sending; zero means 1024 tokens.
	MinOutput core.Tokens
	// MaxBody is the largest request body accepted; zero means 32 MiB.
	MaxBody int64
	// Windows returns the time-window caps (daily, monthly) to honour; nil for none.
	Windows func(ctx context.Context) ([]core.Window, error)
	// Hint returns the advice appended to a refusal of limit; nil uses DefaultHint.
	Hint func(limit core.Limit) string
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	once       sync.Once
	est        *pricing.Estimator
	transport  http.RoundTripper
	log        *slog.Logger
	contexts   *contextSizes
	convs      *conversations
	inflight   sync.WaitGroup
	journalErr atomic.Pointer[string]
	// unjournaled is the cost of calls settled but not yet in the journal, which
	// time-window spend read from the journal cannot see yet.
	unjournaled atomic.Int64
}

// DefaultHint says how to raise each limit when CostPlan runs from its command line.
func DefaultHint(limit core.Limit) string {
	switch limit {
	case core.LimitPerCall:
		return "raise it with --per-call USD or [budget] per_call in costplan.toml, or ask for fewer output tokens"
	case core.LimitSession, core.LimitLocked:
		return "raise it with --session USD or [budget] session in costplan.toml and start a new session, or have the operator reset it (POST /v1/budget/reset with the admin token)"
	case core.LimitDaily:
		return "raise it with --daily USD or [budget] daily in costplan.toml"
	case core.LimitMonthly:
		return "raise it with --monthly USD or [budget] monthly in costplan.toml"
	}
	return ""
}

func (m *Meter) init() {
	m.once.Do(func() {
		m.est = m.Estimator
		if m.est == nil {
			m.est = pricing.NewEstimator()
		}
		m.transport = m.Transport
		if m.transport == nil {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.MaxIdleConnsPerHost = 64
			m.transport = t
		}
		m.log = m.Logger
		if m.log == nil {
			m.log = slog.New(slog.DiscardHandler)
		}
		m.contexts = newContextSizes(4096)
		m.convs = newConversations(4096)
	})
}

func (m *Meter) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Wait blocks until every call in flight has settled, or ctx ends.
func (m *Meter) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { m.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RoundTrip implements http.RoundTripper.
func (m *Meter) RoundTrip(req *http.Request) (*http.Response, error) {
	m.init()
	rt, ok := routeFrom(req.Context())
	if !ok {
		rt = classify(req, apiPath(req.URL.Path))
	}
	switch rt.kind {
	case routeFree:
		return m.transport.RoundTrip(req)
	case routeMetered:
		return m.metered(req, rt.adapter)
	case routeWebSocket:
		return m.reply(req, errorShape(rt.provider), http.StatusUpgradeRequired, "websocket_not_supported",
			"costplan meters the Responses API over HTTP only; the WebSocket upgrade is refused so that the client uses HTTP", ""), nil
	}
	if req.Body != nil {
		req.Body.Close()
	}
	return m.reply(req, errorShape(rt.provider), http.StatusNotFound, "costplan_unmetered_route",
		fmt.Sprintf("costplan does not forward %s %s: only metered and free endpoints pass (POST /v1/messages, /v1/chat/completions, /v1/responses; token counting and model lists)", req.Method, req.URL.Path), ""), nil
}

// errorShape returns an adapter that writes errors in provider's shape.
func errorShape(provider string) adapter {
	if provider == journal.ProviderOpenAI {
		return openaiChat{}
	}
	return anthropicMessages{}
}

// reply builds a response of CostPlan's own with an error body in a's shape. It is
// never retried by the official SDKs (x-should-retry: false).
func (m *Meter) reply(req *http.Request, a adapter, status int, code, msg, refusal string) *http.Response {
	body := a.errorBody(status, code, msg)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Should-Retry", "false")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if refusal != "" {
		h.Set(HeaderRefusal, refusal)
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}
}

// readBody reads and decodes a request body, bounded by MaxBody.
func (m *Meter) readBody(req *http.Request) ([]byte, int, error) {
	limit := m.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	if req.Body == nil {
		return nil, http.StatusBadRequest, errors.New("the request has no body")
	}
	defer req.Body.Close()
	if req.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the request body is %d bytes, over the %d-byte limit (raise it with --max-body or [proxy] max_body)", req.ContentLength, limit)
	}
	var r io.Reader = req.Body
	switch enc := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("the gzip request body is corrupt: %w", err)
		}
		r = zr
	case "deflate":
		r = flate.NewReader(req.Body)
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("the request body is compressed with %q, which costplan cannot read to meter it; send it uncompressed, gzip or deflate", enc)
	}
	var body []byte
	var err error
	if r == req.Body && req.ContentLength > 0 {
		// The size is known: read into one buffer instead of growing one.
		body = make([]byte, req.ContentLength)
		var n int
		n, err = io.ReadFull(r, body)
		body = body[:n]
		if err == nil {
			var one [1]byte
			if m, _ := r.Read(one[:]); m > 0 {
				return nil, http.StatusBadRequest, errors.New("the request body is longer than its Content-Length")
			}
		}
	} else {
		body, err = io.ReadAll(io.LimitReader(r, limit+1))
	}
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("read the request body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the request body is over the %d-byte limit (raise it with --max-body or [proxy] max_body)", limit)
	}
	return body, 0, nil
}

// metered carries one billable call.
func (m *Meter) metered(req *http.Request, a adapter) (*http.Response, error) {
	c := &callState{m: m, a: a, start: m.now(), req: req}
	body, status, err := m.readBody(req)
	if err != nil {
		return m.badRequest(req, c, status, err), nil
	}
	r, err := a.inspect(body)
	if err != nil {
		return m.badRequest(req, c, http.StatusBadRequest, err), nil
	}
	c.r = r
	res, err := m.Prices.Lookup(r.model)
	if err != nil {
		_ = m.Ledger.Refuse(req.Context())
		c.refuse(http.StatusBadRequest, "unknown_model", err)
		return m.reply(req, a, http.StatusBadRequest, "costplan_unknown_model", "costplan: "+err.Error(), "unknown_model"), nil
	}
	c.res = res
	if msg := m.journalErr.Load(); msg != nil {
		// The journal could not be written: fail closed rather than spend unrecorded.
		// This refusal's own line is the probe; once it is written, calls flow again.
		c.refuse(http.StatusServiceUnavailable, "journal", errors.New(*msg))
		return m.reply(req, a, http.StatusServiceUnavailable, "costplan_journal_unwritable",
			"costplan: calls are refused until the journal can be written: "+*msg, "journal"), nil
	}
	grant, err := m.reserve(req.Context(), c)
	if err != nil {
		return m.refusal(req, c, err), nil
	}
	c.grant = grant
	if rep := reportFrom(req.Context()); rep != nil {
		rep.Model, rep.PriceModel, rep.Note = r.model, res.Model.Name, res.Note
		rep.InputEstimate, rep.Reserved, rep.Granted = c.inputEstimate, grant.Amount, grant.Tokens
	}
	m.inflight.Add(1)
	if body, err = a.rewrite(body, r, grant.Tokens); err != nil {
		c.upstreamFailed(err)
		return m.reply(req, a, http.StatusInternalServerError, "costplan_rewrite_failed", "costplan: "+err.Error(), ""), nil
	}
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	out.Header.Set("Content-Length", strconv.Itoa(len(body)))
	out.Header.Del("Content-Encoding")
	out.Header.Del("Accept-Encoding") // the transport asks for gzip and decodes it
	resp, err := m.transport.RoundTrip(out)
	c.ttfb = m.now()
	if err != nil {
		c.upstreamFailed(err)
		if req.Context().Err() != nil {
			return nil, err
		}
		return m.reply(req, a, http.StatusBadGateway, "costplan_upstream_unreachable",
			"costplan: the upstream could not be reached: "+err.Error(), ""), nil
	}
	return c.response(resp)
}

// badRequest refuses a request CostPlan cannot read, and journals the refusal.
func (m *Meter) badRequest(req *http.Request, c *callState, status int, err error) *http.Response {
	_ = m.Ledger.Refuse(req.Context())
	c.refuse(status, "bad_request", err)
	return m.reply(req, c.a, status, "costplan_bad_request", "costplan: "+err.Error(), "bad_request")
}

// reserve estimates the call's worst case and holds it in the ledger.
func (m *Meter) reserve(ctx context.Context, c *callState) (core.Grant, error) {
	model, r := c.res.Model, c.r
	est := m.est.CountPrompt(pricing.Encoding(model.Encoding), r.prompt)
	c.rawEstimate = est.Tokens
	c.convKey = m.convs.key(r.prompt, model.Name)
	tokens, cached := m.convs.bound(c.convKey, est.Tokens, m.now())
	if model.ContextWindow > 0 {
		tokens = min(tokens, model.ContextWindow) // the API refuses anything larger
	}
	switch {
	case r.previousResponse != "":
		if n, ok := m.contexts.get(r.previousResponse); ok {
			tokens += n
		} else {
			tokens = max(tokens, model.ContextWindow)
		}
	case r.statefulContext:
		tokens = max(tokens, model.ContextWindow)
	}
	c.inputEstimate = tokens
	input, rate := pricing.InputBoundCached(model, tokens, cached, r.inputKind)
	var windows []core.Window
	if m.Windows != nil {
		var err error
		if windows, err = m.Windows(ctx); err != nil {
			return core.Grant{}, fmt.Errorf("read the time-window spend: %w", err)
		}
		for i := range windows {
			windows[i].Spent += core.Money(m.unjournaled.Load())
		}
	}
	minOut := m.MinOutput
	if minOut <= 0 {
		minOut = core.DefaultMinOutput
	}
	return m.Ledger.Reserve(ctx, core.ReserveRequest{
		Input: input, OutputRate: rate * core.Money(r.choices), Requested: r.requested,
		ModelMax: model.MaxOutput, MinOutput: c.a.minOutput(r, minOut), Windows: windows,
	})
}

// refusal answers a call the budget cannot pay.
func (m *Meter) refusal(req *http.Request, c *callState, err error) *http.Response {
	var be *core.BudgetError
	if !errors.As(err, &be) {
		c.refuse(http.StatusServiceUnavailable, "store", err)
		return m.reply(req, c.a, http.StatusServiceUnavailable, "costplan_budget_unavailable",
			"costplan: the budget cannot be checked, so the call is refused: "+err.Error(), "store")
	}
	hint := DefaultHint
	if m.Hint != nil {
		hint = m.Hint
	}
	msg := "costplan: " + be.Error()
	if h := hint(be.Limit); h != "" {
		msg += "; " + h
	}
	if rep := reportFrom(req.Context()); rep != nil {
		rep.Model, rep.Refusal = c.r.model, be
		if c.res.Model != nil {
			rep.PriceModel = c.res.Model.Name
		}
	}
	c.refuse(http.StatusTooManyRequests, string(be.Limit), err)
	resp := m.reply(req, c.a, http.StatusTooManyRequests, "costplan_budget_exceeded", msg, string(be.Limit))
	if snap, err := m.Ledger.Snapshot(req.Context()); err == nil {
		resp.Header.Set(HeaderRemaining, snap.Remaining.Decimal())
	}
	return resp
}

// recordJournalError remembers that the journal failed, so later calls are refused,
// and logs the figures of the record that was lost so its spend stays on record.
func (m *Meter) recordJournalError(err error, rec journal.Record) {
	msg := err.Error()
	m.journalErr.Store(&msg)
	m.log.Error("journal append failed; refusing calls until it works", "err", err,
		"session", rec.Session, "model", rec.Model, "outcome", rec.Outcome, "status", rec.Status,
		"cost_usd", rec.Cost.Decimal(), "estimated", rec.Estimated)
}

// contextSizes remembers the context size of recent Responses API responses, so a
// request with previous_response_id is reserved for the context the server holds.
type contextSizes struct {
	mu    sync.Mutex // guards the following fields
	sizes map[string]core.Tokens
	order []string
	limit int
}

func newContextSizes(limit int) *contextSizes {
	return &contextSizes{sizes: map[string]core.Tokens{}, limit: limit}
}

func (s *contextSizes) put(id string, n core.Tokens) {
	if id == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sizes[id]; !ok {
		s.order = append(s.order, id)
		if len(s.order) > s.limit {
			delete(s.sizes, s.order[0])
			s.order = s.order[1:]
		}
	}
	s.sizes[id] = n
}

func (s *contextSizes) get(id string) (core.Tokens, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.sizes[id]
	return n, ok
}
