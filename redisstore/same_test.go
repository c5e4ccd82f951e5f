package redisstore

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/internal/ledgertest"
)

// pair runs every operation on an in-memory ledger and on a ledger over the Redis
// store, and fails the test when their answers, events or states differ.
type pair struct {
	t        *testing.T
	mem, red *core.Ledger
	memEv    *ledgertest.Recorder
	redEv    *ledgertest.Recorder
	ids      [][2]string // reservation i: its id in the memory store, in Redis
	amounts  []core.Money
	live     []int // reservations neither settled nor released
	dead     map[int]string
}

// opener opens a store of a budget key with caps, without its background work.
type opener func(key string, caps core.Caps) *Store

func newPair(t *testing.T, open opener, key string, caps core.Caps) *pair {
	mem, err := core.NewMemoryStore(caps)
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{t: t, mem: core.NewLedger(mem), red: open(key, caps).Ledger(), dead: map[int]string{}}
	p.memEv, p.redEv = ledgertest.Listen(t, p.mem), ledgertest.Listen(t, p.red)
	return p
}

// same compares the events since the last step and the states.
func (p *pair) same(step string) {
	p.t.Helper()
	me, re := p.memEv.Take(), p.redEv.Take()
	if mk, rk := ledgertest.Kinds(me), ledgertest.Kinds(re); !slices.Equal(mk, rk) {
		p.t.Fatalf("%s: events: memory %v, redis %v", step, mk, rk)
	}
	for i := range me {
		if me[i] != re[i] {
			p.t.Errorf("%s: event %d: memory %+v, redis %+v", step, i, me[i], re[i])
		}
	}
	ms, err1 := p.mem.Snapshot(p.t.Context())
	rs, err2 := p.red.Snapshot(p.t.Context())
	if err1 != nil || err2 != nil || ms != rs {
		p.t.Fatalf("%s: snapshot: memory %+v (%v), redis %+v (%v)", step, ms, err1, rs, err2)
	}
}

func sameErr(a, b error) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	if a == nil {
		return true
	}
	var ba, bb *core.BudgetError
	if errors.As(a, &ba) || errors.As(b, &bb) {
		return errors.As(a, &ba) && errors.As(b, &bb) && *ba == *bb
	}
	return errors.Is(a, core.ErrUnknownReservation) == errors.Is(b, core.ErrUnknownReservation)
}

func (p *pair) reserve(req core.ReserveRequest) {
	p.t.Helper()
	mg, merr := p.mem.Reserve(p.t.Context(), req)
	rg, rerr := p.red.Reserve(p.t.Context(), req)
	step := fmt.Sprintf("reserve %+v", req)
	if !sameErr(merr, rerr) {
		p.t.Fatalf("%s: error: memory %v, redis %v", step, merr, rerr)
	}
	ids := [2]string{mg.ID, rg.ID}
	mg.ID, rg.ID = "", ""
	if mg != rg {
		p.t.Fatalf("%s: grant: memory %+v, redis %+v", step, mg, rg)
	}
	if merr == nil {
		p.ids = append(p.ids, ids)
		p.amounts = append(p.amounts, mg.Amount)
		p.live = append(p.live, len(p.ids)-1)
	}
	p.same(step)
}

func (p *pair) settle(i int, actual core.Money) {
	p.t.Helper()
	ms, merr := p.mem.Settle(p.t.Context(), p.ids[i][0], actual)
	rs, rerr := p.red.Settle(p.t.Context(), p.ids[i][1], actual)
	step := fmt.Sprintf("settle %d for %s", i, actual)
	if !sameErr(merr, rerr) || ms != rs {
		p.t.Fatalf("%s: memory %+v, %v; redis %+v, %v", step, ms, merr, rs, rerr)
	}
	p.retire(i, "settled")
	p.same(step)
}

func (p *pair) release(i int) {
	p.t.Helper()
	merr := p.mem.Release(p.t.Context(), p.ids[i][0])
	rerr := p.red.Release(p.t.Context(), p.ids[i][1])
	step := fmt.Sprintf("release %d", i)
	if !sameErr(merr, rerr) {
		p.t.Fatalf("%s: memory %v, redis %v", step, merr, rerr)
	}
	p.retire(i, "released")
	p.same(step)
}

func (p *pair) retire(i int, how string) {
	if j := slices.Index(p.live, i); j >= 0 {
		p.live = slices.Delete(p.live, j, j+1)
		p.dead[i] = how
	}
}

func (p *pair) do(name string, fm, fr func(*core.Ledger) error) {
	p.t.Helper()
	merr, rerr := fm(p.mem), fr(p.red)
	if !sameErr(merr, rerr) {
		p.t.Fatalf("%s: memory %v, redis %v", name, merr, rerr)
	}
	p.same(name)
}

// TestSameAsMemory runs random sequences of operations on both stores: every grant,
// refusal, settlement, event and snapshot must be the same.
func TestSameAsMemory(t *testing.T) {
	sameAsMemory(t, func(t *testing.T) opener {
		f := newFake(t)
		return func(key string, caps core.Caps) *Store { return f.open(key, caps, Options{}) }
	}, 4, 200)
}

// sameAsMemory runs seeds random sequences of steps operations.
func sameAsMemory(t *testing.T, newOpener func(*testing.T) opener, seeds uint64, steps int) {
	capsets := []core.Caps{
		{Session: core.Dollar, PerCall: 300_000_000, WarnAt: 0.8},
		{Session: 5 * core.Dollar, WarnAt: 0.5},
		{Session: 250_000_000, PerCall: core.Dollar},
		{Session: 10 * core.Dollar, PerCall: 2 * core.Dollar, WarnAt: 1},
	}
	rates := []core.Money{0, 3, 3 * core.Dollar, 15 * core.Dollar, 75 * core.Dollar, 3_000_000_007}
	midnight := start.Add(12 * time.Hour)
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			caps := capsets[seed%uint64(len(capsets))]
			p := newPair(t, newOpener(t), fmt.Sprintf("same-%d", seed), caps)
			for range steps {
				switch n := r.IntN(100); {
				case n < 45:
					req := core.ReserveRequest{
						Input:      core.Money(r.Int64N(int64(caps.Session / 4))),
						OutputRate: rates[r.IntN(len(rates))],
						Requested:  core.Tokens(r.Int64N(40_000) - 2000),
						ModelMax:   core.Tokens(r.Int64N(20_000)),
						MinOutput:  core.Tokens(r.Int64N(2048)),
					}
					if r.IntN(4) == 0 {
						req.Windows = []core.Window{{Name: core.LimitDaily, Cap: caps.Session, Spent: core.Money(r.Int64N(int64(caps.Session))), ResetsAt: midnight}}
					}
					p.reserve(req)
				case n < 75 && len(p.live) > 0:
					i := p.live[r.IntN(len(p.live))]
					held := p.amounts[i]
					actual := core.Money(r.Int64N(int64(held) + 1))
					if r.IntN(5) == 0 {
						actual = held + core.Money(r.Int64N(int64(caps.Session/10)+1)) // a violation
					}
					p.settle(i, actual)
				case n < 85 && len(p.live) > 0:
					p.release(p.live[r.IntN(len(p.live))])
				case n < 88:
					p.do("refuse", func(l *core.Ledger) error { return l.Refuse(t.Context()) }, func(l *core.Ledger) error { return l.Refuse(t.Context()) })
				case n < 90:
					lock := func(l *core.Ledger) error { return l.Lock(t.Context(), "stopped by hand") }
					p.do("lock", lock, lock)
				case n < 95:
					reset := func(l *core.Ledger) error { return l.Reset(t.Context()) }
					p.do("reset", reset, reset)
				default:
					p.deadOp(r)
				}
			}
		})
	}
}

// deadOp settles or releases a reservation that is no longer held (or never was):
// both stores must refuse it alike, except repeating the same operation, which the
// Redis store accepts (it is idempotent) and TestIdempotent covers.
func (p *pair) deadOp(r *rand.Rand) {
	p.t.Helper()
	cands := slices.Sorted(maps.Keys(p.dead))
	if len(cands) == 0 || r.IntN(3) == 0 {
		ms, merr := p.mem.Settle(p.t.Context(), "no-such-id", 1)
		rs, rerr := p.red.Settle(p.t.Context(), "no-such-id", 1)
		if !errors.Is(merr, core.ErrUnknownReservation) || !errors.Is(rerr, core.ErrUnknownReservation) || ms != rs {
			p.t.Fatalf("settle never issued: memory %v, redis %v", merr, rerr)
		}
		p.same("settle never issued")
		return
	}
	i := cands[r.IntN(len(cands))]
	if p.dead[i] == "settled" {
		merr := p.mem.Release(p.t.Context(), p.ids[i][0])
		rerr := p.red.Release(p.t.Context(), p.ids[i][1])
		if !errors.Is(merr, core.ErrUnknownReservation) || !errors.Is(rerr, core.ErrUnknownReservation) {
			p.t.Fatalf("release settled %d: memory %v, redis %v", i, merr, rerr)
		}
		p.same("release settled")
		return
	}
	_, merr := p.mem.Settle(p.t.Context(), p.ids[i][0], 1)
	_, rerr := p.red.Settle(p.t.Context(), p.ids[i][1], 1)
	if !errors.Is(merr, core.ErrUnknownReservation) || !errors.Is(rerr, core.ErrUnknownReservation) {
		p.t.Fatalf("settle released %d: memory %v, redis %v", i, merr, rerr)
	}
	p.same("settle released")
}
