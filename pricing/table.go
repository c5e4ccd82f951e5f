package pricing

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"

	"github.com/costplan/costplan/core"
)

//go:embed data/prices.toml
var embeddedPrices []byte

// Unknown-model policies.
const (
	// PolicyFamily prices an unknown name as the newest known model of its family
	// and tier, names the fallback and warns once.
	PolicyFamily = "family"
	// PolicyReject refuses unknown names with core.ErrUnknownModel.
	PolicyReject = "reject"
)

// Entry is a model's price entry as written in TOML (the embedded table and
// costplan.toml's [pricing.models."NAME"]). Prices are USD per million tokens.
type Entry struct {
	Provider      string      `toml:"provider"`
	Aliases       []string    `toml:"aliases"`
	Input         core.Money  `toml:"input"`
	Output        core.Money  `toml:"output"`
	CacheRead     core.Money  `toml:"cache_read"`
	CacheWrite5m  core.Money  `toml:"cache_write_5m"`
	CacheWrite1h  core.Money  `toml:"cache_write_1h"`
	WebSearch     core.Money  `toml:"web_search"`
	ContextWindow core.Tokens `toml:"context_window"`
	MaxOutput     core.Tokens `toml:"max_output"`
	Encoding      string      `toml:"encoding"`
	Deprecated    string      `toml:"deprecated"`
	LongContext   *EntryTier  `toml:"long_context"`
}

// EntryTier is the TOML form of a long-context tier.
type EntryTier struct {
	Threshold    core.Tokens `toml:"threshold"`
	Input        core.Money  `toml:"input"`
	Output       core.Money  `toml:"output"`
	CacheRead    core.Money  `toml:"cache_read"`
	CacheWrite5m core.Money  `toml:"cache_write_5m"`
	CacheWrite1h core.Money  `toml:"cache_write_1h"`
}

type dataFile struct {
	AsOf   string           `toml:"as_of"`
	Source string           `toml:"source"`
	Models map[string]Entry `toml:"models"`
}

// Options configure a Table. The zero value uses the embedded table alone with the
// family policy.
type Options struct {
	// UnknownModel is PolicyFamily (the default when empty) or PolicyReject.
	UnknownModel string
	// Imported are models read from a LiteLLM price file (see ParseLiteLLM); they
	// replace embedded entries of the same name.
	Imported []*Model
	// Overrides are costplan.toml's [pricing.models] entries; they replace both.
	Overrides map[string]Entry
	// OverrideSource names the configuration file in Model.Source.
	OverrideSource string
	// Warn receives the one-time warning about each name priced by fallback; nil
	// discards it.
	Warn func(msg string)
}

// Table is the set of priced models with name resolution. It is safe for
// concurrent use.
type Table struct {
	// AsOf and Source describe the embedded data.
	AsOf, Source string

	models  map[string]*Model
	index   map[string]*Model // names and aliases
	members []member          // family members, for fallback
	policy  string
	warn    func(string)
	warned  sync.Map
}

type member struct {
	name string
	fam  family
	m    *Model
}

// New builds a table from the embedded data, opts.Imported and opts.Overrides.
func New(opts Options) (*Table, error) {
	var df dataFile
	if _, err := toml.Decode(string(embeddedPrices), &df); err != nil {
		return nil, fmt.Errorf("embedded price table: %w", err)
	}
	t := &Table{AsOf: df.AsOf, Source: df.Source, models: map[string]*Model{}, policy: opts.UnknownModel, warn: opts.Warn}
	switch t.policy {
	case "":
		t.policy = PolicyFamily
	case PolicyFamily, PolicyReject:
	default:
		return nil, fmt.Errorf("unknown_model must be %q or %q, got %q", PolicyFamily, PolicyReject, opts.UnknownModel)
	}
	for name, e := range df.Models {
		m, err := e.model(name, "embedded")
		if err != nil {
			return nil, fmt.Errorf("embedded price table: %w", err)
		}
		t.models[m.Name] = m
	}
	for _, m := range opts.Imported {
		t.merge(m)
	}
	for name, e := range opts.Overrides {
		base := t.find(name)
		m, err := e.over(name, base, opts.OverrideSource)
		if err != nil {
			return nil, fmt.Errorf("%s: [pricing.models.%q]: %w", opts.OverrideSource, name, err)
		}
		t.models[m.Name] = m
	}
	t.buildIndex()
	return t, nil
}

// merge puts an imported model in the table, keeping what the import lacks (aliases,
// tiers, encoding) from an embedded entry of the same name.
func (t *Table) merge(m *Model) {
	if old := t.find(m.Name); old != nil {
		cp := *m
		cp.Name = old.Name
		if len(cp.Aliases) == 0 {
			cp.Aliases = old.Aliases
		}
		if cp.LongContext == nil {
			cp.LongContext = old.LongContext
		}
		if cp.WebSearch == 0 {
			cp.WebSearch = old.WebSearch
		}
		if cp.ContextWindow == 0 {
			cp.ContextWindow = old.ContextWindow
		}
		if cp.MaxOutput == 0 {
			cp.MaxOutput = old.MaxOutput
		}
		cp.Encoding = old.Encoding
		m = &cp
	}
	t.models[m.Name] = m
}

// find returns the model named name, directly or by one of its aliases, before
// the index is built; nil when there is none.
func (t *Table) find(name string) *Model {
	n := normalize(name)
	if m, ok := t.models[n]; ok {
		return m
	}
	for _, m := range t.models {
		for _, a := range m.Aliases {
			if normalize(a) == n {
				return m
			}
		}
	}
	return nil
}

func (t *Table) buildIndex() {
	t.index = map[string]*Model{}
	t.members = t.members[:0]
	for _, m := range t.models {
		for _, n := range append([]string{m.Name}, m.Aliases...) {
			n = normalize(n)
			if _, taken := t.index[n]; !taken || n == m.Name {
				t.index[n] = m
			}
			if f, ok := parseFamily(stripDate(n)); ok {
				t.members = append(t.members, member{name: n, fam: f, m: m})
			}
		}
	}
	sort.Slice(t.members, func(i, j int) bool { return t.members[i].name < t.members[j].name })
}

// Models returns every model, sorted by provider then name.
func (t *Table) Models() []*Model {
	out := make([]*Model, 0, len(t.models))
	for _, m := range t.models {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Provider != out[j].Provider {
			return out[i].Provider < out[j].Provider
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Policy returns the unknown-model policy in force.
func (t *Table) Policy() string { return t.policy }

// model converts a TOML entry to a Model.
func (e Entry) model(name, source string) (*Model, error) {
	m := &Model{
		Name: normalize(name), Provider: e.Provider, Aliases: e.Aliases,
		Rates:     Rates{Input: e.Input, Output: e.Output, CacheRead: e.CacheRead, CacheWrite5m: e.CacheWrite5m, CacheWrite1h: e.CacheWrite1h},
		WebSearch: e.WebSearch, ContextWindow: e.ContextWindow, MaxOutput: e.MaxOutput,
		Encoding: e.Encoding, Deprecated: e.Deprecated, Source: source,
	}
	if m.Provider == "" {
		m.Provider = guessProvider(name)
	}
	if lc := e.LongContext; lc != nil {
		m.LongContext = &LongContext{Threshold: lc.Threshold,
			Rates: Rates{Input: lc.Input, Output: lc.Output, CacheRead: lc.CacheRead, CacheWrite5m: lc.CacheWrite5m, CacheWrite1h: lc.CacheWrite1h}}
	}
	return m, m.finish()
}

// over applies a configuration entry on top of base (nil for a new model): fields
// the entry sets replace base's.
func (e Entry) over(name string, base *Model, source string) (*Model, error) {
	if base == nil {
		if e.Input == 0 || e.Output == 0 {
			return nil, fmt.Errorf("a new model needs at least input and output prices, for example:\n\n%s", addHint(name))
		}
		return e.model(name, source)
	}
	m := *base
	m.Source = source
	set := func(dst *core.Money, v core.Money) {
		if v != 0 {
			*dst = v
		}
	}
	set(&m.Input, e.Input)
	set(&m.Output, e.Output)
	set(&m.CacheRead, e.CacheRead)
	set(&m.CacheWrite5m, e.CacheWrite5m)
	set(&m.CacheWrite1h, e.CacheWrite1h)
	set(&m.WebSearch, e.WebSearch)
	if e.Provider != "" {
		m.Provider = e.Provider
	}
	if e.ContextWindow != 0 {
		m.ContextWindow = e.ContextWindow
	}
	if e.MaxOutput != 0 {
		m.MaxOutput = e.MaxOutput
	}
	if e.Encoding != "" {
		m.Encoding = e.Encoding
	}
	if len(e.Aliases) > 0 {
		m.Aliases = e.Aliases
	}
	if e.LongContext != nil {
		lc := e.LongContext
		m.LongContext = &LongContext{Threshold: lc.Threshold,
			Rates: Rates{Input: lc.Input, Output: lc.Output, CacheRead: lc.CacheRead, CacheWrite5m: lc.CacheWrite5m, CacheWrite1h: lc.CacheWrite1h}}
	}
	return &m, m.finish()
}

// addHint is the TOML a user adds to price name.
func addHint(name string) string {
	provider := guessProvider(name)
	if provider == "" {
		provider = "anthropic\" # or \"openai"
	}
	return fmt.Sprintf(`[pricing.models.%q]
provider = "%s"
input = 3.00          # USD per million input tokens
output = 15.00        # USD per million output tokens
cache_read = 0.30     # optional: prompt-cache hits (OpenAI: cached input)
max_output = 64000    # optional: the model's output limit`, normalize(name), provider)
}

func stripDate(n string) string { return dateSuffix.ReplaceAllString(n, "") }

func hasPrefixAny(s string, prefixes []string) (string, bool) {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return strings.TrimPrefix(s, p), true
		}
	}
	return s, false
}
