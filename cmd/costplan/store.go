package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/costplan/costplan"
	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/proxy"
	"github.com/costplan/costplan/redisstore"
)

// StoreConfig is the [store] section: where the budget is kept.
type StoreConfig struct {
	// URL is "memory" (this process only) or a Redis URL shared by processes.
	URL string `toml:"url"`
	// BudgetKey names the shared budget; empty means one per session.
	BudgetKey string `toml:"budget_key"`
	// Fail is what happens while the store cannot be reached: "closed" refuses
	// calls, "open" meters them locally and adds their spend later.
	Fail string `toml:"fail"`
	// Lease is how long a reservation outlives a process that died holding it.
	Lease duration `toml:"lease"`
}

// defaultStore is the [store] section's defaults.
func defaultStore() StoreConfig {
	return StoreConfig{URL: "memory", Fail: "closed", Lease: duration(redisstore.DefaultLease)}
}

// shared reports whether the budget is kept in Redis.
func (s StoreConfig) shared() bool { return redisstore.IsURL(s.URL) }

// validate reports a [store] setting that cannot work, naming where to fix it.
func (s StoreConfig) validate() error {
	switch {
	case s.URL == "" || s.URL == "memory":
	case s.shared():
		if _, err := redisstore.ClientOptions(s.URL, time.Second); err != nil {
			return fmt.Errorf("%w (set --store, COSTPLAN_STORE or [store] url)", err)
		}
	default:
		return fmt.Errorf("store %q: want memory, redis://[user:pass@]host:port/db or rediss://host:port/db (set --store, COSTPLAN_STORE or [store] url)",
			redisstore.Redact(s.URL))
	}
	if s.BudgetKey != "" {
		if err := redisstore.CheckKey(s.BudgetKey); err != nil {
			return fmt.Errorf("%w (set --budget-key or [store] budget_key)", err)
		}
	}
	if s.Fail != "closed" && s.Fail != "open" {
		return fmt.Errorf("store-fail must be closed or open, got %q (set --store-fail or [store] fail)", s.Fail)
	}
	if l := time.Duration(s.Lease); l < time.Second || l > 24*time.Hour {
		return fmt.Errorf("[store] lease must be between 1s and 24h, got %s", l)
	}
	return nil
}

// openLedger returns a session's ledger: in memory, or over the shared store cfg
// names, under its budget key (sessionID when none is set). The store is nil for an
// in-memory ledger; the caller closes it.
func openLedger(ctx context.Context, cfg *Config, sessionID string, log *slog.Logger) (*core.Ledger, *redisstore.Store, error) {
	if !cfg.Store.shared() {
		l, err := core.NewMemoryLedger(cfg.Caps())
		if err != nil {
			return nil, nil, usageError{err}
		}
		return l, nil, nil
	}
	loc, err := cfg.Location()
	if err != nil {
		return nil, nil, usageError{err}
	}
	key := cfg.Store.BudgetKey
	if key == "" {
		key = sessionID
	}
	quietRedis(log)
	st, err := redisstore.Open(ctx, redisstore.Options{
		URL: cfg.Store.URL, Key: key, Caps: cfg.Caps(), Daily: cfg.Budget.Daily, Monthly: cfg.Budget.Monthly,
		Location: loc, Lease: time.Duration(cfg.Store.Lease), FailOpen: cfg.Store.Fail == "open",
		AdminToken: cfg.Proxy.AdminToken, Logger: log,
	})
	if err != nil {
		if errors.Is(err, redisstore.ErrUnavailable) {
			err = fmt.Errorf("%w (start it, fix --store, or meter locally until it answers with --store-fail open)", err)
		}
		return nil, nil, err
	}
	return st.Ledger(), st, nil
}

// quietRedis sends go-redis's own log lines (a failed dial, say) to log at debug
// level: the store's errors already say what failed, once.
func quietRedis(log *slog.Logger) {
	redis.SetLogger(redisLogger{log})
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// shareBudget puts the calls of `costplan run`'s SDK client under the shared budget
// cfg names, if any, and returns its ledger (nil when the budget is in memory).
// The returned function closes the store.
func shareBudget(ctx context.Context, cfg *Config, llm *costplan.Client, logOut io.Writer) (*core.Ledger, func(), error) {
	if !cfg.Store.shared() {
		return nil, func() {}, nil
	}
	m, ok := llm.Transport().(*proxy.Meter)
	if !ok {
		return nil, nil, errors.New("the SDK client has no metering transport to share the budget with")
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ledger, st, err := openLedger(ctx, cfg, m.Session, log) // the key defaults to the journal's session id, as under exec and proxy
	if err != nil {
		return nil, nil, err
	}
	m.Ledger, m.BudgetKey = ledger, st.Key()
	m.Windows = nil // the shared store counts the daily and monthly windows itself
	return ledger, func() { _ = st.Close(context.Background()) }, nil
}
