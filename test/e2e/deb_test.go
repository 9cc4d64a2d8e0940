package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"portcullis/internal/sandbox"
	"portcullis/internal/testenv"
)

// The Debian package (issue 10 item 2): `make deb`, `dpkg -i` on this
// machine, then `portcullis run` started as the unit starts it (there is
// no systemd here: the unit's ExecStart, as its User=) and as root (sudo
// portcullis run): confined both times, as the package's account. Then
// `dpkg --purge` removes it all, the account included.
//
// The test runs in a mount namespace of its own with a private copy of
// /etc: the account the package creates, and /etc/portcullis, exist only
// there. On the machine, an account named portcullis makes every other
// controller started as root run as it (the default --user), and while
// one does, userdel refuses: the account stayed after purge, and the
// next run found it. The package's other files (/usr/bin, /lib/systemd,
// /var/lib/portcullis, dpkg's database) are the machine's, and purge
// removes them.
func TestDebPackage(t *testing.T) {
	testenv.Tool(t, "dpkg", "dpkg-deb", "make", "unshare")
	if os.Geteuid() != 0 {
		testenv.Missing(t, "dpkg -i needs root")
	}
	if os.Getenv(debPrivateEnv) == "" {
		cmd := exec.Command("unshare", "--mount", "--propagation", "private", os.Args[0],
			"-test.run=^TestDebPackage$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), debPrivateEnv+"=1")
		out, err := cmd.CombinedOutput()
		for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			t.Log(line)
		}
		if err != nil {
			t.Fatalf("TestDebPackage in its own mount namespace: %v", err)
		}
		if strings.Contains(string(out), "--- SKIP: TestDebPackage") {
			t.Skip("skipped in its own mount namespace (above)")
		}
		return
	}
	privateEtc(t)
	// A leftover of an interrupted run (the test's version) is purged;
	// any other installed portcullis is left alone.
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Status} ${Version}", "portcullis").Output(); err == nil && strings.Contains(string(out), " installed") {
		if !strings.HasSuffix(string(out), " "+debTestVersion) {
			t.Skipf("a portcullis package is installed on this machine (%s): not replacing it", out)
		}
		if b, err := exec.Command("dpkg", "--purge", "portcullis").CombinedOutput(); err != nil {
			t.Fatalf("dpkg --purge of an earlier run's package: %v\n%s", err, b)
		}
	}
	// In the private /etc, an account of the package's (from the machine,
	// or an earlier run) is removed, even while a process runs as it, so
	// that the test sees the package create it.
	if u, err := user.Lookup("portcullis"); err == nil {
		if u.Name != debAccountComment {
			t.Skipf("a portcullis account not made by the package exists on this machine (%q): the package would adopt it", u.Name)
		}
		if b, err := exec.Command("userdel", "-f", "portcullis").CombinedOutput(); err != nil {
			t.Fatalf("userdel -f portcullis in the private /etc: %v\n%s", err, b)
		}
		exec.Command("groupdel", "portcullis").Run()
	}
	out := t.TempDir()
	mk := exec.Command("make", "-C", repoRoot(), "deb", "DEB_OUT="+out, "DEB_VERSION="+debTestVersion)
	if b, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make deb: %v\n%s", err, b)
	}
	debs, _ := filepath.Glob(filepath.Join(out, "portcullis_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb made %v", debs)
	}
	t.Cleanup(func() {
		if b, err := exec.Command("dpkg", "--purge", "portcullis").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge: %v\n%s", err, b)
		}
		if _, err := user.Lookup("portcullis"); err == nil {
			// The postrm's userdel refuses while a process runs as the
			// account's uid, which another test's controller may (as the
			// machine's leftover account of the same uid): that is no
			// fault of the package's. Without one, it is.
			if procs := debAccountProcs(); len(procs) == 0 {
				t.Error("the portcullis account is left after dpkg --purge, and no process uses it")
			} else {
				t.Logf("dpkg --purge kept the account while pids %v ran as its uid", procs)
			}
			exec.Command("userdel", "-f", "portcullis").Run() // the private /etc's
		}
		for _, p := range []string{"/usr/bin/portcullis", "/etc/portcullis", "/var/lib/portcullis", "/lib/systemd/system/portcullis.service"} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("%s is left after dpkg --purge", p)
			}
		}
	})
	if b, err := exec.Command("dpkg", "-i", debs[0]).CombinedOutput(); err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, b)
	}

	u, err := user.Lookup("portcullis")
	if err != nil {
		t.Fatalf("the package made no portcullis account: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if uid == 0 || uid >= 1000 {
		t.Errorf("portcullis uid %d: want a system account", uid)
	}
	owners := map[string]string{ // path -> mode user:group
		"/usr/bin/portcullis":             "-rwxr-xr-x root:root",
		"/etc/portcullis/portcullis.yaml": "-rw-r----- root:portcullis",
		"/var/lib/portcullis":             "drwx------ portcullis:portcullis",
	}
	for p, want := range owners {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		ou, _ := user.LookupId(strconv.Itoa(int(st.Uid)))
		og, _ := user.LookupGroupId(strconv.Itoa(int(st.Gid)))
		if got := fmt.Sprintf("%s %s:%s", fi.Mode(), ou.Username, og.Name); got != want {
			t.Errorf("%s: %s, want %s", p, got, want)
		}
	}
	if b, _ := os.ReadFile("/var/lib/dpkg/info/portcullis.conffiles"); !strings.Contains(string(b), "/etc/portcullis/portcullis.yaml") {
		t.Errorf("/etc/portcullis/portcullis.yaml is not a conffile: %q", b)
	}

	// The installed unit's command line, on free ports instead of 6653/6680.
	unit, err := os.ReadFile("/lib/systemd/system/portcullis.service")
	if err != nil {
		t.Fatal(err)
	}
	var argv []string
	for _, line := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			argv = strings.Fields(v)
		}
		if v, ok := strings.CutPrefix(line, "User="); ok && v != "portcullis" {
			t.Errorf("the unit runs as User=%s", v)
		}
	}
	if len(argv) < 2 || argv[0] != "/usr/bin/portcullis" {
		t.Fatalf("installed unit: ExecStart %q", argv)
	}
	for _, asRoot := range []bool{false, true} {
		name := "as the unit starts it (User=portcullis)"
		if asRoot {
			name = "as root"
		}
		t.Run(name, func(t *testing.T) {
			api := FreePort(t)
			args := append(argv[1:], "--listen", fmt.Sprintf("127.0.0.1:%d", FreePort(t)), "--api-listen", fmt.Sprintf("127.0.0.1:%d", api))
			cmd := exec.Command(argv[0], args...)
			cmd.Dir = "/"
			if !asRoot {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
			}
			logs := startServing(t, cmd, api)
			confinedStatus(t, cmd.Process.Pid, asRoot)
			st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
			if !bytes.Contains(st, []byte(fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d", uid, uid, uid, uid))) {
				t.Errorf("not running as portcullis (uid %d):\n%s", uid, st)
			}
			if l := logs.String(); !strings.Contains(l, "sandbox: confined: user portcullis") || strings.Contains(l, "level=WARN msg=\"sandbox") {
				t.Errorf("start-up log: want confined as portcullis without sandbox warnings:\n%s", l)
			}
			// systemctl reload: the confined account reads the
			// package's root:portcullis 0640 configuration again.
			cmd.Process.Signal(syscall.SIGHUP)
			waitFor(t, 10*time.Second, "the reload's log line", func() bool {
				return strings.Contains(logs.String(), "configuration reloaded")
			})
			if strings.Contains(logs.String(), "reload failed") {
				t.Errorf("SIGHUP: the installed controller could not reload its configuration:\n%s", logs.String())
			}
		})
	}
}

// debAccountComment is the GECOS field deploy/debian/postinst gives the
// account.
const debAccountComment = "Portcullis OpenFlow controller"

// debAccountProcs lists the processes running as the portcullis account.
func debAccountProcs() []int {
	u, err := user.Lookup("portcullis")
	if err != nil {
		return nil
	}
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		// Status, not the directory's owner: a controller that left root
		// is not dumpable, and its /proc directory stays root's.
		st, err := sandbox.ReadStatus(filepath.Join(d, "status"))
		if err != nil {
			continue
		}
		if ids := strings.Fields(st["Uid"]); slices.Contains(ids, u.Uid) {
			if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// debPrivateEnv marks the run of TestDebPackage inside its own mount
// namespace; debTestVersion is the version of the package it builds.
const (
	debPrivateEnv  = "PORTCULLIS_E2E_DEB_PRIVATE_ETC"
	debTestVersion = "0.0.1"
)

// privateEtc mounts a copy of /etc over /etc, in this process's own mount
// namespace (unshare --mount --propagation private): what the test changes
// there (accounts, /etc/portcullis) the machine never sees.
func privateEtc(t *testing.T) {
	t.Helper()
	var mnt []byte
	mnt, _ = os.ReadFile("/proc/self/mountinfo")
	if self, err := os.Readlink("/proc/self/ns/mnt"); err != nil {
		t.Fatal(err)
	} else if init, err := os.Readlink("/proc/1/ns/mnt"); err == nil && init == self {
		t.Fatal("not in a mount namespace of its own: the copy of /etc would be the machine's")
	}
	dir := t.TempDir()
	if b, err := exec.Command("cp", "-a", "/etc", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp -a /etc: %v\n%s", err, b)
	}
	if err := syscall.Mount(filepath.Join(dir, "etc"), "/etc", "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind-mount a copy of /etc: %v\n%s", err, mnt)
	}
	t.Cleanup(func() { syscall.Unmount("/etc", syscall.MNT_DETACH) })
}
