package core

import (
	"context"
	"fmt"
	"strconv"
	"sync"
)

// MemoryStore keeps a budget in this process. It is safe for concurrent use.
type MemoryStore struct {
	caps          Caps
	warnThreshold Money

	mu              sync.Mutex // guards the following fields
	spent           Money
	reserved        Money
	holds           map[string]Money
	nextID          uint64
	calls           int64
	refused         int64
	violations      int64
	violationAmount Money
	locked          bool
	lockReason      string
	warned          bool
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty in-memory budget with caps.
func NewMemoryStore(caps Caps) (*MemoryStore, error) {
	if err := caps.Validate(); err != nil {
		return nil, err
	}
	s := &MemoryStore{caps: caps, holds: map[string]Money{}}
	s.warnThreshold = caps.WarnThreshold()
	return s, nil
}

// Reserve implements Store.
func (s *MemoryStore) Reserve(_ context.Context, req ReserveRequest) (Grant, EventKind, error) {
	if err := req.Validate(); err != nil {
		return Grant{}, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locked {
		s.refused++
		return Grant{}, 0, &BudgetError{Limit: LimitLocked, Cap: s.caps.Session, Spent: s.spent, LockReason: s.lockReason}
	}
	b := bindingLimit(s.caps, s.spent, s.reserved, req.Windows)
	tokens, amount, needed, ok := DecideGrant(req, b.left)
	if !ok {
		s.refused++
		err := &BudgetError{Limit: b.limit, Cap: b.cap, Spent: b.spent, Reserved: b.reserved, Needed: needed}
		if b.window != nil {
			err.ResetsAt = b.window.ResetsAt
		}
		var ev EventKind
		if b.limit == LimitSession && s.caps.Session-s.spent < needed {
			// Even with every call in flight released, the session cannot pay: it is spent.
			s.locked, s.lockReason = true, LockReasonSpent
			ev = EventLock
		}
		return Grant{}, ev, err
	}
	s.nextID++
	id := strconv.FormatUint(s.nextID, 10)
	s.holds[id] = amount
	s.reserved += amount
	return Grant{ID: id, Tokens: tokens, Amount: amount, Remaining: s.remaining()}, 0, nil
}

// Settle implements Store.
func (s *MemoryStore) Settle(_ context.Context, id string, actual Money) (Settlement, EventKind, error) {
	if actual < 0 {
		return Settlement{}, 0, fmt.Errorf("settle %s: negative cost %s", id, actual)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	held, ok := s.holds[id]
	if !ok {
		return Settlement{}, 0, fmt.Errorf("settle %s: %w", id, ErrUnknownReservation)
	}
	delete(s.holds, id)
	s.reserved -= held
	s.spent += actual
	s.calls++
	var ev EventKind
	st := Settlement{Reserved: held, Actual: actual}
	if actual > held {
		st.Violation = actual - held
		s.violations++
		s.violationAmount += st.Violation
		ev |= EventViolation
	}
	if s.warnThreshold > 0 && !s.warned && s.spent >= s.warnThreshold {
		s.warned = true
		ev |= EventWarn
	}
	if !s.locked && s.spent >= s.caps.Session {
		s.locked, s.lockReason = true, "the session cap is reached"
		ev |= EventLock
	}
	st.Remaining = s.remaining()
	return st, ev, nil
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	held, ok := s.holds[id]
	if !ok {
		return fmt.Errorf("release %s: %w", id, ErrUnknownReservation)
	}
	delete(s.holds, id)
	s.reserved -= held
	return nil
}

// Refuse implements Store.
func (s *MemoryStore) Refuse(context.Context) error {
	s.mu.Lock()
	s.refused++
	s.mu.Unlock()
	return nil
}

// Lock implements Store.
func (s *MemoryStore) Lock(_ context.Context, reason string) (EventKind, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locked {
		return 0, nil
	}
	s.locked, s.lockReason = true, reason
	return EventLock, nil
}

// Reset implements Store.
func (s *MemoryStore) Reset(context.Context) (EventKind, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spent, s.calls, s.refused = 0, 0, 0
	s.violations, s.violationAmount = 0, 0
	s.locked, s.lockReason, s.warned = false, "", false
	return EventReset, nil
}

// Snapshot implements Store.
func (s *MemoryStore) Snapshot(context.Context) (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Snapshot{
		Session: s.caps.Session, PerCall: s.caps.PerCall, WarnAt: s.caps.WarnAt,
		Spent: s.spent, Reserved: s.reserved, Remaining: s.remaining(),
		Calls: s.calls, Refused: s.refused, InFlight: int64(len(s.holds)),
		Locked: s.locked, LockReason: s.lockReason, Warned: s.warned,
		Violations: s.violations, ViolationAmount: s.violationAmount,
	}, nil
}

func (s *MemoryStore) remaining() Money { return max(s.caps.Session-s.spent-s.reserved, 0) }
