package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/mcpserver"
	"github.com/costplan/costplan/mcpserver/mcpservertest"
	"github.com/costplan/costplan/pricing"
	"github.com/costplan/costplan/wrap"
)

// Secrets that must never appear in a tool result.
const (
	mcpAPIKey     = "sk-ant-api03-mcp-test-secret"
	mcpAdminToken = "admin-token-mcp-test-secret"
)

// mcpEnv is an environment for the binary that touches no file of the user's and
// names no session unless kv sets one. (The stdio client adds it to this process's
// environment, so the variables that would point elsewhere are set empty.)
func mcpEnv(t *testing.T, kv ...string) []string {
	return binEnv(t, append([]string{"COSTPLAN_URL", "", "COSTPLAN_SESSION", "", "COSTPLAN_CONFIG", "",
		"COSTPLAN_JOURNAL", "", "COSTPLAN_ADMIN_TOKEN", ""}, kv...)...)
}

// mcpStdio starts the binary as an MCP server over stdio.
func mcpStdio(t *testing.T, bin string, env []string, args []string, opts ...client.ClientOption) (*client.Client, string) {
	t.Helper()
	c := client.NewClient(transport.NewStdio(bin, env, args...), opts...)
	return c, mcpservertest.Start(t, c)
}

// mcpCall calls a tool (mcpservertest.Call) and checks that its result reveals
// no secret; it returns the result text and whether it is a tool error.
func mcpCall(t *testing.T, c *client.Client, name string, args map[string]any) (string, bool) {
	t.Helper()
	text, isErr := mcpservertest.Call(t, c, name, args)
	for _, secret := range []string{mcpAPIKey, mcpAdminToken} {
		if strings.Contains(text, secret) {
			t.Errorf("%s reveals a secret: %s", name, text)
		}
	}
	return text, isErr
}

// mcpJSON calls a tool that must succeed and decodes its result into v.
func mcpJSON(t *testing.T, c *client.Client, name string, args map[string]any, v any) {
	t.Helper()
	text, isErr := mcpCall(t, c, name, args)
	if isErr {
		t.Fatalf("%s: tool error %s", name, text)
	}
	if err := json.Unmarshal([]byte(text), v); err != nil {
		t.Fatalf("%s: %v in %s", name, err, text)
	}
}

// TestMCPStdioOutsideSession runs `costplan mcp` with a configuration and a journal
// and no session: it reports the caps and the journal's spend of today.
func TestMCPStdioOutsideSession(t *testing.T) {
	bin := costplanBinary(t, false)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "costplan.toml")
	if err := os.WriteFile(cfgPath, []byte("[budget]\nsession = 3\nper_call = 0.5\ndaily = 2\nmonthly = 20\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	jpath := filepath.Join(dir, "journal.jsonl")
	w, err := journal.Open(jpath)
	if err != nil {
		t.Fatal(err)
	}
	rec := journal.Record{Type: journal.TypeCall, Session: "old1", Provider: "openai", Model: "gpt-4o", PriceModel: "gpt-4o",
		Outcome: journal.OutcomeOK, Usage: core.Usage{InputTokens: 100000, OutputTokens: 15000}, Cost: usd(t, "0.4")}
	if err := w.Append(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	w.Close()
	env := mcpEnv(t, "COSTPLAN_CONFIG", cfgPath, "COSTPLAN_JOURNAL", jpath)

	for _, v := range []struct {
		name string
		opts []client.ClientOption
		want string
	}{
		{"newest", nil, mcp.LATEST_PROTOCOL_VERSION},
		{"2025-06-18", []client.ClientOption{client.WithProtocolVersion(mcp.ProtocolVersion20250618)}, mcp.ProtocolVersion20250618},
	} {
		t.Run(v.name, func(t *testing.T) {
			c, got := mcpStdio(t, bin, env, []string{"mcp"}, v.opts...)
			if got != v.want {
				t.Fatalf("protocol: got %s, want %s", got, v.want)
			}
			mcpservertest.CheckTools(t, c)
			var st mcpserver.Status
			mcpJSON(t, c, "get_budget", nil, &st)
			if st.Source != mcpserver.SourceJournal || st.Snapshot.Session != usd(t, "3") || st.PerCall != usd(t, "0.5") ||
				*st.TodaySpent != usd(t, "0.4") || st.Available != usd(t, "1.6") || st.Binding != core.LimitDaily || len(st.Windows) != 2 {
				t.Errorf("get_budget: got %+v", st)
			}
			var p mcpserver.Prediction
			mcpJSON(t, c, "predict_cost", map[string]any{"model": "gpt-4o-mini", "prompt": "hello world", "max_output_tokens": 1000}, &p)
			// 2 tokens at $0.15/M, 1,000 at $0.60/M; the per-call cap is $0.50.
			if p.InputCost != usd(t, "0.0000003") || p.WorstTotal != usd(t, "0.0006003") || !*p.FitsPerCall || *p.PerCallCap != usd(t, "0.5") {
				t.Errorf("predict_cost: got %+v", p)
			}
			var r mcpserver.Recent
			mcpJSON(t, c, "recent_spend", nil, &r)
			if len(r.Calls) != 1 || r.Calls[0].Cost != usd(t, "0.4") || r.Calls[0].InputTokens != 100000 {
				t.Errorf("recent_spend: got %+v", r)
			}
			if text, isErr := mcpCall(t, c, "predict_cost", map[string]any{"model": "gpt-4o", "prompt": "x", "max_output_tokens": -3}); !isErr || !strings.Contains(text, "at least 1") {
				t.Errorf("invalid argument: got %v %q", isErr, text)
			}
		})
	}
}

// TestMCPStdioOnlyProtocol pipes requests into the binary and closes its input:
// every line on stdout is a JSON-RPC message, and every request is answered.
func TestMCPStdioOnlyProtocol(t *testing.T) {
	bin := costplanBinary(t, false)
	cmd := exec.Command(bin, "mcp")
	cmd.Env = mcpEnv(t, "COSTPLAN_BUDGET_SESSION", "2")
	cmd.Stdin = strings.NewReader(strings.Join([]string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"0"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_budget","arguments":{}}}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"recent_spend","arguments":{}}}`,
	}, "\n") + "\n")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	ids := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var msg struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Result  json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal([]byte(line), &msg); err != nil || msg.JSONRPC != "2.0" {
			t.Fatalf("stdout line is not JSON-RPC: %q", line)
		}
		ids[string(msg.ID)] = string(msg.Result)
	}
	if !strings.Contains(ids["2"], `\"session_usd\":2`) || !strings.Contains(ids["3"], `\"calls\":[]`) || strings.Contains(ids["2"]+ids["3"], "isError") {
		t.Errorf("results: %v (stderr %s)", ids, stderr.String())
	}
}

// mcpSession is a running session: a fake Anthropic upstream, the session's proxy
// on a loopback port, and the configuration behind it.
type mcpSession struct {
	s      *session
	cfg    *Config
	origin string
	up     *fakeAnthropic
}

func newMCPSession(t *testing.T) *mcpSession {
	t.Helper()
	up := newFakeAnthropic(t, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"hi"}],`+
		`"stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":20}}`)
	dir := t.TempDir()
	cfg := defaultConfig()
	cfg.Journal.Path = filepath.Join(dir, "journal.jsonl")
	cfg.Upstream.Anthropic = up.URL
	cfg.Budget.Session, cfg.Budget.PerCall = usd(t, "1"), usd(t, "0.5")
	cfg.Proxy.AdminToken = mcpAdminToken
	env := func(k string) string {
		if k == "XDG_DATA_HOME" || k == "HOME" {
			return dir
		}
		return ""
	}
	s, err := openSession(context.Background(), &cfg, env, io.Discard, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.handler)
	t.Cleanup(func() {
		ts.Close()
		_ = s.close(context.Background())
	})
	return &mcpSession{s: s, cfg: &cfg, origin: ts.URL, up: up}
}

// call makes one Anthropic call through the proxy: 10 input and 20 output tokens
// of claude-sonnet-4-5, $0.00033.
func (m *mcpSession) call(t *testing.T) {
	t.Helper()
	body := `{"model":"claude-sonnet-4-5","max_tokens":2000,"messages":[{"role":"user","content":"hi"}]}`
	req, _ := http.NewRequest(http.MethodPost, m.origin+"/v1/messages", strings.NewReader(body))
	req.Header.Set("X-Api-Key", mcpAPIKey)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("call: %d %s", resp.StatusCode, b)
	}
	if got := m.up.lastKey(); got != mcpAPIKey {
		t.Errorf("upstream: got key %q, want %q", got, mcpAPIKey)
	}
}

// spent checks what get_budget reports.
func (m *mcpSession) spent(t *testing.T, c *client.Client, calls int64, spent string) {
	t.Helper()
	var st mcpserver.Status
	mcpJSON(t, c, "get_budget", nil, &st)
	if st.Source != mcpserver.SourceSession || st.Session != m.s.id || st.Calls != calls || st.Spent != usd(t, spent) ||
		st.Remaining != usd(t, "1")-usd(t, spent) || st.PerCall != usd(t, "0.5") {
		t.Errorf("get_budget: got %+v, want %d calls and %s spent", st, calls, spent)
	}
}

// TestMCPStdioInsideSession runs `costplan mcp` the way exec --mcp has an agent
// start it, against a live session: the spend it reports follows the calls.
func TestMCPStdioInsideSession(t *testing.T) {
	bin := costplanBinary(t, false)
	m := newMCPSession(t)
	args := mcpServerArgs(m.cfg, m.origin, m.s.id)
	c, _ := mcpStdio(t, bin, mcpEnv(t), args)
	m.spent(t, c, 0, "0")
	m.call(t)
	m.spent(t, c, 1, "0.00033")
	m.call(t)
	m.spent(t, c, 2, "0.00066")
	var r mcpserver.Recent
	mcpJSON(t, c, "recent_spend", map[string]any{"session": m.s.id}, &r)
	if r.Returned != 2 || r.Total != usd(t, "0.00066") || r.Calls[1].OutputTokens != 20 || r.Calls[1].Model != "claude-sonnet-4-5" {
		t.Errorf("recent_spend: got %+v", r)
	}

	// The environment exec gives its child works as well as the arguments.
	c2, _ := mcpStdio(t, bin, mcpEnv(t, "COSTPLAN_URL", m.origin, "COSTPLAN_SESSION", m.s.id), []string{"mcp"})
	m.spent(t, c2, 2, "0.00066")
	// A session id that is not the proxy's is a tool error, not a crash.
	c3, _ := mcpStdio(t, bin, mcpEnv(t, "COSTPLAN_URL", m.origin, "COSTPLAN_SESSION", "another"), []string{"mcp"})
	if text, isErr := mcpCall(t, c3, "get_budget", nil); !isErr || !strings.Contains(text, "not \"another\"") {
		t.Errorf("wrong session: got %v %q", isErr, text)
	}
}

// TestMCPProxyHTTP talks to /mcp on a session's proxy.
func TestMCPProxyHTTP(t *testing.T) {
	m := newMCPSession(t)
	for _, v := range []struct {
		name string
		opts []client.ClientOption
		want string
	}{
		{"newest", nil, mcp.LATEST_PROTOCOL_VERSION},
		{"2025-06-18", []client.ClientOption{client.WithProtocolVersion(mcp.ProtocolVersion20250618)}, mcp.ProtocolVersion20250618},
	} {
		t.Run(v.name, func(t *testing.T) {
			tr, err := transport.NewStreamableHTTP(m.origin + "/mcp")
			if err != nil {
				t.Fatal(err)
			}
			c := client.NewClient(tr, v.opts...)
			if got := mcpservertest.Start(t, c); got != v.want {
				t.Fatalf("protocol: got %s, want %s", got, v.want)
			}
			mcpservertest.CheckTools(t, c)
			var before mcpserver.Status
			mcpJSON(t, c, "get_budget", nil, &before)
			m.call(t)
			m.spent(t, c, before.Calls+1, (before.Spent + usd(t, "0.00033")).Decimal())
			var p pricing.Quote
			mcpJSON(t, c, "get_pricing", map[string]any{"model": "anthropic/claude-sonnet-4-5"}, &p)
			if p.PriceModel != "claude-sonnet-4-5" || p.Prices.Output != usd(t, "15") {
				t.Errorf("get_pricing: got %+v", p)
			}
			if text, isErr := mcpCall(t, c, "get_pricing", map[string]any{"model": 42}); !isErr || !strings.Contains(text, "want a string") {
				t.Errorf("invalid argument: got %v %q", isErr, text)
			}
		})
	}
	// Nothing in the session changed but the spend: no tool resets or raises it.
	snap, _ := m.s.ledger.Snapshot(context.Background())
	if snap.Session != usd(t, "1") || snap.Calls != 2 || snap.Locked {
		t.Errorf("ledger: got %+v", snap)
	}
}

func TestMCPExecArgv(t *testing.T) {
	cfg := defaultConfig()
	cfg.Journal.Path = "/data/journal.jsonl"
	cfg.File = "costplan.toml"
	cwd, _ := os.Getwd()
	args := mcpServerArgs(&cfg, "http://127.0.0.1:4100", "abc123")
	wantArgs := []string{"mcp", "--proxy-url", "http://127.0.0.1:4100", "--session-id", "abc123",
		"--journal", "/data/journal.jsonl", "--config", filepath.Join(cwd, "costplan.toml")}
	if !slices.Equal(args, wantArgs) {
		t.Fatalf("server args: got %q, want %q", args, wantArgs)
	}
	const self = `/opt/cost plan/bin/costplan`

	t.Run("claude", func(t *testing.T) {
		got := mcpArgv(wrap.AgentClaude, []string{"claude", "fix the tests", "--model", "opus"}, self, args)
		if len(got) != 5 || got[0] != "claude" || !slices.Equal(got[2:], []string{"fix the tests", "--model", "opus"}) {
			t.Fatalf("argv: got %q", got)
		}
		inline, ok := strings.CutPrefix(got[1], "--mcp-config=")
		if !ok {
			t.Fatalf("argv[1]: got %q, want --mcp-config=JSON", got[1])
		}
		var conf struct {
			MCPServers map[string]struct {
				Command string   `json:"command"`
				Args    []string `json:"args"`
			} `json:"mcpServers"`
		}
		if err := json.Unmarshal([]byte(inline), &conf); err != nil {
			t.Fatal(err)
		}
		if s := conf.MCPServers["costplan"]; s.Command != self || !slices.Equal(s.Args, args) || len(conf.MCPServers) != 1 {
			t.Errorf("config: got %+v", conf)
		}
	})

	t.Run("codex", func(t *testing.T) {
		argv := wrap.InjectCodex([]string{"codex", "exec", "fix the tests"}, "http://127.0.0.1:4100/v1")
		got := mcpArgv(wrap.AgentCodex, argv, self, args)
		if len(got) != 9 || got[1] != "-c" || got[3] != "-c" || !slices.Equal(got[5:], argv[1:]) {
			t.Fatalf("argv: got %q", got)
		}
		var conf struct {
			MCPServers map[string]struct {
				Command string   `toml:"command"`
				Args    []string `toml:"args"`
			} `toml:"mcp_servers"`
		}
		// Each -c is key=TOML value; together they must read as this TOML.
		doc := ""
		for _, kv := range []string{got[2], got[4]} {
			k, v, _ := strings.Cut(kv, "=")
			doc += k + " = " + v + "\n"
		}
		if _, err := toml.Decode(doc, &conf); err != nil {
			t.Fatalf("%v in\n%s", err, doc)
		}
		if s := conf.MCPServers["costplan"]; s.Command != self || !slices.Equal(s.Args, args) {
			t.Errorf("config: got %+v from\n%s", conf, doc)
		}
	})

	t.Run("other commands", func(t *testing.T) {
		argv := []string{"make", "eval"}
		if got := mcpArgv(wrap.AgentNone, argv, self, args); !slices.Equal(got, argv) {
			t.Errorf("got %q", got)
		}
		if got := withMCP(io.Discard, wrap.AgentNone, argv, &cfg, "http://x", "s"); !slices.Equal(got, argv) {
			t.Errorf("got %q", got)
		}
	})
}

// TestMCPExecInsertsServer runs exec with a stand-in for claude that writes down
// its arguments: --mcp, or [exec] mcp = true, inserts the server; neither leaves
// them alone.
func TestMCPExecInsertsServer(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses a shell script")
	}
	dir := t.TempDir()
	claude := filepath.Join(dir, "claude")
	script := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$ARGS_FILE\"\n"
	if err := os.WriteFile(claude, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	withMCP := writeFile(t, dir, "mcp.toml", "[exec]\nmcp = true\n")
	tests := []struct {
		name    string
		args    []string
		wantMCP bool
	}{
		{"--mcp", []string{"exec", "--mcp"}, true},
		{"[exec] mcp = true", []string{"--config", withMCP, "exec"}, true},
		{"neither", []string{"exec"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argsFile := filepath.Join(t.TempDir(), "args")
			env := testEnv(t, "PATH", os.Getenv("PATH"), "ARGS_FILE", argsFile)
			_, stderr, code := runCLI(t, env, "", append(tt.args, "--quiet", "--session", "1", "--", claude, "-p", "hello")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			b, err := os.ReadFile(argsFile)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			if !tt.wantMCP {
				if !slices.Equal(got, []string{"-p", "hello"}) {
					t.Errorf("claude's arguments: got %q, want them unchanged", got)
				}
				return
			}
			if len(got) != 3 || !strings.HasPrefix(got[0], `--mcp-config={"mcpServers":{"costplan":{"args":["mcp","--proxy-url","http://127.0.0.1:`) ||
				!slices.Equal(got[1:], []string{"-p", "hello"}) {
				t.Errorf("claude's arguments: got %q", got)
			}
		})
	}
}

// TestMCPInspector checks the server with an independent client, the MCP
// Inspector's command line. It runs only when COSTPLAN_INSPECTOR is set: to the
// directory of an installed @modelcontextprotocol/inspector-cli package, or to 1 to
// fetch it with npx.
func TestMCPInspector(t *testing.T) {
	where := os.Getenv("COSTPLAN_INSPECTOR")
	if where == "" {
		t.Skip("set COSTPLAN_INSPECTOR to an inspector-cli package directory, or to 1 for npx")
	}
	bin := costplanBinary(t, false)
	dir := t.TempDir()
	jpath := filepath.Join(dir, "journal.jsonl")
	inspect := func(args ...string) string {
		t.Helper()
		// The inspector runs the server with an environment of its own; -e adds to it.
		full := append([]string{"-e", "COSTPLAN_JOURNAL=" + jpath, "-e", "COSTPLAN_BUDGET_SESSION=4", "-e", "XDG_CONFIG_HOME=" + dir,
			"-e", "XDG_DATA_HOME=" + dir, "--cli", bin, "mcp"}, args...)
		var cmd *exec.Cmd
		if where == "1" {
			cmd = exec.Command("npx", append([]string{"-y", "@modelcontextprotocol/inspector-cli"}, full...)...)
			// inspector-cli looks for ../package.json from its working directory.
			cmd.Dir = filepath.Join(dir, "cwd")
			_ = os.MkdirAll(cmd.Dir, 0o755)
			_ = os.WriteFile(filepath.Join(dir, "package.json"), []byte("{}"), 0o600)
		} else {
			cmd = exec.Command("node", append([]string{filepath.Join(where, "build", "cli.js")}, full...)...)
			cmd.Dir = filepath.Join(where, "build")
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("inspector %v: %v\n%s\n%s", args, err, out, stderr.String())
		}
		return string(out)
	}
	var list struct {
		Tools []struct {
			Name        string         `json:"name"`
			Annotations map[string]any `json:"annotations"`
		} `json:"tools"`
	}
	if err := json.Unmarshal([]byte(inspect("--method", "tools/list")), &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
		if tool.Annotations["readOnlyHint"] != true || tool.Annotations["destructiveHint"] != false {
			t.Errorf("%s: annotations %v", tool.Name, tool.Annotations)
		}
	}
	if got := strings.Join(names, " "); got != "get_budget get_pricing predict_cost recent_spend" {
		t.Errorf("tools: got %s", got)
	}
	var res struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	}
	if err := json.Unmarshal([]byte(inspect("--method", "tools/call", "--tool-name", "get_budget")), &res); err != nil {
		t.Fatal(err)
	}
	if res.IsError || len(res.Content) != 1 || !strings.Contains(res.Content[0].Text, `"session_usd":4,`) {
		t.Errorf("get_budget: got %+v", res)
	}
	sc := bufio.NewScanner(strings.NewReader(inspect("--method", "tools/call", "--tool-name", "predict_cost",
		"--tool-arg", "model=gpt-4o", "--tool-arg", "prompt=hello world", "--tool-arg", "max_output_tokens=100")))
	var all strings.Builder
	for sc.Scan() {
		all.WriteString(sc.Text())
	}
	if !strings.Contains(all.String(), `\"worst_total_usd\":0.001005`) {
		t.Errorf("predict_cost: got %s", all.String())
	}
}
