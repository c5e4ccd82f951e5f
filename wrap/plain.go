package wrap

import (
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// foreground records that the plain child was given the parent's terminal,
// so that the parent can take it back.
type foreground struct {
	stdin *os.File // kept referenced so that fd stays open
	fd    int
}

// startPlain starts cmd with inherited stdio in a process group of its own,
// so that a signal to the group reaches everything the child starts.
//
// When stdin is nevertheless a terminal (PTYNever) and the parent is in its
// foreground, the child's group becomes the foreground group: otherwise the
// child would be stopped by SIGTTIN on its first read. Keys such as Ctrl-C
// then reach the child directly.
func startPlain(cmd *exec.Cmd, stdin *os.File, isTerm bool, stdout, stderr io.Writer) (*foreground, error) {
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = drainTimeout
	var fg *foreground
	if isTerm && ownsTerminal(int(stdin.Fd())) {
		fg = &foreground{stdin: stdin, fd: int(stdin.Fd())}
		cmd.SysProcAttr.Foreground = true
		cmd.SysProcAttr.Ctty = fg.fd // a descriptor of the parent here
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return fg, nil
}

// ownsTerminal reports whether the parent's process group is the foreground
// group of terminal fd.
func ownsTerminal(fd int) bool {
	pgrp, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// reclaim makes the parent's process group the terminal's foreground group
// again. The parent is in the background at that point, so SIGTTOU, which
// would stop it, is ignored for the call.
func (f *foreground) reclaim() {
	signal.Ignore(syscall.SIGTTOU)
	defer signal.Reset(syscall.SIGTTOU)
	_ = unix.IoctlSetPointerInt(f.fd, unix.TIOCSPGRP, unix.Getpgrp())
}
