// Package pricing knows what tokens cost: the embedded price table with its
// overrides, the resolution of model names (aliases, dated IDs, provider prefixes and
// the unknown-model policy), the exact cost of a core.Usage, and offline token
// estimation for budgets that must be decided before a call is sent.
package pricing

import (
	"fmt"

	"github.com/costplan/costplan/core"
)

// Providers.
const (
	ProviderAnthropic = "anthropic"
	ProviderOpenAI    = "openai"
)

// Rates are the prices of one kind of usage, each in USD per million tokens.
type Rates struct {
	Input        core.Money
	Output       core.Money
	CacheRead    core.Money
	CacheWrite5m core.Money
	CacheWrite1h core.Money
}

// LongContext is a price tier that bills the whole call at other rates once its
// total input is above Threshold tokens.
type LongContext struct {
	Threshold core.Tokens
	Rates
}

// Model is one priced model.
type Model struct {
	// Name is the canonical model ID.
	Name string
	// Provider is ProviderAnthropic or ProviderOpenAI.
	Provider string
	// Aliases are other IDs that resolve to this model (dated IDs and the like).
	Aliases []string
	Rates
	// LongContext is nil for models without a long-context tier.
	LongContext *LongContext
	// WebSearch is the price of one server-side web search request.
	WebSearch core.Money
	// ContextWindow and MaxOutput are the model's limits; zero means unknown.
	ContextWindow core.Tokens
	MaxOutput     core.Tokens
	// Encoding is the tokenizer for offline estimates: "o200k_base", "cl100k_base"
	// or "claude".
	Encoding string
	// Deprecated is the provider's deprecation date, if any.
	Deprecated string
	// Source says where the price came from: "embedded", the imported file's path,
	// or the configuration file.
	Source string
}

// RatesFor returns the rates that apply to a call whose total input is total tokens.
func (m *Model) RatesFor(total core.Tokens) (r Rates, long bool) {
	if m.LongContext != nil && total > m.LongContext.Threshold {
		return m.LongContext.Rates, true
	}
	return m.Rates, false
}

// fillDerived fills cache prices left out with the provider's rule.
func (r *Rates) fillDerived(provider string) {
	if provider == ProviderAnthropic {
		if r.CacheRead == 0 {
			r.CacheRead = r.Input / 10
		}
		if r.CacheWrite5m == 0 {
			r.CacheWrite5m = r.Input * 5 / 4
		}
		if r.CacheWrite1h == 0 {
			r.CacheWrite1h = r.Input * 2
		}
		return
	}
	if r.CacheRead == 0 {
		r.CacheRead = r.Input
	}
	if r.CacheWrite5m == 0 {
		r.CacheWrite5m = r.Input
	}
	if r.CacheWrite1h == 0 {
		r.CacheWrite1h = r.CacheWrite5m
	}
}

// finish fills derived fields and checks the model.
func (m *Model) finish() error {
	if m.Provider != ProviderAnthropic && m.Provider != ProviderOpenAI {
		return fmt.Errorf("model %q: provider must be %q or %q, got %q", m.Name, ProviderAnthropic, ProviderOpenAI, m.Provider)
	}
	if m.Input <= 0 || m.Output <= 0 {
		return fmt.Errorf("model %q: input and output prices (USD per million tokens) must be positive", m.Name)
	}
	m.Rates.fillDerived(m.Provider)
	if m.LongContext != nil {
		if m.LongContext.Threshold <= 0 {
			return fmt.Errorf("model %q: long_context.threshold must be a positive token count", m.Name)
		}
		m.LongContext.Rates.fillDerived(m.Provider)
	}
	if m.Encoding == "" {
		m.Encoding = defaultEncoding(m.Provider, m.Name)
	}
	switch m.Encoding {
	case "o200k_base", "cl100k_base", "claude":
	default:
		return fmt.Errorf("model %q: encoding must be o200k_base, cl100k_base or claude, got %q", m.Name, m.Encoding)
	}
	return nil
}
