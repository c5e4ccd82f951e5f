package main

// Running the costplan binary (and agents beside it) as processes of their own,
// for what only a process can show: signals, terminals, exit statuses and the
// working directory.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"
)

// execTimeout bounds one run of a process; the machine may be slow and shared.
const execTimeout = 60 * time.Second

func TestMain(m *testing.M) {
	code := m.Run()
	binaries.remove()
	os.Exit(code)
}

// binaries are the costplan binaries built for this test run, at most one with
// -race and one without, shared by every test that runs one.
var binaries builds

type builds struct {
	mu  sync.Mutex // guards the following fields
	dir string
	bin map[bool]string // by race
}

// costplanBinary returns the costplan binary, built on first use, with -race when
// race is set.
func costplanBinary(tb testing.TB, race bool) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("builds the binary")
	}
	b := &binaries
	b.mu.Lock()
	defer b.mu.Unlock()
	if bin, ok := b.bin[race]; ok {
		return bin
	}
	if b.dir == "" {
		dir, err := os.MkdirTemp("", "costplan-test-")
		if err != nil {
			tb.Fatal(err)
		}
		b.dir, b.bin = dir, map[bool]string{}
	}
	bin := filepath.Join(b.dir, fmt.Sprintf("race-%v", race), "costplan")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		tb.Fatal(err)
	}
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	b.bin[race] = bin
	return bin
}

// remove deletes the binaries.
func (b *builds) remove() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// raceEnabled reports whether this test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// binEnv returns the whole environment of a process: PATH, LANG=C, and HOME and
// the XDG directories in a new temporary directory (so that no configuration or
// journal of the machine is read), plus the pairs given (key, value, ...). A later
// pair replaces an earlier one.
func binEnv(tb testing.TB, kv ...string) []string {
	tb.Helper()
	m := testEnv(tb, append([]string{"PATH", os.Getenv("PATH"), "LANG", "C"}, kv...)...)
	env := make([]string, 0, len(m))
	for k, v := range m {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// execRun is one run of a process: costplan, or an agent.
type execRun struct {
	t       testing.TB
	name    string
	cmd     *exec.Cmd
	stdout  syncBuffer
	stderr  syncBuffer
	started time.Time
	done    chan struct{}
	exited  time.Time
	code    int
}

// startProcess starts argv in env, in a new temporary working directory. Its stdin
// is /dev/null; stdout and stderr are collected.
func startProcess(t testing.TB, env []string, argv ...string) *execRun {
	t.Helper()
	r := &execRun{t: t, name: filepath.Base(argv[0]), done: make(chan struct{})}
	r.cmd = exec.Command(argv[0], argv[1:]...)
	r.cmd.Env, r.cmd.Dir = env, t.TempDir()
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	r.cmd.WaitDelay = 5 * time.Second // a grandchild left behind must not hang the test
	r.startAndReap()
	return r
}

// startAndReap starts r.cmd and waits for it in the background. The process is
// killed at the end of the test if it is still running.
func (r *execRun) startAndReap() {
	r.t.Helper()
	r.started = time.Now()
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() {
		_ = r.cmd.Wait()
		r.exited = time.Now()
		r.code = r.cmd.ProcessState.ExitCode()
		close(r.done)
	}()
	r.t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
}

// execStart starts the costplan binary bin with args in env (see startProcess).
func execStart(t testing.TB, bin string, env []string, args ...string) *execRun {
	t.Helper()
	return startProcess(t, env, append([]string{bin}, args...)...)
}

// execCode runs costplan with args and returns its status, stdout and stderr.
func execCode(t testing.TB, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	r := execStart(t, bin, env, args...)
	code := r.wait()
	return code, r.stdout.String(), r.stderr.String()
}

// wait returns the exit status of the run, failing the test if it does not end
// within execTimeout.
func (r *execRun) wait() int {
	r.t.Helper()
	select {
	case <-r.done:
		return r.code
	case <-time.After(execTimeout):
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	r.t.Fatalf("%s did not exit within %v\nstdout:\n%s\nstderr:\n%s", r.name, execTimeout, r.stdout.String(), r.stderr.String())
	return -1
}

// stop sends sig (which has costplan settle and journal what is in flight) and
// checks that the process exits 0.
func (r *execRun) stop(sig os.Signal) {
	r.t.Helper()
	_ = r.cmd.Process.Signal(sig)
	if code := r.wait(); code != 0 {
		r.t.Errorf("%s after %v: exit %d, want 0\nstderr:\n%s", r.name, sig, code, r.stderr.String())
	}
}

// elapsed is how long the process ran.
func (r *execRun) elapsed() time.Duration { return r.exited.Sub(r.started) }

// logOutput logs the exit status, run time and output.
func (r *execRun) logOutput() {
	r.t.Helper()
	r.t.Logf("%s: exit %d after %.2fs\nstdout:\n%s\nstderr:\n%s", r.name, r.code, r.elapsed().Seconds(), r.stdout.String(), r.stderr.String())
}

// proxyBanner matches what `costplan proxy` prints once it listens, to its last line.
var proxyBanner = regexp.MustCompile(`costplan proxy listening on (http://127\.0\.0\.1:\d+) \(session [0-9a-f]{16}\)\n(?s:.*)Budget: curl \S+/v1/budget\n`)

// startBinaryProxy starts `costplan proxy --port 0` with args and returns the run
// and the proxy's origin once it has printed where it listens.
func startBinaryProxy(t testing.TB, bin string, env []string, args ...string) (*execRun, string) {
	t.Helper()
	r := execStart(t, bin, env, append([]string{"proxy", "--port", "0"}, args...)...)
	deadline := time.Now().Add(execTimeout)
	for time.Now().Before(deadline) {
		if m := proxyBanner.FindStringSubmatch(r.stdout.String()); m != nil {
			return r, m[1]
		}
		select {
		case <-r.done:
			t.Fatalf("costplan proxy exited %d before listening\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout.String(), r.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("costplan proxy did not listen within %v\nstdout:\n%s", execTimeout, r.stdout.String())
	return nil, ""
}
