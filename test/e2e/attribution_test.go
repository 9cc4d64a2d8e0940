package e2e

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/lab"
)

// Attribution gaps of issue 8 (item 3) found after the engine landed, with real tools against a
// real Open vSwitch: an honest station that moves to another port of the same switch. What is
// checked is what a user checks: who is blocked (the API, the switch's flows) and who still
// reaches whom.
func TestAttribution(t *testing.T) {
	e := scanStartEnv(t, 4)
	l := e.L

	// MAC rotation on one access port is TestEvasion/mac-rotation (rotation_test.go).

	// Same-switch roaming: h3 moves to a new port of the same switch (its MAC and address on a
	// new veth; the old port stays up and quiet for h3's MAC) seconds after it was seen at the
	// old one, well within HomeHold (30 s). It was judged a MAC spoofer and blocked; now the
	// switch's move check finds the old home silent and h3 is learned where it is.
	t.Run("roaming", func(t *testing.T) {
		e.Fresh(t)
		spoofWarm(t, l)
		h3 := l.Host(3)
		if !scanPing(l, 3, 4, false, 3) {
			t.Fatal("h3 cannot ping h4 before the move")
		}
		sw := l.Config().SwitchNetns()
		newPort := "r" + h3.Name
		hostNs := l.Config().HostNetns(3)
		steps := [][]string{
			{"ip", "-n", sw, "link", "add", newPort, "type", "veth", "peer", "name", "eth1", "netns", hostNs},
			// the old interface keeps its link (no port-down) and takes another MAC
			{"ip", "-n", hostNs, "link", "set", "eth0", "address", "02:ee:00:00:00:03"},
			{"ip", "-n", hostNs, "addr", "flush", "dev", "eth0"},
			{"ip", "-n", hostNs, "link", "set", "eth1", "address", h3.MAC.String()},
			{"ip", "-n", hostNs, "addr", "add", h3.IP.String() + "/24", "dev", "eth1"},
			{"ip", "-n", hostNs, "addr", "add", h3.IPv6.String() + "/64", "dev", "eth1", "nodad"},
			{"ip", "-n", hostNs, "link", "set", "eth1", "up"},
			{"ip", "-n", sw, "link", "set", newPort, "up"},
			{"ip", "netns", "exec", hostNs, "ethtool", "-K", "eth1", "tx", "off"},
			{"ip", "netns", "exec", sw, "ethtool", "-K", newPort, "tx", "off"},
		}
		t.Cleanup(func() {
			l.Vsctl("--if-exists", "del-port", newPort)
			attrExec(t, "ip", "-n", sw, "link", "del", newPort)
			attrExec(t, "ip", "-n", hostNs, "link", "set", "eth0", "address", h3.MAC.String())
			attrExec(t, "ip", "-n", hostNs, "addr", "add", h3.IP.String()+"/24", "dev", "eth0")
			attrExec(t, "ip", "-n", hostNs, "addr", "add", h3.IPv6.String()+"/64", "dev", "eth0", "nodad")
		})
		for _, s := range steps {
			if out, err := attrExec(t, s...); err != nil {
				t.Fatalf("%v: %v %s", s, err, out)
			}
		}
		if out, err := l.Vsctl("add-port", l.Bridge(), newPort, "--", "set", "Interface", newPort, "ofport_request=50"); err != nil {
			t.Fatalf("add-port: %v %s", err, out)
		}
		moved := time.Now()
		deadline := moved.Add(40 * time.Second)
		for !scanPing(l, 3, 4, false, 1) {
			if time.Now().After(deadline) {
				flows, _ := l.DumpFlows()
				t.Fatalf("h3 never reached h4 from its new port (blocks %s):\n%s", scanJSON(scanBlocks(t, e.C)), strings.Join(flows, "\n"))
			}
		}
		t.Logf("h3 reaches h4 from its new port %.1fs after the move", time.Since(moved).Seconds())
		if !scanPing(l, 3, 1, false, 3) || !scanPing(l, 2, 3, false, 3) {
			t.Error("h3 does not reach h1 / h2 reach h3 after the move")
		}
		for _, b := range scanBlocks(t, e.C) {
			t.Errorf("a block after an honest move: %s", scanJSON(b))
		}
		if hs := attrHostsOf(t, e.C, h3.MAC.String()); len(hs) != 1 || hs[0].Port != 50 {
			t.Errorf("h3 learned at %s, want port 50 alone", scanJSON(hs))
		}
	})
}

// attrPortWide reports whether the bridge has a drop flow on in_port alone (a port-wide block).
func attrPortWide(t *testing.T, l *lab.Lab, port uint32) bool {
	t.Helper()
	flows, err := l.DumpFlows()
	if err != nil {
		t.Fatalf("dump-flows: %v", err)
	}
	re := regexp.MustCompile(fmt.Sprintf(`priority=\d+,in_port=%d actions=drop$`, port))
	for _, f := range flows {
		if re.MatchString(strings.TrimSpace(f)) {
			return true
		}
	}
	return false
}

// attrLearned counts the ports an nmap -oX file reports open or closed.
func attrLearned(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("nmap output: %v", err)
	}
	var x scanNmapXML
	if err := xml.Unmarshal(b, &x); err != nil {
		t.Fatalf("nmap output %s: %v", path, err)
	}
	o, c := x.learned()
	return o + c
}

// attrHostsOf returns the API's hosts with mac.
func attrHostsOf(t *testing.T, c *Controller, mac string) []api.Host {
	t.Helper()
	var all api.HostList
	var out []api.Host
	GetJSON(t, c, "/api/v1/hosts", &all)
	for _, h := range all.Hosts {
		if strings.EqualFold(h.MAC, mac) {
			out = append(out, h)
		}
	}
	return out
}

// attrExec runs a command of the lab's set-up (outside any host) with a time limit.
func attrExec(t *testing.T, argv ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	return string(out), err
}
