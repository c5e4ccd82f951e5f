package journal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/costplan/costplan/core"
)

func TestReadFileParallel(t *testing.T) {
	var buf bytes.Buffer
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; buf.Len() < 400<<10; i++ {
		r := Record{V: 1, Type: TypeCall, TS: start.Add(time.Duration(i) * time.Second), Session: fmt.Sprintf("s%03d", i%7),
			Model: []string{"gpt-5", "claude-sonnet-4-5", "o3"}[i%3], Outcome: OutcomeOK, Cost: core.Money(i), RequestID: fmt.Sprint(i)}
		b, _ := r.MarshalJSON()
		buf.Write(b)
		buf.WriteByte('\n')
		if i%900 == 450 {
			buf.WriteString("{corrupt line\n")
		}
	}
	buf.WriteString(`{"v":1,"type":"call","ts":"2026-1`) // torn last line
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var serial []Record
	aggS, _ := NewAggregator(ByModel, time.UTC, nil)
	wantStats, err := ReadFile(path, func(r Record) error {
		serial = append(serial, r)
		aggS.Add(r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, parts := range []int{1, 2, 3, 8} {
		perPart := make([][]Record, parts)
		aggs := make([]*Aggregator, parts)
		st, err := readFileParallel(path, parts, 1, func(k int) func(Record) error {
			aggs[k], _ = NewAggregator(ByModel, time.UTC, nil)
			return func(r Record) error {
				perPart[k] = append(perPart[k], r)
				aggs[k].Add(r)
				return nil
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []Record
		for _, p := range perPart {
			got = append(got, p...)
		}
		if len(got) != len(serial) || !reflect.DeepEqual(got, serial) {
			t.Errorf("%d parts: %d records, want the %d of a serial read in the same order", parts, len(got), len(serial))
		}
		if !reflect.DeepEqual(st, wantStats) {
			t.Errorf("%d parts: stats %+v, want %+v", parts, st, wantStats)
		}
		merged := aggs[0]
		for _, a := range aggs[1:] {
			if a != nil {
				merged.Merge(a)
			}
		}
		if got, want := merged.Report(), aggS.Report(); !reflect.DeepEqual(got, want) {
			t.Errorf("%d parts: merged report %+v, want %+v", parts, got, want)
		}
	}
	if st, err := ReadFileParallel(filepath.Join(t.TempDir(), "missing"), 2, nil); err != nil || !st.Missing {
		t.Errorf("missing file: got %+v, %v", st, err)
	}
}
