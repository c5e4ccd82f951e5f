package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/costplan/costplan/core"
)

// UnavailableError means the budget store could not be reached or did not answer
// in time. errors.Is(err, ErrUnavailable) holds for it.
type UnavailableError struct {
	// Store is the store's URL without its password; Key the budget's name.
	Store, Key string
	// Since is when the store stopped answering; zero for a first failure.
	Since time.Time
	// Err is the cause.
	Err error
}

func (e *UnavailableError) Error() string {
	msg := fmt.Sprintf("budget store %s (budget key %s) is unavailable", e.Store, e.Key)
	if !e.Since.IsZero() {
		msg += " since " + e.Since.Format("15:04:05")
	}
	return msg + ": " + e.Err.Error()
}

// Unwrap returns ErrUnavailable and the cause.
func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// pendingOp is a settle or a release to send once Redis answers again.
type pendingOp struct {
	id      string
	release bool
	actual  core.Money
	held    core.Money
	at      time.Time
	// counted says that Redis holds the reservation, so the shared state at the last
	// contact counts it as reserved.
	counted bool
}

// unavailable reports whether Redis is considered down. While it is, err says why
// and local is the in-process store to meter with (nil when failing closed).
func (s *Store) unavailable() (local *core.MemoryStore, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.down {
		return nil, nil
	}
	return s.local, &UnavailableError{Store: s.name, Key: s.opts.Key, Since: s.downSince, Err: s.downErr}
}

// failed marks Redis down after err, unless ctx ended (the caller gave up, the store
// did not fail). With FailOpen it returns the in-process store to meter with.
func (s *Store) failed(ctx context.Context, err error) *core.MemoryStore {
	if ctx.Err() != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ue, ok := err.(*UnavailableError); ok {
		err = ue.Err
	}
	s.downErr = err
	if s.down {
		return s.local
	}
	s.down, s.downSince = true, time.Now()
	if s.opts.FailOpen {
		s.local = s.newLocal()
		s.log.Warn("budget store unavailable; metering locally within what was left at the last contact",
			"store", s.name, "budget_key", s.opts.Key, "left", s.last.Remaining, "err", err)
	} else {
		s.log.Warn("budget store unavailable; refusing calls until it answers", "store", s.name,
			"budget_key", s.opts.Key, "err", err)
	}
	return s.local
}

// recovered marks Redis up again.
func (s *Store) recovered() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		s.down, s.local, s.downErr = false, nil, nil
		s.log.Info("budget store answers again", "store", s.name, "budget_key", s.opts.Key,
			"down_for", time.Since(s.downSince).Round(time.Millisecond))
	}
}

// newLocal returns the in-process store for an outage: it can spend what the shared
// budget and its windows had left at the last contact, under the same per-call cap.
// Called with mu held.
func (s *Store) newLocal() *core.MemoryStore {
	left := s.last.Remaining
	for i, w := range s.windows(s.now()) {
		if i < len(s.lastWindows) {
			left = min(left, max(w.cap-s.lastWindows[i]-s.last.Reserved, 0))
		}
	}
	locked := s.last.Locked || left <= 0
	if locked {
		left = 1
	}
	local, _ := core.NewMemoryStore(core.Caps{Session: left, PerCall: s.opts.Caps.PerCall})
	if locked {
		_, _ = local.Lock(context.Background(), "the shared budget was spent or locked at the last contact with its store")
	}
	return local
}

// reserveLocally holds a call in the outage's in-process store.
func (s *Store) reserveLocally(ctx context.Context, local *core.MemoryStore, req core.ReserveRequest) (core.Grant, core.EventKind, error) {
	g, ev, err := local.Reserve(ctx, req)
	if be, ok := err.(*core.BudgetError); ok && (be.Limit == core.LimitSession || be.Limit == core.LimitLocked) {
		// Say it in the shared budget's figures, not the outage's share of it.
		if snap, serr := s.localSnapshot(ctx, local); serr == nil {
			be.Cap, be.Spent = snap.Session, snap.Spent
			be.Reserved = snap.Reserved
			if be.Limit == core.LimitLocked {
				be.Reserved = 0
			}
		}
	}
	if err != nil {
		return g, ev, err
	}
	id := s.newID() + "l"
	s.mu.Lock()
	s.holds[id] = hold{amount: g.Amount, local: local, localID: g.ID}
	s.mu.Unlock()
	g.ID = id
	return g, ev, nil
}

// settleLocally settles a call held in an outage's store and keeps its cost to add
// to Redis.
func (s *Store) settleLocally(ctx context.Context, id string, h hold, actual core.Money) (core.Settlement, core.EventKind, error) {
	st, ev, err := h.local.Settle(ctx, h.localID, actual)
	if err != nil {
		return st, ev, err
	}
	s.forget(id)
	s.queue(pendingOp{id: id, actual: actual, held: h.amount, at: s.now()})
	return st, ev, nil
}

// settleLater keeps the settlement of a call held in Redis to send once it answers.
func (s *Store) settleLater(id string, h hold, actual core.Money) core.Settlement {
	s.forget(id)
	s.queue(pendingOp{id: id, actual: actual, held: h.amount, at: s.now(), counted: true})
	s.log.Warn("budget store unavailable; settlement kept to send later", "store", s.name, "id", id, "cost", actual)
	st := core.Settlement{Reserved: h.amount, Actual: actual}
	if actual > h.amount {
		st.Violation = actual - h.amount
	}
	s.mu.Lock()
	st.Remaining = max(s.last.Remaining+h.amount-actual, 0)
	s.mu.Unlock()
	return st
}

// localSnapshot is the shared state at the last contact plus what happened here
// since: the outage's own calls and the settlements and releases not yet sent.
func (s *Store) localSnapshot(ctx context.Context, local *core.MemoryStore) (core.Snapshot, error) {
	ls, err := local.Snapshot(ctx)
	if err != nil {
		return core.Snapshot{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := s.last
	snap.Spent += ls.Spent
	snap.Reserved += ls.Reserved
	snap.Calls += ls.Calls
	snap.Refused += ls.Refused + s.refused
	snap.InFlight += ls.InFlight
	for _, op := range s.pending {
		if !op.counted {
			continue
		}
		snap.Reserved -= op.held
		snap.InFlight--
		if !op.release {
			snap.Spent += op.actual
			snap.Calls++
		}
	}
	snap.Remaining = max(snap.Session-snap.Spent-snap.Reserved, 0)
	if ls.Locked && !snap.Locked {
		snap.Locked, snap.LockReason = true, ls.LockReason
	}
	return snap, nil
}

func (s *Store) queue(op pendingOp) {
	s.mu.Lock()
	s.pending = append(s.pending, op)
	s.mu.Unlock()
}

func (s *Store) countRefusal() {
	s.mu.Lock()
	s.refused++
	s.mu.Unlock()
}

func (s *Store) hasPending() bool { return s.pendingCount() > 0 }

func (s *Store) pendingCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.pending)
	if s.refused > 0 {
		n++
	}
	return n
}

// flush sends the pending settles, releases and refusals in order, stopping at the
// first failure. Settles are idempotent by id, so one sent twice counts once.
func (s *Store) flush(ctx context.Context) error {
	for {
		s.mu.Lock()
		if len(s.pending) == 0 {
			s.mu.Unlock()
			break
		}
		op := s.pending[0]
		s.mu.Unlock()
		var r reply
		var err error
		if op.release {
			r, err = s.run(ctx, releaseScript, s.keys, op.id, s.remember().Milliseconds())
		} else {
			keys, args := s.settleArgs(op.id, op.actual, int64(op.held), op.at)
			r, err = s.run(ctx, settleScript, keys, args...)
		}
		if err != nil {
			return err
		}
		s.note(r)
		s.mu.Lock()
		s.pending = s.pending[1:]
		s.mu.Unlock()
	}
	s.mu.Lock()
	n := s.refused
	s.mu.Unlock()
	if n == 0 {
		return nil
	}
	tctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	if err := s.rdb.HIncrBy(tctx, s.keys[0], "refused", n).Err(); err != nil {
		return s.storeError(err)
	}
	s.mu.Lock()
	s.refused -= n
	s.mu.Unlock()
	return nil
}
