package journal

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/costplan/costplan/core"
)

func line(t testing.TB, r Record) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func collect(t *testing.T, input string) ([]Record, ScanStats) {
	t.Helper()
	var recs []Record
	st, err := Scan(strings.NewReader(input), func(r Record) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs, st
}

func TestScanSkipsTornAndCorruptLines(t *testing.T) {
	good := line(t, sampleCall())
	full := good + `{"v":1,"type":"call","cost_usd":0.5,` + "\n" + // corrupt middle line
		good + "\n" + // a blank line
		"\x00\x00garbage\n" +
		good + `{"v":1,"type":"call","ts":"2026-03-14T09:2` // torn last line
	recs, st := collect(t, full)
	want := ScanStats{Lines: 7, Records: 3, Skipped: 3, SkippedLines: []int64{2, 5, 7}, Torn: true}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("got stats %+v, want %+v", st, want)
	}
	for _, r := range recs {
		if !reflect.DeepEqual(r, sampleCall()) {
			t.Errorf("got %+v, want the sample call", r)
		}
	}
}

func TestScanKeepsAFewSkippedLineNumbers(t *testing.T) {
	_, st := collect(t, strings.Repeat("{\n", 20))
	if st.Skipped != 20 || !reflect.DeepEqual(st.SkippedLines, []int64{1, 2, 3, 4, 5}) || st.Torn {
		t.Errorf("got %+v", st)
	}
}

func TestScanLastLineWithoutNewline(t *testing.T) {
	recs, st := collect(t, strings.TrimSuffix(line(t, sampleCall()), "\n"))
	if len(recs) != 1 || st.Skipped != 0 || st.Torn {
		t.Errorf("got %d records, stats %+v", len(recs), st)
	}
}

func TestScanLongLines(t *testing.T) {
	long := `{"v":1,"type":"call","cost_usd":0.25,"note":"` + strings.Repeat("n", 300<<10) + `"}` + "\n"
	tooLong := `{"v":1,"type":"call","note":"` + strings.Repeat("n", MaxLineBytes) + `"}` + "\n"
	recs, st := collect(t, long+tooLong+line(t, sampleCall())+"\r\n"+strings.ReplaceAll(long, "\n", "\r\n"))
	want := ScanStats{Lines: 5, Records: 3, Skipped: 1, SkippedLines: []int64{2}}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("got stats %+v, want %+v", st, want)
	}
	if len(recs) != 3 || recs[0].Cost != core.Dollar/4 || recs[1].Cost != sampleCall().Cost || recs[2].Cost != core.Dollar/4 {
		t.Errorf("got %+v", recs)
	}
}

func TestScanReadsEveryVersion(t *testing.T) {
	input := `{"type":"call","model":"old","cost_usd":0.5}` + "\n" +
		`{"v":2,"type":"call","model":"new","cost_usd":"0.25","shape":{"a":[1,2]},` +
		`"usage":{"input_tokens":5,"future_tokens":3},"status":"teapot"}` + "\n" +
		`{"v":1,"type":"budget","session":"s"}` + "\n"
	recs, st := collect(t, input)
	if st.Records != 3 || st.Skipped != 0 {
		t.Fatalf("got stats %+v", st)
	}
	if recs[0].V != 0 || recs[0].Cost != core.Dollar/2 {
		t.Errorf("v missing: got %+v", recs[0])
	}
	if recs[1].V != 2 || recs[1].Cost != core.Dollar/4 || recs[1].Usage.InputTokens != 5 || recs[1].Model != "new" {
		t.Errorf("v2: got %+v", recs[1])
	}
	if recs[2].Type != "budget" {
		t.Errorf("unknown type: got %+v", recs[2])
	}
}

func TestScanStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	input := strings.Repeat(line(t, sampleCall()), 5)
	n := 0
	st, err := Scan(strings.NewReader(input), func(Record) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if err != stop || st.Records != 2 {
		t.Errorf("got %v after %d records, want the callback's error after 2", err, st.Records)
	}
}

type failingReader struct {
	data string
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestScanReadError(t *testing.T) {
	boom := errors.New("boom")
	st, err := Scan(&failingReader{data: line(t, sampleCall()), err: boom}, func(Record) error { return nil })
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "read journal: ") || st.Records != 1 {
		t.Errorf("got %v, %+v", err, st)
	}
	if _, err := Scan(&failingReader{err: io.ErrUnexpectedEOF}, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("got %v", err)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	st, err := ReadFile(filepath.Join(dir, "none.jsonl"), func(Record) error { return nil })
	if err != nil || !st.Missing || st.Lines != 0 {
		t.Errorf("missing file: got %+v, %v", st, err)
	}
	path := filepath.Join(dir, "journal.jsonl")
	if err := os.WriteFile(path, []byte(line(t, sampleCall())+"{\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err = ReadFile(path, func(Record) error { return nil })
	if err != nil || st.Missing || st.Records != 1 || st.Skipped != 1 {
		t.Errorf("got %+v, %v", st, err)
	}
	if _, err := ReadFile(dir, func(Record) error { return nil }); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("reading a directory: got %v, want an error naming it", err)
	}
}
