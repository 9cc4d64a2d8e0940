package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// tokenOnCommandLine is a token flag given a value: what ps shows to every user of the host.
var tokenOnCommandLine = regexp.MustCompile(`--(api-)?token[= ]+["'$A-Za-z0-9]`)

// Issue 12, item 7: the commands in the docs and scripts never put a token on the command line
// (--api-token, --token); they use api.token_files, PORTCULLIS_API_TOKENS or PORTCULLIS_TOKEN.
func TestDocsPutNoTokenOnTheCommandLine(t *testing.T) {
	var files []string
	for _, pat := range []string{"../../README.md", "../../docs/*.md", "../../docs/*.yaml", "../../scripts/*.sh",
		"../../deploy/*.service", "../../deploy/*.yaml", "../../Makefile"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("only %d files found: %v", len(files), files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if tokenOnCommandLine.MatchString(line) {
				t.Errorf("%s:%d puts a token on the command line (ps shows it): %s", strings.TrimPrefix(f, "../../"), i+1, strings.TrimSpace(line))
			}
		}
	}
}
