package redisstore

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/internal/ledgertest"
	"github.com/costplan/costplan/internal/redistest"
)

// real opens stores on a real redis-server.
type real struct {
	t   *testing.T
	srv *redistest.Server
}

func newReal(t *testing.T) *real { return &real{t: t, srv: redistest.Start(t)} }

func (r *real) open(key string, caps core.Caps, opts Options, background bool) *Store {
	r.t.Helper()
	opts.URL, opts.Key, opts.Caps = r.srv.URL(), key, caps
	s, err := open(r.t.Context(), opts, background)
	if err != nil {
		r.t.Fatalf("Open: %v", err)
	}
	r.t.Cleanup(func() { _ = s.Close(r.t.Context()) })
	return s
}

// TestRealRedis runs the scripts on a real redis-server, which the test starts on a
// free port (it is skipped when redis-server is not installed).
func TestRealRedis(t *testing.T) {
	r := newReal(t)
	t.Run("same as memory", func(t *testing.T) {
		sameAsMemory(t, func(t *testing.T) opener {
			return func(key string, caps core.Caps) *Store { return r.open(key, caps, Options{}, false) }
		}, 3, 150)
	})
	t.Run("arithmetic", func(t *testing.T) {
		s := r.open("arith", core.Caps{Session: MaxAmount}, Options{}, false)
		rnd := rand.New(rand.NewPCG(8, 9))
		for i := range 2000 {
			req := core.ReserveRequest{Input: core.Money(rnd.Int64N(int64(MaxAmount)) >> rnd.IntN(63)),
				OutputRate: core.Money(rnd.Int64N(int64(MaxRate)) >> rnd.IntN(63)),
				Requested:  core.Tokens(rnd.Int64N(1<<40) >> rnd.IntN(63)), MinOutput: core.Tokens(rnd.Int64N(4096))}
			avail := core.Money(rnd.Int64N(int64(MaxAmount)) >> rnd.IntN(63))
			req.Windows = []core.Window{{Name: core.LimitDaily, Cap: avail}}
			tokens, amount, _, ok := core.DecideGrant(clamped(req), avail)
			g, _, err := s.Reserve(t.Context(), req)
			if (err == nil) != ok || ok && (g.Tokens != tokens || g.Amount != amount) {
				t.Fatalf("%d: %+v avail %d: store %+v, %v; want %d tokens for %d, ok %v", i, req, avail, g, err, tokens, amount, ok)
			}
			if ok {
				_ = s.Release(t.Context(), g.ID)
			}
		}
	})
	t.Run("lease", func(t *testing.T) {
		caps := core.Caps{Session: core.Dollar}
		dead := r.open("lease", caps, Options{Lease: 500 * time.Millisecond}, false)
		other := r.open("lease", caps, Options{}, false)
		ledgertest.Hold(t, dead.Ledger(), 700_000_000)
		if _, err := other.Ledger().Reserve(t.Context(), core.ReserveRequest{Input: 700_000_000, Requested: 1}); err == nil {
			t.Fatal("reserve past the cap: got a grant, want a refusal")
		}
		time.Sleep(700 * time.Millisecond)
		ledgertest.Hold(t, other.Ledger(), 700_000_000)
	})
	t.Run("pub/sub", func(t *testing.T) {
		caps := core.Caps{Session: core.Dollar}
		a := r.open("pubsub", caps, Options{Poll: time.Minute}, true)
		b := r.open("pubsub", caps, Options{Poll: time.Minute}, true)
		rec := ledgertest.Listen(t, b.Ledger())
		time.Sleep(100 * time.Millisecond) // b subscribes
		start := time.Now()
		if err := a.Ledger().Lock(t.Context(), "stopped by hand"); err != nil {
			t.Fatal(err)
		}
		rec.Wait(t, core.EventLock, 5*time.Second)
		t.Logf("lock reached the other process in %v", time.Since(start))
	})
	t.Run("stop and restart", func(t *testing.T) {
		s := r.open("restart", core.Caps{Session: core.Dollar}, Options{Timeout: 500 * time.Millisecond}, false)
		g := ledgertest.Hold(t, s.Ledger(), 100_000_000)
		r.srv.Stop()
		_, err := s.Ledger().Reserve(t.Context(), core.ReserveRequest{Input: 1, Requested: 1})
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), r.srv.URL()) {
			t.Fatalf("reserve with Redis stopped: got %v, want ErrUnavailable naming %s", err, r.srv.URL())
		}
		if _, err := s.Ledger().Settle(t.Context(), g.ID, 80_000_000); err != nil {
			t.Fatalf("settle with Redis stopped: %v", err)
		}
		r.srv.Restart()
		s.tick(t.Context())
		ledgertest.Hold(t, s.Ledger(), 100_000_000)
		if snap := ledgertest.Snapshot(t, s); snap.Spent != 80_000_000 || snap.Calls != 1 {
			t.Errorf("after the restart: got spent %s in %d calls, want $0.08 in 1", snap.Spent, snap.Calls)
		}
	})
}

// TestRealRedisClient checks a client built from a URL: database and credentials.
func TestRealRedisClient(t *testing.T) {
	r := newReal(t)
	s := r.open("db", core.Caps{Session: core.Dollar}, Options{URL: ""}, false)
	ledgertest.Spend(t, s.Ledger(), 5)
	o, err := ClientOptions("redis://"+r.srv.Addr+"/3", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	defer c.Close()
	if n, err := c.DBSize(t.Context()).Result(); err != nil || n != 0 {
		t.Errorf("database 3: got %d keys, %v, want none (the store used database 0)", n, err)
	}
	if got := Redact("redis://user:pw@" + r.srv.Addr + "/0"); strings.Contains(got, "pw") {
		t.Errorf("Redact: got %q, want the password hidden", got)
	}
}
