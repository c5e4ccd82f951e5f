package journal

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/costplan/costplan/core"
)

const benchLines = 1_000_000

// writeBenchJournal writes a journal of benchLines varied records and returns its path
// and size.
func writeBenchJournal(b *testing.B) (string, int64) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "journal.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	models := []string{"claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5", "gpt-5", "gpt-5-mini",
		"gpt-4.1", "o3", "claude-sonnet-4-5-20250929"}
	clients := []string{"claude-cli/2.0.14 (external, cli)", "codex_cli_rs/0.46.0", "Anthropic/Go 1.12.0",
		"OpenAI/Go 3.1.0", "python-httpx/0.28.1"}
	outcomes := []string{OutcomeOK, OutcomeOK, OutcomeOK, OutcomeOK, OutcomeOK, OutcomeOK, OutcomeRefused,
		OutcomeUpstreamError, OutcomeAborted}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var line []byte
	for i := range benchLines {
		r := sampleCall()
		r.TS = start.Add(time.Duration(i) * 2500 * time.Millisecond)
		r.Session = fmt.Sprintf("s-%08x", i/2000)
		r.Model = models[i%len(models)]
		r.PriceModel = r.Model
		if r.Model[0] != 'c' {
			r.Provider, r.API = ProviderOpenAI, APIResponses
		}
		r.Client = clients[i%len(clients)]
		r.Outcome = outcomes[i%len(outcomes)]
		r.Usage.InputTokens = core.Tokens(i % 5000)
		r.Usage.CacheReadTokens = core.Tokens(i % 90000)
		r.Cost = core.Money(i%1_000_000) * 1000
		r.RequestID = fmt.Sprintf("req_%016x", i)
		if i%1000 == 999 {
			r = Record{V: 1, Type: TypeSession, TS: r.TS, Session: r.Session, Event: EventEnd,
				SessionCap: 5 * core.Dollar, Spent: r.Cost, Calls: 999, Command: "claude", Args: 1}
		}
		line = append(r.appendJSON(line[:0]), '\n')
		if _, err := bw.Write(line); err != nil {
			b.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, fi.Size()
}

// benchJournal runs fn over a generated journal once per iteration and reports the
// time and allocations per line.
func benchJournal(b *testing.B, fn func(path string) error) {
	path, size := writeBenchJournal(b)
	b.SetBytes(size)
	b.ReportAllocs()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		if err := fn(path); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	lines := float64(b.N) * benchLines
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/lines, "ns/line")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/lines, "allocs/line")
	b.ReportMetric(float64(after.HeapSys)/(1<<20), "MB-heap-sys")
}

// BenchmarkScan reads a 1,000,000-line journal.
func BenchmarkScan(b *testing.B) {
	benchJournal(b, func(path string) error {
		st, err := ReadFile(path, func(Record) error { return nil })
		if err == nil && st.Lines != benchLines {
			err = fmt.Errorf("read %d lines, want %d", st.Lines, benchLines)
		}
		return err
	})
}

// BenchmarkStats is what "stats --by model" does with a date filter.
func BenchmarkStats(b *testing.B) {
	uncached := func(r Record) (core.Money, bool) {
		return r.Cost + core.Money(r.Usage.CacheReadTokens)*3, true
	}
	f := Filter{Types: []string{TypeCall}, Since: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}
	benchJournal(b, func(path string) error {
		a, err := NewAggregator(ByModel, time.UTC, uncached)
		if err != nil {
			return err
		}
		if _, err := ReadFile(path, func(r Record) error {
			if f.Match(r) {
				a.Add(r)
			}
			return nil
		}); err != nil {
			return err
		}
		if rep := a.Report(); len(rep.Rows) != 8 {
			return fmt.Errorf("got %d rows", len(rep.Rows))
		}
		return nil
	})
}

// BenchmarkHistory is what "history --limit 20 --model gpt-5" does.
func BenchmarkHistory(b *testing.B) {
	f := Filter{Types: []string{TypeCall}, Model: "gpt-5"}
	benchJournal(b, func(path string) error {
		q := NewRecent(20)
		_, err := ReadFile(path, func(r Record) error {
			if f.Match(r) {
				q.Add(r)
			}
			return nil
		})
		return err
	})
}

// BenchmarkTailFirstRefresh is the first read of a 1,000,000-line journal for window caps.
func BenchmarkTailFirstRefresh(b *testing.B) {
	now := func() time.Time { return time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC) }
	benchJournal(b, func(path string) error {
		tl := &Tail{Path: path, Location: time.UTC, Now: now}
		_, err := tl.Refresh(context.Background())
		return err
	})
}

// BenchmarkTailRefresh is one append by another writer and the refresh that sees it.
func BenchmarkTailRefresh(b *testing.B) {
	w, err := Open(filepath.Join(b.TempDir(), "journal.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	tl := &Tail{Path: w.Path(), Location: time.UTC}
	ctx := context.Background()
	r := sampleCall()
	r.TS = time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Append(ctx, r); err != nil {
			b.Fatal(err)
		}
		if _, err := tl.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend is one record appended under the file lock.
func BenchmarkAppend(b *testing.B) {
	w, err := Open(filepath.Join(b.TempDir(), "journal.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	r := sampleCall()
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Append(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeLine compares the journal's decoder with encoding/json on one line.
func BenchmarkDecodeLine(b *testing.B) {
	line, _ := json.Marshal(sampleCall())
	b.Run("journal", func(b *testing.B) {
		d := newDecoder()
		var r Record
		b.SetBytes(int64(len(line)))
		b.ReportAllocs()
		for b.Loop() {
			if err := d.decode(line, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		b.ReportAllocs()
		for b.Loop() {
			var r stdRecord
			if err := json.Unmarshal(line, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
