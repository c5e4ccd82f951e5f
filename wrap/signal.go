package wrap

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// groupPoll is how often a stopped child's process group is checked for
// members left behind by the child.
const groupPoll = 10 * time.Millisecond

// supervise forwards the parent's signals, follows the parent's terminal
// size and turns the end of ctx into a Stop, until the child is done.
func (c *Child) supervise(ctx context.Context) {
	ctxDone := ctx.Done()
	for {
		select {
		case s := <-c.sigs:
			sig, ok := s.(syscall.Signal)
			switch {
			case !ok:
			case sig == syscall.SIGWINCH && c.term != nil:
				c.term.resize()
			default:
				c.signalGroup(sig)
			}
		case <-ctxDone:
			ctxDone = nil
			c.Stop()
		case <-c.done:
			return
		}
	}
}

// signalGroup sends sig to the child's process group and, under a
// pseudo-terminal, to the terminal's foreground group when a job-control
// shell in the child has moved its job there. A group that is gone is not an
// error worth reporting.
func (c *Child) signalGroup(sig syscall.Signal) {
	_ = unix.Kill(-c.pgid, sig)
	if c.term == nil {
		return
	}
	if fg := c.term.foregroundGroup(); fg > 0 && fg != c.pgid {
		_ = unix.Kill(-fg, sig)
	}
}

// escalate sends SIGKILL to the child's process group when it has not gone
// away within the grace period after the stop signal. The group outlives the
// child when the child leaves processes behind, so it is watched until empty.
func (c *Child) escalate() {
	defer close(c.escalated)
	deadline := time.NewTimer(c.grace)
	defer deadline.Stop()
	select {
	case <-c.exited:
	case <-deadline.C:
		c.signalGroup(syscall.SIGKILL)
		return
	}
	tick := time.NewTicker(groupPoll)
	defer tick.Stop()
	for groupAlive(c.pgid) {
		select {
		case <-deadline.C:
			c.signalGroup(syscall.SIGKILL)
			return
		case <-tick.C:
		}
	}
}

// groupAlive reports whether process group pgid has a member that is still
// running. Members that have died but wait to be reaped by init (zombies)
// do not count: a slow init would otherwise hold Wait for the whole grace
// period. Without /proc, any member counts.
func groupAlive(pgid int) bool {
	if errors.Is(unix.Kill(-pgid, 0), unix.ESRCH) {
		return false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && runningIn(pid, pgid) {
			return true
		}
	}
	return false
}

// runningIn reports whether process pid is in process group pgid and not a
// zombie, from /proc/PID/stat: "pid (comm) state ppid pgrp ...".
func runningIn(pid, pgid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
		return false
	}
	return f[2] == strconv.Itoa(pgid)
}
