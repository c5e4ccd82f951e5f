package wrap

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Agent names a coding agent whose command line needs adapting to run
// behind a local proxy.
type Agent string

// The agents. The empty Agent means AgentAuto.
const (
	// AgentAuto detects the agent from the command; see DetectAgent.
	AgentAuto Agent = "auto"
	// AgentClaude is Claude Code. It honours ANTHROPIC_BASE_URL, so its
	// command line is left alone.
	AgentClaude Agent = "claude"
	// AgentCodex is the Codex CLI. It ignores OPENAI_BASE_URL; see InjectCodex.
	AgentCodex Agent = "codex"
	// AgentNone is any other command: only its environment is set.
	AgentNone Agent = "none"
)

// ParseAgent parses "auto", "claude", "codex" or "none". The empty string is
// AgentAuto.
func ParseAgent(s string) (Agent, error) {
	switch a := Agent(s); a {
	case "", AgentAuto:
		return AgentAuto, nil
	case AgentClaude, AgentCodex, AgentNone:
		return a, nil
	}
	return "", fmt.Errorf("agent %q: want auto, claude, codex or none", s)
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseAgent, for
// flags and configuration files.
func (a *Agent) UnmarshalText(text []byte) error {
	v, err := ParseAgent(string(text))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// String returns the agent's name; the empty agent is "auto".
func (a Agent) String() string {
	if a == "" {
		return string(AgentAuto)
	}
	return string(a)
}

// Resolve returns a itself, or the agent DetectAgent finds in argv when a is
// AgentAuto or empty.
func (a Agent) Resolve(argv []string) Agent {
	if a == "" || a == AgentAuto {
		return DetectAgent(argv)
	}
	return a
}

// DetectAgent recognises the agent by the base name of argv[0]: "claude" is
// AgentClaude, "codex" is AgentCodex, anything else (or an empty argv) is
// AgentNone.
func DetectAgent(argv []string) Agent {
	if len(argv) == 0 {
		return AgentNone
	}
	switch filepath.Base(argv[0]) {
	case "claude":
		return AgentClaude
	case "codex":
		return AgentCodex
	}
	return AgentNone
}

// InjectCodex returns argv with `-c openai_base_url="URL"` inserted right
// after argv[0], the way the Codex CLI takes its OpenAI base URL (it ignores
// OPENAI_BASE_URL). The value is a TOML string, as -c expects. argv is not
// modified; an empty argv is returned as it is.
func InjectCodex(argv []string, openaiBaseURL string) []string {
	return InsertArgs(argv, "-c", "openai_base_url="+tomlString(openaiBaseURL))
}

// InsertArgs returns a new slice with args inserted right after argv[0],
// for options that must come before the command's own arguments. argv is
// not modified; an empty argv is returned as it is.
func InsertArgs(argv []string, args ...string) []string {
	if len(argv) == 0 {
		return argv
	}
	out := make([]string, 0, len(argv)+len(args))
	out = append(out, argv[0])
	out = append(out, args...)
	return append(out, argv[1:]...)
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
