package journal

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/costplan/costplan/core"
)

func aggregateFixture() []Record {
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	call := func(ts, model, provider, session, client, outcome string, cost core.Money, u core.Usage) Record {
		return Record{V: 1, Type: TypeCall, TS: at(ts), Model: model, PriceModel: model, Provider: provider,
			Session: session, Client: client, Outcome: outcome, Cost: cost, Usage: u}
	}
	return []Record{
		call("2026-03-14T04:30:00Z", "claude-sonnet-4-5", ProviderAnthropic, "s1", "claude-cli/2.0", OutcomeOK,
			300_000_000, core.Usage{InputTokens: 100, OutputTokens: 50, CacheReadTokens: 1000,
				CacheWrite5mTokens: 200, CacheWrite1hTokens: 10}),
		call("2026-03-14T05:30:00Z", "claude-sonnet-4-5", ProviderAnthropic, "s2", "claude-cli/2.0", OutcomeOK,
			200_000_000, core.Usage{InputTokens: 10, OutputTokens: 5}),
		{V: 1, Type: TypeSession, TS: at("2026-03-14T06:00:00Z"), Session: "s2", Event: EventStart},
		call("2026-03-14T17:00:00Z", "gpt-5", ProviderOpenAI, "s2", "codex/0.1", OutcomeOK,
			500_000_000, core.Usage{InputTokens: 7, OutputTokens: 3, CacheReadTokens: 2}),
		call("2026-03-14T17:01:00Z", "gpt-5", ProviderOpenAI, "s2", "codex/0.1", OutcomeRefused, 0, core.Usage{}),
		call("2026-03-15T01:00:00Z", "mystery", ProviderAnthropic, "s1", "", OutcomeAborted, 1, core.Usage{OutputTokens: 1}),
	}
}

// uncachedFixture prices each cache-read token at one micro-dollar more than it cost
// and cannot price the "mystery" model.
func uncachedFixture(r Record) (core.Money, bool) {
	if r.PriceModel == "mystery" {
		return 0, false
	}
	return r.Cost + core.Money(r.Usage.CacheReadTokens)*core.Microdollar, true
}

func TestAggregateByModel(t *testing.T) {
	rep, err := Aggregate(ByModel, time.UTC, uncachedFixture, slices.Values(aggregateFixture()))
	if err != nil {
		t.Fatal(err)
	}
	const total = 1_000_000_001
	want := Report{
		By: ByModel,
		Rows: []Row{
			// claude and gpt-5 tie on cost and calls: the key decides.
			{Key: "claude-sonnet-4-5", Calls: 2, InputTokens: 110, OutputTokens: 55, CacheReadTokens: 1000,
				CacheWriteTokens: 210, Cost: 500_000_000, Share: 500_000_000.0 / total, Saving: 1000 * core.Microdollar},
			{Key: "gpt-5", Calls: 2, Refused: 1, InputTokens: 7, OutputTokens: 3, CacheReadTokens: 2,
				Cost: 500_000_000, Share: 500_000_000.0 / total, Saving: 2 * core.Microdollar},
			{Key: "mystery", Calls: 1, OutputTokens: 1, Cost: 1, Share: 1.0 / total},
		},
		Total: Row{Calls: 5, Refused: 1, InputTokens: 117, OutputTokens: 59, CacheReadTokens: 1002,
			CacheWriteTokens: 210, Cost: total, Share: 1, Saving: 1002 * core.Microdollar},
		Unpriced: 1,
	}
	if !reflect.DeepEqual(rep, want) {
		t.Errorf("got  %+v\nwant %+v", rep, want)
	}
}

func TestAggregateByEachKey(t *testing.T) {
	west := time.FixedZone("UTC-5", -5*3600)
	type cell struct {
		key   string
		calls int64
		cost  core.Money
	}
	tests := []struct {
		by   string
		loc  *time.Location
		want []cell
	}{
		{ByDay, time.UTC, []cell{{"2026-03-14", 4, 1_000_000_000}, {"2026-03-15", 1, 1}}},
		// In UTC-5 the first call falls on the evening of the 13th and the last on the 14th.
		{ByDay, west, []cell{{"2026-03-13", 1, 300_000_000}, {"2026-03-14", 4, 700_000_001}}},
		{BySession, nil, []cell{{"s2", 3, 700_000_000}, {"s1", 2, 300_000_001}}},
		{ByProvider, nil, []cell{{ProviderAnthropic, 3, 500_000_001}, {ProviderOpenAI, 2, 500_000_000}}},
		{ByClient, nil, []cell{{"claude-cli/2.0", 2, 500_000_000}, {"codex/0.1", 2, 500_000_000}, {"", 1, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.by, func(t *testing.T) {
			rep, err := Aggregate(tt.by, tt.loc, nil, slices.Values(aggregateFixture()))
			if err != nil {
				t.Fatal(err)
			}
			var got []cell
			var sum core.Money
			for _, r := range rep.Rows {
				got = append(got, cell{r.Key, r.Calls, r.Cost})
				sum += r.Cost
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if sum != rep.Total.Cost || rep.Total.Cost != 1_000_000_001 || rep.Total.Calls != 5 {
				t.Errorf("total got %+v, rows sum %d", rep.Total, sum)
			}
			if rep.Total.Saving != 0 || rep.Unpriced != 0 {
				t.Errorf("without a price function got saving %d, unpriced %d", rep.Total.Saving, rep.Unpriced)
			}
		})
	}
}

func TestAggregateEmptyAndUnknown(t *testing.T) {
	rep, err := Aggregate(ByModel, nil, nil, slices.Values([]Record(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 0 || rep.Total != (Row{}) {
		t.Errorf("got %+v", rep)
	}
	if _, err := NewAggregator("week", nil, nil); err == nil {
		t.Error("got no error for an unknown breakdown")
	}
}

func TestAggregateScannedJournal(t *testing.T) {
	var input string
	for _, r := range aggregateFixture() {
		input += line(t, r)
	}
	input += "{corrupt\n"
	a, err := NewAggregator(ByProvider, time.UTC, uncachedFixture)
	if err != nil {
		t.Fatal(err)
	}
	f := Filter{Types: []string{TypeCall}, Session: "s2"}
	st, err := Scan(strings.NewReader(input), func(r Record) error {
		if f.Match(r) {
			a.Add(r)
		}
		return nil
	})
	if err != nil || st.Skipped != 1 {
		t.Fatalf("got %+v, %v", st, err)
	}
	rep := a.Report()
	if rep.Total.Cost != 700_000_000 || rep.Total.Calls != 3 || len(rep.Rows) != 2 {
		t.Errorf("got %+v", rep)
	}
}
