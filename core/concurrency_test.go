package core_test

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/internal/ledgertest"
)

// TestLedgerConcurrent runs many calls at once against one budget and checks, from a
// goroutine that keeps taking snapshots, that settled plus reserved never exceeds the
// session cap, and at the end that every reservation is gone and every settled nano
// is counted.
func TestLedgerConcurrent(t *testing.T) {
	const (
		workers = 200
		rounds  = 10
	)
	caps := core.Caps{Session: 10 * core.Dollar, PerCall: 300_000_000, WarnAt: 0.8}
	l := newLedger(t, caps)
	ctx := t.Context()
	rates := []core.Money{3 * core.Dollar, 15 * core.Dollar, 75 * core.Dollar}

	var settledSum, settled, released, refused, granted atomic.Int64
	done := make(chan struct{})
	watched := make(chan int)
	go func() {
		n := 0
		defer func() { watched <- n }()
		for {
			select {
			case <-done:
				return
			default:
			}
			s, err := l.Snapshot(ctx)
			if err != nil {
				t.Errorf("Snapshot: %v", err)
				return
			}
			if s.Spent+s.Reserved > s.Session || s.Reserved < 0 || s.InFlight < 0 || s.Remaining < 0 {
				t.Errorf("snapshot %d: got spent %s + reserved %s (in flight %d, remaining %s), want at most %s",
					n, s.Spent, s.Reserved, s.InFlight, s.Remaining, s.Session)
				return
			}
			n++
			runtime.Gosched()
		}
	}()

	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(7, uint64(i)))
			for range rounds {
				req := core.ReserveRequest{
					Input:      core.Money(r.Int64N(50_000_000)),
					OutputRate: rates[r.IntN(len(rates))],
					Requested:  core.Tokens(r.Int64N(9000)), // zero sometimes: the model max applies
					ModelMax:   8192,
					MinOutput:  256,
				}
				g, err := l.Reserve(ctx, req)
				if err != nil {
					if !errors.Is(err, core.ErrBudgetExhausted) && !errors.Is(err, core.ErrPerCallExceeded) {
						t.Errorf("Reserve: got %v, want a budget refusal", err)
					}
					refused.Add(1)
					continue
				}
				granted.Add(1)
				want := req.Requested
				if want <= 0 || want > req.ModelMax {
					want = req.ModelMax
				}
				if g.Tokens > want || g.Tokens < min(want, req.MinOutput) {
					t.Errorf("grant for %+v: got %v tokens, want between %v and %v", req, g.Tokens, min(want, req.MinOutput), want)
				}
				if cost := req.Input + core.OutputCost(g.Tokens, req.OutputRate); g.Amount != cost || g.Amount > caps.PerCall {
					t.Errorf("grant for %+v: got amount %s, want %s and at most %s", req, g.Amount, cost, caps.PerCall)
				}
				time.Sleep(time.Duration(r.Int64N(int64(2 * time.Millisecond))))
				if r.IntN(5) == 0 {
					if err := l.Release(ctx, g.ID); err != nil {
						t.Errorf("Release: %v", err)
					}
					released.Add(1)
					continue
				}
				actual := core.Money(r.Int64N(int64(g.Amount) + 1))
				st, err := l.Settle(ctx, g.ID, actual)
				if err != nil {
					t.Errorf("Settle: %v", err)
					continue
				}
				if st.Violation != 0 || st.Actual != actual || st.Reserved != g.Amount {
					t.Errorf("Settle(%s) of %s: got %+v", actual, g.Amount, st)
				}
				settledSum.Add(int64(actual))
				settled.Add(1)
			}
		})
	}
	wg.Wait()
	close(done)
	snapshots := <-watched
	if snapshots == 0 {
		t.Errorf("snapshots taken: got %v, want some", snapshots)
	}

	s := ledgertest.Snapshot(t, l)
	if s.Reserved != 0 || s.InFlight != 0 {
		t.Errorf("at the end: got reserved %s in flight %d, want 0, 0", s.Reserved, s.InFlight)
	}
	if want := core.Money(settledSum.Load()); s.Spent != want {
		t.Errorf("spent: got %d nano, want %d nano", int64(s.Spent), int64(want))
	}
	if s.Spent > caps.Session {
		t.Errorf("spent: got %s, want at most %s", s.Spent, caps.Session)
	}
	if s.Calls != settled.Load() || s.Refused != refused.Load() || s.Violations != 0 {
		t.Errorf("counts: got calls %d refused %d violations %d, want %d, %d, 0",
			s.Calls, s.Refused, s.Violations, settled.Load(), refused.Load())
	}
	if got := granted.Load(); got != settled.Load()+released.Load() || got == 0 {
		t.Errorf("grants: got %d, want settled %d + released %d and more than none", got, settled.Load(), released.Load())
	}
	t.Logf("granted %d, settled %d, released %d, refused %d, spent %s, locked %v, %d snapshots checked",
		granted.Load(), settled.Load(), released.Load(), refused.Load(), s.Spent, s.Locked, snapshots)
}

// TestLedgerConcurrentListeners subscribes and cancels listeners while other
// goroutines spend, lock and reset, for the race detector; a listener that stays
// subscribed throughout sees every reset.
func TestLedgerConcurrentListeners(t *testing.T) {
	l := newLedger(t, core.Caps{Session: core.Dollar, WarnAt: 0.5})
	ctx := t.Context()
	var resets atomic.Int64
	defer l.Subscribe(func(e core.Event) {
		if e.Kind == core.EventReset {
			resets.Add(1)
		}
	})()

	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for range 20 {
				cancel := l.Subscribe(func(core.Event) {})
				cancel()
			}
		})
		wg.Go(func() {
			for range 20 {
				g, err := l.Reserve(ctx, core.ReserveRequest{Input: 100_000_000, Requested: 1})
				if err != nil {
					continue
				}
				if _, err := l.Settle(ctx, g.ID, 100_000_000); err != nil {
					t.Errorf("Settle: %v", err)
				}
			}
		})
		wg.Go(func() {
			if i%2 == 0 {
				_ = l.Lock(ctx, "test")
			}
			if err := l.Reset(ctx); err != nil {
				t.Errorf("Reset: %v", err)
			}
		})
	}
	wg.Wait()
	if got := resets.Load(); got != n {
		t.Errorf("resets seen: got %v, want %v", got, n)
	}
	if s := ledgertest.Snapshot(t, l); s.Reserved != 0 || s.InFlight != 0 {
		t.Errorf("at the end: got reserved %s in flight %d, want 0, 0", s.Reserved, s.InFlight)
	}
}
