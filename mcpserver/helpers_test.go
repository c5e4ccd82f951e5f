package mcpserver_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/mcpserver"
	"github.com/costplan/costplan/mcpserver/mcpservertest"
	"github.com/costplan/costplan/pricing"
)

// usd parses an exact dollar amount.
func usd(t testing.TB, s string) core.Money {
	t.Helper()
	m, err := core.ParseMoney(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// dayResets is the fixed reset time of the fixture's daily window.
var dayResets = time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)

// fixture is a live session with known figures: $5 session cap, $1 per call, one
// call settled at $0.05, one call in flight holding $0.23, and a $1 daily window
// that already holds $0.60.
type fixture struct {
	ledger  *core.Ledger
	prices  *pricing.Table
	journal string
	source  mcpserver.Source
	srv     *mcpserver.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	ledger, err := core.NewMemoryLedger(core.Caps{Session: usd(t, "5"), PerCall: usd(t, "1"), WarnAt: 0.8})
	if err != nil {
		t.Fatal(err)
	}
	g, err := ledger.Reserve(ctx, core.ReserveRequest{Input: usd(t, "0.1"), OutputRate: usd(t, "15"), Requested: 1000, MinOutput: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.Settle(ctx, g.ID, usd(t, "0.05")); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.Reserve(ctx, core.ReserveRequest{Input: usd(t, "0.2"), OutputRate: usd(t, "15"), Requested: 2000, MinOutput: 1}); err != nil {
		t.Fatal(err)
	}
	prices, err := pricing.New(pricing.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{ledger: ledger, prices: prices, journal: writeJournal(t)}
	windows := func(context.Context) ([]core.Window, error) {
		return []core.Window{{Name: core.LimitDaily, Cap: usd(t, "1"), Spent: usd(t, "0.6"), ResetsAt: dayResets}}, nil
	}
	f.source = &mcpserver.LedgerSource{Ledger: ledger, Session: "sess-live", Windows: windows}
	f.srv = mcpserver.New(mcpserver.Options{Source: f.source, Prices: prices, Journal: f.journal, Version: "test"})
	return f
}

// writeJournal writes three calls of two sessions and a session record.
func writeJournal(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	w, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ts := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	recs := []journal.Record{
		{Type: journal.TypeSession, Session: "aaaa1111", Event: journal.EventStart, TS: ts},
		{Type: journal.TypeCall, Session: "aaaa1111", Provider: "anthropic", Model: "claude-sonnet-4-5", PriceModel: "claude-sonnet-4-5",
			Outcome: journal.OutcomeOK, Usage: core.Usage{InputTokens: 1000, OutputTokens: 200, CacheReadTokens: 50}, Cost: usd(t, "0.006015"), TS: ts.Add(time.Minute)},
		{Type: journal.TypeCall, Session: "bbbb2222", Provider: "openai", Model: "gpt-4o", PriceModel: "gpt-4o",
			Outcome: journal.OutcomeOK, Usage: core.Usage{InputTokens: 100, OutputTokens: 10}, Cost: usd(t, "0.00035"), TS: ts.Add(2 * time.Minute)},
		{Type: journal.TypeCall, Session: "aaaa1111", Provider: "anthropic", Model: "claude-opus-4-1", PriceModel: "claude-opus-4-1",
			Outcome: journal.OutcomeRefused, Refusal: "per_call", TS: ts.Add(3 * time.Minute)},
	}
	for _, r := range recs {
		if err := w.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// inProcess returns an initialized in-process client of srv.
func inProcess(t *testing.T, srv *mcpserver.Server, opts ...client.ClientOption) *client.Client {
	t.Helper()
	c, err := client.NewInProcessClientWithOptions(srv.MCP(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	mcpservertest.Start(t, c)
	return c
}
