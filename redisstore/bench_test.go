package redisstore

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/internal/redistest"
)

// benchCall is one metered call as the proxy makes it: reserve the worst case, then
// settle the actual cost.
func benchCall(b *testing.B, l *core.Ledger) {
	ctx := context.Background()
	req := core.ReserveRequest{Input: 30_000, OutputRate: 15 * core.Dollar, Requested: 1024, ModelMax: 64_000, MinOutput: 256}
	g, err := l.Reserve(ctx, req)
	if err != nil {
		b.Error(err) // not Fatal: parallel callers run on goroutines of their own
		return
	}
	if _, err := l.Settle(ctx, g.ID, 20_000); err != nil {
		b.Error(err)
	}
}

// benchLedgers returns an in-memory ledger and one over a real redis-server on
// loopback, with caps no benchmark reaches.
func benchLedgers(b *testing.B) (mem, red *core.Ledger) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		b.Skip("redis-server is not installed")
	}
	caps := core.Caps{Session: MaxAmount, PerCall: core.Dollar}
	mem, _ = core.NewMemoryLedger(caps)
	srv := redistest.Start(b)
	s, err := Open(b.Context(), Options{URL: srv.URL(), Key: "bench", Caps: caps})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(context.Background()) })
	return mem, s.Ledger()
}

// BenchmarkCall measures one reserve and settle on each store.
func BenchmarkCall(b *testing.B) {
	mem, red := benchLedgers(b)
	for _, c := range []struct {
		name string
		l    *core.Ledger
	}{{"memory", mem}, {"redis", red}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				benchCall(b, c.l)
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					benchCall(b, c.l)
				}
			})
		})
	}
}

// BenchmarkOverhead reports the Redis store's cost per call against the in-memory
// ledger as a ratio (redis/memory), one call at a time and with calls in parallel.
func BenchmarkOverhead(b *testing.B) {
	mem, red := benchLedgers(b)
	measure := func(l *core.Ledger, parallel bool, n int) time.Duration {
		start := time.Now()
		if !parallel {
			for range n {
				benchCall(b, l)
			}
			return time.Since(start)
		}
		done := make(chan struct{})
		const workers = 16
		for range workers {
			go func() {
				for range n / workers {
					benchCall(b, l)
				}
				done <- struct{}{}
			}()
		}
		for range workers {
			<-done
		}
		return time.Since(start)
	}
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				n++
			}
			n = max(n, 1600)
			tm := measure(mem, parallel, n)
			tr := measure(red, parallel, n)
			b.ReportMetric(float64(tm.Nanoseconds())/float64(n), "ns/memory-call")
			b.ReportMetric(float64(tr.Nanoseconds())/float64(n), "ns/redis-call")
			b.ReportMetric(float64(tr)/float64(tm), "redis/memory")
			b.ReportMetric(0, "ns/op") // the loop above only sizes the run
		})
	}
}
