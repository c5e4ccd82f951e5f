package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/pricing"
)

// The fake upstream answers every call with this usage of claude-sonnet-4-5 ($3 input,
// $15 output per million tokens): 1000×3 + 500×15 = $0.0105.
const (
	fakeMessage = `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",` +
		`"content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,` +
		`"usage":{"input_tokens":1000,"output_tokens":500,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}`
	fakeCallCost = core.Money(10_500_000)
	// callRequest asks for 1024 output tokens, the smallest grant CostPlan sends: its
	// reservation is 1024×15/1M = $0.01536 plus the input bound, so a window with
	// less than that left refuses it.
	callRequest = `{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"Say ok."}]}`
	windowZone  = "Asia/Kolkata"
)

// windowConfig is a configuration with a $100 session, no per-call cap, the daily
// and monthly caps given, and the journal at path.
func windowConfig(t *testing.T, path, upstream string, daily, monthly core.Money) *Config {
	t.Helper()
	cfg := defaultConfig()
	cfg.Budget.Session = 100 * core.Dollar
	cfg.Budget.PerCall = 0
	cfg.Budget.Daily = daily
	cfg.Budget.Monthly = monthly
	cfg.Budget.Timezone = windowZone
	cfg.Journal.Path = path
	cfg.Upstream.Anthropic = upstream
	return &cfg
}

// sharedEstimator counts tokens for every test session: loading the tokenizer
// vocabularies takes a second under the race detector, once per Estimator.
var sharedEstimator = pricing.NewEstimator()

// openTestSession opens a session for cfg and serves its handler.
func openTestSession(t *testing.T, cfg *Config) (*session, *httptest.Server) {
	t.Helper()
	s, err := openSession(context.Background(), cfg, envFunc(testEnv(t)), io.Discard, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	s.meter.Estimator = sharedEstimator // before the first call, which reads it
	srv := httptest.NewServer(s.handler)
	t.Cleanup(func() {
		srv.Close()
		if err := s.close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return s, srv
}

// callResult is what a client saw of one call.
type callResult struct {
	status  int
	header  http.Header
	message string // the error message of a refusal
}

// postMessage sends callRequest to the proxy at origin.
func postMessage(t *testing.T, origin string) callResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, origin+"/v1/messages", strings.NewReader(callRequest))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", "sk-ant-test")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	res := callResult{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type  string `json:"type"`
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Type != "error" {
			t.Fatalf("refusal body %q is not an Anthropic error (%v)", body, err)
		}
		res.message = e.Error.Message
	}
	return res
}

// mustSucceed fails unless the call went through at the fake's price.
func mustSucceed(t *testing.T, r callResult) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status: got %v, want 200 (%s)", r.status, r.message)
	}
	if got := r.header.Get("X-CostPlan-Cost"); got != fakeCallCost.Decimal() {
		t.Errorf("X-CostPlan-Cost: got %v, want %v", got, fakeCallCost.Decimal())
	}
}

// mustRefuse fails unless the call was refused by the window named limit.
func mustRefuse(t *testing.T, r callResult, limit string, parts ...string) {
	t.Helper()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("status: got %v, want 429", r.status)
	}
	if got := r.header.Get("X-CostPlan-Refusal"); got != limit {
		t.Errorf("X-CostPlan-Refusal: got %v, want %v", got, limit)
	}
	if got := r.header.Get("X-Should-Retry"); got != "false" {
		t.Errorf("X-Should-Retry: got %v, want false", got)
	}
	mustContain(t, "refusal message", r.message, append([]string{limit + " budget exhausted", "resets "}, parts...)...)
}

// appendCalls writes call records of other sessions, as earlier runs left them.
func appendCalls(t *testing.T, path string, recs ...journal.Record) {
	t.Helper()
	w, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, r := range recs {
		if r.Type == "" {
			r.Type = journal.TypeCall
		}
		if r.Outcome == "" {
			r.Outcome = journal.OutcomeOK
		}
		r.Provider, r.API, r.Model, r.PriceModel, r.Status = journal.ProviderAnthropic, journal.APIMessages, "claude-sonnet-4-5", "claude-sonnet-4-5", 200
		if err := w.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

// windowClock returns now in the windows' zone, first waiting out the last seconds
// of a day so that "today" cannot change during a test.
func windowClock(t *testing.T) (time.Time, *time.Location) {
	t.Helper()
	loc, err := time.LoadLocation(windowZone)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if left := journal.StartOfDay(now, loc).AddDate(0, 0, 1).Sub(now); left < 10*time.Second {
		time.Sleep(left + time.Second)
		now = time.Now()
	}
	return now.In(loc), loc
}

func usd(t *testing.T, s string) core.Money { return *mustMoney(t, s) }

// TestDailyCapCountsEarlierSessions: what earlier sessions spent today, as the
// journal holds it, counts against --daily; yesterday's spend does not.
func TestDailyCapCountsEarlierSessions(t *testing.T) {
	now, loc := windowClock(t)
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	today := journal.StartOfDay(now, loc)
	appendCalls(t, path,
		journal.Record{TS: today.Add(-time.Second), Session: "yesterday", Cost: 5 * core.Dollar},
		journal.Record{TS: today, Session: "earlier-1", Cost: usd(t, "0.43")},
		journal.Record{TS: now.Add(-time.Millisecond), Session: "earlier-2", Cost: usd(t, "0.55")},
		journal.Record{TS: now, Session: "earlier-2", Outcome: journal.OutcomeRefused, Refusal: "session"},
		journal.Record{TS: now, Session: "earlier-2", Type: journal.TypeSession, Event: journal.EventEnd, Spent: usd(t, "0.55")},
	)
	fake := newFakeAnthropic(t, fakeMessage)
	_, srv := openTestSession(t, windowConfig(t, path, fake.URL, core.Dollar, 0))

	// $0.98 of $1 is spent today: $0.02 is left, enough for one call.
	mustSucceed(t, postMessage(t, srv.URL))
	resets := today.AddDate(0, 0, 1).Format("2006-01-02 15:04 MST")
	r := postMessage(t, srv.URL)
	mustRefuse(t, r, "daily", "spent $0.9905 of $1.00", "resets "+resets, "--daily USD or [budget] daily")
	if got := fake.hits.Load(); got != 1 {
		t.Errorf("upstream calls: got %v, want 1", got)
	}

	var refused []journal.Record
	if _, err := journal.ReadFile(path, func(r journal.Record) error {
		if r.Type == journal.TypeCall && r.Outcome == journal.OutcomeRefused && r.Session != "earlier-2" {
			refused = append(refused, r)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(refused) != 1 || refused[0].Refusal != "daily" || refused[0].Status != http.StatusTooManyRequests {
		t.Errorf("refused records: got %+v, want one daily refusal with status 429", refused)
	}
}

// TestDailyCapSeesOtherProcesses: two sessions share one journal, as two CostPlan
// processes on one machine do; each counts the other's completed calls before its
// next reservation.
func TestDailyCapSeesOtherProcesses(t *testing.T) {
	now, _ := windowClock(t)
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	appendCalls(t, path, journal.Record{TS: now, Session: "earlier", Cost: usd(t, "0.97")})
	fake := newFakeAnthropic(t, fakeMessage)
	_, first := openTestSession(t, windowConfig(t, path, fake.URL, core.Dollar, 0))
	_, second := openTestSession(t, windowConfig(t, path, fake.URL, core.Dollar, 0))

	mustSucceed(t, postMessage(t, first.URL))  // $0.9805 spent, $0.0195 left
	mustSucceed(t, postMessage(t, second.URL)) // $0.991 spent, $0.009 left
	// Had the first session not read the second's call from the journal, it would
	// see $0.0195 left, enough for another call.
	mustRefuse(t, postMessage(t, first.URL), "daily", "spent $0.991 of $1.00")
	mustRefuse(t, postMessage(t, second.URL), "daily", "spent $0.991 of $1.00")
	if got := fake.hits.Load(); got != 2 {
		t.Errorf("upstream calls: got %v, want 2", got)
	}
}

// TestDailyCapSeesDirectAppends: a call record another process appends between two
// calls counts before the next one.
func TestDailyCapSeesDirectAppends(t *testing.T) {
	now, _ := windowClock(t)
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	fake := newFakeAnthropic(t, fakeMessage)
	_, srv := openTestSession(t, windowConfig(t, path, fake.URL, usd(t, "0.05"), 0))

	mustSucceed(t, postMessage(t, srv.URL))
	appendCalls(t, path, journal.Record{TS: now, Session: "other-process", Cost: usd(t, "0.025")})
	// $0.0355 spent of $0.05: $0.0145 is less than the $0.01536 a call needs.
	mustRefuse(t, postMessage(t, srv.URL), "daily", "spent $0.0355 of $0.05")
}

// TestMonthlyCap: spend earlier this month counts against --monthly; last month's
// does not; the refusal says when the month resets.
func TestMonthlyCap(t *testing.T) {
	now, loc := windowClock(t)
	month := journal.StartOfMonth(now, loc)
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	appendCalls(t, path,
		journal.Record{TS: month.Add(-time.Second), Session: "last-month", Cost: 100 * core.Dollar},
		journal.Record{TS: month, Session: "first-of-month", Cost: usd(t, "9.5")},
		journal.Record{TS: now, Session: "today", Cost: usd(t, "0.48")},
	)
	fake := newFakeAnthropic(t, fakeMessage)
	_, srv := openTestSession(t, windowConfig(t, path, fake.URL, 0, 10*core.Dollar))

	mustSucceed(t, postMessage(t, srv.URL))
	resets := month.AddDate(0, 1, 0).Format("2006-01-02 15:04 MST")
	mustRefuse(t, postMessage(t, srv.URL), "monthly", "spent $9.9905 of $10.00", "resets "+resets, "--monthly USD or [budget] monthly")
}

// TestBudgetEndpointShowsWindows: GET /v1/budget reports each window's cap, spend,
// what is left and when it resets.
func TestBudgetEndpointShowsWindows(t *testing.T) {
	now, loc := windowClock(t)
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	month := journal.StartOfMonth(now, loc)
	today := journal.StartOfDay(now, loc)
	recs := []journal.Record{{TS: now, Session: "earlier", Cost: usd(t, "0.25")}}
	if month.Before(today) {
		recs = append(recs, journal.Record{TS: month, Session: "earlier", Cost: usd(t, "3")})
	}
	appendCalls(t, path, recs...)
	wantDay, wantMonth := usd(t, "0.25"), usd(t, "0.25")
	if month.Before(today) {
		wantMonth += 3 * core.Dollar
	}
	fake := newFakeAnthropic(t, fakeMessage)
	s, srv := openTestSession(t, windowConfig(t, path, fake.URL, 2*core.Dollar, 50*core.Dollar))
	mustSucceed(t, postMessage(t, srv.URL))
	wantDay += fakeCallCost
	wantMonth += fakeCallCost

	resp, err := srv.Client().Get(srv.URL + "/v1/budget")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Session string `json:"session"`
		Windows []struct {
			Name      string     `json:"name"`
			Cap       core.Money `json:"cap_usd"`
			Spent     core.Money `json:"spent_usd"`
			Remaining core.Money `json:"remaining_usd"`
			ResetsAt  string     `json:"resets_at"`
		} `json:"windows"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Session != s.id {
		t.Errorf("session: got %v, want %v", got.Session, s.id)
	}
	type window struct {
		name               string
		cap, spent, remain core.Money
		resets             string
	}
	want := []window{
		{"daily", 2 * core.Dollar, wantDay, 2*core.Dollar - wantDay, today.AddDate(0, 0, 1).Format(time.RFC3339)},
		{"monthly", 50 * core.Dollar, wantMonth, 50*core.Dollar - wantMonth, month.AddDate(0, 1, 0).Format(time.RFC3339)},
	}
	if len(got.Windows) != len(want) {
		t.Fatalf("windows: got %+v, want %+v", got.Windows, want)
	}
	for i, w := range want {
		g := got.Windows[i]
		if (window{g.Name, g.Cap, g.Spent, g.Remaining, g.ResetsAt}) != w {
			t.Errorf("window %d: got %+v, want %+v", i, g, w)
		}
	}
	if !strings.HasSuffix(got.Windows[0].ResetsAt, "+05:30") {
		t.Errorf("resets_at %v: want the offset of %s", got.Windows[0].ResetsAt, windowZone)
	}
}

// TestNoWindowsWithoutCaps: without --daily or --monthly the journal's spend does
// not limit a session, and /v1/budget lists no windows.
func TestNoWindowsWithoutCaps(t *testing.T) {
	now, _ := windowClock(t)
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	appendCalls(t, path, journal.Record{TS: now, Session: "big-spender", Cost: 1000 * core.Dollar})
	fake := newFakeAnthropic(t, fakeMessage)
	_, srv := openTestSession(t, windowConfig(t, path, fake.URL, 0, 0))
	mustSucceed(t, postMessage(t, srv.URL))
	resp, err := srv.Client().Get(srv.URL + "/v1/budget")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if w, ok := got["windows"]; ok {
		t.Errorf("windows: got %v, want none", w)
	}
}
