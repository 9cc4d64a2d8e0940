package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"
)

// withoutEnv makes this test binary, started with it, hide Landlock and
// seccomp from a program and exec it (os.Args[1:]): the value says how the
// kernel answers, as one without those features would ("kernel": ENOSYS
// for the system calls, EINVAL for prctl PR_GET/SET_SECCOMP) or as a
// service manager's filter that refuses them does ("filter": EPERM, as a
// systemd unit whose SystemCallFilter lacks them). It runs in init, before
// the test framework, and leaves no_new_privs unset (root may load a
// filter without it): setting it is the controller's job.
const withoutEnv = "PORTCULLIS_E2E_HIDE_SANDBOX"

func init() {
	how := os.Getenv(withoutEnv)
	if how == "" {
		return
	}
	os.Unsetenv(withoutEnv)
	if err := hideSandbox(how); err != nil {
		fmt.Fprintln(os.Stderr, "hide sandbox:", err)
		os.Exit(111)
	}
	err := syscall.Exec(os.Args[1], os.Args[1:], os.Environ())
	fmt.Fprintln(os.Stderr, "exec:", err)
	os.Exit(111)
}

func hideSandbox(how string) error {
	errno := func(e syscall.Errno) seccomp.Action {
		return seccomp.Action(unix.SECCOMP_RET_ERRNO | uint32(e))
	}
	calls, prctl := errno(unix.ENOSYS), errno(unix.EINVAL)
	if how == "filter" {
		calls, prctl = errno(unix.EPERM), errno(unix.EPERM)
	}
	prctlOp := func(op uint64) seccomp.NameWithConditions {
		return seccomp.NameWithConditions{Name: "prctl", Conditions: seccomp.ArgumentConditions{
			{Argument: 0, Operation: seccomp.Equal, Value: op}}}
	}
	p := seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{
			{Action: calls, Names: []string{"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self", "seccomp"}},
			{Action: prctl, NamesWithCondtions: []seccomp.NameWithConditions{prctlOp(unix.PR_GET_SECCOMP), prctlOp(unix.PR_SET_SECCOMP)}},
		},
	}
	return seccomp.LoadFilter(seccomp.Filter{Flag: seccomp.FilterFlagTSync, Policy: p})
}

// --no-sandbox keeps every privilege the controller was started with, and
// says so: root, its capabilities, no seccomp filter.
func TestSandboxOff(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test is that the controller keeps it")
	}
	c := StartController(t, "--no-sandbox")
	if err := c.Healthy(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Logs(), `level=WARN msg="sandbox: off (--no-sandbox)`) {
		t.Errorf("no warning that the sandbox is off:\n%s", c.Logs())
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Uid:\t0\t0\t0\t0", "NoNewPrivs:\t0", "Seccomp:\t0"} {
		if !strings.Contains(string(st), want) {
			t.Errorf("--no-sandbox: /proc status lacks %q:\n%s", want, st)
		}
	}
}

// A kernel without Landlock or seccomp (or a service manager that refuses
// them) still runs the controller (issue 10 item 1): each missing layer is
// a WARN line naming it, the start-up line says "no landlock, no
// seccomp", and the rest is in force: the controller started as root
// leaves it, holds no capability, sets no_new_privs itself and serves.
// The kernel is this one, with those system calls answered as a kernel
// or a filter without them answers (withoutEnv).
func TestSandboxWithoutKernelFeatures(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the controller is to leave it, and loading the test's filter without no_new_privs needs it")
	}
	bin := Binary(t)
	for _, tc := range []struct {
		how  string
		want []string // WARN lines
	}{
		{"kernel", []string{"landlock: not supported by this kernel", "seccomp: not supported by this kernel"}},
		{"filter", []string{"landlock: refused by a seccomp filter around this process", "seccomp: refused by a seccomp filter around this process"}},
	} {
		t.Run(tc.how, func(t *testing.T) {
			api := FreePort(t)
			cmd := exec.Command(os.Args[0], bin, "run", "--listen", fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
				"--api-listen", fmt.Sprintf("127.0.0.1:%d", api), "--state-dir", t.TempDir())
			cmd.Env = append(os.Environ(), withoutEnv+"="+tc.how)
			logs := startServing(t, cmd, api)
			l := logs.String()
			for _, line := range strings.Split(l, "\n") {
				if strings.Contains(line, `msg="sandbox: `) {
					t.Log(line)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(l, `level=WARN msg="sandbox: `+w) {
					t.Errorf("no warning %q in the log", w)
				}
			}
			if !strings.Contains(l, "no landlock, no seccomp") {
				t.Errorf("the start-up line does not say Landlock and seccomp are off")
			}
			// Everything else in force, on every thread (Seccomp is the
			// test's own filter here, so it is not checked).
			st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"NoNewPrivs:\t1", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000"} {
				if !strings.Contains(string(st), want) {
					t.Errorf("/proc/%d/status lacks %q", cmd.Process.Pid, want)
				}
			}
			if strings.Contains(string(st), "Uid:\t0\t") {
				t.Errorf("still root:\n%s", st)
			}
		})
	}
}
