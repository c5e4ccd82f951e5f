package main

import (
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/costplan/costplan/core"
)

// envFunc turns a map into the env function that loadConfig takes.
func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func mustMoney(t *testing.T, s string) *core.Money {
	t.Helper()
	m, err := core.ParseMoney(s)
	if err != nil {
		t.Fatal(err)
	}
	return &m
}

// flagSet is the command line of one precedence case, applied as the commands do.
type flagSet struct {
	g        Globals
	budget   BudgetFlags
	upstream UpstreamFlags
}

// setting is one configuration value reachable from a file, the environment and
// (mostly) a flag.
type setting struct {
	name string
	file func(v string) string                    // the TOML that sets v
	env  string                                   // the environment variable
	flag func(t *testing.T, f *flagSet, v string) // nil when there is no flag
	get  func(c *Config) string
	def  string    // the default, as get returns it
	vals [3]string // file, environment, flag values as written
	want [3]string // the same as get returns them
}

func moneyGet(f func(c *Config) core.Money) func(c *Config) string {
	return func(c *Config) string { return f(c).Decimal() }
}

func precedenceSettings(env map[string]string) []setting {
	return []setting{
		{
			name: "session", env: "COSTPLAN_BUDGET_SESSION",
			file: func(v string) string { return "[budget]\nsession = " + v + "\n" },
			flag: func(t *testing.T, f *flagSet, v string) { f.budget.Session = mustMoney(t, v) },
			get:  moneyGet(func(c *Config) core.Money { return c.Budget.Session }),
			def:  "5", vals: [3]string{"7.5", "$8", "9.25"}, want: [3]string{"7.5", "8", "9.25"},
		},
		{
			name: "per_call", env: "COSTPLAN_BUDGET_PER_CALL",
			file: func(v string) string { return "[budget]\nper_call = " + v + "\n" },
			flag: func(t *testing.T, f *flagSet, v string) { f.budget.PerCall = mustMoney(t, v) },
			get:  moneyGet(func(c *Config) core.Money { return c.Budget.PerCall }),
			def:  "1", vals: [3]string{`"$0.50"`, "0.25", "0"}, want: [3]string{"0.5", "0.25", "0"},
		},
		{
			name: "daily", env: "COSTPLAN_BUDGET_DAILY",
			file: func(v string) string { return "[budget]\ndaily = " + v + "\n" },
			flag: func(t *testing.T, f *flagSet, v string) { f.budget.Daily = mustMoney(t, v) },
			get:  moneyGet(func(c *Config) core.Money { return c.Budget.Daily }),
			def:  "0", vals: [3]string{"20", "30", "40"}, want: [3]string{"20", "30", "40"},
		},
		{
			name: "monthly", env: "COSTPLAN_BUDGET_MONTHLY",
			file: func(v string) string { return "[budget]\nmonthly = " + v + "\n" },
			flag: func(t *testing.T, f *flagSet, v string) { f.budget.Monthly = mustMoney(t, v) },
			get:  moneyGet(func(c *Config) core.Money { return c.Budget.Monthly }),
			def:  "0", vals: [3]string{"200", "300", "400.000000001"}, want: [3]string{"200", "300", "400.000000001"},
		},
		{
			name: "warn_at", env: "COSTPLAN_WARN_AT",
			file: func(v string) string { return "[budget]\nwarn_at = " + v + "\n" },
			flag: func(t *testing.T, f *flagSet, v string) {
				w, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatal(err)
				}
				f.budget.WarnAt = &w
			},
			get: func(c *Config) string { return strconv.FormatFloat(c.Budget.WarnAt, 'g', -1, 64) },
			def: "0.8", vals: [3]string{"0.5", "0.75", "0.9"}, want: [3]string{"0.5", "0.75", "0.9"},
		},
		{
			name: "journal", env: "COSTPLAN_JOURNAL",
			file: func(v string) string { return "[journal]\npath = " + quote(v) + "\n" },
			flag: func(t *testing.T, f *flagSet, v string) { f.g.Journal = v },
			get:  func(c *Config) string { return c.Journal.Path },
			def:  filepath.Join(env["XDG_DATA_HOME"], "costplan", "journal.jsonl"),
			vals: [3]string{"/file/journal.jsonl", "/env/journal.jsonl", "/flag/journal.jsonl"},
			want: [3]string{"/file/journal.jsonl", "/env/journal.jsonl", "/flag/journal.jsonl"},
		},
		{
			name: "anthropic upstream", env: "COSTPLAN_ANTHROPIC_UPSTREAM",
			file: func(v string) string { return "[upstream]\nanthropic = " + quote(v) + "\n" },
			flag: func(t *testing.T, f *flagSet, v string) { f.upstream.AnthropicUpstream = v },
			get:  func(c *Config) string { return c.Upstream.Anthropic },
			def:  "https://api.anthropic.com",
			vals: [3]string{"https://file.example", "https://env.example", "http://127.0.0.1:9"},
			want: [3]string{"https://file.example", "https://env.example", "http://127.0.0.1:9"},
		},
		{
			name: "openai upstream", env: "COSTPLAN_OPENAI_UPSTREAM",
			file: func(v string) string { return "[upstream]\nopenai = " + quote(v) + "\n" },
			flag: func(t *testing.T, f *flagSet, v string) { f.upstream.OpenAIUpstream = v },
			get:  func(c *Config) string { return c.Upstream.OpenAI },
			def:  "https://api.openai.com/v1",
			vals: [3]string{"https://file.example/v1", "https://env.example/v1", "http://127.0.0.1:9/v1"},
			want: [3]string{"https://file.example/v1", "https://env.example/v1", "http://127.0.0.1:9/v1"},
		},
		{
			name: "unknown_model", env: "COSTPLAN_UNKNOWN_MODEL",
			file: func(v string) string { return "[pricing]\nunknown_model = " + quote(v) + "\n" },
			get:  func(c *Config) string { return c.Pricing.UnknownModel },
			def:  "family", vals: [3]string{"reject", "family"}, want: [3]string{"reject", "family"},
		},
		{
			name: "admin_token", env: "COSTPLAN_ADMIN_TOKEN",
			file: func(v string) string { return "[proxy]\nadmin_token = " + quote(v) + "\n" },
			get:  func(c *Config) string { return c.Proxy.AdminToken },
			def:  "", vals: [3]string{"from-file", "from-env"}, want: [3]string{"from-file", "from-env"},
		},
	}
}

func quote(s string) string { return `"` + s + `"` }

// TestConfigPrecedence checks flag > environment > file > default for every
// setting that has several sources, applying flags the way the commands do.
func TestConfigPrecedence(t *testing.T) {
	layers := []struct {
		name            string
		file, env, flag bool
	}{
		{"default", false, false, false},
		{"file", true, false, false},
		{"env", false, true, false},
		{"flag", false, false, true},
		{"file+env", true, true, false},
		{"file+flag", true, false, true},
		{"env+flag", false, true, true},
		{"file+env+flag", true, true, true},
	}
	base := testEnv(t)
	for _, s := range precedenceSettings(base) {
		for _, l := range layers {
			if l.flag && s.flag == nil {
				continue
			}
			t.Run(s.name+"/"+l.name, func(t *testing.T) {
				env := map[string]string{}
				for k, v := range base {
					env[k] = v
				}
				var f flagSet
				want := s.def
				if l.file {
					f.g.Config = writeFile(t, t.TempDir(), "costplan.toml", s.file(s.vals[0]))
					want = s.want[0]
				}
				if l.env {
					env[s.env] = s.vals[1]
					want = s.want[1]
				}
				if l.flag {
					s.flag(t, &f, s.vals[2])
					want = s.want[2]
				}
				cfg, err := f.g.load(&app{env: envFunc(env)})
				if err != nil {
					t.Fatal(err)
				}
				f.budget.apply(cfg)
				f.upstream.apply(cfg)
				if got := s.get(cfg); got != want {
					t.Errorf("got %v, want %v", got, want)
				}
			})
		}
	}
}

// TestDefaultCaps checks that the default caps are flagged (for the announcement)
// only when no source set a cap.
func TestDefaultCaps(t *testing.T) {
	env := testEnv(t)
	dir := t.TempDir()
	tests := []struct {
		name  string
		file  string
		env   map[string]string
		flags BudgetFlags
		want  bool
	}{
		{name: "nothing set", want: true},
		{name: "warn_at in the file is not a cap", file: "[budget]\nwarn_at = 0.5\n", want: true},
		{name: "daily in the file is not a session cap", file: "[budget]\ndaily = 3\n", want: true},
		{name: "session in the file", file: "[budget]\nsession = 5\n", want: false},
		{name: "per_call in the file", file: "[budget]\nper_call = 1\n", want: false},
		{name: "session in the environment", env: map[string]string{"COSTPLAN_BUDGET_SESSION": "5"}, want: false},
		{name: "per_call in the environment", env: map[string]string{"COSTPLAN_BUDGET_PER_CALL": "1"}, want: false},
		{name: "--session", flags: BudgetFlags{Session: mustMoney(t, "5")}, want: false},
		{name: "--per-call", flags: BudgetFlags{PerCall: mustMoney(t, "1")}, want: false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range env {
				e[k] = v
			}
			for k, v := range tt.env {
				e[k] = v
			}
			path := ""
			if tt.file != "" {
				path = writeFile(t, dir, strings.Repeat("x", i+1)+".toml", tt.file)
			}
			cfg, err := loadConfig(path, envFunc(e))
			if err != nil {
				t.Fatal(err)
			}
			tt.flags.apply(cfg)
			if cfg.DefaultCaps != tt.want {
				t.Errorf("got %v, want %v", cfg.DefaultCaps, tt.want)
			}
		})
	}
}

// TestConfigPrecedenceCLI checks the precedence through commands that print the
// effective value: pricing prints the unknown-model policy, history the journal it
// looked for.
func TestConfigPrecedenceCLI(t *testing.T) {
	dir := t.TempDir()
	reject := writeFile(t, dir, "reject.toml", "[pricing]\nunknown_model = \"reject\"\n")
	t.Run("unknown_model", func(t *testing.T) {
		tests := []struct {
			name string
			env  []string
			args []string
			want string
		}{
			{"default", nil, nil, "unknown models: family"},
			{"file", nil, []string{"--config", reject}, "unknown models: reject"},
			{"env over file", []string{"COSTPLAN_UNKNOWN_MODEL", "family"}, []string{"--config", reject}, "unknown models: family"},
			{"env", []string{"COSTPLAN_UNKNOWN_MODEL", "reject"}, nil, "unknown models: reject"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				out, errOut, code := runCLI(t, testEnv(t, tt.env...), "", append(tt.args, "pricing")...)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				first, _, _ := strings.Cut(out, "\n")
				mustContain(t, "pricing header", first, tt.want)
			})
		}
	})
	t.Run("journal", func(t *testing.T) {
		file := writeFile(t, dir, "journal.toml", "[journal]\npath = \""+filepath.Join(dir, "file.jsonl")+"\"\n")
		env := testEnv(t)
		tests := []struct {
			name string
			env  []string
			args []string
			want string
		}{
			{"default", nil, nil, filepath.Join(env["XDG_DATA_HOME"], "costplan", "journal.jsonl")},
			{"file", nil, []string{"--config", file}, filepath.Join(dir, "file.jsonl")},
			{"env over file", []string{"COSTPLAN_JOURNAL", filepath.Join(dir, "env.jsonl")}, []string{"--config", file}, filepath.Join(dir, "env.jsonl")},
			{"flag over env", []string{"COSTPLAN_JOURNAL", filepath.Join(dir, "env.jsonl")}, []string{"--config", file, "--journal", filepath.Join(dir, "flag.jsonl")}, filepath.Join(dir, "flag.jsonl")},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := map[string]string{}
				for k, v := range env {
					e[k] = v
				}
				for i := 0; i+1 < len(tt.env); i += 2 {
					e[tt.env[i]] = tt.env[i+1]
				}
				out, errOut, code := runCLI(t, e, "", append(tt.args, "history")...)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				if want := "No journal at " + tt.want + " yet."; !strings.HasPrefix(out, want) {
					t.Errorf("got %q, want it to start with %q", out, want)
				}
			})
		}
	})
}

// TestConfigSearchPath checks --config, then COSTPLAN_CONFIG, then the XDG file.
// (./costplan.toml sits between the last two; TestBuiltBinary checks it, since it
// depends on the working directory.)
func TestConfigSearchPath(t *testing.T) {
	dir := t.TempDir()
	flagFile := writeFile(t, dir, "flag.toml", "[budget]\nsession = 1\n")
	envFile := writeFile(t, dir, "env.toml", "[budget]\nsession = 2\n")
	env := testEnv(t)
	xdgFile := writeFile(t, env["XDG_CONFIG_HOME"], filepath.Join("costplan", "costplan.toml"), "[budget]\nsession = 3\n")
	tests := []struct {
		name     string
		flag     string
		env      string
		xdg      string // XDG_CONFIG_HOME
		wantFile string
		want     string
	}{
		{"flag over env and XDG", flagFile, envFile, env["XDG_CONFIG_HOME"], flagFile, "1"},
		{"env over XDG", "", envFile, env["XDG_CONFIG_HOME"], envFile, "2"},
		{"XDG", "", "", env["XDG_CONFIG_HOME"], xdgFile, "3"},
		{"no file anywhere", "", "", t.TempDir(), "", "5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := map[string]string{"HOME": env["HOME"], "XDG_DATA_HOME": env["XDG_DATA_HOME"], "XDG_CONFIG_HOME": tt.xdg, "COSTPLAN_CONFIG": tt.env}
			cfg, err := loadConfig(tt.flag, envFunc(e))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.File != tt.wantFile {
				t.Errorf("file: got %v, want %v", cfg.File, tt.wantFile)
			}
			if got := cfg.Budget.Session.Decimal(); got != tt.want {
				t.Errorf("session: got %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("HOME when XDG_CONFIG_HOME is unset", func(t *testing.T) {
		home := t.TempDir()
		file := writeFile(t, home, filepath.Join(".config", "costplan", "costplan.toml"), "[budget]\nsession = 4\n")
		cfg, err := loadConfig("", envFunc(map[string]string{"HOME": home, "XDG_DATA_HOME": env["XDG_DATA_HOME"]}))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.File != file {
			t.Errorf("got %v, want %v", cfg.File, file)
		}
	})
	t.Run("missing files that were named", func(t *testing.T) {
		missing := filepath.Join(dir, "nope.toml")
		for _, tt := range []struct {
			name string
			env  []string
			args []string
		}{
			{"--config", nil, []string{"--config", missing, "pricing"}},
			{"COSTPLAN_CONFIG", []string{"COSTPLAN_CONFIG", missing}, []string{"pricing"}},
			{"--config with version", nil, []string{"--config", missing, "version"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				out, errOut, code := runCLI(t, testEnv(t, tt.env...), "", tt.args...)
				if code != exitUsage {
					t.Errorf("exit: got %v, want %v", code, exitUsage)
				}
				if out != "" {
					t.Errorf("stdout: got %q, want nothing", out)
				}
				mustContain(t, "stderr", errOut, missing, "no such file", "--config or COSTPLAN_CONFIG")
			})
		}
	})
}

// TestConfigErrors checks that each mistake in a configuration file is an error that
// names the file, the key and what the key takes.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string // besides the file's path
	}{
		{"unknown key", "[budget]\nsesion = 5\n",
			[]string{"unknown key budget.sesion", "keys of [budget]: per_call, session, warn_at, daily, monthly, min_output_tokens, timezone"}},
		{"unknown key in another section", "[proxy]\nadress = \"x\"\n",
			[]string{"unknown key proxy.adress", "keys of [proxy]: host, port, max_body, admin_token"}},
		{"unknown section", "[budgte]\nsession = 5\n",
			[]string{"unknown key budgte", "the sections are [budget], [exec], [journal], [pricing], [proxy], [store], [upstream]"}},
		{"unknown top-level key", "session = 5\n",
			[]string{"unknown key session", "the sections are [budget]"}},
		{"unknown key of a model", "[pricing.models.\"m\"]\ninput = 1\noutput = 2\ncache_writes = 3\n",
			[]string{"unknown key pricing.models.m.cache_writes", "a model takes provider, aliases, input, output, cache_read, cache_write_5m, " +
				"cache_write_1h, web_search, context_window, max_output, encoding, deprecated, long_context)"}},
		{"unknown key of [pricing]", "[pricing]\nunknown = \"reject\"\n",
			[]string{"unknown key pricing.unknown", "keys of [pricing]: unknown_model, file, models"}},
		{"session is not money", "[budget]\nsession = \"abc\"\n",
			[]string{"line 2", "key budget.session", "not a dollar amount", `expected dollars, zero or more, like 5.00 or "$5.00"`}},
		{"per_call is a bool", "[budget]\nper_call = true\n",
			[]string{"key budget.per_call", "expected dollars"}},
		{"warn_at is a string", "[budget]\nwarn_at = \"high\"\n",
			[]string{"line 2", "key budget.warn_at", "expected a fraction between 0 and 1, like 0.8"}},
		{"port is a string", "[proxy]\nport = \"x\"\n",
			[]string{"line 2", "key proxy.port", "expected a port number, like 8080"}},
		{"max_body is a bool", "[proxy]\nmax_body = true\n",
			[]string{"key proxy.max_body", `expected a size, like "32MiB" or 33554432`}},
		{"max_body is not a size", "[proxy]\nmax_body = \"lots\"\n",
			[]string{"key proxy.max_body", `"lots" is not a size`}},
		{"min_output_tokens is a string", "[budget]\nmin_output_tokens = \"many\"\n",
			[]string{"key budget.min_output_tokens", "expected a whole number of tokens, like 1024"}},
		{"grace is not a duration", "[exec]\ngrace = \"forever\"\n",
			[]string{"key exec.grace", `expected a duration, like "5s"`}},
		{"quiet is a string", "[exec]\nquiet = \"yes\"\n",
			[]string{"key exec.quiet", "expected true or false"}},
		{"upstream is a number", "[upstream]\nanthropic = 443\n",
			[]string{"key upstream.anthropic", "expected a string"}},
		{"model price is a string", "[pricing.models.\"m\"]\ninput = \"cheap\"\n",
			[]string{"key pricing.models.m.input", "expected dollars"}},
		{"negative session", "[budget]\nsession = -5\n",
			[]string{"line 2", "key budget.session", "negative amount", "zero or more"}},
		{"negative per_call", "[budget]\nper_call = -0.01\n",
			[]string{"key budget.per_call", "negative amount"}},
		{"negative daily", "[budget]\ndaily = -1\n",
			[]string{"key budget.daily", "negative amount"}},
		{"negative monthly as a string", "[budget]\nmonthly = \"-$3\"\n",
			[]string{"key budget.monthly"}},
		{"syntax error", "[budget\nsession = 5\n",
			[]string{"line 2", "to end table name"}},
		{"section twice", "[budget]\nsession = 5\n[budget]\nper_call = 1\n",
			[]string{"line 3", "budget"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "costplan.toml", tt.toml)
			_, err := loadConfig(path, envFunc(testEnv(t)))
			if err == nil {
				t.Fatal("got no error")
			}
			mustContain(t, "error", err.Error(), append([]string{"config " + path + ":"}, tt.want...)...)
			// The command line reports it as a usage error, on stderr.
			out, errOut, code := runCLI(t, testEnv(t), "", "--config", path, "pricing")
			if code != exitUsage {
				t.Errorf("exit: got %v, want %v", code, exitUsage)
			}
			if out != "" {
				t.Errorf("stdout: got %q, want nothing", out)
			}
			if want := "costplan: " + err.Error() + "\n"; errOut != want {
				t.Errorf("stderr: got %q, want %q", errOut, want)
			}
		})
	}
}

// TestConfigEnvErrors checks that a bad COSTPLAN_* value names the variable and what
// it takes.
func TestConfigEnvErrors(t *testing.T) {
	tests := []struct {
		name, value string
		want        []string
	}{
		{"COSTPLAN_BUDGET_SESSION", "-1", []string{`environment COSTPLAN_BUDGET_SESSION="-1"`, "negative amount"}},
		{"COSTPLAN_BUDGET_PER_CALL", "one", []string{`environment COSTPLAN_BUDGET_PER_CALL="one"`, "not a dollar amount"}},
		{"COSTPLAN_BUDGET_DAILY", "-2", []string{"COSTPLAN_BUDGET_DAILY", "negative amount"}},
		{"COSTPLAN_BUDGET_MONTHLY", "NaN", []string{"COSTPLAN_BUDGET_MONTHLY"}},
		{"COSTPLAN_WARN_AT", "high", []string{`environment COSTPLAN_WARN_AT="high"`, "not a fraction between 0 and 1 (like 0.8)"}},
		{"COSTPLAN_WARN_AT", "1.5", []string{"COSTPLAN_WARN_AT", "not a fraction between 0 and 1"}},
		{"COSTPLAN_WARN_AT", "-0.1", []string{"COSTPLAN_WARN_AT", "not a fraction between 0 and 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			env := testEnv(t, tt.name, tt.value)
			_, err := loadConfig("", envFunc(env))
			if err == nil {
				t.Fatal("got no error")
			}
			mustContain(t, "error", err.Error(), tt.want...)
			_, errOut, code := runCLI(t, env, "", "pricing")
			if code != exitUsage {
				t.Errorf("exit: got %v, want %v", code, exitUsage)
			}
			mustContain(t, "stderr", errOut, tt.want...)
		})
	}
}

// TestBudgetFlagErrors checks that bad budget flags are usage errors naming the flag.
func TestBudgetFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"proxy", "--session=-1"}, []string{"--session", "negative amount"}},
		{[]string{"proxy", "--per-call", "lots"}, []string{"--per-call", "not a dollar amount"}},
		{[]string{"proxy", "--daily=-3"}, []string{"--daily", "negative amount"}},
		{[]string{"proxy", "--warn-at", "high"}, []string{"--warn-at"}},
		{[]string{"proxy", "--max-body", "huge"}, []string{"--max-body", "not a size"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, code := runCLI(t, testEnv(t), "", tt.args...)
			if code != exitUsage {
				t.Errorf("exit: got %v, want %v", code, exitUsage)
			}
			if out != "" {
				t.Errorf("stdout: got %q, want nothing", out)
			}
			mustContain(t, "stderr", errOut, append(tt.want, "run 'costplan proxy --help' for usage")...)
		})
	}
}

// TestValidate checks the settings that decode but cannot work.
func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Config)
		want   []string
	}{
		{"defaults", func(c *Config) {}, nil},
		{"zero session", func(c *Config) { c.Budget.Session = 0 },
			[]string{"session budget must be positive, got $0.00", "--session or [budget] session"}},
		{"warn_at above 1", func(c *Config) { c.Budget.WarnAt = 1.5 },
			[]string{"warn_at must be a fraction between 0 and 1, got 1.5", "--warn-at or [budget] warn_at"}},
		{"warn_at below 0", func(c *Config) { c.Budget.WarnAt = -0.2 },
			[]string{"warn_at must be a fraction between 0 and 1, got -0.2"}},
		{"warn_at 0 disables the warning", func(c *Config) { c.Budget.WarnAt = 0 }, nil},
		{"warn_at 1", func(c *Config) { c.Budget.WarnAt = 1 }, nil},
		{"min_output_tokens 0", func(c *Config) { c.Budget.MinOutputTokens = 0 },
			[]string{"min_output_tokens must be at least 1, got 0"}},
		{"bad timezone", func(c *Config) { c.Budget.Timezone = "Mars/Olympus_Mons" },
			[]string{`timezone "Mars/Olympus_Mons"`, `an IANA name like "Europe/Paris", or "Local"`}},
		{"IANA timezone", func(c *Config) { c.Budget.Timezone = "Asia/Kolkata" }, nil},
		{"ftp upstream", func(c *Config) { c.Upstream.Anthropic = "ftp://example.com" },
			[]string{`anthropic upstream "ftp://example.com"`, "must be an http:// or https:// URL", "--anthropic-upstream, COSTPLAN_ANTHROPIC_UPSTREAM or [upstream] anthropic"}},
		{"upstream without a host", func(c *Config) { c.Upstream.OpenAI = "api.openai.com/v1" },
			[]string{`openai upstream "api.openai.com/v1"`, "http:// or https://", "--openai-upstream, COSTPLAN_OPENAI_UPSTREAM or [upstream] openai"}},
		{"upstream with a query", func(c *Config) { c.Upstream.OpenAI = "https://api.openai.com/v1?key=x" },
			[]string{"openai upstream", "must not carry a query, a fragment or credentials"}},
		{"upstream with credentials", func(c *Config) { c.Upstream.Anthropic = "https://user:pw@example.com" },
			[]string{"anthropic upstream", "credentials"}},
		{"unparsable upstream", func(c *Config) { c.Upstream.Anthropic = "http://[::1" },
			[]string{"anthropic upstream"}},
		{"port out of range", func(c *Config) { c.Proxy.Port = 70000 },
			[]string{"port must be between 0 and 65535, got 70000"}},
		{"unknown_model bogus", func(c *Config) { c.Pricing.UnknownModel = "bogus" },
			[]string{`unknown_model must be "family" or "reject", got "bogus"`, "[pricing] unknown_model"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			tt.modify(&cfg)
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("got %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatal("got no error")
			}
			mustContain(t, "error", err.Error(), tt.want...)
		})
	}
}

// TestValidateThroughCommands checks that the commands that need a valid
// configuration refuse one from a file with exit status 2, before serving.
func TestValidateThroughCommands(t *testing.T) {
	tests := []struct {
		name string
		toml string
		args []string
		want string
	}{
		{"warn_at out of range", "[budget]\nwarn_at = 1.5\n", []string{"proxy", "--port", "0"}, "warn_at must be a fraction between 0 and 1, got 1.5"},
		{"bad timezone", "[budget]\ntimezone = \"Mars/Olympus_Mons\"\n", []string{"proxy", "--port", "0"}, `timezone "Mars/Olympus_Mons"`},
		{"bad timezone in history", "[budget]\ntimezone = \"Mars/Olympus_Mons\"\n", []string{"history"}, `timezone "Mars/Olympus_Mons"`},
		{"bad timezone in stats", "[budget]\ntimezone = \"Mars/Olympus_Mons\"\n", []string{"stats"}, `timezone "Mars/Olympus_Mons"`},
		{"bad upstream", "[upstream]\nopenai = \"ftp://example.com/v1\"\n", []string{"proxy", "--port", "0"}, `openai upstream "ftp://example.com/v1"`},
		{"bad upstream flag", "", []string{"proxy", "--port", "0", "--anthropic-upstream", "localhost:8080"}, `anthropic upstream "localhost:8080"`},
		{"unknown_model bogus", "[pricing]\nunknown_model = \"bogus\"\n", []string{"pricing"}, `unknown_model must be "family" or "reject", got "bogus"`},
		{"unknown_model bogus in proxy", "[pricing]\nunknown_model = \"bogus\"\n", []string{"proxy", "--port", "0"}, `unknown_model must be "family" or "reject", got "bogus"`},
		{"zero session", "[budget]\nsession = 0\n", []string{"proxy", "--port", "0"}, "session budget must be positive"},
		{"port out of range", "[proxy]\nport = 70000\n", []string{"proxy"}, "port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := testEnv(t)
			args := tt.args
			if tt.toml != "" {
				args = append([]string{"--config", writeFile(t, t.TempDir(), "costplan.toml", tt.toml)}, args...)
			}
			out, errOut, code := runCLI(t, env, "", args...)
			if code != exitUsage {
				t.Errorf("exit: got %v, want %v (stdout %q)", code, exitUsage, out)
			}
			mustContain(t, "stderr", errOut, tt.want)
			if strings.Contains(out, "listening") {
				t.Errorf("stdout: got %q, want no server", out)
			}
		})
	}
}

// TestRepositoryConfig loads the documented example configuration at the root of the
// repository: it must be valid and its values must be the real defaults.
func TestRepositoryConfig(t *testing.T) {
	path := filepath.Join("..", "..", "costplan.toml")
	env := testEnv(t)
	cfg, err := loadConfig(path, envFunc(env))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	def := defaultConfig()
	sections := []struct {
		name      string
		got, want any
	}{
		{"budget", cfg.Budget, def.Budget},
		{"upstream", cfg.Upstream, def.Upstream},
		{"proxy", cfg.Proxy, def.Proxy},
		{"exec", cfg.Exec, def.Exec},
		{"pricing", cfg.Pricing, def.Pricing},
		{"journal", cfg.Journal.Path, defaultJournalPath(envFunc(env))},
	}
	for _, s := range sections {
		if !reflect.DeepEqual(s.got, s.want) {
			t.Errorf("[%s]: got %+v, want %+v", s.name, s.got, s.want)
		}
	}
	if cfg.File != path {
		t.Errorf("file: got %v, want %v", cfg.File, path)
	}
}

// TestPricingOverrides checks that [pricing.models."NAME"] replaces or adds a model
// as `costplan pricing NAME` shows it, and that an incomplete new model is refused
// with the TOML to write.
func TestPricingOverrides(t *testing.T) {
	dir := t.TempDir()
	t.Run("replace", func(t *testing.T) {
		path := writeFile(t, dir, "replace.toml", "[pricing.models.\"gpt-4o\"]\ninput = 1.00\noutput = 4.00\n")
		out, errOut, code := runCLI(t, testEnv(t), "", "--config", path, "pricing", "gpt-4o")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		mustContain(t, "pricing gpt-4o", out, "input           $1.00 / MTok\n", "output          $4.00 / MTok\n", "source          "+path+"\n")
		// The embedded table says 2.50 and 10.00.
		if strings.Contains(out, "$2.50 / MTok\noutput") || strings.Contains(out, "$10.00") {
			t.Errorf("got %q, want the embedded input price replaced", out)
		}
	})
	t.Run("add", func(t *testing.T) {
		path := writeFile(t, dir, "add.toml", "[pricing.models.\"acme-reasoner-1\"]\nprovider = \"openai\"\ninput = 0.75\noutput = 3\ncache_read = 0.075\nmax_output = 32000\n")
		env := testEnv(t)
		out, errOut, code := runCLI(t, env, "", "--config", path, "pricing", "acme-reasoner-1")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		mustContain(t, "pricing acme-reasoner-1", out, "acme-reasoner-1\n", "provider        openai\n", "input           $0.75 / MTok\n",
			"output          $3.00 / MTok\n", "cache read      $0.075 / MTok\n", "max output      32,000 tokens\n")
		out, _, _ = runCLI(t, env, "", "--config", path, "pricing")
		mustContain(t, "pricing table", out, "acme-reasoner-1")
		// predict prices with it too.
		out, errOut, code = runCLI(t, env, "", "--config", path, "--json", "predict", "hello world", "--model", "acme-reasoner-1", "--max-tokens", "1000")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		// 2 tokens at $0.75/M and 1000 at $3/M.
		mustContain(t, "predict", out, `"input_usd": 0.0000015,`, `"worst_output_usd": 0.003,`, `"worst_total_usd": 0.0030015`)
	})
	t.Run("incomplete new model", func(t *testing.T) {
		path := writeFile(t, dir, "incomplete.toml", "[pricing.models.\"acme-1\"]\nprovider = \"openai\"\ninput = 1\n")
		out, errOut, code := runCLI(t, testEnv(t), "", "--config", path, "pricing", "acme-1")
		if code != exitUsage {
			t.Errorf("exit: got %v, want %v", code, exitUsage)
		}
		if out != "" {
			t.Errorf("stdout: got %q, want nothing", out)
		}
		mustContain(t, "stderr", errOut, path, `[pricing.models."acme-1"]`, "a new model needs at least input and output prices",
			"input = 3.00", "output = 15.00")
	})
}
