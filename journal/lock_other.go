//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package journal

import "os"

// On these systems the journal is not locked: appends from one process are still
// serialized by the Writer, but several processes may interleave.
const (
	lockShared    = 1
	lockExclusive = 2
)

func lockFile(*os.File, int) error { return nil }

func unlockFile(*os.File) error { return nil }

// writeOnce writes b with one call of the file's Write.
func writeOnce(f *os.File, b []byte) (int, error) { return f.Write(b) }
