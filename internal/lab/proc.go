package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const netnsDir = "/var/run/netns"

func nsExists(name string) bool {
	_, err := os.Stat(filepath.Join(netnsDir, name))
	return err == nil
}

// addNetns creates namespace name (if missing) with its loopback up.
func addNetns(ctx context.Context, name string) error {
	if !nsExists(name) {
		if _, err := run(ctx, nil, "ip", "netns", "add", name); err != nil {
			return err
		}
	}
	_, err := run(ctx, nil, "ip", "-n", name, "link", "set", "lo", "up")
	return err
}

func delNetns(ctx context.Context, name string) error {
	if !nsExists(name) {
		return nil
	}
	_, err := run(ctx, nil, "ip", "netns", "del", name)
	return err
}

// labNamespaces lists the namespaces of lab name: pc-NAME-sw and pc-NAME-hN
// (and nothing of a lab whose name merely starts with NAME-).
func labNamespaces(name string) []string {
	ents, err := os.ReadDir(netnsDir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if n == "pc-"+name+"-sw" {
			out = append(out, n)
		} else if _, ok := hostIndex(name, n); ok {
			out = append(out, n)
		}
	}
	return out
}

// hostIndex parses "pc-NAME-hI".
func hostIndex(name, ns string) (int, bool) {
	rest, ok := strings.CutPrefix(ns, "pc-"+name+"-h")
	if !ok || rest == "" {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 1 || strconv.Itoa(i) != rest {
		return 0, false
	}
	return i, true
}

func readPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0
	}
	return pid
}

func cmdline(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// ours reports whether pid is alive and is one of the lab's processes (its
// command line names the run directory), so a recycled pid is never killed.
func ours(pid int, runDir string) bool {
	return pid > 1 && pid != os.Getpid() && isLabProcess(cmdline(pid), runDir) && !zombie(pid)
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// isLabProcess matches the daemons' and the relay's command lines, and
// nothing that merely mentions the directory (a shell running `lab down`).
func isLabProcess(cmd, runDir string) bool {
	if strings.Contains(cmd, "--pidfile="+runDir+"/") {
		return true
	}
	return strings.Contains(cmd, " lab-relay ") && strings.Contains(cmd+" ", " --run-dir="+runDir+" ")
}

// findRelays lists the relay processes of lab name, whatever their run dir.
func findRelays(name string) []int {
	var pids []int
	for _, pid := range allPids() {
		cmd := cmdline(pid) + " "
		if strings.Contains(cmd, " lab-relay ") && strings.Contains(cmd, " --name="+name+" ") && !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// pidfileDir returns the directory of a daemon's --pidfile= argument.
func pidfileDir(cmd string) string {
	for _, f := range strings.Fields(cmd) {
		if v, ok := strings.CutPrefix(f, "--pidfile="); ok && filepath.IsAbs(v) {
			return filepath.Dir(v)
		}
	}
	return ""
}

// findByRunDir lists the lab processes of runDir, found by command line.
func findByRunDir(runDir string) []int {
	var pids []int
	for _, pid := range allPids() {
		if ours(pid, runDir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func allPids() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 1 && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killInNetns ends every process living in namespace ns (iperf3 servers,
// listeners a test forgot, the switch daemons).
func killInNetns(ns string) {
	terminate(pidsInNetns(ns))
}

// pidsInNetns lists the live processes whose network namespace is ns.
func pidsInNetns(ns string) []int {
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(netnsDir, ns), &st); err != nil {
		return nil
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	var pids []int
	for _, pid := range allPids() {
		if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && link == want && !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// terminate sends SIGTERM, waits up to 2 s, then SIGKILLs what is left and
// waits for it to go.
func terminate(pids []int) {
	if len(pids) == 0 {
		return
	}
	for _, p := range pids {
		syscall.Kill(p, syscall.SIGTERM)
	}
	alive := func() []int {
		var left []int
		for _, p := range pids {
			if syscall.Kill(p, 0) == nil && !zombie(p) {
				left = append(left, p)
			}
		}
		return left
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if len(alive()) == 0 {
			return
		}
	}
	for _, p := range alive() {
		syscall.Kill(p, syscall.SIGKILL)
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if len(alive()) == 0 {
			return
		}
	}
}

// KillIn ends every process in host i's namespace whose command name
// (/proc/PID/comm) is one of comms, and waits until they are gone: what a
// test's scanner left behind (hping3's scan mode forks a sender that may
// outlive the killed parent for a moment) must not reach the next case.
func (l *Lab) KillIn(i int, comms ...string) {
	var pids []int
	for _, pid := range pidsInNetns(l.cfg.HostNetns(i)) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err == nil && slices.Contains(comms, strings.TrimSpace(string(b))) {
			pids = append(pids, pid)
		}
	}
	terminate(pids)
}
