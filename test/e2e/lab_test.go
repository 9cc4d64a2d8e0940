package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"portcullis/internal/lab"
)

// The lab on its own (no controller): OVS in standalone mode is a learning
// switch, so this proves namespaces, veths, offloads and the bridge.
func TestLabStandaloneForwards(t *testing.T) {
	cfg := LabConfig(3)
	cfg.FailMode = lab.FailStandalone
	l := StartLab(t, cfg)

	for i, h := range l.Hosts() {
		if h.Port != uint32(i+1) {
			t.Errorf("host %s: ofport %d, want %d", h.Name, h.Port, i+1)
		}
	}
	PingAll(t, l)
	if bps := TCP(t, l, 2, 1, 1); bps <= 0 {
		t.Errorf("iperf3 rate %v", bps)
	}

	// Up again with the same config reuses the running lab.
	before, err := l.Status()
	if err != nil {
		t.Fatal(err)
	}
	l2, err := lab.Up(t.Context(), cfg)
	if err != nil {
		t.Fatalf("second up: %v", err)
	}
	after, err := l2.Status()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pids(before), pids(after)) {
		t.Errorf("second up restarted daemons: %v -> %v", pids(before), pids(after))
	}
	if !slices.Equal(before.Hosts, after.Hosts) || len(after.Hosts) != 3 {
		t.Errorf("second up changed hosts: %+v", after.Hosts)
	}
	PingAll(t, l2)

	// A smaller lab of the same name drops the extra host.
	cfg.Hosts = 2
	l3, err := lab.Up(t.Context(), cfg)
	if err != nil {
		t.Fatalf("up with 2 hosts: %v", err)
	}
	if n := len(l3.Hosts()); n != 2 {
		t.Errorf("hosts after shrinking: %d, want 2", n)
	}
	if left := strings.Join(lab.Leftovers(cfg), " "); strings.Contains(left, cfg.HostNetns(3)) {
		t.Errorf("namespace of host 3 still there: %s", left)
	}
	if err := lab.Down(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	AssertNoLeftovers(t, cfg)
}

func pids(s lab.Status) []int {
	var p []int
	for _, d := range s.Daemons {
		p = append(p, d.PID)
	}
	return p
}

// In fail_mode=secure with no controller nothing forwards until a flow says
// so; an actions=NORMAL flow installed with ovs-ofctl makes it a switch.
func TestLabSecureNeedsFlows(t *testing.T) {
	l := StartLab(t, LabConfig(2))
	if err := Ping(t.Context(), l, 1, 2, false, 1); err == nil {
		t.Fatal("ping worked through a secure bridge with no flows")
	}
	if _, err := l.Ofctl("add-flow", "priority=0,actions=NORMAL"); err != nil {
		t.Fatal(err)
	}
	flows, err := l.DumpFlows()
	if err != nil {
		t.Fatal(err)
	}
	if len(flows) != 1 || !strings.Contains(flows[0], "actions=NORMAL") {
		t.Errorf("flows = %q, want one actions=NORMAL flow", flows)
	}
	PingAll(t, l)
	if bps := TCP(t, l, 1, 2, 1); bps <= 0 {
		t.Errorf("iperf3 rate %v", bps)
	}
}

// Down after a crash: daemons SIGKILLed, a stray server in a host; Down
// finds and removes all of it from names and pid files alone.
func TestLabDownAfterCrash(t *testing.T) {
	cfg := LabConfig(2)
	cfg.FailMode = lab.FailStandalone
	l := StartLab(t, cfg)
	stray := l.Exec(t.Context(), "h1", "sleep", "300")
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	strayDone := make(chan error, 1)
	go func() { strayDone <- stray.Wait() }()

	st, err := l.Status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Daemons) < 2 {
		t.Fatalf("daemons = %+v, want ovsdb-server and ovs-vswitchd", st.Daemons)
	}
	for _, d := range st.Daemons {
		if err := syscall.Kill(d.PID, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %s: %v", d.Name, err)
		}
	}
	if _, err := lab.Open(t.Context(), cfg); !errors.Is(err, lab.ErrNotRunning) {
		t.Errorf("Open after crash: %v, want ErrNotRunning", err)
	}
	if err := lab.Down(t.Context(), cfg); err != nil {
		t.Fatalf("down after crash: %v", err)
	}
	AssertNoLeftovers(t, cfg)
	select {
	case <-strayDone:
	case <-time.After(5 * time.Second):
		t.Error("process in a host namespace survived down")
	}
}

// The relay brings the host's controller target into the switch's
// namespace: a listener on the host's 127.0.0.1 receives the switch's
// OpenFlow 1.3 HELLO.
func TestLabControllerRelay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := LabConfig(1)
	cfg.Controllers = []string{"tcp:" + ln.Addr().String()}
	l := StartLab(t, cfg)

	ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("no connection from the switch: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var hdr [8]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatal(err)
	}
	// OpenFlow 1.3.5 section 7.1: version 0x04; OFPT_HELLO is type 0.
	if hdr[0] != 0x04 || hdr[1] != 0 || binary.BigEndian.Uint16(hdr[2:]) < 8 {
		t.Errorf("first message header % x, want an OpenFlow 1.3 HELLO", hdr)
	}
	if n := int(binary.BigEndian.Uint16(hdr[2:])); n > 8 {
		if _, err := io.ReadFull(c, make([]byte, n-8)); err != nil { // the hello's elements
			t.Fatal(err)
		}
	}
	// Answer with our HELLO so OVS completes the connection (it drops a
	// peer that stays silent for its backoff).
	if _, err := c.Write([]byte{0x04, 0, 0, 8, 0, 0, 0, 1}); err != nil {
		t.Fatal(err)
	}
	// Up on the running lab keeps the switch's connection: no EOF on it, no
	// new connection.
	if _, err := lab.Up(t.Context(), cfg); err != nil {
		t.Fatalf("second up: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := io.Copy(io.Discard, c); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("after second up, the switch's connection ended (%v); want it kept open", err)
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond))
	if c2, err := ln.Accept(); err == nil {
		c2.Close()
		t.Error("second up made the switch reconnect")
	}
	st, err := l.Status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Controllers) != 1 || st.Controllers[0].Target != cfg.Controllers[0] {
		t.Errorf("status controllers = %+v, want target %s", st.Controllers, cfg.Controllers[0])
	}
	if err := l.SetController(); err != nil {
		t.Fatal(err)
	}
	if st, _ := l.Status(); len(st.Controllers) != 0 {
		t.Errorf("controllers after SetController(): %+v", st.Controllers)
	}
}

// The CLI: up, status --json, exec, down; usage errors exit 2.
func TestLabCLI(t *testing.T) {
	RequireLab(t)
	bin := Binary(t)
	cfg := LabConfig(2)
	t.Cleanup(func() { lab.Down(context.Background(), cfg); AssertNoLeftovers(t, cfg) })
	runCLI := func(want int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want {
			t.Fatalf("portcullis %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out.String(), errb.String())
		}
		return out.String()
	}
	runCLI(0, "lab", "--help")
	runCLI(0, "lab", "up", "--help")
	runCLI(2, "lab")
	runCLI(2, "lab", "frobnicate")
	runCLI(2, "lab", "up", "--no-such-flag")
	runCLI(2, "lab", "up", "--name", "Bad_Name")
	runCLI(2, "lab", "exec", "--name", cfg.Name, "h1")

	runCLI(0, "lab", "up", "--name", cfg.Name, "--hosts", "2", "--fail-mode", "standalone")
	var st lab.Status
	if err := json.Unmarshal([]byte(runCLI(0, "lab", "status", "--name", cfg.Name, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Hosts) != 2 || st.Hosts[1].IP != "10.0.0.2" || st.FailMode != "standalone" {
		t.Errorf("status = %+v", st)
	}
	out := runCLI(0, "lab", "exec", "--name", cfg.Name, "h1", "--", "ping", "-c", "1", "-W", "2", "10.0.0.2")
	if !strings.Contains(out, "1 received") {
		t.Errorf("ping output: %s", out)
	}
	runCLI(1, "lab", "exec", "--name", cfg.Name, "h1", "--", "false")
	runCLI(0, "lab", "down", "--name", cfg.Name)
	AssertNoLeftovers(t, cfg)
	runCLI(1, "lab", "status", "--name", cfg.Name)
}

// The real controller with a lab in fail_mode=secure: every pair pings and
// TCP flows.
func TestControllerForwards(t *testing.T) {
	RequireLab(t)
	c := StartController(t)
	cfg := LabConfig(3)
	cfg.Controllers = []string{c.Target}
	l := StartLab(t, cfg)
	PingAll(t, l)
	if bps := TCP(t, l, 1, 3, 1); bps <= 0 {
		t.Errorf("iperf3 rate %v", bps)
	}
}

// Two labs run side by side (each switch has its own namespace, so the
// userspace datapath's tap devices do not collide) and stay separate.
func TestTwoLabsCoexist(t *testing.T) {
	a, b := LabConfig(2), LabConfig(2)
	a.FailMode, b.FailMode = lab.FailStandalone, lab.FailStandalone
	la := StartLab(t, a)
	lb := StartLab(t, b)
	PingAll(t, la)
	PingAll(t, lb)
	if err := lab.Down(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	AssertNoLeftovers(t, a)
	PingAll(t, lb) // b survives a's teardown
}
