package mcpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/costplan/costplan/mcpserver"
	"github.com/costplan/costplan/mcpserver/mcpservertest"
)

// versions are the protocol generations a client may ask for: the newest
// (stateless, server/discover) and the initialize handshake of 2025-06-18.
var versions = []struct {
	name string
	opts []client.ClientOption
	want string
}{
	{"newest", nil, mcp.LATEST_PROTOCOL_VERSION},
	{"2025-06-18", []client.ClientOption{client.WithProtocolVersion(mcp.ProtocolVersion20250618)}, mcp.ProtocolVersion20250618},
}

func TestMCPProtocolVersionsInProcess(t *testing.T) {
	srv := newFixture(t).srv
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			c := client.NewClient(transport.NewInProcessTransport(srv.MCP()), v.opts...)
			if got := mcpservertest.Start(t, c); got != v.want {
				t.Fatalf("protocol: got %s, want %s", got, v.want)
			}
			var st mcpserver.Status
			mcpservertest.CallJSON(t, c, "get_budget", nil, &st)
			if st.Spent != usd(t, "0.05") {
				t.Errorf("spent: got %s", st.Spent)
			}
		})
	}
}

func TestMCPStreamableHTTP(t *testing.T) {
	srv := newFixture(t).srv
	mux := http.NewServeMux()
	mux.Handle("/mcp", srv.Handler())
	ts := httptest.NewServer(mux)
	defer ts.Close()
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			tr, err := transport.NewStreamableHTTP(ts.URL + "/mcp")
			if err != nil {
				t.Fatal(err)
			}
			c := client.NewClient(tr, v.opts...)
			if got := mcpservertest.Start(t, c); got != v.want {
				t.Fatalf("protocol: got %s, want %s", got, v.want)
			}
			mcpservertest.CheckTools(t, c)
			var st mcpserver.Status
			mcpservertest.CallJSON(t, c, "get_budget", nil, &st)
			if st.Available != usd(t, "0.17") || st.Session != "sess-live" {
				t.Errorf("get_budget: got %+v", st)
			}
			if text, isErr := mcpservertest.Call(t, c, "recent_spend", map[string]any{"limit": -1}); !isErr || !strings.Contains(text, "limit") {
				t.Errorf("recent_spend: got %v %q", isErr, text)
			}
		})
	}
}

func TestMCPHTTPRefusesForeignHost(t *testing.T) {
	ts := httptest.NewServer(newFixture(t).srv.Handler())
	defer ts.Close()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"0"}}}`
	for host, want := range map[string]int{"evil.example": http.StatusForbidden, "localhost": http.StatusOK} {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/mcp", strings.NewReader(body))
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: got %d, want %d", host, resp.StatusCode, want)
		}
	}
	// No standalone event stream holds a connection open.
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", mcp.ProtocolVersion20250618)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: got %d, want 405", resp.StatusCode)
	}
}

// slow is a Source that takes a while and gives up when its context ends.
type slow struct{ mcpserver.Source }

func (s slow) Status(ctx context.Context) (mcpserver.Status, error) {
	select {
	case <-time.After(200 * time.Millisecond):
		return s.Source.Status(ctx)
	case <-ctx.Done():
		return mcpserver.Status{}, ctx.Err()
	}
}

// TestMCPStdioAnswersBeforeEOF writes every request at once and closes the input,
// the last line without its newline: each request is still answered in full.
func TestMCPStdioAnswersBeforeEOF(t *testing.T) {
	f := newFixture(t)
	srv := mcpserver.New(mcpserver.Options{Source: slow{f.source}, Prices: f.prices})
	in := strings.Join([]string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"0"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_budget","arguments":{}}}`,
		`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"get_pricing","arguments":{"model":"gpt-4o"}}}`,
	}, "\n")
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.ServeStdio(ctx, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal([]byte(line), &msg); err != nil {
			t.Fatalf("stdout holds something other than protocol: %q", line)
		}
		seen[string(msg.ID)] = string(msg.Result)
	}
	for _, id := range []string{"1", "2", "3", "4"} {
		if seen[id] == "" || strings.Contains(seen[id], `"isError":true`) {
			t.Errorf("request %s: got %.300q", id, seen[id])
		}
	}
	if !strings.Contains(seen["3"], `\"spent_usd\":0.05`) || !strings.Contains(seen["4"], `\"price_model\":\"gpt-4o\"`) {
		t.Errorf("results: got %s and %s", seen["3"], seen["4"])
	}
}

func TestMCPProxySource(t *testing.T) {
	var status int
	var body string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/budget" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	defer ts.Close()
	live := `{"session":"s1","session_usd":2,"per_call_usd":0.5,"warn_at":0.8,"spent_usd":1.7,"reserved_usd":0.1,"remaining_usd":0.2,` +
		`"calls":4,"refused":1,"in_flight":1,"locked":false,"warned":true,"violations":0,"violation_usd":0,` +
		`"windows":[{"name":"monthly","cap_usd":30,"spent_usd":29.95,"remaining_usd":0.05,"resets_at":"2027-01-01T00:00:00+01:00"}]}`
	tests := []struct {
		name    string
		session string
		status  int
		body    string
		wantErr string
	}{
		{"live", "s1", http.StatusOK, live, ""},
		{"another session", "s2", http.StatusOK, live, `serves session "s1", not "s2"`},
		{"error status", "s1", http.StatusServiceUnavailable, `{"error":"costplan: the budget cannot be read"}`, "status 503: costplan: the budget cannot be read"},
		{"not a budget", "s1", http.StatusOK, `<html>`, "status 200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body = tt.status, tt.body
			src := &mcpserver.ProxySource{URL: ts.URL + "/", Session: tt.session}
			st, err := src.Status(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Source != mcpserver.SourceSession || st.Session != "s1" || st.Spent != usd(t, "1.7") || st.Calls != 4 || !st.Warned ||
				st.Available != usd(t, "0.05") || st.Binding != "monthly" || st.Windows[0].ResetsAt.Month() != time.January {
				t.Errorf("got %+v", st)
			}
		})
	}
	if _, err := (&mcpserver.ProxySource{URL: "http://127.0.0.1:1"}).Status(context.Background()); err == nil {
		t.Error("unreachable proxy: want an error")
	}
}
