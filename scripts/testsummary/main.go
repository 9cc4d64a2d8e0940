// Command testsummary reads `go test -json` (test2json) events and prints
// what `go test` would print without -v: each package's ok/FAIL line, and
// the output of failed tests. With -save FILE it also keeps the events.
// With -report FILE... it reads saved events instead of stdin and prints the
// closing lines of `make test`: every skipped test with its reason, every
// failed one, and a last line (a test run twice, as the unit tests are with
// and without -race, counts once: failed if a run failed, else passed if a
// run passed, else skipped)
//
//	tests: 812 passed, 0 failed, 14 skipped
//
// It exits 1 if a test or a package (a build error, a panic outside a test)
// failed, so a pipeline's status does not depend on go test's.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// event is one test2json record (go doc test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output and build-fail: "pkg [pkg.test]"
	Test       string
	Output     string
}

type key struct{ pkg, test string }

// Outcomes of a test, in precedence order: a test run more than once (the
// unit tests with and without -race) counts once, failed if any run
// failed, passed if any passed, else skipped.
const (
	skipped = iota + 1
	passed
	failed
)

// result is what one or more runs of go test said.
type result struct {
	passed, failed, skipped int      // this run's counts (every event)
	skips                   []string // "pkg Test: reason"
	fails                   []string // "pkg Test" or "pkg (package)"
	out                     map[key][]string
	tests                   map[key]int    // outcome per test, over every run
	reasons                 map[key]string // why a test skipped
	w                       io.Writer      // where live output goes; nil: none
}

func newResult(w io.Writer) *result {
	return &result{out: map[key][]string{}, tests: map[key]int{}, reasons: map[key]string{}, w: w}
}

func (r *result) record(k key, outcome int) {
	r.tests[k] = max(r.tests[k], outcome)
}

func (r *result) print(s string) {
	if r.w != nil {
		io.WriteString(r.w, s)
	}
}

func (r *result) add(e event) {
	if e.Package == "" && e.ImportPath != "" {
		e.Package, _, _ = strings.Cut(e.ImportPath, " ")
	}
	k := key{e.Package, e.Test}
	switch e.Action {
	case "output", "build-output":
		if e.Test == "" {
			// Package lines: "ok  pkg 0.1s", "FAIL pkg", "? pkg [no test
			// files]", build errors, and output outside any test.
			if !strings.HasPrefix(e.Output, "=== ") && e.Output != "PASS\n" && e.Output != "FAIL\n" {
				r.print(e.Output)
			}
			return
		}
		r.out[k] = append(r.out[k], e.Output)
	case "pass":
		if e.Test != "" {
			r.passed++
			r.record(k, passed)
			delete(r.out, k)
		}
	case "skip":
		if e.Test != "" {
			r.skipped++
			r.record(k, skipped)
			r.reasons[k] = skipReason(r.out[k])
			r.skips = append(r.skips, fmt.Sprintf("%s %s: %s", e.Package, e.Test, r.reasons[k]))
			delete(r.out, k)
		}
	case "fail", "build-fail":
		if e.Test != "" {
			r.failed++
			r.record(k, failed)
			r.fails = append(r.fails, e.Package+" "+e.Test)
			for _, l := range r.out[k] {
				r.print(l)
			}
			delete(r.out, k)
		} else if !r.hasFailure(e.Package) {
			r.fails = append(r.fails, e.Package+" (package: build error, panic or timeout outside a test)")
		}
	}
}

// hasFailure reports whether pkg has a failure recorded (a test, or the
// package itself), so a package's own "fail" is not counted twice.
func (r *result) hasFailure(pkg string) bool {
	for _, f := range r.fails {
		if strings.HasPrefix(f, pkg+" ") {
			return true
		}
	}
	return false
}

// skipReason is the message t.Skip printed: the first output line of the
// test that is not the framework's own.
func skipReason(lines []string) string {
	for _, l := range lines {
		s := strings.TrimSpace(l)
		if s == "" || strings.HasPrefix(s, "=== ") || strings.HasPrefix(s, "--- ") {
			continue
		}
		// "file_test.go:12: reason" -> "reason (file_test.go:12)"
		if i := strings.Index(s, ": "); i > 0 && strings.Contains(s[:i], ".go:") {
			return s[i+2:] + " (" + s[:i] + ")"
		}
		return s
	}
	return "(no reason given)"
}

func (r *result) read(rd io.Reader, save io.Writer) error {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if save != nil {
			save.Write(line)
			save.Write([]byte{'\n'})
		}
		var e event
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// Not JSON: go vet or the go command itself talking.
			r.print(string(line) + "\n")
			continue
		}
		r.add(e)
	}
	return sc.Err()
}

func main() {
	savePath := flag.String("save", "", "also write the events read from stdin to `FILE`")
	report := flag.Bool("report", false, "read the saved event files given as arguments and print the summary")
	flag.Parse()
	if *report {
		os.Exit(doReport(flag.Args()))
	}
	var save io.Writer
	if *savePath != "" {
		f, err := os.Create(*savePath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testsummary:", err)
			os.Exit(2)
		}
		defer f.Close()
		save = f
	}
	r := newResult(os.Stdout)
	if err := r.read(os.Stdin, save); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	fmt.Printf("%d passed, %d failed, %d skipped\n", r.passed, r.failed, r.skipped)
	if len(r.fails) > 0 {
		os.Exit(1)
	}
}

func doReport(files []string) int {
	r := newResult(nil)
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testsummary:", err)
			return 2
		}
		err = r.read(f, nil)
		f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "testsummary:", err)
			return 2
		}
	}
	var n [failed + 1]int
	var skips []string
	for k, o := range r.tests {
		n[o]++
		if o == skipped {
			skips = append(skips, fmt.Sprintf("%s %s: %s", k.pkg, k.test, r.reasons[k]))
		}
	}
	slices.Sort(skips)
	if len(skips) > 0 {
		fmt.Printf("skipped (%d):\n", len(skips))
		for _, s := range skips {
			fmt.Println("  SKIP " + s)
		}
	}
	fails := slices.Compact(slices.Sorted(slices.Values(r.fails)))
	if len(fails) > 0 {
		fmt.Printf("failed (%d):\n", len(fails))
		for _, s := range fails {
			fmt.Println("  FAIL " + s)
		}
	}
	fmt.Printf("tests: %d passed, %d failed, %d skipped\n", n[passed], n[failed], n[skipped])
	if len(fails) > 0 {
		return 1
	}
	return 0
}
