package redisstore

import (
	"time"

	"github.com/costplan/costplan/core"
)

// window is a shared time window: its spend lives in key, which expires when the
// window ends.
type window struct {
	name   core.Limit
	cap    core.Money
	key    string
	resets time.Time
}

// windows returns the shared windows current at now, in the configured time zone.
func (s *Store) windows(now time.Time) []window {
	loc := s.opts.Location
	if loc == nil {
		loc = time.Local
	}
	t := now.In(loc)
	prefix := s.keys[0][:len(s.keys[0])-len("state")]
	var out []window
	if s.opts.Daily > 0 {
		start := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
		out = append(out, window{name: core.LimitDaily, cap: s.opts.Daily,
			key: prefix + "daily:" + start.Format("2006-01-02"), resets: start.AddDate(0, 0, 1)})
	}
	if s.opts.Monthly > 0 {
		start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
		out = append(out, window{name: core.LimitMonthly, cap: s.opts.Monthly,
			key: prefix + "monthly:" + start.Format("2006-01"), resets: start.AddDate(0, 1, 0)})
	}
	return out
}

// keysWith are the budget's keys followed by those of wins.
func (s *Store) keysWith(wins []window) []string {
	keys := make([]string, 0, len(s.keys)+len(wins))
	keys = append(keys, s.keys...)
	for _, w := range wins {
		keys = append(keys, w.key)
	}
	return keys
}
