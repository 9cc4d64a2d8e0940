package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/lab"
	"portcullis/internal/testenv"
)

// This file: issue 3 item 5 (persistence and reconcile by cookie) and item
// 3's block scope, against the real binary and real Open vSwitch. Helpers
// start with "persist".

// persistBlockCookie is the prefix ovs-ofctl prints for the cookies of our
// block flows (magic 0x5043, kind 5 = block).
const persistBlockCookie = "cookie=0x504305"

// persistBlockFlows returns the bridge's block flows of ours: table 0
// (ovs-ofctl leaves "table=0" out), priority 40000, our block cookie.
func persistBlockFlows(t testing.TB, l *lab.Lab) []string {
	t.Helper()
	flows, err := l.DumpFlows()
	if err != nil {
		t.Fatalf("dump-flows: %v", err)
	}
	var out []string
	for _, f := range flows {
		if strings.HasPrefix(f, persistBlockCookie) && !strings.Contains(f, "table=") && strings.Contains(f, "priority=40000") {
			out = append(out, f)
		}
	}
	return out
}

// persistHas reports whether one of flows contains every one of parts.
func persistHas(flows []string, parts ...string) bool {
	for _, f := range flows {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(f, p)
		}
		if all {
			return true
		}
	}
	return false
}

// persistScan runs nmap -sS from host `from` of l at host `to` until the
// controller blocks something, and returns the blocks.
func persistScan(t testing.TB, c *Controller, l *lab.Lab, from, to int) []api.Block {
	t.Helper()
	testenv.Tool(t, "nmap")
	scan := scanStart(t, l, from, 60*time.Second, "nmap", "-n", "-Pn", "-sS", "-T4", "-p", "1-300", l.Host(to).IP.String())
	blocks := scanWaitBlock(t, c, 30*time.Second, scan.done)
	scan.Kill()
	if len(blocks) == 0 {
		t.Fatalf("nmap -sS from h%d at h%d made no block:\n%s", from, to, scan.Output())
	}
	return blocks
}

var persistLogTime = regexp.MustCompile(`time=(\S+) level=\S+ msg="([^"]+)"`)

// persistLogAt returns the time of the first log line of logs with
// message msg.
func persistLogAt(logs, msg string) (time.Time, bool) {
	for _, m := range persistLogTime.FindAllStringSubmatch(logs, -1) {
		if m[2] == msg {
			ts, err := time.Parse(time.RFC3339Nano, m[1])
			return ts, err == nil
		}
	}
	return time.Time{}, false
}

// A scanner's block survives a controller restart (issue 3 item 5): nmap
// from h3 gets it blocked; the controller stops; its flows are removed from
// the switch by hand and a stale block flow of ours (cookie
// 0x5043050000000abc) is added; a new process on the same --state-dir gets
// the switch back and reconciles it by cookie: the block's drop flows are
// back, the stale one is gone, h3 is still cut off and the others talk.
// The time from the switch connecting to the flows being in it is logged
// (the issue asks for within a second).
func TestPersistRestart(t *testing.T) {
	RequireLab(t)
	args := []string{"--state-dir", t.TempDir(), "--grace", "0", "--api-token", opToken}
	c := StartController(t, args...)
	cfg := LabConfig(3)
	cfg.Controllers = []string{c.Target}
	l := StartLab(t, cfg)
	scanWaitSwitchUp(t, c)
	opLearnHosts(t, c, l)
	blocks := persistScan(t, c, l, 3, 2)
	scanBlockedOnly(t, l, blocks, 3)
	mac3 := l.Host(3).MAC.String()
	want := []string{"dl_src=" + mac3, "nw_src=" + l.Host(3).IP.String()}
	var before []string
	waitFor(t, 10*time.Second, "the block's drop flows (eth_src and ip_src) in table 0", func() bool {
		before = persistBlockFlows(t, l)
		return persistHas(before, want[0]) && persistHas(before, want[1])
	})
	t.Logf("block flows before the restart:\n%s", strings.Join(before, "\n"))

	// A run-time allowlist entry, to be kept too.
	var allow api.AllowEntry
	opPost(t, c, "/api/v1/allowlist", map[string]any{"cidr": "198.51.100.0/24", "ports": []int{443}, "comment": "persist-e2e"}, &allow)

	c.Stop()
	WaitConnected(t, l, false)
	// fail_mode=secure keeps flows while the controller is away: remove the
	// block's, so only the new process can bring them back, and plant a
	// stale block flow of ours that no stored block explains.
	if _, err := l.Ofctl("del-flows", "cookie=0x5043050000000000/0xffffff0000000000"); err != nil {
		t.Fatal(err)
	}
	const stale = "0x5043050000000abc"
	if _, err := l.Ofctl("add-flow", "table=0,priority=40000,cookie="+stale+",dl_src=02:00:00:00:00:aa,actions=drop"); err != nil {
		t.Fatal(err)
	}
	if f := persistBlockFlows(t, l); len(f) != 1 || !strings.Contains(f[0], stale) {
		t.Fatalf("block flows before the new process: %q, want only the stale one", f)
	}

	// Watch the switch from now on: when do the block flows come back?
	var (
		mu       sync.Mutex
		backAt   time.Time
		staleGon time.Time
	)
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for ctx.Err() == nil {
			flows, err := l.DumpFlows()
			now := time.Now()
			if err == nil {
				var bf []string
				for _, f := range flows {
					if strings.HasPrefix(f, persistBlockCookie) && strings.Contains(f, "priority=40000") {
						bf = append(bf, f)
					}
				}
				mu.Lock()
				if backAt.IsZero() && persistHas(bf, want[0]) && persistHas(bf, want[1]) {
					backAt = now
				}
				if staleGon.IsZero() && !persistHas(bf, stale) {
					staleGon = now
				}
				done := !backAt.IsZero() && !staleGon.IsZero()
				mu.Unlock()
				if done {
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	c2 := RestartController(t, c, args...)
	scanWaitSwitchUp(t, c2)
	// switch_up is published after the reconcile's barrier: the flows must
	// be there now, whatever the timing.
	after := persistBlockFlows(t, l)
	select {
	case <-watched:
	case <-time.After(5 * time.Second):
	}
	cancel()
	<-watched
	if !persistHas(after, want[0]) || !persistHas(after, want[1]) {
		t.Errorf("after switch_up the block's flows are not back: %q", after)
	}
	if persistHas(after, stale) {
		t.Errorf("after switch_up the stale block flow %s is still there: %q", stale, after)
	}
	for _, f := range before {
		// Same matches as before the restart (hard timeouts count down).
		m := regexp.MustCompile(`priority=40000,(\S+) actions`).FindStringSubmatch(f)
		if m != nil && !persistHas(after, m[1]) {
			t.Errorf("flow %q before the restart has no counterpart after it: %q", f, after)
		}
	}
	connected, ok1 := persistLogAt(c2.Logs(), "switch connected")
	ready, ok2 := persistLogAt(c2.Logs(), "switch ready")
	mu.Lock()
	if ok1 && ok2 && !backAt.IsZero() {
		t.Logf("restart: switch connected %s, switch ready +%v, block flows seen in the switch +%v (polling dump-flows every ~10-20 ms), stale flow gone +%v",
			connected.Format("15:04:05.000"), ready.Sub(connected), backAt.Sub(connected).Round(time.Millisecond),
			staleGon.Sub(connected).Round(time.Millisecond))
	} else {
		t.Logf("restart: could not time the reconcile (log lines %v %v, flows seen %v)", ok1, ok2, backAt)
	}
	mu.Unlock()

	var bl api.BlockList
	GetJSON(t, c2, "/api/v1/blocks", &bl)
	if len(bl.Blocks) != len(blocks) || (len(bl.Blocks) > 0 && bl.Blocks[0].ID != blocks[0].ID) {
		t.Errorf("blocks after the restart: %s, want %s", scanJSON(bl.Blocks), scanJSON(blocks))
	}
	if scanPing(l, 3, 2, false, 2) {
		t.Error("h3 pings h2 after the restart: its block was lost")
	}
	if err := Ping(t.Context(), l, 1, 2, false, 5); err != nil {
		t.Errorf("after the restart: %v", err)
	}
	if !opHasAllow(opAllow(t, c2), "198.51.100.0/24") {
		t.Errorf("the run-time allowlist entry %s is gone after the restart: %+v", allow.ID, opAllow(t, c2))
	}

	// The escalation history survived too: lifted and caught again, h3
	// gets the second step (1h), not a first offence's 10m.
	if code, _, body := opDo(t, c2, "DELETE", "/api/v1/blocks/"+blocks[0].ID, opToken, nil); code != 204 {
		t.Fatalf("DELETE block %s: %d %s", blocks[0].ID, code, body)
	}
	if !scanPing(l, 3, 2, false, 5) {
		t.Fatal("h3 cannot ping h2 after its block was lifted")
	}
	again := persistScan(t, c2, l, 3, 2)
	if b := again[0]; b.Level != 1 || b.Expires.Sub(b.Created) < 59*time.Minute || b.Expires.Sub(b.Created) > 61*time.Minute {
		t.Errorf("second offence after the restart: level %d for %v, want level 1 for 1h (the first was before the restart): %s",
			b.Level, b.Expires.Sub(b.Created), scanJSON(b))
	}
}

// persistRefuses runs `portcullis run` on state directory dir, expects it
// to refuse to start, and returns what it printed.
func persistRefuses(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), "run", "--listen", fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		"--api-listen", fmt.Sprintf("127.0.0.1:%d", FreePort(t)), "--state-dir", dir, "--grace", "0")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("portcullis run on a bad state file did not stop within 20s:\n%s", out)
	}
	if err == nil {
		t.Fatalf("portcullis run on a bad state file exited 0:\n%s", out)
	}
	return string(out)
}

// A corrupt state file (garbage written over it, or cut short as a crash
// or a full disk would) makes the controller refuse to start with an error
// that names the file, and leaves the file as it was (issue 3 item 5).
func TestPersistCorruptState(t *testing.T) {
	// A real state file with a block in it, to cut short.
	dir := t.TempDir()
	c := StartController(t, "--state-dir", dir, "--grace", "0", "--api-token", opToken)
	opPost(t, c, "/api/v1/blocks", map[string]string{"mac": "02:00:00:00:00:66", "duration": "1h"}, nil)
	c.Stop()
	good, err := os.ReadFile(filepath.Join(dir, "portcullis.db"))
	if err != nil {
		t.Fatal(err)
	}

	garbage := bytes.Repeat([]byte("this is not a portcullis state file\n"), 2000)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"garbage", garbage},
		{"cut short", good[:len(good)/3]},
		{"both meta pages zeroed", append(make([]byte, 8192), good[8192:]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "portcullis.db")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			st0, _ := os.Stat(path)
			out := persistRefuses(t, dir)
			t.Logf("portcullis run said: %s", persistFirstLines(out, 3))
			if strings.Contains(out, "fatal error: fault") || strings.Contains(out, "SIGBUS") || strings.Contains(out, "panic:") {
				now, _ := os.ReadFile(path)
				t.Fatalf("on a %s state file (%d of %d bytes) `portcullis run` crashes inside bbolt.Open "+
					"(%q) instead of refusing with a clear error naming the file (file unchanged: %v)",
					tc.name, len(tc.data), len(good), persistFirstLines(out, 3), bytes.Equal(now, tc.data))
			}
			if !strings.Contains(out, path) {
				t.Errorf("the error does not name the state file %s:\n%s", path, out)
			}
			if !strings.Contains(strings.ToLower(out), "corrupt") && !strings.Contains(strings.ToLower(out), "invalid") {
				t.Errorf("the error does not say the file is corrupt:\n%s", out)
			}
			now, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("the state file is gone: %v", err)
			}
			if !bytes.Equal(now, tc.data) {
				t.Errorf("the state file was changed (%d bytes, was %d)", len(now), len(tc.data))
			}
			if st1, _ := os.Stat(path); st0 != nil && st1 != nil && !st1.ModTime().Equal(st0.ModTime()) {
				t.Errorf("the state file was written to (mtime %v -> %v)", st0.ModTime(), st1.ModTime())
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("the state directory now holds %v, want only portcullis.db", names)
			}
		})
	}
}

// Block scope with two switches on one controller (issue 3 item 3, "Blocks
// apply network-wide on every connected switch, or at the ingress switch
// only"): a scanner in lab A is blocked; with the default network scope,
// lab B's switch gets an eth_src drop for the scanner's MAC too; with
// --block-scope ingress, only lab A's switch has block flows. (Lab B has
// two hosts, so no host there shares the scanner's MAC 02:00:00:00:00:03.)
func TestPersistBlockScope(t *testing.T) {
	RequireLab(t)
	c := StartPortcullis(t, "--api-token", opToken)
	cfgA, cfgB := LabConfig(3), LabConfig(2)
	cfgA.Controllers, cfgB.Controllers = []string{c.Target}, []string{c.Target}
	cfgA.DatapathID, cfgB.DatapathID = "00000000000000a1", "00000000000000b2"
	a, b := StartLab(t, cfgA), StartLab(t, cfgB)
	mac3 := a.Host(3).MAC.String()

	for _, scope := range []string{"network", "ingress"} {
		t.Run(scope, func(t *testing.T) {
			if scope != "network" {
				// A fresh controller with the other scope; its reconcile
				// removes the first one's block flows (no stored block).
				old := c
				c = StartPortcullis(t, "--api-token", opToken, "--block-scope", scope)
				for _, l := range []*lab.Lab{a, b} {
					if err := l.SetController(c.Target); err != nil {
						t.Fatal(err)
					}
				}
				old.Stop()
			}
			waitFor(t, 20*time.Second, "both switches connected and reconciled", func() bool {
				return len(scanEvents(t, c, "switch_up")) >= 2 && len(Switches(t, c)) == 2
			})
			if f := persistBlockFlows(t, a); len(f) != 0 {
				t.Fatalf("lab A has block flows before the scan: %q", f)
			}
			if f := persistBlockFlows(t, b); len(f) != 0 {
				t.Fatalf("lab B has block flows before the scan: %q", f)
			}
			opLearnHosts(t, c, a)
			blocks := persistScan(t, c, a, 3, 2)
			for _, bk := range blocks {
				if bk.Scope != scope || bk.DPID != api.FormatDPID(0xa1) || bk.Port != a.Host(3).Port {
					t.Errorf("block %s: scope %q at %s port %d, want scope %s at lab A's %s port %d",
						bk.ID, bk.Scope, bk.DPID, bk.Port, scope, api.FormatDPID(0xa1), a.Host(3).Port)
				}
			}
			var fa []string
			waitFor(t, 10*time.Second, "lab A's ingress drop flows", func() bool {
				fa = persistBlockFlows(t, a)
				return persistHas(fa, "in_port=3", "dl_src="+mac3)
			})
			fb := persistBlockFlows(t, b)
			t.Logf("scope %s: lab A block flows:\n%s\nlab B block flows:\n%s", scope, strings.Join(fa, "\n"), strings.Join(fb, "\n"))
			switch scope {
			case "network":
				if !persistHas(fb, "dl_src="+mac3, "actions=drop") {
					t.Errorf("network scope: lab B has no eth_src drop for %s: %q", mac3, fb)
				}
				for _, f := range fb {
					if strings.Contains(f, "in_port=") || strings.Contains(f, "nw_src=") || strings.Contains(f, "ipv6_src=") {
						t.Errorf("network scope: lab B got an ingress or address flow %q (only eth_src belongs off the ingress switch)", f)
					}
				}
			case "ingress":
				if len(fb) != 0 {
					t.Errorf("ingress scope: lab B has block flows: %q", fb)
				}
			}
			if scanPing(a, 3, 1, false, 2) {
				t.Errorf("lab A's h3 still pings h1")
			}
			if err := Ping(t.Context(), a, 1, 2, false, 5); err != nil {
				t.Errorf("lab A: %v", err)
			}
			if scope == "ingress" {
				if err := Ping(t.Context(), b, 2, 1, false, 5); err != nil {
					t.Errorf("lab B with an ingress-scoped block in lab A: %v", err)
				}
			}
		})
	}
}

// persistFirstLines returns the first n lines of s, joined by " | ".
func persistFirstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}

// persistWatch polls the lab's flows (every ~10 ms, plus the time
// ovs-ofctl takes) from now on, and returns a function that waits (up to
// 10 s) for the first time a block flow of ours containing every one of
// parts was seen, and returns that time (zero if never).
func persistWatch(l *lab.Lab, parts ...string) func() time.Time {
	done := make(chan time.Time, 1)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				done <- time.Time{}
				return
			default:
			}
			flows, err := l.DumpFlows()
			now := time.Now()
			if err == nil {
				for _, f := range flows {
					if strings.HasPrefix(f, persistBlockCookie) && persistHas([]string{f}, parts...) {
						done <- now
						return
					}
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return func() time.Time {
		select {
		case at := <-done:
			return at
		case <-time.After(10 * time.Second):
			close(stop)
			return <-done
		}
	}
}

// BenchmarkPersistRestartReconcile: a controller with one stored block is
// restarted on the same state directory while the switch waits for it
// (max_backoff 1 s); reported is the time from the new process logging
// "switch connected" to the block's drop flow being in the switch (issue 3
// item 5 asks for within a second), and from the old process's exit to
// the flow (what a restart costs the network).
func BenchmarkPersistRestartReconcile(b *testing.B) {
	RequireLab(b)
	args := []string{"--state-dir", b.TempDir(), "--grace", "0", "--api-token", opToken}
	c := StartController(b, args...)
	cfg := LabConfig(2)
	cfg.Controllers = []string{c.Target}
	l := StartLab(b, cfg)
	scanWaitSwitchUp(b, c)
	const mac = "02:00:00:00:00:99"
	opPost(b, c, "/api/v1/blocks", map[string]string{"mac": mac, "duration": "1h", "reason": "bench"}, nil)
	var connToFlow, exitToFlow []float64
	b.ResetTimer()
	for b.Loop() {
		c.Stop()
		WaitConnected(b, l, false)
		if _, err := l.Ofctl("del-flows", "cookie=0x5043050000000000/0xffffff0000000000"); err != nil {
			b.Fatal(err)
		}
		stopped := time.Now()
		wait := persistWatch(l, "dl_src="+mac)
		c = RestartController(b, c, args...)
		at := wait()
		if at.IsZero() {
			b.Fatalf("the block's flow did not come back within 10s:\n%s", c.Logs())
		}
		conn, ok := persistLogAt(c.Logs(), "switch connected")
		if !ok {
			b.Fatalf("no 'switch connected' log line:\n%s", c.Logs())
		}
		if running, ok := persistLogAt(c.Logs(), "portcullis running"); ok {
			b.Logf("restart: process up %v after the old one stopped, switch connected %v later, flow %v after that",
				running.Sub(stopped).Round(time.Millisecond), conn.Sub(running).Round(time.Millisecond), at.Sub(conn).Round(time.Millisecond))
		}
		connToFlow = append(connToFlow, float64(at.Sub(conn))/1e6)
		exitToFlow = append(exitToFlow, float64(at.Sub(stopped))/1e6)
	}
	b.ReportMetric(median(connToFlow), "ms-connected-to-flow")
	b.ReportMetric(median(exitToFlow), "ms-restart-to-flow")
}
