// Package costplan puts a hard dollar ceiling on the LLM calls of a Go program: per
// call and per session, enforced before money is spent, with the same ledger,
// pricing, request rewriting, stream metering and journal as the costplan proxy.
//
// A Client calls Anthropic Messages or OpenAI Chat Completions itself:
//
//	llm, err := costplan.New(costplan.Config{
//		Model: "claude-sonnet-4-5", PerCall: costplan.USD(0.50), Session: costplan.USD(5),
//	})
//	resp, err := llm.Generate(ctx, "Explain quantum computing in one paragraph.")
//
// and NewTransport (or Client.Transport) brings the same enforcement to any client
// built on net/http, such as the official anthropic-sdk-go and openai-go:
//
//	client := anthropic.NewClient(option.WithHTTPClient(&http.Client{Transport: llm.Transport()}))
package costplan

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/pricing"
	"github.com/costplan/costplan/proxy"
)

// Money is an amount in nano-dollars (1e-9 USD); see USD.
type Money = core.Money

// USD converts dollars to Money, rounded to the nano-dollar.
func USD(dollars float64) Money { return core.USD(dollars) }

// Usage is what one call consumed.
type Usage = core.Usage

// Providers.
const (
	Anthropic = pricing.ProviderAnthropic
	OpenAI    = pricing.ProviderOpenAI
)

// Config configures a Client (and NewTransport). Zero values are documented per
// field.
type Config struct {
	// Provider is "anthropic" or "openai"; empty means the provider of Model in the
	// price table.
	Provider string
	// Model is the model to call; required for Generate (not for NewTransport).
	Model string
	// PerCall caps one call's worst case; zero means no per-call cap, unless
	// Session is zero too, in which case the defaults ($1 per call, $5 per
	// session) apply.
	PerCall Money
	// Session caps everything this Client spends; zero means the default ($5).
	Session Money
	// WarnAt is the fraction of Session at which OnWarning fires once; zero means
	// 0.8.
	WarnAt float64
	// OnWarning is called once when the spend crosses WarnAt × Session (and again
	// after a Reset). It runs on the goroutine of the call that crossed it.
	OnWarning func(spent, remaining, total Money)
	// Daily and Monthly cap the spend of the current local day and calendar month
	// across every process that shares JournalPath; zero means none. They need
	// JournalPath.
	Daily, Monthly Money
	// Location is where the days and months of Daily and Monthly begin; nil means
	// time.Local.
	Location *time.Location
	// System is the system prompt; empty means none.
	System string
	// MaxTokens is the output limit asked for; zero means the model's maximum,
	// clamped to what the budget can pay.
	MaxTokens int64
	// Temperature, when not nil, is sent as the sampling temperature; it must be a
	// finite number.
	Temperature *float64
	// APIKey is the provider key; empty means ANTHROPIC_API_KEY or OPENAI_API_KEY.
	APIKey string
	// BaseURL is the API base (Anthropic: an origin; OpenAI: ending in /v1); empty
	// means ANTHROPIC_BASE_URL / OPENAI_BASE_URL, else the public API.
	BaseURL string
	// HTTPClient sends the calls; its Transport (nil: http.DefaultTransport) is
	// wrapped by the metering transport. Nil means a default client.
	HTTPClient *http.Client
	// JournalPath appends a JSON line per call (the proxy's journal format); empty
	// means no journal.
	JournalPath string
	// Prices is the price table (from pricing.New, with overrides or an imported
	// price file); nil means the embedded table under UnknownModel.
	Prices *pricing.Table
	// UnknownModel is the unknown-model policy of the embedded table, "family"
	// (default) or "reject"; with Prices it must be empty, since a table carries
	// its own policy.
	UnknownModel string
	// MinOutputTokens is the smallest output grant worth sending; zero means 1024.
	MinOutputTokens int64
	// Hint returns the advice that ends the message of a refusal by limit (see
	// BudgetExceededError.Limit); nil means advice about the Config fields.
	Hint func(limit string) string
}

// ErrBudgetExceeded matches every refusal by the budget (errors.Is); the error is
// a *BudgetExceededError.
var ErrBudgetExceeded = errors.New("budget exceeded")

// ErrUnknownModel matches a model the price table cannot price.
var ErrUnknownModel = core.ErrUnknownModel

// BudgetExceededError is a call refused before it was sent.
type BudgetExceededError struct {
	// Limit is the cap that refused: "per_call", "session", "locked", "daily" or
	// "monthly".
	Limit string
	// Spent and Cap are that limit's spend and amount.
	Spent, Cap Money
	// Predicted is the least the call could have cost.
	Predicted Money
	// Message is the full explanation.
	Message string
}

func (e *BudgetExceededError) Error() string { return "costplan: " + e.Message }

// Is makes errors.Is match ErrBudgetExceeded and core's sentinels.
func (e *BudgetExceededError) Is(target error) bool {
	switch target {
	case ErrBudgetExceeded:
		return true
	case core.ErrPerCallExceeded:
		return e.Limit == string(core.LimitPerCall)
	case core.ErrBudgetExhausted:
		return e.Limit != string(core.LimitPerCall)
	}
	return false
}

// BudgetViolationError is returned together with a successful response when the
// call cost more than was reserved for it (the input estimate was too low or a
// price changed). The spend is recorded; the session locks if the cap is crossed.
type BudgetViolationError struct {
	Reserved, Actual Money
}

func (e *BudgetViolationError) Error() string {
	return fmt.Sprintf("costplan: the call cost %s, %s more than the %s reserved for it", e.Actual, e.Actual-e.Reserved, e.Reserved)
}

// APIError is an error answer of the provider.
type APIError struct {
	// Provider is "anthropic" or "openai".
	Provider   string
	StatusCode int
	Type       string
	Message    string
	RequestID  string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("costplan: %s API error %d (%s): %s", e.Provider, e.StatusCode, e.Type, e.Message)
}

// Client calls one model under a budget. It is safe for concurrent use by many
// goroutines.
type Client struct {
	cfg     Config
	model   *pricing.Model
	meter   *proxy.Meter
	http    *http.Client
	base    string
	key     string
	journal *journal.Writer
}

// New returns a Client. It refuses negative caps, an unknown provider, a model the
// price table cannot price (under Config.UnknownModel) and a missing API key.
func New(cfg Config) (*Client, error) {
	if cfg.Model == "" {
		return nil, errors.New("costplan: Config.Model is required")
	}
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	if err := c.bind(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// bind resolves the Client's model, provider, API key and base URL.
func (c *Client) bind() error {
	res, err := c.meter.Prices.Lookup(c.cfg.Model)
	if err != nil {
		return fmt.Errorf("costplan: %w", err)
	}
	c.model = res.Model
	if c.cfg.Provider == "" {
		c.cfg.Provider = res.Model.Provider
	}
	if c.cfg.Provider != Anthropic && c.cfg.Provider != OpenAI {
		return fmt.Errorf("costplan: Config.Provider must be %q or %q, got %q", Anthropic, OpenAI, c.cfg.Provider)
	}
	keyVar, baseVar, def := "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "https://api.anthropic.com"
	if c.cfg.Provider == OpenAI {
		keyVar, baseVar, def = "OPENAI_API_KEY", "OPENAI_BASE_URL", "https://api.openai.com/v1"
	}
	c.key = firstNonEmpty(c.cfg.APIKey, os.Getenv(keyVar))
	if c.key == "" {
		return fmt.Errorf("costplan: no API key: set Config.APIKey or the %s environment variable", keyVar)
	}
	c.base = strings.TrimSuffix(firstNonEmpty(c.cfg.BaseURL, os.Getenv(baseVar), def), "/")
	return nil
}

// estimator counts input tokens for every Client and Transport of the process, so
// that the tokenizer vocabulary is loaded once (on the first call) and not again
// for each of them.
var estimator = sync.OnceValue(pricing.NewEstimator)

// newClient builds the budget machinery shared by New and NewTransport.
func newClient(cfg Config) (*Client, error) {
	caps := core.Caps{PerCall: cfg.PerCall, Session: cfg.Session, WarnAt: cfg.WarnAt}
	if caps.Session == 0 {
		caps.Session = core.DefaultSession
		if caps.PerCall == 0 {
			caps.PerCall = core.DefaultPerCall
		}
	}
	if caps.WarnAt == 0 {
		caps.WarnAt = core.DefaultWarnAt
	}
	if err := caps.Validate(); err != nil {
		return nil, fmt.Errorf("costplan: %w", err)
	}
	if cfg.Daily < 0 || cfg.Monthly < 0 || cfg.MaxTokens < 0 || cfg.MinOutputTokens < 0 {
		return nil, errors.New("costplan: Daily, Monthly, MaxTokens and MinOutputTokens must not be negative")
	}
	if (cfg.Daily > 0 || cfg.Monthly > 0) && cfg.JournalPath == "" {
		return nil, errors.New("costplan: Daily and Monthly caps are counted from the journal: set Config.JournalPath")
	}
	if t := cfg.Temperature; t != nil && (math.IsNaN(*t) || math.IsInf(*t, 0)) {
		return nil, fmt.Errorf("costplan: Config.Temperature must be a finite number, got %v", *t)
	}
	prices, err := priceTable(cfg)
	if err != nil {
		return nil, err
	}
	ledger, err := core.NewMemoryLedger(caps)
	if err != nil {
		return nil, fmt.Errorf("costplan: %w", err)
	}
	base := http.DefaultTransport
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		*hc = *cfg.HTTPClient
		if hc.Transport != nil {
			base = hc.Transport
		}
	}
	hint := sdkHint
	if cfg.Hint != nil {
		hint = func(limit core.Limit) string { return cfg.Hint(string(limit)) }
	}
	c := &Client{cfg: cfg}
	c.meter = &proxy.Meter{Ledger: ledger, Prices: prices, Estimator: estimator(), Transport: base, Session: journal.NewSessionID(),
		MinOutput: core.Tokens(cfg.MinOutputTokens), Hint: hint}
	if cfg.JournalPath != "" {
		if c.journal, err = journal.Open(cfg.JournalPath); err != nil {
			return nil, fmt.Errorf("costplan: %w", err)
		}
		c.meter.Recorder = c.journal
		if cfg.Daily > 0 || cfg.Monthly > 0 {
			tail := &journal.Tail{Path: cfg.JournalPath, Location: cfg.Location}
			c.meter.Windows = tail.WindowsFunc(cfg.Daily, cfg.Monthly)
		}
	}
	if cfg.OnWarning != nil {
		ledger.Subscribe(func(e core.Event) {
			if e.Kind == core.EventWarn {
				cfg.OnWarning(e.Snapshot.Spent, e.Snapshot.Remaining, e.Snapshot.Session)
			}
		})
	}
	hc.Transport = c.meter
	c.http = hc
	return c, nil
}

// priceTable returns cfg.Prices, or the embedded table under cfg.UnknownModel.
func priceTable(cfg Config) (*pricing.Table, error) {
	if cfg.Prices != nil {
		if cfg.UnknownModel != "" {
			return nil, errors.New("costplan: Config.UnknownModel applies to the embedded table only: set the policy in the pricing.Options of Config.Prices")
		}
		return cfg.Prices, nil
	}
	t, err := pricing.New(pricing.Options{UnknownModel: cfg.UnknownModel})
	if err != nil {
		return nil, fmt.Errorf("costplan: %w", err)
	}
	return t, nil
}

// sdkHint says how to raise a limit in a program.
func sdkHint(limit core.Limit) string {
	switch limit {
	case core.LimitPerCall:
		return "raise Config.PerCall or ask for fewer output tokens"
	case core.LimitSession, core.LimitLocked:
		return "raise Config.Session or call Reset"
	case core.LimitDaily:
		return "raise Config.Daily"
	case core.LimitMonthly:
		return "raise Config.Monthly"
	}
	return ""
}

// Transport returns the metering transport of this Client: calls sent through it
// by any net/http client (the official SDKs with option.WithHTTPClient) are held to
// the same budget.
func (c *Client) Transport() http.RoundTripper { return c.meter }

// Remaining returns what the session can still spend (reservations of calls in
// flight deducted).
func (c *Client) Remaining() Money { return c.snapshot().Remaining }

// Spent returns what the session has spent.
func (c *Client) Spent() Money { return c.snapshot().Spent }

// Reset forgets what was spent and unlocks the session; calls in flight keep their
// reservations.
func (c *Client) Reset() error { return c.meter.Ledger.Reset(context.Background()) }

// Close closes the journal, if any.
func (c *Client) Close() error {
	if c.journal != nil {
		return c.journal.Close()
	}
	return nil
}

func (c *Client) snapshot() core.Snapshot {
	s, _ := c.meter.Ledger.Snapshot(context.Background())
	return s
}

// Transport is the metering http.RoundTripper returned by NewTransport.
type Transport struct {
	c *Client
}

// NewTransport returns an http.RoundTripper that enforces cfg's budget on every
// Anthropic Messages, OpenAI Chat Completions and Responses call sent through it
// (Model, Provider, APIKey and BaseURL are ignored: the requests carry their own).
// Token counting and model lists pass unmetered; other API paths are refused.
func NewTransport(cfg Config) (*Transport, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Transport{c: c}, nil
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) { return t.c.meter.RoundTrip(r) }

// Remaining returns what the budget can still spend.
func (t *Transport) Remaining() Money { return t.c.Remaining() }

// Spent returns what the budget has spent.
func (t *Transport) Spent() Money { return t.c.Spent() }

// Reset forgets what was spent and unlocks the budget.
func (t *Transport) Reset() error { return t.c.Reset() }

// Close closes the journal, if any.
func (t *Transport) Close() error { return t.c.Close() }

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
