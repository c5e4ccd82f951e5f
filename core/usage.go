package core

import "strconv"

// Tokens is a count of tokens. The zero value is no tokens.
type Tokens int64

// String returns the count with thousands separators: "128,000".
func (t Tokens) String() string {
	s := strconv.FormatInt(int64(t), 10)
	neg := t < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	for i := 0; i < len(s); i++ {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// Usage is what one call consumed, in the provider-neutral form the price table
// bills. The input kinds are disjoint: a prompt's total size is InputTokens +
// CacheReadTokens + CacheWrite5mTokens + CacheWrite1hTokens. OutputTokens is the
// billed output and already contains ReasoningTokens, which is a breakdown only.
type Usage struct {
	// InputTokens are input tokens that neither hit nor wrote the cache.
	InputTokens Tokens `json:"input_tokens"`
	// OutputTokens is the billed output, thinking or reasoning included.
	OutputTokens Tokens `json:"output_tokens"`
	// CacheReadTokens were read from the prompt cache (OpenAI: cached input).
	CacheReadTokens Tokens `json:"cache_read_tokens"`
	// CacheWrite5mTokens were written to the cache with the 5-minute TTL.
	CacheWrite5mTokens Tokens `json:"cache_write_5m_tokens"`
	// CacheWrite1hTokens were written to the cache with the 1-hour TTL.
	CacheWrite1hTokens Tokens `json:"cache_write_1h_tokens"`
	// ReasoningTokens is the part of OutputTokens spent thinking; not billed again.
	ReasoningTokens Tokens `json:"reasoning_tokens"`
	// WebSearchRequests counts server-side web searches, billed per request.
	WebSearchRequests int64 `json:"web_search_requests,omitempty"`
	// Batch marks the batch service tier, billed at half price.
	Batch bool `json:"batch,omitempty"`
}

// TotalInput returns every input token of the call: uncached, cache reads and both
// kinds of cache writes. Long-context price tiers are decided on this total.
func (u Usage) TotalInput() Tokens {
	return u.InputTokens + u.CacheReadTokens + u.CacheWrite5mTokens + u.CacheWrite1hTokens
}

// Add returns the field-wise sum of u and v (Batch is kept when either is batch).
func (u Usage) Add(v Usage) Usage {
	return Usage{
		InputTokens:        u.InputTokens + v.InputTokens,
		OutputTokens:       u.OutputTokens + v.OutputTokens,
		CacheReadTokens:    u.CacheReadTokens + v.CacheReadTokens,
		CacheWrite5mTokens: u.CacheWrite5mTokens + v.CacheWrite5mTokens,
		CacheWrite1hTokens: u.CacheWrite1hTokens + v.CacheWrite1hTokens,
		ReasoningTokens:    u.ReasoningTokens + v.ReasoningTokens,
		WebSearchRequests:  u.WebSearchRequests + v.WebSearchRequests,
		Batch:              u.Batch || v.Batch,
	}
}
