package mcpserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
)

// JournalSource reports the budget outside a session: the caps a new session would
// get from the configuration, and today's and this month's spend from the journal
// against the daily and monthly caps.
type JournalSource struct {
	// Caps are the configured session and per-call caps.
	Caps core.Caps
	// Daily and Monthly are the configured window caps; zero means none.
	Daily, Monthly core.Money
	// Tail reads the journal's spend of the current day and month; required.
	Tail *journal.Tail
}

var _ Source = (*JournalSource)(nil)

// Status reads the journal's tail and combines it with the caps.
func (j *JournalSource) Status(ctx context.Context) (Status, error) {
	if j.Tail == nil {
		return Status{}, errors.New("no journal")
	}
	spend, err := j.Tail.Refresh(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("read the journal's spend: %w", err)
	}
	st := Status{
		Source: SourceJournal,
		Snapshot: core.Snapshot{Session: j.Caps.Session, PerCall: j.Caps.PerCall, WarnAt: j.Caps.WarnAt,
			Remaining: j.Caps.Session},
		Windows:    windowsOf(spend.Windows(j.Daily, j.Monthly), 0),
		TodaySpent: &spend.DaySpent,
		MonthSpent: &spend.MonthSpent,
		Note: "no costplan session is running here: the session and per-call caps are those a new session " +
			"would get from the configuration; today's and this month's spend come from the journal",
	}
	st.finish()
	return st, nil
}
