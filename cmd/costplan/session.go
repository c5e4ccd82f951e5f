package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/pricing"
	"github.com/costplan/costplan/proxy"
	"github.com/costplan/costplan/redisstore"
)

// session is one budget with everything that enforces it: the ledger, the price
// table, the journal, the meter and the HTTP handler.
type session struct {
	id      string
	cfg     *Config
	log     *slog.Logger
	ledger  *core.Ledger
	prices  *pricing.Table
	journal *journal.Writer
	meter   *proxy.Meter
	tally   *tally
	handler *proxy.Handler
	// store is the shared budget store; nil when the budget is in memory.
	store  *redisstore.Store
	cancel func()
	// command and args describe what the session runs (argv[0] and the argument
	// count, never the arguments), for every session record.
	command string
	args    int
}

// openSession validates cfg and builds a session. command and args describe what
// the session runs, for its journal records (argv[0] and the argument count only).
func openSession(ctx context.Context, cfg *Config, env func(string) string, logOut io.Writer, command string, args int) (*session, error) {
	if err := cfg.Validate(); err != nil {
		return nil, usageError{err}
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	prices, err := cfg.PriceTable(env, func(msg string) { log.Warn(msg) })
	if err != nil {
		return nil, usageError{err}
	}
	w, err := journal.Open(cfg.Journal.Path)
	if err != nil {
		return nil, fmt.Errorf("%w (set --journal, COSTPLAN_JOURNAL or [journal] path)", err)
	}
	id := journal.NewSessionID()
	ledger, store, err := openLedger(ctx, cfg, id, log)
	if err != nil {
		w.Close()
		return nil, err
	}
	anthropic, _ := url.Parse(cfg.Upstream.Anthropic)
	openai, _ := url.Parse(cfg.Upstream.OpenAI)
	s := &session{id: id, cfg: cfg, log: log, ledger: ledger, store: store, prices: prices, journal: w, command: command, args: args}
	s.tally = &tally{next: w, byName: map[string]*modelTally{}}
	s.meter = &proxy.Meter{
		Ledger: ledger, Prices: prices, Recorder: s.tally, Session: s.id, Logger: log, Estimator: pricing.NewEstimator(),
		MinOutput: cfg.Budget.MinOutputTokens, MaxBody: int64(cfg.Proxy.MaxBody),
	}
	if b := cfg.Budget; store == nil && (b.Daily > 0 || b.Monthly > 0) {
		loc, _ := cfg.Location()
		tail := &journal.Tail{Path: cfg.Journal.Path, Location: loc}
		s.meter.Windows = tail.WindowsFunc(b.Daily, b.Monthly)
	}
	s.handler = proxy.NewHandler(s.meter, anthropic, openai)
	s.handler.MCP = s.mcpServer().Handler()
	s.handler.Windows = s.meter.Windows
	if store != nil {
		// The journal stays local; its records name the shared budget, whose store
		// counts the windows.
		s.meter.BudgetKey = store.Key()
		s.handler.Windows = store.Windows
	}
	s.handler.AdminToken = cfg.Proxy.AdminToken
	s.handler.Logger = log
	s.cancel = ledger.Subscribe(s.onEvent)
	s.record(ctx, journal.EventStart)
	return s, nil
}

// onEvent journals the ledger's lifecycle events.
func (s *session) onEvent(e core.Event) {
	var ev string
	switch e.Kind {
	case core.EventWarn:
		ev = journal.EventWarn
	case core.EventLock:
		ev = journal.EventLock
	case core.EventReset:
		ev = journal.EventReset
	default:
		return
	}
	s.recordSnapshot(context.Background(), ev, e.Snapshot)
}

func (s *session) record(ctx context.Context, event string) {
	snap, err := s.ledger.Snapshot(ctx)
	if err != nil {
		s.log.Error("budget snapshot", "err", err)
	}
	s.recordSnapshot(ctx, event, snap)
}

func (s *session) recordSnapshot(ctx context.Context, event string, snap core.Snapshot) {
	rec := journal.Record{
		Type: journal.TypeSession, Session: s.id, Event: event, SessionCap: snap.Session, PerCallCap: snap.PerCall,
		Spent: snap.Spent, Calls: snap.Calls, Refused: snap.Refused, Command: s.command, Args: s.args,
	}
	rec.BudgetKey = s.meter.BudgetKey
	if err := s.journal.Append(context.WithoutCancel(ctx), rec); err != nil {
		s.log.Error("journal", "err", err)
	}
}

// close waits for calls in flight (until ctx ends), writes the end record, closes
// the journal and closes the shared store (sending what it kept while Redis was
// unreachable).
func (s *session) close(ctx context.Context) error {
	if err := s.meter.Wait(ctx); err != nil {
		s.log.Warn("calls still in flight at exit", "err", err)
	}
	s.record(ctx, journal.EventEnd)
	s.cancel()
	err := s.journal.Close()
	if s.store != nil {
		err = errors.Join(err, s.store.Close(ctx))
	}
	return err
}

// warmUp loads the tokenizers so that the first call does not wait for them.
func (s *session) warmUp() {
	for _, enc := range []pricing.Encoding{pricing.EncodingO200k, pricing.EncodingCL100k} {
		s.meter.Estimator.CountText(enc, "warm up")
	}
}

// announceCaps returns the line that says which caps apply.
func announceCaps(cfg *Config) string {
	per := "no per-call cap"
	if cfg.Budget.PerCall > 0 {
		per = cfg.Budget.PerCall.String() + " per call"
	}
	line := fmt.Sprintf("budget: %s per session, %s", cfg.Budget.Session, per)
	if cfg.Budget.Daily > 0 {
		line += ", " + cfg.Budget.Daily.String() + " per day"
	}
	if cfg.Budget.Monthly > 0 {
		line += ", " + cfg.Budget.Monthly.String() + " per month"
	}
	if cfg.DefaultCaps {
		line += " (defaults; set --session and --per-call, or [budget] in costplan.toml)"
	}
	if cfg.Store.shared() {
		key := cfg.Store.BudgetKey
		if key == "" {
			key = "the session id"
		}
		line += fmt.Sprintf("; shared budget %q on %s (fail %s)", key, redisstore.Redact(cfg.Store.URL), cfg.Store.Fail)
	}
	return line
}
