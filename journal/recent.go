package journal

// Recent keeps the last records added to it in a ring buffer, for "history --limit
// N": its memory is N records whatever the number added. A Recent is not safe for
// concurrent use.
type Recent struct {
	limit int // 0: keep everything
	buf   []Record
	next  int // where the next record goes once buf is full
	all   bool
	seen  int64
}

// NewRecent returns a Recent that keeps the last n records. n <= 0 keeps every
// record, in memory that grows with them.
func NewRecent(n int) *Recent {
	if n <= 0 {
		return &Recent{all: true}
	}
	// The buffer grows to n as records come, so a huge n costs nothing up front.
	return &Recent{limit: n}
}

// Add keeps r, dropping the oldest record kept when the buffer is full.
func (q *Recent) Add(r Record) {
	q.seen++
	if q.all || len(q.buf) < q.limit {
		q.buf = append(q.buf, r)
		return
	}
	q.buf[q.next] = r
	q.next = (q.next + 1) % len(q.buf)
}

// Records returns the records kept, oldest first and newest last, in a new slice.
func (q *Recent) Records() []Record {
	out := make([]Record, 0, len(q.buf))
	out = append(out, q.buf[q.next:]...)
	return append(out, q.buf[:q.next]...)
}

// Seen returns how many records were added, kept or not.
func (q *Recent) Seen() int64 { return q.seen }
