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
