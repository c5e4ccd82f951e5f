package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/pricing"
)

// Config is every setting of CostPlan after defaults, the configuration file, the
// environment and the flags are merged (in that order of increasing precedence).
type Config struct {
	Budget   BudgetConfig   `toml:"budget"`
	Upstream UpstreamConfig `toml:"upstream"`
	Journal  JournalConfig  `toml:"journal"`
	Proxy    ProxyConfig    `toml:"proxy"`
	Exec     ExecConfig     `toml:"exec"`
	Pricing  PricingConfig  `toml:"pricing"`
	Store    StoreConfig    `toml:"store"`

	// File is the configuration file that was read, or "" when none was.
	File string `toml:"-"`
	// UpstreamSet records which upstreams a flag, variable or the file named, so
	// that exec chains in front of the parent's own base URLs only for the others.
	UpstreamSet struct{ Anthropic, OpenAI bool } `toml:"-"`
	// DefaultCaps is true when neither the session nor the per-call cap was set
	// anywhere, so the defaults apply and are announced.
	DefaultCaps bool `toml:"-"`
}

// BudgetConfig is the [budget] section.
type BudgetConfig struct {
	PerCall         core.Money  `toml:"per_call"`
	Session         core.Money  `toml:"session"`
	WarnAt          float64     `toml:"warn_at"`
	Daily           core.Money  `toml:"daily"`
	Monthly         core.Money  `toml:"monthly"`
	MinOutputTokens core.Tokens `toml:"min_output_tokens"`
	Timezone        string      `toml:"timezone"`
}

// UpstreamConfig is the [upstream] section.
type UpstreamConfig struct {
	Anthropic string `toml:"anthropic"`
	OpenAI    string `toml:"openai"`
}

// JournalConfig is the [journal] section.
type JournalConfig struct {
	Path string `toml:"path"`
}

// ProxyConfig is the [proxy] section.
type ProxyConfig struct {
	Host       string   `toml:"host"`
	Port       int      `toml:"port"`
	MaxBody    byteSize `toml:"max_body"`
	AdminToken string   `toml:"admin_token"`
}

// ExecConfig is the [exec] section.
type ExecConfig struct {
	Signal    string   `toml:"signal"`
	Grace     duration `toml:"grace"`
	OnExhaust string   `toml:"on_exhaust"`
	PTY       string   `toml:"pty"`
	Agent     string   `toml:"agent"`
	Quiet     bool     `toml:"quiet"`
	MCP       bool     `toml:"mcp"`
}

// PricingConfig is the [pricing] section.
type PricingConfig struct {
	UnknownModel string                   `toml:"unknown_model"`
	File         string                   `toml:"file"`
	Models       map[string]pricing.Entry `toml:"models"`
}

// Public API origins.
const (
	defaultAnthropicUpstream = "https://api.anthropic.com"
	defaultOpenAIUpstream    = "https://api.openai.com/v1"
)

// defaultConfig returns the built-in defaults.
func defaultConfig() Config {
	return Config{
		Budget: BudgetConfig{
			PerCall: core.DefaultPerCall, Session: core.DefaultSession, WarnAt: core.DefaultWarnAt,
			MinOutputTokens: core.DefaultMinOutput, Timezone: "Local",
		},
		Upstream: UpstreamConfig{Anthropic: defaultAnthropicUpstream, OpenAI: defaultOpenAIUpstream},
		Proxy:    ProxyConfig{Host: "127.0.0.1", Port: 8080, MaxBody: 32 << 20},
		Exec:     ExecConfig{Signal: "TERM", Grace: duration(5 * time.Second), OnExhaust: "stop", PTY: "auto", Agent: "auto"},
		Pricing:  PricingConfig{UnknownModel: pricing.PolicyFamily},
		Store:    defaultStore(),
	}
}

// configPath finds the configuration file: the flag, then COSTPLAN_CONFIG, then
// ./costplan.toml, then $XDG_CONFIG_HOME/costplan/costplan.toml. required is true
// when the user named the file, so a missing file is an error.
func configPath(flag string, env func(string) string) (path string, required bool) {
	if flag != "" {
		return flag, true
	}
	if p := env("COSTPLAN_CONFIG"); p != "" {
		return p, true
	}
	if _, err := os.Stat("costplan.toml"); err == nil {
		return "costplan.toml", false
	}
	return filepath.Join(xdgDir(env, "XDG_CONFIG_HOME", ".config"), "costplan", "costplan.toml"), false
}

// xdgDir returns $name, or $HOME/fallback when it is unset.
func xdgDir(env func(string) string, name, fallback string) string {
	if d := env(name); d != "" {
		return d
	}
	home := env("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			home = "."
		}
	}
	return filepath.Join(home, fallback)
}

// defaultJournalPath is $XDG_DATA_HOME/costplan/journal.jsonl.
func defaultJournalPath(env func(string) string) string {
	return filepath.Join(xdgDir(env, "XDG_DATA_HOME", filepath.Join(".local", "share")), "costplan", "journal.jsonl")
}

// importedPricesPath is where `costplan pricing --import` keeps a price file.
func importedPricesPath(env func(string) string) string {
	return filepath.Join(xdgDir(env, "XDG_DATA_HOME", filepath.Join(".local", "share")), "costplan", "prices.json")
}

// loadConfig merges defaults, the configuration file and the environment. Flags are
// applied afterwards by each command, then Validate runs.
func loadConfig(flagPath string, env func(string) string) (*Config, error) {
	cfg := defaultConfig()
	path, required := configPath(flagPath, env)
	capsSet, err := cfg.readFile(path, required)
	if err != nil {
		return nil, err
	}
	envSet, err := cfg.applyEnv(env)
	if err != nil {
		return nil, err
	}
	cfg.DefaultCaps = !capsSet && !envSet
	if cfg.Journal.Path == "" {
		cfg.Journal.Path = defaultJournalPath(env)
	}
	return &cfg, nil
}

// readFile decodes path over cfg. It reports whether a cap was set.
func (c *Config) readFile(path string, required bool) (capsSet bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !required {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read config: %w (set --config or COSTPLAN_CONFIG to an existing file)", err)
	}
	md, err := toml.Decode(string(data), c)
	if err != nil {
		return false, configError(path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return false, unknownKeyError(path, und[0].String())
	}
	c.File = path
	c.UpstreamSet.Anthropic = md.IsDefined("upstream", "anthropic")
	c.UpstreamSet.OpenAI = md.IsDefined("upstream", "openai")
	return md.IsDefined("budget", "session") || md.IsDefined("budget", "per_call"), nil
}

// configError turns a TOML decoding error into one that names the file, the key and
// the expected form.
func configError(path string, err error) error {
	var perr toml.ParseError
	if errors.As(err, &perr) {
		key := perr.LastKey
		msg := perr.Message
		if msg == "" {
			msg = err.Error()
		}
		if key != "" {
			return fmt.Errorf("config %s: line %d: key %s: %s (expected %s)", path, perr.Position.Line, key, msg, expectedForm(key))
		}
		return fmt.Errorf("config %s: line %d: %s", path, perr.Position.Line, msg)
	}
	// A value of the wrong TOML type for a plain field (a string for a number, say)
	// is not a ParseError; its text still names the line and the key.
	if m := tomlTypeError.FindStringSubmatch(err.Error()); m != nil {
		line := ""
		if m[1] != "" {
			line = "line " + m[1] + ": "
		}
		return fmt.Errorf("config %s: %skey %s: %s (expected %s)", path, line, m[2], m[3], expectedForm(m[2]))
	}
	return fmt.Errorf("config %s: %w", path, err)
}

// tomlTypeError matches the TOML decoder's error for a value of the wrong type.
var tomlTypeError = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "([^"]+)"\): (.*)$`)

// expectedForm describes the value a key takes, for error messages.
func expectedForm(key string) string {
	leaf := key[strings.LastIndexByte(key, '.')+1:]
	switch leaf {
	case "per_call", "session", "daily", "monthly", "input", "output", "cache_read", "cache_write_5m", "cache_write_1h", "web_search":
		return `dollars, zero or more, like 5.00 or "$5.00"`
	case "warn_at":
		return "a fraction between 0 and 1, like 0.8"
	case "min_output_tokens", "context_window", "max_output", "threshold":
		return "a whole number of tokens, like 1024"
	case "port":
		return "a port number, like 8080"
	case "max_body":
		return `a size, like "32MiB" or 33554432`
	case "grace", "lease":
		return `a duration, like "5s"`
	case "url":
		return `memory, or a Redis URL like "redis://host:6379/0"`
	case "fail":
		return `"closed" or "open"`
	case "quiet", "mcp":
		return "true or false"
	case "aliases":
		return `a list of names, like ["name-20250101"]`
	}
	return "a string"
}

// tomlKeys returns the TOML keys of struct type t's fields, in their order.
func tomlKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		if k := f.Tag.Get("toml"); k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	return keys
}

func unknownKeyError(path, key string) error {
	section, _, found := strings.Cut(key, ".")
	if !found {
		names := tomlKeys(reflect.TypeFor[Config]())
		for i, s := range names {
			names[i] = "[" + s + "]"
		}
		sort.Strings(names)
		return fmt.Errorf("config %s: unknown key %s (the sections are %s)", path, key, strings.Join(names, ", "))
	}
	if strings.HasPrefix(key, "pricing.models.") {
		return fmt.Errorf("config %s: unknown key %s (a model takes %s)", path, key, strings.Join(tomlKeys(reflect.TypeFor[pricing.Entry]()), ", "))
	}
	if f, ok := sectionField(section); ok {
		return fmt.Errorf("config %s: unknown key %s (keys of [%s]: %s)", path, key, section, strings.Join(tomlKeys(f.Type), ", "))
	}
	return fmt.Errorf("config %s: unknown key %s", path, key)
}

// sectionField returns the field of Config that holds the section name.
func sectionField(name string) (reflect.StructField, bool) {
	for f := range reflect.TypeFor[Config]().Fields() {
		if f.Tag.Get("toml") == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// envVars maps environment variables to the settings they set.
var envVars = []struct {
	name string
	set  func(c *Config, v string) error
	cap  bool
}{
	{"COSTPLAN_BUDGET_PER_CALL", func(c *Config, v string) error { return c.Budget.PerCall.UnmarshalText([]byte(v)) }, true},
	{"COSTPLAN_BUDGET_SESSION", func(c *Config, v string) error { return c.Budget.Session.UnmarshalText([]byte(v)) }, true},
	{"COSTPLAN_BUDGET_DAILY", func(c *Config, v string) error { return c.Budget.Daily.UnmarshalText([]byte(v)) }, false},
	{"COSTPLAN_BUDGET_MONTHLY", func(c *Config, v string) error { return c.Budget.Monthly.UnmarshalText([]byte(v)) }, false},
	{"COSTPLAN_WARN_AT", func(c *Config, v string) (err error) { c.Budget.WarnAt, err = parseFraction(v); return }, false},
	{"COSTPLAN_ANTHROPIC_UPSTREAM", func(c *Config, v string) error {
		c.Upstream.Anthropic, c.UpstreamSet.Anthropic = v, true
		return nil
	}, false},
	{"COSTPLAN_OPENAI_UPSTREAM", func(c *Config, v string) error { c.Upstream.OpenAI, c.UpstreamSet.OpenAI = v, true; return nil }, false},
	{"COSTPLAN_JOURNAL", func(c *Config, v string) error { c.Journal.Path = v; return nil }, false},
	{"COSTPLAN_ADMIN_TOKEN", func(c *Config, v string) error { c.Proxy.AdminToken = v; return nil }, false},
	{"COSTPLAN_UNKNOWN_MODEL", func(c *Config, v string) error { c.Pricing.UnknownModel = v; return nil }, false},
	{"COSTPLAN_PRICING_FILE", func(c *Config, v string) error { c.Pricing.File = v; return nil }, false},
	{"COSTPLAN_STORE", func(c *Config, v string) error { c.Store.URL = v; return nil }, false},
}

// applyEnv applies COSTPLAN_* variables. It reports whether a cap was set.
func (c *Config) applyEnv(env func(string) string) (capsSet bool, err error) {
	for _, e := range envVars {
		v := env(e.name)
		if v == "" {
			continue
		}
		if err := e.set(c, v); err != nil {
			return false, fmt.Errorf("environment %s=%q: %w", e.name, v, err)
		}
		capsSet = capsSet || e.cap
	}
	return capsSet, nil
}

func parseFraction(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || f > 1 {
		return 0, fmt.Errorf("%q is not a fraction between 0 and 1 (like 0.8)", s)
	}
	return f, nil
}

// Validate reports settings that cannot work, naming the key and the fix.
func (c *Config) Validate() error {
	b := c.Budget
	if b.Session <= 0 {
		return fmt.Errorf("session budget must be positive, got %s (set --session or [budget] session)", b.Session)
	}
	if b.WarnAt < 0 || b.WarnAt > 1 {
		return fmt.Errorf("warn_at must be a fraction between 0 and 1, got %v (set --warn-at or [budget] warn_at)", b.WarnAt)
	}
	if b.MinOutputTokens < 1 {
		return fmt.Errorf("min_output_tokens must be at least 1, got %d ([budget] min_output_tokens)", b.MinOutputTokens)
	}
	if _, err := c.Location(); err != nil {
		return err
	}
	for name, u := range map[string]string{"anthropic": c.Upstream.Anthropic, "openai": c.Upstream.OpenAI} {
		if err := checkUpstream(u); err != nil {
			return fmt.Errorf("%s upstream %q: %w (set --%s-upstream, COSTPLAN_%s_UPSTREAM or [upstream] %s)",
				name, u, err, name, strings.ToUpper(name), name)
		}
	}
	if c.Proxy.Port < 0 || c.Proxy.Port > 65535 {
		return fmt.Errorf("port must be between 0 and 65535, got %d", c.Proxy.Port)
	}
	if c.Proxy.MaxBody <= 0 {
		return fmt.Errorf("max_body must be positive, got %d", c.Proxy.MaxBody)
	}
	switch c.Pricing.UnknownModel {
	case pricing.PolicyFamily, pricing.PolicyReject:
	default:
		return fmt.Errorf("unknown_model must be %q or %q, got %q ([pricing] unknown_model)", pricing.PolicyFamily, pricing.PolicyReject, c.Pricing.UnknownModel)
	}
	return c.Store.validate()
}

// Location returns the time zone of the daily and monthly windows.
func (c *Config) Location() (*time.Location, error) {
	if c.Budget.Timezone == "" || c.Budget.Timezone == "Local" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(c.Budget.Timezone)
	if err != nil {
		return nil, fmt.Errorf("timezone %q: %w ([budget] timezone takes an IANA name like \"Europe/Paris\", or \"Local\")", c.Budget.Timezone, err)
	}
	return loc, nil
}

// Caps returns the budget caps for the ledger.
func (c *Config) Caps() core.Caps {
	return core.Caps{PerCall: c.Budget.PerCall, Session: c.Budget.Session, WarnAt: c.Budget.WarnAt}
}

// PriceTable builds the price table: the embedded data, the imported or configured
// LiteLLM file, then [pricing.models].
func (c *Config) PriceTable(env func(string) string, warn func(string)) (*pricing.Table, error) {
	opts := pricing.Options{UnknownModel: c.Pricing.UnknownModel, Overrides: c.Pricing.Models, OverrideSource: c.File, Warn: warn}
	file, required := c.Pricing.File, true
	if file == "" {
		file, required = importedPricesPath(env), false
	}
	f, err := os.Open(file)
	switch {
	case err == nil:
		defer f.Close()
		models, _, err := pricing.ParseLiteLLM(f, file)
		if err != nil {
			return nil, err
		}
		opts.Imported = models
	case !required && errors.Is(err, os.ErrNotExist):
	default:
		return nil, fmt.Errorf("price file: %w ([pricing] file)", err)
	}
	return pricing.New(opts)
}

// byteSize is a size in bytes that reads "32MiB", "10MB", "512KiB" or a number.
type byteSize int64

func (b *byteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return fmt.Errorf("%q is not a size (like 32MiB, 10MB or 1048576)", string(text))
	}
	*b = byteSize(n * mult)
	return nil
}

func (b *byteSize) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		return b.UnmarshalText([]byte(strconv.FormatInt(x, 10)))
	case string:
		return b.UnmarshalText([]byte(x))
	}
	return fmt.Errorf("%v is not a size (like \"32MiB\" or 33554432)", v)
}

// duration is a time.Duration that reads "5s" in TOML and flags.
type duration time.Duration

func (d *duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(text)))
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a duration (like 5s, 500ms or 1m)", string(text))
	}
	*d = duration(v)
	return nil
}

func (d duration) String() string { return time.Duration(d).String() }

// checkUpstream accepts an http or https URL without query or fragment.
func checkUpstream(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return errors.New("must be an http:// or https:// URL")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("must not carry a query, a fragment or credentials")
	}
	return nil
}
