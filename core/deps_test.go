package core_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps core free of network and process imports and of the rest of this
// module: dependencies point inward, and core is the innermost package.
func TestDeps(t *testing.T) {
	const (
		module = "github.com/costplan/costplan"
		self   = module + "/core"
	)
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go command not found: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-deps", self).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v\n%s", self, err, stderr)
	}
	deps := strings.Fields(string(out))
	var sawSelf bool
	for _, dep := range deps {
		switch {
		case dep == self:
			sawSelf = true
		case strings.HasPrefix(dep, "net"):
			t.Errorf("core depends on %s: got a network package, want none", dep)
		case dep == "os/exec":
			t.Errorf("core depends on %s: got a process package, want none", dep)
		case dep == module || strings.HasPrefix(dep, module+"/"):
			t.Errorf("core depends on %s: got another package of this module, want none", dep)
		}
	}
	if !sawSelf {
		t.Errorf("go list -deps output: got %d packages without %s, want it listed", len(deps), self)
	}
}
