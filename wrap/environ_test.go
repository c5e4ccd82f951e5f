package wrap

import (
	"slices"
	"testing"
)

func TestEnviron(t *testing.T) {
	parent := []string{
		"PATH=/usr/bin",
		"COSTPLAN_ADMIN_TOKEN=secret",
		"OPENAI_BASE_URL=https://gateway.example/v1",
		"HOME=/home/u",
		"PATH=/bin", // a repeated name: last value, first position
	}
	set := map[string]string{
		"OPENAI_BASE_URL":      "http://127.0.0.1:4321/v1",
		"ANTHROPIC_BASE_URL":   "http://127.0.0.1:4321",
		"COSTPLAN_SESSION":     "s-1",
		"COSTPLAN_ADMIN_TOKEN": "also-dropped",
	}
	got := Environ(parent, set, []string{"COSTPLAN_ADMIN_TOKEN"})
	want := []string{
		"PATH=/bin",
		"OPENAI_BASE_URL=http://127.0.0.1:4321/v1",
		"HOME=/home/u",
		"ANTHROPIC_BASE_URL=http://127.0.0.1:4321",
		"COSTPLAN_SESSION=s-1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	for range 20 { // map order must not leak into the result
		if again := Environ(parent, set, []string{"COSTPLAN_ADMIN_TOKEN"}); !slices.Equal(again, got) {
			t.Fatalf("not deterministic: %q then %q", got, again)
		}
	}
	if parent[1] != "COSTPLAN_ADMIN_TOKEN=secret" {
		t.Error("parent modified")
	}
	if got := Environ(nil, nil, nil); len(got) != 0 {
		t.Errorf("empty: got %q", got)
	}
}
