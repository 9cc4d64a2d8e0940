// Package allowtest holds the allowlist grammar table (package allow's testdata/grammar.txt) for the
// tests of every package that parses allowlist entries, so that they all check the same answers.
package allowtest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Case is one line of the grammar table (testdata/grammar.txt): an entry and either its canonical
// form or a text its error contains.
type Case struct {
	Entry, Canonical, Err string
}

// Cases reads a grammar table (Table is the shared one), for the tests of every package that parses allowlist entries, so
// that they all check the same answers.
func Cases(tb testing.TB, path string) []Case {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var out []Case
	for i, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entry, want, ok := strings.Cut(line, "\t")
		verdict, text, _ := strings.Cut(want, " ")
		switch {
		case ok && verdict == "ok":
			out = append(out, Case{Entry: entry, Canonical: text})
		case ok && verdict == "error":
			out = append(out, Case{Entry: entry, Err: text})
		default:
			tb.Fatalf("%s:%d: want ENTRY<TAB>ok CANONICAL or ENTRY<TAB>error TEXT", path, i+1)
		}
	}
	return out
}

// Table is the path of the shared grammar table.
func Table() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "grammar.txt")
}
