package core

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrUnknownModel means no price is known for a model name under the configured
	// unknown-model policy.
	ErrUnknownModel = errors.New("unknown model")
	// ErrBudgetExhausted means the session (or a time window) cannot pay for a call,
	// or the session is locked.
	ErrBudgetExhausted = errors.New("budget exhausted")
	// ErrPerCallExceeded means one call would cost more than the per-call cap allows.
	ErrPerCallExceeded = errors.New("per-call cap exceeded")
	// ErrUnknownReservation means Settle or Release named a reservation that is not
	// held, for example because it was already settled.
	ErrUnknownReservation = errors.New("unknown reservation")
)

// Limit names the cap that refused a call.
type Limit string

// The limits a BudgetError can name.
const (
	LimitPerCall Limit = "per_call"
	LimitSession Limit = "session"
	LimitLocked  Limit = "locked"
	LimitDaily   Limit = "daily"
	LimitMonthly Limit = "monthly"
)

// BudgetError is a refusal with the figures behind it. Unwrap returns
// ErrPerCallExceeded for the per-call limit and ErrBudgetExhausted for every other.
type BudgetError struct {
	// Limit is the cap that refused the call.
	Limit Limit
	// Cap is that limit's amount.
	Cap Money
	// Spent is what has been settled against that limit.
	Spent Money
	// Reserved is what calls in flight hold against that limit.
	Reserved Money
	// Needed is the least this call could cost: its input bound plus the minimum
	// output grant.
	Needed Money
	// ResetsAt is when a time window starts afresh; zero for other limits.
	ResetsAt time.Time
	// LockReason says why a locked session was locked.
	LockReason string
}

// Error describes the refusal in one line without advice; callers add how to raise
// the limit, which depends on how CostPlan was started.
func (e *BudgetError) Error() string {
	switch e.Limit {
	case LimitPerCall:
		return fmt.Sprintf("per-call cap of %s is below the least this call can cost (%s)", e.Cap, e.Needed)
	case LimitLocked:
		msg := fmt.Sprintf("session budget is locked after spending %s of %s", e.Spent, e.Cap)
		if e.LockReason != "" {
			msg += " (" + e.LockReason + ")"
		}
		return msg
	}
	name := string(e.Limit) + " budget"
	msg := fmt.Sprintf("%s exhausted: spent %s of %s", name, e.Spent, e.Cap)
	if e.Reserved > 0 {
		msg += fmt.Sprintf(", %s held by calls in flight", e.Reserved)
	}
	msg += fmt.Sprintf("; this call needs at least %s", e.Needed)
	if !e.ResetsAt.IsZero() {
		msg += "; resets " + e.ResetsAt.Format("2006-01-02 15:04 MST")
	}
	return msg
}

// Unwrap returns the sentinel for errors.Is.
func (e *BudgetError) Unwrap() error {
	if e.Limit == LimitPerCall {
		return ErrPerCallExceeded
	}
	return ErrBudgetExhausted
}
