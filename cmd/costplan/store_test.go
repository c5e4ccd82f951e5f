package main

// Tests of budgets shared through Redis: the [store] configuration and flags
// in-process, then CostPlan processes (the built binary) sharing one budget on a
// redis-server that the tests start on a free port (skipped when it is not
// installed).

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/internal/redistest"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/redisstore"
)

func TestStoreConfig(t *testing.T) {
	dir := t.TempDir()
	t.Run("defaults", func(t *testing.T) {
		cfg, err := loadConfig("", envFunc(testEnv(t)))
		if err != nil {
			t.Fatal(err)
		}
		if want := defaultStore(); cfg.Store != want {
			t.Errorf("got %+v, want %+v", cfg.Store, want)
		}
		if cfg.Store.shared() {
			t.Errorf("shared: got true, want an in-memory budget by default")
		}
	})
	t.Run("file, env and flags", func(t *testing.T) {
		path := writeFile(t, dir, "store.toml", "[store]\nurl = \"redis://file:6379/0\"\nbudget_key = \"from-file\"\nfail = \"open\"\nlease = \"5s\"\n")
		cfg, err := loadConfig(path, envFunc(testEnv(t)))
		if err != nil {
			t.Fatal(err)
		}
		want := StoreConfig{URL: "redis://file:6379/0", BudgetKey: "from-file", Fail: "open", Lease: duration(5 * time.Second)}
		if cfg.Store != want {
			t.Errorf("file: got %+v, want %+v", cfg.Store, want)
		}
		cfg, err = loadConfig(path, envFunc(testEnv(t, "COSTPLAN_STORE", "redis://env:6379/1")))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Store.URL != "redis://env:6379/1" {
			t.Errorf("env: got %q, want the variable's", cfg.Store.URL)
		}
		StoreFlags{Store: "rediss://flag:6380/2", BudgetKey: "from-flag", StoreFail: "closed"}.apply(cfg)
		if want := (StoreConfig{URL: "rediss://flag:6380/2", BudgetKey: "from-flag", Fail: "closed", Lease: duration(5 * time.Second)}); cfg.Store != want {
			t.Errorf("flags: got %+v, want %+v", cfg.Store, want)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})
	bad := []struct {
		name  string
		store StoreConfig
		want  string
	}{
		{"scheme", StoreConfig{URL: "memcache://x:1", Fail: "closed", Lease: duration(time.Minute)}, "want memory, redis://"},
		{"url", StoreConfig{URL: "redis://:pw@x:1/notanumber", Fail: "closed", Lease: duration(time.Minute)}, "store URL"},
		{"fail", StoreConfig{URL: "memory", Fail: "maybe", Lease: duration(time.Minute)}, "store-fail must be closed or open"},
		{"lease", StoreConfig{URL: "memory", Fail: "open", Lease: duration(time.Millisecond)}, "lease must be between"},
		{"key", StoreConfig{URL: "redis://x:1/0", BudgetKey: "a{b}", Fail: "open", Lease: duration(time.Minute)}, "budget key"},
	}
	for _, tt := range bad {
		t.Run("invalid "+tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.Store = tt.store
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: got %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), ":pw@") {
				t.Errorf("Validate: got %q, which shows the password", err)
			}
		})
	}
	t.Run("unknown key", func(t *testing.T) {
		path := writeFile(t, dir, "unknown.toml", "[store]\nadress = \"redis://x:1/0\"\n")
		_, err := loadConfig(path, envFunc(testEnv(t)))
		if err == nil || !strings.Contains(err.Error(), "keys of [store]: url, budget_key, fail, lease") {
			t.Errorf("got %v, want the keys of [store]", err)
		}
	})
	t.Run("command line", func(t *testing.T) {
		_, stderr, code := runCLI(t, testEnv(t), "", "proxy", "--store", "memcache://x:1")
		if code != exitUsage || !strings.Contains(stderr, "want memory, redis://") {
			t.Errorf("proxy --store memcache://: got %d %q, want 2 and the forms of a store", code, stderr)
		}
		_, stderr, code = runCLI(t, testEnv(t), "", "budget", "show")
		if code != exitUsage || !strings.Contains(stderr, "--store redis://") {
			t.Errorf("budget show without a store: got %d %q, want 2 and how to name it", code, stderr)
		}
		_, stderr, code = runCLI(t, testEnv(t), "", "budget", "show", "--store", "redis://127.0.0.1:1/0")
		if code != exitUsage || !strings.Contains(stderr, "--budget-key") {
			t.Errorf("budget show without a key: got %d %q, want 2 and how to name it", code, stderr)
		}
		_, stderr, code = runCLI(t, testEnv(t), "", "budget", "reset", "--store", "redis://127.0.0.1:1/0", "--budget-key", "k")
		if code != exitUsage || !strings.Contains(stderr, "admin token") {
			t.Errorf("budget reset without a token: got %d %q, want 2 and the admin token", code, stderr)
		}
		_, stderr, code = runCLI(t, testEnv(t), "", "budget", "show", "--store", "redis://127.0.0.1:1/0", "--budget-key", "k")
		if code != exitFailure || !strings.Contains(stderr, "budget store redis://127.0.0.1:1/0 (budget key k) is unavailable") {
			t.Errorf("budget show with nothing listening: got %d %q, want 1 and the store named", code, stderr)
		}
	})
}

// storeProc is one costplan process of a shared-budget test.
type storeProc struct {
	*execRun
	origin  string
	journal string
}

// startStoreProxy starts `costplan proxy --port 0` with args and waits until it
// listens.
func startStoreProxy(t *testing.T, bin string, env []string, args ...string) *storeProc {
	t.Helper()
	p := &storeProc{journal: filepath.Join(t.TempDir(), "journal.jsonl")}
	p.execRun, p.origin = startBinaryProxy(t, bin, env, append([]string{"--journal", p.journal}, args...)...)
	return p
}

// storePrompt is long enough that its input estimate covers the 1000 input tokens
// the fake upstream reports, so that no call costs more than it reserved.
var storePrompt = strings.Repeat("hello ", 1500)

// call sends one Messages call and returns the status and body; status 0 and the
// error when the call could not be made.
func (p *storeProc) call() (int, string) {
	body := fmt.Sprintf(`{"model":%q,"max_tokens":2000,"messages":[{"role":"user","content":%q}]}`, execModel, storePrompt)
	resp, err := http.Post(p.origin+"/v1/messages", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(b)
}

// storeView runs `costplan budget show --json`.
func storeView(t *testing.T, bin string, env []string, url, key string) budgetView {
	t.Helper()
	code, stdout, stderr := execCode(t, bin, env, "budget", "show", "--json", "--store", url, "--budget-key", key)
	if code != 0 {
		t.Fatalf("costplan budget show: exit %d\n%s", code, stderr)
	}
	var v budgetView
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatalf("budget show --json: %v\n%s", err, stdout)
	}
	return v
}

// TestSharedBudget runs CostPlan processes against one budget on a real Redis.
func TestSharedBudget(t *testing.T) {
	srv := redistest.Start(t)
	bin := costplanBinary(t, false)
	env := binEnv(t)
	cost := execMessageCost(t) // $0.011 a call
	fake := newFakeAnthropic(t, execMessage)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	// No partial grants: the fake answers 2000 output tokens whatever the limit.
	common := []string{"--store", srv.URL(), "--anthropic-upstream", fake.URL, "--per-call", "0", "--min-output-tokens", "2000"}

	t.Run("four proxies, one budget", func(t *testing.T) {
		const key, calls = "four", 400
		var procs []*storeProc
		for range 4 {
			procs = append(procs, startStoreProxy(t, bin, env, append(common, "--budget-key", key, "--session", "1")...))
		}
		before := fake.hits.Load()
		var mu sync.Mutex
		statuses := map[int]int{}
		var wg sync.WaitGroup
		for i := range calls {
			wg.Go(func() {
				code, body := procs[i%4].call()
				mu.Lock()
				statuses[code]++
				mu.Unlock()
				if code != http.StatusOK && code != http.StatusTooManyRequests {
					t.Errorf("call %d: got %d %s, want 200 or 429", i, code, body)
				}
			})
		}
		wg.Wait()
		ok := statuses[http.StatusOK]
		v := storeView(t, bin, env, srv.URL(), key)
		t.Logf("%d calls over 4 processes: %v; spent %s of %s", calls, statuses, v.Spent, v.Session)
		if v.Spent != core.Money(ok)*cost || v.Spent > v.Session || v.Calls != int64(ok) {
			t.Errorf("settled: got %s in %d calls, want %d calls of %s, at most %s", v.Spent, v.Calls, ok, cost, v.Session)
		}
		if got := fake.hits.Load() - before; got != int64(ok) {
			t.Errorf("upstream calls: got %d, want %d (one per settled call)", got, ok)
		}
		if ok == 0 || statuses[http.StatusTooManyRequests] != calls-ok {
			t.Errorf("statuses: got %v, want some granted and the rest refused", statuses)
		}
		if v.Reserved != 0 || v.InFlight != 0 {
			t.Errorf("left behind: got %s held by %d calls, want none", v.Reserved, v.InFlight)
		}
		// Each proxy's /v1/budget reports the shared state.
		for i, p := range procs {
			resp, err := http.Get(p.origin + "/v1/budget")
			if err != nil {
				t.Fatal(err)
			}
			var got core.Snapshot
			err = json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if err != nil || got.Spent != v.Spent || got.Calls != v.Calls || got.Refused != v.Refused {
				t.Errorf("process %d: /v1/budget: got %+v, %v, want the shared %+v", i, got, err, v.Snapshot)
			}
		}
		for _, k := range []string{"holds", "leases"} {
			if n, _ := rdb.Exists(t.Context(), "costplan:{"+key+"}:"+k).Result(); n != 0 {
				t.Errorf("key %s: got it, want it gone with the last reservation", k)
			}
		}
		// Spend what is left until a refusal locks the budget; then every process
		// refuses, saying so.
		for i := 0; ; i++ {
			code, body := procs[i%4].call()
			if code == http.StatusTooManyRequests {
				break
			}
			if code != http.StatusOK || i > 100 {
				t.Fatalf("spending the rest: got %d %s after %d calls", code, body, i)
			}
		}
		if v := storeView(t, bin, env, srv.URL(), key); !v.Locked || v.Spent > v.Session {
			t.Fatalf("after spending the rest: got %+v, want locked at most at the cap", v.Snapshot)
		}
		for i, p := range procs {
			if code, body := p.call(); code != http.StatusTooManyRequests || !strings.Contains(body, "locked") {
				t.Errorf("process %d after the lock: got %d %s, want 429 saying the budget is locked", i, code, body)
			}
		}
		var journaled core.Money
		for _, p := range procs {
			p.stop(syscall.SIGTERM)
			for _, r := range execRecords(t, p.journal) {
				if r.BudgetKey != key {
					t.Errorf("journal record %+v: budget key %q, want %q", r, r.BudgetKey, key)
				}
				if r.Type == journal.TypeCall {
					journaled += r.Cost
				}
			}
		}
		if v := storeView(t, bin, env, srv.URL(), key); journaled != v.Spent {
			t.Errorf("journals: got %s spent in all, want the shared %s", journaled, v.Spent)
		}
	})

	t.Run("killed with calls in flight", func(t *testing.T) {
		const key = "killed"
		release := make(chan struct{})
		var held sync.WaitGroup
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(func() { close(release); slow.Close() })
		cfg := writeFile(t, t.TempDir(), "costplan.toml", "[store]\nlease = \"2s\"\n")
		p := startStoreProxy(t, bin, env, "--config", cfg, "--store", srv.URL(), "--budget-key", key,
			"--session", "1", "--anthropic-upstream", slow.URL)
		for range 5 {
			held.Go(func() { p.call() })
		}
		deadline := time.Now().Add(10 * time.Second)
		for storeView(t, bin, env, srv.URL(), key).InFlight < 5 {
			if time.Now().After(deadline) {
				t.Fatal("the 5 calls were not reserved within 10s")
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		killed := time.Now()
		for {
			v := storeView(t, bin, env, srv.URL(), key)
			if v.InFlight == 0 && v.Reserved == 0 && v.Remaining == v.Session {
				t.Logf("the budget returned %v after the kill (lease 2s)", time.Since(killed).Round(10*time.Millisecond))
				break
			}
			if time.Since(killed) > 8*time.Second {
				t.Fatalf("8s after the kill: got %+v, want the reservations reclaimed", v.Snapshot)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := rdb.HGet(t.Context(), "costplan:{"+key+"}:state", "reclaimed").Val(); n != "5" {
			t.Errorf("reclaimed: got %q, want 5", n)
		}
		held.Wait()
	})

	t.Run("exec stops when another process locks", func(t *testing.T) {
		const key = "exec"
		r := execStart(t, bin, env, "exec", "--store", srv.URL(), "--budget-key", key, "--session", "1", "--", "sleep", "30")
		deadline := time.Now().Add(execTimeout)
		for storeView(t, bin, env, srv.URL(), key).Session == 0 { // exec registers its caps when it starts
			if time.Now().After(deadline) {
				t.Fatalf("exec did not open the shared budget\n%s", r.stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // exec subscribes to the ledger after opening it
		st, err := redisstore.Open(t.Context(), redisstore.Options{URL: srv.URL(), Key: key, Caps: core.Caps{Session: core.Dollar}})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close(t.Context())
		locked := time.Now()
		if err := st.Ledger().Lock(t.Context(), "stopped from another machine"); err != nil {
			t.Fatal(err)
		}
		code := r.wait()
		t.Logf("exec stopped its child %v after the lock", time.Since(locked).Round(time.Millisecond))
		if code != exitBudgetStop || !strings.Contains(r.stderr.String(), "stopped from another machine") {
			t.Errorf("exec: got exit %d\n%s\nwant %d and the lock's reason", code, r.stderr.String(), exitBudgetStop)
		}
		if d := time.Since(locked); d > 5*time.Second {
			t.Errorf("exec stopped %v after the lock, want within a few seconds", d)
		}
	})

	t.Run("budget show and reset", func(t *testing.T) {
		code, stdout, stderr := execCode(t, bin, env, "budget", "show", "--store", srv.URL(), "--budget-key", "four")
		for _, want := range []string{"budget key  four", "$1.00 per session", "state       locked: "} {
			if code != 0 || !strings.Contains(stdout, want) {
				t.Errorf("budget show: got %d\n%s%s\nwant it to contain %q", code, stdout, stderr, want)
			}
		}
		reset := func(token string) (int, string) {
			code, stdout, stderr := execCode(t, bin, append(env, "COSTPLAN_ADMIN_TOKEN="+token), "budget", "reset",
				"--store", srv.URL(), "--budget-key", "four")
			return code, stdout + stderr
		}
		if code, out := reset("first"); code != 0 || !strings.Contains(out, "state       open") || !strings.Contains(out, "$0.00 in 0 calls") {
			t.Errorf("reset: got %d\n%s\nwant the budget unlocked and empty", code, out)
		}
		if code, out := reset("other"); code != exitFailure || !strings.Contains(out, "admin token is not the one registered") {
			t.Errorf("reset with another token: got %d\n%s\nwant a refusal", code, out)
		}
	})

	t.Run("run", func(t *testing.T) {
		u := newRunUpstream(t)
		env := runEnv(t, "sk-ant-test", "")
		for i := 1; i <= 2; i++ {
			stdout, stderr, code := runCLI(t, env, "", "run", "Say hello.", "--model", "claude-sonnet-4-5", "--base-url", u.srv.URL,
				"--session", "1", "--store", srv.URL(), "--budget-key", "run", "--json")
			var got runJSON
			if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil {
				t.Fatalf("costplan run: exit %d\n%s%s", code, stdout, stderr)
			}
			if want := core.Dollar - core.Money(i)*runAnthropicCost; got.Remaining != want {
				t.Errorf("run %d: remaining %s, want %s (the shared budget's)", i, got.Remaining, want)
			}
		}
		if v := storeView(t, bin, binEnv(t), srv.URL(), "run"); v.Spent != 2*runAnthropicCost || v.Calls != 2 {
			t.Errorf("shared budget after two runs: got %s in %d calls, want %s in 2", v.Spent, v.Calls, 2*runAnthropicCost)
		}

		// Without --budget-key the shared budget is named by the run's session id,
		// as under exec and proxy: the journal's call record can find it.
		// --warn-at warns from the shared budget.
		env = runEnv(t, "sk-ant-test", "")
		stdout, stderr, code := runCLI(t, env, "", "run", "Say hello.", "--model", "claude-sonnet-4-5", "--base-url", u.srv.URL,
			"--session", "1", "--warn-at", "0.001", "--store", srv.URL(), "--json")
		if code != 0 {
			t.Fatalf("costplan run: exit %d\n%s%s", code, stdout, stderr)
		}
		if want := "costplan: warning: spent $0.002286 of the $1.00 session budget (0%)\n"; stderr != want {
			t.Errorf("stderr: got %q, want %q", stderr, want)
		}
		recs := execRecords(t, filepath.Join(env["XDG_DATA_HOME"], "costplan", "journal.jsonl"))
		if len(recs) != 1 || recs[0].BudgetKey != recs[0].Session {
			t.Fatalf("journal: got %+v, want one call whose budget key is its session id", recs)
		}
		if v := storeView(t, bin, binEnv(t), srv.URL(), recs[0].Session); v.Spent != runAnthropicCost || v.Calls != 1 {
			t.Errorf("shared budget %s: got %s in %d calls, want %s in 1", recs[0].Session, v.Spent, v.Calls, runAnthropicCost)
		}
	})

	t.Run("redis stopped mid-run", func(t *testing.T) {
		p := startStoreProxy(t, bin, env, append(common, "--budget-key", "outage", "--session", "1")...)
		if code, body := p.call(); code != http.StatusOK {
			t.Fatalf("call before the outage: got %d %s", code, body)
		}
		stopped := time.Now()
		srv.Stop()
		t.Logf("redis-server stopped in %v", time.Since(stopped).Round(time.Millisecond))
		code, body := p.call()
		if want := "budget store " + srv.URL() + " (budget key outage) is unavailable"; code != http.StatusServiceUnavailable || !strings.Contains(body, want) {
			t.Errorf("call with Redis stopped: got %d %s, want 503 saying %q", code, body, want)
		}
		restarted := time.Now()
		srv.Restart()
		t.Logf("redis-server restarted in %v", time.Since(restarted).Round(time.Millisecond))
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, body := p.call()
			if code == http.StatusOK {
				t.Logf("calls pass again %v after the restart", time.Since(restarted).Round(time.Millisecond))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("10s after the restart: got %d %s, want calls to pass again", code, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		p.stop(syscall.SIGTERM)
		if v := storeView(t, bin, env, srv.URL(), "outage"); v.Calls != 2 || v.InFlight != 0 {
			t.Errorf("after the restart: got %d calls, %d in flight, want 2 and none", v.Calls, v.InFlight)
		}
	})
}
