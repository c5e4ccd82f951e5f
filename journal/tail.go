package journal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/costplan/costplan/core"
)

// ctxCheckLines is how many lines Refresh reads between looks at its context.
const ctxCheckLines = 4096

// Spend is what the journal holds for the current local day and calendar month.
type Spend struct {
	// DaySpent is the cost of the call records dated today.
	DaySpent core.Money
	// MonthSpent is the cost of the call records dated this month.
	MonthSpent core.Money
	// DayStart is the midnight that began today.
	DayStart time.Time
	// MonthStart is the midnight that began this month.
	MonthStart time.Time
	// DayResetsAt is the next midnight.
	DayResetsAt time.Time
	// MonthResetsAt is the midnight that begins next month.
	MonthResetsAt time.Time
}

// Windows returns the time-window caps for a daily and a monthly cap, each with its
// spend and reset time, for core.ReserveRequest. A zero cap is left out.
func (s Spend) Windows(daily, monthly core.Money) []core.Window {
	var ws []core.Window
	if daily > 0 {
		ws = append(ws, core.Window{Name: core.LimitDaily, Cap: daily, Spent: s.DaySpent, ResetsAt: s.DayResetsAt})
	}
	if monthly > 0 {
		ws = append(ws, core.Window{Name: core.LimitMonthly, Cap: monthly, Spent: s.MonthSpent, ResetsAt: s.MonthResetsAt})
	}
	return ws
}

// WindowsFunc returns a function that refreshes t and returns the windows of the
// daily and monthly caps (see Spend.Windows), for proxy.Meter.Windows.
func (t *Tail) WindowsFunc(daily, monthly core.Money) func(context.Context) ([]core.Window, error) {
	return func(ctx context.Context) ([]core.Window, error) {
		spend, err := t.Refresh(ctx)
		if err != nil {
			return nil, err
		}
		return spend.Windows(daily, monthly), nil
	}
}

// Tail follows a journal and keeps the spend of its call records per local day, for
// daily and monthly caps. The first Refresh reads the whole file; each later one
// reads only the bytes appended since, so the records of every process that shares
// the journal are counted without rescanning it.
//
// Records are counted by their timestamp: a record dated before the current month is
// ignored, one dated later in the month counts for the month now and for its day
// when that day comes. When the clock moves back across a month start, or the file
// is replaced or shrinks, the next Refresh reads the file again from the start.
//
// What a Refresh counts: every call record that any process sharing the journal had
// appended in full before the Refresh looked, this process's included. What it does
// not count: calls that other processes have in flight (their reservations live in
// their own ledgers, so two processes can each reserve up to the same remaining
// window at once) and records written after it looked.
//
// The zero value of each field is documented; set them before the first Refresh.
// A Tail is safe for concurrent use.
type Tail struct {
	// Path is the journal file. A missing file holds no spend.
	Path string
	// Location decides where local days and months begin; nil means time.Local.
	Location *time.Location
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	mu     sync.Mutex // guards the following fields
	file   os.FileInfo
	offset int64              // the end of the last complete line read
	month  time.Time          // the start of the earliest month kept in days
	days   map[int]core.Money // spend by local date, as yyyymmdd
	dec    *decoder
	lr     *lineReader
}

// Refresh reads what was appended to the journal since the last call and returns the
// spend of the current day and month. A final line without its newline is left for a
// later Refresh, when it is complete. Refresh takes a shared lock on the journal to
// find where its complete records end: writers extend or cut back the file only
// under their exclusive lock, so the bytes below that point are settled and are read
// after the lock is released, without holding up writers during a long first read.
func (t *Tail) Refresh(ctx context.Context) (Spend, error) {
	if err := ctx.Err(); err != nil {
		return Spend{}, fmt.Errorf("journal %s: %w", t.Path, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	loc := t.Location
	if loc == nil {
		loc = time.Local
	}
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
	}
	now = now.In(loc)
	s := Spend{DayStart: StartOfDay(now, loc), MonthStart: StartOfMonth(now, loc)}
	s.DayResetsAt = s.DayStart.AddDate(0, 0, 1)
	s.MonthResetsAt = s.MonthStart.AddDate(0, 1, 0)
	t.roll(s.MonthStart)
	if err := t.read(ctx); err != nil {
		return Spend{}, err
	}
	today := dateKey(now)
	s.DaySpent = t.days[today]
	for k, v := range t.days {
		if k/100 == today/100 {
			s.MonthSpent += v
		}
	}
	return s, nil
}

// roll moves the kept window to the month starting at month: forward by dropping
// older days, backward (a clock set back) by starting over.
func (t *Tail) roll(month time.Time) {
	switch {
	case t.days == nil || month.Before(t.month):
		t.restart()
	case month.After(t.month):
		first := dateKey(month)
		for k := range t.days {
			if k < first {
				delete(t.days, k)
			}
		}
	}
	t.month = month
}

// restart forgets everything read.
func (t *Tail) restart() {
	t.file, t.offset, t.days = nil, 0, map[int]core.Money{}
}

// read counts the complete lines appended since the last read.
func (t *Tail) read(ctx context.Context) error {
	f, err := os.Open(t.Path)
	if errors.Is(err, fs.ErrNotExist) {
		t.restart()
		return nil
	}
	if err != nil {
		return fmt.Errorf("open journal %s: %w", t.Path, err)
	}
	defer f.Close()
	end, err := t.settledEnd(f)
	if err != nil {
		return fmt.Errorf("read journal %s: %w", t.Path, err)
	}
	if end <= t.offset {
		return nil
	}
	if err := t.readRange(ctx, f, end); err != nil {
		return fmt.Errorf("read journal %s: %w", t.Path, err)
	}
	return nil
}

// settledEnd checks that f is the file read before and returns its size, found under
// a shared lock. A replaced or shrunk file is read again from the start.
func (t *Tail) settledEnd(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if t.file != nil && !os.SameFile(t.file, fi) {
		t.restart()
	}
	t.file = fi
	if err := lockFile(f, lockShared); err != nil {
		return 0, fmt.Errorf("lock: %w", err)
	}
	end, err := f.Seek(0, io.SeekEnd)
	unlockFile(f)
	if err != nil {
		return 0, err
	}
	if end < t.offset {
		t.restart()
		t.file = fi
	}
	return end, nil
}

// readRange counts the complete lines between t.offset and end.
func (t *Tail) readRange(ctx context.Context, f *os.File, end int64) error {
	sr := io.NewSectionReader(f, t.offset, end-t.offset)
	if t.lr == nil {
		t.lr = &lineReader{br: bufio.NewReaderSize(sr, readBufferSize)}
		t.dec = newDecoder()
	} else {
		t.lr.reset(sr)
	}
	first := dateKey(t.month)
	var rec Record
	for n := 1; ; n++ {
		line, complete, tooLong, size, err := t.lr.next()
		if err == io.EOF || (err == nil && !complete) {
			return nil
		}
		if err != nil {
			return err
		}
		t.offset += size
		if !tooLong && t.dec.decode(line, &rec) == nil && rec.Type == TypeCall {
			if k := dateKey(rec.TS.In(t.month.Location())); k >= first {
				t.days[k] += rec.Cost
			}
		}
		if n%ctxCheckLines == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
}

// dateKey returns t's date as yyyymmdd in t's location.
func dateKey(t time.Time) int {
	y, m, d := t.Date()
	return y*10000 + int(m)*100 + d
}
