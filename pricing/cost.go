package pricing

import (
	"math"
	"math/bits"

	"github.com/costplan/costplan/core"
)

// Breakdown itemizes a call's cost. Each item is rounded up on its own for display;
// Total is the exact sum rounded up once, so the items may add up to a few
// nano-dollars more than Total.
type Breakdown struct {
	Input        core.Money `json:"input_usd"`
	CacheRead    core.Money `json:"cache_read_usd"`
	CacheWrite5m core.Money `json:"cache_write_5m_usd"`
	CacheWrite1h core.Money `json:"cache_write_1h_usd"`
	Output       core.Money `json:"output_usd"`
	WebSearch    core.Money `json:"web_search_usd"`
	// LongContext is true when the long-context tier priced the call.
	LongContext bool `json:"long_context,omitempty"`
	// Batch is true when the batch tier halved the price.
	Batch bool       `json:"batch,omitempty"`
	Total core.Money `json:"total_usd"`
}

// acc is an unsigned 128-bit accumulator of token × price-per-million products.
type acc struct{ hi, lo uint64 }

func (a *acc) add(tokens core.Tokens, rate core.Money) {
	if tokens <= 0 || rate <= 0 {
		return
	}
	hi, lo := bits.Mul64(uint64(tokens), uint64(rate))
	var c uint64
	a.lo, c = bits.Add64(a.lo, lo, 0)
	a.hi += hi + c
}

// ceilDiv returns ceil(a / d), saturating at core.MaxMoney.
func (a acc) ceilDiv(d uint64) core.Money {
	if a.hi >= d {
		return core.MaxMoney
	}
	q, r := bits.Div64(a.hi, a.lo, d)
	if r != 0 {
		q++
	}
	if q > math.MaxInt64 {
		return core.MaxMoney
	}
	return core.Money(q)
}

// Cost returns the exact cost of usage u on model m, rounded up to the nano-dollar
// once per call: every usage kind at its own rate, the long-context tier when the
// total input is above its threshold, web searches per request, and half price for
// the batch tier.
func Cost(m *Model, u core.Usage) (core.Money, Breakdown) {
	r, long := m.RatesFor(u.TotalInput())
	div := uint64(1_000_000)
	if u.Batch {
		div *= 2
	}
	item := func(t core.Tokens, rate core.Money) core.Money {
		var a acc
		a.add(t, rate)
		return a.ceilDiv(div)
	}
	b := Breakdown{
		Input:        item(u.InputTokens, r.Input),
		CacheRead:    item(u.CacheReadTokens, r.CacheRead),
		CacheWrite5m: item(u.CacheWrite5mTokens, r.CacheWrite5m),
		CacheWrite1h: item(u.CacheWrite1hTokens, r.CacheWrite1h),
		Output:       item(u.OutputTokens, r.Output),
		WebSearch:    item(core.Tokens(u.WebSearchRequests)*1_000_000, m.WebSearch),
		LongContext:  long,
		Batch:        u.Batch,
	}
	var a acc
	a.add(u.InputTokens, r.Input)
	a.add(u.CacheReadTokens, r.CacheRead)
	a.add(u.CacheWrite5mTokens, r.CacheWrite5m)
	a.add(u.CacheWrite1hTokens, r.CacheWrite1h)
	a.add(u.OutputTokens, r.Output)
	a.add(core.Tokens(u.WebSearchRequests)*1_000_000, m.WebSearch)
	b.Total = a.ceilDiv(div)
	return b.Total, b
}

// InputBound returns an upper bound on the cost of tokens input tokens sent to m,
// priced at rate (the worst input rate the request can incur), and the output rate
// that then applies. It switches to the long-context tier when tokens is above its
// threshold.
func InputBound(m *Model, tokens core.Tokens, kind InputKind) (input, outputRate core.Money) {
	return InputBoundCached(m, tokens, 0, kind)
}

// InputBoundCached is InputBound when up to cached of the tokens are expected to be
// read from the prompt cache: those are priced at the cache-read rate, the rest at
// the worst rate of kind.
func InputBoundCached(m *Model, tokens, cached core.Tokens, kind InputKind) (input, outputRate core.Money) {
	r, _ := m.RatesFor(tokens)
	rate := r.Input
	switch kind {
	case InputCacheWrite5m:
		rate = max(rate, r.CacheWrite5m)
	case InputCacheWrite1h:
		rate = max(rate, r.CacheWrite1h, r.CacheWrite5m)
	}
	cached = min(max(cached, 0), tokens)
	var a acc
	a.add(tokens-cached, rate)
	a.add(cached, r.CacheRead)
	return a.ceilDiv(1_000_000), r.Output
}

// InputKind is the worst input rate a request can incur.
type InputKind uint8

// Input kinds: plain input, or cache writes when the request carries cache_control.
const (
	InputPlain InputKind = iota
	InputCacheWrite5m
	InputCacheWrite1h
)
