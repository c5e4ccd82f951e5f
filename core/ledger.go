package core

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Default caps used when none are configured.
const (
	DefaultSession Money = 5 * Dollar
	DefaultPerCall Money = 1 * Dollar
	// DefaultWarnAt is the fraction of the session cap at which a warning fires.
	DefaultWarnAt = 0.8
	// DefaultMinOutput is the smallest output grant worth sending upstream.
	DefaultMinOutput Tokens = 1024
)

// Caps are the limits of one budget.
type Caps struct {
	// PerCall caps the worst-case cost of a single call; zero means no per-call cap.
	PerCall Money
	// Session caps the total of one session; it must be positive.
	Session Money
	// WarnAt is the fraction of Session at which a warning event fires, in (0, 1];
	// zero disables the warning.
	WarnAt float64
}

// LockReasonSpent is the lock reason when a refusal shows the settled spend leaves
// too little for a call.
const LockReasonSpent = "what is left cannot pay the least this call can cost"

// WarnThreshold returns the spend at which the warning fires: WarnAt × Session,
// rounded down, in integer arithmetic; zero when the warning is off.
func (c Caps) WarnThreshold() Money {
	if c.WarnAt <= 0 {
		return 0
	}
	return Money(MulDivFloor(int64(c.Session), int64(math.Round(c.WarnAt*1e6)), 1e6))
}

// Validate reports caps that cannot be enforced.
func (c Caps) Validate() error {
	if c.Session <= 0 {
		return fmt.Errorf("session cap must be positive, got %s", c.Session)
	}
	if c.PerCall < 0 {
		return fmt.Errorf("per-call cap must not be negative, got %s", c.PerCall)
	}
	if !(c.WarnAt >= 0 && c.WarnAt <= 1) {
		return fmt.Errorf("warn-at must be a fraction between 0 and 1, got %v", c.WarnAt)
	}
	return nil
}

// Window is a time-window cap (a day, a month) that applies on top of the session.
// Spent is what the window already holds from completed calls, this session's
// included; the store adds the session's own reservations.
type Window struct {
	Name     Limit
	Cap      Money
	Spent    Money
	ResetsAt time.Time
}

// Left returns what the window still allows while the session holds reserved for
// its calls in flight, never below zero.
func (w Window) Left(reserved Money) Money { return max(w.Cap-w.Spent-reserved, 0) }

// ReserveRequest describes the worst case of one call before it is sent.
type ReserveRequest struct {
	// Input is an upper bound on the cost of the call's input.
	Input Money
	// OutputRate is the price of one million output tokens, multiplied by the number
	// of choices the call asks for.
	OutputRate Money
	// Requested is the output limit the client asked for; zero means none.
	Requested Tokens
	// ModelMax is the model's own output limit; zero means unknown.
	ModelMax Tokens
	// MinOutput is the smallest grant worth sending; a smaller one is a refusal.
	MinOutput Tokens
	// Windows are extra time-window caps to honour.
	Windows []Window
}

// Validate reports figures no call can have: a negative input bound or output
// price, or a window with a negative cap or spend. A negative or zero output limit
// is not an error: it means none.
func (req ReserveRequest) Validate() error {
	if req.Input < 0 || req.OutputRate < 0 {
		return fmt.Errorf("reserve: input bound %s and output price %s must not be negative", req.Input, req.OutputRate)
	}
	for _, w := range req.Windows {
		if w.Cap < 0 || w.Spent < 0 {
			return fmt.Errorf("reserve: %s window of %s with %s spent must not be negative", w.Name, w.Cap, w.Spent)
		}
	}
	return nil
}

// Grant is a reservation: the budget held for one call in flight.
type Grant struct {
	// ID identifies the reservation for Settle and Release.
	ID string
	// Tokens is the output limit the call may use.
	Tokens Tokens
	// Amount is the money held: Input plus Tokens at OutputRate, rounded up.
	Amount Money
	// Remaining is the session's remaining budget once this reservation is held.
	Remaining Money
}

// Settlement is the outcome of settling a reservation.
type Settlement struct {
	// Reserved is what the reservation held.
	Reserved Money
	// Actual is the real cost now counted as spent.
	Actual Money
	// Violation is Actual minus Reserved when the call cost more than was held.
	Violation Money
	// Remaining is the session's remaining budget after the settlement.
	Remaining Money
}

// Snapshot is the state of a budget at one instant.
type Snapshot struct {
	Session         Money   `json:"session_usd"`
	PerCall         Money   `json:"per_call_usd"`
	WarnAt          float64 `json:"warn_at"`
	Spent           Money   `json:"spent_usd"`
	Reserved        Money   `json:"reserved_usd"`
	Remaining       Money   `json:"remaining_usd"`
	Calls           int64   `json:"calls"`
	Refused         int64   `json:"refused"`
	InFlight        int64   `json:"in_flight"`
	Locked          bool    `json:"locked"`
	LockReason      string  `json:"lock_reason,omitempty"`
	Warned          bool    `json:"warned"`
	Violations      int64   `json:"violations"`
	ViolationAmount Money   `json:"violation_usd"`
}

// EventKind says what happened to a budget.
type EventKind uint8

// Event kinds, combinable as a bit set in store results.
const (
	EventWarn EventKind = 1 << iota
	EventLock
	EventViolation
	EventReset
)

func (k EventKind) String() string {
	switch k {
	case EventWarn:
		return "warn"
	case EventLock:
		return "lock"
	case EventViolation:
		return "violation"
	case EventReset:
		return "reset"
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event is delivered to listeners after the operation that caused it.
type Event struct {
	Kind     EventKind
	Snapshot Snapshot
	// Violation is the amount above the reservation, for EventViolation.
	Violation Money
}

// Store keeps a budget's state. Every method is atomic with respect to the others.
// The in-memory store is NewMemoryStore; a shared store can take its place.
type Store interface {
	Reserve(ctx context.Context, req ReserveRequest) (Grant, EventKind, error)
	Settle(ctx context.Context, id string, actual Money) (Settlement, EventKind, error)
	Release(ctx context.Context, id string) error
	Refuse(ctx context.Context) error
	Lock(ctx context.Context, reason string) (EventKind, error)
	Reset(ctx context.Context) (EventKind, error)
	Snapshot(ctx context.Context) (Snapshot, error)
}

// Ledger enforces a budget kept in a Store and tells listeners about warnings,
// locks, violations and resets. It is safe for concurrent use.
type Ledger struct {
	store Store

	mu        sync.Mutex // guards the following fields
	listeners []listener
	nextID    int
}

type listener struct {
	id int
	fn func(Event)
}

// NewLedger returns a ledger over store.
func NewLedger(store Store) *Ledger {
	return &Ledger{store: store}
}

// NewMemoryLedger returns a ledger over a new in-memory store with caps.
func NewMemoryLedger(caps Caps) (*Ledger, error) {
	s, err := NewMemoryStore(caps)
	if err != nil {
		return nil, err
	}
	return NewLedger(s), nil
}

// Subscribe registers fn for every event and returns a function that removes it.
// fn runs on the goroutine that caused the event and must not block for long.
func (l *Ledger) Subscribe(fn func(Event)) (cancel func()) {
	l.mu.Lock()
	id := l.nextID
	l.nextID++
	l.listeners = append(l.listeners, listener{id, fn})
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		l.listeners = slices.DeleteFunc(l.listeners, func(x listener) bool { return x.id == id })
		l.mu.Unlock()
	}
}

// Reserve holds the worst case of a call and returns the output grant, or a
// *BudgetError that wraps ErrBudgetExhausted or ErrPerCallExceeded. A request that
// fails ReserveRequest.Validate is an error and holds nothing.
func (l *Ledger) Reserve(ctx context.Context, req ReserveRequest) (Grant, error) {
	g, ev, err := l.store.Reserve(ctx, req)
	l.emit(ctx, ev, 0)
	return g, err
}

// Settle replaces a reservation with the actual cost. An actual cost above the
// reservation is a violation: counted, announced, and it locks the session when the
// cap is crossed.
func (l *Ledger) Settle(ctx context.Context, id string, actual Money) (Settlement, error) {
	s, ev, err := l.store.Settle(ctx, id, actual)
	l.emit(ctx, ev, s.Violation)
	return s, err
}

// Release returns a reservation for a call that was never billed.
func (l *Ledger) Release(ctx context.Context, id string) error { return l.store.Release(ctx, id) }

// Refuse counts a call refused before it reached the ledger (for example an unknown
// model).
func (l *Ledger) Refuse(ctx context.Context) error { return l.store.Refuse(ctx) }

// Lock refuses every later call until Reset.
func (l *Ledger) Lock(ctx context.Context, reason string) error {
	ev, err := l.store.Lock(ctx, reason)
	l.emit(ctx, ev, 0)
	return err
}

// Reset forgets what was spent, unlocks and re-arms the warning. Calls in flight keep
// their reservations.
func (l *Ledger) Reset(ctx context.Context) error {
	ev, err := l.store.Reset(ctx)
	l.emit(ctx, ev, 0)
	return err
}

// Snapshot returns the budget's state.
func (l *Ledger) Snapshot(ctx context.Context) (Snapshot, error) { return l.store.Snapshot(ctx) }

func (l *Ledger) emit(ctx context.Context, kinds EventKind, violation Money) {
	if kinds == 0 {
		return
	}
	snap, err := l.store.Snapshot(ctx)
	if err != nil {
		snap, _ = l.store.Snapshot(context.WithoutCancel(ctx))
	}
	l.mu.Lock()
	fns := make([]func(Event), len(l.listeners))
	for i, x := range l.listeners {
		fns[i] = x.fn
	}
	l.mu.Unlock()
	for _, k := range []EventKind{EventViolation, EventWarn, EventLock, EventReset} {
		if kinds&k == 0 {
			continue
		}
		e := Event{Kind: k, Snapshot: snap}
		if k == EventViolation {
			e.Violation = violation
		}
		for _, fn := range fns {
			fn(e)
		}
	}
}
