package main

// End-to-end tests of `costplan exec`, run as a built binary (see TestExec) with
// shell children from testdata/exec that call the in-process proxy with curl, trap
// signals and write marker files.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/pricing"
)

// TestExec runs `costplan exec` as a built binary: exec changes terminal and
// signal state, which only a process of its own can show. The binary is built
// once, with -race when the tests run with it, so that races in exec show up too
// (as exit status 66).
func TestExec(t *testing.T) {
	bin := costplanBinary(t, raceEnabled())
	tests := []struct {
		name string
		run  func(t *testing.T, bin string)
	}{
		{"BudgetStop", execTestBudgetStop},
		{"BudgetStopEscalatesToKill", execTestBudgetStopEscalatesToKill},
		{"OnExhaustBlock", execTestOnExhaustBlock},
		{"Status", execTestStatus},
		{"UsageErrors", execTestUsageErrors},
		{"ForwardsSignals", execTestForwardsSignals},
		{"ChildEnvironment", execTestChildEnvironment},
		{"CodexArguments", execTestCodexArguments},
		{"UpstreamChain", execTestUpstreamChain},
		{"CIMode", execTestCIMode},
		{"PTY", execTestPTY},
		{"PTYBudgetStop", execTestPTYBudgetStop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, bin)
		})
	}
}

// execScript returns the absolute path of a script in testdata/exec.
func execScript(tb testing.TB, name string) string {
	tb.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "exec", name))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// execWaitFile waits until path exists and returns its content.
func execWaitFile(t testing.TB, path string, r *execRun) string {
	t.Helper()
	deadline := time.Now().Add(execTimeout)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			return string(b)
		}
		select {
		case <-r.done:
			if b, err := os.ReadFile(path); err == nil {
				return string(b)
			}
			t.Fatalf("costplan exited %d before %s was written\nstdout:\n%s\nstderr:\n%s",
				r.code, filepath.Base(path), r.stdout.String(), r.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("%s was not written within %v", path, execTimeout)
	return ""
}

// The answer of the fake upstream of the exec tests: claude-haiku-4-5 at $1 input
// and $5 output per million tokens, so 1000 input and 2000 output tokens cost
// exactly $0.011 (execMessageCost).
const (
	execModel        = "claude-haiku-4-5"
	execInputTokens  = 1000
	execOutputTokens = 2000
	execMessage      = `{"id":"msg_exec","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001",` +
		`"content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","stop_sequence":null,` +
		`"usage":{"input_tokens":1000,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":2000}}`
)

// execMessageCost is the cost of the fake's answer, from the embedded price table.
func execMessageCost(t testing.TB) core.Money {
	t.Helper()
	table, err := pricing.New(pricing.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := table.Lookup(execModel)
	if err != nil {
		t.Fatal(err)
	}
	cost, _ := pricing.Cost(res.Model, core.Usage{InputTokens: execInputTokens, OutputTokens: execOutputTokens})
	if want := 11 * core.Dollar / 1000; cost != want {
		t.Fatalf("price of the fake's answer: got %v, want %v (has the price of %s changed?)", cost, want, execModel)
	}
	return cost
}

// execRecords reads the journal at path.
func execRecords(t testing.TB, path string) []journal.Record {
	t.Helper()
	var recs []journal.Record
	st, err := journal.ReadFile(path, func(r journal.Record) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Missing {
		t.Fatalf("journal %s was not written", path)
	}
	return recs
}

// execSessionLog is a journal split by kind, checked to hold one session.
type execSessionLog struct {
	id      string
	ok      []journal.Record
	refused []journal.Record
	events  map[string]journal.Record // session records by event
}

func execSplit(t testing.TB, recs []journal.Record) execSessionLog {
	t.Helper()
	if len(recs) == 0 {
		t.Fatal("the journal is empty")
	}
	l := execSessionLog{id: recs[0].Session, events: map[string]journal.Record{}}
	if recs[0].Type != journal.TypeSession || recs[0].Event != journal.EventStart {
		t.Errorf("first record: got %s %s, want session start", recs[0].Type, recs[0].Event)
	}
	if last := recs[len(recs)-1]; last.Type != journal.TypeSession || last.Event != journal.EventEnd {
		t.Errorf("last record: got %s %s, want session end", last.Type, last.Event)
	}
	for _, r := range recs {
		if r.Session != l.id || l.id == "" {
			t.Errorf("%s record with session %q: want %q", r.Type, r.Session, l.id)
		}
		switch {
		case r.Type == journal.TypeSession:
			l.events[r.Event] = r
		case r.Outcome == journal.OutcomeOK:
			l.ok = append(l.ok, r)
		case r.Outcome == journal.OutcomeRefused:
			l.refused = append(l.refused, r)
		default:
			t.Errorf("unexpected call record: %+v", r)
		}
	}
	return l
}

// execCheckCalls checks that every metered call is priced exactly and every refusal
// is a 429.
func execCheckCalls(t testing.TB, l execSessionLog, wantOK, wantRefused int) {
	t.Helper()
	cost := execMessageCost(t)
	if len(l.ok) != wantOK || len(l.refused) != wantRefused {
		t.Errorf("calls: got %d ok and %d refused, want %d and %d", len(l.ok), len(l.refused), wantOK, wantRefused)
	}
	for _, r := range l.ok {
		if r.Cost != cost || r.PriceModel != execModel || r.Status != http.StatusOK {
			t.Errorf("call: got cost %v, model %s, status %d; want %v, %s, 200", r.Cost, r.PriceModel, r.Status, cost, execModel)
		}
	}
	for _, r := range l.refused {
		if r.Status != http.StatusTooManyRequests || r.Cost != 0 {
			t.Errorf("refused call: got status %d, cost %v; want 429, $0", r.Status, r.Cost)
		}
	}
}

// execLines returns the lines of out that start with prefix, without it.
func execLines(out, prefix string) []string {
	var got []string
	for line := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), prefix); ok {
			got = append(got, v)
		}
	}
	return got
}

// execCaller runs testdata/exec/caller.sh under costplan exec with a session cap
// that pays for three calls of the fake: the fourth is refused and locks the
// session. extra are costplan flags. The script also gets an argument that looks
// like a secret, which it ignores and which must never reach the journal.
func execCaller(t *testing.T, bin, mode string, extra ...string) (r *execRun, markers, journalPath string, fake *fakeAnthropic) {
	fake = newFakeAnthropic(t, execMessage)
	markers = t.TempDir()
	journalPath = filepath.Join(t.TempDir(), "journal.jsonl")
	args := append([]string{"exec", "--session", "0.035", "--anthropic-upstream", fake.URL, "--journal", journalPath}, extra...)
	args = append(args, "--", "sh", execScript(t, "caller.sh"), mode, "--api-key=sk-secret-value")
	return execStart(t, bin, binEnv(t, "EXEC_MARKERS", markers), args...), markers, journalPath, fake
}

// execCheckJournal checks the journal of a caller.sh run: three calls at the
// fake's price, the refusals, and session records that name the command without
// its arguments.
func execCheckJournal(t *testing.T, path string, refused int, stdout string) execSessionLog {
	t.Helper()
	l := execSplit(t, execRecords(t, path))
	execCheckCalls(t, l, 3, refused)
	if got := execLines(stdout, "session "); len(got) != 1 || got[0] != l.id {
		t.Errorf("COSTPLAN_SESSION in the child: got %q, want %q", got, l.id)
	}
	for _, ev := range []string{journal.EventStart, journal.EventLock, journal.EventEnd} {
		r, ok := l.events[ev]
		if !ok {
			t.Errorf("no session %s record", ev)
			continue
		}
		if r.Command != "sh" || r.Args != 3 {
			t.Errorf("session %s record: got command %q with %d args, want \"sh\" with 3", ev, r.Command, r.Args)
		}
	}
	end, cost := l.events[journal.EventEnd], execMessageCost(t)
	if end.Spent != 3*cost || end.Refused != int64(refused) || end.SessionCap != 35*core.Dollar/1000 {
		t.Errorf("end record: got spent %v, refused %d, cap %v; want %v, %d, $0.035", end.Spent, end.Refused, end.SessionCap, 3*cost, refused)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("sk-secret-value")) || bytes.Contains(raw, []byte("caller.sh")) {
		t.Errorf("the journal holds the command's arguments:\n%s", raw)
	}
	return l
}

func execTestBudgetStop(t *testing.T, bin string) {
	r, markers, journalPath, fake := execCaller(t, bin, "wait")
	if code := r.wait(); code != exitBudgetStop {
		t.Fatalf("exit status: got %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitBudgetStop, r.stdout.String(), r.stderr.String())
	}
	if got := execWaitFile(t, filepath.Join(markers, "term"), r); got != "TERM\n" {
		t.Errorf("marker of the child's TERM trap: got %q, want %q", got, "TERM\n")
	}
	if n := fake.hits.Load(); n != 3 {
		t.Errorf("calls that reached the upstream: got %d, want 3", n)
	}
	stdout, stderr := r.stdout.String(), r.stderr.String()
	for i, want := range []string{"200", "200", "200"} {
		if got := execLines(stdout, fmt.Sprintf("call %d: ", i+1)); len(got) != 1 || got[0] != want {
			t.Errorf("call %d in the child: got %q, want %q", i+1, got, want)
		}
	}
	mustContain(t, "stderr", stderr,
		"costplan: budget spent: $0.033 of $0.035", "stopping sh. Raise it with --session USD",
		"costplan: warning: spent $0.033 of the $0.035 session budget (94%)", "costplan: spent $0.033 of $0.035", "(1 refused)", "top models: claude-haiku-4-5 $0.033 (3)")
	execCheckJournal(t, journalPath, 1, stdout)
}

func execTestBudgetStopEscalatesToKill(t *testing.T, bin string) {
	r, markers, journalPath, _ := execCaller(t, bin, "ignore", "--grace", "300ms")
	execWaitFile(t, filepath.Join(markers, "refused"), r)
	refusedAt := time.Now()
	if code := r.wait(); code != exitBudgetStop {
		t.Fatalf("exit status: got %d, want %d\nstderr:\n%s", code, exitBudgetStop, r.stderr.String())
	}
	// The child ignores TERM and sleeps: only SIGKILL after the 300ms grace ends it
	// this soon (the default grace is 5s).
	if d := r.exited.Sub(refusedAt); d > 4*time.Second {
		t.Errorf("exit %v after the refusal, want well under the default 5s grace", d)
	}
	if _, err := os.Stat(filepath.Join(markers, "term")); err == nil {
		t.Error("the child wrote the TERM marker, but it ignores TERM")
	}
	execCheckJournal(t, journalPath, 1, r.stdout.String())
}

func execTestOnExhaustBlock(t *testing.T, bin string) {
	r, markers, journalPath, fake := execCaller(t, bin, "more", "--on-exhaust", "block")
	if code := r.wait(); code != 3 {
		t.Fatalf("exit status: got %d, want the child's 3\nstdout:\n%s\nstderr:\n%s", code, r.stdout.String(), r.stderr.String())
	}
	stdout := r.stdout.String()
	for i, want := range []string{"200", "200", "200", "429", "429", "429"} {
		if got := execLines(stdout, fmt.Sprintf("call %d: ", i+1)); len(got) != 1 || got[0] != want {
			t.Errorf("call %d in the child: got %q, want %q", i+1, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(markers, "term")); err == nil {
		t.Error("the child got TERM under --on-exhaust block")
	}
	if n := fake.hits.Load(); n != 3 {
		t.Errorf("calls that reached the upstream: got %d, want 3", n)
	}
	mustContain(t, "stderr", r.stderr.String(), "further calls are refused (--on-exhaust block)", "(3 refused)")
	l := execCheckJournal(t, journalPath, 3, stdout)
	for _, rec := range l.refused {
		if rec.Refusal == "" {
			t.Errorf("refused call without the limit that refused it: %+v", rec)
		}
	}
}

func execTestStatus(t *testing.T, bin string) {
	tests := []struct {
		name   string
		args   []string // after exec
		want   int
		stderr string
	}{
		{"exit 7", []string{"--", "sh", "-c", "exit 7"}, 7, ""},
		{"exit 0", []string{"--", "true"}, 0, ""},
		{"killed by KILL", []string{"--", "sh", "-c", "kill -KILL $$"}, 128 + 9, ""},
		{"killed by TERM", []string{"--", "sh", "-c", "kill -TERM $$"}, 128 + 15, ""},
		{"flags after the command are its own", []string{"--", "sh", "-c", "exit $#", "sh", "--session", "-q", "--journal"}, 3, ""},
		{"missing command", []string{"--", "costplan-no-such-command", "arg"}, 127, "costplan: command not found: costplan-no-such-command"},
		{"missing path", []string{"--", "/nonexistent/costplan-cmd"}, 127, "costplan: command not found: /nonexistent/costplan-cmd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := execCode(t, bin, binEnv(t), append([]string{"exec", "-q", "--session", "1"}, tt.args...)...)
			if code != tt.want {
				t.Errorf("exit status: got %d, want %d\nstderr:\n%s", code, tt.want, stderr)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr: got %q, want it to contain %q", stderr, tt.stderr)
			}
		})
	}
}

// execTestUsageErrors checks that a bad command line exits 2 before anything
// starts: no child runs and no journal is written.
func execTestUsageErrors(t *testing.T, bin string) {
	child := []string{"--", "sh", "-c", `touch "$EXEC_MARKERS/ran"`}
	tests := []struct {
		name   string
		args   []string // after exec --journal PATH
		stderr string
	}{
		{"bad signal", append([]string{"--signal", "BOGUS"}, child...), `--signal "BOGUS"`},
		{"negative session", append([]string{"--session", "-1"}, child...), "--session"},
		{"negative session with =", append([]string{"--session=-1"}, child...), "negative amount"},
		{"zero session", append([]string{"--session", "0"}, child...), "session budget must be positive"},
		{"bad on-exhaust", append([]string{"--on-exhaust", "later"}, child...), "--on-exhaust"},
		{"bad pty", append([]string{"--pty", "sometimes"}, child...), "--pty"},
		{"bad agent", append([]string{"--agent", "vim"}, child...), "--agent"},
		{"bad grace", append([]string{"--grace", "soon"}, child...), "--grace"},
		{"bad upstream", append([]string{"--anthropic-upstream", "ftp://example.com"}, child...), "anthropic upstream"},
		{"no command", nil, `expected "<command> ..."`},
		{"only --", []string{"--"}, "no command to run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			markers := t.TempDir()
			journalPath := filepath.Join(markers, "journal.jsonl")
			code, _, stderr := execCode(t, bin, binEnv(t, "EXEC_MARKERS", markers), append([]string{"exec", "--journal", journalPath}, tt.args...)...)
			if code != exitUsage {
				t.Errorf("exit status: got %d, want %d\nstderr:\n%s", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr: got %q, want it to contain %q", stderr, tt.stderr)
			}
			for _, p := range []string{filepath.Join(markers, "ran"), journalPath} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s exists: something started before the usage error", filepath.Base(p))
				}
			}
		})
	}
}

func execTestForwardsSignals(t *testing.T, bin string) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT} {
		name := strings.TrimPrefix(unix.SignalName(sig), "SIG")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			markers := t.TempDir()
			r := execStart(t, bin, binEnv(t, "EXEC_MARKERS", markers),
				"exec", "-q", "--session", "1", "--journal", filepath.Join(t.TempDir(), "j.jsonl"),
				"--", "sh", execScript(t, "sigtrap.sh"))
			execWaitFile(t, filepath.Join(markers, "ready"), r)
			if err := r.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := r.wait(); code != 42 {
				t.Errorf("exit status: got %d, want the child's 42\nstderr:\n%s", code, r.stderr.String())
			}
			if got := execWaitFile(t, filepath.Join(markers, "got"), r); got != name+"\n" {
				t.Errorf("signal the child trapped: got %q, want %q", got, name+"\n")
			}
		})
	}
}

func execTestChildEnvironment(t *testing.T, bin string) {
	const token = "admin-token-123"
	journalPath := filepath.Join(t.TempDir(), "journal.jsonl")
	code, stdout, stderr := execCode(t, bin, binEnv(t, "COSTPLAN_ADMIN_TOKEN", token),
		"exec", "-q", "--session", "1", "--journal", journalPath, "--", "sh", execScript(t, "env.sh"), token)
	if code != 0 {
		t.Fatalf("exit status: got %d, want 0\nstderr:\n%s", code, stderr)
	}
	vars := map[string]string{}
	for line := range strings.SplitSeq(stdout, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = v
		}
	}
	origin := vars["COSTPLAN_URL"]
	if !regexp.MustCompile(`^http://127\.0\.0\.1:[0-9]+$`).MatchString(origin) {
		t.Fatalf("COSTPLAN_URL: got %q, want http://127.0.0.1:PORT\nstdout:\n%s", origin, stdout)
	}
	l := execSplit(t, execRecords(t, journalPath))
	var budget struct {
		Session string `json:"session"`
	}
	if err := json.Unmarshal([]byte(vars["budget"]), &budget); err != nil {
		t.Errorf("GET $COSTPLAN_URL/v1/budget: %v: %q", err, vars["budget"])
	}
	for _, c := range []struct{ name, got, want string }{
		{"ANTHROPIC_BASE_URL", vars["ANTHROPIC_BASE_URL"], origin},
		{"OPENAI_BASE_URL", vars["OPENAI_BASE_URL"], origin + "/v1"},
		{"COSTPLAN_SESSION", vars["COSTPLAN_SESSION"], l.id},
		{"session of the proxy at COSTPLAN_URL", budget.Session, l.id},
		{"COSTPLAN_ADMIN_TOKEN", vars["COSTPLAN_ADMIN_TOKEN"], "unset"},
		{"status of POST /v1/budget/reset with the token", vars["reset"], "403"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if l.events[journal.EventReset].Event != "" {
		t.Error("the journal has a reset record")
	}
}

func execTestCodexArguments(t *testing.T, bin string) {
	dir := t.TempDir()
	script := "#!/bin/sh\n# codex stands in for the Codex CLI: it prints its arguments.\n" +
		"for a in \"$@\"; do echo \"arg:$a\"; done\necho \"url:$COSTPLAN_URL\"\n"
	if err := os.WriteFile(filepath.Join(dir, "codex"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	env := binEnv(t, "PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	tests := []struct {
		agent  string
		inject bool // want -c openai_base_url="ORIGIN/v1" first
	}{
		{"auto", true},
		{"codex", true},
		{"none", false},
	}
	for _, tt := range tests {
		t.Run(tt.agent, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := execCode(t, bin, env, "exec", "-q", "--session", "1", "--agent", tt.agent,
				"--journal", filepath.Join(t.TempDir(), "j.jsonl"), "--", "codex", "exec", "fix the bug")
			if code != 0 {
				t.Fatalf("exit status: got %d, want 0\nstderr:\n%s", code, stderr)
			}
			urls := execLines(stdout, "url:")
			if len(urls) != 1 || !strings.HasPrefix(urls[0], "http://127.0.0.1:") {
				t.Fatalf("COSTPLAN_URL of the child: got %q", urls)
			}
			want := []string{"exec", "fix the bug"}
			if tt.inject {
				want = append([]string{"-c", `openai_base_url="` + urls[0] + `/v1"`}, want...)
			}
			if got := execLines(stdout, "arg:"); !slices.Equal(got, want) {
				t.Errorf("arguments of codex: got %q, want %q", got, want)
			}
		})
	}
}

// execTestUpstreamChain checks that the parent's own ANTHROPIC_BASE_URL becomes the
// upstream when none is configured (costplan in front of an existing gateway), and
// that a configured upstream wins over it.
func execTestUpstreamChain(t *testing.T, bin string) {
	tests := []struct {
		name       string
		configured bool // COSTPLAN_ANTHROPIC_UPSTREAM is set too, and wins
	}{
		{"parent ANTHROPIC_BASE_URL", false},
		{"COSTPLAN_ANTHROPIC_UPSTREAM wins", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gateway, configured := newFakeAnthropic(t, execMessage), newFakeAnthropic(t, execMessage)
			env := []string{"ANTHROPIC_BASE_URL", gateway.URL, "EXEC_MARKERS", t.TempDir()}
			want := [2]int64{1, 0} // calls that reach [gateway, configured]
			if tt.configured {
				env = append(env, "COSTPLAN_ANTHROPIC_UPSTREAM", configured.URL)
				want = [2]int64{0, 1}
			}
			journalPath := filepath.Join(t.TempDir(), "journal.jsonl")
			code, stdout, stderr := execCode(t, bin, binEnv(t, env...),
				"exec", "-q", "--session", "1", "--journal", journalPath, "--", "sh", execScript(t, "caller.sh"), "once")
			if code != 0 {
				t.Fatalf("exit status: got %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if got := [2]int64{gateway.hits.Load(), configured.hits.Load()}; got != want {
				t.Errorf("calls that reached [gateway, configured]: got %v, want %v", got, want)
			}
			execCheckCalls(t, execSplit(t, execRecords(t, journalPath)), 1, 0)
		})
	}
}

func execTestCIMode(t *testing.T, bin string) {
	code, stdout, stderr := execCode(t, bin, binEnv(t), "exec", "-q", "--session", "1",
		"--journal", filepath.Join(t.TempDir(), "j.jsonl"), "--",
		"sh", "-c", `if test -t 0; then echo tty; else echo "no tty"; fi; printf 'one\ntwo\n'; echo oops >&2; exit 5`)
	if code != 5 {
		t.Errorf("exit status: got %d, want 5", code)
	}
	if want := "no tty\none\ntwo\n"; stdout != want {
		t.Errorf("stdout: got %q, want %q", stdout, want)
	}
	if stderr != "oops\n" {
		t.Errorf("stderr: got %q, want %q", stderr, "oops\n")
	}
}

// execPTYRun is a run of costplan on an outer terminal made by the test: its
// stdin, stdout and stderr are the slave of a new pseudo-terminal, which is its
// controlling terminal, and the test reads and types on the master.
type execPTYRun struct {
	*execRun
	ptmx, tty *os.File
	out       syncBuffer
	copied    chan struct{}
}

func execStartPTY(t *testing.T, bin string, size pty.Winsize, env []string, args ...string) *execPTYRun {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := pty.Setsize(ptmx, &size); err != nil {
		t.Fatal(err)
	}
	p := &execPTYRun{execRun: &execRun{t: t, name: "costplan", done: make(chan struct{})}, ptmx: ptmx, tty: tty, copied: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env, p.cmd.Dir = env, t.TempDir()
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = tty, tty, tty
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	p.startAndReap()
	go func() {
		defer close(p.copied)
		_, _ = io.Copy(&p.out, ptmx)
	}()
	t.Cleanup(p.close)
	return p
}

// close ends the outer terminal: with the slave closed, the copy ends with EIO.
func (p *execPTYRun) close() {
	_ = p.tty.Close()
	select {
	case <-p.copied:
	case <-time.After(5 * time.Second):
	}
	_ = p.ptmx.Close()
}

// waitOutput waits until the terminal has shown s.
func (p *execPTYRun) waitOutput(s string) {
	p.t.Helper()
	deadline := time.Now().Add(execTimeout)
	for !strings.Contains(p.out.String(), s) {
		if time.Now().After(deadline) {
			p.t.Fatalf("the terminal did not show %q within %v; it shows:\n%s", s, execTimeout, p.out.String())
		}
		select {
		case <-p.done:
			time.Sleep(100 * time.Millisecond) // the last output may still be on its way
			if !strings.Contains(p.out.String(), s) {
				p.t.Fatalf("costplan exited %d before the terminal showed %q; it shows:\n%s", p.code, s, p.out.String())
			}
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// termios returns the mode of the outer terminal.
func (p *execPTYRun) termios() unix.Termios {
	p.t.Helper()
	tio, err := unix.IoctlGetTermios(int(p.tty.Fd()), unix.TCGETS)
	if err != nil {
		p.t.Fatal(err)
	}
	return *tio
}

func execTestPTY(t *testing.T, bin string) {
	p := execStartPTY(t, bin, pty.Winsize{Rows: 33, Cols: 111}, binEnv(t),
		"exec", "-q", "--session", "1", "--journal", filepath.Join(t.TempDir(), "j.jsonl"),
		"--", "sh", execScript(t, "pty.sh"))
	before := p.termios()
	p.waitOutput("type a line")
	during := p.termios()
	if during.Lflag&(unix.ICANON|unix.ECHO) != 0 {
		t.Errorf("outer terminal while the child runs: ICANON or ECHO set (lflag %#x), want raw mode", during.Lflag)
	}
	if _, err := p.ptmx.Write([]byte("typed words\r")); err != nil {
		t.Fatal(err)
	}
	p.waitOutput("ready")
	if err := pty.Setsize(p.ptmx, &pty.Winsize{Rows: 50, Cols: 132}); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(); code != 3 {
		t.Errorf("exit status: got %d, want 3\nterminal:\n%s", code, p.out.String())
	}
	p.waitOutput("resized: 50 132")
	out := p.out.String()
	for _, want := range []string{"stdin: tty\r\n", "stdout: tty\r\n", "size: 33 111\r\n", "read: typed words\r\n", "resized: 50 132\r\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal: want %q in\n%q", want, out)
		}
	}
	if after := p.termios(); after != before {
		t.Errorf("outer terminal mode after exit:\n got %+v\nwant %+v", after, before)
	}
}

// execTestPTYBudgetStop checks the budget stop under a terminal: exit 99, the
// child stopped, the budget line readable in raw mode, the terminal restored.
func execTestPTYBudgetStop(t *testing.T, bin string) {
	fake, markers := newFakeAnthropic(t, execMessage), t.TempDir()
	p := execStartPTY(t, bin, pty.Winsize{Rows: 24, Cols: 80}, binEnv(t, "EXEC_MARKERS", markers),
		"exec", "--session", "0.035", "--anthropic-upstream", fake.URL, "--journal", filepath.Join(t.TempDir(), "j.jsonl"),
		"--", "sh", execScript(t, "caller.sh"), "wait")
	before := p.termios()
	if code := p.wait(); code != exitBudgetStop {
		t.Errorf("exit status: got %d, want %d\nterminal:\n%s", code, exitBudgetStop, p.out.String())
	}
	execWaitFile(t, filepath.Join(markers, "term"), p.execRun)
	p.waitOutput("costplan: journal")
	if !regexp.MustCompile(`\r\ncostplan: budget spent: \$0\.033 of \$0\.035 [^\r\n]*\r\n`).MatchString(p.out.String()) {
		t.Errorf("terminal: want the budget line on a line of its own, in:\n%q", p.out.String())
	}
	if after := p.termios(); after != before {
		t.Errorf("outer terminal mode after the budget stop:\n got %+v\nwant %+v", after, before)
	}
}
