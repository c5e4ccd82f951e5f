package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/costplan/costplan/core"
)

// Reserve implements core.Store: it holds the worst case of a call under the session,
// per-call, request-window and shared-window limits, in one script, with the grant
// core.DecideGrant computes (a call that asks for no output limit, on a model
// without one, asks for at most 2^52 tokens). Figures beyond MaxAmount and MaxRate
// are an error.
func (s *Store) Reserve(ctx context.Context, req core.ReserveRequest) (core.Grant, core.EventKind, error) {
	if err := checkRequest(req); err != nil {
		return core.Grant{}, 0, err
	}
	if local, err := s.unavailable(); err != nil {
		if local == nil {
			return core.Grant{}, 0, err
		}
		return s.reserveLocally(ctx, local, req)
	}
	id := s.newID()
	wins := s.windows(s.now())
	keys, args := s.reserveArgs(id, req, wins)
	r, err := s.run(ctx, reserveScript, keys, args...)
	if err != nil {
		if local := s.failed(ctx, err); local != nil {
			s.queue(pendingOp{id: id, release: true})
			return s.reserveLocally(ctx, local, req)
		}
		if errors.Is(err, ErrUnavailable) {
			s.queue(pendingOp{id: id, release: true}) // in case the hold was made
		}
		return core.Grant{}, 0, err
	}
	ev := s.observe(r, 0)
	if r.code != codeDone {
		return core.Grant{}, ev, s.refusal(r, req, wins)
	}
	tokens, amount := core.Tokens(r.int(0)), r.money(1)
	s.mu.Lock()
	s.holds[id] = hold{amount: amount}
	s.mu.Unlock()
	return core.Grant{ID: id, Tokens: tokens, Amount: amount, Remaining: s.remaining(r)}, ev, nil
}

// reserveArgs lays out the keys and arguments of the reserve script.
func (s *Store) reserveArgs(id string, req core.ReserveRequest, wins []window) ([]string, []any) {
	b := req.Bounds()
	want := b.Want
	if want == 0 && req.OutputRate > 0 || want > maxTokens {
		want = maxTokens // as much as the money pays for; never more than this fits
	}
	floor := min(b.Floor, maxTokens)
	args := []any{id, s.lease().Milliseconds(), s.remember().Milliseconds(), money(s.opts.Caps.Session),
		money(s.opts.Caps.PerCall), money(req.Input), money(req.OutputRate), strconv.FormatInt(int64(want), 10),
		strconv.FormatInt(int64(floor), 10), money(b.Needed), core.LockReasonSpent, len(req.Windows)}
	for _, w := range req.Windows {
		args = append(args, money(w.Cap), money(w.Spent))
	}
	args = append(args, len(wins))
	for _, w := range wins {
		args = append(args, money(w.cap))
	}
	return s.keysWith(wins), args
}

// refusal turns a refused reserve's reply into the BudgetError the in-memory store
// would give.
func (s *Store) refusal(r reply, req core.ReserveRequest, wins []window) error {
	limit, cp, spent, reserved := r.str(0), r.money(1), r.money(2), r.money(3)
	if limit == "locked" {
		return &core.BudgetError{Limit: core.LimitLocked, Cap: cp, Spent: spent, LockReason: r.reason}
	}
	e := &core.BudgetError{Cap: cp, Spent: spent, Reserved: reserved, Needed: req.Bounds().Needed}
	switch {
	case limit == "session":
		e.Limit = core.LimitSession
	case limit == "per_call":
		e.Limit = core.LimitPerCall
	case len(limit) > 1 && limit[0] == 'r':
		i, _ := strconv.Atoi(limit[1:])
		w := req.Windows[i-1]
		e.Limit, e.ResetsAt = w.Name, w.ResetsAt
	case len(limit) > 1 && limit[0] == 's':
		i, _ := strconv.Atoi(limit[1:])
		w := wins[i-1]
		e.Limit, e.ResetsAt = w.name, w.resets
	default:
		return fmt.Errorf("budget store %s: unknown limit %q in reply", s.name, limit)
	}
	return e
}

// checkRequest refuses figures beyond what the scripts compute with exactly.
func checkRequest(req core.ReserveRequest) error {
	if req.Input < 0 || req.Input > MaxAmount || req.OutputRate < 0 || req.OutputRate > MaxRate {
		return fmt.Errorf("reserve: input bound %s or output price %s per million tokens is outside what a shared budget can count (at most %s and %s)",
			req.Input, req.OutputRate, MaxAmount, MaxRate)
	}
	for _, w := range req.Windows {
		if w.Cap < 0 || w.Cap > MaxAmount || w.Spent < 0 || w.Spent > 2*MaxAmount {
			return fmt.Errorf("reserve: %s window of %s with %s spent is outside what a shared budget can count", w.Name, w.Cap, w.Spent)
		}
	}
	return nil
}

// Settle implements core.Store. Settling a settled reservation again returns the
// first settlement and changes nothing; settling a released or unknown one is
// core.ErrUnknownReservation. A reservation whose lease ran out (its process could
// not reach Redis to renew it) is still settled: the cost counts. When Redis cannot
// be reached the settlement is kept and sent when it answers again; the result then
// reflects what this process knows.
func (s *Store) Settle(ctx context.Context, id string, actual core.Money) (core.Settlement, core.EventKind, error) {
	if actual < 0 {
		return core.Settlement{}, 0, fmt.Errorf("settle %s: negative cost %s", id, actual)
	}
	s.mu.Lock()
	h, mine := s.holds[id]
	s.mu.Unlock()
	if mine && h.local != nil {
		return s.settleLocally(ctx, id, h, actual)
	}
	if _, err := s.unavailable(); err != nil {
		if !mine {
			return core.Settlement{}, 0, fmt.Errorf("settle %s: %w", id, err)
		}
		return s.settleLater(id, h, actual), violation(h.amount, actual), nil
	}
	adopt := int64(-1)
	if mine {
		adopt = int64(h.amount)
	}
	keys, args := s.settleArgs(id, actual, adopt, s.now())
	r, err := s.run(ctx, settleScript, keys, args...)
	if err != nil {
		if !mine || !errors.Is(err, ErrUnavailable) {
			return core.Settlement{}, 0, fmt.Errorf("settle %s: %w", id, err)
		}
		s.failed(ctx, err)
		return s.settleLater(id, h, actual), violation(h.amount, actual), nil
	}
	s.forget(id)
	switch r.code {
	case codeUnknown:
		return core.Settlement{}, s.observe(r, 0), fmt.Errorf("settle %s: %w", id, core.ErrUnknownReservation)
	case codeOther:
		return core.Settlement{}, s.observe(r, 0), fmt.Errorf("settle %s: released before: %w", id, core.ErrUnknownReservation)
	}
	events := core.EventKind(0)
	if r.code == codeDone && r.int(2)&4 != 0 {
		events = core.EventViolation
	}
	st := core.Settlement{Reserved: r.money(0), Actual: r.money(1), Remaining: s.remaining(r)}
	if st.Actual > st.Reserved {
		st.Violation = st.Actual - st.Reserved
	}
	return st, s.observe(r, events), nil
}

// settleArgs lays out the keys and arguments of the settle script for a call
// settled at t, whose spend goes to the windows current at t.
func (s *Store) settleArgs(id string, actual core.Money, adopt int64, t time.Time) ([]string, []any) {
	wins := s.windows(t)
	args := []any{id, money(actual), s.remember().Milliseconds(), money(s.opts.Caps.Session), money(s.warnAt),
		adopt, reasonCapReached, len(wins)}
	for _, w := range wins {
		args = append(args, w.resets.Unix())
	}
	return s.keysWith(wins), args
}

// reasonCapReached is the lock reason when the settled spend reaches the cap, as
// the in-memory store gives it.
const reasonCapReached = "the session cap is reached"

func violation(held, actual core.Money) core.EventKind {
	if actual > held {
		return core.EventViolation
	}
	return 0
}

// Release implements core.Store. Releasing a released (or reclaimed) reservation
// again changes nothing; releasing a settled or unknown one is
// core.ErrUnknownReservation. When Redis cannot be reached the release is sent when
// it answers again (the lease returns the money meanwhile).
func (s *Store) Release(ctx context.Context, id string) error {
	s.mu.Lock()
	h, mine := s.holds[id]
	s.mu.Unlock()
	if mine && h.local != nil {
		s.forget(id)
		_ = h.local.Release(ctx, h.localID)
		return nil
	}
	if _, err := s.unavailable(); err != nil {
		if !mine {
			return fmt.Errorf("release %s: %w", id, err)
		}
		s.forget(id)
		s.queue(pendingOp{id: id, release: true, held: h.amount, counted: true})
		return nil
	}
	r, err := s.run(ctx, releaseScript, s.keys, id, s.remember().Milliseconds())
	if err != nil {
		if !mine || !errors.Is(err, ErrUnavailable) {
			return fmt.Errorf("release %s: %w", id, err)
		}
		s.failed(ctx, err)
		s.forget(id)
		s.queue(pendingOp{id: id, release: true, held: h.amount, counted: true})
		return nil
	}
	s.forget(id)
	s.observe(r, 0)
	switch r.code {
	case codeUnknown:
		return fmt.Errorf("release %s: %w", id, core.ErrUnknownReservation)
	case codeOther:
		return fmt.Errorf("release %s: settled before: %w", id, core.ErrUnknownReservation)
	}
	return nil
}

func (s *Store) forget(id string) {
	s.mu.Lock()
	delete(s.holds, id)
	s.mu.Unlock()
}

// Refuse implements core.Store. While Redis cannot be reached refusals are counted
// here and added later.
func (s *Store) Refuse(ctx context.Context) error {
	if _, err := s.unavailable(); err != nil {
		s.countRefusal()
		return nil
	}
	tctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	if err := s.rdb.HIncrBy(tctx, s.keys[0], "refused", 1).Err(); err != nil {
		s.failed(ctx, s.storeError(err))
		s.countRefusal()
	}
	return nil
}

// Lock implements core.Store. It returns EventLock when it locks the budget, and
// when the budget was locked by another process and this one had not yet said so.
func (s *Store) Lock(ctx context.Context, reason string) (core.EventKind, error) {
	if _, err := s.unavailable(); err != nil {
		return 0, err
	}
	r, err := s.run(ctx, lockScript, s.keys, reason)
	if err != nil {
		s.failed(ctx, err)
		return 0, err
	}
	return s.observe(r, 0), nil
}

// Reset implements core.Store: the shared budget forgets what was spent, unlocks
// and re-arms its warning; calls in flight keep their reservations and the windows
// keep their spend. With an admin token in Options, the token registered for the
// budget must be the same one.
func (s *Store) Reset(ctx context.Context) (core.EventKind, error) {
	r, err := s.run(ctx, resetScript, s.keys, s.admin)
	if err != nil {
		s.failed(ctx, err)
		return 0, err
	}
	if r.code == codeToken {
		return 0, fmt.Errorf("budget store %s: the admin token is not the one registered for budget key %s", s.name, s.opts.Key)
	}
	s.observe(r, 0)
	return core.EventReset, nil
}

// Snapshot implements core.Store: the shared state, with this process's caps.
func (s *Store) Snapshot(ctx context.Context) (core.Snapshot, error) {
	if local, err := s.unavailable(); err != nil {
		if local == nil {
			return core.Snapshot{}, err
		}
		return s.localSnapshot(ctx, local)
	}
	if _, err := s.beat(ctx, nil); err != nil {
		if local := s.failed(ctx, err); local != nil {
			return s.localSnapshot(ctx, local)
		}
		return core.Snapshot{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, nil
}

// Windows returns the shared daily and monthly windows with their spend in Redis;
// nil when none is configured.
func (s *Store) Windows(ctx context.Context) ([]core.Window, error) {
	wins := s.windows(s.now())
	if len(wins) == 0 {
		return nil, nil
	}
	if _, err := s.Snapshot(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]core.Window, len(wins))
	for i, w := range wins {
		out[i] = core.Window{Name: w.name, Cap: w.cap, ResetsAt: w.resets}
		if i < len(s.lastWindows) {
			out[i].Spent = s.lastWindows[i]
		}
	}
	return out, nil
}

// remaining is what the session has left after r, by this process's cap.
func (s *Store) remaining(r reply) core.Money {
	return max(s.opts.Caps.Session-r.spent-r.reserved, 0)
}
