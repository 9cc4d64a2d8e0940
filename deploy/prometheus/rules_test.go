package prometheus

import (
	"os/exec"
	"strings"
	"testing"

	"portcullis/internal/testenv"
)

func promtool(t *testing.T, args ...string) string {
	t.Helper()
	bin := testenv.Tool(t, "promtool")[0]
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestRulesCheck: the rule file is valid (YAML, PromQL, templates).
func TestRulesCheck(t *testing.T) {
	out := promtool(t, "check", "rules", "alerts.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules: %s", out)
	}
}

// TestRulesUnit: each alert fires on the series in alerts_test.yml that
// mean trouble, with the labels and text an operator sees, and stays quiet
// on the others.
func TestRulesUnit(t *testing.T) {
	promtool(t, "test", "rules", "alerts_test.yml")
}
