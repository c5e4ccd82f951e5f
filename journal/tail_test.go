package journal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/costplan/costplan/core"
)

// clock is a fake time source for Tail.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func callAt(ts time.Time, cost core.Money) Record {
	r := sampleCall()
	r.TS, r.Cost = ts, cost
	return r
}

func appendAll(t *testing.T, w *Writer, recs ...Record) {
	t.Helper()
	for _, r := range recs {
		if err := w.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func refresh(t *testing.T, tl *Tail) Spend {
	t.Helper()
	s, err := tl.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantSpend(t *testing.T, s Spend, day, month core.Money) {
	t.Helper()
	if s.DaySpent != day || s.MonthSpent != month {
		t.Errorf("got day %s month %s, want day %s month %s", s.DaySpent, s.MonthSpent, day, month)
	}
}

func TestTailMissingFile(t *testing.T) {
	loc := time.FixedZone("UTC-5", -5*3600)
	c := &clock{time.Date(2026, 3, 14, 12, 0, 0, 0, loc)}
	tl := &Tail{Path: filepath.Join(t.TempDir(), "none.jsonl"), Location: loc, Now: c.now}
	s := refresh(t, tl)
	wantSpend(t, s, 0, 0)
	if want := time.Date(2026, 3, 15, 0, 0, 0, 0, loc); !s.DayResetsAt.Equal(want) {
		t.Errorf("day resets got %v, want %v", s.DayResetsAt, want)
	}
	if want := time.Date(2026, 4, 1, 0, 0, 0, 0, loc); !s.MonthResetsAt.Equal(want) {
		t.Errorf("month resets got %v, want %v", s.MonthResetsAt, want)
	}
	if !s.DayStart.Equal(time.Date(2026, 3, 14, 0, 0, 0, 0, loc)) || !s.MonthStart.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, loc)) {
		t.Errorf("got starts %v %v", s.DayStart, s.MonthStart)
	}
}

func TestTailReadsOnlyWhatWasAppended(t *testing.T) {
	loc := time.FixedZone("UTC-5", -5*3600)
	c := &clock{time.Date(2026, 3, 14, 12, 0, 0, 0, loc)}
	w := openTemp(t)
	refused := callAt(time.Date(2026, 3, 14, 10, 0, 0, 0, loc), 0)
	refused.Outcome = OutcomeRefused
	appendAll(t, w,
		callAt(time.Date(2026, 3, 14, 9, 0, 0, 0, loc), 100_000_000),
		callAt(time.Date(2026, 3, 13, 23, 59, 59, 999, loc), 200_000_000), // yesterday, by a nanosecond
		callAt(time.Date(2026, 3, 14, 0, 0, 0, 0, loc), 1),                // today, just
		callAt(time.Date(2026, 2, 28, 23, 0, 0, 0, loc), 400_000_000),     // last month
		Record{Type: TypeSession, Session: "s", Event: EventEnd, Spent: 9 * core.Dollar},
		refused,
	)
	tl := &Tail{Path: w.Path(), Location: loc, Now: c.now}
	wantSpend(t, refresh(t, tl), 100_000_001, 300_000_001)

	// Another process appends through its own file.
	other, err := Open(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	appendAll(t, other, callAt(time.Date(2026, 3, 14, 11, 0, 0, 0, loc), 50_000_000))
	wantSpend(t, refresh(t, tl), 150_000_001, 350_000_001)

	// What was read is not read again: damage it in place and the totals stand.
	f, err := os.OpenFile(w.Path(), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("XXXXXXXXXXXXXXXX"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	wantSpend(t, refresh(t, tl), 150_000_001, 350_000_001)

	// A final line without its newline waits until it is complete.
	b, _ := callAt(time.Date(2026, 3, 14, 11, 30, 0, 0, loc), 5_000_000).MarshalJSON()
	writeRaw(t, w.Path(), b[:len(b)/2])
	wantSpend(t, refresh(t, tl), 150_000_001, 350_000_001)
	writeRaw(t, w.Path(), b[len(b)/2:])
	wantSpend(t, refresh(t, tl), 150_000_001, 350_000_001)
	writeRaw(t, w.Path(), []byte("\n"))
	wantSpend(t, refresh(t, tl), 155_000_001, 355_000_001)
	fi, _ := os.Stat(w.Path())
	if tl.offset != fi.Size() {
		t.Errorf("offset got %d, want the file size %d", tl.offset, fi.Size())
	}
}

func writeRaw(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestTailRollsAtMidnight(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{time.Date(2026, 1, 31, 23, 59, 0, 0, ny)}
	w := openTemp(t)
	appendAll(t, w,
		callAt(time.Date(2026, 1, 15, 8, 0, 0, 0, ny), 200_000_000),
		callAt(time.Date(2026, 1, 31, 22, 0, 0, 0, ny), 100_000_000),
		// Written by a process whose clock runs a little ahead.
		callAt(time.Date(2026, 2, 1, 0, 0, 30, 0, ny), 400_000_000),
	)
	tl := &Tail{Path: w.Path(), Location: ny, Now: c.now}
	wantSpend(t, refresh(t, tl), 100_000_000, 300_000_000)

	c.t = time.Date(2026, 2, 1, 0, 1, 0, 0, ny)
	s := refresh(t, tl)
	wantSpend(t, s, 400_000_000, 400_000_000)
	if want := time.Date(2026, 2, 2, 0, 0, 0, 0, ny); !s.DayResetsAt.Equal(want) {
		t.Errorf("day resets got %v, want %v", s.DayResetsAt, want)
	}
	if want := time.Date(2026, 3, 1, 0, 0, 0, 0, ny); !s.MonthResetsAt.Equal(want) {
		t.Errorf("month resets got %v, want %v", s.MonthResetsAt, want)
	}

	appendAll(t, w, callAt(time.Date(2026, 2, 1, 0, 2, 0, 0, ny), 10_000_000))
	wantSpend(t, refresh(t, tl), 410_000_000, 410_000_000)

	c.t = time.Date(2026, 2, 2, 10, 0, 0, 0, ny)
	wantSpend(t, refresh(t, tl), 0, 410_000_000)

	// A clock set back across the month start reads the journal again.
	c.t = time.Date(2026, 1, 31, 23, 59, 30, 0, ny)
	wantSpend(t, refresh(t, tl), 100_000_000, 300_000_000)
}

func TestTailAcrossDaylightSaving(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	// Clocks go forward at 02:00 on 8 March 2026: that day has 23 hours.
	c := &clock{time.Date(2026, 3, 8, 23, 30, 0, 0, ny)}
	w := openTemp(t)
	appendAll(t, w,
		callAt(time.Date(2026, 3, 8, 0, 30, 0, 0, ny), 1),
		callAt(time.Date(2026, 3, 7, 23, 30, 0, 0, ny), 10),
	)
	tl := &Tail{Path: w.Path(), Location: ny, Now: c.now}
	s := refresh(t, tl)
	wantSpend(t, s, 1, 11)
	if got := s.DayResetsAt.Sub(s.DayStart); got != 23*time.Hour {
		t.Errorf("day length got %v, want 23h", got)
	}
}

func TestTailStartsOverOnAnotherFile(t *testing.T) {
	loc := time.UTC
	c := &clock{time.Date(2026, 3, 14, 12, 0, 0, 0, loc)}
	today := time.Date(2026, 3, 14, 1, 0, 0, 0, loc)
	w := openTemp(t)
	appendAll(t, w, callAt(today, 1), callAt(today, 2), callAt(today, 4))
	tl := &Tail{Path: w.Path(), Location: loc, Now: c.now}
	wantSpend(t, refresh(t, tl), 7, 7)

	// Shrunk: cut to nothing, then one record.
	if err := os.Truncate(w.Path(), 0); err != nil {
		t.Fatal(err)
	}
	appendAll(t, w, callAt(today, 8))
	wantSpend(t, refresh(t, tl), 8, 8)

	// Replaced by a longer file.
	tmp := filepath.Join(t.TempDir(), "new.jsonl")
	w2, err := Open(tmp)
	if err != nil {
		t.Fatal(err)
	}
	appendAll(t, w2, callAt(today, 16), callAt(today, 32), callAt(today, 64))
	w2.Close()
	if err := os.Rename(tmp, w.Path()); err != nil {
		t.Fatal(err)
	}
	wantSpend(t, refresh(t, tl), 112, 112)

	// Removed.
	if err := os.Remove(w.Path()); err != nil {
		t.Fatal(err)
	}
	wantSpend(t, refresh(t, tl), 0, 0)
}

func TestTailConcurrentRefresh(t *testing.T) {
	c := &clock{time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)}
	w := openTemp(t)
	tl := &Tail{Path: w.Path(), Location: time.UTC, Now: c.now}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 25 {
				if err := w.Append(context.Background(), callAt(c.t.Add(-time.Hour), 1)); err != nil {
					t.Error(err)
				}
				if _, err := tl.Refresh(context.Background()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	wantSpend(t, refresh(t, tl), 100, 100)
}

func TestTailContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tl := &Tail{Path: filepath.Join(t.TempDir(), "j.jsonl")}
	if _, err := tl.Refresh(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestSpendWindows(t *testing.T) {
	s := Spend{DaySpent: 1, MonthSpent: 2, DayResetsAt: goldenTS, MonthResetsAt: goldenTS.Add(time.Hour)}
	got := s.Windows(10, 20)
	want := []core.Window{
		{Name: core.LimitDaily, Cap: 10, Spent: 1, ResetsAt: goldenTS},
		{Name: core.LimitMonthly, Cap: 20, Spent: 2, ResetsAt: goldenTS.Add(time.Hour)},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := s.Windows(0, 5); len(got) != 1 || got[0].Name != core.LimitMonthly {
		t.Errorf("got %+v, want only the monthly window", got)
	}
	if got := s.Windows(0, 0); len(got) != 0 {
		t.Errorf("got %+v, want none", got)
	}
}
