package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	"github.com/costplan/costplan/journal"
)

// HistoryCmd lists recorded calls.
type HistoryCmd struct {
	ReportFlags `embed:""`
	Limit       int `short:"n" default:"20" help:"Show the last N matching calls; 0 shows all."`
}

// Help is shown by `costplan history --help`.
func (HistoryCmd) Help() string {
	return `Lists the calls in the journal, newest last.

Examples:
  costplan history
  costplan history --since today --model 'claude-*'
  costplan history --session 9c1f --limit 0 --json`
}

// Run prints the table or JSON lines.
func (c HistoryCmd) Run(a *app, g *Globals) error {
	if c.Limit < 0 {
		return usageError{fmt.Errorf("--limit must be 0 (all) or more, got %d", c.Limit)}
	}
	cfg, err := g.load(a)
	if err != nil {
		return err
	}
	loc, err := cfg.Location()
	if err != nil {
		return usageError{err}
	}
	f, err := c.filter(time.Now(), loc)
	if err != nil {
		return usageError{err}
	}
	parts := make([]*journal.Recent, runtime.GOMAXPROCS(0))
	st, err := journal.ReadFileParallel(cfg.Journal.Path, len(parts), func(part int) func(journal.Record) error {
		parts[part] = journal.NewRecent(c.Limit)
		return func(r journal.Record) error {
			if f.Match(r) {
				parts[part].Add(r)
			}
			return nil
		}
	})
	if err != nil {
		return err
	}
	recs, seen := lastOf(parts, c.Limit)
	skippedNote(a.stderr, cfg.Journal.Path, st)
	if g.JSON {
		enc := json.NewEncoder(a.stdout)
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(recs) == 0 {
		emptyJournal(a.stdout, cfg.Journal.Path, st, c.ReportFlags != ReportFlags{})
		return nil
	}
	color := useColor(a.stdout, g.NoColor, a.env)
	t := textTable{left: 3}
	t.add(paint(color, "1", "TIME"), "SESSION", "MODEL", "INPUT", "CACHE READ", "CACHE WRITE", "OUTPUT", "COST", "OUTCOME")
	for _, r := range recs {
		model := r.Model
		if r.PriceModel != "" && r.PriceModel != r.Model {
			model += " (" + r.PriceModel + ")"
		}
		cost := r.Cost.String()
		if r.Estimated {
			cost = "~" + cost
		}
		outcome := r.Outcome
		if r.Refusal != "" {
			outcome += ":" + r.Refusal
		}
		t.add(r.TS.In(loc).Format("2006-01-02 15:04:05"), shortID(r.Session), model, r.Usage.InputTokens.String(),
			r.Usage.CacheReadTokens.String(), (r.Usage.CacheWrite5mTokens + r.Usage.CacheWrite1hTokens).String(),
			r.Usage.OutputTokens.String(), cost, outcome)
	}
	if err := t.write(a.stdout); err != nil {
		return err
	}
	if n := seen; c.Limit > 0 && n > int64(len(recs)) {
		fmt.Fprintf(a.stdout, "(last %d of %d matching calls; --limit 0 shows all; ~ marks an estimated cost)\n", len(recs), n)
	}
	return nil
}

// lastOf joins the records kept for consecutive parts of the journal and returns the
// last limit of them (all when limit is 0) and how many matched in all.
func lastOf(parts []*journal.Recent, limit int) ([]journal.Record, int64) {
	var recs []journal.Record
	var seen int64
	for _, p := range parts {
		if p != nil {
			recs = append(recs, p.Records()...)
			seen += p.Seen()
		}
	}
	if limit > 0 && len(recs) > limit {
		recs = recs[len(recs)-limit:]
	}
	return recs, seen
}

// shortID shortens a session id for tables.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
