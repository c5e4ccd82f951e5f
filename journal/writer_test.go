package journal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func openTemp(t *testing.T) *Writer {
	t.Helper()
	w, err := Open(filepath.Join(t.TempDir(), "data", "costplan", "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// readLines returns the journal's lines and checks that each is a whole record.
func readLines(t *testing.T, path string) []Record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("journal does not end with a newline: %q", data[max(0, len(data)-80):])
	}
	var recs []Record
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(data) == 0 {
			break
		}
		var r Record
		if !json.Valid(line) {
			t.Fatalf("line %d is not valid JSON: %q", i+1, line)
		}
		if err := r.UnmarshalJSON(line); err != nil {
			t.Fatalf("line %d: %v: %q", i+1, err, line)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no unix permissions")
	}
	w := openTemp(t)
	fi, err := os.Stat(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("file mode got %v, want 0600", got)
	}
	di, err := os.Stat(filepath.Dir(w.Path()))
	if err != nil {
		t.Fatal(err)
	}
	if got := di.Mode().Perm(); got != 0o700 {
		t.Errorf("directory mode got %v, want 0700", got)
	}
}

func TestAppendWritesOneLine(t *testing.T) {
	w := openTemp(t)
	ctx := context.Background()
	if err := w.Append(ctx, sampleCall()); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := w.Append(ctx, Record{Type: TypeSession, Session: "s", Event: EventStart}); err != nil {
		t.Fatal(err)
	}
	recs := readLines(t, w.Path())
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2", len(recs))
	}
	if recs[1].V != Version || recs[1].TS.Before(before.Add(-time.Second)) {
		t.Errorf("got v %d ts %v, want v %d and the current time", recs[1].V, recs[1].TS, Version)
	}
	if err := w.Append(ctx, Record{Session: "s"}); err == nil {
		t.Error("got no error for a record without a type")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.Append(cctx, sampleCall()); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(ctx, sampleCall()); !errors.Is(err, os.ErrClosed) {
		t.Errorf("got %v, want os.ErrClosed", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if n := len(readLines(t, w.Path())); n != 2 {
		t.Errorf("got %d records, want 2", n)
	}
}

// TestAppendRefusesUnreadableTime: a timestamp RFC 3339 cannot hold would make a
// line every reader skips; Append says so instead and writes nothing.
func TestAppendRefusesUnreadableTime(t *testing.T) {
	w := openTemp(t)
	for _, ts := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 0, 0, 0, time.FixedZone("W", -2*3600)), // 10000 in UTC
	} {
		r := sampleCall()
		r.TS = ts
		if err := w.Append(context.Background(), r); err == nil || !strings.Contains(err.Error(), "year outside 0-9999") {
			t.Errorf("Append at %s: got %v, want an error about the year", ts, err)
		}
		if _, err := json.Marshal(r); err == nil {
			t.Errorf("json.Marshal at %s: got no error, want one", ts)
		}
	}
	r := sampleCall()
	r.TS = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	if err := w.Append(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if recs := readLines(t, w.Path()); len(recs) != 1 || !recs[0].TS.Equal(r.TS) {
		t.Errorf("got %+v, want only the record of 9999", recs)
	}
}

func TestAppendConcurrentGoroutines(t *testing.T) {
	w := openTemp(t)
	const goroutines, each = 50, 40
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				r := sampleCall()
				r.RequestID = fmt.Sprintf("g%d-%d", g, i)
				r.Error = strings.Repeat("x", g) // lines of different lengths
				if err := w.Append(context.Background(), r); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	checkAllSeen(t, readLines(t, w.Path()), "g", goroutines, each)
}

// checkAllSeen checks that recs hold exactly the request ids prefix<w>-<i>.
func checkAllSeen(t *testing.T, recs []Record, prefix string, writers, each int) {
	t.Helper()
	if len(recs) != writers*each {
		t.Fatalf("got %d records, want %d", len(recs), writers*each)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[r.RequestID] {
			t.Fatalf("request id %s twice", r.RequestID)
		}
		seen[r.RequestID] = true
		if r.Cost != sampleCall().Cost || r.Model != sampleCall().Model {
			t.Fatalf("record %s damaged: %+v", r.RequestID, r)
		}
	}
	for g := range writers {
		for i := range each {
			if id := fmt.Sprintf("%s%d-%d", prefix, g, i); !seen[id] {
				t.Fatalf("request id %s missing", id)
			}
		}
	}
}

const (
	helperPathEnv = "COSTPLAN_JOURNAL_HELPER_PATH"
	helperIDEnv   = "COSTPLAN_JOURNAL_HELPER_ID"
	helperLines   = 500
)

// TestHelperAppendProcess is the child of TestAppendConcurrentProcesses; it does
// nothing in a normal run.
func TestHelperAppendProcess(t *testing.T) {
	path := os.Getenv(helperPathEnv)
	if path == "" {
		t.Skip("helper process for TestAppendConcurrentProcesses")
	}
	id := os.Getenv(helperIDEnv)
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range helperLines {
		r := sampleCall()
		r.RequestID = fmt.Sprintf("p%s-%d", id, i)
		r.Client = strings.Repeat("c", i%300)
		if err := w.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAppendConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	const procs = 8
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*bytes.Buffer, procs)
	for p := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAppendProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperPathEnv+"="+path, helperIDEnv+"="+strconv.Itoa(p))
		outs[p] = new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = outs[p], outs[p]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[p] = cmd
	}
	for p, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper %d: %v\n%s", p, err, outs[p])
		}
	}
	checkAllSeen(t, readLines(t, path), "p", procs, helperLines)
}

func TestAppendFullDiskLeavesNoTornLine(t *testing.T) {
	tests := []struct {
		name  string
		write func(f *os.File, line []byte) (int, error)
		want  error
	}{
		{"enospc after half", func(f *os.File, line []byte) (int, error) {
			n, _ := f.Write(line[:len(line)/2])
			return n, syscall.ENOSPC
		}, syscall.ENOSPC},
		{"short write", func(f *os.File, line []byte) (int, error) {
			return f.Write(line[:len(line)-1])
		}, io.ErrShortWrite},
		{"nothing written", func(*os.File, []byte) (int, error) {
			return 0, syscall.ENOSPC
		}, syscall.ENOSPC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := openTemp(t)
			ctx := context.Background()
			for range 2 {
				if err := w.Append(ctx, sampleCall()); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := os.ReadFile(w.Path())
			w.write = tt.write
			err := w.Append(ctx, sampleCall())
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			wantMsg := fmt.Sprintf("journal %s: %v (free disk space or point --journal elsewhere)", w.Path(), tt.want)
			if err.Error() != wantMsg {
				t.Errorf("got message %q, want %q", err, wantMsg)
			}
			after, _ := os.ReadFile(w.Path())
			if !bytes.Equal(after, before) {
				t.Errorf("journal changed by the failed write:\n%s", after)
			}
			w.write = nil
			if err := w.Append(ctx, sampleCall()); err != nil {
				t.Fatal(err)
			}
			if n := len(readLines(t, w.Path())); n != 3 {
				t.Errorf("got %d records, want 3", n)
			}
		})
	}
}

func TestAppendEndsATornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	good, _ := json.Marshal(sampleCall())
	torn := `{"v":1,"type":"call","ts":"2026-03-14T09:2`
	if err := os.WriteFile(path, []byte(string(good)+"\n"+torn), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Append(context.Background(), sampleCall()); err != nil {
		t.Fatal(err)
	}
	var n int
	st, err := ReadFile(path, func(Record) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || st.Skipped != 1 || st.SkippedLines[0] != 2 || st.Torn {
		t.Errorf("got %d records, stats %+v; want 2 records and line 2 skipped", n, st)
	}
}
