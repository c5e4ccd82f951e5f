package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/costplan/costplan/journal"
)

// ReportFlags filter the journal for history and stats.
type ReportFlags struct {
	Session string `placeholder:"ID" help:"Only this session (a prefix of its id is enough)."`
	Since   string `placeholder:"WHEN" help:"Only calls at or after WHEN: a date (2026-12-01), a time (RFC 3339), a duration back from now (24h, 7d), today or yesterday."`
	Until   string `placeholder:"WHEN" help:"Only calls before WHEN (same forms as --since)."`
	Model   string `placeholder:"NAME" help:"Only this model (requested or priced name; a trailing * matches a prefix)."`
	Outcome string `enum:",ok,refused,upstream_error,aborted" default:"" placeholder:"OUTCOME" help:"Only this outcome: ok, refused, upstream_error or aborted."`
}

// filter builds the journal filter; now and loc fix relative times.
func (f ReportFlags) filter(now time.Time, loc *time.Location) (journal.Filter, error) {
	out := journal.Filter{Session: f.Session, Model: f.Model, Outcome: f.Outcome, Types: []string{journal.TypeCall}}
	var err error
	if f.Since != "" {
		if out.Since, err = parseWhen(f.Since, now, loc); err != nil {
			return out, fmt.Errorf("--since: %w", err)
		}
	}
	if f.Until != "" {
		if out.Until, err = parseWhen(f.Until, now, loc); err != nil {
			return out, fmt.Errorf("--until: %w", err)
		}
	}
	return out, nil
}

// parseWhen reads a point in time: today, yesterday, a duration back from now
// (with d for days), a date (local midnight) or an RFC 3339 time.
func parseWhen(s string, now time.Time, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "today":
		return journal.StartOfDay(now, loc), nil
	case "yesterday":
		return journal.StartOfDay(journal.StartOfDay(now, loc).Add(-time.Hour), loc), nil
	case "now":
		return now, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err == nil && n >= 0 && fmt.Sprint(n) == days {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: give a duration back from now without a sign, like 24h", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02 15:04", s, loc); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use a date (2026-12-01), RFC 3339 (2026-12-01T09:00:00Z), a duration (24h, 7d), today or yesterday", s)
}

// emptyJournal prints the friendly line for a journal with no matching calls.
func emptyJournal(w io.Writer, path string, st journal.ScanStats, filtered bool) {
	switch {
	case st.Missing:
		fmt.Fprintf(w, "No journal at %s yet. Calls are recorded there when they go through `costplan exec -- COMMAND` or `costplan proxy` (use --journal PATH to read another).\n", path)
	case filtered:
		fmt.Fprintf(w, "No calls in %s match these filters.\n", path)
	default:
		fmt.Fprintf(w, "No calls in %s yet. Calls are recorded when they go through `costplan exec -- COMMAND` or `costplan proxy`.\n", path)
	}
}

// skippedNote tells about unreadable lines, on stderr.
func skippedNote(w io.Writer, path string, st journal.ScanStats) {
	if st.Skipped == 0 {
		return
	}
	fmt.Fprintf(w, "costplan: warning: skipped %d unreadable line(s) of %s", st.Skipped, path)
	if len(st.SkippedLines) > 0 {
		fmt.Fprintf(w, " (line %d", st.SkippedLines[0])
		if st.Skipped > 1 {
			fmt.Fprint(w, " and others")
		}
		fmt.Fprint(w, ")")
	}
	fmt.Fprintln(w)
}

// useColor reports whether w is a terminal and colour is not turned off.
func useColor(w io.Writer, noColor bool, env func(string) string) bool {
	if noColor || env("NO_COLOR") != "" || env("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// paint wraps s in an ANSI style when on is true.
func paint(on bool, style, s string) string {
	if !on {
		return s
	}
	return "\x1b[" + style + "m" + s + "\x1b[0m"
}
