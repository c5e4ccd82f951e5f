package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sync/errgroup"
)

// minParallelBytes is the journal size below which ReadFileParallel reads with one
// goroutine: splitting costs more than it saves on small files.
const minParallelBytes = 8 << 20

// ReadFileParallel reads the journal at path as ReadFile does, split into up to
// parts byte ranges that start on line boundaries and are scanned concurrently.
// newFn is called once per part, in order, before scanning starts; the function it
// returns receives that part's records, oldest first. Records of part k are all
// older in the file than those of part k+1, so a caller that keeps one result per
// part and merges them in part order sees the file's order. The stats are merged,
// with skipped line numbers counted from the start of the file.
func ReadFileParallel(path string, parts int, newFn func(part int) func(Record) error) (ScanStats, error) {
	return readFileParallel(path, parts, minParallelBytes, newFn)
}

func readFileParallel(path string, parts int, minBytes int64, newFn func(part int) func(Record) error) (ScanStats, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ScanStats{Missing: true}, nil
	}
	if err != nil {
		return ScanStats{}, fmt.Errorf("open journal %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ScanStats{}, fmt.Errorf("open journal %s: %w", path, err)
	}
	bounds, err := splitLines(f, fi.Size(), parts, minBytes)
	if err != nil {
		return ScanStats{}, fmt.Errorf("read journal %s: %w", path, err)
	}
	n := len(bounds) - 1
	fns := make([]func(Record) error, n)
	for k := range fns {
		fns[k] = newFn(k)
	}
	stats := make([]ScanStats, n)
	var g errgroup.Group
	for k := 0; k < n; k++ {
		sec := io.NewSectionReader(f, bounds[k], bounds[k+1]-bounds[k])
		g.Go(func() error {
			return scan(sec, &stats[k], fns[k], func(err error) error {
				return fmt.Errorf("read journal %s: %w", path, err)
			})
		})
	}
	err = g.Wait()
	var st ScanStats
	for _, s := range stats {
		for _, l := range s.SkippedLines {
			if len(st.SkippedLines) < maxSkippedLines {
				st.SkippedLines = append(st.SkippedLines, st.Lines+l)
			}
		}
		st.Lines += s.Lines
		st.Records += s.Records
		st.Skipped += s.Skipped
		st.Torn = s.Torn
	}
	return st, err
}

// splitLines returns the offsets 0 = b[0] < b[1] < ... < b[n] = size that cut a file
// of size bytes into up to parts ranges, each cut just after a newline.
func splitLines(r io.ReaderAt, size int64, parts int, minBytes int64) ([]int64, error) {
	bounds := []int64{0}
	if parts <= 1 || size < minBytes {
		return append(bounds, size), nil
	}
	buf := make([]byte, 64<<10)
	for k := 1; k < parts; k++ {
		at := max(size*int64(k)/int64(parts), bounds[len(bounds)-1])
		for {
			m, err := r.ReadAt(buf, at)
			if i := bytes.IndexByte(buf[:m], '\n'); i >= 0 {
				at += int64(i) + 1
				break
			}
			if err != nil { // no newline before the end: no more cuts
				return append(bounds, size), nil
			}
			at += int64(m)
		}
		if at >= size {
			break
		}
		bounds = append(bounds, at)
	}
	return append(bounds, size), nil
}

// Merge adds the groups and totals counted by b to a. Both must have the same
// breakdown.
func (a *Aggregator) Merge(b *Aggregator) {
	for key, g := range b.groups {
		mine := a.groups[key]
		if mine == nil {
			mine = &Row{Key: key}
			a.groups[key] = mine
		}
		mine.merge(g)
	}
	a.total.merge(&b.total)
	a.unpriced += b.unpriced
}

func (w *Row) merge(o *Row) {
	w.Calls += o.Calls
	w.Refused += o.Refused
	w.InputTokens += o.InputTokens
	w.OutputTokens += o.OutputTokens
	w.CacheReadTokens += o.CacheReadTokens
	w.CacheWriteTokens += o.CacheWriteTokens
	w.Cost += o.Cost
	w.Saving += o.Saving
}
