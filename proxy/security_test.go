package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/tidwall/gjson"

	"github.com/costplan/costplan/journal"
)

// secEvil is a server a request might try to reach instead of the configured
// upstream; it counts what it receives.
type secEvil struct {
	srv  *httptest.Server
	hits atomic.Int64
}

func newSecEvil(t *testing.T) *secEvil {
	e := &secEvil{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		writeFixtureJSON(w, `{"evil":true}`)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *secEvil) host() string { return e.srv.Listener.Addr().String() }

// secHosts records the Host of every request the fake upstream receives.
type secHosts struct {
	mu    sync.Mutex // guards hosts
	hosts []string
}

func (h *secHosts) watch(u *upstream) {
	u.setRespond(func(w http.ResponseWriter, r *http.Request, body []byte) {
		h.mu.Lock()
		h.hosts = append(h.hosts, r.Host)
		h.mu.Unlock()
		u.defaultResponse(w, r, body)
	})
}

func (h *secHosts) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.hosts...)
}

// secRaw writes a raw HTTP/1.1 request to the proxy and reads the response.
func secRaw(t *testing.T, proxyURL, raw string) (*http.Response, string) {
	t.Helper()
	u, _ := url.Parse(proxyURL)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

const secMessagesBody = `{"model":"claude-sonnet-4-5","max_tokens":1000,"messages":[{"role":"user","content":"Hello there"}]}`

// TestSecurityUpstreamFixed: nothing in a request chooses where it goes. A Host
// header, an absolute-form request URI or forwarding headers naming another server
// still reach only the configured upstream.
func TestSecurityUpstreamFixed(t *testing.T) {
	evil := newSecEvil(t)
	p := newTestProxy(t)
	var hosts secHosts
	hosts.watch(p.up)
	upHost := p.up.srv.Listener.Addr().String()

	send := func(t *testing.T, method, path, body string, header map[string]string, host string) int {
		t.Helper()
		req, err := http.NewRequest(method, p.srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Api-Key", "sk-ant-sec")
		req.Header.Set("Anthropic-Version", "2023-06-01")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	routes := []struct{ method, path, body string }{
		{http.MethodPost, "/v1/messages", secMessagesBody},
		{http.MethodPost, "/v1/messages/count_tokens?beta=true", `{"model":"claude-sonnet-4-5","messages":[]}`},
		{http.MethodGet, "/v1/models", ""},
	}
	forwarding := map[string]string{
		"X-Forwarded-Host":  evil.host(),
		"X-Forwarded-Proto": "http",
		"X-Forwarded-For":   "203.0.113.7",
		"Forwarded":         "for=203.0.113.7;host=" + evil.host() + ";proto=http",
		"X-Forwarded-Port":  evil.srv.URL[strings.LastIndex(evil.srv.URL, ":")+1:],
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path+" Host header", func(t *testing.T) {
			if got := send(t, rt.method, rt.path, rt.body, nil, evil.host()); got != http.StatusOK {
				t.Errorf("got status %d, want 200 from the configured upstream", got)
			}
		})
		t.Run(rt.method+" "+rt.path+" forwarding headers", func(t *testing.T) {
			if got := send(t, rt.method, rt.path, rt.body, forwarding, "evil.example"); got != http.StatusOK {
				t.Errorf("got status %d, want 200 from the configured upstream", got)
			}
			last := p.up.seen()[len(p.up.seen())-1]
			for _, k := range []string{"X-Forwarded-Host", "Forwarded"} {
				if v := last.header.Get(k); strings.Contains(v, evil.host()) {
					t.Errorf("got %s %q passed upstream, want the client's value dropped", k, v)
				}
			}
		})
		t.Run(rt.method+" "+rt.path+" absolute-form URI", func(t *testing.T) {
			raw := fmt.Sprintf("%s http://%s%s HTTP/1.1\r\nHost: %s\r\nX-Api-Key: sk-ant-sec\r\nAnthropic-Version: 2023-06-01\r\n"+
				"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
				rt.method, evil.host(), rt.path, evil.host(), len(rt.body), rt.body)
			if resp, body := secRaw(t, p.srv.URL, raw); resp.StatusCode != http.StatusOK || strings.Contains(body, "evil") {
				t.Errorf("got %d %s, want 200 from the configured upstream", resp.StatusCode, body)
			}
		})
	}
	if n := evil.hits.Load(); n != 0 {
		t.Errorf("got %d requests at the other server, want 0", n)
	}
	want := 3 * len(routes)
	got := hosts.all()
	if len(got) != want {
		t.Errorf("got %d upstream requests, want %d", len(got), want)
	}
	for _, h := range got {
		if h != upHost {
			t.Errorf("got upstream Host %q, want %q", h, upHost)
		}
	}
}

// TestSecurityNoTunnels: upgrades and CONNECT are refused before anything leaves,
// so no unmetered connection can be tunnelled through the proxy.
func TestSecurityNoTunnels(t *testing.T) {
	evil := newSecEvil(t)
	p := newTestProxy(t)
	// An upstream that would accept the upgrade, so a tunnel would show.
	p.up.setRespond(func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Header.Get("Upgrade") != "" {
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "websocket")
			w.WriteHeader(http.StatusSwitchingProtocols)
			return
		}
		p.up.defaultResponse(w, r, body)
	})
	upgrade := "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	for _, tc := range []struct {
		name, raw string
		status    int
	}{
		{"websocket on GET /v1/models", "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Api-Key: sk-ant-sec\r\n" + upgrade + "\r\n", http.StatusNotFound},
		{"websocket on POST /v1/messages", fmt.Sprintf("POST /v1/messages HTTP/1.1\r\nHost: x\r\nX-Api-Key: sk-ant-sec\r\n%sContent-Length: %d\r\n\r\n%s",
			upgrade, len(secMessagesBody), secMessagesBody), http.StatusNotFound},
		{"websocket on GET /v1/responses", "GET /v1/responses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-sec\r\n" + upgrade + "\r\n", http.StatusUpgradeRequired},
		{"h2c upgrade on GET /v1/models", "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Api-Key: sk-ant-sec\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", http.StatusNotFound},
		{"CONNECT", fmt.Sprintf("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", evil.host(), evil.host()), http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := secRaw(t, p.srv.URL, tc.raw)
			if resp.StatusCode != tc.status || gjson.Get(body, "type").Str != "error" && gjson.Get(body, "error.message").Str == "" {
				t.Errorf("got %d %s, want %d with an error body", resp.StatusCode, body, tc.status)
			}
		})
	}
	if n := len(p.up.seen()); n != 0 {
		t.Errorf("got %d upstream requests, want 0", n)
	}
	if n := evil.hits.Load(); n != 0 {
		t.Errorf("got %d requests at the other server, want 0", n)
	}
	if n := len(p.rec.calls()); n != 0 {
		t.Errorf("got %d journaled calls, want 0", n)
	}
}

// TestSecurityBudgetReset: reset needs the configured admin token as a bearer token.
func TestSecurityBudgetReset(t *testing.T) {
	const token = "cp-admin-7f3e9a1c"
	spendAndLock := func(t *testing.T, p *testProxy) {
		t.Helper()
		c := anthropicClient(p)
		if _, err := c.Messages.New(context.Background(), helloParams(1000)); err != nil {
			t.Fatal(err)
		}
		if err := p.meter.Ledger.Lock(context.Background(), "test"); err != nil {
			t.Fatal(err)
		}
	}
	reset := func(t *testing.T, p *testProxy, method string, header map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, p.srv.URL+"/v1/budget/reset", nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, readAll(t, resp)
	}
	unchanged := func(t *testing.T, p *testProxy) {
		t.Helper()
		snap := faultSnapshot(t, p)
		if snap.Spent != fixtureAnthropicCost || !snap.Locked {
			t.Errorf("got spent %s, locked %v; want %s, true (not reset)", snap.Spent, snap.Locked, fixtureAnthropicCost)
		}
	}

	t.Run("disabled without a token", func(t *testing.T) {
		p := newTestProxy(t)
		spendAndLock(t, p)
		for _, h := range []map[string]string{nil, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}} {
			status, body := reset(t, p, http.MethodPost, h)
			if status != http.StatusForbidden || !strings.Contains(body, "--admin-token") || !strings.Contains(body, "COSTPLAN_ADMIN_TOKEN") {
				t.Errorf("got %d %s, want 403 saying how to enable reset", status, body)
			}
		}
		unchanged(t, p)
	})
	t.Run("wrong or missing token", func(t *testing.T) {
		p := newTestProxy(t)
		p.handler.AdminToken = token
		spendAndLock(t, p)
		for _, h := range []map[string]string{
			nil,
			{"Authorization": "Bearer wrong-token"},
			{"Authorization": "Bearer " + token + "x"},
			{"Authorization": "Bearer " + token[:len(token)-1]},
			{"Authorization": "Basic " + token},
			{"Authorization": token},
			{"X-Api-Key": token},
		} {
			status, body := reset(t, p, http.MethodPost, h)
			if status != http.StatusUnauthorized || !strings.Contains(body, "admin token") {
				t.Errorf("headers %v: got %d %s, want 401 asking for the admin token", h, status, body)
			}
		}
		if status, _ := reset(t, p, http.MethodGet, map[string]string{"Authorization": "Bearer " + token}); status != http.StatusMethodNotAllowed {
			t.Errorf("got %d for GET with the token, want 405", status)
		}
		unchanged(t, p)
	})
	t.Run("right token", func(t *testing.T) {
		p := newTestProxy(t)
		p.handler.AdminToken = token
		spendAndLock(t, p)
		status, body := reset(t, p, http.MethodPost, map[string]string{"Authorization": "Bearer " + token})
		if status != http.StatusOK || gjson.Get(body, "spent_usd").Raw != "0" || gjson.Get(body, "locked").Bool() {
			t.Errorf("got %d %s, want 200 with spent 0 and unlocked", status, body)
		}
		snap := faultSnapshot(t, p)
		if snap.Spent != 0 || snap.Locked {
			t.Errorf("got spent %s, locked %v; want 0, false", snap.Spent, snap.Locked)
		}
		// Calls flow again.
		c := anthropicClient(p)
		if _, err := c.Messages.New(context.Background(), helloParams(1000)); err != nil {
			t.Errorf("got %v after the reset, want the call to go through", err)
		}
	})
}

// secFlakyRecorder fails its next append when failNext is set.
type secFlakyRecorder struct {
	next     Recorder
	failNext atomic.Bool
}

func (r *secFlakyRecorder) Append(ctx context.Context, rec journal.Record) error {
	if r.failNext.CompareAndSwap(true, false) {
		return fmt.Errorf("journal: write: %w", syscall.ENOSPC)
	}
	return r.next.Append(ctx, rec)
}

// TestSecurityKeysNeverRecorded makes calls of every outcome with API keys in
// x-api-key and Authorization, then looks for the keys in the journal file and in
// everything the Meter and the Handler logged.
func TestSecurityKeysNeverRecorded(t *testing.T) {
	const (
		apiKey    = "sk-ant-api03-SECRETAPIKEY-a1b2c3d4e5f6"
		authToken = "sk-ant-oat01-SECRETAUTHTOKEN-f6e5d4c3b2a1"
	)
	p := newTestProxy(t, withFileJournal(t))
	var logs faultLog
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p.meter.Logger = logger
	p.handler.Logger = logger
	flaky := &secFlakyRecorder{next: p.meter.Recorder}
	p.meter.Recorder = flaky

	sdk := anthropicClient(p, option.WithAPIKey(apiKey), option.WithMaxRetries(0))
	bearer := anthropic.NewClient(option.WithBaseURL(p.srv.URL), option.WithAuthToken(authToken), option.WithMaxRetries(0))
	for _, c := range []anthropic.Client{sdk, bearer} {
		// ok, not streamed and streamed
		if _, err := c.Messages.New(context.Background(), helloParams(1000)); err != nil {
			t.Fatal(err)
		}
		st := c.Messages.NewStreaming(context.Background(), helloParams(1000))
		for st.Next() {
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		st.Close()
		// refused: unknown model
		params := helloParams(1000)
		params.Model = "acme-wizard-7"
		if _, err := c.Messages.New(context.Background(), params); err == nil {
			t.Fatal("got no error for an unknown model")
		}
	}
	// An upstream error that echoes the key it was sent.
	p.up.setRespond(func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = fmt.Fprintf(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key %s"}}`, r.Header.Get("X-Api-Key"))
	})
	if _, err := sdk.Messages.New(context.Background(), helloParams(1000)); err == nil {
		t.Fatal("got no error for a 401 from upstream")
	}
	// A response cut off mid-body: the Handler logs the upstream failure.
	p.up.setRespond(func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Length", "500")
		_, _ = io.WriteString(w, `{"id":"msg`)
		w.(http.Flusher).Flush()
		faultReset(t, w)
	})
	if _, err := bearer.Messages.New(context.Background(), helloParams(1000)); err == nil {
		t.Fatal("got no error for a response cut off")
	}
	p.up.setRespond(nil)
	// A call whose journal line fails (logged), then the refusal that follows it.
	flaky.failNext.Store(true)
	if _, err := sdk.Messages.New(context.Background(), helloParams(1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := bearer.Messages.New(context.Background(), helloParams(1000)); err == nil {
		t.Fatal("got no refusal after a failed journal append")
	}
	// Budget refusals.
	if err := p.meter.Ledger.Lock(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []anthropic.Client{sdk, bearer} {
		var apiErr *anthropic.Error
		if _, err := c.Messages.New(context.Background(), helloParams(1000)); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("got %v, want a 429 refusal", err)
		}
	}
	faultSnapshot(t, p)

	data, err := os.ReadFile(p.journal)
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]int{}
	for _, rec := range p.readJournal(t) {
		outcomes[rec.Outcome]++
	}
	// 4 ok + 2 unknown-model refusals + 1 upstream error + 1 aborted + the journal
	// probe refusal + 2 budget refusals; the call whose line failed is missing.
	want := map[string]int{journal.OutcomeOK: 4, journal.OutcomeRefused: 5, journal.OutcomeUpstreamError: 1, journal.OutcomeAborted: 1}
	if fmt.Sprint(outcomes) != fmt.Sprint(want) {
		t.Errorf("got journal outcomes %v, want %v", outcomes, want)
	}
	log := logs.String()
	for _, want := range []string{"journal append failed", "upstream"} {
		if !strings.Contains(log, want) {
			t.Errorf("got log %q, want it to contain %q", log, want)
		}
	}
	for _, secret := range []string{apiKey, authToken, "SECRETAPIKEY", "SECRETAUTHTOKEN", apiKey[len(apiKey)-20:], authToken[len(authToken)-20:]} {
		if strings.Contains(string(data), secret) {
			t.Errorf("got %q in the journal, want no API key there", secret)
		}
		if strings.Contains(log, secret) {
			t.Errorf("got %q in the log, want no API key there", secret)
		}
	}
	if snap := faultSnapshot(t, p); snap.Reserved != 0 || snap.InFlight != 0 {
		t.Errorf("got reserved %s, in flight %d; want 0, 0", snap.Reserved, snap.InFlight)
	}
}
