package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
	// error reopening a file root created 0600 before Apply (Policy.Own)
	Reopened string
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
	targets := ProbeTargets{Outside: filepath.Join(dir, "outside.txt"), WriteDir: dir, ReadOnly: ro}
	targets.Peer, _ = strconv.Atoi(os.Getenv(peerEnv))
	if os.Getenv(unconfinedEnv) != "" {
		// The same probes without the sandbox (and without the execve,
		// which would replace this process): what the account alone may do.
		res.Probes = ProbesNoExec(targets)
		json.NewEncoder(os.Stdout).Encode(res)
		return 0
	}
	var err error
	events := filepath.Join(rw, "events.jsonl")
	res.Report, err = Apply(Policy{ReadOnly: []string{filepath.Dir(ro)}, ReadWrite: []string{rw}, Own: []string{events}})
	if err != nil {
		res.Err = err.Error()
	}
	res.Status, _ = Status()
	res.Probes = Probes(targets)
	if err := os.WriteFile(filepath.Join(rw, "state"), []byte("ok"), 0o600); err != nil {
		res.Wrote = err.Error()
	}
	if _, err := os.ReadFile(ro); err != nil {
		res.Read = err.Error()
	}
	if f, err := os.OpenFile(events, os.O_WRONLY|os.O_APPEND, 0); err != nil {
		res.Reopened = err.Error()
	} else {
		f.Close()
	}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// peerEnv and unconfinedEnv tell the child the pid of a process of its
// account (to trace and signal) and to run the probes unconfined.
const (
	peerEnv       = "PORTCULLIS_SANDBOX_TEST_PEER"
	unconfinedEnv = "PORTCULLIS_SANDBOX_TEST_UNCONFINED"
)

// probeSetup makes the files the probes aim at, each one the child's
// account may use by its permissions alone (so that only the sandbox can
// refuse), and starts a process of that account for the ptrace and kill
// probes. It returns the directory, the account's uid and gid (-1 when
// the test does not run as root: the child keeps this uid) and the peer.
func probeSetup(t *testing.T) (dir string, uid, gid int) {
	t.Helper()
	dir = t.TempDir()
	for _, d := range []string{"rw", "ro"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o777); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "ro", "config.yaml"), []byte("x: 1\n"), 0o666)
	os.WriteFile(filepath.Join(dir, "outside.txt"), []byte("secret\n"), 0o644)
	for _, p := range []string{dir, filepath.Dir(dir), filepath.Join(dir, "rw"), filepath.Join(dir, "ro"), filepath.Join(dir, "ro", "config.yaml")} {
		os.Chmod(p, 0o777)
	}
	uid, gid = -1, -1
	if os.Geteuid() == 0 {
		var err error
		if uid, gid, _, _, err = ResolveUser(""); err != nil {
			t.Skipf("no account to run the child as: %v", err)
		}
	}
	return dir, uid, gid
}

// startPeer starts a process of the account (uid -1: this one) that the
// probes try to trace and signal.
func startPeer(t *testing.T, uid, gid int) int {
	t.Helper()
	peer := exec.Command("sleep", "60")
	if uid >= 0 {
		peer.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	if err := peer.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Process.Kill(); peer.Wait() })
	return peer.Process.Pid
}

func runChild(t *testing.T, dir string, uid, gid, peer int, env ...string) childResult {
	t.Helper()
	bin := os.Args[0]
	var cred *syscall.Credential
	if uid >= 0 && len(env) > 0 {
		// Unconfined: start it as the account, from a copy it may run
		// (the build directory is root's alone).
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(dir, "sandbox.test")
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+dir, peerEnv+"="+strconv.Itoa(peer)), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var res childResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("child output: %v\n%s", err, out)
	}
	return res
}

// The probes are honest: without the sandbox, the account the controller
// runs as may do each of them (but regain root or open a packet socket,
// which need privileges it lacks); so each refusal in TestApply and in
// the e2e tests is the sandbox's doing. The terminal ioctl cannot work on
// stdin (/dev/null) either way, but without the sandbox the kernel's answer
// is ENOTTY, the seccomp filter's EPERM.
func TestProbesUnconfined(t *testing.T) {
	dir, uid, gid := probeSetup(t)
	res := runChild(t, dir, uid, gid, startPeer(t, uid, gid), unconfinedEnv+"=1")
	needPrivilege := map[string]bool{"setuid 0": true, "packet socket": true}
	userns := true
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil && strings.TrimSpace(string(b)) == "0" {
		userns = false
	}
	if b, err := os.ReadFile("/proc/sys/kernel/unprivileged_userns_clone"); err == nil && strings.TrimSpace(string(b)) == "0" {
		userns = false
	}
	if len(res.Probes) < 12 {
		t.Errorf("%d probes, want 12 or more", len(res.Probes))
	}
	for _, p := range res.Probes {
		switch {
		case p.Name == "ioctl TIOCSTI on stdin":
			if p.Err == syscall.EPERM.Error() {
				t.Errorf("%s: %s unconfined: the probe could not tell the sandbox's refusal", p.Name, p.Err)
			}
		case needPrivilege[p.Name] && os.Geteuid() != 0 || needPrivilege[p.Name] && uid >= 0:
			if !p.Refused {
				t.Errorf("%s: allowed to an unprivileged account", p.Name)
			}
		case p.Name == "clone a new user namespace" && !userns:
			t.Logf("%s: %s (unprivileged user namespaces are off here)", p.Name, p.Err)
		case p.Refused:
			t.Errorf("%s: refused without the sandbox (%s): the probe proves nothing", p.Name, p.Err)
		default:
			t.Logf("%s: allowed unconfined", p.Name)
		}
	}
}

// Apply in a child process (confinement cannot be undone): the process
// ends up without root, capabilities, with no_new_privs and a seccomp
// filter; it still writes its state directory and reads its configuration,
// and every forbidden attempt is refused.
func TestApply(t *testing.T) {
	dir, uid, gid := probeSetup(t)
	if err := os.WriteFile(filepath.Join(dir, "rw", "events.jsonl"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	res := runChild(t, dir, uid, gid, startPeer(t, uid, gid))
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
	if res.Reopened != "" {
		t.Errorf("reopening the events file root created (Policy.Own): %s", res.Reopened)
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
		} else if p.Name == "ioctl TIOCSTI on stdin" && p.Err != syscall.EPERM.Error() {
			t.Errorf("%s: %s, want EPERM from the seccomp filter", p.Name, p.Err)
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

// giveFile hands the events file to the controller's account, and nothing
// a link could make of it: not a symlink's target, not a file that another
// name (a hard link someone placed beside it) also reaches.
func TestGiveFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	dir := t.TempDir()
	owner := func(path string) uint32 {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Lstat(path, &st); err != nil {
			t.Fatal(err)
		}
		return st.Uid
	}
	plain := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := giveFile(plain, 65534, 65534); err != nil || owner(plain) != 65534 {
		t.Errorf("a plain file: err %v, owner %d; want it given to 65534", err, owner(plain))
	}
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.jsonl")
	if err := os.Link(secret, hard); err != nil {
		t.Fatal(err)
	}
	if err := giveFile(hard, 65534, 65534); err == nil || owner(secret) != 0 {
		t.Errorf("a hard link: err %v, the file's owner %d; want an error and root's file kept", err, owner(secret))
	}
	sym := filepath.Join(dir, "sym.jsonl")
	if err := os.Symlink(secret, sym); err != nil {
		t.Fatal(err)
	}
	if err := giveFile(sym, 65534, 65534); err != nil || owner(secret) != 0 {
		t.Errorf("a symlink: err %v, its target's owner %d; want nothing done", err, owner(secret))
	}
	if err := giveFile(filepath.Join(dir, "missing"), 65534, 65534); err != nil {
		t.Errorf("a missing file: %v, want nothing done", err)
	}
}
