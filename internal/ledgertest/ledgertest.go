// Package ledgertest holds the steps that the tests of core's ledger and of the
// stores behind it share: reserving and spending exact amounts, reading a snapshot,
// and recording the events a ledger delivers. Each step fails the test on an
// unexpected error.
package ledgertest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/costplan/costplan/core"
)

// Hold reserves exactly amount on l, as an input bound with free output, and fails
// the test unless the grant holds that amount.
func Hold(t testing.TB, l *core.Ledger, amount core.Money) core.Grant {
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

// Spend runs one call on l that costs exactly what it reserved.
func Spend(t testing.TB, l *core.Ledger, amount core.Money) core.Settlement {
	t.Helper()
	g := Hold(t, l, amount)
	s, err := l.Settle(t.Context(), g.ID, amount)
	if err != nil {
		t.Fatalf("settle %s: %v", amount, err)
	}
	return s
}

// Snapshotter is a *core.Ledger or a core.Store.
type Snapshotter interface {
	Snapshot(ctx context.Context) (core.Snapshot, error)
}

// Snapshot returns the state of s.
func Snapshot(t testing.TB, s Snapshotter) core.Snapshot {
	t.Helper()
	snap, err := s.Snapshot(t.Context())
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return snap
}

// Recorder collects the events a ledger delivers. It is safe for concurrent use.
type Recorder struct {
	ch chan core.Event // the events for Wait; later ones are dropped when it is full

	mu     sync.Mutex // guards the following fields
	events []core.Event
}

// Listen subscribes a Recorder to l until the test ends.
func Listen(t testing.TB, l *core.Ledger) *Recorder {
	r := &Recorder{ch: make(chan core.Event, 100)}
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

// Kinds returns the kinds of the events recorded, in order.
func (r *Recorder) Kinds() []core.EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Kinds(r.events)
}

// Last returns the last event recorded, or the zero Event.
func (r *Recorder) Last() core.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		return core.Event{}
	}
	return r.events[len(r.events)-1]
}

// Take returns the events recorded and forgets them.
func (r *Recorder) Take() []core.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	events := r.events
	r.events = nil
	return events
}

// Wait returns the next event of kind delivered, and fails the test when none
// comes within d.
func (r *Recorder) Wait(t testing.TB, kind core.EventKind, d time.Duration) core.Event {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e := <-r.ch:
			if e.Kind == kind {
				return e
			}
		case <-timeout:
			t.Fatalf("no %v event within %v (events: %v)", kind, d, r.Kinds())
			return core.Event{}
		}
	}
}

// Kinds returns the kinds of events, in order.
func Kinds(events []core.Event) []core.EventKind {
	var ks []core.EventKind
	for _, e := range events {
		ks = append(ks, e.Kind)
	}
	return ks
}
