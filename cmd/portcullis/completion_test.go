package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"portcullis/internal/testenv"
)

// complete runs the generated script in bash on the command line words
// (the last one is being completed) and returns the candidates.
func complete(t *testing.T, script string, words ...string) []string {
	t.Helper()
	bash := testenv.Tool(t, "bash")[0]
	var quoted []string
	for _, w := range words {
		quoted = append(quoted, "'"+w+"'")
	}
	prog := "source " + script + "\n" +
		"COMP_WORDS=(portcullis " + strings.Join(quoted, " ") + ")\n" +
		"COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n" +
		"_portcullis\n" +
		`printf '%s\n' "${COMPREPLY[@]}"` + "\n"
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

func TestCompletionBash(t *testing.T) {
	code, out, errs := run("completion", "bash")
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	script := filepath.Join(t.TempDir(), "portcullis.bash")
	if err := os.WriteFile(script, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		words []string
		want  []string // all of these, among the candidates
		not   []string // none of these
	}{
		{[]string{"bl"}, []string{"block"}, []string{"allow"}},
		{[]string{""}, []string{"run", "block", "allow", "events", "completion", "lab"}, nil},
		{[]string{"block", ""}, []string{"list", "add", "rm"}, nil},
		{[]string{"block", "add", "--"}, []string{"--ip", "--mac", "--duration", "--reason", "--token", "--json"}, []string{"--comment"}},
		{[]string{"allow", "add", "--p"}, []string{"--port"}, []string{"--ip"}},
		{[]string{"events", "--type", "bl"}, []string{"blocked", "block_failed", "block_expired"}, []string{"switch_up"}},
		{[]string{"run", "--api"}, []string{"--api-listen", "--api-token"}, nil},
		{[]string{"run", "--log-format", ""}, []string{"text", "json"}, nil},
		{[]string{"lab", "up", "--ho"}, []string{"--hosts"}, nil},
		{[]string{"events", "-"}, []string{"-f", "--follow"}, nil},
	}
	for _, tc := range tests {
		got := complete(t, script, tc.words...)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("portcullis %s<TAB>: %q lacks %q", strings.Join(tc.words, " "), got, w)
			}
		}
		for _, w := range tc.not {
			if slices.Contains(got, w) {
				t.Errorf("portcullis %s<TAB>: %q has %q", strings.Join(tc.words, " "), got, w)
			}
		}
	}
	if code, _, _ := run("completion", "zsh"); code != exitUsage {
		t.Errorf("completion zsh: exit %d, want %d", code, exitUsage)
	}
}
