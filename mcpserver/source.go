package mcpserver

import (
	"context"
	"time"

	"github.com/costplan/costplan/core"
)

// Where a Status comes from.
const (
	// SourceSession is the live ledger of a running session, read in this process or
	// through the session's proxy.
	SourceSession = "session"
	// SourceJournal means no session is running: the caps are those a new session
	// would get from the configuration, and the window spend comes from the journal.
	SourceJournal = "journal"
)

// Source reports the budget the tools describe. Implementations must be safe for
// concurrent use and must never change the budget.
type Source interface {
	// Status returns the budget now, or an error when it cannot be read.
	Status(ctx context.Context) (Status, error)
}

// Status is the budget at one instant; it is the result of get_budget. The
// embedded snapshot carries the session's caps, spend and counters with the JSON
// names of GET /v1/budget.
type Status struct {
	// Source is SourceSession or SourceJournal.
	Source string `json:"source"`
	// Session is the session id; empty outside a session.
	Session string `json:"session,omitempty"`
	core.Snapshot
	// Windows are the daily and monthly caps with their spend; empty when none is
	// configured.
	Windows []Window `json:"windows,omitempty"`
	// Available is what the next calls may spend now: the least of the session's
	// remaining budget and every window's remaining amount, zero when locked.
	Available core.Money `json:"available_usd"`
	// Binding names the limit that sets Available: a core.Limit value.
	Binding core.Limit `json:"binding_limit"`
	// TodaySpent and MonthSpent are the journal's spend of the current day and
	// month; set only for SourceJournal.
	TodaySpent *core.Money `json:"today_spent_usd,omitempty"`
	MonthSpent *core.Money `json:"month_spent_usd,omitempty"`
	// Note explains the figures in one sentence.
	Note string `json:"note,omitempty"`
}

// Window is a time-window cap (a day, a month) with what it holds.
type Window struct {
	// Name is core.LimitDaily or core.LimitMonthly.
	Name core.Limit `json:"name"`
	// Cap is the window's cap.
	Cap core.Money `json:"cap_usd"`
	// Spent counts completed calls and, in a session, the session's reservations.
	Spent core.Money `json:"spent_usd"`
	// Remaining is what the window still allows, never below zero.
	Remaining core.Money `json:"remaining_usd"`
	// ResetsAt is when the window starts afresh.
	ResetsAt time.Time `json:"resets_at"`
}

// finish fills Available and Binding from the snapshot and the windows.
func (s *Status) finish() {
	s.Available, s.Binding = s.Remaining, core.LimitSession
	if s.Locked {
		s.Available, s.Binding = 0, core.LimitLocked
		return
	}
	for _, w := range s.Windows {
		if w.Remaining < s.Available {
			s.Available, s.Binding = w.Remaining, w.Name
		}
	}
}

// windowsOf converts the ledger's windows, counting the session's reservations as
// spent the way GET /v1/budget does.
func windowsOf(ws []core.Window, reserved core.Money) []Window {
	out := make([]Window, 0, len(ws))
	for _, w := range ws {
		out = append(out, Window{Name: w.Name, Cap: w.Cap, Spent: w.Spent + reserved,
			Remaining: w.Left(reserved), ResetsAt: w.ResetsAt})
	}
	return out
}
