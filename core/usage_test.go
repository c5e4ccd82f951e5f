package core_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/costplan/costplan/core"
)

func TestTokensString(t *testing.T) {
	tests := []struct {
		in   core.Tokens
		want string
	}{
		{0, "0"},
		{1, "1"},
		{999, "999"},
		{1000, "1,000"},
		{12_345, "12,345"},
		{128_000, "128,000"},
		{1_234_567, "1,234,567"},
		{-1, "-1"},
		{-999, "-999"},
		{-1_234, "-1,234"},
		{-100_000, "-100,000"},
		{math.MaxInt64, "9,223,372,036,854,775,807"},
		{math.MinInt64, "-9,223,372,036,854,775,808"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUsageTotalInput(t *testing.T) {
	tests := []struct {
		name string
		u    core.Usage
		want core.Tokens
	}{
		{"zero", core.Usage{}, 0},
		{"uncached only", core.Usage{InputTokens: 1200}, 1200},
		{
			"every input kind",
			core.Usage{InputTokens: 1, CacheReadTokens: 20, CacheWrite5mTokens: 300, CacheWrite1hTokens: 4000},
			4321,
		},
		{
			"output and reasoning excluded",
			core.Usage{InputTokens: 10, OutputTokens: 500, ReasoningTokens: 400, WebSearchRequests: 3, Batch: true},
			10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.u.TotalInput(); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUsageAdd(t *testing.T) {
	full := core.Usage{
		InputTokens: 1, OutputTokens: 2, CacheReadTokens: 3, CacheWrite5mTokens: 4,
		CacheWrite1hTokens: 5, ReasoningTokens: 6, WebSearchRequests: 7,
	}
	tests := []struct {
		name string
		u, v core.Usage
		want core.Usage
	}{
		{"zero plus zero", core.Usage{}, core.Usage{}, core.Usage{}},
		{"zero is the identity", full, core.Usage{}, full},
		{
			"field-wise sum",
			full,
			core.Usage{
				InputTokens: 10, OutputTokens: 20, CacheReadTokens: 30, CacheWrite5mTokens: 40,
				CacheWrite1hTokens: 50, ReasoningTokens: 60, WebSearchRequests: 70,
			},
			core.Usage{
				InputTokens: 11, OutputTokens: 22, CacheReadTokens: 33, CacheWrite5mTokens: 44,
				CacheWrite1hTokens: 55, ReasoningTokens: 66, WebSearchRequests: 77,
			},
		},
		{"batch on the left", core.Usage{Batch: true}, core.Usage{InputTokens: 1}, core.Usage{InputTokens: 1, Batch: true}},
		{"batch on the right", core.Usage{InputTokens: 1}, core.Usage{Batch: true}, core.Usage{InputTokens: 1, Batch: true}},
		{"batch on both", core.Usage{Batch: true}, core.Usage{Batch: true}, core.Usage{Batch: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.u.Add(tt.v); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if got := tt.v.Add(tt.u); got != tt.want {
				t.Errorf("reversed: got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestUsageJSON(t *testing.T) {
	tests := []struct {
		name string
		u    core.Usage
		want string
	}{
		{
			"omits empty extras",
			core.Usage{InputTokens: 1, OutputTokens: 2},
			`{"input_tokens":1,"output_tokens":2,"cache_read_tokens":0,"cache_write_5m_tokens":0,"cache_write_1h_tokens":0,"reasoning_tokens":0}`,
		},
		{
			"every field",
			core.Usage{
				InputTokens: 1, OutputTokens: 2, CacheReadTokens: 3, CacheWrite5mTokens: 4,
				CacheWrite1hTokens: 5, ReasoningTokens: 6, WebSearchRequests: 7, Batch: true,
			},
			`{"input_tokens":1,"output_tokens":2,"cache_read_tokens":3,"cache_write_5m_tokens":4,"cache_write_1h_tokens":5,"reasoning_tokens":6,"web_search_requests":7,"batch":true}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.u)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if string(b) != tt.want {
				t.Errorf("got %s, want %s", b, tt.want)
			}
			var back core.Usage
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if back != tt.u {
				t.Errorf("round trip: got %+v, want %+v", back, tt.u)
			}
		})
	}
}
