package journal

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// MaxLineBytes is the longest line a reader accepts. A longer line is skipped and
// counted, without being held in memory.
const MaxLineBytes = 1 << 20

// maxSkippedLines is how many skipped line numbers ScanStats keeps.
const maxSkippedLines = 5

// readBufferSize is the read buffer of a scan; lines up to this size are not copied.
const readBufferSize = 64 << 10

// ScanStats counts what a scan read.
type ScanStats struct {
	// Lines is how many lines were read, blank ones included.
	Lines int64
	// Records is how many records were passed to the callback.
	Records int64
	// Skipped is how many lines were torn, corrupt or longer than MaxLineBytes.
	Skipped int64
	// SkippedLines holds the 1-based numbers of the first few skipped lines.
	SkippedLines []int64
	// Torn reports that the last line had no newline and could not be read: most
	// likely a record being written, or one cut short.
	Torn bool
	// Missing reports that ReadFile found no file.
	Missing bool
}

func (s *ScanStats) skip() {
	s.Skipped++
	if len(s.SkippedLines) < maxSkippedLines {
		s.SkippedLines = append(s.SkippedLines, s.Lines)
	}
}

// Scan reads a journal from r and calls fn with each record, oldest first, in
// constant memory whatever the journal's size. It accepts records of every version:
// unknown keys are ignored and a record without "v" or with a later version is read
// as far as its keys are known. A torn, corrupt or overlong line is skipped and
// counted in the stats; blank lines are ignored. Scan stops only on a read error,
// returned wrapped, or on an error from fn, returned unchanged.
func Scan(r io.Reader, fn func(Record) error) (ScanStats, error) {
	var st ScanStats
	err := scan(r, &st, fn, func(err error) error {
		return fmt.Errorf("read journal: %w", err)
	})
	return st, err
}

// ReadFile opens the journal at path and scans it as Scan does. A missing file is not
// an error: the stats are zero with Missing set.
func ReadFile(path string, fn func(Record) error) (ScanStats, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ScanStats{Missing: true}, nil
	}
	if err != nil {
		return ScanStats{}, fmt.Errorf("open journal %s: %w", path, err)
	}
	defer f.Close()
	var st ScanStats
	err = scan(f, &st, fn, func(err error) error {
		return fmt.Errorf("read journal %s: %w", path, err)
	})
	return st, err
}

// scan reads records into fn, counting in st. Read errors are returned through
// wrapErr, errors of fn unchanged.
func scan(r io.Reader, st *ScanStats, fn func(Record) error, wrapErr func(error) error) error {
	lr := newLineReader(r)
	d := newDecoder()
	var rec Record
	for {
		line, complete, tooLong, _, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return wrapErr(err)
		}
		st.Lines++
		if tooLong {
			st.skip()
			st.Torn = !complete
			continue
		}
		if isBlank(line) {
			continue
		}
		if err := d.decode(line, &rec); err != nil {
			st.skip()
			st.Torn = !complete
			continue
		}
		st.Records++
		if err := fn(rec); err != nil {
			return err
		}
	}
}

func isBlank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// lineReader splits a stream into lines, holding at most MaxLineBytes of one line.
type lineReader struct {
	br   *bufio.Reader
	long []byte // a line longer than the read buffer, assembled
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, readBufferSize)}
}

// reset makes lr read from r, keeping its buffers.
func (lr *lineReader) reset(r io.Reader) {
	lr.br.Reset(r)
	lr.long = lr.long[:0]
}

// next returns the next line without its newline. complete reports that the line
// ended with a newline; tooLong that it exceeded MaxLineBytes (line is then nil); n
// is the number of bytes consumed, newline included. It returns io.EOF once no bytes
// are left. The line is valid until the next call.
func (lr *lineReader) next() (line []byte, complete, tooLong bool, n int64, err error) {
	lr.long = lr.long[:0]
	for {
		b, err := lr.br.ReadSlice('\n')
		n += int64(len(b))
		if errors.Is(err, bufio.ErrBufferFull) {
			tooLong = tooLong || len(lr.long)+len(b) > MaxLineBytes
			if !tooLong {
				lr.long = append(lr.long, b...)
			}
			continue
		}
		if err != nil && err != io.EOF {
			return nil, false, false, n, err
		}
		if err == io.EOF && n == 0 {
			return nil, false, false, 0, io.EOF
		}
		complete = err == nil
		if complete {
			b = b[:len(b)-1]
		}
		if len(lr.long) > 0 || tooLong {
			tooLong = tooLong || len(lr.long)+len(b) > MaxLineBytes
			if tooLong {
				return nil, complete, true, n, nil
			}
			lr.long = append(lr.long, b...)
			b = lr.long
		}
		return b, complete, false, n, nil
	}
}
