package core_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/costplan/costplan/core"
)

func TestBudgetErrorText(t *testing.T) {
	midnight := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		err  *core.BudgetError
		want string
	}{
		{
			"per-call",
			&core.BudgetError{Limit: core.LimitPerCall, Cap: core.Dollar, Needed: 1_500_000_000},
			"per-call cap of $1.00 is below the least this call can cost ($1.50)",
		},
		{
			"session",
			&core.BudgetError{Limit: core.LimitSession, Cap: 5 * core.Dollar, Spent: 5 * core.Dollar, Needed: core.Cent},
			"session budget exhausted: spent $5.00 of $5.00; this call needs at least $0.01",
		},
		{
			"session with calls in flight",
			&core.BudgetError{Limit: core.LimitSession, Cap: 5 * core.Dollar, Spent: 4 * core.Dollar, Reserved: 500_000_000, Needed: 750_000_000},
			"session budget exhausted: spent $4.00 of $5.00, $0.50 held by calls in flight; this call needs at least $0.75",
		},
		{
			"locked",
			&core.BudgetError{Limit: core.LimitLocked, Cap: 5 * core.Dollar, Spent: 5 * core.Dollar},
			"session budget is locked after spending $5.00 of $5.00",
		},
		{
			"locked with reason",
			&core.BudgetError{Limit: core.LimitLocked, Cap: 5 * core.Dollar, Spent: 5_100_000_000, LockReason: "the session cap is reached"},
			"session budget is locked after spending $5.10 of $5.00 (the session cap is reached)",
		},
		{
			"daily",
			&core.BudgetError{Limit: core.LimitDaily, Cap: 10 * core.Dollar, Spent: 9_990_000_000, Needed: 100_000_000, ResetsAt: midnight},
			"daily budget exhausted: spent $9.99 of $10.00; this call needs at least $0.10; resets 2026-12-05 00:00 UTC",
		},
		{
			"monthly with calls in flight",
			&core.BudgetError{
				Limit: core.LimitMonthly, Cap: 100 * core.Dollar, Spent: 99 * core.Dollar, Reserved: 12_345_678,
				Needed: 2 * core.Dollar, ResetsAt: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
			},
			"monthly budget exhausted: spent $99.00 of $100.00, $0.012346 held by calls in flight; this call needs at least $2.00; resets 2027-01-01 00:00 UTC",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBudgetErrorIs(t *testing.T) {
	tests := []struct {
		limit     core.Limit
		want, not error
	}{
		{core.LimitPerCall, core.ErrPerCallExceeded, core.ErrBudgetExhausted},
		{core.LimitSession, core.ErrBudgetExhausted, core.ErrPerCallExceeded},
		{core.LimitLocked, core.ErrBudgetExhausted, core.ErrPerCallExceeded},
		{core.LimitDaily, core.ErrBudgetExhausted, core.ErrPerCallExceeded},
		{core.LimitMonthly, core.ErrBudgetExhausted, core.ErrPerCallExceeded},
	}
	for _, tt := range tests {
		t.Run(string(tt.limit), func(t *testing.T) {
			be := &core.BudgetError{Limit: tt.limit, Cap: core.Dollar}
			err := fmt.Errorf("reserve: %w", be)
			if got := errors.Is(err, tt.want); !got {
				t.Errorf("errors.Is(%v): got %v, want %v", tt.want, got, true)
			}
			if got := errors.Is(err, tt.not); got {
				t.Errorf("errors.Is(%v): got %v, want %v", tt.not, got, false)
			}
			if got := errors.Is(err, core.ErrUnknownReservation); got {
				t.Errorf("errors.Is(ErrUnknownReservation): got %v, want %v", got, false)
			}
			var as *core.BudgetError
			if !errors.As(err, &as) || as != be {
				t.Errorf("errors.As: got %v, want %v", as, be)
			}
		})
	}
}

func TestEventKindString(t *testing.T) {
	tests := []struct {
		k    core.EventKind
		want string
	}{
		{core.EventWarn, "warn"},
		{core.EventLock, "lock"},
		{core.EventViolation, "violation"},
		{core.EventReset, "reset"},
		{core.EventWarn | core.EventLock, "event(3)"},
		{0, "event(0)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.k.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
