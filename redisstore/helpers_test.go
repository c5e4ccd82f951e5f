package redisstore

import (
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/costplan/costplan/core"
)

// start is the instant the tests' clocks begin at: noon UTC, a Saturday.
var start = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

// fake is a miniredis server whose clock, and the stores', only move when the test
// says so.
type fake struct {
	t  *testing.T
	mr *miniredis.Miniredis

	mu  sync.Mutex // guards now
	now time.Time
}

func newFake(t *testing.T) *fake {
	f := &fake{t: t, mr: miniredis.RunT(t), now: start}
	f.mr.SetTime(start)
	return f
}

// Now is the stores' clock.
func (f *fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// advance moves every clock by d: miniredis's TIME (SetTime), its TTLs
// (FastForward) and the stores'.
func (f *fake) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	now := f.now
	f.mu.Unlock()
	f.mr.SetTime(now)
	f.mr.FastForward(d)
}

func (f *fake) client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: f.mr.Addr(), MaxRetries: -1, DisableIdentity: true})
	f.t.Cleanup(func() { c.Close() })
	return c
}

// open opens a store of budget key on the fake. Its heartbeat and watcher run only
// when opts sets Poll; otherwise the test calls tick.
func (f *fake) open(key string, caps core.Caps, opts Options) *Store {
	f.t.Helper()
	opts.Client = f.client()
	opts.URL = "redis://" + f.mr.Addr() + "/0"
	opts.Key, opts.Caps, opts.Now = key, caps, f.Now
	s, err := open(f.t.Context(), opts, opts.Poll > 0)
	if err != nil {
		f.t.Fatalf("Open: %v", err)
	}
	f.t.Cleanup(func() { _ = s.Close(f.t.Context()) })
	return s
}

// holdFor reserves exactly amount: an input bound with free output.
func holdFor(t *testing.T, l *core.Ledger, amount core.Money) core.Grant {
	t.Helper()
	g, err := l.Reserve(t.Context(), core.ReserveRequest{Input: amount, Requested: 1})
	if err != nil {
		t.Fatalf("reserve %s: %v", amount, err)
	}
	if g.Amount != amount {
		t.Fatalf("reserve %s: got amount %s, want %s", amount, g.Amount, amount)
	}
	return g
}

// spend runs one call that costs exactly what it reserved.
func spend(t *testing.T, l *core.Ledger, amount core.Money) core.Settlement {
	t.Helper()
	g := holdFor(t, l, amount)
	s, err := l.Settle(t.Context(), g.ID, amount)
	if err != nil {
		t.Fatalf("settle %s: %v", amount, err)
	}
	return s
}

func snapshot(t *testing.T, st core.Store) core.Snapshot {
	t.Helper()
	s, err := st.Snapshot(t.Context())
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return s
}

// recorder collects the events a ledger delivers.
type recorder struct {
	mu     sync.Mutex
	events []core.Event
	ch     chan core.Event
}

func listen(t *testing.T, l *core.Ledger) *recorder {
	r := &recorder{ch: make(chan core.Event, 100)}
	t.Cleanup(l.Subscribe(func(e core.Event) {
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
		select {
		case r.ch <- e:
		default:
		}
	}))
	return r
}

func (r *recorder) kinds() []core.EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ks []core.EventKind
	for _, e := range r.events {
		ks = append(ks, e.Kind)
	}
	return ks
}

// wait returns the next event of kind, or fails after d.
func (r *recorder) wait(t *testing.T, kind core.EventKind, d time.Duration) core.Event {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e := <-r.ch:
			if e.Kind == kind {
				return e
			}
		case <-timeout:
			t.Fatalf("no %v event within %v (events: %v)", kind, d, r.kinds())
			return core.Event{}
		}
	}
}
