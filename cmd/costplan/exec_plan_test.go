package main

import "testing"

// TestExecUpstreamChain checks which upstream exec uses: a named upstream (flag,
// variable or file), even one equal to the default, wins over the parent's base URL;
// an unnamed one follows the parent's base URL so that exec chains in front of it.
func TestExecUpstreamChain(t *testing.T) {
	parent := map[string]string{"ANTHROPIC_BASE_URL": "http://gateway.internal", "OPENAI_BASE_URL": "http://gateway.internal/v1"}
	for _, tt := range []struct {
		name          string
		flags         UpstreamFlags
		wantAnthropic string
		wantOpenAI    string
	}{
		{"unnamed: the parent's", UpstreamFlags{}, "http://gateway.internal", "http://gateway.internal/v1"},
		{"the public API named on the command line", UpstreamFlags{AnthropicUpstream: defaultAnthropicUpstream},
			defaultAnthropicUpstream, "http://gateway.internal/v1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			cmd := ExecCmd{UpstreamFlags: tt.flags, Cmd: []string{"--", "true"}}
			cmd.apply(&cfg)
			if _, err := cmd.plan(&cfg, func(k string) string { return parent[k] }); err != nil {
				t.Fatal(err)
			}
			if cfg.Upstream.Anthropic != tt.wantAnthropic || cfg.Upstream.OpenAI != tt.wantOpenAI {
				t.Errorf("got %s and %s, want %s and %s", cfg.Upstream.Anthropic, cfg.Upstream.OpenAI, tt.wantAnthropic, tt.wantOpenAI)
			}
		})
	}
}
