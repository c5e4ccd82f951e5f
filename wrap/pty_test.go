package wrap

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// outer is a helper parent running behind a pseudo-terminal made by the
// test, so that the helper's stdin really is a terminal.
type outer struct {
	t      *testing.T
	master *os.File
	slave  *os.File // kept open so that its modes can be read at any time
	helper *exec.Cmd
	out    *syncBuffer
	before unix.Termios // the slave's modes before the helper started
}

// needPTY skips the test when pseudo-terminals are unavailable.
func needPTY(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
}

// startOuter starts a helper parent whose child runs script, behind a new
// pseudo-terminal of 31 rows and 97 columns.
func startOuter(t *testing.T, script string, env ...string) *outer {
	t.Helper()
	needPTY(t)
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	o := &outer{t: t, master: master, slave: slave, out: &syncBuffer{}}
	t.Cleanup(func() {
		slave.Close()
		master.Close()
	})
	if err := pty.Setsize(master, &pty.Winsize{Rows: 31, Cols: 97}); err != nil {
		t.Fatal(err)
	}
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	o.before = *before
	// Non-blocking, so that closing the master ends the reader below.
	o.control(func(fd int) error { return unix.SetNonblock(fd, true) })
	go io.Copy(o.out, master)

	o.helper = exec.Command(os.Args[0])
	o.helper.Env = helperEnv(script, env...)
	o.helper.Stdin, o.helper.Stdout, o.helper.Stderr = slave, slave, slave
	o.helper.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := o.helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if o.helper.ProcessState == nil {
			o.helper.Process.Kill()
			o.helper.Wait()
		}
	})
	return o
}

// control runs f on the master's descriptor without making it blocking.
func (o *outer) control(f func(fd int) error) {
	o.t.Helper()
	rc, err := o.master.SyscallConn()
	if err != nil {
		o.t.Fatal(err)
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil || ferr != nil {
		o.t.Fatalf("control: %v, %v", err, ferr)
	}
}

// resize sets the outer terminal's size, which sends SIGWINCH to the helper.
func (o *outer) resize(rows, cols uint16) {
	o.control(func(fd int) error {
		return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	})
}

// typeText writes s to the outer terminal as if typed.
func (o *outer) typeText(s string) {
	o.t.Helper()
	if _, err := o.master.Write([]byte(s)); err != nil {
		o.t.Fatal(err)
	}
}

// termios returns the current modes of the outer terminal.
func (o *outer) termios() unix.Termios {
	o.t.Helper()
	tio, err := unix.IoctlGetTermios(int(o.slave.Fd()), unix.TCGETS)
	if err != nil {
		o.t.Fatal(err)
	}
	return *tio
}

// assertRaw checks that the helper has put the outer terminal in raw mode.
func (o *outer) assertRaw() {
	o.t.Helper()
	if tio := o.termios(); tio.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != 0 {
		o.t.Errorf("outer terminal not raw while the child runs: lflag %#x", tio.Lflag)
	}
}

// wait waits for the helper and returns its exit code.
func (o *outer) wait() int {
	o.t.Helper()
	return waitCmd(o.t, o.helper)
}

// assertRestored checks that the outer terminal has its modes from before.
func (o *outer) assertRestored() {
	o.t.Helper()
	if got := o.termios(); got != o.before {
		o.t.Errorf("outer terminal not restored:\n got %+v\nwant %+v", got, o.before)
	}
}

func TestPTYTerminalAndSize(t *testing.T) {
	o := startOuter(t, `test -t 0 && test -t 1 && echo is-a-tty; stty size;
trap 'stty size; exit 0' WINCH; echo ready; while :; do sleep 0.05; done`)
	waitFor(t, o.out, "ready")
	o.assertRaw()
	o.resize(50, 132)
	waitFor(t, o.out, "50 132")
	if code := o.wait(); code != 0 {
		t.Errorf("got exit %d, want 0; output %q", code, o.out.String())
	}
	waitFor(t, o.out, "helper: code=0 stopped=false fg=true restored=true")
	out := o.out.String()
	for _, want := range []string{"is-a-tty\r\n", "31 97\r\n", "50 132\r\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	o.assertRestored()
}

func TestPTYInputAndCtrlC(t *testing.T) {
	o := startOuter(t, `trap 'echo caught-int; exit 7' INT; echo ready; read line; echo "line=$line";
while :; do sleep 0.05; done`)
	waitFor(t, o.out, "ready")
	o.typeText("abc\r")
	waitFor(t, o.out, "line=abc")
	o.typeText("\x03") // Ctrl-C, passed through the raw outer terminal
	if code := o.wait(); code != 7 {
		t.Errorf("got exit %d, want 7; output %q", code, o.out.String())
	}
	waitFor(t, o.out, "caught-int")
	waitFor(t, o.out, "restored=true")
	o.assertRestored()
}

func TestPTYRestoredOnEveryExit(t *testing.T) {
	const loop = `echo ready; while :; do sleep 0.05; done`
	tests := []struct {
		name   string
		script string
		env    []string
		act    func(o *outer)
		code   int
		want   string
	}{
		{"exit", `echo ready; read x; exit 3`, nil,
			func(o *outer) { o.typeText("\r") }, 3, "code=3 stopped=false fg=true restored=true"},
		{"killed by signal", `echo ready; read x; kill -TERM $$`, nil,
			func(o *outer) { o.typeText("\r") }, 143, "code=143 stopped=false fg=true restored=true"},
		{"stop", `trap 'exit 5' TERM; ` + loop, []string{envOnUSR1 + "=stop"},
			func(o *outer) { o.helper.Process.Signal(syscall.SIGUSR1) }, 5, "code=5 stopped=true fg=true restored=true"},
		{"stop escalated", `trap '' TERM; ` + loop, []string{envOnUSR1 + "=stop", envGrace + "=300ms"},
			func(o *outer) { o.helper.Process.Signal(syscall.SIGUSR1) }, 137, "code=137 stopped=true fg=true restored=true"},
		{"forwarded TERM", `trap 'exit 6' TERM; ` + loop, nil,
			func(o *outer) { o.helper.Process.Signal(syscall.SIGTERM) }, 6, "code=6 stopped=false fg=true restored=true"},
		{"parent panics", loop, []string{envOnUSR1 + "=panic"},
			func(o *outer) { o.helper.Process.Signal(syscall.SIGUSR1) }, 2, "panic: helper panics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := startOuter(t, tt.script, tt.env...)
			waitFor(t, o.out, "ready")
			o.assertRaw()
			tt.act(o)
			if code := o.wait(); code != tt.code {
				t.Errorf("got exit %d, want %d; output %q", code, tt.code, o.out.String())
			}
			waitFor(t, o.out, tt.want)
			o.assertRestored()
		})
	}
}

// With PTYNever and a terminal on stdin, the child shares the terminal and
// is its foreground group, so it can read without being stopped by SIGTTIN;
// afterwards the parent is in the foreground again.
func TestNeverModeOwnsTerminal(t *testing.T) {
	o := startOuter(t, `test -t 0 && echo is-a-tty; echo ready; read line; echo "line=$line"; exit 4`,
		envPTY+"=never")
	waitFor(t, o.out, "ready")
	if tio := o.termios(); tio.Lflag&unix.ICANON == 0 {
		t.Error("outer terminal made raw in never mode")
	}
	o.typeText("abc\n")
	if code := o.wait(); code != 4 {
		t.Errorf("got exit %d, want 4; output %q", code, o.out.String())
	}
	waitFor(t, o.out, "code=4 stopped=false fg=true restored=true")
	if out := o.out.String(); !strings.Contains(out, "is-a-tty") || !strings.Contains(out, "line=abc") {
		t.Errorf("output %q lacks is-a-tty and line=abc", out)
	}
	o.assertRestored()
}

// PTYAlways without a terminal on stdin: the child still gets one, the
// parent's stdin is left alone and the end of input reaches the child.
func TestPTYAlwaysWithoutTerminal(t *testing.T) {
	needPTY(t)
	out := &syncBuffer{}
	c, err := Start(context.Background(), Options{
		Argv:   []string{"sh", "-c", `test -t 0 && echo is-a-tty; stty size; cat; echo eof; exit 9`},
		PTY:    PTYAlways,
		Stdin:  devNull(t),
		Stdout: out,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Restore()
	if !c.PTY() {
		t.Error("PTY() is false in always mode")
	}
	st, err := c.Wait()
	if err != nil || st.Code != 9 {
		t.Errorf("got %+v, %v; want code 9", st, err)
	}
	for _, want := range []string{"is-a-tty\r\n", "24 80\r\n", "eof\r\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output %q lacks %q", out.String(), want)
		}
	}
}

// After Wait, the parent's stdin is left alone: nothing keeps reading it.
func TestPTYInputNotReadAfterWait(t *testing.T) {
	needPTY(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	out := &syncBuffer{}
	c, err := Start(context.Background(), Options{
		Argv:   []string{"sh", "-c", `read line; echo "line=$line"`},
		PTY:    PTYAlways,
		Stdin:  r,
		Stdout: out,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("first\n"))
	if st, err := c.Wait(); err != nil || st.Code != 0 {
		t.Errorf("got %+v, %v; want code 0", st, err)
	}
	if !strings.Contains(out.String(), "line=first") {
		t.Errorf("output %q lacks line=first", out.String())
	}
	w.Write([]byte("second\n"))
	got := make(chan string, 1)
	go func() { // stays blocked if something else took the line
		buf := make([]byte, 64)
		n, _ := r.Read(buf)
		got <- string(buf[:n])
	}()
	select {
	case s := <-got:
		if s != "second\n" {
			t.Errorf("stdin after Wait: got %q, want \"second\\n\"", s)
		}
	case <-time.After(2 * time.Second):
		t.Error("stdin after Wait: the line written was consumed by someone else")
	}
}

// A grandchild that keeps the terminal open does not keep Wait waiting.
func TestPTYDrainBounded(t *testing.T) {
	needPTY(t)
	start := time.Now()
	c, err := Start(context.Background(), Options{
		Argv:   []string{"sh", "-c", `trap '' HUP; sleep 5 & echo bye`},
		PTY:    PTYAlways,
		Stdin:  devNull(t),
		Stdout: &syncBuffer{},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Kill(-c.Pid(), syscall.SIGKILL)
	if st, err := c.Wait(); err != nil || st.Code != 0 {
		t.Errorf("got %+v, %v; want code 0", st, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Wait took %v with a grandchild holding the terminal", d)
	}
}
