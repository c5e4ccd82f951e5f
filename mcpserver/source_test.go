package mcpserver_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/mcpserver"
)

func TestMCPJournalSource(t *testing.T) {
	loc := time.FixedZone("test", 3600)
	now := time.Date(2026, 12, 4, 15, 0, 0, 0, loc)
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	w, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		ts   time.Time
		cost string
	}{
		{now.Add(-time.Hour), "0.25"},               // today
		{now.Add(-2 * time.Hour), "0.5"},            // today
		{now.AddDate(0, 0, -2), "3"},                // this month
		{now.AddDate(0, -1, 0), "100"},              // last month
		{now.Add(-15*time.Hour - time.Minute), "7"}, // yesterday, 23:59 local
	} {
		if err := w.Append(context.Background(), journal.Record{Type: journal.TypeCall, Session: "x", TS: r.ts, Cost: usd(t, r.cost)}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	tests := []struct {
		name           string
		daily, monthly string
		available      string
		binding        core.Limit
		windows        int
	}{
		{"no windows", "0", "0", "2", core.LimitSession, 0},
		{"daily binds", "1", "100", "0.25", core.LimitDaily, 2},
		{"monthly binds", "10", "11", "0.25", core.LimitMonthly, 2},
		{"monthly spent", "0", "5", "0", core.LimitMonthly, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &mcpserver.JournalSource{
				Caps:  core.Caps{Session: usd(t, "2"), PerCall: usd(t, "0.5"), WarnAt: 0.8},
				Daily: usd(t, tt.daily), Monthly: usd(t, tt.monthly),
				Tail: &journal.Tail{Path: path, Location: loc, Now: func() time.Time { return now }},
			}
			st, err := src.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st.Source != mcpserver.SourceJournal || st.Session != "" || st.Snapshot.Session != usd(t, "2") || st.PerCall != usd(t, "0.5") ||
				*st.TodaySpent != usd(t, "0.75") || *st.MonthSpent != usd(t, "10.75") || st.Spent != 0 || st.Remaining != usd(t, "2") {
				t.Errorf("got %+v", st)
			}
			if st.Available != usd(t, tt.available) || st.Binding != tt.binding || len(st.Windows) != tt.windows {
				t.Errorf("got available %s (%s), %d windows; want %s (%s), %d", st.Available, st.Binding, len(st.Windows), tt.available, tt.binding, tt.windows)
			}
			for _, w := range st.Windows {
				want := time.Date(2026, 12, 5, 0, 0, 0, 0, loc)
				if w.Name == core.LimitMonthly {
					want = time.Date(2027, 1, 1, 0, 0, 0, 0, loc)
				}
				if !w.ResetsAt.Equal(want) {
					t.Errorf("%s resets at %s, want %s", w.Name, w.ResetsAt, want)
				}
			}
		})
	}
}

func TestMCPLedgerSourceWindowsError(t *testing.T) {
	ledger, err := core.NewMemoryLedger(core.Caps{Session: core.Dollar})
	if err != nil {
		t.Fatal(err)
	}
	src := &mcpserver.LedgerSource{Ledger: ledger, Windows: func(context.Context) ([]core.Window, error) {
		return nil, context.Canceled
	}}
	if _, err := src.Status(context.Background()); err == nil {
		t.Error("want the windows' error")
	}
	src.Windows = nil
	st, err := src.Status(context.Background())
	if err != nil || st.Available != core.Dollar || st.Binding != core.LimitSession {
		t.Errorf("got %+v, %v", st, err)
	}
}
