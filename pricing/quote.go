package pricing

import "github.com/costplan/costplan/core"

// Quote is the public view of a priced model and how its name resolved, as the
// pricing command and the MCP server show it. Prices are USD per million tokens
// unless named otherwise.
type Quote struct {
	// Model is the name asked for; PriceModel the table entry that prices it.
	Model      string `json:"model"`
	PriceModel string `json:"price_model"`
	Provider   string `json:"provider"`
	// Resolution is HowExact, HowAlias or HowFallback; Steps and Note explain it.
	Resolution    string            `json:"resolution"`
	Steps         []string          `json:"steps,omitempty"`
	Note          string            `json:"note,omitempty"`
	Aliases       []string          `json:"aliases,omitempty"`
	Prices        QuoteRates        `json:"prices_per_million_tokens"`
	LongContext   *QuoteLongContext `json:"long_context,omitempty"`
	WebSearch     core.Money        `json:"web_search_usd,omitempty"`
	ContextWindow core.Tokens       `json:"context_window,omitempty"`
	MaxOutput     core.Tokens       `json:"max_output_tokens,omitempty"`
	Encoding      string            `json:"encoding"`
	Deprecated    string            `json:"deprecated,omitempty"`
	Source        string            `json:"source"`
}

// QuoteRates are a Quote's prices in USD per million tokens.
type QuoteRates struct {
	Input        core.Money `json:"input"`
	Output       core.Money `json:"output"`
	CacheRead    core.Money `json:"cache_read"`
	CacheWrite5m core.Money `json:"cache_write_5m"`
	CacheWrite1h core.Money `json:"cache_write_1h"`
}

// QuoteLongContext is the long-context tier of a Quote: its prices apply to a whole
// call whose input is above Threshold tokens.
type QuoteLongContext struct {
	Threshold core.Tokens `json:"threshold_tokens"`
	Prices    QuoteRates  `json:"prices_per_million_tokens"`
}

func quoteRates(r Rates) QuoteRates {
	return QuoteRates{Input: r.Input, Output: r.Output, CacheRead: r.CacheRead, CacheWrite5m: r.CacheWrite5m, CacheWrite1h: r.CacheWrite1h}
}

// Quote returns the public view of the resolution.
func (r Resolution) Quote() Quote {
	m := r.Model
	q := Quote{
		Model: r.Requested, PriceModel: m.Name, Provider: m.Provider, Resolution: r.How, Steps: r.Steps, Note: r.Note,
		Aliases: m.Aliases, Prices: quoteRates(m.Rates), WebSearch: m.WebSearch, ContextWindow: m.ContextWindow,
		MaxOutput: m.MaxOutput, Encoding: m.Encoding, Deprecated: m.Deprecated, Source: m.Source,
	}
	if lc := m.LongContext; lc != nil {
		q.LongContext = &QuoteLongContext{Threshold: lc.Threshold, Prices: quoteRates(lc.Rates)}
	}
	return q
}

// Quote returns the public view of a table entry asked for by its own name.
func (m *Model) Quote() Quote {
	return Resolution{Requested: m.Name, Model: m, How: HowExact}.Quote()
}
