// Package wrap runs a child command under supervision: under a pseudo-terminal
// when the parent's stdin is a terminal, with plain inherited stdio otherwise.
// It forwards the parent's termination signals to the child's process group,
// stops the child on request (a signal, then SIGKILL after a grace period),
// restores the parent's terminal on every exit path and reports the child's
// exit status. It knows nothing about what the child does or why it is stopped.
package wrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/term"
)

const (
	// defaultGrace is the time between the stop signal and SIGKILL.
	defaultGrace = 5 * time.Second
	// drainTimeout bounds how long output is still copied after the child
	// exits, in case a grandchild keeps the terminal or pipe open.
	drainTimeout = 500 * time.Millisecond
)

// forwarded are the signals that the parent passes on to the child's process
// group instead of dying from them.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

// Options describes the child to run. The zero value of every field except
// Argv has a documented default.
type Options struct {
	// Argv is the command and its arguments. Argv[0] is looked up in the
	// parent's PATH unless it contains a slash. It must not be empty.
	Argv []string
	// Env is the complete environment of the child. Nil means the parent's
	// environment. See Environ.
	Env []string
	// Dir is the child's working directory. Empty means the parent's.
	Dir string
	// PTY selects when a pseudo-terminal is used. Empty means PTYAuto.
	PTY PTYMode
	// Stdin is the child's input. Nil means os.Stdin. It is an *os.File so
	// that it can be checked for a terminal and put in raw mode.
	Stdin *os.File
	// Stdout receives the child's output. Nil means os.Stdout. Under a
	// pseudo-terminal the child's standard output and standard error are the
	// same terminal, and both arrive here.
	Stdout io.Writer
	// Stderr receives the child's standard error on the plain path. Nil means
	// os.Stderr. Unused under a pseudo-terminal.
	Stderr io.Writer
	// StopSignal is sent to the child's process group by Stop. Zero means
	// SIGTERM.
	StopSignal syscall.Signal
	// Grace is how long Stop waits after StopSignal before it sends SIGKILL to
	// whatever is left of the process group. Zero means 5s.
	Grace time.Duration
}

// Status is how the child ended.
type Status struct {
	// Code is the exit status, or 128+N when the child was killed by signal N,
	// as a shell reports it.
	Code int
	// Signaled reports that the child was killed by a signal.
	Signaled bool
	// Signal is the signal that killed the child, when Signaled.
	Signal syscall.Signal
	// Stopped reports that Stop was called (or the context given to Start
	// was done) while the child was running.
	Stopped bool
}

// Child is a running command started by Start. Its methods are safe for
// concurrent use.
type Child struct {
	cmd       *exec.Cmd
	pgid      int
	stopSig   syscall.Signal
	grace     time.Duration
	sigs      chan os.Signal
	term      *ptyTerm      // nil on the plain path
	fg        *foreground   // nil unless the plain child owns the parent's terminal
	exited    chan struct{} // closed once the child has been reaped
	escalated chan struct{} // closed once the stop escalation is over
	done      chan struct{} // closed once status and err are final
	stopOnce  sync.Once

	mu      sync.Mutex // guards the following fields
	reaped  bool
	stopped bool

	status Status // final once done is closed
	err    error  // final once done is closed
}

// Start starts the child described by o and returns without waiting for it.
// From then until the child exits, SIGINT, SIGTERM, SIGHUP and SIGQUIT sent
// to the parent are forwarded to the child's process group instead of ending
// the parent. If ctx is done before the child exits, the child is stopped as
// by Stop; pass a context that is not cancelled by those signals.
//
// The error names the command; a command that cannot be found wraps
// exec.ErrNotFound. Under a pseudo-terminal the parent's terminal is in raw
// mode once Start returns: call Restore in a defer right after Start so that
// a panic in the caller leaves the terminal usable.
func Start(ctx context.Context, o Options) (*Child, error) {
	if len(o.Argv) == 0 || o.Argv[0] == "" {
		return nil, errors.New("start: empty command")
	}
	name := o.Argv[0]
	mode, err := ParsePTYMode(string(o.PTY))
	if err != nil {
		return nil, fmt.Errorf("start %q: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start %q: %w", name, err)
	}
	c, err := start(o, mode)
	if err != nil {
		return nil, fmt.Errorf("start %q: %w", name, startError(err))
	}
	go c.reap()
	go c.supervise(ctx)
	return c, nil
}

// start builds the command, installs the signal handlers and starts the
// child on the path that mode and the parent's stdin call for.
func start(o Options, mode PTYMode) (*Child, error) {
	cmd := exec.Command(o.Argv[0], o.Argv[1:]...)
	cmd.Env, cmd.Dir = o.Env, o.Dir
	if cmd.Err != nil {
		return nil, cmd.Err
	}
	c := newChild(cmd, o)
	stdin, stdout, stderr := o.Stdin, o.Stdout, o.Stderr
	if stdin == nil {
		stdin = os.Stdin
	}
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	isTerm := term.IsTerminal(int(stdin.Fd()))
	usePTY := mode == PTYAlways || (mode == PTYAuto && isTerm)
	// Handlers go in before the child starts, so that a signal sent as soon
	// as the child is visible is already forwarded.
	signal.Notify(c.sigs, forwarded...)
	if !usePTY {
		signal.Notify(c.sigs, syscall.SIGWINCH) // passed on like the others
	}
	var err error
	if usePTY {
		c.term, err = startPTY(cmd, stdin, isTerm, stdout, c.sigs)
	} else {
		c.fg, err = startPlain(cmd, stdin, isTerm, stdout, stderr)
	}
	if err != nil {
		signal.Stop(c.sigs)
		return nil, err
	}
	c.pgid = cmd.Process.Pid // a new session or a new group: its id is the pid
	if c.term != nil {
		c.term.startCopying()
	}
	return c, nil
}

// newChild returns the Child for cmd with the defaults of o filled in.
func newChild(cmd *exec.Cmd, o Options) *Child {
	c := &Child{
		cmd:       cmd,
		stopSig:   o.StopSignal,
		grace:     o.Grace,
		sigs:      make(chan os.Signal, 8),
		exited:    make(chan struct{}),
		escalated: make(chan struct{}),
		done:      make(chan struct{}),
	}
	if c.stopSig == 0 {
		c.stopSig = syscall.SIGTERM
	}
	if c.grace <= 0 {
		c.grace = defaultGrace
	}
	return c
}

// startError turns the errors of exec into ones that read well after
// "start NAME:", keeping exec.ErrNotFound reachable with errors.Is.
func startError(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// Pid returns the process id of the child, which is also the id of its
// process group.
func (c *Child) Pid() int { return c.pgid }

// PTY reports whether the child runs under a pseudo-terminal. While it does,
// the parent's terminal may be in raw mode until Wait returns, so a line
// printed by the parent needs "\r\n".
func (c *Child) PTY() bool { return c.term != nil }

// Stop stops the child: it sends the stop signal to the child's process
// group and, if anything in that group is still running after the grace
// period, SIGKILL. Stop does not wait; Wait returns once the child and the
// escalation are over. Calls after the first, or after the child has exited,
// do nothing.
func (c *Child) Stop() {
	c.stopOnce.Do(func() {
		c.mu.Lock()
		if c.reaped {
			c.mu.Unlock()
			return
		}
		c.stopped = true
		c.mu.Unlock()
		c.signalGroup(c.stopSig)
		go c.escalate()
	})
}

// Wait waits for the child to exit and returns its status. After a Stop it
// also waits until the child's process group is gone or has been killed.
// By the time Wait returns, the parent's terminal is restored, the signal
// handlers are removed and the child's output has been copied (for at most
// half a second after the exit, should a process the child left behind keep
// the output open). The error is
// nil for any exit status, including a non-zero one or death by a signal; it
// reports a failure to wait or to copy output. Wait may be called more than
// once and returns the same result.
func (c *Child) Wait() (Status, error) {
	<-c.done
	return c.status, c.err
}

// Restore puts the parent's terminal back in the mode it had before Start.
// Wait does it by itself; call Restore in a defer as well so that a panic in
// the parent also restores the terminal. It is safe to call more than once,
// from any goroutine, and does nothing on the plain path.
func (c *Child) Restore() {
	if c.term != nil {
		c.term.restore()
	}
}

// reap waits for the child, finishes the I/O and publishes the status.
func (c *Child) reap() {
	err := c.cmd.Wait()
	c.mu.Lock()
	c.reaped = true
	stopped := c.stopped
	c.mu.Unlock()
	close(c.exited)
	if stopped {
		<-c.escalated
	}
	if c.term != nil {
		c.term.finish()
	}
	if c.fg != nil {
		c.fg.reclaim()
	}
	signal.Stop(c.sigs)

	c.status = statusOf(c.cmd.ProcessState)
	c.status.Stopped = stopped
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		c.err = fmt.Errorf("wait %q: %w", c.cmd.Args[0], err)
	}
	close(c.done)
}

// statusOf converts a process state into a Status.
func statusOf(ps *os.ProcessState) Status {
	if ps == nil {
		return Status{Code: -1}
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return Status{Code: 128 + int(ws.Signal()), Signaled: true, Signal: ws.Signal()}
	}
	return Status{Code: ps.ExitCode()}
}
