package pricing

import (
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"sort"
	"strings"

	"github.com/costplan/costplan/core"
)

// litellmEntry is the part of a LiteLLM model_prices_and_context_window.json entry
// that CostPlan reads. Prices there are USD per token.
type litellmEntry struct {
	Provider         string      `json:"litellm_provider"`
	Mode             string      `json:"mode"`
	Input            json.Number `json:"input_cost_per_token"`
	Output           json.Number `json:"output_cost_per_token"`
	CacheRead        json.Number `json:"cache_read_input_token_cost"`
	CacheWrite       json.Number `json:"cache_creation_input_token_cost"`
	CacheWrite1h     json.Number `json:"cache_creation_input_token_cost_above_1hr"`
	MaxInput         json.Number `json:"max_input_tokens"`
	MaxOutput        json.Number `json:"max_output_tokens"`
	Input200k        json.Number `json:"input_cost_per_token_above_200k_tokens"`
	Output200k       json.Number `json:"output_cost_per_token_above_200k_tokens"`
	CacheRead200k    json.Number `json:"cache_read_input_token_cost_above_200k_tokens"`
	CacheWrite200k   json.Number `json:"cache_creation_input_token_cost_above_200k_tokens"`
	CacheWrite1h200k json.Number `json:"cache_creation_input_token_cost_above_1hr_above_200k_tokens"`
	Input272k        json.Number `json:"input_cost_per_token_above_272k_tokens"`
	Output272k       json.Number `json:"output_cost_per_token_above_272k_tokens"`
	CacheRead272k    json.Number `json:"cache_read_input_token_cost_above_272k_tokens"`
}

// ImportReport says what ParseLiteLLM read, skipped and corrected.
type ImportReport struct {
	Models    int
	Skipped   int
	Corrected []string
}

// ParseLiteLLM reads a LiteLLM model_prices_and_context_window.json and returns the
// Anthropic and OpenAI chat models in it, with source as their Source. Entries of
// other providers and modes (embeddings, images, audio) are skipped. An Anthropic
// 1-hour cache write that is not twice the input price (a known error in that file)
// is corrected to 2x input and listed in the report.
func ParseLiteLLM(r io.Reader, source string) ([]*Model, ImportReport, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(r)
	if err := dec.Decode(&raw); err != nil {
		return nil, ImportReport{}, fmt.Errorf("read LiteLLM price file %s: %w (expected a JSON object of model name to prices)", source, err)
	}
	var rep ImportReport
	var out []*Model
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, key := range names {
		m, fixed, ok := litellmModel(key, raw[key], source)
		if !ok {
			rep.Skipped++
			continue
		}
		rep.Corrected = append(rep.Corrected, fixed...)
		out = append(out, m)
	}
	rep.Models = len(out)
	if rep.Models == 0 {
		return nil, rep, fmt.Errorf("LiteLLM price file %s: no Anthropic or OpenAI chat model in it", source)
	}
	return out, rep, nil
}

func litellmModel(key string, msg json.RawMessage, source string) (m *Model, fixed []string, ok bool) {
	var e litellmEntry
	d := json.NewDecoder(strings.NewReader(string(msg)))
	d.UseNumber()
	if d.Decode(&e) != nil {
		return nil, nil, false
	}
	if e.Provider != ProviderAnthropic && e.Provider != ProviderOpenAI {
		return nil, nil, false
	}
	if e.Mode != "" && e.Mode != "chat" && e.Mode != "responses" {
		return nil, nil, false
	}
	name, _ := hasPrefixAny(normalize(key), providerPrefixes)
	if strings.Contains(name, "/") {
		return nil, nil, false
	}
	m = &Model{Name: name, Provider: e.Provider, Source: source,
		Rates: Rates{Input: perMillion(e.Input), Output: perMillion(e.Output), CacheRead: perMillion(e.CacheRead),
			CacheWrite5m: perMillion(e.CacheWrite), CacheWrite1h: perMillion(e.CacheWrite1h)},
		ContextWindow: tokensOf(e.MaxInput), MaxOutput: tokensOf(e.MaxOutput),
	}
	if m.Provider == ProviderAnthropic {
		m.WebSearch = 10 * core.Dollar / 1000
		if m.CacheWrite1h != 0 && m.CacheWrite1h != 2*m.Input {
			fixed = append(fixed, fmt.Sprintf("%s: 1-hour cache write %s per MTok corrected to 2x input (%s)",
				name, m.CacheWrite1h.Decimal(), (2*m.Input).Decimal()))
			m.CacheWrite1h = 2 * m.Input
		}
	}
	if in := perMillion(e.Input200k); in > 0 {
		m.LongContext = &LongContext{Threshold: 200_000, Rates: Rates{Input: in, Output: perMillion(e.Output200k),
			CacheRead: perMillion(e.CacheRead200k), CacheWrite5m: perMillion(e.CacheWrite200k), CacheWrite1h: perMillion(e.CacheWrite1h200k)}}
	} else if in := perMillion(e.Input272k); in > 0 {
		m.LongContext = &LongContext{Threshold: 272_000, Rates: Rates{Input: in, Output: perMillion(e.Output272k),
			CacheRead: perMillion(e.CacheRead272k)}}
	}
	if m.LongContext != nil && m.LongContext.Output == 0 {
		m.LongContext.Output = m.Output
	}
	if m.finish() != nil {
		return nil, nil, false
	}
	return m, fixed, true
}

// perMillion converts a USD-per-token decimal such as 3e-06 to Money per million
// tokens exactly (rounded to the nano-dollar).
func perMillion(n json.Number) core.Money {
	if n == "" {
		return 0
	}
	r, ok := new(big.Rat).SetString(string(n))
	if !ok || r.Sign() < 0 {
		return 0
	}
	r.Mul(r, big.NewRat(1_000_000_000_000_000, 1))
	f, _ := r.Float64()
	if f > float64(core.MaxMoney) {
		return 0
	}
	q := new(big.Int).Quo(new(big.Int).Add(new(big.Int).Mul(r.Num(), big.NewInt(2)), r.Denom()), new(big.Int).Mul(r.Denom(), big.NewInt(2)))
	return core.Money(q.Int64())
}

func tokensOf(n json.Number) core.Tokens {
	v, err := n.Int64()
	if err != nil {
		f, ferr := n.Float64()
		if ferr != nil {
			return 0
		}
		v = int64(f)
	}
	return core.Tokens(v)
}
