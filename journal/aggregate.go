package journal

import (
	"cmp"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/costplan/costplan/core"
)

// Breakdowns an Aggregator groups by.
const (
	// ByModel groups calls by the model name the client asked for (the price-table
	// name when the record has none).
	ByModel = "model"
	// ByDay groups calls by local day, keyed "2006-01-02".
	ByDay = "day"
	// BySession groups calls by session id.
	BySession = "session"
	// ByProvider groups calls by provider.
	ByProvider = "provider"
	// ByClient groups calls by the client's full User-Agent.
	ByClient = "client"
)

// UncachedFunc returns what a call would have cost had every cached input token been
// billed at the plain input price; ok is false when the call cannot be priced (an
// unknown model). The stats command builds it from the price table.
type UncachedFunc func(Record) (uncached core.Money, ok bool)

// Row is one group of calls in a Report, or the totals.
type Row struct {
	// Key is the group's value of the breakdown; empty in the totals row.
	Key string `json:"key"`
	// Calls counts call records, refused ones included.
	Calls int64 `json:"calls"`
	// Refused counts calls refused by CostPlan.
	Refused int64 `json:"refused"`
	// InputTokens are uncached input tokens.
	InputTokens core.Tokens `json:"input_tokens"`
	// OutputTokens are output tokens, reasoning included.
	OutputTokens core.Tokens `json:"output_tokens"`
	// CacheReadTokens were read from the prompt cache.
	CacheReadTokens core.Tokens `json:"cache_read_tokens"`
	// CacheWriteTokens were written to the cache, both lifetimes.
	CacheWriteTokens core.Tokens `json:"cache_write_tokens"`
	// Cost is what the calls cost.
	Cost core.Money `json:"cost_usd"`
	// Share is Cost as a fraction of the total cost; 0 when the total is zero.
	Share float64 `json:"share"`
	// Saving is what prompt caching saved: the uncached cost minus the actual cost
	// of the calls that could be priced. It is negative when cache writes cost more
	// than the reads saved.
	Saving core.Money `json:"cache_saving_usd"`
}

func (w *Row) add(r *Record) {
	w.Calls++
	if r.Outcome == OutcomeRefused {
		w.Refused++
	}
	w.InputTokens += r.Usage.InputTokens
	w.OutputTokens += r.Usage.OutputTokens
	w.CacheReadTokens += r.Usage.CacheReadTokens
	w.CacheWriteTokens += r.Usage.CacheWrite5mTokens + r.Usage.CacheWrite1hTokens
	w.Cost += r.Cost
}

// Report is the result of an aggregation.
type Report struct {
	// By is the breakdown.
	By string `json:"by"`
	// Rows are the groups: by day in date order, otherwise by cost, highest first
	// (then by calls, then by key).
	Rows []Row `json:"rows"`
	// Total sums every row; its Share is 1 when there was any cost.
	Total Row `json:"total"`
	// Unpriced counts calls the UncachedFunc could not price; they are left out of
	// Saving.
	Unpriced int64 `json:"unpriced_calls"`
}

// Aggregator sums call records into a Report, one group per breakdown key. Records
// of other types are ignored. Its memory grows with the number of groups only. An
// Aggregator is not safe for concurrent use.
type Aggregator struct {
	by       string
	loc      *time.Location
	uncached UncachedFunc

	groups   map[string]*Row
	total    Row
	unpriced int64
	lastDay  [3]int // the date of lastKey, to format each day once
	lastKey  string
}

// NewAggregator returns an Aggregator for the breakdown by (one of the By
// constants). Days are local days in loc; nil means time.Local. A nil uncached
// leaves Saving at zero.
func NewAggregator(by string, loc *time.Location, uncached UncachedFunc) (*Aggregator, error) {
	switch by {
	case ByModel, ByDay, BySession, ByProvider, ByClient:
	default:
		return nil, fmt.Errorf("unknown breakdown %q (want model, day, session, provider or client)", by)
	}
	if loc == nil {
		loc = time.Local
	}
	return &Aggregator{by: by, loc: loc, uncached: uncached, groups: map[string]*Row{}}, nil
}

// Add counts r when it is a call record.
func (a *Aggregator) Add(r Record) {
	if r.Type != TypeCall {
		return
	}
	key := a.key(&r)
	g := a.groups[key]
	if g == nil {
		g = &Row{Key: key}
		a.groups[key] = g
	}
	g.add(&r)
	a.total.add(&r)
	if a.uncached == nil {
		return
	}
	if u, ok := a.uncached(r); ok {
		g.Saving += u - r.Cost
		a.total.Saving += u - r.Cost
	} else {
		a.unpriced++
	}
}

func (a *Aggregator) key(r *Record) string {
	switch a.by {
	case ByDay:
		y, m, d := r.TS.In(a.loc).Date()
		if day := [3]int{y, int(m), d}; day != a.lastDay || a.lastKey == "" {
			a.lastDay, a.lastKey = day, fmt.Sprintf("%04d-%02d-%02d", y, m, d)
		}
		return a.lastKey
	case BySession:
		return r.Session
	case ByProvider:
		return r.Provider
	case ByClient:
		return r.Client
	}
	if r.Model == "" {
		return r.PriceModel
	}
	return r.Model
}

// Report returns the groups and totals counted so far.
func (a *Aggregator) Report() Report {
	rep := Report{By: a.by, Rows: make([]Row, 0, len(a.groups)), Total: a.total, Unpriced: a.unpriced}
	for _, g := range a.groups {
		row := *g
		if a.total.Cost > 0 {
			row.Share = float64(row.Cost) / float64(a.total.Cost)
		}
		rep.Rows = append(rep.Rows, row)
	}
	if a.total.Cost > 0 {
		rep.Total.Share = 1
	}
	slices.SortFunc(rep.Rows, a.compare)
	return rep
}

func (a *Aggregator) compare(x, y Row) int {
	if a.by == ByDay {
		return cmp.Compare(x.Key, y.Key)
	}
	if c := cmp.Compare(y.Cost, x.Cost); c != 0 {
		return c
	}
	if c := cmp.Compare(y.Calls, x.Calls); c != 0 {
		return c
	}
	return cmp.Compare(x.Key, y.Key)
}

// Aggregate sums the call records of records into a Report for the breakdown by; see
// NewAggregator for loc and uncached.
func Aggregate(by string, loc *time.Location, uncached UncachedFunc, records iter.Seq[Record]) (Report, error) {
	a, err := NewAggregator(by, loc, uncached)
	if err != nil {
		return Report{}, err
	}
	for r := range records {
		a.Add(r)
	}
	return a.Report(), nil
}
