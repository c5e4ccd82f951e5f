package journal

import (
	"fmt"
	"slices"
	"testing"
	"time"
	_ "time/tzdata" // zones for the day-boundary tests wherever they run

	"github.com/costplan/costplan/core"
)

func TestFilterMatch(t *testing.T) {
	east := time.FixedZone("UTC-5", -5*3600)
	// 23:59:59 on the 13th and 00:00:00 on the 14th in UTC-5.
	lateEve := Record{Type: TypeCall, TS: time.Date(2026, 3, 14, 4, 59, 59, 0, time.UTC), Session: "a1b2c3",
		Model: "claude-sonnet-4-5-20250929", PriceModel: "claude-sonnet-4-5", Outcome: OutcomeOK}
	midnight := Record{Type: TypeCall, TS: time.Date(2026, 3, 14, 5, 0, 0, 0, time.UTC), Session: "a1ffff",
		Model: "gpt-5", PriceModel: "gpt-5", Outcome: OutcomeRefused}
	start := Record{Type: TypeSession, TS: midnight.TS, Session: "a1b2c3", Event: EventStart}
	today := StartOfDay(time.Date(2026, 3, 14, 12, 0, 0, 0, east), east)
	all := []Record{lateEve, midnight, start}
	tests := []struct {
		name string
		f    Filter
		want []int
	}{
		{"zero", Filter{}, []int{0, 1, 2}},
		{"session prefix", Filter{Session: "a1b2"}, []int{0, 2}},
		{"session prefix of both", Filter{Session: "a1"}, []int{0, 1, 2}},
		{"since today in UTC-5", Filter{Since: today}, []int{1, 2}},
		{"until today in UTC-5", Filter{Until: today}, []int{0}},
		{"since today in UTC", Filter{Since: StartOfDay(lateEve.TS, time.UTC)}, []int{0, 1, 2}},
		{"since yesterday until today", Filter{Since: today.AddDate(0, 0, -1), Until: today}, []int{0}},
		{"model", Filter{Model: "GPT-5"}, []int{1}},
		{"price model", Filter{Model: "claude-sonnet-4-5"}, []int{0}},
		{"model prefix", Filter{Model: "claude-*"}, []int{0}},
		{"model prefix matches all", Filter{Model: "*"}, []int{0, 1}},
		{"model no match", Filter{Model: "claude"}, nil},
		{"outcome", Filter{Outcome: OutcomeRefused}, []int{1}},
		{"types", Filter{Types: []string{TypeCall}}, []int{0, 1}},
		{"types session", Filter{Types: []string{TypeSession}, Session: "a1b"}, []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			for i, r := range all {
				if tt.f.Match(r) {
					got = append(got, i)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStartOfDayAndMonth(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		t          time.Time
		loc        *time.Location
		day, month string
	}{
		{time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC), ny, "2026-03-13T00:00:00-04:00", "2026-03-01T00:00:00-05:00"},
		{time.Date(2026, 3, 8, 12, 0, 0, 0, ny), ny, "2026-03-08T00:00:00-05:00", "2026-03-01T00:00:00-05:00"},
		{time.Date(2026, 11, 1, 23, 0, 0, 0, ny), ny, "2026-11-01T00:00:00-04:00", "2026-11-01T00:00:00-04:00"},
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.FixedZone("W", -3600), "2025-12-31T00:00:00-01:00", "2025-12-01T00:00:00-01:00"},
	}
	for _, tt := range tests {
		if got := StartOfDay(tt.t, tt.loc).Format(time.RFC3339); got != tt.day {
			t.Errorf("StartOfDay(%v) got %s, want %s", tt.t, got, tt.day)
		}
		if got := StartOfMonth(tt.t, tt.loc).Format(time.RFC3339); got != tt.month {
			t.Errorf("StartOfMonth(%v) got %s, want %s", tt.t, got, tt.month)
		}
	}
}

func TestRecent(t *testing.T) {
	for _, n := range []int{1, 3, 10} {
		q := NewRecent(n)
		for i := range 7 {
			q.Add(Record{Calls: int64(i)})
		}
		var got []int64
		for _, r := range q.Records() {
			got = append(got, r.Calls)
		}
		var want []int64
		for i := max(0, 7-n); i < 7; i++ {
			want = append(want, int64(i))
		}
		if !slices.Equal(got, want) || q.Seen() != 7 {
			t.Errorf("n=%d: got %v (seen %d), want %v", n, got, q.Seen(), want)
		}
	}
	q := NewRecent(0)
	for i := range 5 {
		q.Add(Record{Calls: int64(i)})
	}
	if got := len(q.Records()); got != 5 {
		t.Errorf("n=0: got %d records, want all 5", got)
	}
	if got := len(NewRecent(4).Records()); got != 0 {
		t.Errorf("empty: got %d records", got)
	}
}

func TestRecentConstantMemory(t *testing.T) {
	q := NewRecent(20)
	r := sampleCall()
	allocs := testing.AllocsPerRun(1000, func() { q.Add(r) })
	if allocs != 0 {
		t.Errorf("got %v allocations per Add, want 0", allocs)
	}
}

func ExampleRecent() {
	q := NewRecent(2)
	for i := 1; i <= 3; i++ {
		q.Add(Record{Type: TypeCall, Cost: core.Money(i) * core.Cent})
	}
	for _, r := range q.Records() {
		fmt.Println(r.Cost)
	}
	// Output:
	// $0.02
	// $0.03
}
