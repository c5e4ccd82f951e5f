package pricing

import (
	"unicode"
	"unicode/utf8"
)

// estBPE counts tokens of one byte-level BPE vocabulary. Its pre-tokenizer is a direct
// implementation of the split pattern of openai/tiktoken (tiktoken_ext/openai_public.py)
// with the regular-expression semantics tiktoken-go uses (leftmost alternative, greedy
// with backtracking; \s is unicode.IsSpace, \p{..} Go's unicode tables). It counts
// with a few allocations per call, 10 to 20 times faster than tiktoken-go, which runs
// the pattern in a backtracking engine over a []rune copy. The tests check it token for
// token against tiktoken-go and piece for piece against the pattern run by Go's regexp.
// It never changes after loading.
//
// o200k_base:
//
//	[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//	|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//	|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// cl100k_base:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
type estBPE struct {
	ranks  map[string]int
	cl100k bool
}

// count returns the number of tokens of s and the length in bytes of the text
// tokenized: like tiktoken-go, invalid UTF-8 is read as U+FFFD, byte by byte.
func (b *estBPE) count(s string) (tokens, size int64) {
	if !utf8.ValidString(s) {
		s = string([]rune(s))
	}
	var scratch []estMergePart
	for p := 0; p < len(s); {
		e := max(b.split(s, p), p+1) // split always advances; never loop regardless
		piece := s[p:e]
		if len(piece) == 1 {
			tokens++
		} else if _, ok := b.ranks[piece]; ok {
			tokens++
		} else {
			var n int
			n, scratch = b.merge(piece, scratch)
			tokens += int64(n)
		}
		p = e
	}
	return tokens, int64(len(s))
}

// Character classes of the split patterns.
const (
	estCharL     = 1 << iota // \p{L}
	estCharN                 // \p{N}
	estCharSpace             // \s
	estCharUpper             // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
	estCharLower             // [\p{Ll}\p{Lm}\p{Lo}\p{M}]
)

// estClass returns the classes of the rune at s[p:] and its width.
func estClass(s string, p int) (class uint8, width int) {
	c := s[p]
	if c < utf8.RuneSelf {
		switch {
		case 'a' <= c && c <= 'z':
			return estCharL | estCharLower, 1
		case 'A' <= c && c <= 'Z':
			return estCharL | estCharUpper, 1
		case '0' <= c && c <= '9':
			return estCharN, 1
		case c == ' ' || '\t' <= c && c <= '\r':
			return estCharSpace, 1
		}
		return 0, 1
	}
	r, w := utf8.DecodeRuneInString(s[p:])
	switch {
	case unicode.IsLetter(r):
		switch {
		case unicode.IsUpper(r) || unicode.IsTitle(r):
			return estCharL | estCharUpper, w
		case unicode.IsLower(r):
			return estCharL | estCharLower, w
		}
		return estCharL | estCharUpper | estCharLower, w // Lm, Lo
	case unicode.IsMark(r):
		return estCharUpper | estCharLower, w
	case unicode.IsNumber(r):
		return estCharN, w
	case unicode.IsSpace(r):
		return estCharSpace, w
	}
	return 0, w
}

// estPrefixable reports [^\r\n\p{L}\p{N}] for the rune at s[p:] of class c.
func estPrefixable(s string, p int, c uint8) bool {
	return c&(estCharL|estCharN) == 0 && s[p] != '\r' && s[p] != '\n'
}

// split returns the end of the piece that starts at s[p:].
func (b *estBPE) split(s string, p int) int {
	c, w := estClass(s, p)
	if b.cl100k {
		if e := estContraction(s, p); e > p {
			return e
		}
		if estPrefixable(s, p, c) {
			if e := estRun(s, p+w, estCharL); e > p+w {
				return e
			}
		}
		if e := estRun(s, p, estCharL); e > p {
			return e
		}
	} else {
		for _, word := range [...]func(string, int) int{estWordLower, estWordUpper} {
			if estPrefixable(s, p, c) {
				if e := word(s, p+w); e >= 0 {
					return e
				}
			}
			if e := word(s, p); e >= 0 {
				return e
			}
		}
	}
	if c&estCharN != 0 {
		e := p + w
		for range 2 {
			if e == len(s) {
				break
			}
			c, w := estClass(s, e)
			if c&estCharN == 0 {
				break
			}
			e += w
		}
		return e
	}
	if e := b.punct(s, p); e >= 0 {
		return e
	}
	return estSpaces(s, p)
}

// estRun returns the end of the run of runes of class c that starts at s[p:].
func estRun(s string, p int, c uint8) int {
	for p < len(s) {
		rc, w := estClass(s, p)
		if rc&c == 0 {
			break
		}
		p += w
	}
	return p
}

// estWordLower matches [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+ and an
// optional contraction at s[p:], or returns -1. The greedy upper run gives back runes
// until a lower-class rune follows: the rune after the run if it is one (then the
// lower run continues), else the last rune of the run that is in both classes.
func estWordLower(s string, p int) int {
	i, lastBoth := p, -1
	for i < len(s) {
		c, w := estClass(s, i)
		if c&estCharUpper == 0 {
			break
		}
		i += w
		if c&estCharLower != 0 {
			lastBoth = i
		}
	}
	if i < len(s) {
		if c, _ := estClass(s, i); c&estCharLower != 0 {
			return estContraction(s, estRun(s, i, estCharLower))
		}
	}
	if lastBoth < 0 {
		return -1
	}
	return estContraction(s, lastBoth)
}

// estWordUpper matches [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]* and an
// optional contraction at s[p:], or returns -1.
func estWordUpper(s string, p int) int {
	i := estRun(s, p, estCharUpper)
	if i == p {
		return -1
	}
	return estContraction(s, estRun(s, i, estCharLower))
}

// estContraction returns the end of (?i:'s|'t|'re|'ve|'m|'ll|'d) at s[p:], or p.
func estContraction(s string, p int) int {
	if p+1 >= len(s) || s[p] != '\'' {
		return p
	}
	switch s[p+1] | 0x20 {
	case 's', 't', 'm', 'd':
		return p + 2
	}
	if p+2 < len(s) {
		a, b := s[p+1]|0x20, s[p+2]|0x20
		if a == 'r' && b == 'e' || a == 'v' && b == 'e' || a == 'l' && b == 'l' {
			return p + 3
		}
	}
	return p
}

// punct matches ` ?[^\s\p{L}\p{N}]+` followed by [\r\n/]* (o200k) or [\r\n]* (cl100k)
// at s[p:], or returns -1.
func (b *estBPE) punct(s string, p int) int {
	q := p
	if s[p] == ' ' {
		q++
	}
	i := q
	for i < len(s) {
		c, w := estClass(s, i)
		if c&(estCharL|estCharN|estCharSpace) != 0 {
			break
		}
		i += w
	}
	if i == q {
		return -1
	}
	for i < len(s) && (s[i] == '\r' || s[i] == '\n' || s[i] == '/' && !b.cl100k) {
		i++
	}
	return i
}

// estSpaces matches \s*[\r\n]+, else \s+(?!\S), else \s+ at s[p:], which starts with
// whitespace: through the last line break of the run if it has one; else the run,
// less its last rune when a non-space follows and the run is longer than one rune.
func estSpaces(s string, p int) int {
	i, last, lastBreak, n := p, p, -1, 0
	for i < len(s) {
		c, w := estClass(s, i)
		if c&estCharSpace == 0 {
			break
		}
		if s[i] == '\r' || s[i] == '\n' {
			lastBreak = i + 1
		}
		last = i
		i += w
		n++
	}
	switch {
	case lastBreak >= 0:
		return lastBreak
	case i == len(s) || n == 1:
		return i
	}
	return last
}

// estMergePart is a part boundary during byte-pair merging: where the part starts and
// the rank of the token that merging it with the next part would make.
type estMergePart struct{ start, rank int }

// estNoRank marks a pair that is not a token.
const estNoRank = int(^uint(0) >> 1)

// merge applies byte-pair merges to a piece that is not a single token and returns
// the number of tokens left, as tiktoken does: repeatedly merge the adjacent pair with
// the lowest rank, the leftmost first. Long pieces use a heap instead of rescanning.
func (b *estBPE) merge(piece string, parts []estMergePart) (int, []estMergePart) {
	if len(piece) > 256 {
		return b.mergeLong(piece), parts
	}
	parts = parts[:0]
	for i := range len(piece) + 1 {
		parts = append(parts, estMergePart{start: i, rank: estNoRank})
	}
	rank := func(i int) int {
		if i+2 < len(parts) {
			if r, ok := b.ranks[piece[parts[i].start:parts[i+2].start]]; ok {
				return r
			}
		}
		return estNoRank
	}
	for i := range parts {
		parts[i].rank = rank(i)
	}
	for len(parts) > 1 {
		at, low := -1, estNoRank
		for i, pt := range parts[:len(parts)-1] {
			if pt.rank < low {
				at, low = i, pt.rank
			}
		}
		if at < 0 {
			break
		}
		parts = append(parts[:at+1], parts[at+2:]...)
		parts[at].rank = rank(at)
		if at > 0 {
			parts[at-1].rank = rank(at - 1)
		}
	}
	return len(parts) - 1, parts
}

// mergeLong is merge for long pieces (a run of thousands of letters): the same merge
// order in O(n log n), with the boundaries in a linked list and the candidate pairs in
// a heap ordered by rank, then position.
func (b *estBPE) mergeLong(piece string) int {
	n := len(piece)
	next, prev, rank := make([]int, n+1), make([]int, n+1), make([]int, n+1)
	for i := range n + 1 {
		next[i], prev[i], rank[i] = i+1, i-1, estNoRank
	}
	var h estMergeHeap
	pairRank := func(i int) int {
		if j := next[i]; j < n {
			if r, ok := b.ranks[piece[i:next[j]]]; ok {
				return r
			}
		}
		return estNoRank
	}
	update := func(i int) {
		rank[i] = pairRank(i)
		if rank[i] != estNoRank {
			h.push(estMergePart{start: i, rank: rank[i]})
		}
	}
	for i := range n {
		update(i)
	}
	tokens := n
	for len(h) > 0 {
		top := h.pop()
		if rank[top.start] != top.rank {
			continue // stale: the part grew or was merged away
		}
		i := top.start
		j := next[i]
		next[i], prev[next[j]], rank[j] = next[j], i, -1
		tokens--
		update(i)
		if i > 0 {
			update(prev[i])
		}
	}
	return tokens
}

// estMergeHeap is a binary min-heap of candidate merges.
type estMergeHeap []estMergePart

func (h estMergeHeap) less(a, b int) bool {
	return h[a].rank < h[b].rank || h[a].rank == h[b].rank && h[a].start < h[b].start
}

func (h *estMergeHeap) push(x estMergePart) {
	*h = append(*h, x)
	for i := len(*h) - 1; i > 0; {
		up := (i - 1) / 2
		if !h.less(i, up) {
			break
		}
		(*h)[i], (*h)[up] = (*h)[up], (*h)[i]
		i = up
	}
}

func (h *estMergeHeap) pop() estMergePart {
	old := *h
	top := old[0]
	last := len(old) - 1
	old[0] = old[last]
	*h = old[:last]
	for i := 0; ; {
		low, l, r := i, 2*i+1, 2*i+2
		if l < last && h.less(l, low) {
			low = l
		}
		if r < last && h.less(r, low) {
			low = r
		}
		if low == i {
			break
		}
		(*h)[i], (*h)[low] = (*h)[low], (*h)[i]
		i = low
	}
	return top
}
