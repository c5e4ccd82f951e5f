package proxy

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/pricing"
)

// conversations remembers, per conversation, what the provider reported for its
// last call, so that the next call of the same conversation (agents resend the whole
// conversation with one more turn) is reserved for what it will really cost rather
// than for the loose first-call bound:
//
//   - calibration: the ratio of the input tokens the provider counted to the
//     estimate for that call. The offline estimate for Claude is deliberately high
//     (see pricing.Encoding); the next estimate of the conversation is scaled by
//     the highest of its recent ratios plus calibrationMargin, never above the
//     estimate itself.
//   - the prompt cache: the tokens the last call read from or wrote to the cache,
//     which the next call can read back at the cache-read price while the cache
//     entry lives (5 minutes, or 1 hour for a 1-hour TTL write).
//
// A conversation is identified by its system prompt, its tools and its first
// message. When the provider's cache was evicted early, or the new turn tokenizes
// worse than the recent ones, the call can cost more than its reservation: that is a
// recorded budget violation, as for any reservation that falls short.
type conversations struct {
	seed  maphash.Seed
	limit int

	mu    sync.Mutex // guards the following fields
	byKey map[uint64]*conversation
	order []uint64
}

type conversation struct {
	ratios [4]float64 // recent actual/estimate ratios; 0 = none
	next   int
	cached core.Tokens
	at     time.Time
	ttl    time.Duration
}

// calibrationMargin is added to the highest recent ratio.
const calibrationMargin = 1.10

func newConversations(limit int) *conversations {
	return &conversations{seed: maphash.MakeSeed(), limit: limit, byKey: map[uint64]*conversation{}}
}

// key identifies the conversation of a prompt.
func (cs *conversations) key(p pricing.Prompt, model string) uint64 {
	var h maphash.Hash
	h.SetSeed(cs.seed)
	h.WriteString(model)
	h.WriteByte(0)
	h.Write(p.System)
	h.WriteByte(0)
	h.Write(p.Tools)
	h.WriteByte(0)
	if len(p.Messages) > 0 {
		h.Write(p.Messages[0])
	}
	return h.Sum64()
}

// bound scales an estimate by the conversation's calibration and returns how many
// of its tokens are expected to be cache reads.
func (cs *conversations) bound(key uint64, estimate core.Tokens, now time.Time) (tokens, cached core.Tokens) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := cs.byKey[key]
	if c == nil {
		return estimate, 0
	}
	var ratio float64
	for _, r := range c.ratios {
		ratio = max(ratio, r)
	}
	tokens = estimate
	if ratio > 0 {
		if f := ratio * calibrationMargin; f < 1 {
			tokens = core.Tokens(float64(estimate)*f) + 1
		}
	}
	if now.Sub(c.at) < c.ttl {
		cached = min(c.cached, tokens)
	}
	return tokens, cached
}

// learn records the usage of a settled call whose input was estimated at estimate.
func (cs *conversations) learn(key uint64, estimate core.Tokens, u core.Usage, now time.Time) {
	if estimate <= 0 || u.TotalInput() <= 0 {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := cs.byKey[key]
	if c == nil {
		c = &conversation{}
		cs.byKey[key] = c
		cs.order = append(cs.order, key)
		if len(cs.order) > cs.limit {
			delete(cs.byKey, cs.order[0])
			cs.order = cs.order[1:]
		}
	}
	c.ratios[c.next] = float64(u.TotalInput()) / float64(estimate)
	c.next = (c.next + 1) % len(c.ratios)
	c.cached = u.CacheReadTokens + u.CacheWrite5mTokens + u.CacheWrite1hTokens
	c.at, c.ttl = now, 5*time.Minute
	if u.CacheWrite1hTokens > 0 {
		c.ttl = time.Hour
	}
}
