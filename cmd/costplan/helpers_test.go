package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	// The tests name IANA zones; embed the database so they do not depend on the
	// machine's.
	_ "time/tzdata"
)

// update rewrites the golden files in testdata/golden instead of comparing with them:
//
//	go test ./cmd/costplan -run TestGolden -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// isolatedVars are the variables that point CostPlan at the user's files. runCLI
// gives each one missing from a test's map a fresh directory, so that no test reads
// or writes the real home directory.
var isolatedVars = []string{"HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"}

// testEnv returns an environment with HOME, XDG_CONFIG_HOME and XDG_DATA_HOME in
// new temporary directories, plus the pairs given (key, value, key, value...).
func testEnv(tb testing.TB, kv ...string) map[string]string {
	tb.Helper()
	dir := tb.TempDir()
	env := map[string]string{
		"HOME":            filepath.Join(dir, "home"),
		"XDG_CONFIG_HOME": filepath.Join(dir, "config"),
		"XDG_DATA_HOME":   filepath.Join(dir, "data"),
	}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

// runCLI runs costplan in this process with args, the environment env (and nothing
// of the real one) and stdin as standard input, and returns what it printed and its
// exit status. HOME, XDG_CONFIG_HOME and XDG_DATA_HOME missing from env are set to
// a temporary directory.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCLIContext(t, context.Background(), env, strings.NewReader(stdin), &syncBuffer{}, args...)
}

// runCLIContext is runCLI with a context and a stdout of the caller's choosing (for
// long-running commands, read while they run).
func runCLIContext(t *testing.T, ctx context.Context, env map[string]string, stdin io.Reader, stdout *syncBuffer, args ...string) (string, string, int) {
	t.Helper()
	full := make(map[string]string, len(env)+len(isolatedVars))
	for k, v := range env {
		full[k] = v
	}
	for _, k := range isolatedVars {
		if _, ok := full[k]; !ok {
			full[k] = t.TempDir()
		}
	}
	var stderr syncBuffer
	a := &app{
		stdin:  stdin,
		stdout: stdout,
		stderr: &stderr,
		env:    func(k string) string { return full[k] },
		environ: func() []string {
			out := make([]string, 0, len(full))
			for k, v := range full {
				out = append(out, k+"="+v)
			}
			sort.Strings(out)
			return out
		},
	}
	code := run(ctx, args, a)
	return stdout.String(), stderr.String(), code
}

// syncBuffer is a bytes.Buffer safe for concurrent use: a running server writes
// to it while the test reads it.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// golden compares got with testdata/golden/name, or rewrites the file under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustContain fails the test when s lacks any of the parts.
func mustContain(t testing.TB, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s: got %q, want it to contain %q", what, s, p)
		}
	}
}

// fakeAnthropic is an Anthropic upstream that answers every POST /v1/messages
// with one message, and anything else with 404.
type fakeAnthropic struct {
	*httptest.Server
	// hits counts the messages it answered.
	hits atomic.Int64
	// key is the X-Api-Key of the last message.
	key atomic.Pointer[string]
}

func newFakeAnthropic(tb testing.TB, message string) *fakeAnthropic {
	tb.Helper()
	f := &fakeAnthropic{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		key := r.Header.Get("X-Api-Key")
		f.key.Store(&key)
		f.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req_fake")
		_, _ = io.WriteString(w, message)
	}))
	tb.Cleanup(f.Close)
	return f
}

// lastKey returns the X-Api-Key of the last message, or "" before the first.
func (f *fakeAnthropic) lastKey() string {
	if k := f.key.Load(); k != nil {
		return *k
	}
	return ""
}
