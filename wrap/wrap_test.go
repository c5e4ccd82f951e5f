package wrap

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startSh starts `sh -c script` on the plain path with its output in out.
func startSh(t *testing.T, ctx context.Context, script string, o Options) (*Child, *syncBuffer) {
	t.Helper()
	out := &syncBuffer{}
	o.Argv = []string{"sh", "-c", script}
	if o.Stdin == nil {
		o.Stdin = devNull(t)
	}
	o.Stdout, o.Stderr = out, out
	c, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		c.Stop()
		c.Wait()
	})
	return c, out
}

// wait waits for c and fails the test on an error.
func wait(t *testing.T, c *Child) Status {
	t.Helper()
	st, err := c.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   Status
	}{
		{"success", "exit 0", Status{Code: 0}},
		{"exit 7", "echo out; echo err >&2; exit 7", Status{Code: 7}},
		{"killed by TERM", "kill -TERM $$", Status{Code: 143, Signaled: true, Signal: syscall.SIGTERM}},
		{"killed by KILL", "kill -KILL $$", Status{Code: 137, Signaled: true, Signal: syscall.SIGKILL}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := startSh(t, context.Background(), tt.script, Options{})
			if got := wait(t, c); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPlainOutputAndNoTerminal(t *testing.T) {
	c, out := startSh(t, context.Background(), "test -t 0 && echo tty || echo notty; echo to-stderr >&2; exit 3", Options{})
	if got := wait(t, c); got.Code != 3 {
		t.Errorf("got code %d, want 3", got.Code)
	}
	if c.PTY() {
		t.Error("PTY() is true with stdin /dev/null in auto mode")
	}
	if got, want := out.String(), "notty\nto-stderr\n"; got != want {
		t.Errorf("got output %q, want %q", got, want)
	}
}

func TestPlainProcessGroup(t *testing.T) {
	c, out := startSh(t, context.Background(), "cut -d' ' -f5 /proc/$$/stat", Options{})
	wait(t, c)
	if got, want := strings.TrimSpace(out.String()), c.Pid(); got != strconv.Itoa(want) {
		t.Errorf("got process group %s, want %d (the child's own)", got, want)
	}
}

func TestStartErrors(t *testing.T) {
	ctx := context.Background()
	_, err := Start(ctx, Options{Argv: []string{"costplan-no-such-command"}, Stdin: devNull(t)})
	if !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("got %v, want an error wrapping exec.ErrNotFound", err)
	}
	if err != nil && !strings.Contains(err.Error(), `"costplan-no-such-command"`) {
		t.Errorf("error %q does not name the command", err)
	}
	if err != nil && strings.Count(err.Error(), "costplan-no-such-command") != 1 {
		t.Errorf("error %q repeats the command", err)
	}

	_, err = Start(ctx, Options{Argv: []string{filepath.Join(t.TempDir(), "missing")}, Stdin: devNull(t)})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing path: got %v, want an error wrapping os.ErrNotExist", err)
	}

	if _, err := Start(ctx, Options{}); err == nil {
		t.Error("empty argv: got nil error")
	}
	if _, err := Start(ctx, Options{Argv: []string{"true"}, PTY: "sometimes"}); err == nil {
		t.Error("bad pty mode: got nil error")
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Start(done, Options{Argv: []string{"true"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("done context: got %v, want context.Canceled", err)
	}
}

func TestStopTrapped(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "marker")
	c, out := startSh(t, context.Background(),
		`trap 'echo stopped > "$MARKER"; exit 3' TERM; echo ready; while :; do sleep 0.05; done`,
		Options{Env: append(os.Environ(), "MARKER="+marker), Grace: 3 * time.Second})
	waitFor(t, out, "ready")
	start := time.Now()
	c.Stop()
	c.Stop() // idempotent
	got := wait(t, c)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Wait took %v for a child that exits on TERM", d)
	}
	if want := (Status{Code: 3, Stopped: true}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "stopped\n" {
		t.Errorf("marker: got %q, %v; want \"stopped\\n\"", b, err)
	}
}

func TestStopSignalOption(t *testing.T) {
	c, out := startSh(t, context.Background(),
		`trap 'echo got-usr1; exit 4' USR1; echo ready; while :; do sleep 0.05; done`,
		Options{StopSignal: syscall.SIGUSR1})
	waitFor(t, out, "ready")
	c.Stop()
	if got := wait(t, c); got.Code != 4 || !got.Stopped {
		t.Errorf("got %+v, want code 4 and stopped", got)
	}
}

func TestStopEscalatesToKill(t *testing.T) {
	start := time.Now()
	c, out := startSh(t, context.Background(), `trap '' TERM; sleep 30 & echo "ready bg=$!"; wait`,
		Options{Grace: 300 * time.Millisecond})
	waitFor(t, out, "ready")
	bg := pidAfter(out.String(), "bg=")
	c.Stop()
	got := wait(t, c)
	want := Status{Code: 137, Signaled: true, Signal: syscall.SIGKILL, Stopped: true}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v, want < 3s", d)
	}
	if !processGone(bg) {
		t.Errorf("process %d of the group survived", bg)
	}
}

// A child that exits on TERM but leaves a process that ignores it: Wait
// returns the child's status once the group has been killed.
func TestStopKillsLeftovers(t *testing.T) {
	c, out := startSh(t, context.Background(),
		`(trap '' TERM; echo ready; exec sleep 30 >/dev/null 2>&1) & trap 'exit 4' TERM; echo "bg=$!"; wait`,
		Options{Grace: 300 * time.Millisecond})
	waitFor(t, out, "ready")
	waitFor(t, out, "bg=")
	bg := pidAfter(out.String(), "bg=")
	start := time.Now()
	c.Stop()
	got := wait(t, c)
	if want := (Status{Code: 4, Stopped: true}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Errorf("Wait returned after %v, want about the 300ms grace", d)
	}
	if !processGone(bg) {
		t.Errorf("process %d left behind survived the stop", bg)
	}
}

func TestContextStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, out := startSh(t, ctx, `trap 'exit 5' TERM; echo ready; while :; do sleep 0.05; done`, Options{})
	waitFor(t, out, "ready")
	cancel()
	if got := wait(t, c); got != (Status{Code: 5, Stopped: true}) {
		t.Errorf("got %+v, want code 5 and stopped", got)
	}
}

func TestStopAfterExit(t *testing.T) {
	c, _ := startSh(t, context.Background(), "exit 2", Options{})
	first := wait(t, c)
	c.Stop()
	second := wait(t, c)
	if want := (Status{Code: 2}); first != want || second != want {
		t.Errorf("got %+v then %+v, want %+v twice", first, second, want)
	}
}

func TestWaitConcurrent(t *testing.T) {
	c, _ := startSh(t, context.Background(), "sleep 0.1; exit 6", Options{})
	results := make(chan Status, 3)
	for range 3 {
		go func() {
			st, _ := c.Wait()
			results <- st
		}()
	}
	for range 3 {
		if got := <-results; got.Code != 6 {
			t.Errorf("got code %d, want 6", got.Code)
		}
	}
}

func TestEnvAndDir(t *testing.T) {
	dir := t.TempDir()
	env := Environ(os.Environ(), map[string]string{"WRAP_X": "y"}, nil)
	c, out := startSh(t, context.Background(), `echo "$WRAP_X"; pwd`, Options{Env: env, Dir: dir})
	wait(t, c)
	real, _ := filepath.EvalSymlinks(dir)
	if got, want := out.String(), "y\n"+real+"\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestSignalForwarding: each signal the parent gets reaches the child as itself;
// the child answers each with its own exit code.
func TestSignalForwarding(t *testing.T) {
	traps := `trap 'echo got INT; exit 41' INT; trap 'echo got TERM; exit 42' TERM; ` +
		`trap 'echo got HUP; exit 43' HUP; trap 'echo got QUIT; exit 44' QUIT; `
	tests := []struct {
		sig  syscall.Signal
		name string
		code int
	}{
		{syscall.SIGINT, "INT", 41}, {syscall.SIGTERM, "TERM", 42}, {syscall.SIGHUP, "HUP", 43}, {syscall.SIGQUIT, "QUIT", 44},
	}
	for _, tt := range tests {
		t.Run(tt.sig.String(), func(t *testing.T) {
			t.Parallel()
			out := &syncBuffer{}
			helper := exec.Command(os.Args[0])
			helper.Env = helperEnv(traps + `echo "ready pid=$$"; while :; do sleep 0.05; done`)
			helper.Stdout, helper.Stderr = out, out // stdin: /dev/null, so the plain path
			helper.WaitDelay = time.Second          // the child may outlive a failed helper
			if err := helper.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, out, "ready")
			child := pidAfter(out.String(), "pid=")
			t.Cleanup(func() { syscall.Kill(-child, syscall.SIGKILL) })
			if err := helper.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			if code := waitCmd(t, helper); code != tt.code {
				t.Errorf("helper: got exit %d, want %d; output %q", code, tt.code, out.String())
			}
			if want := "got " + tt.name + "\n"; !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "code="+strconv.Itoa(tt.code)) {
				t.Errorf("output %q lacks the child's %q and the helper's summary", out.String(), want)
			}
		})
	}
}
