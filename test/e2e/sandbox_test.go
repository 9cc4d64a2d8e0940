package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"portcullis/internal/sandbox"
	"portcullis/internal/testenv"
)

// confinedStatus checks /proc/PID/task/*/status of a running controller:
// every thread runs as a non-root user, holds no capability (effective,
// permitted, inheritable, ambient; bounding too when it was started as
// root, which alone may drop it), has no_new_privs and a seccomp filter.
func confinedStatus(t testing.TB, pid int, startedAsRoot bool) {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads of pid %d: %v", pid, err)
	}
	for _, path := range tasks {
		st, err := sandbox.ReadStatus(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range strings.Fields(st["Uid"]) {
			if id == "0" {
				t.Errorf("%s: Uid %q: a thread is still root", path, st["Uid"])
			}
		}
		for _, k := range []string{"CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"} {
			if k == "CapBnd" && !startedAsRoot {
				continue
			}
			if st[k] != "0000000000000000" {
				t.Errorf("%s: %s %s, want none", path, k, st[k])
			}
		}
		if st["NoNewPrivs"] != "1" {
			t.Errorf("%s: NoNewPrivs %q, want 1", path, st["NoNewPrivs"])
		}
		if st["Seccomp"] != "2" {
			t.Errorf("%s: Seccomp %q, want 2 (filter)", path, st["Seccomp"])
		}
	}
}

// The controller started as root confines itself before it serves
// (issue 10 item 1): every thread of the process is unprivileged, without
// capabilities, with no_new_privs and a seccomp filter; what a compromised
// controller would try (run a program, fork, trace or signal a process of
// its account, listen anew, open a packet or netlink socket, read or write
// outside its files, write its configuration, regain root) is refused, by
// the sandbox (sandbox.TestProbesUnconfined: the account alone may do
// each); and confined, it still does
// its job: controls the bridge, blocks a scanner, serves the API, reloads
// on SIGHUP (a config replaced by rename, as editors do), writes its events
// file and reaches its syslog and webhook sinks.
func TestSandboxConfined(t *testing.T) {
	RequireLab(t)
	testenv.Tool(t, "nmap", "python3", "ping")
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test is that the controller leaves it")
	}
	// The operator's sinks: a webhook receiver and a syslog collector.
	var (
		mu   sync.Mutex
		hook []string
	)
	hookSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hook = append(hook, string(b))
		mu.Unlock()
	})}
	hookLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hookSrv.Serve(hookLn)
	t.Cleanup(func() { hookSrv.Close() })
	syslogConn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syslogConn.Close() })
	syslogGot := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := syslogConn.ReadFrom(buf)
			if err != nil {
				return
			}
			select {
			case syslogGot <- string(buf[:n]):
			default:
			}
		}
	}()

	conf := func(allow string, rate int) string {
		return fmt.Sprintf(`block:
  allowlist: [%s]
notify:
  alert_rate: %d
  syslog:
    network: udp
    address: %s
  webhook:
    url: http://%s/hook
    secret: sandbox-e2e-webhook-secret
`, allow, rate, syslogConn.LocalAddr(), hookLn.Addr())
	}
	dir := t.TempDir()
	path := WriteConfig(t, conf("", 0))
	events := filepath.Join(dir, "events.jsonl")
	// The probes' peer: a process of the account the controller will run
	// as, which that account may trace and signal when unconfined.
	uid, gid, _, _, err := sandbox.ResolveUser("")
	if err != nil {
		t.Fatal(err)
	}
	peer := exec.Command("sleep", "300")
	peer.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if err := peer.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Process.Kill(); peer.Wait() })
	t.Setenv(sandbox.ProbeEnv, strconv.Itoa(peer.Process.Pid))
	c := StartController(t, "--config", path, "--state-dir", filepath.Join(dir, "state"), "--grace", "0",
		"--api-token", scanToken, "--events", events)
	confinedStatus(t, c.cmd.Process.Pid, true)

	logs := c.Logs()
	if !strings.Contains(logs, "sandbox: confined") {
		t.Errorf("no start-up line saying what is confined:\n%s", logs)
	}
	probes := 0
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, `msg="sandbox probe"`) {
			continue
		}
		probes++
		// Refused, and by the sandbox: seccomp answers EPERM, Landlock
		// EACCES (TestProbesUnconfined: the account alone may do each,
		// or, for the terminal ioctl on /dev/null, gets ENOTTY).
		if !strings.Contains(line, "refused=true") {
			t.Errorf("the confined controller was allowed: %s", line)
		} else if !strings.Contains(line, "operation not permitted") && !strings.Contains(line, "permission denied") {
			t.Errorf("refused, but not by the sandbox: %s", line)
		}
	}
	if probes < 14 {
		t.Errorf("%d sandbox probes in the log, want 14:\n%s", probes, logs)
	}

	// Confined, it still controls the bridge and blocks a scanner.
	e := &scanEnv{t: t, C: c, dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(e.dir, "services.py"), []byte(scanServices), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := LabConfig(3)
	cfg.Controllers = []string{c.Target}
	e.L = StartLab(t, cfg)
	for _, h := range e.L.Hosts() {
		e.startServices(h.Index)
	}
	scanWaitSwitchUp(t, c)
	e.WarmUp(t)
	p := scanStart(t, e.L, scanAttacker, 30*time.Second, "nmap", "-n", "-sS", "-T4", "--max-retries", "1", "-p", "1-1000", e.L.Host(scanVictim).IP.String())
	blocks := scanWaitBlock(t, c, 30*time.Second, p.done)
	p.Kill()
	if len(blocks) == 0 {
		t.Fatalf("no block of the scanner while confined; nmap:\n%s\ncontroller:\n%s", p.Output(), c.Logs())
	}
	scanBlockedOnly(t, e.L, blocks, scanAttacker, kindsPort...)
	scanCheckCutOff(t, e.L, scanAttacker)
	if !scanConnect(e.L, 3, scanVictim, 22, false, 5) && !scanPing(e.L, 3, scanVictim, false, 5) {
		t.Errorf("h3 cannot reach the victim while the scanner is blocked")
	}

	// SIGHUP with the file replaced by rename: the new allowlist is in
	// force, and the sinks restart (alert_rate changed): the events file,
	// created by root before the controller left it, is reopened.
	next := filepath.Join(filepath.Dir(path), ".portcullis.yaml.new")
	if err := os.WriteFile(next, []byte(conf(`"198.51.100.0/24"`, 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	shareWithController(t, []string{"--config", next})
	if err := os.Rename(next, path); err != nil {
		t.Fatal(err)
	}
	opSignal(t, c, syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the allowlist entry from the reloaded file", func() bool { return opHasAllow(opAllow(t, c), "198.51.100.0/24") })

	// The sinks got the block, and the restarted events sink the reload.
	waitFor(t, 10*time.Second, "the config_reloaded event in the events file", func() bool {
		b, _ := os.ReadFile(events)
		return strings.Contains(string(b), `"type":"config_reloaded"`)
	})
	b, err := os.ReadFile(events)
	if err != nil || !strings.Contains(string(b), `"type":"blocked"`) {
		t.Errorf("events file %s: no blocked event (%v):\n%s", events, err, b)
	}
	if strings.Contains(c.Logs(), `msg="events file"`) {
		t.Errorf("the events sink failed after the reload:\n%s", c.Logs())
	}
	waitFor(t, 10*time.Second, "the webhook receiving the blocked event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(strings.Join(hook, "\n"), `"blocked"`)
	})
	select {
	case <-syslogGot:
	case <-time.After(5 * time.Second):
		t.Error("no syslog datagram from the confined controller")
	}
	// Still the same confined process, still serving.
	confinedStatus(t, c.cmd.Process.Pid, true)
	if err := c.Healthy(); err != nil {
		t.Error(err)
	}
}
