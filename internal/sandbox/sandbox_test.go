package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// childEnv makes the test binary act as the confined child of TestApply.
const childEnv = "PORTCULLIS_SANDBOX_TEST_CHILD"

type childResult struct {
	Report Report
	Err    string
	Status map[string]string
	Probes []Probe
	Wrote  string // error writing the read-write file ("" = written)
	Read   string // error reading the read-only file
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(child(dir))
	}
	os.Exit(m.Run())
}

func child(dir string) int {
	var res childResult
	rw, ro := filepath.Join(dir, "rw"), filepath.Join(dir, "ro", "config.yaml")
	var err error
	res.Report, err = Apply(Policy{ReadOnly: []string{filepath.Dir(ro)}, ReadWrite: []string{rw}})
	if err != nil {
		res.Err = err.Error()
	}
	res.Status, _ = Status()
	res.Probes = Probes(filepath.Join(dir, "outside.txt"), dir)
	if err := os.WriteFile(filepath.Join(rw, "state"), []byte("ok"), 0o600); err != nil {
		res.Wrote = err.Error()
	}
	if _, err := os.ReadFile(ro); err != nil {
		res.Read = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// Apply in a child process (confinement cannot be undone): the process
// ends up without root, capabilities, with no_new_privs and a seccomp
// filter; it still writes its state directory and reads its configuration,
// and every forbidden attempt is refused.
func TestApply(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"rw", "ro"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o777); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "ro", "config.yaml"), []byte("x: 1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "outside.txt"), []byte("secret\n"), 0o644)
	// The child may run as nobody: let it reach and write what it should.
	for _, p := range []string{dir, filepath.Dir(dir), filepath.Join(dir, "rw")} {
		os.Chmod(p, 0o777)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var res childResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("child output: %v\n%s", err, out)
	}
	if res.Err != "" {
		t.Fatalf("Apply: %s", res.Err)
	}
	r := res.Report
	t.Logf("confined: %s; warnings %v", r, r.Warnings)
	if r.UID == 0 || !strings.HasPrefix(res.Status["Uid"], fmt.Sprint(r.UID)) || strings.Contains(" "+res.Status["Uid"]+" ", "\t0") {
		t.Errorf("Uid %q, report uid %d: want non-root", res.Status["Uid"], r.UID)
	}
	for _, k := range []string{"CapEff", "CapPrm", "CapInh", "CapAmb"} {
		if res.Status[k] != "0000000000000000" {
			t.Errorf("%s: %s, want none", k, res.Status[k])
		}
	}
	if res.Status["NoNewPrivs"] != "1" {
		t.Errorf("NoNewPrivs: %q", res.Status["NoNewPrivs"])
	}
	if res.Status["Seccomp"] != "2" || r.Seccomp == 0 {
		t.Errorf("Seccomp: %q (report %d), want 2 (filter)", res.Status["Seccomp"], r.Seccomp)
	}
	if res.Wrote != "" {
		t.Errorf("writing the read-write directory: %s", res.Wrote)
	}
	if res.Read != "" {
		t.Errorf("reading the read-only configuration: %s", res.Read)
	}
	for _, p := range res.Probes {
		if !p.Refused {
			// Without Landlock the file probes are only stopped by
			// permissions, which a readable file does not give.
			if r.Landlock == 0 && (strings.HasPrefix(p.Name, "open ") || strings.HasPrefix(p.Name, "create ")) {
				t.Logf("%s: allowed (no Landlock on this kernel)", p.Name)
				continue
			}
			t.Errorf("%s: allowed, want refused", p.Name)
		} else {
			t.Logf("%s: refused (%s)", p.Name, p.Err)
		}
	}
}

// --user: root is refused (the point is to leave it), an unknown account
// is an error, a name or a uid resolves.
func TestResolveUser(t *testing.T) {
	if _, _, _, _, err := ResolveUser("root"); err == nil || !strings.Contains(err.Error(), "is root") {
		t.Errorf("--user root: %v, want refused", err)
	}
	if _, _, _, _, err := ResolveUser("0"); err == nil {
		t.Error("--user 0 accepted")
	}
	if _, _, _, _, err := ResolveUser("no-such-portcullis-user"); err == nil {
		t.Error("an unknown user accepted")
	}
	uid, _, name, _, err := ResolveUser(FallbackUser)
	if err != nil {
		t.Skipf("no %s account here: %v", FallbackUser, err)
	}
	if uid2, _, name2, _, err := ResolveUser(fmt.Sprint(uid)); err != nil || uid2 != uid || name2 != name {
		t.Errorf("--user %d: %d %q %v, want %d %q", uid, uid2, name2, err, uid, name)
	}
}
