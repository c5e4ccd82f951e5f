package mcpserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"
)

// drainTimeout bounds how long the end of standard input waits for answers owed.
const drainTimeout = 30 * time.Second

// owed counts the requests read and not yet answered. mcp-go cancels every request
// in flight as soon as its input ends, so a client that writes its requests and
// closes its end of the pipe would get no answers; the end of input is therefore
// held back until every request read has been answered.
type owed struct {
	mu   sync.Mutex    // guards the following fields
	n    int           // requests read minus responses written
	zero chan struct{} // closed when n drops to zero; nil while no one waits
}

func (o *owed) add() {
	o.mu.Lock()
	o.n++
	o.mu.Unlock()
}

func (o *owed) done() {
	o.mu.Lock()
	o.n--
	if o.n <= 0 && o.zero != nil {
		close(o.zero)
		o.zero = nil
	}
	o.mu.Unlock()
}

// wait returns when nothing is owed, ctx is done or timeout has passed.
func (o *owed) wait(ctx context.Context, timeout time.Duration) {
	o.mu.Lock()
	if o.n <= 0 {
		o.mu.Unlock()
		return
	}
	if o.zero == nil {
		o.zero = make(chan struct{})
	}
	zero := o.zero
	o.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-zero:
	case <-ctx.Done():
	case <-t.C:
	}
}

// envelope is the part of a JSON-RPC message that tells requests from responses.
type envelope struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
}

// kind reports whether line is a request (a method and an id) or a response (an
// id and no method); notifications and anything unreadable are neither.
func kind(line []byte) (request, response bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return false, false
	}
	var e envelope
	if json.Unmarshal(line, &e) != nil || len(e.ID) == 0 || string(e.ID) == "null" {
		return false, false
	}
	return e.Method != "", e.Method == ""
}

// drainReader passes input through line by line, counting requests, and answers
// the end of input only once every request read has been answered. A last line
// without its newline gets one, so that it is read as a message.
type drainReader struct {
	ctx  context.Context
	br   *bufio.Reader
	owed *owed
	buf  []byte
}

func (r *drainReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		line, err := r.br.ReadBytes('\n')
		if len(line) == 0 {
			if errors.Is(err, io.EOF) {
				r.owed.wait(r.ctx, drainTimeout)
			}
			return 0, err
		}
		if line[len(line)-1] != '\n' {
			line = append(line, '\n')
		}
		if req, _ := kind(line); req {
			r.owed.add()
		}
		r.buf = line
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// drainWriter passes output through and counts the responses written. mcp-go
// writes each message with its newline in one Write.
type drainWriter struct {
	w    io.Writer
	owed *owed
}

func (w *drainWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	for line := range bytes.SplitSeq(p, []byte{'\n'}) {
		if _, resp := kind(line); resp {
			w.owed.done()
		}
	}
	return n, err
}
