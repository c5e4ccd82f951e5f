package main

import (
	"github.com/costplan/costplan/core"
)

// CLI is the command line: global flags and one field per command.
type CLI struct {
	Globals

	Version VersionCmd `cmd:"" help:"Print the version."`
	Pricing PricingCmd `cmd:"" help:"Show the price table, one model's prices, or import a LiteLLM price file."`
	Predict PredictCmd `cmd:"" help:"Price a prompt before sending it (no network call)."`
	Exec    ExecCmd    `cmd:"" help:"Run a command (an agent, a CI job) under a budget; stop it when the budget is spent."`
	Proxy   ProxyCmd   `cmd:"" help:"Run the budget-enforcing proxy as a server."`
	Run     RunCmd     `cmd:"" help:"Make one call under the budget and compare the prediction with reality."`
	History HistoryCmd `cmd:"" help:"List the calls in the journal."`
	Stats   StatsCmd   `cmd:"" help:"Totals and breakdowns of the journal, with what caching saved."`
	Mcp     McpCmd     `cmd:"" help:"Serve the MCP tools on stdio: the budget left, cost predictions, prices and recent calls."`
	Budget  BudgetCmd  `cmd:"" help:"Show or reset a budget shared through Redis."`
}

// Globals are the flags every command takes.
type Globals struct {
	Config  string `help:"Configuration file (also COSTPLAN_CONFIG; default ./costplan.toml, then $XDG_CONFIG_HOME/costplan/costplan.toml)." placeholder:"PATH" type:"path"`
	Journal string `help:"Journal file (also COSTPLAN_JOURNAL; default $XDG_DATA_HOME/costplan/journal.jsonl)." placeholder:"PATH" type:"path"`
	JSON    bool   `name:"json" help:"Print machine-readable JSON where a command prints data."`
	NoColor bool   `name:"no-color" help:"Never colour the output (also NO_COLOR)."`
}

// load reads the configuration and applies the global flags.
func (g *Globals) load(a *app) (*Config, error) {
	cfg, err := loadConfig(g.Config, a.env)
	if err != nil {
		return nil, usageError{err}
	}
	if g.Journal != "" {
		cfg.Journal.Path = g.Journal
	}
	return cfg, nil
}

// BudgetFlags are the budget flags of exec, proxy and run.
type BudgetFlags struct {
	PerCall *core.Money `name:"per-call" placeholder:"USD" help:"Cap on one call's worst-case cost in USD; 0 means no per-call cap (default 1, or [budget] per_call)."`
	Session *core.Money `placeholder:"USD" help:"Cap on the whole session in USD (default 5, or [budget] session)."`
	WarnAt  *float64    `name:"warn-at" placeholder:"FRACTION" help:"Warn once when this fraction of the session cap is spent (default 0.8)."`
	Daily   *core.Money `placeholder:"USD" help:"Cap on today's spend across sessions, counted from the journal, or in the shared store with --store (default none, or [budget] daily)."`
	Monthly *core.Money `placeholder:"USD" help:"Cap on this calendar month's spend across sessions, counted from the journal, or in the shared store with --store (default none, or [budget] monthly)."`

	StoreFlags `embed:""`
}

// apply puts the flags that were given into cfg.
func (b BudgetFlags) apply(cfg *Config) {
	if b.PerCall != nil {
		cfg.Budget.PerCall = *b.PerCall
		cfg.DefaultCaps = false
	}
	if b.Session != nil {
		cfg.Budget.Session = *b.Session
		cfg.DefaultCaps = false
	}
	if b.WarnAt != nil {
		cfg.Budget.WarnAt = *b.WarnAt
	}
	if b.Daily != nil {
		cfg.Budget.Daily = *b.Daily
	}
	if b.Monthly != nil {
		cfg.Budget.Monthly = *b.Monthly
	}
	b.StoreFlags.apply(cfg)
}

// StoreFlags say where the budget is kept: in this process, or shared through Redis.
type StoreFlags struct {
	Store     string `name:"store" placeholder:"URL" help:"Where the budget is kept: memory, or redis://[user:pass@]host:port/db (rediss:// for TLS) to share it between processes and machines (also COSTPLAN_STORE, [store] url; default memory)."`
	BudgetKey string `name:"budget-key" placeholder:"NAME" help:"Name of the shared budget; processes with the same name share it (default: one per session, or [store] budget_key)."`
	StoreFail string `name:"store-fail" enum:",closed,open" default:"" placeholder:"closed|open" help:"While the store cannot be reached: refuse calls (closed), or meter them locally within what was left and add their spend later (open). Default closed, or [store] fail."`
}

// apply puts the flags that were given into cfg.
func (s StoreFlags) apply(cfg *Config) {
	if s.Store != "" {
		cfg.Store.URL = s.Store
	}
	if s.BudgetKey != "" {
		cfg.Store.BudgetKey = s.BudgetKey
	}
	if s.StoreFail != "" {
		cfg.Store.Fail = s.StoreFail
	}
}

// UpstreamFlags name the providers' upstreams.
type UpstreamFlags struct {
	AnthropicUpstream string `name:"anthropic-upstream" placeholder:"URL" help:"Anthropic API origin (also COSTPLAN_ANTHROPIC_UPSTREAM, [upstream] anthropic; default https://api.anthropic.com)."`
	OpenAIUpstream    string `name:"openai-upstream" placeholder:"URL" help:"OpenAI API base ending in /v1 (also COSTPLAN_OPENAI_UPSTREAM, [upstream] openai; default https://api.openai.com/v1)."`
}

func (u UpstreamFlags) apply(cfg *Config) {
	if u.AnthropicUpstream != "" {
		cfg.Upstream.Anthropic, cfg.UpstreamSet.Anthropic = u.AnthropicUpstream, true
	}
	if u.OpenAIUpstream != "" {
		cfg.Upstream.OpenAI, cfg.UpstreamSet.OpenAI = u.OpenAIUpstream, true
	}
}
