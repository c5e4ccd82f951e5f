package core_test

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/internal/ledgertest"
)

// rate15 is an output price of $15 per million tokens: 15,000 nano-dollars a token.
const rate15 = 15 * core.Dollar

func newLedger(t *testing.T, caps core.Caps) *core.Ledger {
	t.Helper()
	s, err := core.NewMemoryStore(caps)
	if err != nil {
		t.Fatalf("NewMemoryStore(%+v): %v", caps, err)
	}
	return core.NewLedger(s)
}

func TestReserveGrant(t *testing.T) {
	five := core.Caps{Session: 5 * core.Dollar}
	one := core.Caps{Session: core.Dollar}
	tests := []struct {
		name          string
		caps          core.Caps
		req           core.ReserveRequest
		wantTokens    core.Tokens
		wantAmount    core.Money
		wantRemaining core.Money
	}{
		{
			"requested fits", five,
			core.ReserveRequest{Input: core.Cent, OutputRate: rate15, Requested: 1000, ModelMax: 64_000, MinOutput: 1024},
			1000, 25_000_000, 4_975_000_000,
		},
		{
			"requested above model max", five,
			core.ReserveRequest{Input: core.Cent, OutputRate: rate15, Requested: 100_000, ModelMax: 64_000, MinOutput: 1024},
			64_000, 970_000_000, 4_030_000_000,
		},
		{
			"no request takes model max", five,
			core.ReserveRequest{Input: core.Cent, OutputRate: rate15, ModelMax: 8192, MinOutput: 1024},
			8192, 132_880_000, 4_867_120_000,
		},
		{
			"negative request takes model max", five,
			core.ReserveRequest{Input: core.Cent, OutputRate: rate15, Requested: -5, ModelMax: 8192, MinOutput: 1024},
			8192, 132_880_000, 4_867_120_000,
		},
		{
			"unknown model max keeps request", five,
			core.ReserveRequest{Input: core.Cent, OutputRate: rate15, Requested: 5000, MinOutput: 1024},
			5000, 85_000_000, 4_915_000_000,
		},
		{
			"budget binds", one,
			core.ReserveRequest{Input: 100_000_000, OutputRate: rate15, Requested: 128_000, ModelMax: 128_000, MinOutput: 1024},
			60_000, core.Dollar, 0,
		},
		{
			// floor((1e9 - 123456789) * 1e6 / 3000000007) = 292181; its cost rounds up.
			"budget binds at an odd price", one,
			core.ReserveRequest{Input: 123_456_789, OutputRate: 3_000_000_007, Requested: 1_000_000, MinOutput: 1024},
			292_181, 999_999_792, 208,
		},
		{
			"neither request nor model max: the budget decides", one,
			core.ReserveRequest{OutputRate: rate15, MinOutput: 1024},
			66_666, 999_990_000, 10_000,
		},
		{
			"per-call binds", core.Caps{Session: 5 * core.Dollar, PerCall: 500_000_000},
			core.ReserveRequest{OutputRate: rate15, Requested: 100_000, MinOutput: 1024},
			33_333, 499_995_000, 4_500_005_000,
		},
		{
			"per-call above what the session has left", core.Caps{Session: core.Dollar, PerCall: 2 * core.Dollar},
			core.ReserveRequest{Input: 100_000_000, OutputRate: rate15, Requested: 128_000, MinOutput: 1024},
			60_000, core.Dollar, 0,
		},
		{
			"window binds", five,
			core.ReserveRequest{OutputRate: rate15, Requested: 100_000, MinOutput: 1024, Windows: []core.Window{
				{Name: core.LimitDaily, Cap: core.Dollar, Spent: 500_000_000},
				{Name: core.LimitMonthly, Cap: 100 * core.Dollar, Spent: 0},
			}},
			33_333, 499_995_000, 4_500_005_000,
		},
		{
			"free output", five,
			core.ReserveRequest{Input: 100_000_000, Requested: 4096, MinOutput: 1024},
			4096, 100_000_000, 4_900_000_000,
		},
		{
			"cost rounds up", five,
			core.ReserveRequest{OutputRate: 3, Requested: 10},
			10, 1, 4_999_999_999,
		},
		{
			"request below MinOutput is granted whole", core.Caps{Session: 7_500_000},
			core.ReserveRequest{OutputRate: rate15, Requested: 500, MinOutput: 1024},
			500, 7_500_000, 0,
		},
		{
			"zero MinOutput grants one token", core.Caps{Session: 15_000},
			core.ReserveRequest{OutputRate: rate15, Requested: 100},
			1, 15_000, 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLedger(t, tt.caps)
			g, err := l.Reserve(t.Context(), tt.req)
			if err != nil {
				t.Fatalf("Reserve: unexpected error %v", err)
			}
			if g.ID == "" {
				t.Errorf("ID: got %q, want a non-empty id", g.ID)
			}
			if g.Tokens != tt.wantTokens {
				t.Errorf("Tokens: got %v, want %v", g.Tokens, tt.wantTokens)
			}
			if g.Amount != tt.wantAmount {
				t.Errorf("Amount: got %d nano, want %d nano", int64(g.Amount), int64(tt.wantAmount))
			}
			if want := tt.req.Input + core.OutputCost(g.Tokens, tt.req.OutputRate); g.Amount != want {
				t.Errorf("Amount: got %d nano, want input plus output cost %d nano", int64(g.Amount), int64(want))
			}
			if g.Remaining != tt.wantRemaining {
				t.Errorf("Remaining: got %d nano, want %d nano", int64(g.Remaining), int64(tt.wantRemaining))
			}
			s := ledgertest.Snapshot(t, l)
			if s.Reserved != tt.wantAmount || s.InFlight != 1 || s.Spent != 0 || s.Refused != 0 {
				t.Errorf("snapshot: got reserved %d, in flight %d, spent %d, refused %d, want %d, 1, 0, 0",
					int64(s.Reserved), s.InFlight, int64(s.Spent), s.Refused, int64(tt.wantAmount))
			}
		})
	}
}

func TestReserveRefusal(t *testing.T) {
	midnight := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	monthEnd := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		caps        core.Caps
		spent, held core.Money
		req         core.ReserveRequest
		want        core.BudgetError
		wantIs      error
		wantLocked  bool
	}{
		{
			name: "grant below MinOutput", caps: core.Caps{Session: 5 * core.Dollar}, spent: 4_990_000_000,
			req:    core.ReserveRequest{OutputRate: rate15, Requested: 4096, MinOutput: 1024},
			want:   core.BudgetError{Limit: core.LimitSession, Cap: 5 * core.Dollar, Spent: 4_990_000_000, Needed: 15_360_000},
			wantIs: core.ErrBudgetExhausted, wantLocked: true,
		},
		{
			name: "grant below a request smaller than MinOutput", caps: core.Caps{Session: 7_499_999},
			req:    core.ReserveRequest{OutputRate: rate15, Requested: 500, MinOutput: 1024},
			want:   core.BudgetError{Limit: core.LimitSession, Cap: 7_499_999, Needed: 7_500_000},
			wantIs: core.ErrBudgetExhausted, wantLocked: true,
		},
		{
			name: "no request and no model max: MinOutput is the floor", caps: core.Caps{Session: 150_000},
			req:    core.ReserveRequest{OutputRate: rate15, MinOutput: 1024},
			want:   core.BudgetError{Limit: core.LimitSession, Cap: 150_000, Needed: 15_360_000},
			wantIs: core.ErrBudgetExhausted, wantLocked: true,
		},
		{
			name: "input alone exceeds the session", caps: core.Caps{Session: core.Dollar},
			req:    core.ReserveRequest{Input: 2 * core.Dollar, OutputRate: rate15, Requested: 100, MinOutput: 1024},
			want:   core.BudgetError{Limit: core.LimitSession, Cap: core.Dollar, Needed: 2_001_500_000},
			wantIs: core.ErrBudgetExhausted, wantLocked: true,
		},
		{
			name: "calls in flight hold the rest", caps: core.Caps{Session: core.Dollar}, held: 900_000_000,
			req:    core.ReserveRequest{OutputRate: rate15, Requested: 10_000, MinOutput: 10_000},
			want:   core.BudgetError{Limit: core.LimitSession, Cap: core.Dollar, Reserved: 900_000_000, Needed: 150_000_000},
			wantIs: core.ErrBudgetExhausted, wantLocked: false,
		},
		{
			name: "spent and in flight together", caps: core.Caps{Session: core.Dollar}, spent: 500_000_000, held: 400_000_000,
			req: core.ReserveRequest{OutputRate: rate15, Requested: 10_000, MinOutput: 10_000},
			want: core.BudgetError{Limit: core.LimitSession, Cap: core.Dollar, Spent: 500_000_000, Reserved: 400_000_000,
				Needed: 150_000_000},
			wantIs: core.ErrBudgetExhausted, wantLocked: false,
		},
		{
			name: "per-call", caps: core.Caps{Session: 5 * core.Dollar, PerCall: core.Cent},
			req:    core.ReserveRequest{Input: 5_000_000, OutputRate: rate15, Requested: 4096, MinOutput: 1024},
			want:   core.BudgetError{Limit: core.LimitPerCall, Cap: core.Cent, Needed: 20_360_000},
			wantIs: core.ErrPerCallExceeded, wantLocked: false,
		},
		{
			name: "daily window", caps: core.Caps{Session: 5 * core.Dollar},
			req: core.ReserveRequest{OutputRate: rate15, Requested: 4096, MinOutput: 1024, Windows: []core.Window{
				{Name: core.LimitDaily, Cap: 10 * core.Dollar, Spent: 9_990_000_000, ResetsAt: midnight},
			}},
			want: core.BudgetError{Limit: core.LimitDaily, Cap: 10 * core.Dollar, Spent: 9_990_000_000, Needed: 15_360_000,
				ResetsAt: midnight},
			wantIs: core.ErrBudgetExhausted, wantLocked: false,
		},
		{
			name: "tightest window", caps: core.Caps{Session: 5 * core.Dollar},
			req: core.ReserveRequest{OutputRate: rate15, Requested: 4096, MinOutput: 1024, Windows: []core.Window{
				{Name: core.LimitDaily, Cap: 10 * core.Dollar, Spent: 9 * core.Dollar, ResetsAt: midnight},
				{Name: core.LimitMonthly, Cap: 100 * core.Dollar, Spent: 99_999_000_000, ResetsAt: monthEnd},
			}},
			want: core.BudgetError{Limit: core.LimitMonthly, Cap: 100 * core.Dollar, Spent: 99_999_000_000, Needed: 15_360_000,
				ResetsAt: monthEnd},
			wantIs: core.ErrBudgetExhausted, wantLocked: false,
		},
		{
			name: "window counts calls in flight", caps: core.Caps{Session: 5 * core.Dollar}, held: 500_000_000,
			req: core.ReserveRequest{OutputRate: rate15, Requested: 10_000, MinOutput: 10_000, Windows: []core.Window{
				{Name: core.LimitDaily, Cap: core.Dollar, Spent: 400_000_000, ResetsAt: midnight},
			}},
			want: core.BudgetError{Limit: core.LimitDaily, Cap: core.Dollar, Spent: 400_000_000, Reserved: 500_000_000,
				Needed: 150_000_000, ResetsAt: midnight},
			wantIs: core.ErrBudgetExhausted, wantLocked: false,
		},
		{
			name: "window overspent", caps: core.Caps{Session: 5 * core.Dollar},
			req: core.ReserveRequest{Input: 1, Requested: 1, Windows: []core.Window{
				{Name: core.LimitDaily, Cap: core.Dollar, Spent: 2 * core.Dollar, ResetsAt: midnight},
			}},
			want:   core.BudgetError{Limit: core.LimitDaily, Cap: core.Dollar, Spent: 2 * core.Dollar, Needed: 1, ResetsAt: midnight},
			wantIs: core.ErrBudgetExhausted, wantLocked: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLedger(t, tt.caps)
			if tt.spent > 0 {
				ledgertest.Spend(t, l, tt.spent)
			}
			if tt.held > 0 {
				ledgertest.Hold(t, l, tt.held)
			}
			rec := ledgertest.Listen(t, l)
			g, err := l.Reserve(t.Context(), tt.req)
			if err == nil {
				t.Fatalf("Reserve: got grant %+v, want a refusal", g)
			}
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is: got %v, want %v", err, tt.wantIs)
			}
			var be *core.BudgetError
			if !errors.As(err, &be) {
				t.Fatalf("errors.As: got %T, want *core.BudgetError", err)
			}
			if *be != tt.want {
				t.Errorf("BudgetError: got %+v, want %+v", *be, tt.want)
			}
			if g != (core.Grant{}) {
				t.Errorf("grant: got %+v, want the zero grant", g)
			}
			if tt.want.Limit == core.LimitDaily || tt.want.Limit == core.LimitMonthly {
				if name := string(tt.want.Limit) + " budget"; !strings.Contains(err.Error(), name) {
					t.Errorf("Error: got %q, want it to name %q", err, name)
				}
				if when := tt.want.ResetsAt.Format("2006-01-02 15:04 MST"); !strings.Contains(err.Error(), when) {
					t.Errorf("Error: got %q, want it to name %q", err, when)
				}
			}
			s := ledgertest.Snapshot(t, l)
			if s.Locked != tt.wantLocked {
				t.Errorf("Locked: got %v, want %v", s.Locked, tt.wantLocked)
			}
			if s.Refused != 1 || s.Reserved != tt.held || s.Spent != tt.spent {
				t.Errorf("snapshot: got refused %d, reserved %d, spent %d, want 1, %d, %d",
					s.Refused, int64(s.Reserved), int64(s.Spent), int64(tt.held), int64(tt.spent))
			}
			var wantKinds []core.EventKind
			if tt.wantLocked {
				wantKinds = []core.EventKind{core.EventLock}
			}
			if got := rec.Kinds(); !slices.Equal(got, wantKinds) {
				t.Errorf("events: got %v, want %v", got, wantKinds)
			}
		})
	}
}

func TestSpentSessionLocksOnce(t *testing.T) {
	l := newLedger(t, core.Caps{Session: core.Dollar})
	ledgertest.Spend(t, l, 900_000_000)
	rec := ledgertest.Listen(t, l)
	needs := core.ReserveRequest{OutputRate: rate15, Requested: 10_000, MinOutput: 10_000} // $0.15

	_, err := l.Reserve(t.Context(), needs)
	var be *core.BudgetError
	if !errors.As(err, &be) || be.Limit != core.LimitSession {
		t.Fatalf("first refusal: got %v, want a session BudgetError", err)
	}
	if got, want := rec.Kinds(), []core.EventKind{core.EventLock}; !slices.Equal(got, want) {
		t.Fatalf("events: got %v, want %v", got, want)
	}
	if e := rec.Last(); !e.Snapshot.Locked || e.Snapshot.Spent != 900_000_000 {
		t.Errorf("lock event snapshot: got locked %v spent %d, want true, 900000000", e.Snapshot.Locked, int64(e.Snapshot.Spent))
	}

	const reason = core.LockReasonSpent
	tiny := core.ReserveRequest{Input: 1, Requested: 1}
	for _, req := range []core.ReserveRequest{needs, tiny, tiny} {
		_, err := l.Reserve(t.Context(), req)
		want := core.BudgetError{Limit: core.LimitLocked, Cap: core.Dollar, Spent: 900_000_000, LockReason: reason}
		if !errors.As(err, &be) || *be != want {
			t.Fatalf("refusal while locked: got %v, want %+v", err, want)
		}
		if !errors.Is(err, core.ErrBudgetExhausted) {
			t.Errorf("errors.Is: got %v, want %v", err, core.ErrBudgetExhausted)
		}
		if !strings.Contains(err.Error(), reason) {
			t.Errorf("Error: got %q, want it to contain %q", err, reason)
		}
	}
	if got, want := rec.Kinds(), []core.EventKind{core.EventLock}; !slices.Equal(got, want) {
		t.Errorf("events after more refusals: got %v, want %v", got, want)
	}
	s := ledgertest.Snapshot(t, l)
	if !s.Locked || s.LockReason != reason || s.Refused != 4 {
		t.Errorf("snapshot: got locked %v reason %q refused %d, want true, %q, 4", s.Locked, s.LockReason, s.Refused, reason)
	}
}

func TestInFlightRefusalDoesNotLock(t *testing.T) {
	l := newLedger(t, core.Caps{Session: core.Dollar})
	rec := ledgertest.Listen(t, l)
	g := ledgertest.Hold(t, l, 900_000_000)
	needs := core.ReserveRequest{OutputRate: rate15, Requested: 10_000, MinOutput: 10_000} // $0.15

	if _, err := l.Reserve(t.Context(), needs); !errors.Is(err, core.ErrBudgetExhausted) {
		t.Fatalf("Reserve: got %v, want %v", err, core.ErrBudgetExhausted)
	}
	if s := ledgertest.Snapshot(t, l); s.Locked {
		t.Fatalf("Locked: got %v, want %v", s.Locked, false)
	}
	if err := l.Release(t.Context(), g.ID); err != nil {
		t.Fatalf("Release: %v", err)
	}
	got, err := l.Reserve(t.Context(), needs)
	if err != nil {
		t.Fatalf("Reserve after release: got %v, want a grant", err)
	}
	if got.Tokens != 10_000 || got.Amount != 150_000_000 || got.Remaining != 850_000_000 {
		t.Errorf("grant: got %+v, want 10000 tokens, 150000000 held, 850000000 left", got)
	}
	if ks := rec.Kinds(); len(ks) != 0 {
		t.Errorf("events: got %v, want none", ks)
	}
}

func TestSettle(t *testing.T) {
	const reached = "the session cap is reached"
	tests := []struct {
		name       string
		other      core.Money // another call in flight
		held       core.Money
		actual     core.Money
		want       core.Settlement
		wantEvents []core.EventKind
		wantLock   string
	}{
		{
			name: "below the reservation", held: 100_000_000, actual: 60_000_000,
			want: core.Settlement{Reserved: 100_000_000, Actual: 60_000_000, Remaining: 940_000_000},
		},
		{
			name: "exactly the reservation", held: 100_000_000, actual: 100_000_000,
			want: core.Settlement{Reserved: 100_000_000, Actual: 100_000_000, Remaining: 900_000_000},
		},
		{
			name: "free call", held: 100_000_000, actual: 0,
			want: core.Settlement{Reserved: 100_000_000, Remaining: core.Dollar},
		},
		{
			name: "another call in flight", other: 300_000_000, held: 100_000_000, actual: 50_000_000,
			want: core.Settlement{Reserved: 100_000_000, Actual: 50_000_000, Remaining: 650_000_000},
		},
		{
			name: "above the reservation", held: 100_000_000, actual: 120_000_000,
			want:       core.Settlement{Reserved: 100_000_000, Actual: 120_000_000, Violation: 20_000_000, Remaining: 880_000_000},
			wantEvents: []core.EventKind{core.EventViolation},
		},
		{
			name: "above the reservation and the cap", held: 900_000_000, actual: 1_050_000_000,
			want:       core.Settlement{Reserved: 900_000_000, Actual: 1_050_000_000, Violation: 150_000_000},
			wantEvents: []core.EventKind{core.EventViolation, core.EventLock}, wantLock: reached,
		},
		{
			name: "reaching the cap", held: core.Dollar, actual: core.Dollar,
			want:       core.Settlement{Reserved: core.Dollar, Actual: core.Dollar},
			wantEvents: []core.EventKind{core.EventLock}, wantLock: reached,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLedger(t, core.Caps{Session: core.Dollar})
			if tt.other > 0 {
				ledgertest.Hold(t, l, tt.other)
			}
			g := ledgertest.Hold(t, l, tt.held)
			rec := ledgertest.Listen(t, l)
			got, err := l.Settle(t.Context(), g.ID, tt.actual)
			if err != nil {
				t.Fatalf("Settle: %v", err)
			}
			if got != tt.want {
				t.Errorf("Settlement: got %+v, want %+v", got, tt.want)
			}
			if ks := rec.Kinds(); !slices.Equal(ks, tt.wantEvents) {
				t.Errorf("events: got %v, want %v", ks, tt.wantEvents)
			}
			for _, e := range rec.Take() {
				wantV := core.Money(0)
				if e.Kind == core.EventViolation {
					wantV = tt.want.Violation
				}
				if e.Violation != wantV {
					t.Errorf("%v event Violation: got %d nano, want %d nano", e.Kind, int64(e.Violation), int64(wantV))
				}
			}
			s := ledgertest.Snapshot(t, l)
			wantViolations := int64(0)
			if tt.want.Violation > 0 {
				wantViolations = 1
			}
			if s.Spent != tt.actual || s.Reserved != tt.other || s.Calls != 1 ||
				s.Violations != wantViolations || s.ViolationAmount != tt.want.Violation {
				t.Errorf("snapshot: got spent %d reserved %d calls %d violations %d (%d nano), want %d, %d, 1, %d (%d nano)",
					int64(s.Spent), int64(s.Reserved), s.Calls, s.Violations, int64(s.ViolationAmount),
					int64(tt.actual), int64(tt.other), wantViolations, int64(tt.want.Violation))
			}
			if s.Locked != (tt.wantLock != "") || s.LockReason != tt.wantLock {
				t.Errorf("lock: got %v %q, want %v %q", s.Locked, s.LockReason, tt.wantLock != "", tt.wantLock)
			}
		})
	}
}

// TestReserveNegative: a negative input bound, output price or window figure would
// make a reservation that gives money back; it is an error and holds nothing.
func TestReserveNegative(t *testing.T) {
	l := newLedger(t, core.Caps{Session: core.Dollar})
	for _, req := range []core.ReserveRequest{
		{Input: -5 * core.Dollar, Requested: 1},
		{Input: 1, OutputRate: -rate15, Requested: 1000, MinOutput: 1},
		{Input: 1, Requested: 1, Windows: []core.Window{{Name: core.LimitDaily, Cap: -core.Dollar}}},
		{Input: 1, Requested: 1, Windows: []core.Window{{Name: core.LimitMonthly, Cap: core.Dollar, Spent: -core.Dollar}}},
	} {
		g, err := l.Reserve(t.Context(), req)
		var be *core.BudgetError
		if err == nil || errors.As(err, &be) || !strings.Contains(err.Error(), "must not be negative") {
			t.Errorf("Reserve(%+v): got %+v, %v, want an error about the negative figure", req, g, err)
		}
	}
	if s := ledgertest.Snapshot(t, l); s.InFlight != 0 || s.Reserved != 0 || s.Refused != 0 {
		t.Errorf("snapshot: got in flight %d reserved %s refused %d, want nothing held or counted", s.InFlight, s.Reserved, s.Refused)
	}
	ledgertest.Hold(t, l, core.Dollar) // the whole cap is still there
}

func TestSettleNegative(t *testing.T) {
	l := newLedger(t, core.Caps{Session: core.Dollar})
	g := ledgertest.Hold(t, l, 100_000_000)
	if _, err := l.Settle(t.Context(), g.ID, -1); err == nil {
		t.Fatalf("Settle(-1): got nil, want an error")
	}
	s := ledgertest.Snapshot(t, l)
	if s.InFlight != 1 || s.Reserved != 100_000_000 || s.Spent != 0 || s.Calls != 0 {
		t.Errorf("snapshot: got in flight %d reserved %d spent %d calls %d, want 1, 100000000, 0, 0",
			s.InFlight, int64(s.Reserved), int64(s.Spent), s.Calls)
	}
	if _, err := l.Settle(t.Context(), g.ID, 1); err != nil {
		t.Errorf("Settle after a refused negative cost: got %v, want nil", err)
	}
}

func TestUnknownReservation(t *testing.T) {
	tests := []struct {
		setup string // how the id came to be unknown
		op    string
	}{
		{"never issued", "settle"},
		{"never issued", "release"},
		{"empty", "settle"},
		{"empty", "release"},
		{"settled", "settle"},
		{"settled", "release"},
		{"released", "settle"},
		{"released", "release"},
	}
	for _, tt := range tests {
		t.Run(tt.setup+" then "+tt.op, func(t *testing.T) {
			l := newLedger(t, core.Caps{Session: core.Dollar})
			ledgertest.Hold(t, l, 300_000_000) // an unrelated call in flight
			var id string
			switch tt.setup {
			case "never issued":
				id = "no-such-id"
			case "settled":
				id = ledgertest.Hold(t, l, 100_000_000).ID
				if _, err := l.Settle(t.Context(), id, 50_000_000); err != nil {
					t.Fatalf("Settle: %v", err)
				}
			case "released":
				id = ledgertest.Hold(t, l, 100_000_000).ID
				if err := l.Release(t.Context(), id); err != nil {
					t.Fatalf("Release: %v", err)
				}
			}
			before := ledgertest.Snapshot(t, l)
			rec := ledgertest.Listen(t, l)
			var err error
			if tt.op == "settle" {
				var st core.Settlement
				st, err = l.Settle(t.Context(), id, 10_000_000)
				if st != (core.Settlement{}) {
					t.Errorf("Settlement: got %+v, want the zero value", st)
				}
			} else {
				err = l.Release(t.Context(), id)
			}
			if !errors.Is(err, core.ErrUnknownReservation) {
				t.Errorf("error: got %v, want %v", err, core.ErrUnknownReservation)
			}
			if after := ledgertest.Snapshot(t, l); after != before {
				t.Errorf("snapshot: got %+v, want unchanged %+v", after, before)
			}
			if ks := rec.Kinds(); len(ks) != 0 {
				t.Errorf("events: got %v, want none", ks)
			}
		})
	}
}

func TestWarn(t *testing.T) {
	l := newLedger(t, core.Caps{Session: 10 * core.Dollar, WarnAt: 0.5}) // warns at $5
	rec := ledgertest.Listen(t, l)
	steps := []struct {
		name       string
		do         func()
		wantWarns  int
		wantWarned bool
		wantSpent  core.Money
	}{
		{"reservations do not warn", func() {
			if err := l.Release(t.Context(), ledgertest.Hold(t, l, 9*core.Dollar).ID); err != nil {
				t.Fatalf("Release: %v", err)
			}
		}, 0, false, 0},
		{"below the threshold", func() { ledgertest.Spend(t, l, 4*core.Dollar) }, 0, false, 4 * core.Dollar},
		{"a nano below", func() { ledgertest.Spend(t, l, 999_999_999) }, 0, false, 4_999_999_999},
		{"crossing", func() { ledgertest.Spend(t, l, 1) }, 1, true, 5 * core.Dollar},
		{"once only", func() { ledgertest.Spend(t, l, 500_000_000) }, 1, true, 5_500_000_000},
		{"reset re-arms", func() {
			if err := l.Reset(t.Context()); err != nil {
				t.Fatalf("Reset: %v", err)
			}
		}, 1, false, 0},
		{"below again", func() { ledgertest.Spend(t, l, 4_999_999_999) }, 1, false, 4_999_999_999},
		{"crossing again", func() { ledgertest.Spend(t, l, 1) }, 2, true, 5 * core.Dollar},
		{"once again", func() { ledgertest.Spend(t, l, 1) }, 2, true, 5*core.Dollar + 1},
	}
	for _, st := range steps {
		st.do()
		var warns int
		for _, k := range rec.Kinds() {
			if k == core.EventWarn {
				warns++
			}
		}
		if warns != st.wantWarns {
			t.Errorf("%s: warnings: got %v, want %v", st.name, warns, st.wantWarns)
		}
		s := ledgertest.Snapshot(t, l)
		if s.Spent != st.wantSpent || s.Warned != st.wantWarned {
			t.Errorf("%s: snapshot: got spent %d warned %v, want %d, %v",
				st.name, int64(s.Spent), s.Warned, int64(st.wantSpent), st.wantWarned)
		}
	}
	var last core.Event
	for _, e := range rec.Take() {
		if e.Kind == core.EventWarn {
			last = e
		}
	}
	if !last.Snapshot.Warned || last.Snapshot.Spent != 5*core.Dollar {
		t.Errorf("last warning snapshot: got warned %v spent %d, want true, 5000000000",
			last.Snapshot.Warned, int64(last.Snapshot.Spent))
	}
}

func TestWarnEvents(t *testing.T) {
	tests := []struct {
		name   string
		warnAt float64
		spend  core.Money
		want   []core.EventKind
	}{
		{"disabled", 0, core.Dollar / 2, nil},
		{"disabled at the cap", 0, core.Dollar, []core.EventKind{core.EventLock}},
		{"warning", 0.8, 800_000_000, []core.EventKind{core.EventWarn}},
		{"not yet", 0.8, 799_999_999, nil},
		{"warning and lock together", 0.8, core.Dollar, []core.EventKind{core.EventWarn, core.EventLock}},
		{"warn at the cap", 1, core.Dollar, []core.EventKind{core.EventWarn, core.EventLock}},
		{"warn at the cap, below it", 1, core.Dollar - 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLedger(t, core.Caps{Session: core.Dollar, WarnAt: tt.warnAt})
			rec := ledgertest.Listen(t, l)
			ledgertest.Spend(t, l, tt.spend)
			if got := rec.Kinds(); !slices.Equal(got, tt.want) {
				t.Errorf("events: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReset(t *testing.T) {
	l := newLedger(t, core.Caps{Session: core.Dollar, PerCall: 800_000_000, WarnAt: 0.5})
	g := ledgertest.Hold(t, l, 300_000_000)
	ledgertest.Spend(t, l, 600_000_000)
	if err := l.Refuse(t.Context()); err != nil {
		t.Fatalf("Refuse: %v", err)
	}
	if err := l.Lock(t.Context(), "stopped by hand"); err != nil {
		t.Fatalf("Lock: %v", err)
	}
	rec := ledgertest.Listen(t, l)
	if err := l.Reset(t.Context()); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	want := core.Snapshot{
		Session: core.Dollar, PerCall: 800_000_000, WarnAt: 0.5,
		Reserved: 300_000_000, Remaining: 700_000_000, InFlight: 1,
	}
	if got := ledgertest.Snapshot(t, l); got != want {
		t.Errorf("snapshot after reset: got %+v, want %+v", got, want)
	}
	if got, wantKinds := rec.Kinds(), []core.EventKind{core.EventReset}; !slices.Equal(got, wantKinds) {
		t.Errorf("events: got %v, want %v", got, wantKinds)
	}
	if e := rec.Last(); e.Snapshot != want {
		t.Errorf("reset event snapshot: got %+v, want %+v", e.Snapshot, want)
	}

	// The reservation kept through the reset still counts and still settles.
	if _, err := l.Reserve(t.Context(), core.ReserveRequest{Input: 700_000_001, Requested: 1}); !errors.Is(err, core.ErrBudgetExhausted) {
		t.Errorf("Reserve above what is left: got %v, want %v", err, core.ErrBudgetExhausted)
	}
	st, err := l.Settle(t.Context(), g.ID, 200_000_000)
	if err != nil {
		t.Fatalf("Settle after reset: %v", err)
	}
	if want := (core.Settlement{Reserved: 300_000_000, Actual: 200_000_000, Remaining: 800_000_000}); st != want {
		t.Errorf("Settlement: got %+v, want %+v", st, want)
	}
	if s := ledgertest.Snapshot(t, l); s.Spent != 200_000_000 || s.Reserved != 0 || s.InFlight != 0 || s.Calls != 1 {
		t.Errorf("snapshot: got spent %d reserved %d in flight %d calls %d, want 200000000, 0, 0, 1",
			int64(s.Spent), int64(s.Reserved), s.InFlight, s.Calls)
	}
}

func TestLock(t *testing.T) {
	l := newLedger(t, core.Caps{Session: core.Dollar})
	rec := ledgertest.Listen(t, l)
	ledgertest.Spend(t, l, 100_000_000)
	for _, reason := range []string{"stopped by hand", "again"} {
		if err := l.Lock(t.Context(), reason); err != nil {
			t.Fatalf("Lock(%q): %v", reason, err)
		}
	}
	if got, want := rec.Kinds(), []core.EventKind{core.EventLock}; !slices.Equal(got, want) {
		t.Errorf("events: got %v, want %v", got, want)
	}
	_, err := l.Reserve(t.Context(), core.ReserveRequest{Input: 1, Requested: 1})
	want := core.BudgetError{Limit: core.LimitLocked, Cap: core.Dollar, Spent: 100_000_000, LockReason: "stopped by hand"}
	var be *core.BudgetError
	if !errors.As(err, &be) || *be != want {
		t.Fatalf("Reserve while locked: got %v, want %+v", err, want)
	}
	if want := "session budget is locked after spending $0.10 of $1.00 (stopped by hand)"; err.Error() != want {
		t.Errorf("Error: got %q, want %q", err, want)
	}
	if err := l.Reset(t.Context()); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if _, err := l.Reserve(t.Context(), core.ReserveRequest{Input: 1, Requested: 1}); err != nil {
		t.Errorf("Reserve after reset: got %v, want nil", err)
	}
}

func TestSnapshot(t *testing.T) {
	l := newLedger(t, core.Caps{Session: 5 * core.Dollar, PerCall: core.Dollar, WarnAt: 0.8})
	ledgertest.Hold(t, l, 200_000_000)
	ledgertest.Spend(t, l, 900_000_000)
	ledgertest.Spend(t, l, 900_000_000)
	ledgertest.Spend(t, l, 900_000_000)
	ledgertest.Spend(t, l, 900_000_000)
	ledgertest.Spend(t, l, 500_000_000) // $4.10: past the $4.00 warning
	g := ledgertest.Hold(t, l, 100_000_000)
	if _, err := l.Settle(t.Context(), g.ID, 150_000_000); err != nil { // $0.05 violation
		t.Fatal(err)
	}
	if err := l.Refuse(t.Context()); err != nil {
		t.Fatal(err)
	}
	// $0.55 is left, less than the per-call cap: the session refuses without locking.
	if _, err := l.Reserve(t.Context(), core.ReserveRequest{Input: 600_000_000, Requested: 1}); !errors.Is(err, core.ErrBudgetExhausted) {
		t.Fatalf("Reserve: got %v, want %v", err, core.ErrBudgetExhausted)
	}
	want := core.Snapshot{
		Session: 5 * core.Dollar, PerCall: core.Dollar, WarnAt: 0.8,
		Spent: 4_250_000_000, Reserved: 200_000_000, Remaining: 550_000_000,
		Calls: 6, Refused: 2, InFlight: 1,
		Warned: true, Violations: 1, ViolationAmount: 50_000_000,
	}
	got := ledgertest.Snapshot(t, l)
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	wantJSON := `{"session_usd":5,"per_call_usd":1,"warn_at":0.8,"spent_usd":4.25,"reserved_usd":0.2,` +
		`"remaining_usd":0.55,"calls":6,"refused":2,"in_flight":1,"locked":false,"warned":true,` +
		`"violations":1,"violation_usd":0.05}`
	if string(b) != wantJSON {
		t.Errorf("JSON: got %s, want %s", b, wantJSON)
	}
	var back core.Snapshot
	if err := json.Unmarshal(b, &back); err != nil || back != want {
		t.Errorf("JSON round trip: got %+v, %v, want %+v, nil", back, err, want)
	}
}

func TestSnapshotRemainingNeverNegative(t *testing.T) {
	l := newLedger(t, core.Caps{Session: core.Dollar})
	g := ledgertest.Hold(t, l, 500_000_000)
	if _, err := l.Settle(t.Context(), g.ID, 3*core.Dollar); err != nil {
		t.Fatal(err)
	}
	if s := ledgertest.Snapshot(t, l); s.Remaining != 0 || s.Spent != 3*core.Dollar {
		t.Errorf("got remaining %d spent %d, want 0, 3000000000", int64(s.Remaining), int64(s.Spent))
	}
}

func TestGrantIDsAreUnique(t *testing.T) {
	l := newLedger(t, core.Caps{Session: core.Dollar})
	seen := map[string]bool{}
	for range 100 {
		id := ledgertest.Hold(t, l, 1).ID
		if seen[id] {
			t.Fatalf("id %q: got it twice, want unique ids", id)
		}
		seen[id] = true
	}
}

func TestSubscribe(t *testing.T) {
	l := newLedger(t, core.Caps{Session: core.Dollar})
	var mu sync.Mutex
	var got []string
	listener := func(name string) func(core.Event) {
		return func(e core.Event) {
			mu.Lock()
			got = append(got, name+":"+e.Kind.String())
			mu.Unlock()
		}
	}
	cancelA := l.Subscribe(listener("a"))
	cancelB := l.Subscribe(listener("b"))
	defer cancelB()

	if err := l.Lock(t.Context(), "test"); err != nil {
		t.Fatal(err)
	}
	cancelA()
	cancelA() // cancelling twice is harmless
	if err := l.Reset(t.Context()); err != nil {
		t.Fatal(err)
	}
	cancelC := l.Subscribe(listener("c"))
	ledgertest.Spend(t, l, core.Dollar)
	cancelC()
	if err := l.Reset(t.Context()); err != nil {
		t.Fatal(err)
	}

	want := []string{"a:lock", "b:lock", "b:reset", "b:lock", "c:lock", "b:reset"}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestCapsValidate(t *testing.T) {
	tests := []struct {
		name    string
		caps    core.Caps
		wantErr string // a fragment of the message; empty for valid caps
	}{
		{"session only", core.Caps{Session: 1}, ""},
		{"defaults", core.Caps{Session: core.DefaultSession, PerCall: core.DefaultPerCall, WarnAt: core.DefaultWarnAt}, ""},
		{"warn disabled", core.Caps{Session: core.Dollar, WarnAt: 0}, ""},
		{"warn at the cap", core.Caps{Session: core.Dollar, WarnAt: 1}, ""},
		{"per-call above session", core.Caps{Session: core.Dollar, PerCall: 2 * core.Dollar}, ""},
		{"zero session", core.Caps{}, "session cap"},
		{"negative session", core.Caps{Session: -1}, "session cap"},
		{"negative per-call", core.Caps{Session: core.Dollar, PerCall: -1}, "per-call cap"},
		{"negative warn-at", core.Caps{Session: core.Dollar, WarnAt: -0.1}, "warn-at"},
		{"warn-at above one", core.Caps{Session: core.Dollar, WarnAt: 1.01}, "warn-at"},
		{"warn-at NaN", core.Caps{Session: core.Dollar, WarnAt: math.NaN()}, "warn-at"},
		{"warn-at infinite", core.Caps{Session: core.Dollar, WarnAt: math.Inf(1)}, "warn-at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.caps.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Validate: got %v, want nil", err)
				}
				if _, err := core.NewMemoryLedger(tt.caps); err != nil {
					t.Errorf("NewMemoryLedger: got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate: got %v, want an error about %q", err, tt.wantErr)
			}
			if l, err := core.NewMemoryLedger(tt.caps); err == nil || l != nil {
				t.Errorf("NewMemoryLedger: got %v, %v, want nil and an error", l, err)
			}
			if s, err := core.NewMemoryStore(tt.caps); err == nil || s != nil {
				t.Errorf("NewMemoryStore: got %v, %v, want nil and an error", s, err)
			}
		})
	}
}
