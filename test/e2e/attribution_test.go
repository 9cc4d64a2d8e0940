package e2e

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/lab"
)

// Attribution gaps of issue 8 (item 3) found after the engine landed, with real tools against a
// real Open vSwitch: a scanner that rotates MACs on one access port, and an honest station that
// moves to another port of the same switch. What is checked is what a user checks: who is
// blocked (the API, the switch's flows) and who still reaches whom.
func TestAttribution(t *testing.T) {
	e := scanStartEnv(t, 4)
	l := e.L

	// MAC rotation (docs/BENCHMARKS.md, known exceptions): h1 scans h2 from three macvlans of its
	// eth0, each with a MAC and an address of its own, one after the other. The first is blocked
	// alone; the second MAC judged at the port blocks the port whole, so the third learns
	// nothing, and h1's machine is cut off; nobody else is blocked.
	t.Run("mac-rotation", func(t *testing.T) {
		e.Fresh(t)
		spoofWarm(t, l)
		h1, h2 := l.Host(1), l.Host(2)
		for _, c := range [][]string{
			{"sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2"},
		} {
			if out, err := scanRun(l, 1, 5*time.Second, c...); err != nil {
				t.Fatalf("%v: %v %s", c, err, out)
			}
		}
		var mvs []string
		for i := 1; i <= 3; i++ {
			mv, ip := fmt.Sprintf("mv%d", i), fmt.Sprintf("10.0.0.%d/24", 100+i)
			for _, c := range [][]string{
				{"ip", "link", "add", mv, "link", "eth0", "type", "macvlan", "mode", "bridge"},
				{"ip", "addr", "add", ip, "dev", mv, "noprefixroute"},
				{"ip", "link", "set", mv, "up"},
				{"ethtool", "-K", mv, "tx", "off"},
			} {
				if out, err := scanRun(l, 1, 5*time.Second, c...); err != nil {
					t.Fatalf("%v: %v %s", c, err, out)
				}
			}
			mvs = append(mvs, mv)
		}
		t.Cleanup(func() {
			for _, mv := range mvs {
				scanRun(l, 1, 5*time.Second, "ip", "link", "del", mv)
			}
			scanRun(l, 1, 5*time.Second, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=0", "net.ipv4.conf.all.arp_announce=0")
		})
		learned := 0
		for i, mv := range mvs {
			xmlOut := filepath.Join(t.TempDir(), mv+".xml")
			ports := fmt.Sprintf("%d-%d,22,80,443,4000", 1000+100*i, 1099+100*i)
			argv := []string{"nmap", "-n", "-Pn", "-sS", "-T4", "--max-retries", "0", "--host-timeout", "30s",
				"-e", mv, "-S", fmt.Sprintf("10.0.0.%d", 101+i), "-p", ports, "-oX", xmlOut, h2.IP.String()}
			p := scanStart(t, l, 1, 45*time.Second, argv...)
			<-p.done
			n := attrLearned(t, xmlOut)
			learned += n
			t.Logf("%s: %d ports learned", strings.Join(argv, " "), n)
			time.Sleep(time.Second) // the verdict's block lands
			blocks := scanBlocks(t, e.C)
			switch i {
			case 0:
				if len(spoofBlocksAt(blocks, h1.Port)) == 0 {
					t.Fatalf("the first macvlan's scan was not blocked: %s\nnmap said:\n%s", scanJSON(blocks), p.Output())
				}
			case 1:
				if !attrPortWide(t, l, h1.Port) {
					flows, _ := l.DumpFlows()
					t.Fatalf("after a second MAC's scan, the switch does not drop h1's port %d whole (blocks %s):\n%s",
						h1.Port, scanJSON(blocks), strings.Join(flows, "\n"))
				}
			case 2:
				if n > 0 {
					t.Errorf("the third MAC learned %d ports through a port-wide block", n)
				}
			}
		}
		t.Logf("3 MACs rotated on one port: %d ports learned in all", learned)
		blocks := scanBlocks(t, e.C)
		for _, b := range blocks {
			if b.Port != h1.Port {
				t.Errorf("block of port %d (not the scanner's %d): %s", b.Port, h1.Port, scanJSON(b))
			}
		}
		scanCheckCutOff(t, l, 1)
	})

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
