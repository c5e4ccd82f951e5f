package journal

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	durabilityPathEnv   = "COSTPLAN_DURABILITY_PATH"
	durabilityIDEnv     = "COSTPLAN_DURABILITY_ID"
	durabilityRoundsEnv = "COSTPLAN_DURABILITY_ROUNDS"
	durabilityRounds    = 8
	durabilityProcs     = 4
)

// durabilityPads are the sizes of the Client padding of the appenders' records: a
// plain record, and records long enough to keep a process inside write(2) for a
// while, where a SIGKILL tears the line.
var durabilityPads = []int{0, 64 << 10, 128 << 10, 256 << 10}

// TestHelperDurabilityAppender is the child of TestDurabilitySIGKILL: it opens the
// journal, says "ready", waits for a line on stdin, then appends records until it is
// killed. It does nothing in a normal run.
//
// The records are encoded once per size and stamped in place with each request id
// (a copy of a large line under -race would take longer than its write), and go
// through appendLine, the part of Append that makes a line durable (the file lock,
// the check of the last line, the one write(2), the cut-back on failure). Encoding
// every record anew would spend most of the time in the encoder (far more under
// -race), so that kills would seldom land inside a write.
func TestHelperDurabilityAppender(t *testing.T) {
	path := os.Getenv(durabilityPathEnv)
	if path == "" {
		t.Skip("helper process for TestDurabilitySIGKILL")
	}
	id := os.Getenv(durabilityIDEnv)
	w, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	placeholder := strings.Repeat("X", len(fmt.Sprintf("%s-%08d", id, 0)))
	type template struct {
		line []byte
		at   int
	}
	var templates []template
	for _, n := range durabilityPads {
		r := sampleCall()
		r.RequestID, r.Client = placeholder, strings.Repeat("c", n)
		line := append(r.appendJSON(nil), '\n')
		templates = append(templates, template{line, bytes.Index(line, []byte(placeholder))})
	}
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 0))
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		os.Exit(4)
	}
	for i := 0; ; i++ {
		tp := templates[rng.IntN(len(templates))]
		copy(tp.line[tp.at:], fmt.Sprintf("%s-%08d", id, i))
		w.mu.Lock()
		err := w.appendLine(tp.line)
		w.mu.Unlock()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
	}
}

// firstLine is a writer that sends the first line written to it on c and drops
// the rest.
type firstLine struct {
	buf  []byte
	sent bool
	c    chan string
}

func (w *firstLine) Write(p []byte) (int, error) {
	if !w.sent {
		w.buf = append(w.buf, p...)
		if i := bytes.IndexByte(w.buf, '\n'); i >= 0 {
			w.c <- string(w.buf[:i+1])
			w.sent = true
		}
	}
	return len(p), nil
}

// startAppenders starts n appenders in one new process group, waits until each has
// opened the journal, and lets them all go at once. It returns the commands and the
// group id.
func startAppenders(t *testing.T, path string, round, n int) ([]*exec.Cmd, int) {
	t.Helper()
	cmds := make([]*exec.Cmd, n)
	gos := make([]io.WriteCloser, n)
	pgid := 0
	for p := range n {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDurabilityAppender$", "-test.count=1")
		cmd.Env = append(os.Environ(), durabilityPathEnv+"="+path, fmt.Sprintf("%s=%d-%d", durabilityIDEnv, round, p))
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
		var stderr bytes.Buffer
		ready := &firstLine{c: make(chan string, 1)}
		cmd.Stdout, cmd.Stderr = ready, &stderr
		var err error
		if gos[p], err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if pgid == 0 {
			pgid = cmd.Process.Pid
			t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
		}
		cmds[p] = cmd
		select {
		case line := <-ready.c:
			if line != "ready\n" {
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				_ = cmd.Wait()
				t.Fatalf("appender %d-%d: got %q, want ready\n%s", round, p, line, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("appender %d-%d: not ready after 30s\n%s", round, p, stderr.String())
		}
	}
	for p, g := range gos {
		if _, err := io.WriteString(g, "go\n"); err != nil {
			t.Fatalf("appender %d-%d: %v", round, p, err)
		}
	}
	return cmds, pgid
}

// killedJournal is what checkKilledJournal found.
type killedJournal struct {
	lines int64
	// torn reports a torn last line; tail is its text and tailAt its offset.
	torn   bool
	tail   []byte
	tailAt int64
}

// checkKilledJournal reads a journal whose appenders were killed with journal.ReadFile
// and checks that every line parses except the line numbered closed (0 for none),
// a torn line closed by a later append, and at most one torn line at the end; and
// that the records are unique and each appender's are numbered from 0 without a gap.
func checkKilledJournal(t *testing.T, path string, closed int64) killedJournal {
	t.Helper()
	seen := map[string]bool{}
	last := map[string]int{}
	st, err := ReadFile(path, func(r Record) error {
		id := r.RequestID
		if seen[id] {
			return fmt.Errorf("got record %s twice", id)
		}
		seen[id] = true
		cut := strings.LastIndexByte(id, '-')
		key := id[:max(cut, 0)]
		seq, _ := strconv.Atoi(id[cut+1:])
		if want, started := last[key]; (started && seq != want+1) || (!started && seq != 0) {
			return fmt.Errorf("got record %s after %s-%d, want each appender's records in order without a gap", id, key, last[key])
		}
		last[key] = seq
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []int64
	if closed > 0 {
		want = append(want, closed)
	}
	if st.Torn {
		want = append(want, st.Lines)
	}
	if st.Skipped != int64(len(want)) || !slices.Equal(st.SkippedLines, want) {
		t.Fatalf("got %d skipped lines %v of %d, want %v: only a closed torn line and a torn last one", st.Skipped, st.SkippedLines, st.Lines, want)
	}
	kj := killedJournal{lines: st.Lines, torn: st.Torn}
	if st.Torn {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		kj.tailAt = int64(bytes.LastIndexByte(data, '\n') + 1)
		kj.tail = data[kj.tailAt:]
	}
	return kj
}

// appendAfterKill appends one record to a journal whose writers were killed and
// checks that it starts on a fresh line: a torn last line is closed as it was and
// skipped alone, and the new record reads back whole as the last line.
func appendAfterKill(t *testing.T, path string, kj killedJournal) {
	t.Helper()
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	after := sampleCall()
	after.RequestID = "after-00000000"
	if err := w.Append(context.Background(), after); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var closed int64
	if kj.torn {
		closed = kj.lines
	}
	if got := checkKilledJournal(t, path, closed); got.torn || got.lines != kj.lines+1 {
		t.Fatalf("got %d lines (torn %v) after one append to %d, want %d, none torn", got.lines, got.torn, kj.lines, kj.lines+1)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if kj.torn {
		end := kj.tailAt + int64(len(kj.tail))
		if got := data[kj.tailAt : end+1]; !bytes.Equal(got[:len(kj.tail)], kj.tail) || got[len(kj.tail)] != '\n' {
			t.Fatalf("got the torn line changed to %.80q, want %.80q and a newline", got, kj.tail)
		}
	}
	lastLine := data[bytes.LastIndexByte(data[:len(data)-1], '\n')+1:]
	var r Record
	if err := r.UnmarshalJSON(bytes.TrimSuffix(lastLine, []byte("\n"))); err != nil || r.RequestID != after.RequestID {
		t.Fatalf("last line: got %.80q (%v), want the record appended after the kill", lastLine, err)
	}
}

// TestDurabilitySIGKILL kills appenders in several processes with SIGKILL at random
// points, each round on a fresh journal. The processes of a round share a process
// group and die by one kill(2), so no survivor appends after a torn line. Every line
// but at most a torn last one parses; then an append starts on a fresh line, so that
// the torn line is skipped alone. When no kill happened to land inside a write, the
// last round's journal gets the torn tail a killed writer leaves, half a record.
// COSTPLAN_DURABILITY_ROUNDS sets the number of rounds (without -short).
func TestDurabilitySIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL and process groups")
	}
	rounds := durabilityRounds
	if n, err := strconv.Atoi(os.Getenv(durabilityRoundsEnv)); err == nil && n > 0 {
		rounds = n
	}
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	tornByKill := 0
	var path string
	var kj killedJournal
	for round := range rounds {
		path = filepath.Join(dir, fmt.Sprintf("journal-%d.jsonl", round))
		cmds, pgid := startAppenders(t, path, round, durabilityProcs)
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for p, cmd := range cmds {
			err := cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("appender %d-%d: got %v, want killed by SIGKILL", round, p, err)
			}
		}
		if kj = checkKilledJournal(t, path, 0); kj.torn {
			tornByKill++
		}
		if kj.torn || round < rounds-1 {
			appendAfterKill(t, path, kj)
		}
	}
	t.Logf("seed %d: %d of %d rounds tore a line", seed, tornByKill, rounds)
	if kj.torn {
		return
	}
	// The last round tore nothing: leave the tail a writer killed mid-write leaves.
	line, err := sampleCall().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(line[:len(line)/2]); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if kj = checkKilledJournal(t, path, 0); !kj.torn {
		t.Fatal("got no torn line after writing half a record")
	}
	appendAfterKill(t, path, kj)
}

// TestDurabilityFullDisk fills a 64 KiB tmpfs: the append that does not fit fails
// with an error that names the cause and the remedy, and leaves the journal as it
// was, without a torn line; once there is room again, appends succeed. It needs root
// to mount the tmpfs and is skipped otherwise; TestAppendFullDiskLeavesNoTornLine
// covers the same path on any system, with a write hook that fails.
func TestDurabilityFullDisk(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root on Linux")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("mount a 64 KiB tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	// A file to delete later, to make room again.
	room := filepath.Join(dir, "room")
	if err := os.WriteFile(room, make([]byte, 8<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := Open(filepath.Join(dir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	ctx := context.Background()
	appended := 0
	var failures []error
	for len(failures) < 2 {
		if appended > 1000 {
			t.Fatal("a 64 KiB tmpfs took 1,000 records")
		}
		before, err := os.ReadFile(w.Path())
		if err != nil {
			t.Fatal(err)
		}
		r := sampleCall()
		r.RequestID = strconv.Itoa(appended)
		err = w.Append(ctx, r)
		if err == nil {
			appended++
			continue
		}
		failures = append(failures, err)
		after, _ := os.ReadFile(w.Path())
		if !bytes.Equal(after, before) {
			t.Errorf("failure %d: got %d bytes in the journal, want the %d it held before", len(failures), len(after), len(before))
		}
	}
	for i, err := range failures {
		if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, io.ErrShortWrite) {
			t.Errorf("failure %d: got %v, want no space left or a short write", i+1, err)
		}
		if !strings.Contains(err.Error(), "free disk space or point --journal elsewhere") {
			t.Errorf("failure %d: got %q, want it to say what to do", i+1, err)
		}
	}
	t.Logf("%d records fit, then: %v", appended, failures[0])
	st, err := ReadFile(w.Path(), func(Record) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != int64(appended) || st.Skipped != 0 {
		t.Errorf("full journal: got %d records, %d skipped; want %d, 0", st.Records, st.Skipped, appended)
	}

	if err := os.Remove(room); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(ctx, sampleCall()); err != nil {
		t.Fatalf("append once there is room: %v", err)
	}
	st, err = ReadFile(w.Path(), func(Record) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != int64(appended)+1 || st.Skipped != 0 || st.Torn {
		t.Errorf("after making room: got %d records, %d skipped, torn %v; want %d, 0, false", st.Records, st.Skipped, st.Torn, appended+1)
	}
}
