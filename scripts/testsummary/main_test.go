package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// testdata/events.json is `go test -json ./...` of a module with a package
// whose test does not build and one with passing, failing and skipped tests
// and subtests (Go 1.26).
func TestSummary(t *testing.T) {
	f, err := os.Open("testdata/events.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	r := newResult(&out)
	if err := r.read(f, nil); err != nil {
		t.Fatal(err)
	}
	if r.passed != 3 || r.failed != 1 || r.skipped != 2 {
		t.Errorf("passed %d failed %d skipped %d, want 3 1 2", r.passed, r.failed, r.skipped)
	}
	wantFails := []string{"ts/b (package: build error, panic or timeout outside a test)", "ts/a TestFail"}
	if strings.Join(r.fails, "|") != strings.Join(wantFails, "|") {
		t.Errorf("fails %q, want %q", r.fails, wantFails)
	}
	wantSkips := []string{
		"ts/a TestSkip: no widget: apt-get install widget (a_test.go:5)",
		"ts/a TestSub/y: later (a_test.go:6)",
	}
	if strings.Join(r.skips, "|") != strings.Join(wantSkips, "|") {
		t.Errorf("skips %q, want %q", r.skips, wantSkips)
	}
	// Like go test without -v: the failure's output and the package
	// lines, not the passing tests' chatter.
	for _, want := range []string{"undefined: undefined", "FAIL\tts/b [build failed]", "a_test.go:4: boom", "--- FAIL: TestFail", "FAIL\tts/a"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, not := range []string{"=== RUN   TestOK", "--- PASS"} {
		if strings.Contains(out.String(), not) {
			t.Errorf("output has %q:\n%s", not, out.String())
		}
	}
}

// Two runs of the same tests (as make test runs the unit tests with and
// without -race -short): each test counts once, failed over passed over
// skipped.
func TestReportMergesRuns(t *testing.T) {
	r := newResult(nil)
	for _, run := range []string{
		`{"Action":"skip","Package":"p","Test":"TestA"}
{"Action":"pass","Package":"p","Test":"TestB"}
{"Action":"pass","Package":"p","Test":"TestC"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"fail","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Test":"TestD","Output":"    x_test.go:9: needs root\n"}
{"Action":"skip","Package":"p","Test":"TestD"}`,
	} {
		if err := r.read(strings.NewReader(run), nil); err != nil {
			t.Fatal(err)
		}
	}
	want := map[key]int{{"p", "TestA"}: passed, {"p", "TestB"}: failed, {"p", "TestC"}: passed, {"p", "TestD"}: skipped}
	for k, o := range want {
		if r.tests[k] != o {
			t.Errorf("%v: outcome %d, want %d", k, r.tests[k], o)
		}
	}
	if r.reasons[key{"p", "TestD"}] != "needs root (x_test.go:9)" {
		t.Errorf("reason %q", r.reasons[key{"p", "TestD"}])
	}
}
