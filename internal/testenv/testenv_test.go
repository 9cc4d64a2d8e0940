package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInCI(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{{"", false}, {"0", false}, {"false", false}, {"1", true}, {"true", true}} {
		t.Setenv("CI", tc.v)
		if got := InCI(); got != tc.want {
			t.Errorf("CI=%q: InCI() = %v, want %v", tc.v, got, tc.want)
		}
	}
}

// recorder is a testing.TB that records whether the test was skipped or
// failed, without ending the calling test.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Skip(args ...any)      { r.skipped = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) Skipf(string, ...any)  { r.skipped = true }
func (r *recorder) Logf(string, ...any)   {}

func TestToolMissingSkipsOrFailsUnderCI(t *testing.T) {
	const absent = "portcullis-no-such-tool"
	t.Setenv("CI", "")
	r := &recorder{TB: t}
	Tool(r, absent)
	if !r.skipped || r.failed {
		t.Errorf("without CI: skipped=%v failed=%v, want a skip", r.skipped, r.failed)
	}
	t.Setenv("CI", "1")
	r = &recorder{TB: t}
	Tool(r, absent)
	if !r.failed || r.skipped {
		t.Errorf("with CI: skipped=%v failed=%v, want a failure", r.skipped, r.failed)
	}
}

func TestToolFound(t *testing.T) {
	r := &recorder{TB: t}
	if p := Tool(r, "sh"); len(p) != 1 || p[0] == "" || r.skipped || r.failed {
		t.Errorf("Tool(sh) = %v (skipped=%v failed=%v)", p, r.skipped, r.failed)
	}
}

// TestCIInstallsEveryTool: every tool a test asks for through Tool has its
// Debian package in scripts/test-packages.txt, which .ci/run installs, so
// CI cannot fail (or, before CI=1, skip) for a package nobody listed.
func TestCIInstallsEveryTool(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "scripts", "test-packages.txt"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			listed[l] = true
		}
	}
	for tool, pkg := range packages {
		if !listed[pkg] {
			t.Errorf("tool %s: package %s is not in scripts/test-packages.txt", tool, pkg)
		}
	}
}
