package wrap

import (
	"slices"
	"testing"
)

func TestDetectAgent(t *testing.T) {
	tests := []struct {
		argv []string
		want Agent
	}{
		{[]string{"claude"}, AgentClaude},
		{[]string{"/usr/local/bin/claude", "-p", "hi"}, AgentClaude},
		{[]string{"codex", "exec", "x"}, AgentCodex},
		{[]string{"/home/u/.npm/bin/codex"}, AgentCodex},
		{[]string{"make", "eval"}, AgentNone},
		{[]string{"claude-code"}, AgentNone},
		{nil, AgentNone},
	}
	for _, tt := range tests {
		if got := DetectAgent(tt.argv); got != tt.want {
			t.Errorf("DetectAgent(%q): got %v, want %v", tt.argv, got, tt.want)
		}
	}
}

func TestParseAgent(t *testing.T) {
	for in, want := range map[string]Agent{"": AgentAuto, "auto": AgentAuto, "claude": AgentClaude, "codex": AgentCodex, "none": AgentNone} {
		got, err := ParseAgent(in)
		if err != nil || got != want {
			t.Errorf("ParseAgent(%q): got %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseAgent("gemini"); err == nil {
		t.Error(`ParseAgent("gemini"): got nil error`)
	}
	var a Agent
	if err := a.UnmarshalText([]byte("codex")); err != nil || a != AgentCodex {
		t.Errorf("UnmarshalText: got %v, %v; want codex", a, err)
	}
	if err := a.UnmarshalText([]byte("x")); err == nil {
		t.Error("UnmarshalText(x): got nil error")
	}
}

func TestAgentResolve(t *testing.T) {
	codex := []string{"codex"}
	tests := []struct {
		a    Agent
		want Agent
	}{
		{"", AgentCodex}, {AgentAuto, AgentCodex}, {AgentNone, AgentNone}, {AgentClaude, AgentClaude},
	}
	for _, tt := range tests {
		if got := tt.a.Resolve(codex); got != tt.want {
			t.Errorf("%q.Resolve(codex): got %v, want %v", tt.a, got, tt.want)
		}
	}
}

func TestInjectCodex(t *testing.T) {
	argv := []string{"codex", "exec", "fix the tests"}
	got := InjectCodex(argv, "http://127.0.0.1:4321/v1")
	want := []string{"codex", "-c", `openai_base_url="http://127.0.0.1:4321/v1"`, "exec", "fix the tests"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if !slices.Equal(argv, []string{"codex", "exec", "fix the tests"}) {
		t.Errorf("argv modified: %q", argv)
	}
	if got := InjectCodex([]string{"codex"}, `a"b\c`); got[2] != `openai_base_url="a\"b\\c"` {
		t.Errorf("quoting: got %s", got[2])
	}
	if got := InjectCodex(nil, "http://x"); len(got) != 0 {
		t.Errorf("empty argv: got %q", got)
	}
}

func TestInsertArgs(t *testing.T) {
	argv := make([]string, 2, 10) // spare capacity must not be written through
	argv[0], argv[1] = "claude", "-p"
	got := InsertArgs(argv, "--mcp-config", "/tmp/mcp.json")
	if want := []string{"claude", "--mcp-config", "/tmp/mcp.json", "-p"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if argv[1] != "-p" || argv[:3][2] != "" {
		t.Errorf("argv modified: %q", argv[:3])
	}
}

func TestParsePTYMode(t *testing.T) {
	for in, want := range map[string]PTYMode{"": PTYAuto, "auto": PTYAuto, "always": PTYAlways, "never": PTYNever} {
		got, err := ParsePTYMode(in)
		if err != nil || got != want {
			t.Errorf("ParsePTYMode(%q): got %v, %v; want %v", in, got, err, want)
		}
	}
	var m PTYMode
	if err := m.UnmarshalText([]byte("sometimes")); err == nil {
		t.Error("UnmarshalText(sometimes): got nil error")
	}
	if m.String() != "auto" {
		t.Errorf("zero PTYMode: got %q, want auto", m.String())
	}
}
