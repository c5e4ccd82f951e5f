package journal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Writer appends records to a journal file. Every record is one line written with a
// single write(2) on an O_APPEND file while an exclusive file lock is held, so any
// number of goroutines and processes can append to one journal without interleaving.
// A write that fails or comes up short (a full disk) is cut back off the file before
// the lock is released, so no torn line is left behind. A Writer is safe for
// concurrent use.
type Writer struct {
	path string
	// write makes the one write(2) of a line; nil means writeOnce. Tests set it to
	// simulate a full disk.
	write func(f *os.File, line []byte) (int, error)

	mu  sync.Mutex // guards the following fields
	f   *os.File   // nil once closed
	buf []byte     // the line being written, reused
}

// Open opens the journal at path for appending, creating its directory (mode 0700)
// and the file (mode 0600) when they do not exist. The file is opened O_RDWR rather
// than O_WRONLY so that Append can check that the last line is whole.
func Open(path string) (*Writer, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create journal directory %s: %w", dir, err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	return &Writer{path: path, f: f}, nil
}

// Path returns the journal's path as given to Open.
func (w *Writer) Path() string { return w.path }

// Append writes r as one line. A zero V is written as Version and a zero TS as the
// current time. The record must have a Type and a TS in the years 0-9999. Append
// fails without writing when ctx is already done. A failed or short write leaves the
// file as it was and returns an error naming the journal, the cause and what to do
// about it.
func (w *Writer) Append(ctx context.Context, r Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("journal %s: %w", w.path, err)
	}
	if r.Type == "" {
		return fmt.Errorf("journal %s: record without a type", w.path)
	}
	if r.V == 0 {
		r.V = Version
	}
	if r.TS.IsZero() {
		r.TS = time.Now()
	} else if err := checkTS(r.TS); err != nil {
		return fmt.Errorf("journal %s: %w", w.path, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("journal %s: %w", w.path, os.ErrClosed)
	}
	w.buf = append(r.appendJSON(w.buf[:0]), '\n')
	return w.appendLine(w.buf)
}

// appendLine writes line under the file lock, cutting a failed write back off.
func (w *Writer) appendLine(line []byte) error {
	if err := lockFile(w.f, lockExclusive); err != nil {
		return fmt.Errorf("lock journal %s: %w", w.path, err)
	}
	defer unlockFile(w.f)
	size, err := w.f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("journal %s: %w", w.path, err)
	}
	if size > 0 && !w.endsWithNewline(size) {
		// A torn line from a writer that died mid-write: end it, so that it is
		// skipped alone and this record stays whole.
		line = append([]byte{'\n'}, line...)
	}
	write := w.write
	if write == nil {
		write = writeOnce
	}
	n, err := write(w.f, line)
	if err == nil && n < len(line) {
		err = io.ErrShortWrite
	}
	if err != nil {
		if terr := w.f.Truncate(size); terr != nil {
			err = errors.Join(err, fmt.Errorf("remove partial line: %w", terr))
		}
		return fmt.Errorf("journal %s: %w (free disk space or point --journal elsewhere)", w.path, err)
	}
	return nil
}

// endsWithNewline reports whether the byte before size is a newline; a read error
// counts as yes, so that the check never adds a blank line by mistake.
func (w *Writer) endsWithNewline(size int64) bool {
	var b [1]byte
	if _, err := w.f.ReadAt(b[:], size-1); err != nil {
		return true
	}
	return b[0] == '\n'
}

// Close closes the journal file. Append after Close returns an error wrapping
// os.ErrClosed; a second Close returns nil.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fmt.Errorf("close journal %s: %w", w.path, err)
	}
	return nil
}
