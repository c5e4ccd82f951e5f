package wrap

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// defaultSize is the window size of a pseudo-terminal when the parent has no
// terminal to take it from.
var defaultSize = pty.Winsize{Rows: 24, Cols: 80}

// ptyTerm is the parent's side of a child running under a pseudo-terminal.
type ptyTerm struct {
	ptmx    *os.File // the master, non-blocking so that Close ends a Read
	stdin   *os.File // kept referenced so that stdinFd stays open
	stdinFd int
	sizeFd  int // the terminal whose size the child follows, or -1
	isTerm  bool
	stdout  io.Writer

	oldState    *term.State // nil when the parent's terminal was not made raw
	restoreOnce sync.Once

	wakeR, wakeW int           // a pipe that ends the input copy
	outDone      chan struct{} // closed when the output copy ends
	inDone       chan struct{} // closed when the input copy ends
}

// startPTY starts cmd under a new pseudo-terminal: the child leads a new
// session whose controlling terminal it is (so no Setpgid). The parent's
// terminal, if stdin is one, is put in raw mode before the child starts so
// that everything the child prints and reads goes through unchanged.
func startPTY(cmd *exec.Cmd, stdin *os.File, isTerm bool, stdout io.Writer, sigs chan<- os.Signal) (*ptyTerm, error) {
	t := &ptyTerm{
		stdin:   stdin,
		stdinFd: int(stdin.Fd()),
		sizeFd:  -1,
		isTerm:  isTerm,
		stdout:  stdout,
		outDone: make(chan struct{}),
		inDone:  make(chan struct{}),
	}
	t.sizeFd = sizeSource(t.stdinFd, isTerm, stdout)
	size := defaultSize
	if t.sizeFd >= 0 {
		if ws, err := unix.IoctlGetWinsize(t.sizeFd, unix.TIOCGWINSZ); err == nil && ws.Row > 0 && ws.Col > 0 {
			size = pty.Winsize{Rows: ws.Row, Cols: ws.Col, X: ws.Xpixel, Y: ws.Ypixel}
		}
		signal.Notify(sigs, syscall.SIGWINCH)
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	t.wakeR, t.wakeW = fds[0], fds[1]
	if isTerm {
		old, err := term.MakeRaw(t.stdinFd)
		if err != nil {
			t.closeWake()
			return nil, fmt.Errorf("raw mode: %w", err)
		}
		t.oldState = old
	}
	ptmx, err := pty.StartWithSize(cmd, &size)
	if err != nil {
		t.restore()
		t.closeWake()
		return nil, err
	}
	t.ptmx = ptmx
	// pty.Open leaves the master in blocking mode, where deadlines and Close
	// cannot end a pending Read. From here on the master is only touched
	// through SyscallConn, since Fd would make it blocking again.
	if err := t.control(func(fd int) error { return unix.SetNonblock(fd, true) }); err != nil {
		_ = unix.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		_ = ptmx.Close()
		t.restore()
		t.closeWake()
		return nil, fmt.Errorf("pty non-blocking: %w", err)
	}
	return t, nil
}

// sizeSource picks the terminal whose window size the child follows: stdin
// if it is a terminal, else stdout if it is one, else none (-1).
func sizeSource(stdinFd int, isTerm bool, stdout io.Writer) int {
	if isTerm {
		return stdinFd
	}
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return int(f.Fd())
	}
	return -1
}

// startCopying starts the goroutines that copy input to the child and its
// output to stdout.
func (t *ptyTerm) startCopying() {
	go t.copyOutput()
	go t.copyInput()
}

// copyOutput copies the child's output until the pseudo-terminal ends. The
// master reports the end with EIO once no process holds the terminal open.
func (t *ptyTerm) copyOutput() {
	defer close(t.outDone)
	defer t.restoreOnPanic()
	_, _ = io.Copy(t.stdout, t.ptmx)
}

// copyInput copies the parent's stdin to the child until the wake pipe is
// written. It polls before reading so that it never sits in a read of the
// user's terminal after the child is gone, where it would swallow the next
// keystrokes meant for the shell.
func (t *ptyTerm) copyInput() {
	defer close(t.inDone)
	defer t.restoreOnPanic()
	buf := make([]byte, 32*1024)
	fds := []unix.PollFd{
		{Fd: int32(t.stdinFd), Events: unix.POLLIN},
		{Fd: int32(t.wakeR), Events: unix.POLLIN},
	}
	for {
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if fds[1].Revents != 0 {
			return
		}
		if fds[0].Revents == 0 {
			continue
		}
		n, err := unix.Read(t.stdinFd, buf)
		if n > 0 {
			if _, werr := t.ptmx.Write(buf[:n]); werr != nil {
				return
			}
		}
		switch {
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
		case err != nil:
			return
		case n == 0:
			t.endOfInput()
			return
		}
	}
}

// endOfInput tells the child that input ended by typing the end-of-file
// character, unless stdin is a terminal (where end of input is the user's
// to type).
func (t *ptyTerm) endOfInput() {
	if !t.isTerm {
		_, _ = t.ptmx.Write([]byte{4}) // ^D, the default VEOF
	}
}

// resize gives the child's terminal the current size of the parent's.
func (t *ptyTerm) resize() {
	if t.sizeFd < 0 {
		return
	}
	ws, err := unix.IoctlGetWinsize(t.sizeFd, unix.TIOCGWINSZ)
	if err != nil {
		return
	}
	_ = t.control(func(fd int) error { return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws) })
}

// foregroundGroup returns the foreground process group of the child's
// terminal, or 0 when it cannot be read.
func (t *ptyTerm) foregroundGroup() int {
	var pgrp int
	err := t.control(func(fd int) error {
		var err error
		pgrp, err = unix.IoctlGetInt(fd, unix.TIOCGPGRP)
		return err
	})
	if err != nil {
		return 0
	}
	return pgrp
}

// control runs f on the master's descriptor without making it blocking.
func (t *ptyTerm) control(f func(fd int) error) error {
	rc, err := t.ptmx.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// finish ends the I/O after the child has exited: it lets the output drain
// for a short while, closes the master, stops the input copy and restores
// the parent's terminal.
func (t *ptyTerm) finish() {
	timer := time.NewTimer(drainTimeout)
	select {
	case <-t.outDone:
	case <-timer.C:
	}
	timer.Stop()
	_, _ = unix.Write(t.wakeW, []byte{0})
	_ = t.ptmx.Close()
	<-t.outDone
	<-t.inDone
	t.closeWake()
	t.restore()
}

// restore puts the parent's terminal back in its mode before Start, once.
func (t *ptyTerm) restore() {
	t.restoreOnce.Do(func() {
		if t.oldState != nil {
			_ = term.Restore(t.stdinFd, t.oldState)
		}
	})
}

// restoreOnPanic restores the terminal before a panic in a copy goroutine
// ends the process.
func (t *ptyTerm) restoreOnPanic() {
	if r := recover(); r != nil {
		t.restore()
		panic(r)
	}
}

// closeWake closes both ends of the wake pipe.
func (t *ptyTerm) closeWake() {
	_ = unix.Close(t.wakeR)
	_ = unix.Close(t.wakeW)
}
