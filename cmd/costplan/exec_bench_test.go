package main

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkExecOverhead measures what `costplan exec` adds to running a command:
// `costplan exec -q -- true` against `true` alone, each started as a process the
// way a shell would. It reports both times, the milliseconds added and their
// ratio; the target is under 30 ms added. The usual ns/op, which would be the sum
// of both runs, is not reported.
//
//	go test ./cmd/costplan -run '^$' -bench ExecOverhead -benchtime 50x
func BenchmarkExecOverhead(b *testing.B) {
	bin := costplanBinary(b, false) // not the -race build: its startup is not the product's
	truePath, err := exec.LookPath("true")
	if err != nil {
		b.Skip("no true command")
	}
	env := binEnv(b)
	journalPath := filepath.Join(b.TempDir(), "journal.jsonl")
	run := func(argv ...string) time.Duration {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %v\n%s", argv, err, out)
		}
		return time.Since(start)
	}
	var alone, wrapped time.Duration
	n := 0
	for b.Loop() {
		alone += run(truePath)
		wrapped += run(bin, "exec", "-q", "--session", "1", "--journal", journalPath, "--", truePath)
		n++
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(n) }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(alone), "true-ms/op")
	b.ReportMetric(ms(wrapped), "exec-ms/op")
	b.ReportMetric(ms(wrapped-alone), "added-ms/op")
	b.ReportMetric(float64(wrapped)/float64(alone), "ratio")
}
