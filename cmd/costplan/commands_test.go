package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
	"github.com/costplan/costplan/pricing"
)

// mustRun runs the command line and fails unless it exits 0 with nothing on stderr.
func mustRun(t *testing.T, env map[string]string, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := runCLI(t, env, stdin, args...)
	if code != 0 || errOut != "" {
		t.Fatalf("costplan %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	return out
}

func TestGoldenPricing(t *testing.T) {
	env := testEnv(t)
	tests := []struct {
		golden string
		args   []string
	}{
		{"pricing_table.txt", []string{"pricing"}},
		{"pricing_fallback.txt", []string{"pricing", "claude-opus-5-5"}},
		{"pricing_alias.txt", []string{"pricing", "claude-sonnet-4-5-20250929"}},
		{"pricing_gpt-4o.json", []string{"pricing", "gpt-4o", "--json"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			golden(t, tt.golden, mustRun(t, env, "", tt.args...))
		})
	}
}

func TestPricingModel(t *testing.T) {
	env := testEnv(t)
	t.Run("fallback names the model it is priced as", func(t *testing.T) {
		out := mustRun(t, env, "", "pricing", "claude-opus-5-5")
		mustContain(t, "pricing claude-opus-5-5", out, "claude-opus-5-5 → claude-opus-4-8 (fallback)",
			`note: claude-opus-5-5 is not in the price table; priced as claude-opus-4-8`, `unknown_model = "family"`)
	})
	t.Run("json of a fallback", func(t *testing.T) {
		var got pricing.Quote
		if err := json.Unmarshal([]byte(mustRun(t, env, "", "--json", "pricing", "claude-opus-5-5")), &got); err != nil {
			t.Fatal(err)
		}
		if got.Model != "claude-opus-5-5" || got.PriceModel != "claude-opus-4-8" || got.Resolution != "fallback" || got.Note == "" {
			t.Errorf("got %+v, want claude-opus-5-5 resolved by fallback to claude-opus-4-8 with a note", got)
		}
		if got.Prices.Input != 5*core.Dollar {
			t.Errorf("input: got %v, want %v", got.Prices.Input, 5*core.Dollar)
		}
	})
	t.Run("reject policy", func(t *testing.T) {
		out, errOut, code := runCLI(t, testEnv(t, "COSTPLAN_UNKNOWN_MODEL", "reject"), "", "pricing", "claude-opus-5-5")
		if code != exitFailure {
			t.Errorf("exit: got %v, want %v", code, exitFailure)
		}
		if out != "" {
			t.Errorf("stdout: got %q, want nothing", out)
		}
		mustContain(t, "stderr", errOut, `unknown model "claude-opus-5-5"`, `unknown_model = "reject"`, `[pricing.models."claude-opus-5-5"]`)
	})
	t.Run("no family", func(t *testing.T) {
		_, errOut, code := runCLI(t, env, "", "pricing", "llama-9-mega")
		if code != exitFailure {
			t.Errorf("exit: got %v, want %v", code, exitFailure)
		}
		mustContain(t, "stderr", errOut, `unknown model "llama-9-mega"`, `[pricing.models."llama-9-mega"]`, "input = ", "output = ")
	})
	t.Run("provider prefix", func(t *testing.T) {
		out := mustRun(t, env, "", "pricing", "anthropic/claude-haiku-4-5")
		mustContain(t, "pricing", out, "anthropic/claude-haiku-4-5 → claude-haiku-4-5", "input           $1.00 / MTok")
	})
}

// decodePrediction decodes predict --json.
func decodePrediction(t *testing.T, out string) prediction {
	t.Helper()
	var p prediction
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return p
}

// TestGoldenPredict checks the offline estimate of a prompt, exact for OpenAI models.
// Each run loads a tokenizer, which takes a while under the race detector, so the
// cases run in parallel and each checks all it can.
func TestGoldenPredict(t *testing.T) {
	env := testEnv(t)
	prompt := writeFile(t, t.TempDir(), "prompt.txt", "Summarize the budget rules of CostPlan in three bullet points.\n")
	tests := []struct {
		golden string
		stdin  string
		args   []string
		check  func(t *testing.T, out string)
	}{
		{golden: "predict_hello.txt", args: []string{"predict", "hello world", "--model", "gpt-4o"}},
		{golden: "predict_hello.json", args: []string{"predict", "hello world", "--model", "gpt-4o", "--json"}, check: func(t *testing.T, out string) {
			p := decodePrediction(t, out)
			if p.InputTokens != 2 || !p.Exact {
				t.Errorf("got %v tokens, exact %v; want 2, exact true", p.InputTokens, p.Exact)
			}
			// gpt-4o: $2.50 input, $10 output per million; 16,384 output tokens at most.
			want := prediction{Model: "gpt-4o", PriceModel: "gpt-4o", Provider: "openai", Encoding: "o200k_base", InputTokens: 2, Exact: true,
				InputCost: 5000, MaxOutput: 16384, WorstOutput: 163_840_000, WorstTotal: 163_845_000}
			if p != want {
				t.Errorf("got %+v, want %+v", p, want)
			}
		}},
		{golden: "predict_file.txt", args: []string{"predict", "--file", prompt, "--model", "gpt-4o-mini"}},
		// Standard input gives what the argument gives (predict_hello.txt).
		{golden: "predict_hello.txt", stdin: "hello world", args: []string{"predict", "-", "--model", "gpt-4o"}},
		{golden: "predict_max_tokens.json", args: []string{"--json", "predict", "hello world", "--model", "gpt-4o", "--max-tokens", "100"}, check: func(t *testing.T, out string) {
			p := decodePrediction(t, out)
			// 100 × $10 / 1M = $0.001, plus 2 × $2.50 / 1M.
			if p.MaxOutput != 100 || p.WorstOutput != core.Dollar/1000 || p.WorstTotal != core.Dollar/1000+5000 {
				t.Errorf("got %+v, want 100 tokens, $0.001 output, $0.001005 total", p)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			out, errOut, code := runCLI(t, env, tt.stdin, tt.args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if tt.stdin == "" {
				golden(t, tt.golden, out)
			} else if want, err := os.ReadFile(filepath.Join("testdata", "golden", tt.golden)); !*update && (err != nil || out != string(want)) {
				t.Errorf("got %q, want %q (%v)", out, want, err)
			}
			if tt.check != nil {
				tt.check(t, out)
			}
		})
	}
}

func TestPredict(t *testing.T) {
	env := testEnv(t)
	t.Run("claude is estimated", func(t *testing.T) {
		t.Parallel()
		text := "The quick brown fox jumps over the lazy dog."
		p := decodePrediction(t, mustRun(t, env, "", "predict", text, "--model", "claude-sonnet-4-5", "--max-tokens", "2000", "--json"))
		if p.Exact || p.Encoding != "claude" || p.InputTokens < 10 || p.InputTokens > core.Tokens(len(text)) {
			t.Errorf("got %+v, want an estimate with the claude encoding, at least the 10 o200k tokens and at most the bytes", p)
		}
		// Input at $3 and 2,000 output tokens at $15 per million.
		if p.InputCost != core.Money(p.InputTokens)*3000 || p.WorstOutput != 30*core.Dollar/1000 || p.WorstTotal != p.InputCost+p.WorstOutput {
			t.Errorf("got %+v, want input at $3/M, $0.03 output and total = input + output", p)
		}
	})
	t.Run("output limit above the model's is clamped", func(t *testing.T) {
		t.Parallel()
		// gpt-4o writes at most 16,384 tokens; the proxy would grant no more.
		p := decodePrediction(t, mustRun(t, env, "", "predict", "hello world", "--model", "gpt-4o", "--max-tokens", "1000000000000000", "--json"))
		if p.MaxOutput != 16384 || p.WorstOutput != 163_840_000 || p.WorstTotal != 163_845_000 {
			t.Errorf("got %+v, want 16,384 output tokens, $0.16384 output, $0.163845 total", p)
		}
	})
	t.Run("fallback model is named", func(t *testing.T) {
		t.Parallel()
		out, errOut, code := runCLI(t, env, "", "predict", "hello", "--model", "claude-opus-5-5")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		mustContain(t, "stdout", out, "model               claude-opus-5-5 (priced as claude-opus-4-8), anthropic\n",
			"note                claude-opus-5-5 is not in the price table; priced as claude-opus-4-8", "(estimated, an upper bound, claude)")
		mustContain(t, "stderr", errOut, "costplan: warning: ", "claude-opus-5-5")
	})
	noLimit := writeFile(t, t.TempDir(), "costplan.toml", "[pricing.models.\"house-model\"]\nprovider = \"openai\"\ninput = 3.00\noutput = 15.00\n")
	failures := []struct {
		name  string
		env   []string
		stdin string
		args  []string
		code  int
		want  []string
	}{
		{"unknown model under reject", []string{"COSTPLAN_UNKNOWN_MODEL", "reject"}, "", []string{"predict", "hi", "--model", "claude-opus-5-5"}, exitFailure,
			[]string{`unknown model "claude-opus-5-5"`, "add a price to costplan.toml", `[pricing.models."claude-opus-5-5"]`, `provider = "anthropic"`, "input = ", "output = "}},
		{"model without a family", nil, "", []string{"predict", "hi", "--model", "mystery-model"}, exitFailure,
			[]string{`unknown model "mystery-model"`, `[pricing.models."mystery-model"]`}},
		{"no prompt", nil, "", []string{"predict", "--model", "gpt-4o"}, exitUsage,
			[]string{"no prompt: give it as an argument, with --file FILE, or as - to read standard input"}},
		{"prompt and file", nil, "", []string{"predict", "hi", "--file", "commands_test.go", "--model", "gpt-4o"}, exitUsage,
			[]string{"not both"}},
		{"missing file", nil, "", []string{"predict", "--file", "no-such-prompt.txt", "--model", "gpt-4o"}, exitUsage,
			[]string{"no-such-prompt.txt", "run 'costplan predict --help' for usage"}},
		{"no model", nil, "", []string{"predict", "hi"}, exitUsage,
			[]string{"--model", "run 'costplan predict --help' for usage"}},
		{"negative max tokens", nil, "", []string{"predict", "hi", "--model", "gpt-4o", "--max-tokens=-5"}, exitUsage,
			[]string{"--max-tokens must be positive, got -5"}},
		{"bad provider", nil, "", []string{"predict", "hi", "--model", "gpt-4o", "--provider", "google"}, exitUsage,
			[]string{"--provider", "google"}},
		{"model without an output limit", []string{"COSTPLAN_CONFIG", noLimit}, "", []string{"predict", "hi", "--model", "house-model"}, exitUsage,
			[]string{"the output limit of house-model is unknown: give --max-tokens, or max_output in its [pricing.models] entry"}},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, testEnv(t, tt.env...), tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit: got %v, want %v", code, tt.code)
			}
			if out != "" {
				t.Errorf("stdout: got %q, want nothing", out)
			}
			mustContain(t, "stderr", errOut, tt.want...)
		})
	}
}

// litellmFixture is a small LiteLLM price file: two models CostPlan imports (one
// with the known-bad 1-hour cache write of claude-3-haiku, 6e-06 instead of 5e-07),
// and three entries it skips.
const litellmFixture = `{
  "sample_spec": {"litellm_provider": "openai or anthropic", "mode": "chat", "input_cost_per_token": 0.0},
  "claude-3-haiku-20240307": {
    "litellm_provider": "anthropic", "mode": "chat",
    "input_cost_per_token": 2.5e-07, "output_cost_per_token": 1.25e-06,
    "cache_read_input_token_cost": 3e-08, "cache_creation_input_token_cost": 3e-07,
    "cache_creation_input_token_cost_above_1hr": 6e-06,
    "max_input_tokens": 200000, "max_output_tokens": 4096
  },
  "gpt-4o": {
    "litellm_provider": "openai", "mode": "chat",
    "input_cost_per_token": 2e-06, "output_cost_per_token": 8e-06,
    "cache_read_input_token_cost": 1e-06,
    "max_input_tokens": 128000, "max_output_tokens": 16384
  },
  "text-embedding-3-small": {"litellm_provider": "openai", "mode": "embedding", "input_cost_per_token": 2e-08},
  "bedrock/anthropic.claude-3-haiku-20240307-v1:0": {"litellm_provider": "bedrock", "mode": "chat", "input_cost_per_token": 2.5e-07, "output_cost_per_token": 1.25e-06}
}
`

func TestPricingImport(t *testing.T) {
	env := testEnv(t)
	dir := t.TempDir()
	file := writeFile(t, dir, "model_prices_and_context_window.json", litellmFixture)
	saved := filepath.Join(env["XDG_DATA_HOME"], "costplan", "prices.json")

	out := mustRun(t, env, "", "pricing", "--import", file)
	want := "imported 2 Anthropic and OpenAI models from " + file + " (skipped 3 other entries)\n" +
		"saved to " + saved + "; these prices now replace the embedded ones\n" +
		"corrected claude-3-haiku-20240307: 1-hour cache write 6 per MTok corrected to 2x input (0.5)\n"
	if out != want {
		t.Errorf("got %q, want %q", out, want)
	}

	table := mustRun(t, env, "", "pricing")
	for _, row := range []string{
		"gpt-4o              openai       2.00    8.00        1.00      2.00      2.00    128,000      16,384\n",
		// The import's dated ID lands on the built-in model it names.
		"claude-3-haiku      anthropic    0.25    1.25        0.03      0.30      0.50    200,000       4,096\n",
	} {
		mustContain(t, "pricing after the import", table, row)
	}
	one := mustRun(t, env, "", "pricing", "gpt-4o")
	mustContain(t, "pricing gpt-4o", one, "input           $2.00 / MTok\n", "output          $8.00 / MTok\n", "source          "+saved+"\n")
	haiku := mustRun(t, env, "", "pricing", "claude-3-haiku-20240307")
	mustContain(t, "pricing claude-3-haiku-20240307", haiku, "cache write 1h  $0.50 / MTok\n", "source          "+saved+"\n")

	// predict uses the imported price: 2 tokens at $2 and 100 at $8 per million.
	var p prediction
	if err := json.Unmarshal([]byte(mustRun(t, env, "", "--json", "predict", "hello world", "--model", "gpt-4o", "--max-tokens", "100")), &p); err != nil {
		t.Fatal(err)
	}
	if p.WorstTotal != 4000+800_000 {
		t.Errorf("got %v, want %v", p.WorstTotal, core.Money(804_000))
	}

	// A [pricing.models] entry still wins over the import.
	cfg := writeFile(t, dir, "costplan.toml", "[pricing.models.\"gpt-4o\"]\ninput = 1.00\n")
	one = mustRun(t, env, "", "--config", cfg, "pricing", "gpt-4o")
	mustContain(t, "pricing gpt-4o with an override", one, "input           $1.00 / MTok\n", "output          $8.00 / MTok\n")

	// The same file named by [pricing] file or COSTPLAN_PRICING_FILE, without an import.
	fresh := testEnv(t, "COSTPLAN_PRICING_FILE", file)
	one = mustRun(t, fresh, "", "pricing", "gpt-4o")
	mustContain(t, "pricing gpt-4o with COSTPLAN_PRICING_FILE", one, "input           $2.00 / MTok\n", "source          "+file+"\n")
}

func TestPricingImportErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string
		code    int
		want    []string
	}{
		{"malformed JSON", `{"gpt-4o": {"litellm_provider": "openai",`, exitFailure,
			[]string{"read LiteLLM price file", "expected a JSON object of model name to prices"}},
		{"not an object", `["gpt-4o"]`, exitFailure,
			[]string{"read LiteLLM price file", "expected a JSON object"}},
		{"no model CostPlan knows", `{"gemini-9": {"litellm_provider": "vertex_ai", "mode": "chat"}}`, exitFailure,
			[]string{"no Anthropic or OpenAI chat model in it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := testEnv(t)
			file := writeFile(t, dir, strings.ReplaceAll(tt.name, " ", "_")+".json", tt.content)
			out, errOut, code := runCLI(t, env, "", "pricing", "--import", file)
			if code != tt.code {
				t.Errorf("exit: got %v, want %v", code, tt.code)
			}
			if out != "" {
				t.Errorf("stdout: got %q, want nothing", out)
			}
			mustContain(t, "stderr", errOut, append(tt.want, file)...)
			// Nothing was saved: the table is still the embedded one.
			one := mustRun(t, env, "", "pricing", "gpt-4o")
			mustContain(t, "pricing gpt-4o", one, "input           $2.50 / MTok\n")
		})
	}
	t.Run("missing file", func(t *testing.T) {
		missing := filepath.Join(dir, "nope.json")
		_, errOut, code := runCLI(t, testEnv(t), "", "pricing", "--import", missing)
		if code != exitUsage {
			t.Errorf("exit: got %v, want %v", code, exitUsage)
		}
		mustContain(t, "stderr", errOut, missing, "no such file")
	})
	t.Run("a configured price file that is broken", func(t *testing.T) {
		file := writeFile(t, dir, "broken.json", "{")
		_, errOut, code := runCLI(t, testEnv(t, "COSTPLAN_PRICING_FILE", file), "", "pricing")
		if code != exitUsage {
			t.Errorf("exit: got %v, want %v", code, exitUsage)
		}
		mustContain(t, "stderr", errOut, file)
	})
	t.Run("a configured price file that is missing", func(t *testing.T) {
		missing := filepath.Join(dir, "gone.json")
		_, errOut, code := runCLI(t, testEnv(t, "COSTPLAN_PRICING_FILE", missing), "", "pricing")
		if code != exitUsage {
			t.Errorf("exit: got %v, want %v", code, exitUsage)
		}
		mustContain(t, "stderr", errOut, missing, "[pricing] file")
	})
}

func TestVersion(t *testing.T) {
	env := testEnv(t)
	out := mustRun(t, env, "", "version")
	re := regexp.MustCompile(`^costplan \S+ \(` + regexp.QuoteMeta(runtime.Version()) + `, prices as of \d{4}-\d{2}-\d{2}\)\n$`)
	if !re.MatchString(out) {
		t.Errorf("got %q, want it to match %s", out, re)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(mustRun(t, env, "", "version", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	if v["go"] != runtime.Version() || v["version"] == "" || len(v["prices_as_of"]) != len("2006-01-02") || len(v) != 3 {
		t.Errorf("got %v, want version, go %s and prices_as_of", v, runtime.Version())
	}
	if !strings.Contains(out, v["prices_as_of"]) || !strings.HasPrefix(out, "costplan "+v["version"]+" ") {
		t.Errorf("text %q and JSON %v disagree", out, v)
	}
	// A price file that cannot be read is a configuration error, as for every command.
	_, errOut, code := runCLI(t, testEnv(t, "COSTPLAN_PRICING_FILE", "/no/such/prices.json"), "", "version")
	if code != exitUsage {
		t.Errorf("missing price file: exit %d, want %d (%s)", code, exitUsage, errOut)
	}
	mustContain(t, "stderr", errOut, "/no/such/prices.json", "[pricing] file")
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown command", []string{"bogus"}, []string{"unexpected argument bogus", "run 'costplan --help' for usage"}},
		{"no command", nil, []string{"expected one of", "run 'costplan --help' for usage"}},
		{"unknown global flag", []string{"--bogus", "version"}, []string{"unknown flag --bogus", "run 'costplan --help' for usage"}},
		{"unknown flag of a command", []string{"pricing", "--bogus"}, []string{"unknown flag --bogus", "run 'costplan pricing --help' for usage"}},
		{"unknown flag of history", []string{"history", "--bogus"}, []string{"unknown flag --bogus", "run 'costplan history --help' for usage"}},
		{"bad enum", []string{"stats", "--by", "week"}, []string{"--by", "week", "run 'costplan stats --help' for usage"}},
		{"bad outcome", []string{"history", "--outcome", "great"}, []string{"--outcome", "run 'costplan history --help' for usage"}},
		{"extra argument", []string{"pricing", "gpt-4o", "gpt-5"}, []string{"unexpected argument gpt-5", "run 'costplan pricing --help' for usage"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, testEnv(t), "", tt.args...)
			if code != exitUsage {
				t.Errorf("exit: got %v, want %v", code, exitUsage)
			}
			if out != "" {
				t.Errorf("stdout: got %q, want nothing", out)
			}
			mustContain(t, "stderr", errOut, tt.want...)
		})
	}
}

// TestHelp checks that --help exits 0 and that every command's help has an example.
func TestHelp(t *testing.T) {
	out := mustRun(t, testEnv(t), "", "--help")
	for _, cmd := range []string{"version", "pricing", "predict", "exec", "proxy", "run", "history", "stats", "mcp", "budget"} {
		if !regexp.MustCompile(`(?m)^  ` + cmd + `\s`).MatchString(out) {
			t.Errorf("costplan --help: got %q, want the command %s listed", out, cmd)
		}
		t.Run(cmd, func(t *testing.T) {
			help := mustRun(t, testEnv(t), "", cmd, "--help")
			mustContain(t, "costplan "+cmd+" --help", help, "Usage: costplan "+cmd)
			// An example line that runs the command (claude mcp add ... -- costplan mcp counts).
			if !regexp.MustCompile(`(?ms)^Examples?:$.*^ +(.*\s)?costplan ` + cmd + `\b`).MatchString(help) {
				t.Errorf("costplan %s --help: got %q, want an example that runs it", cmd, help)
			}
		})
	}
}

// fixtureJournal is the hand-written journal of testdata/journal: 23 call records
// of 5 sessions over 3 days (in Asia/Kolkata) of both providers and all three APIs,
// with every outcome, session records, an old record without "v", two corrupt
// middle lines and a torn last line.
const fixtureJournal = "testdata/journal/fixture.jsonl"

// reportEnv returns an environment and the leading arguments that read the fixture
// journal with the day boundaries of zone.
func reportEnv(t *testing.T, zone string) (map[string]string, []string) {
	t.Helper()
	cfg := writeFile(t, t.TempDir(), "costplan.toml", "[budget]\ntimezone = \""+zone+"\"\n")
	return testEnv(t), []string{"--config", cfg, "--journal", fixtureJournal}
}

// skippedWarning is what history and stats say on stderr about the fixture's bad lines.
func skippedWarning(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs(fixtureJournal)
	if err != nil {
		t.Fatal(err)
	}
	return "costplan: warning: skipped 3 unreadable line(s) of " + abs + " (line 7 and others)\n"
}

func TestGoldenHistory(t *testing.T) {
	env, base := reportEnv(t, "Asia/Kolkata")
	tests := []struct {
		golden string
		args   []string
	}{
		{"history_default.txt", []string{"history"}},
		{"history_all.txt", []string{"history", "--limit", "0"}},
		{"history_last3.txt", []string{"history", "-n", "3"}},
		{"history_all.jsonl", []string{"history", "--limit", "0", "--json"}},
		{"history_session.txt", []string{"history", "--session", "a1b2"}},
		{"history_range.txt", []string{"history", "--since", "2026-11-02", "--until", "2026-11-03"}},
		{"history_model.txt", []string{"history", "--model", "claude-*"}},
		{"history_refused.txt", []string{"history", "--outcome", "refused"}},
		{"history_refused.jsonl", []string{"history", "--outcome", "refused", "--json"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, errOut, code := runCLI(t, env, "", append(base, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if want := skippedWarning(t); errOut != want {
				t.Errorf("stderr: got %q, want %q", errOut, want)
			}
			golden(t, tt.golden, out)
		})
	}
}

// historyRecords runs history --json and decodes its records.
func historyRecords(t *testing.T, env map[string]string, args ...string) []journal.Record {
	t.Helper()
	out, errOut, code := runCLI(t, env, "", append(args, "--json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var recs []journal.Record
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var r journal.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestHistoryFilters(t *testing.T) {
	times := func(recs []journal.Record) []string {
		var out []string
		for _, r := range recs {
			out = append(out, r.TS.UTC().Format(time.RFC3339))
		}
		return out
	}
	ranges := []struct {
		name, zone   string
		since, until string
		want         []string
	}{
		// In Asia/Kolkata (UTC+05:30) 2026-11-02 runs from 2026-11-01T18:30:00Z to
		// 2026-11-02T18:30:00Z: the calls at 23:59:59 and 00:00:00 local sit on
		// both of its edges.
		{"day boundary in the configured zone", "Asia/Kolkata", "2026-11-02", "2026-11-03",
			[]string{"2026-11-01T18:30:00Z", "2026-11-02T04:02:00Z", "2026-11-02T04:10:00Z", "2026-11-02T04:12:00Z",
				"2026-11-02T04:13:00Z", "2026-11-02T18:29:59Z"}},
		{"the same dates in UTC", "UTC", "2026-11-02", "2026-11-03",
			[]string{"2026-11-02T04:02:00Z", "2026-11-02T04:10:00Z", "2026-11-02T04:12:00Z", "2026-11-02T04:13:00Z",
				"2026-11-02T18:29:59Z", "2026-11-02T18:30:00Z"}},
		{"RFC 3339 bounds", "UTC", "2026-11-03T10:01:00Z", "2026-11-03T10:03:00Z",
			[]string{"2026-11-03T10:01:00Z", "2026-11-03T10:02:00Z"}},
	}
	for _, r := range ranges {
		t.Run(r.name, func(t *testing.T) {
			env, base := reportEnv(t, r.zone)
			got := times(historyRecords(t, env, append(base, "history", "--since", r.since, "--until", r.until)...))
			if strings.Join(got, " ") != strings.Join(r.want, " ") {
				t.Errorf("got %v, want %v", got, r.want)
			}
		})
	}
	t.Run("local times in the table", func(t *testing.T) {
		env, base := reportEnv(t, "Asia/Kolkata")
		out, _, _ := runCLI(t, env, "", append(base, "history", "--since", "2026-11-02", "--until", "2026-11-03")...)
		mustContain(t, "history", out, "\n2026-11-02 00:00:00  c3d4e5f6  claude-haiku-4-5", "\n2026-11-02 23:59:59  c3d4e5f6  gpt-4o-mini")
		if strings.Contains(out, "2026-11-01 23:59:59") || strings.Contains(out, "2026-11-03 00:00:00") {
			t.Errorf("got %q, want neither edge outside the day", out)
		}
	})
	env, base := reportEnv(t, "UTC")
	count := func(args ...string) int {
		return len(historyRecords(t, env, append(append(base, "history", "--limit", "0"), args...)...))
	}
	counts := []struct {
		args []string
		want int
	}{
		{nil, 23},
		{[]string{"--session", "a1b2"}, 7},
		{[]string{"--session", "a1b2c"}, 4},
		{[]string{"--session", "c3d4e5f607182930"}, 4},
		{[]string{"--session", "zz"}, 0},
		{[]string{"--model", "claude-*"}, 7},
		{[]string{"--model", "CLAUDE-HAIKU-4-5"}, 3},
		{[]string{"--model", "claude-sonnet-4-5"}, 2}, // requested or priced name
		{[]string{"--model", "claude-opus-4-8"}, 2},   // the fallback is priced as it
		{[]string{"--model", "gpt-4.1-nano"}, 8},
		{[]string{"--outcome", "ok"}, 18},
		{[]string{"--outcome", "refused"}, 3},
		{[]string{"--outcome", "upstream_error"}, 1},
		{[]string{"--outcome", "aborted"}, 1},
		{[]string{"--outcome", "ok", "--model", "gpt-*", "--session", "e5"}, 8},
	}
	for _, c := range counts {
		t.Run(strings.Join(append([]string{"count"}, c.args...), " "), func(t *testing.T) {
			if got := count(c.args...); got != c.want {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
	t.Run("limit keeps the newest", func(t *testing.T) {
		recs := historyRecords(t, env, append(base, "history", "--limit", "2")...)
		if got := times(recs); strings.Join(got, " ") != "2026-11-03T10:02:00Z 2026-11-03T10:03:00Z" {
			t.Errorf("got %v, want the last two calls", got)
		}
	})
	t.Run("no match", func(t *testing.T) {
		out, _, code := runCLI(t, env, "", append(base, "history", "--model", "o3")...)
		abs, _ := filepath.Abs(fixtureJournal)
		if want := "No calls in " + abs + " match these filters.\n"; out != want || code != 0 {
			t.Errorf("got %q (exit %d), want %q", out, code, want)
		}
	})
	t.Run("bad times", func(t *testing.T) {
		for _, args := range [][]string{{"--since", "tomorrow"}, {"--until", "-24h"}, {"--since", "2026-13-01"}} {
			_, errOut, code := runCLI(t, env, "", append(append(base, "history"), args...)...)
			if code != exitUsage {
				t.Errorf("%v: exit: got %v, want %v", args, code, exitUsage)
			}
			mustContain(t, "stderr", errOut, args[0]+": ")
		}
		_, errOut, code := runCLI(t, env, "", append(base, "history", "--limit=-1")...)
		if code != exitUsage {
			t.Errorf("--limit=-1: exit: got %v, want %v", code, exitUsage)
		}
		mustContain(t, "stderr", errOut, "--limit must be 0 (all) or more, got -1")
	})
}

func TestParseWhen(t *testing.T) {
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 3, 10, 0, 0, 0, kolkata)
	// 2026-11-01 is the day New York leaves daylight saving time: 25 hours long.
	nyNow := time.Date(2026, 11, 1, 12, 0, 0, 0, ny)
	tests := []struct {
		in   string
		now  time.Time
		loc  *time.Location
		want time.Time
	}{
		{"today", now, kolkata, time.Date(2026, 11, 3, 0, 0, 0, 0, kolkata)},
		{"TODAY", now, kolkata, time.Date(2026, 11, 3, 0, 0, 0, 0, kolkata)},
		{"yesterday", now, kolkata, time.Date(2026, 11, 2, 0, 0, 0, 0, kolkata)},
		{"now", now, kolkata, now},
		{"24h", now, kolkata, now.Add(-24 * time.Hour)},
		{"90m", now, kolkata, now.Add(-90 * time.Minute)},
		{"1h30m", now, kolkata, now.Add(-90 * time.Minute)},
		{"7d", now, kolkata, time.Date(2026, 10, 27, 10, 0, 0, 0, kolkata)},
		{"0d", now, kolkata, now},
		{" 2026-11-02 ", now, kolkata, time.Date(2026, 11, 2, 0, 0, 0, 0, kolkata)},
		{"2026-11-02 15:04", now, kolkata, time.Date(2026, 11, 2, 15, 4, 0, 0, kolkata)},
		{"2026-11-02T09:00:00Z", now, kolkata, time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)},
		{"2026-11-02T09:00:00+01:00", now, kolkata, time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)},
		{"2026-11-02", now, time.UTC, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)},
		{"yesterday", nyNow, ny, time.Date(2026, 10, 31, 0, 0, 0, 0, ny)},
		{"today", nyNow, ny, time.Date(2026, 11, 1, 0, 0, 0, 0, ny)},
		{"1d", nyNow, ny, time.Date(2026, 10, 31, 12, 0, 0, 0, ny)},  // a calendar day: 25 hours here
		{"24h", nyNow, ny, time.Date(2026, 10, 31, 13, 0, 0, 0, ny)}, // 24 hours: 13:00 EDT
	}
	for _, tt := range tests {
		t.Run(tt.in+" in "+tt.loc.String(), func(t *testing.T) {
			got, err := parseWhen(tt.in, tt.now, tt.loc)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	for _, in := range []string{"", "tomorrow", "-24h", "-1d", "1.5d", "d", "2026-13-01", "2026-11-02T25:00:00Z", "last week"} {
		t.Run("error "+in, func(t *testing.T) {
			if got, err := parseWhen(in, now, kolkata); err == nil {
				t.Errorf("got %v, want an error", got)
			}
		})
	}
	t.Run("filter", func(t *testing.T) {
		f, err := ReportFlags{Since: "yesterday", Until: "today", Session: "ab", Model: "gpt-*", Outcome: "ok"}.filter(now, kolkata)
		if err != nil {
			t.Fatal(err)
		}
		want := journal.Filter{Session: "ab", Model: "gpt-*", Outcome: "ok", Types: []string{journal.TypeCall},
			Since: time.Date(2026, 11, 2, 0, 0, 0, 0, kolkata), Until: time.Date(2026, 11, 3, 0, 0, 0, 0, kolkata)}
		if !f.Since.Equal(want.Since) || !f.Until.Equal(want.Until) || f.Session != want.Session || f.Model != want.Model ||
			f.Outcome != want.Outcome || strings.Join(f.Types, ",") != "call" {
			t.Errorf("got %+v, want %+v", f, want)
		}
		if _, err := (ReportFlags{Until: "soon"}).filter(now, kolkata); err == nil || !strings.HasPrefix(err.Error(), "--until: ") {
			t.Errorf("got %v, want an error about --until", err)
		}
	})
}

func TestGoldenStats(t *testing.T) {
	env, base := reportEnv(t, "Asia/Kolkata")
	tests := []struct {
		golden string
		args   []string
	}{
		{"stats_model.txt", []string{"stats"}},
		{"stats_day.txt", []string{"stats", "--by", "day"}},
		{"stats_session.txt", []string{"stats", "--by", "session"}},
		{"stats_provider.txt", []string{"stats", "--by", "provider"}},
		{"stats_client.txt", []string{"stats", "--by", "client"}},
		{"stats_model.json", []string{"stats", "--json"}},
		{"stats_day.json", []string{"stats", "--by", "day", "--json"}},
		{"stats_filtered.txt", []string{"stats", "--since", "2026-11-02", "--model", "gpt-*"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, errOut, code := runCLI(t, env, "", append(base, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if want := skippedWarning(t); errOut != want {
				t.Errorf("stderr: got %q, want %q", errOut, want)
			}
			golden(t, tt.golden, out)
		})
	}
}

// TestStatsTotals checks the fixture's totals to the nano-dollar, worked out by hand
// from the prices (USD per million tokens) of the embedded table.
func TestStatsTotals(t *testing.T) {
	env, base := reportEnv(t, "Asia/Kolkata")
	report := func(t *testing.T, args ...string) journal.Report {
		t.Helper()
		out, errOut, code := runCLI(t, env, "", append(append(base, "stats", "--json"), args...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var rep journal.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	// Costs in nano-dollars:
	//   claude-sonnet-4-5-20250929: 1200×3 + 512×15 + 40000×0.30 + 1000×3.75 + 2000×6 = 39,030,000
	//   claude-haiku-4-5: 5000×1 + 300×5 = 6,500,000; 100×1 + 20×5 = 200,000; 200×1 + 40×5 = 400,000
	//   claude-sonnet-4-5 (aborted, estimated): 800×3 + 20000×0.30 + 150×15 = 10,650,000
	//   gpt-5: 3000×1.25 + 12000×0.125 + 2000×10 = 25,250,000
	//   gpt-4o-mini: 2000×0.15 + 400×0.60 = 540,000; 7×0.15 + 3×0.60 = 2,850; 9×0.15 + 3×0.60 = 3,150
	//   gpt-4.1-nano ×8: (1000+100i)×0.10 + 1024×(i%2)×0.025 + 50×0.40, i = 0..7 = 1,342,400
	//   claude-opus-5-5 as claude-opus-4-8: 100×5 + 50×25 + 3000×6.25 = 20,500,000
	//   gpt-5-mini: 4000×0.25 + 2000×0.025 + 800×2 = 2,650,000
	//   refusals and the upstream error: 0
	const total = core.Money(39_030_000 + 6_500_000 + 200_000 + 400_000 + 10_650_000 + 25_250_000 + 540_000 + 2_850 + 3_150 +
		1_342_400 + 20_500_000 + 2_650_000)
	// Saving (uncached cost − cost):
	//   sonnet: 44200×3 + 512×15 − 39.03 = 101,250,000; aborted sonnet: 20800×3 + 150×15 − 10.65 = 54,000,000
	//   gpt-5: 15000×1.25 + 2000×10 − 25.25 = 13,500,000
	//   opus fallback: 3100×5 + 50×25 − 20.5 = −3,750,000 (the cache write was not repaid)
	//   gpt-5-mini: 6000×0.25 + 800×2 − 2.65 = 450,000; gpt-4.1-nano: 4 × 1024×(0.10−0.025) = 307,200
	const saving = core.Money(101_250_000 + 54_000_000 + 13_500_000 - 3_750_000 + 450_000 + 307_200)

	rep := report(t)
	want := journal.Row{Calls: 23, Refused: 3, InputTokens: 27_216, OutputTokens: 4_678, CacheReadTokens: 78_096,
		CacheWriteTokens: 6_000, Cost: total, Share: 1, Saving: saving}
	if rep.Total != want {
		t.Errorf("total: got %+v, want %+v", rep.Total, want)
	}
	if rep.Total.Cost != 107_068_400 {
		t.Errorf("total cost: got %v, want $0.1070684", rep.Total.Cost.Format())
	}
	if rep.Unpriced != 1 {
		t.Errorf("unpriced: got %v, want 1 (my-local-model)", rep.Unpriced)
	}
	var sum core.Money
	for _, r := range rep.Rows {
		sum += r.Cost
	}
	if sum != total {
		t.Errorf("sum of rows: got %v, want %v", sum.Format(), total.Format())
	}
	for _, by := range []string{"day", "session", "provider", "client"} {
		if got := report(t, "--by", by).Total; got != want {
			t.Errorf("--by %s total: got %+v, want %+v", by, got, want)
		}
	}
	days := report(t, "--by", "day").Rows
	wantDays := []struct {
		key   string
		calls int64
		cost  core.Money
	}{
		// 23:59:59 on 11-01 and 00:00:00 on 11-02 (Kolkata) fall on different days.
		{"2026-11-01", 5, 39_030_000 + 6_500_000 + 10_650_000 + 200_000},
		{"2026-11-02", 6, 400_000 + 25_250_000 + 540_000 + 2_850},
		{"2026-11-03", 12, 3_150 + 1_342_400 + 20_500_000 + 2_650_000},
	}
	if len(days) != len(wantDays) {
		t.Fatalf("days: got %+v, want %d days", days, len(wantDays))
	}
	for i, w := range wantDays {
		if days[i].Key != w.key || days[i].Calls != w.calls || days[i].Cost != w.cost {
			t.Errorf("day %d: got %s %d calls %s, want %s %d calls %s", i, days[i].Key, days[i].Calls, days[i].Cost.Format(), w.key, w.calls, w.cost.Format())
		}
	}
	out, _, _ := runCLI(t, env, "", append(base, "stats")...)
	mustContain(t, "stats", out, "\nTOTAL                          23        3  27,216   4,678      78,096        6,000  $0.107068  100.0%\n",
		"\nPrompt caching saved $0.165757 (the same calls at uncached input prices: $0.272826).\n")
}

func TestStatsCachingCostMore(t *testing.T) {
	// Only the Opus call, whose cache write was never read back.
	env, base := reportEnv(t, "UTC")
	out, _, code := runCLI(t, env, "", append(base, "stats", "--model", "claude-opus-5-5")...)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, "stats", out, "\nPrompt caching cost $0.00375 more than uncached input would have (cache writes not yet repaid by reads).\n")
	if strings.Contains(out, "saved") || strings.Contains(out, "missing from the price table") {
		t.Errorf("got %q, want only the extra cost", out)
	}
}

func TestReportsOfAnEmptyJournal(t *testing.T) {
	dir := t.TempDir()
	empty := writeFile(t, dir, "empty.jsonl", "")
	sessionsOnly := writeFile(t, dir, "sessions.jsonl",
		`{"v":1,"type":"session","ts":"2026-11-01T03:00:00Z","session":"a1","event":"start","session_usd":5}`+"\n")
	missing := filepath.Join(dir, "missing", "journal.jsonl")
	never := "Calls are recorded when they go through `costplan exec -- COMMAND` or `costplan proxy`.\n"
	tests := []struct {
		name    string
		journal string
		args    []string
		want    string
	}{
		{"history of a missing journal", missing, []string{"history"},
			"No journal at " + missing + " yet. Calls are recorded there when they go through `costplan exec -- COMMAND` or `costplan proxy` (use --journal PATH to read another).\n"},
		{"stats of a missing journal", missing, []string{"stats"},
			"No journal at " + missing + " yet. Calls are recorded there when they go through `costplan exec -- COMMAND` or `costplan proxy` (use --journal PATH to read another).\n"},
		{"history of an empty journal", empty, []string{"history"}, "No calls in " + empty + " yet. " + never},
		{"stats of an empty journal", empty, []string{"stats", "--by", "day"}, "No calls in " + empty + " yet. " + never},
		{"history of sessions without calls", sessionsOnly, []string{"history"}, "No calls in " + sessionsOnly + " yet. " + never},
		{"stats with a filter", empty, []string{"stats", "--session", "x"}, "No calls in " + empty + " match these filters.\n"},
		{"history --json of a missing journal", missing, []string{"history", "--json"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, testEnv(t), "", append([]string{"--journal", tt.journal}, tt.args...)...)
			if code != 0 || errOut != "" {
				t.Errorf("got exit %d, stderr %q; want 0 and nothing", code, errOut)
			}
			if out != tt.want {
				t.Errorf("got %q, want %q", out, tt.want)
			}
		})
	}
	t.Run("stats --json of a missing journal", func(t *testing.T) {
		out := mustRun(t, testEnv(t), "", "--journal", missing, "stats", "--json")
		var rep journal.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Total.Calls != 0 || rep.Rows == nil || len(rep.Rows) != 0 {
			t.Errorf("got %+v, want an empty report with an empty rows list", rep)
		}
	})
	t.Run("the default journal under XDG_DATA_HOME", func(t *testing.T) {
		env := testEnv(t)
		out := mustRun(t, env, "", "history")
		want := "No journal at " + filepath.Join(env["XDG_DATA_HOME"], "costplan", "journal.jsonl") + " yet."
		if !strings.HasPrefix(out, want) {
			t.Errorf("got %q, want it to start with %q", out, want)
		}
	})
}

// TestNoEscapeCodes checks that reports written to anything but a terminal carry
// no ANSI escapes. (TestBuiltBinary checks a terminal, with and without
// --no-color, NO_COLOR and TERM=dumb, which cannot matter here.)
func TestNoEscapeCodes(t *testing.T) {
	env, base := reportEnv(t, "UTC")
	for _, cmd := range [][]string{{"history"}, {"stats"}, {"stats", "--by", "day"}} {
		out, _, code := runCLI(t, env, "", append(append([]string{}, base...), cmd...)...)
		if code != 0 || out == "" {
			t.Errorf("%v: got exit %d and %q, want a report", cmd, code, out)
		}
		if strings.Contains(out, "\x1b") {
			t.Errorf("%v: got %q, want no escape codes", cmd, out)
		}
	}
}

// TestTextTableIgnoresEscapes checks that colour does not misalign columns.
func TestTextTableIgnoresEscapes(t *testing.T) {
	var plain, colored textTable
	plain.left, colored.left = 1, 1
	plain.add("TIME", "COST")
	colored.add(paint(true, "1", "TIME"), "COST")
	for _, tt := range []*textTable{&plain, &colored} {
		tt.add("2026-11-03 10:00:00", "$1.00")
		tt.add("x", "$10.00")
	}
	var a, b strings.Builder
	if err := plain.write(&a); err != nil {
		t.Fatal(err)
	}
	if err := colored.write(&b); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.ReplaceAll(strings.ReplaceAll(b.String(), "\x1b[1m", ""), "\x1b[0m", ""), a.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// proxyRun is `costplan proxy` running in this process.
type proxyRun struct {
	stdout *syncBuffer
	cancel context.CancelFunc
	done   chan proxyExit
}

type proxyExit struct {
	stderr string
	code   int
}

// startProxy runs costplan with args (a proxy command) until stop, and waits for it
// to print where it listens.
func startProxy(t *testing.T, env map[string]string, args ...string) (*proxyRun, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &proxyRun{stdout: &syncBuffer{}, cancel: cancel, done: make(chan proxyExit, 1)}
	go func() {
		_, errOut, code := runCLIContext(t, ctx, env, strings.NewReader(""), p.stdout, args...)
		p.done <- proxyExit{errOut, code}
	}()
	t.Cleanup(func() { p.stop(t) })
	re := regexp.MustCompile(`costplan proxy listening on (http://127\.0\.0\.1:\d+) \(session [0-9a-f]{16}\)\n`)
	deadline := time.After(20 * time.Second)
	for {
		if m := re.FindStringSubmatch(p.stdout.String()); m != nil && strings.Contains(p.stdout.String(), "Budget: curl") {
			return p, m[1]
		}
		select {
		case e := <-p.done:
			p.done <- e
			t.Fatalf("proxy exited %d before listening: %s%s", e.code, p.stdout.String(), e.stderr)
		case <-deadline:
			t.Fatalf("proxy did not start: %q", p.stdout.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// stop cancels the proxy's context, as SIGINT does, and returns how it exited.
func (p *proxyRun) stop(t *testing.T) proxyExit {
	t.Helper()
	p.cancel()
	select {
	case e := <-p.done:
		p.done <- e
		return e
	case <-time.After(20 * time.Second):
		t.Fatal("proxy did not stop")
		return proxyExit{}
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestProxyCommand runs costplan proxy in this process: what it prints, the caps it
// applies by precedence, and its session records.
func TestProxyCommand(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "costplan.toml", "[budget]\nsession = 7\nper_call = 0.7\ndaily = 20\n")
	tests := []struct {
		name        string
		env         []string
		args        []string // global flags
		flags       []string // proxy flags
		caps        string
		session     string
		perCall     string
		wantWindows bool
	}{
		{name: "defaults", caps: "budget: $5.00 per session, $1.00 per call (defaults; set --session and --per-call, or [budget] in costplan.toml)",
			session: "5", perCall: "1"},
		{name: "file", args: []string{"--config", file}, caps: "budget: $7.00 per session, $0.70 per call, $20.00 per day\n",
			session: "7", perCall: "0.7", wantWindows: true},
		{name: "env over file", env: []string{"COSTPLAN_BUDGET_SESSION", "8", "COSTPLAN_BUDGET_MONTHLY", "300"}, args: []string{"--config", file},
			caps: "budget: $8.00 per session, $0.70 per call, $20.00 per day, $300.00 per month\n", session: "8", perCall: "0.7", wantWindows: true},
		{name: "flags over env", env: []string{"COSTPLAN_BUDGET_SESSION", "8", "COSTPLAN_BUDGET_PER_CALL", "0.8"},
			args: []string{"--config", file}, flags: []string{"--session", "9", "--per-call", "0", "--daily", "0"},
			caps: "budget: $9.00 per session, no per-call cap\n", session: "9", perCall: "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := testEnv(t, tt.env...)
			journalPath := filepath.Join(t.TempDir(), "journal.jsonl")
			args := append(append(append([]string{"--journal", journalPath}, tt.args...), "proxy", "--port", "0"), tt.flags...)
			p, origin := startProxy(t, env, args...)
			out := p.stdout.String()
			mustContain(t, "stdout", out, tt.caps, "Point clients at it:\n",
				"  export ANTHROPIC_BASE_URL="+origin+"\n", "  export OPENAI_BASE_URL="+origin+"/v1\n",
				"Codex CLI: codex -c 'openai_base_url=\""+origin+"/v1\"' ...\n", "Budget: curl "+origin+"/v1/budget\n")
			var b struct {
				Session string     `json:"session"`
				Cap     core.Money `json:"session_usd"`
				PerCall core.Money `json:"per_call_usd"`
				Windows []any      `json:"windows"`
			}
			getJSON(t, origin+"/v1/budget", &b)
			if b.Cap.Decimal() != tt.session || b.PerCall.Decimal() != tt.perCall || (len(b.Windows) > 0) != tt.wantWindows {
				t.Errorf("budget: got %+v, want session %s, per call %s, windows %v", b, tt.session, tt.perCall, tt.wantWindows)
			}
			e := p.stop(t)
			if e.code != 0 {
				t.Errorf("exit: got %v, want 0 (%s)", e.code, e.stderr)
			}
			mustContain(t, "stderr", e.stderr, "shutting down")
			var events []string
			if _, err := journal.ReadFile(journalPath, func(r journal.Record) error {
				if r.Session != b.Session || r.Command != "proxy" {
					t.Errorf("record %+v: want session %s and command proxy", r, b.Session)
				}
				events = append(events, r.Event)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if strings.Join(events, ",") != "start,end" {
				t.Errorf("journal events: got %v, want start, end", events)
			}
		})
	}
}

func TestProxyCommandErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, busyPort, _ := net.SplitHostPort(busy.Addr().String())
	tests := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"non-loopback host without an admin token", nil, []string{"proxy", "--host", "0.0.0.0", "--port", "0"},
			[]string{"--host 0.0.0.0 is reachable from other machines: set --admin-token (or COSTPLAN_ADMIN_TOKEN)", "or listen on 127.0.0.1"}},
		{"a LAN address", nil, []string{"proxy", "--host", "192.168.1.10", "--port", "0"},
			[]string{"--host 192.168.1.10 is reachable from other machines"}},
		{"an empty admin token in the environment does not count", []string{"COSTPLAN_ADMIN_TOKEN", ""}, []string{"proxy", "--host", "::", "--port", "0"},
			[]string{"--host :: is reachable from other machines"}},
		{"port in use", nil, []string{"proxy", "--port", busyPort},
			[]string{"listen: ", "choose another --port, or 0 for a free one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, testEnv(t, tt.env...), "", tt.args...)
			if code != exitUsage {
				t.Errorf("exit: got %v, want %v", code, exitUsage)
			}
			if out != "" {
				t.Errorf("stdout: got %q, want nothing", out)
			}
			mustContain(t, "stderr", errOut, tt.want...)
		})
	}
	for host, want := range map[string]bool{"127.0.0.1": true, "127.0.0.2": true, "::1": true, "localhost": true,
		"0.0.0.0": false, "::": false, "10.0.0.1": false, "example.com": false, "": false} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q): got %v, want %v", host, got, want)
		}
	}
}

// TestBuiltBinary runs the costplan binary, for what depends on the process: the
// working directory, signals and terminals. It is built once for all its subtests.
func TestBuiltBinary(t *testing.T) {
	bin := costplanBinary(t, false)
	t.Run("proxy", func(t *testing.T) { testBinaryProxy(t, bin, binEnv(t)) })
	t.Run("costplan.toml in the working directory", func(t *testing.T) {
		env := testEnv(t)
		writeFile(t, env["XDG_CONFIG_HOME"], filepath.Join("costplan", "costplan.toml"), "[pricing]\nunknown_model = \"reject\"\n")
		work := t.TempDir()
		header := func(t *testing.T, extra ...string) string {
			t.Helper()
			cmd := exec.Command(bin, append(extra, "pricing")...)
			cmd.Dir = work
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			first, _, _ := strings.Cut(string(out), "\n")
			return first
		}
		// Only the XDG file: reject.
		mustContain(t, "pricing", header(t), "unknown models: reject")
		// ./costplan.toml comes before it.
		writeFile(t, work, "costplan.toml", "[pricing]\nunknown_model = \"family\"\n")
		mustContain(t, "pricing", header(t), "unknown models: family")
		// --config comes before ./costplan.toml.
		named := writeFile(t, t.TempDir(), "named.toml", "[pricing]\nunknown_model = \"reject\"\n")
		mustContain(t, "pricing", header(t, "--config", named), "unknown models: reject")
	})
	t.Run("colour on a terminal", func(t *testing.T) {
		cfg := writeFile(t, t.TempDir(), "costplan.toml", "[budget]\ntimezone = \"Asia/Kolkata\"\n")
		journalPath, err := filepath.Abs(fixtureJournal)
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name  string
			env   []string
			args  []string
			color bool
		}{
			{"terminal", nil, nil, true},
			{"--no-color", nil, []string{"--no-color"}, false},
			{"NO_COLOR", []string{"NO_COLOR", "1"}, nil, false},
			{"TERM=dumb", []string{"TERM", "dumb"}, nil, false},
		}
		reports := []struct {
			cmd    []string
			golden string
		}{
			{[]string{"history"}, "history_default.txt"},
			{[]string{"stats"}, "stats_model.txt"},
		}
		for _, tt := range tests {
			for _, rep := range reports {
				t.Run(tt.name+"/"+rep.cmd[0], func(t *testing.T) {
					plain, err := os.ReadFile(filepath.Join("testdata", "golden", rep.golden))
					if err != nil {
						t.Fatal(err)
					}
					args := append(append([]string{"--config", cfg, "--journal", journalPath}, tt.args...), rep.cmd...)
					out := runOnTerminal(t, bin, binEnv(t, tt.env...), args...)
					if got := strings.Contains(out, "\x1b["); got != tt.color {
						t.Errorf("escape codes: got %v, want %v in %q", got, tt.color, out)
					}
					// With or without colour, the columns line up as in the plain table.
					text := strings.NewReplacer("\x1b[1m", "", "\x1b[0m", "", "\r\n", "\n").Replace(out)
					if text != string(plain) {
						t.Errorf("got %q, want %q", text, plain)
					}
				})
			}
		}
	})
}

// runOnTerminal runs bin with a terminal as its stdout and returns what it wrote there.
func runOnTerminal(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout = tty
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		tty.Close()
		t.Fatal(err)
	}
	tty.Close()
	var out strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(&out, ptmx) // ends with EIO once the child has closed the terminal
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal did not close")
	}
	return out.String()
}

// testBinaryProxy starts costplan proxy --port 0, makes a call through it to a fake
// upstream and stops it with SIGINT.
func testBinaryProxy(t *testing.T, bin string, env []string) {
	fake := newFakeAnthropic(t, fakeMessage)
	journalPath := filepath.Join(t.TempDir(), "journal.jsonl")
	proxy, origin := startBinaryProxy(t, bin, env, "--session", "2", "--per-call", "0.5",
		"--anthropic-upstream", fake.URL, "--journal", journalPath)
	printed := strings.Split(strings.TrimSuffix(proxy.stdout.String(), "\n"), "\n")
	m := regexp.MustCompile(`^costplan proxy listening on (http://127\.0\.0\.1:\d+) \(session ([0-9a-f]{16})\)$`).FindStringSubmatch(printed[0])
	if m == nil || m[1] != origin {
		t.Fatalf("first line: got %q, want the listening URL and session", printed[0])
	}
	id := m[2]
	want := []string{
		printed[0],
		"budget: $2.00 per session, $0.50 per call",
		"",
		"Point clients at it:",
		"  export ANTHROPIC_BASE_URL=" + origin,
		"  export OPENAI_BASE_URL=" + origin + "/v1",
		`Codex CLI: codex -c 'openai_base_url="` + origin + `/v1"' ...`,
		"Budget: curl " + origin + "/v1/budget",
	}
	if strings.Join(printed, "\n") != strings.Join(want, "\n") {
		t.Errorf("stdout:\ngot  %q\nwant %q", printed, want)
	}

	r := postMessage(t, origin)
	mustSucceed(t, r)
	if got, want := r.header.Get("X-CostPlan-Budget-Remaining"), (2*core.Dollar - fakeCallCost).Decimal(); got != want {
		t.Errorf("X-CostPlan-Budget-Remaining: got %v, want %v", got, want)
	}
	if got := fake.hits.Load(); got != 1 {
		t.Errorf("upstream calls: got %v, want 1", got)
	}

	proxy.stop(os.Interrupt)
	mustContain(t, "stderr", proxy.stderr.String(), "costplan: shutting down; settling calls in flight")

	var recs []journal.Record
	if _, err := journal.ReadFile(journalPath, func(r journal.Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("journal: got %d records %+v, want start, call, end", len(recs), recs)
	}
	start, call, end := recs[0], recs[1], recs[2]
	if start.Event != journal.EventStart || start.SessionCap != 2*core.Dollar || start.PerCallCap != core.Dollar/2 || start.Command != "proxy" {
		t.Errorf("start: got %+v", start)
	}
	if call.Type != journal.TypeCall || call.Outcome != journal.OutcomeOK || call.Cost != fakeCallCost || call.Model != "claude-sonnet-4-5" ||
		call.Usage.InputTokens != 1000 || call.Usage.OutputTokens != 500 || call.MaxTokensGranted != 1024 {
		t.Errorf("call: got %+v", call)
	}
	if end.Event != journal.EventEnd || end.Spent != fakeCallCost || end.Calls != 1 {
		t.Errorf("end: got %+v, want spent %v in 1 call", end, fakeCallCost)
	}
	for _, r := range recs {
		if r.Session != id {
			t.Errorf("session: got %v, want %v", r.Session, id)
		}
	}
}
