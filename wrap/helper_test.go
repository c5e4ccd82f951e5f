package wrap

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary doubles as a parent process that runs a child through
// Start, so that signals and terminals can be aimed at a real parent. These
// variables configure it.
const (
	envHelper = "WRAP_TEST_HELPER" // "1": run as the helper parent
	envScript = "WRAP_TEST_SCRIPT" // the sh script of the child
	envPTY    = "WRAP_TEST_PTY"    // Options.PTY
	envOnUSR1 = "WRAP_TEST_USR1"   // what SIGUSR1 to the helper does: "stop" or "panic"
	envGrace  = "WRAP_TEST_GRACE"  // Options.Grace
)

func TestMain(m *testing.M) {
	if os.Getenv(envHelper) == "1" {
		os.Exit(helperMain())
	}
	os.Exit(m.Run())
}

// helperMain starts `sh -c $WRAP_TEST_SCRIPT`, waits for it and prints a
// summary line, then exits with the child's code.
func helperMain() int {
	grace, _ := time.ParseDuration(os.Getenv(envGrace))
	before, _ := unix.IoctlGetTermios(0, unix.TCGETS) // nil when stdin is no terminal
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	c, err := Start(context.Background(), Options{
		Argv:  []string{"sh", "-c", os.Getenv(envScript)},
		PTY:   PTYMode(os.Getenv(envPTY)),
		Grace: grace,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 120
	}
	defer c.Restore()
	switch os.Getenv(envOnUSR1) {
	case "stop":
		go func() {
			<-usr1
			c.Stop()
		}()
	case "panic":
		<-usr1
		panic("helper panics with the child running")
	}
	st, err := c.Wait()
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 121
	}
	// Checked before the deferred Restore: Wait itself must restore.
	restored := true
	if before != nil {
		after, err := unix.IoctlGetTermios(0, unix.TCGETS)
		restored = err == nil && *after == *before
	}
	fmt.Printf("\r\nhelper: code=%d stopped=%v fg=%v restored=%v\r\n", st.Code, st.Stopped, ownsTerminal(0), restored)
	return st.Code
}

// helperEnv returns the environment of a helper parent.
func helperEnv(script string, extra ...string) []string {
	env := Environ(os.Environ(), map[string]string{
		envHelper: "1",
		envScript: script,
		"GORACE":  "atexit_sleep_ms=0", // a race-enabled helper would sleep 1s at exit 0
	}, nil)
	return append(env, extra...)
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex // guards the following fields
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the buffer contains want, failing the test after a
// timeout.
func waitFor(t *testing.T, b *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output has no %q after 5s; got %q", want, b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitCmd waits for a started command and returns its exit code; after 10s
// it kills the command and fails the test.
func waitCmd(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Errorf("%s did not exit within 10s", cmd.Path)
	}
	return cmd.ProcessState.ExitCode()
}

// devNull opens /dev/null for reading.
func devNull(t testing.TB) *os.File {
	t.Helper()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// processGone reports whether process pid has ended (it may be a zombie
// that init has yet to reap) within a second.
func processGone(pid int) bool {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		if i := bytes.LastIndexByte(b, ')'); i > 0 && len(b) > i+2 && (b[i+2] == 'Z' || b[i+2] == 'X') {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// pidAfter returns the number that follows prefix in s, or 0.
func pidAfter(s, prefix string) int {
	_, rest, ok := strings.Cut(s, prefix)
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0]))
	return n
}
