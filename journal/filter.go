package journal

import (
	"slices"
	"strings"
	"time"
)

// Filter selects records for reports. The zero Filter matches every record; each
// set field narrows the selection.
type Filter struct {
	// Session matches records whose session id starts with it.
	Session string
	// Since matches records at or after it; zero means no lower bound.
	Since time.Time
	// Until matches records before it; zero means no upper bound.
	Until time.Time
	// Model matches records whose Model or PriceModel equals it, ignoring case; a
	// trailing "*" matches names that start with what precedes it. Records without a
	// model (session records) do not match a set Model.
	Model string
	// Outcome matches records with this outcome.
	Outcome string
	// Types matches records of these types; empty means every type.
	Types []string
}

// Match reports whether r passes every set field of f.
func (f Filter) Match(r Record) bool {
	if len(f.Types) > 0 && !slices.Contains(f.Types, r.Type) {
		return false
	}
	if !strings.HasPrefix(r.Session, f.Session) {
		return false
	}
	if !f.Since.IsZero() && r.TS.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !r.TS.Before(f.Until) {
		return false
	}
	if f.Outcome != "" && r.Outcome != f.Outcome {
		return false
	}
	if f.Model != "" && !matchModel(f.Model, r.Model) && !matchModel(f.Model, r.PriceModel) {
		return false
	}
	return true
}

// matchModel matches name against pattern: equal ignoring case, or a prefix when the
// pattern ends in "*".
func matchModel(pattern, name string) bool {
	if name == "" {
		return false
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return len(name) >= len(prefix) && strings.EqualFold(name[:len(prefix)], prefix)
	}
	return strings.EqualFold(name, pattern)
}

// StartOfDay returns the midnight that starts t's day in loc (nil means time.Local).
func StartOfDay(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.Local
	}
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// StartOfMonth returns the midnight that starts t's calendar month in loc (nil means
// time.Local).
func StartOfMonth(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.Local
	}
	y, m, _ := t.In(loc).Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, loc)
}
