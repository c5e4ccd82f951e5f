package redisstore

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/internal/ledgertest"
)

// TestGrantArithmetic compares the script's grant with core.DecideGrant over the
// whole range of figures the store accepts: the script's integer arithmetic on Lua
// doubles must be exact.
func TestGrantArithmetic(t *testing.T) {
	f := newFake(t)
	s := f.open("arith", core.Caps{Session: MaxAmount}, Options{})
	r := rand.New(rand.NewPCG(3, 4))
	// log-uniform figures, so that small and huge values both come up
	logu := func(limit int64) int64 {
		n := r.Int64N(limit)
		return n >> r.IntN(63)
	}
	for i := range 800 {
		req := core.ReserveRequest{
			Input:      core.Money(logu(int64(MaxAmount))),
			OutputRate: core.Money(logu(int64(MaxRate))),
			Requested:  core.Tokens(logu(1 << 40)),
			ModelMax:   core.Tokens(logu(1 << 24)),
			MinOutput:  core.Tokens(logu(1 << 16)),
		}
		avail := core.Money(logu(int64(MaxAmount)))
		req.Windows = []core.Window{{Name: core.LimitDaily, Cap: avail}}
		tokens, amount, needed, ok := core.DecideGrant(clamped(req), avail)
		g, _, err := s.Reserve(t.Context(), req)
		if (err == nil) != ok {
			t.Fatalf("%d: %+v avail %d: store %+v, %v; DecideGrant %d tokens for %d, ok %v", i, req, avail, g, err, tokens, amount, ok)
		}
		if !ok {
			var be *core.BudgetError
			if !errors.As(err, &be) || be.Needed != needed {
				t.Fatalf("%d: refusal %v, want one needing %d", i, err, needed)
			}
			continue
		}
		if g.Tokens != tokens || g.Amount != amount {
			t.Fatalf("%d: %+v avail %d: got %d tokens for %d, want %d for %d", i, req, avail, g.Tokens, g.Amount, tokens, amount)
		}
		if err := s.Release(t.Context(), g.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// clamped is req as the store computes it: a call that asks for no output limit,
// on a model without one, or for more than maxTokens, asks for maxTokens.
func clamped(req core.ReserveRequest) core.ReserveRequest {
	if b := req.Bounds(); b.Want == 0 && req.OutputRate > 0 || b.Want > maxTokens {
		req.Requested, req.ModelMax = maxTokens, 0
	}
	return req
}

func TestCheckRequest(t *testing.T) {
	f := newFake(t)
	s := f.open("range", core.Caps{Session: core.Dollar}, Options{})
	for _, req := range []core.ReserveRequest{
		{Input: MaxAmount + 1},
		{Input: -1},
		{OutputRate: MaxRate + 1},
		{Windows: []core.Window{{Name: core.LimitDaily, Cap: MaxAmount + 1}}},
	} {
		if _, _, err := s.Reserve(t.Context(), req); err == nil || !strings.Contains(err.Error(), "outside") {
			t.Errorf("Reserve(%+v): got %v, want an out-of-range error", req, err)
		}
	}
	if _, err := Open(t.Context(), Options{Client: f.client(), Key: "k", Caps: core.Caps{Session: MaxAmount + 1}}); err == nil {
		t.Errorf("Open with a cap above MaxAmount: got nil, want an error")
	}
	// A lease whose renewal period rounds to nothing would stop the heartbeat with a
	// panic; it is an error instead.
	if _, err := Open(t.Context(), Options{Client: f.client(), Key: "k", Caps: core.Caps{Session: core.Dollar}, Lease: 2}); err == nil || !strings.Contains(err.Error(), "lease") {
		t.Errorf("Open with a 2ns lease: got %v, want an error about the lease", err)
	}
}

// TestIdempotent: a repeated settle returns the first settlement and a repeated
// release succeeds, both changing nothing; crossing them, or naming an id never
// issued, is ErrUnknownReservation.
func TestIdempotent(t *testing.T) {
	f := newFake(t)
	s := f.open("idem", core.Caps{Session: core.Dollar, WarnAt: 0.5}, Options{})
	l := s.Ledger()
	ledgertest.Hold(t, l, 100_000_000) // another call in flight
	g := ledgertest.Hold(t, l, 300_000_000)
	first, err := l.Settle(t.Context(), g.ID, 400_000_000)
	if err != nil {
		t.Fatal(err)
	}
	want := core.Settlement{Reserved: 300_000_000, Actual: 400_000_000, Violation: 100_000_000, Remaining: 500_000_000}
	if first != want {
		t.Fatalf("first settlement: got %+v, want %+v", first, want)
	}
	before := ledgertest.Snapshot(t, s)
	rec := ledgertest.Listen(t, l)
	for range 3 {
		again, err := l.Settle(t.Context(), g.ID, 999)
		if err != nil || again != want {
			t.Errorf("settle again: got %+v, %v, want %+v, nil", again, err, want)
		}
	}
	if err := l.Release(t.Context(), g.ID); !errors.Is(err, core.ErrUnknownReservation) {
		t.Errorf("release a settled reservation: got %v, want %v", err, core.ErrUnknownReservation)
	}
	r := ledgertest.Hold(t, l, 50_000_000)
	for range 3 {
		if err := l.Release(t.Context(), r.ID); err != nil {
			t.Errorf("release: got %v, want nil", err)
		}
	}
	if _, err := l.Settle(t.Context(), r.ID, 1); !errors.Is(err, core.ErrUnknownReservation) {
		t.Errorf("settle a released reservation: got %v, want %v", err, core.ErrUnknownReservation)
	}
	for _, id := range []string{"never-issued", ""} {
		if _, err := l.Settle(t.Context(), id, 1); !errors.Is(err, core.ErrUnknownReservation) {
			t.Errorf("settle %q: got %v, want %v", id, err, core.ErrUnknownReservation)
		}
		if err := l.Release(t.Context(), id); !errors.Is(err, core.ErrUnknownReservation) {
			t.Errorf("release %q: got %v, want %v", id, err, core.ErrUnknownReservation)
		}
	}
	if after := ledgertest.Snapshot(t, s); after != before {
		t.Errorf("snapshot: got %+v, want unchanged %+v", after, before)
	}
	if ks := rec.Kinds(); len(ks) != 0 {
		t.Errorf("events: got %v, want none", ks)
	}

	// A reserve script run twice for one id (a retry after a lost reply) holds once.
	id := s.newID()
	req := core.ReserveRequest{Input: 10_000_000, Requested: 1}
	keys, args := s.reserveArgs(id, req, nil)
	for range 2 {
		if r, err := s.run(t.Context(), reserveScript, keys, args...); err != nil || r.code != codeDone || r.money(1) != 10_000_000 {
			t.Fatalf("reserve %s: got %+v, %v, want a grant of 10000000", id, r, err)
		}
	}
	if got := ledgertest.Snapshot(t, s); got.Reserved != before.Reserved+10_000_000 || got.InFlight != before.InFlight+1 {
		t.Errorf("after a repeated reserve: got reserved %d in flight %d, want %d, %d", got.Reserved, got.InFlight,
			before.Reserved+10_000_000, before.InFlight+1)
	}
	// Forgotten after Remember: the outcome of an id lasts an hour by default.
	f.advance(DefaultRemember + time.Second)
	ledgertest.Snapshot(t, s) // housekeeping runs in every script; the leases ran out too
	ids, _ := f.mr.HKeys(s.keys[3])
	for _, id := range ids {
		if v := f.mr.HGet(s.keys[3], id); v[0] != 'g' {
			t.Errorf("outcome of %s remembered after an hour: got %q, want only the two reclaimed just now", id, v)
		}
	}
	if len(ids) != 2 {
		t.Errorf("outcomes after an hour: got %v, want the two reservations reclaimed just now", ids)
	}
}

// TestLeases: a reservation whose process stops renewing it is reclaimed by the
// next operation of any process once its lease ends; a live process renews its
// leases; a late settle of a reclaimed reservation still counts.
func TestLeases(t *testing.T) {
	f := newFake(t)
	caps := core.Caps{Session: core.Dollar}
	lease := Options{Lease: 10 * time.Second}
	dead := f.open("lease", caps, lease)
	live := f.open("lease", caps, lease)
	gd := ledgertest.Hold(t, dead.Ledger(), 600_000_000)
	gl := ledgertest.Hold(t, live.Ledger(), 300_000_000)
	if _, err := live.Ledger().Reserve(t.Context(), core.ReserveRequest{Input: 200_000_000, Requested: 1}); !errors.Is(err, core.ErrBudgetExhausted) {
		t.Fatalf("reserve past the cap: got %v, want %v", err, core.ErrBudgetExhausted)
	}
	for range 3 { // 24 s: only the live store renews, every 8 s
		f.advance(8 * time.Second)
		live.tick(t.Context())
	}
	snap := ledgertest.Snapshot(t, live)
	if snap.Reserved != 300_000_000 || snap.InFlight != 1 {
		t.Fatalf("after the dead lease ran out: got reserved %s in flight %d, want $0.30, 1", snap.Reserved, snap.InFlight)
	}
	if got := f.mr.HGet(live.keys[0], "reclaimed"); got != "1" {
		t.Errorf("reclaimed: got %q, want 1", got)
	}
	back := ledgertest.Hold(t, live.Ledger(), 600_000_000) // the budget came back
	if err := live.Ledger().Release(t.Context(), back.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := live.Ledger().Settle(t.Context(), gl.ID, 300_000_000); err != nil {
		t.Fatalf("settle the renewed reservation: %v", err)
	}
	// The dead process comes back and settles: the money was spent, so it counts.
	st, err := dead.Ledger().Settle(t.Context(), gd.ID, 500_000_000)
	if err != nil {
		t.Fatalf("late settle: %v", err)
	}
	if st.Reserved != 600_000_000 || st.Violation != 0 {
		t.Errorf("late settlement: got %+v, want reserved $0.60 and no violation", st)
	}
	snap = ledgertest.Snapshot(t, live)
	if snap.Spent != 800_000_000 || snap.Calls != 2 {
		t.Errorf("spent: got %s in %d calls, want $0.80 in 2", snap.Spent, snap.Calls)
	}
	// Releasing a reclaimed reservation is harmless.
	gd2 := ledgertest.Hold(t, dead.Ledger(), 100_000_000)
	f.advance(11 * time.Second)
	if err := dead.Ledger().Release(t.Context(), gd2.ID); err != nil {
		t.Errorf("release after the lease ran out: got %v, want nil", err)
	}
}

// TestWindows: the shared daily and monthly spend live in keys named for the
// window, which expire when it ends in the configured time zone.
func TestWindows(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip(err)
	}
	f := newFake(t)
	// 2026-12-05 12:00 UTC is 13:00 in Paris; the day ends at 23:00 UTC, the month
	// on 2026-12-31 at 23:00 UTC.
	s := f.open("win", core.Caps{Session: 100 * core.Dollar}, Options{Daily: core.Dollar, Monthly: 3 * core.Dollar, Location: paris})
	l := s.Ledger()
	ledgertest.Spend(t, l, 700_000_000)
	day, month := "costplan:{win}:daily:2026-12-05", "costplan:{win}:monthly:2026-12"
	if got := f.mr.TTL(day); got != 11*time.Hour {
		t.Errorf("daily key TTL: got %v, want 11h (until midnight in Paris)", got)
	}
	if got := f.mr.TTL(month); got != 26*24*time.Hour+11*time.Hour {
		t.Errorf("monthly key TTL: got %v, want 26 days 11 hours", got)
	}
	_, err = l.Reserve(t.Context(), core.ReserveRequest{Input: 400_000_000, Requested: 1})
	var be *core.BudgetError
	midnight := time.Date(2026, 12, 6, 0, 0, 0, 0, paris)
	want := core.BudgetError{Limit: core.LimitDaily, Cap: core.Dollar, Spent: 700_000_000, Needed: 400_000_000, ResetsAt: midnight}
	if !errors.As(err, &be) || !be.ResetsAt.Equal(midnight) || be.Limit != want.Limit || be.Spent != want.Spent || be.Needed != want.Needed {
		t.Fatalf("reserve past the daily cap: got %v, want %+v", err, want)
	}
	if !strings.Contains(err.Error(), "daily budget") || !strings.Contains(err.Error(), "2026-12-06 00:00 CET") {
		t.Errorf("message: got %q, want it to name the daily budget and when it resets", err)
	}
	ws, err := s.Windows(t.Context())
	if err != nil || len(ws) != 2 || ws[0].Spent != 700_000_000 || ws[1].Spent != 700_000_000 || !ws[0].ResetsAt.Equal(midnight) {
		t.Errorf("Windows: got %+v, %v, want daily and monthly with $0.70 spent", ws, err)
	}

	f.advance(11 * time.Hour) // 00:00 in Paris, the next day
	if f.mr.Exists(day) {
		t.Errorf("daily key %s: still there after midnight, want it expired", day)
	}
	ledgertest.Spend(t, l, 900_000_000)
	ledgertest.Spend(t, l, 0)
	if got, _ := f.mr.Get("costplan:{win}:daily:2026-12-06"); got != "900000000" {
		t.Errorf("new day's spend: got %q, want 900000000", got)
	}
	if got, _ := f.mr.Get(month); got != "1600000000" {
		t.Errorf("month's spend: got %q, want 1600000000", got)
	}
	f.advance(26 * 24 * time.Hour) // 2027-01-01 00:00 in Paris
	if f.mr.Exists(month) {
		t.Errorf("monthly key %s: still there in January, want it expired", month)
	}
	ledgertest.Spend(t, l, 900_000_000)
	if got, _ := f.mr.Get("costplan:{win}:monthly:2027-01"); got != "900000000" {
		t.Errorf("new month's spend: got %q, want 900000000", got)
	}
}

// TestLockPropagation: a lock made by one process reaches the ledger listeners of
// every other process promptly, once, and their next reservation is refused.
func TestLockPropagation(t *testing.T) {
	f := newFake(t)
	caps := core.Caps{Session: core.Dollar}
	opts := Options{Poll: 50 * time.Millisecond}
	a := f.open("lock", caps, opts)
	b := f.open("lock", caps, opts)
	c := f.open("lock", caps, Options{}) // no heartbeat: learns at its next reservation
	recB, recC := ledgertest.Listen(t, b.Ledger()), ledgertest.Listen(t, c.Ledger())
	ledgertest.Spend(t, a.Ledger(), core.Dollar) // reaches the cap: a locks
	e := recB.Wait(t, core.EventLock, 2*time.Second)
	if !e.Snapshot.Locked || e.Snapshot.LockReason != reasonCapReached || e.Snapshot.Spent != core.Dollar {
		t.Errorf("b's lock event: got %+v, want locked by the cap at $1", e.Snapshot)
	}
	_, err := c.Ledger().Reserve(t.Context(), core.ReserveRequest{Input: 1, Requested: 1})
	var be *core.BudgetError
	if !errors.As(err, &be) || be.Limit != core.LimitLocked || be.LockReason != reasonCapReached {
		t.Fatalf("c's next reservation: got %v, want a locked refusal", err)
	}
	if got := recC.Kinds(); !slices.Equal(got, []core.EventKind{core.EventLock}) {
		t.Errorf("c's events: got %v, want [lock]", got)
	}
	time.Sleep(200 * time.Millisecond)
	if got := recB.Kinds(); !slices.Equal(got, []core.EventKind{core.EventLock}) {
		t.Errorf("b's events: got %v, want one lock", got)
	}
	// A reset anywhere unlocks everywhere; the next lock is announced again.
	if err := c.Ledger().Reset(t.Context()); err != nil {
		t.Fatal(err)
	}
	ledgertest.Hold(t, b.Ledger(), 1)
	if err := a.Ledger().Lock(t.Context(), "stopped by the operator"); err != nil {
		t.Fatal(err)
	}
	e = recB.Wait(t, core.EventLock, 2*time.Second)
	if e.Snapshot.LockReason != "stopped by the operator" {
		t.Errorf("second lock: got reason %q, want the operator's", e.Snapshot.LockReason)
	}
}

// TestFailClosed: with Redis gone, reservations are refused at once with an error
// that names the store; settlements of calls in flight are kept and sent when Redis
// is back, and reservations work again.
func TestFailClosed(t *testing.T) {
	f := newFake(t)
	s := f.open("closed", core.Caps{Session: core.Dollar}, Options{Timeout: 300 * time.Millisecond})
	l := s.Ledger()
	g := ledgertest.Hold(t, l, 200_000_000)
	addr := f.mr.Addr()
	f.mr.Close()
	for range 2 {
		start := time.Now()
		_, err := l.Reserve(t.Context(), core.ReserveRequest{Input: 1, Requested: 1})
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "budget store redis://"+addr+"/0") {
			t.Fatalf("reserve with Redis gone: got %v, want ErrUnavailable naming the store", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("reserve took %v, want at most the timeout", d)
		}
	}
	if _, err := l.Snapshot(t.Context()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("snapshot with Redis gone: got %v, want ErrUnavailable", err)
	}
	st, err := l.Settle(t.Context(), g.ID, 150_000_000)
	if err != nil || st.Actual != 150_000_000 || st.Reserved != 200_000_000 {
		t.Errorf("settle with Redis gone: got %+v, %v, want the settlement kept", st, err)
	}
	if err := l.Refuse(t.Context()); err != nil {
		t.Errorf("refuse with Redis gone: %v", err)
	}
	if err := f.mr.Restart(); err != nil {
		t.Fatal(err)
	}
	s.tick(t.Context())
	s.tick(t.Context()) // the flush is idempotent
	snap := ledgertest.Snapshot(t, s)
	if snap.Spent != 150_000_000 || snap.Reserved != 0 || snap.InFlight != 0 || snap.Calls != 1 || snap.Refused != 1 {
		t.Errorf("after Redis came back: got %+v, want $0.15 spent in 1 call, 1 refused, nothing held", snap)
	}
	ledgertest.Hold(t, l, 100_000_000)
}

// TestFailClosedRecovers: the heartbeat finds Redis back within one Poll, a second
// by default, and reservations pass again without anyone calling tick.
func TestFailClosedRecovers(t *testing.T) {
	f := newFake(t)
	s := f.open("recovers", core.Caps{Session: core.Dollar}, Options{Poll: DefaultPoll, Timeout: 300 * time.Millisecond})
	l := s.Ledger()
	f.mr.Close()
	req := core.ReserveRequest{Input: 1, Requested: 1}
	if _, err := l.Reserve(t.Context(), req); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("reserve with Redis gone: got %v, want ErrUnavailable", err)
	}
	if err := f.mr.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	for {
		_, err := l.Reserve(t.Context(), req)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrUnavailable) || time.Since(back) > DefaultPoll+time.Second {
			t.Fatalf("reserve %v after Redis came back: got %v, want a grant within about %v", time.Since(back), err, DefaultPoll)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("reservations passed again %v after Redis came back", time.Since(back).Round(time.Millisecond))
}

// TestHungRedis: a Redis that keeps the connection and never answers fails a call
// after the round-trip timeout, 2 seconds by default, and the calls after it at once:
// no call hangs. The store dials its own client from the URL, as in production.
func TestHungRedis(t *testing.T) {
	f := newFake(t)
	relay := newStallingRelay(t, f.mr.Addr())
	s, err := open(t.Context(), Options{URL: "redis://" + relay.Addr().String() + "/0", Key: "hung",
		Caps: core.Caps{Session: core.Dollar}}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(t.Context()) })
	l := s.Ledger()
	ledgertest.Hold(t, l, 100_000_000)
	relay.stall.Store(true)
	req := core.ReserveRequest{Input: 1, Requested: 1}
	start := time.Now()
	_, err = l.Reserve(t.Context(), req)
	if took := time.Since(start); !errors.Is(err, ErrUnavailable) || took < DefaultTimeout-100*time.Millisecond || took > DefaultTimeout+time.Second {
		t.Errorf("reserve with Redis hung: got %v after %v, want ErrUnavailable after about %v", err, took, DefaultTimeout)
	}
	start = time.Now()
	_, err = l.Reserve(t.Context(), req)
	if took := time.Since(start); !errors.Is(err, ErrUnavailable) || took > 100*time.Millisecond {
		t.Errorf("next reserve: got %v after %v, want ErrUnavailable at once", err, took)
	}
}

// stallingRelay passes connections on to a Redis server until stall is set; from
// then on it reads what clients send and answers nothing, like a hung server.
type stallingRelay struct {
	net.Listener
	stall atomic.Bool
}

func newStallingRelay(t *testing.T, addr string) *stallingRelay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &stallingRelay{Listener: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.relay(c, addr)
		}
	}()
	return r
}

func (r *stallingRelay) relay(c net.Conn, addr string) {
	defer c.Close()
	up, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { _, _ = io.Copy(c, up) }()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if !r.stall.Load() {
			if _, err := up.Write(buf[:n]); err != nil {
				return
			}
		}
	}
}

// TestFailOpen: with Redis gone, calls are metered here within what was left at
// the last contact; their spend is added to Redis once it is back.
func TestFailOpen(t *testing.T) {
	f := newFake(t)
	caps := core.Caps{Session: core.Dollar, PerCall: 400_000_000}
	s := f.open("open", caps, Options{FailOpen: true, Timeout: 300 * time.Millisecond})
	other := f.open("open", caps, Options{})
	l := s.Ledger()
	ledgertest.Spend(t, other.Ledger(), 300_000_000)
	inflight := ledgertest.Hold(t, l, 100_000_000)
	ledgertest.Snapshot(t, s) // the last contact: $0.60 left
	f.mr.Close()
	if _, err := l.Reserve(t.Context(), core.ReserveRequest{Input: 450_000_000, Requested: 1}); !errors.Is(err, core.ErrPerCallExceeded) {
		t.Errorf("above the per-call cap while down: got %v, want %v", err, core.ErrPerCallExceeded)
	}
	g1 := ledgertest.Hold(t, l, 350_000_000)
	g2 := ledgertest.Hold(t, l, 250_000_000)
	if _, err := l.Reserve(t.Context(), core.ReserveRequest{Input: 1, Requested: 1}); !errors.Is(err, core.ErrBudgetExhausted) {
		t.Errorf("past what was left while down: got %v, want %v", err, core.ErrBudgetExhausted)
	}
	for _, c := range []struct {
		g      core.Grant
		actual core.Money
	}{{g1, 300_000_000}, {g2, 250_000_000}, {inflight, 100_000_000}} {
		if _, err := l.Settle(t.Context(), c.g.ID, c.actual); err != nil {
			t.Fatalf("settle while down: %v", err)
		}
	}
	if snap := ledgertest.Snapshot(t, s); snap.Spent != 950_000_000 {
		t.Errorf("local view while down: got spent %s, want $0.95", snap.Spent)
	}
	if err := f.mr.Restart(); err != nil {
		t.Fatal(err)
	}
	s.tick(t.Context())
	s.tick(t.Context())
	snap := ledgertest.Snapshot(t, other)
	if snap.Spent != 950_000_000 || snap.Calls != 4 || snap.Reserved != 0 || snap.InFlight != 0 {
		t.Errorf("after reconciling: got %+v, want $0.95 in 4 calls, nothing held", snap)
	}
}

// TestAdmin: an operator's store reads the registered caps and windows; a reset
// needs the admin token registered for the budget.
func TestAdmin(t *testing.T) {
	f := newFake(t)
	caps := core.Caps{Session: 2 * core.Dollar, PerCall: core.Dollar / 2, WarnAt: 0.75}
	s := f.open("adm", caps, Options{AdminToken: "s3cret", Daily: core.Dollar, Location: time.UTC})
	ledgertest.Spend(t, s.Ledger(), 300_000_000)
	admin := func(token string) *Store {
		a, err := OpenAdmin(t.Context(), Options{Client: f.client(), URL: "redis://" + f.mr.Addr(), Key: "adm", AdminToken: token, Now: f.Now})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := admin("wrong")
	snap := ledgertest.Snapshot(t, a)
	if snap.Session != caps.Session || snap.PerCall != caps.PerCall || snap.WarnAt != caps.WarnAt || snap.Spent != 300_000_000 || snap.Remaining != 1_700_000_000 {
		t.Errorf("admin snapshot: got %+v, want the registered caps and $0.30 spent", snap)
	}
	if ws, err := a.Windows(t.Context()); err != nil || len(ws) != 1 || ws[0].Cap != core.Dollar || ws[0].Spent != 300_000_000 {
		t.Errorf("admin windows: got %+v, %v, want the daily window", ws, err)
	}
	if _, err := a.Reset(t.Context()); err == nil || !strings.Contains(err.Error(), "admin token") {
		t.Errorf("reset with the wrong token: got %v, want a refusal", err)
	}
	if _, err := admin("s3cret").Reset(t.Context()); err != nil {
		t.Errorf("reset with the token: %v", err)
	}
	if snap := ledgertest.Snapshot(t, s); snap.Spent != 0 {
		t.Errorf("after reset: got spent %s, want $0", snap.Spent)
	}

	// Windows counted in a time zone the operator's machine cannot load would be
	// read for the wrong days: that is an error, not a quiet fall back to local time.
	f.open("adm-tz", caps, Options{Daily: core.Dollar, Location: time.FixedZone("Mars/Olympus", 3600)})
	if _, err := OpenAdmin(t.Context(), Options{Client: f.client(), Key: "adm-tz"}); err == nil || !strings.Contains(err.Error(), `"Mars/Olympus"`) {
		t.Errorf("admin of a budget in an unknown time zone: got %v, want an error naming it", err)
	}
}

// TestKeys: every key of a budget carries its hash tag, and the key is checked.
func TestKeys(t *testing.T) {
	f := newFake(t)
	s := f.open("team-a/ci", core.Caps{Session: core.Dollar}, Options{Daily: core.Dollar, Monthly: core.Dollar})
	ledgertest.Spend(t, s.Ledger(), 1000)
	ledgertest.Hold(t, s.Ledger(), 1000)
	for _, k := range f.mr.Keys() {
		if !strings.HasPrefix(k, "costplan:{team-a/ci}:") {
			t.Errorf("key %q: want the prefix costplan:{team-a/ci}:", k)
		}
	}
	for _, bad := range []string{"", "a{b}", "with space", strings.Repeat("k", 129)} {
		if err := CheckKey(bad); err == nil {
			t.Errorf("CheckKey(%q): got nil, want an error", bad)
		}
	}
}

// TestConcurrent: four stores (four processes) reserve and settle at once against
// one budget. A fifth store keeps reading the shared state meanwhile: settled plus
// reserved never passes the cap at any instant. At the end everything settled is
// counted and nothing stays held.
func TestConcurrent(t *testing.T) {
	f := newFake(t)
	caps := core.Caps{Session: 5 * core.Dollar, PerCall: 200_000_000}
	var ledgers []*core.Ledger
	for range 4 {
		ledgers = append(ledgers, f.open("conc", caps, Options{Poll: 20 * time.Millisecond}).Ledger())
	}
	reader := f.open("conc", caps, Options{})
	done := make(chan struct{})
	var watcher sync.WaitGroup
	var checked int
	watcher.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			s, err := reader.Snapshot(t.Context())
			if err != nil {
				t.Errorf("snapshot: %v", err)
				return
			}
			if s.Spent+s.Reserved > caps.Session || s.Reserved < 0 || s.InFlight < 0 {
				t.Errorf("snapshot %d: got spent %s + reserved %s (in flight %d), want at most %s",
					checked, s.Spent, s.Reserved, s.InFlight, caps.Session)
				return
			}
			checked++
		}
	})
	var settled atomic.Int64
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(5, uint64(i)))
			l := ledgers[i%4]
			for range 5 {
				g, err := l.Reserve(t.Context(), core.ReserveRequest{Input: core.Money(r.Int64N(20_000_000)),
					OutputRate: 15 * core.Dollar, Requested: core.Tokens(r.Int64N(8000)), ModelMax: 8192, MinOutput: 256})
				if err != nil {
					if !errors.Is(err, core.ErrBudgetExhausted) && !errors.Is(err, core.ErrPerCallExceeded) {
						t.Errorf("reserve: %v", err)
					}
					continue
				}
				actual := core.Money(r.Int64N(int64(g.Amount) + 1))
				if _, err := l.Settle(t.Context(), g.ID, actual); err != nil {
					t.Errorf("settle: %v", err)
				}
				settled.Add(int64(actual))
			}
		})
	}
	wg.Wait()
	close(done)
	watcher.Wait()
	if checked == 0 {
		t.Errorf("snapshots checked while calls ran: got none, want some")
	}
	snap := ledgertest.Snapshot(t, reader)
	if snap.Spent != core.Money(settled.Load()) || snap.Spent > caps.Session || snap.Reserved != 0 || snap.InFlight != 0 {
		t.Errorf("got %+v, want spent %d at most the cap, nothing held", snap, settled.Load())
	}
	t.Logf("%d snapshots checked while calls ran; spent %s", checked, snap.Spent)
}
