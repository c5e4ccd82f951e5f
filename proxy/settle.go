package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tidwall/gjson"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/internal/sse"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/pricing"
)

// callState is one metered call from inspection to its journal line.
type callState struct {
	m     *Meter
	a     adapter
	req   *http.Request
	r     *request
	res   pricing.Resolution
	grant core.Grant

	start, ttfb   time.Time
	inputEstimate core.Tokens
	// requestID is the upstream's id of the call (request-id or x-request-id).
	requestID string
	// rawEstimate is the offline estimate before calibration; convKey the
	// conversation it belongs to.
	rawEstimate core.Tokens
	convKey     uint64

	once sync.Once
	// set by finish
	cost      core.Money
	remaining core.Money
}

// refuse journals a call refused before it left.
func (c *callState) refuse(status int, reason string, err error) {
	rec := c.record(journal.OutcomeRefused, status)
	rec.Refusal = reason
	rec.Error = err.Error()
	c.append(rec)
}

// upstreamFailed releases the reservation of a call whose upstream could not be
// reached, and journals it.
func (c *callState) upstreamFailed(err error) {
	c.once.Do(func() {
		defer c.m.inflight.Done()
		_ = c.m.Ledger.Release(context.WithoutCancel(c.req.Context()), c.grant.ID)
		outcome, status := journal.OutcomeUpstreamError, http.StatusBadGateway
		if c.req.Context().Err() != nil {
			outcome, status = journal.OutcomeAborted, 499
		}
		rec := c.record(outcome, status)
		rec.Error = err.Error()
		c.append(rec)
	})
}

// response meters the upstream's answer.
func (c *callState) response(resp *http.Response) (*http.Response, error) {
	c.requestID = resp.Header.Get("Request-Id")
	if c.requestID == "" {
		c.requestID = resp.Header.Get("X-Request-Id")
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Upstream errors pass through unchanged and are not charged.
		c.once.Do(func() {
			defer c.m.inflight.Done()
			_ = c.m.Ledger.Release(context.WithoutCancel(c.req.Context()), c.grant.ID)
			c.append(c.record(journal.OutcomeUpstreamError, resp.StatusCode))
		})
		return resp, nil
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/event-stream" {
		return c.stream(resp), nil
	}
	return c.whole(resp)
}

// whole reads a complete JSON response, settles it and sets the cost headers.
func (c *callState) whole(resp *http.Response) (*http.Response, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	resp.Body.Close()
	if err != nil {
		// The client gets no part of this response: the Handler answers 502.
		status := http.StatusBadGateway
		if c.req.Context().Err() != nil {
			status = 499
		}
		c.finish(status, core.Usage{}, false, nil, journal.OutcomeAborted, err)
		return nil, err
	}
	u, ok := c.a.usage(body)
	if ok {
		if _, isResp := c.a.(openaiResponses); isResp {
			c.m.contexts.put(gjson.GetBytes(body, "id").Str, u.TotalInput()+u.OutputTokens)
		}
	}
	c.finish(resp.StatusCode, u, ok, nil, journal.OutcomeOK, nil)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Encoding")
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp.Header.Set(HeaderCost, c.cost.Decimal())
	resp.Header.Set(HeaderRemaining, c.remaining.Decimal())
	return resp, nil
}

// stream wraps a streamed response so its usage is read as events pass; the cost
// and remaining budget arrive as trailers.
func (c *callState) stream(resp *http.Response) *http.Response {
	if resp.Trailer == nil {
		resp.Trailer = http.Header{}
	}
	resp.Trailer[http.CanonicalHeaderKey(HeaderCost)] = nil
	resp.Trailer[http.CanonicalHeaderKey(HeaderRemaining)] = nil
	resp.Header.Set(HeaderRemaining, c.grant.Remaining.Decimal())
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	resp.Body = &meteredStream{c: c, src: resp.Body, tap: c.a.newTap(c.r), resp: resp, buf: make([]byte, 32<<10)}
	return resp
}

// finish settles the call once: the real cost when usage is complete, otherwise an
// estimate from what was seen; then the journal line.
func (c *callState) finish(status int, u core.Usage, complete bool, out *outputText, outcome string, cause error) {
	c.once.Do(func() {
		defer c.m.inflight.Done()
		estimated := !complete
		if !complete {
			u = c.estimateUsage(u, out)
		} else if c.r.previousResponse == "" && !c.r.statefulContext {
			c.m.convs.learn(c.convKey, c.rawEstimate, u, c.m.now())
		}
		cost, _ := pricing.Cost(c.res.Model, u)
		c.m.unjournaled.Add(int64(cost))
		defer c.m.unjournaled.Add(-int64(cost))
		ctx := context.WithoutCancel(c.req.Context())
		st, err := c.m.Ledger.Settle(ctx, c.grant.ID, cost)
		if err != nil {
			c.m.log.Error("settle", "err", err)
		}
		c.cost, c.remaining = cost, st.Remaining
		if rep := reportFrom(c.req.Context()); rep != nil {
			rep.Usage, rep.Cost, rep.Estimated, rep.Violation, rep.Remaining, rep.Settled = u, cost, estimated, st.Violation, st.Remaining, true
		}
		rec := c.record(outcome, status)
		rec.Usage, rec.Cost, rec.Estimated, rec.Violation = u, cost, estimated, st.Violation
		if cause != nil && !errors.Is(cause, io.EOF) {
			rec.Error = cause.Error()
		}
		c.append(rec)
	})
}

// estimateUsage completes the usage of a call that ended early or reported none:
// input from what the response said, else from the request estimate; output from
// the generated text seen (out), never above the grant, or the whole grant when no
// text could be seen (out is nil).
func (c *callState) estimateUsage(u core.Usage, out *outputText) core.Usage {
	if u.TotalInput() == 0 {
		u.InputTokens = c.inputEstimate
	}
	limit := c.grant.Tokens * core.Tokens(c.r.choices)
	if out == nil {
		// A complete answer that reported no usage: its output cannot be seen, so
		// it is charged at the most the grant allowed.
		u.OutputTokens = limit
		return u
	}
	n := core.Tokens(out.extra)
	if len(out.text) > 0 {
		t, _ := c.m.est.CountText(pricing.Encoding(c.res.Model.Encoding), string(out.text))
		n += t
	}
	u.OutputTokens = min(max(u.OutputTokens, n), limit)
	return u
}

// record fills a journal record with what is known of the call.
func (c *callState) record(outcome string, status int) journal.Record {
	rec := journal.Record{
		Type: journal.TypeCall, Session: c.m.Session, Provider: c.a.provider(), API: c.a.api(),
		Status: status, Outcome: outcome, Reserved: c.grant.Amount, MaxTokensGranted: c.grant.Tokens,
		Client: c.req.Header.Get("User-Agent"), BudgetKey: c.m.BudgetKey, RequestID: c.requestID,
	}
	if c.r != nil {
		rec.Model, rec.Stream, rec.MaxTokensRequested = c.r.model, c.r.stream, c.r.requested
	}
	if c.res.Model != nil {
		rec.PriceModel, rec.Fallback = c.res.Model.Name, c.res.Fallback()
	}
	now := c.m.now()
	rec.TS = now
	rec.LatencyMS = now.Sub(c.start).Milliseconds()
	if !c.ttfb.IsZero() {
		rec.TTFBMS = c.ttfb.Sub(c.start).Milliseconds()
	}
	return rec
}

func (c *callState) append(rec journal.Record) {
	if c.m.Recorder == nil {
		return
	}
	if err := c.m.Recorder.Append(context.WithoutCancel(c.req.Context()), rec); err != nil {
		c.m.recordJournalError(err, rec)
		return
	}
	if c.m.journalErr.Load() != nil {
		c.m.journalErr.Store(nil)
		c.m.log.Info("journal writable again; calls are accepted")
	}
}

// meteredStream passes a server-sent event stream to the client event by event,
// reading usage on the way, and settles the call when the stream ends, breaks or
// is abandoned by the client.
type meteredStream struct {
	c    *callState
	src  io.ReadCloser
	tap  tap
	resp *http.Response
	buf  []byte

	split sse.Splitter
	out   []byte
	off   int
	err   error
}

func (s *meteredStream) Read(p []byte) (int, error) {
	for s.off == len(s.out) {
		s.out, s.off = s.out[:0], 0
		if s.err != nil {
			s.end(s.err)
			return 0, s.err
		}
		n, err := s.src.Read(s.buf)
		if n > 0 {
			s.split.Push(s.buf[:n], s.forward)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				s.split.Flush(s.forward)
			}
			s.err = err
		}
	}
	n := copy(p, s.out[s.off:])
	s.off += n
	return n, nil
}

func (s *meteredStream) forward(ev *sse.Event) {
	if b := s.tap.event(ev); b != nil {
		s.out = append(s.out, b...)
	}
}

// end settles the call when the upstream stream ends or breaks.
func (s *meteredStream) end(err error) {
	u, complete := s.tap.result()
	if (complete || s.tap.failed()) && !errors.Is(err, io.EOF) {
		// The final event or an error event arrived: a read that fails after it (a
		// client that leaves once it has the whole stream cancels the upstream
		// request) cuts nothing short.
		err = io.EOF
	}
	outcome := journal.OutcomeOK
	switch {
	case s.tap.failed():
		// An error event ends the stream; a read that fails after it (the client
		// leaves on the error) does not make it an abort.
		outcome = journal.OutcomeUpstreamError
	case !errors.Is(err, io.EOF):
		outcome = journal.OutcomeAborted
	}
	if r, ok := s.tap.(*responsesTap); ok && complete {
		s.c.m.contexts.put(r.id, u.TotalInput()+u.OutputTokens)
	}
	s.c.finish(s.resp.StatusCode, u, complete && outcome != journal.OutcomeAborted, s.tap.output(), outcome, err)
	s.trailers()
}

func (s *meteredStream) trailers() {
	s.resp.Trailer.Set(HeaderCost, s.c.cost.Decimal())
	s.resp.Trailer.Set(HeaderRemaining, s.c.remaining.Decimal())
}

// errClientClosed is the cause of a stream the client closed before its end.
var errClientClosed = errors.New("the client closed the stream early")

// Close settles the stream: as read to the end when the final event passed or the
// upstream had ended (the OpenAI SDKs close the body at [DONE], before its end), as
// cut short otherwise. After end has run, it changes nothing.
func (s *meteredStream) Close() error {
	err := s.src.Close()
	cause := s.err
	if cause == nil {
		cause = errClientClosed
	}
	s.end(cause)
	return err
}
