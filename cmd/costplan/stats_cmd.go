package main

import (
	"fmt"
	"runtime"
	"time"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/pricing"
)

// StatsCmd sums the journal.
type StatsCmd struct {
	ReportFlags `embed:""`
	By          string `enum:"model,day,session,provider,client" default:"model" help:"Break totals down by model, day, session, provider or client."`
}

// Help is shown by `costplan stats --help`.
func (StatsCmd) Help() string {
	return `Totals and breakdowns of the journal: calls, tokens, cost, share of the total, and
what prompt caching saved (the cost at uncached input prices minus the actual cost).

Examples:
  costplan stats
  costplan stats --by day --since 7d
  costplan stats --by session --json`
}

// Run prints the report.
func (c StatsCmd) Run(a *app, g *Globals) error {
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
	table, err := cfg.PriceTable(a.env, nil)
	if err != nil {
		return usageError{err}
	}
	aggs := make([]*journal.Aggregator, runtime.GOMAXPROCS(0))
	for i := range aggs {
		if aggs[i], err = journal.NewAggregator(c.By, loc, uncachedCost(table)); err != nil {
			return usageError{err}
		}
	}
	st, err := journal.ReadFileParallel(cfg.Journal.Path, len(aggs), func(part int) func(journal.Record) error {
		return func(r journal.Record) error {
			if f.Match(r) {
				aggs[part].Add(r)
			}
			return nil
		}
	})
	if err != nil {
		return err
	}
	agg := aggs[0]
	for _, other := range aggs[1:] {
		agg.Merge(other)
	}
	skippedNote(a.stderr, cfg.Journal.Path, st)
	rep := agg.Report()
	if g.JSON {
		return writeJSON(a.stdout, rep)
	}
	if rep.Total.Calls == 0 {
		emptyJournal(a.stdout, cfg.Journal.Path, st, c.ReportFlags != ReportFlags{})
		return nil
	}
	color := useColor(a.stdout, g.NoColor, a.env)
	t := textTable{left: 1}
	t.add(paint(color, "1", fmt.Sprintf("%-5s", c.By)), "CALLS", "REFUSED", "INPUT", "OUTPUT", "CACHE READ", "CACHE WRITE", "COST", "SHARE")
	row := func(key string, r journal.Row) {
		t.add(key, fmt.Sprint(r.Calls), fmt.Sprint(r.Refused), r.InputTokens.String(), r.OutputTokens.String(),
			r.CacheReadTokens.String(), r.CacheWriteTokens.String(), r.Cost.String(), fmt.Sprintf("%.1f%%", 100*r.Share))
	}
	for _, r := range rep.Rows {
		row(r.Key, r)
	}
	row("TOTAL", rep.Total)
	if err := t.write(a.stdout); err != nil {
		return err
	}
	saving := rep.Total.Saving
	switch {
	case saving > 0:
		fmt.Fprintf(a.stdout, "\nPrompt caching saved %s (the same calls at uncached input prices: %s).\n", saving, rep.Total.Cost+saving)
	case saving < 0:
		fmt.Fprintf(a.stdout, "\nPrompt caching cost %s more than uncached input would have (cache writes not yet repaid by reads).\n", -saving)
	}
	if rep.Unpriced > 0 {
		calls := "calls"
		if rep.Unpriced == 1 {
			calls = "call"
		}
		fmt.Fprintf(a.stdout, "(%d %s of models missing from the price table left out of the caching figure.)\n", rep.Unpriced, calls)
	}
	return nil
}

// uncachedCost prices a call as if every cached or cache-written input token had
// been plain input.
func uncachedCost(table *pricing.Table) journal.UncachedFunc {
	cache := map[string]*pricing.Model{}
	return func(r journal.Record) (core.Money, bool) {
		name := r.PriceModel
		if name == "" {
			name = r.Model
		}
		m, ok := cache[name]
		if !ok {
			if res, err := table.Lookup(name); err == nil {
				m = res.Model
			}
			cache[name] = m
		}
		if m == nil {
			return 0, false
		}
		u := r.Usage
		u.InputTokens = u.TotalInput()
		u.CacheReadTokens, u.CacheWrite5mTokens, u.CacheWrite1hTokens = 0, 0, 0
		cost, _ := pricing.Cost(m, u)
		return cost, true
	}
}
