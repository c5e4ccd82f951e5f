package journal

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/costplan/costplan/core"
)

// TestRecentHugeLimit shows that a huge limit costs nothing up front: the buffer
// grows with the records, and the order and count stay right.
func TestRecentHugeLimit(t *testing.T) {
	q := NewRecent(math.MaxInt)
	for i := range 5 {
		q.Add(Record{RequestID: string(rune('a' + i))})
	}
	got := q.Records()
	if len(got) != 5 || got[0].RequestID != "a" || got[4].RequestID != "e" || q.Seen() != 5 {
		t.Errorf("got %d records (%v), want a..e", len(got), got)
	}
	if cap(q.buf) > 64 {
		t.Errorf("buffer capacity %d after 5 records, want it to grow with them", cap(q.buf))
	}
}

func TestTailWindowsFunc(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	if err := w.Append(context.Background(), Record{Type: TypeCall, TS: now, Cost: 3 * core.Cent}); err != nil {
		t.Fatal(err)
	}
	fn := (&Tail{Path: path, Location: time.UTC, Now: func() time.Time { return now }}).WindowsFunc(core.Dollar, 0)
	ws, err := fn(context.Background())
	if err != nil || len(ws) != 1 || ws[0].Name != core.LimitDaily || ws[0].Spent != 3*core.Cent || ws[0].Cap != core.Dollar {
		t.Errorf("got %+v, %v; want the daily window with $0.03 spent", ws, err)
	}
	missing := (&Tail{Path: filepath.Join(t.TempDir(), "none"), Location: time.UTC}).WindowsFunc(0, core.Dollar)
	if ws, err := missing(context.Background()); err != nil || len(ws) != 1 || ws[0].Spent != 0 {
		t.Errorf("missing journal: got %+v, %v", ws, err)
	}
}
