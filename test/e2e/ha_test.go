package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/cluster/clustertest"
	"portcullis/internal/lab"
	"portcullis/internal/testenv"
)

// High availability (issue 11, docs/ha.md): two `portcullis run` on one etcd (Debian's
// etcd-server, loopback), one Open vSwitch bridge with both as controllers. One lab for every
// subtest; they run in order and each leaves two instances running, one of them leading.

// haEnv is the shared lab: etcd, two instances, four hosts running scanServices.
type haEnv struct {
	*scanEnv
	etcd *lab.Etcd
	args map[*Controller][]string // each instance's flags, for restarts
	ctl  [2]*Controller
	// link is each instance's path to etcd (by name): a proxy that can cut it.
	link map[string]*clustertest.Proxy
}

func haStart(t testing.TB) *haEnv {
	t.Helper()
	RequireLab(t)
	testenv.Tool(t, "etcd", "nmap", "python3", "ping")
	et, err := lab.StartEtcd(context.Background(), fmt.Sprintf("e2e-ha-%d", os.Getpid()), filepath.Join(t.TempDir(), "etcd"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(et.Kill)
	e := &haEnv{scanEnv: &scanEnv{t: t, dir: t.TempDir()}, etcd: et, args: map[*Controller][]string{},
		link: map[string]*clustertest.Proxy{}}
	if err := os.WriteFile(filepath.Join(e.dir, "services.py"), []byte(scanServices), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"a", "b"} {
		p, err := clustertest.NewProxy(strings.TrimPrefix(et.Endpoint, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		e.link[name] = p
		args := []string{"--state-dir", t.TempDir(), "--grace", "0", "--api-token", scanToken,
			"--etcd-endpoints", "http://" + p.Addr(), "--etcd-prefix", fmt.Sprintf("/e2e-ha-%d/", os.Getpid()), "--cluster-name", name}
		c := StartController(t, args...)
		e.ctl[i], e.args[c] = c, args
	}
	cfg := LabConfig(4)
	cfg.Controllers = []string{e.ctl[0].Target, e.ctl[1].Target}
	e.L = StartLab(t, cfg)
	for _, h := range e.L.Hosts() {
		e.startServices(h.Index)
	}
	return e
}

func haCluster(t testing.TB, c *Controller) api.Cluster {
	t.Helper()
	var cl api.Cluster
	GetJSON(t, c, "/api/v1/cluster", &cl)
	return cl
}

// bridgeMaster returns the target the bridge holds as master ("" if none).
func (e *haEnv) bridgeMaster(t testing.TB) string {
	t.Helper()
	st, err := e.L.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Controllers {
		if c.Connected && c.Role == "master" {
			return c.Target
		}
	}
	return ""
}

// waitLeader waits until one instance leads and is master of the bridge (the switch answered its
// ROLE_REQUEST MASTER: GET /api/v1/cluster's master), and the other follows it with the switch
// connected to it too (ready to take over); it returns leader, follower. It does not wait for
// ovs-vsctl's role column, which Open vSwitch refreshes every 5 s (waitBridgeMaster does).
func (e *haEnv) waitLeader(t testing.TB) (*Controller, *Controller) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for i, c := range e.ctl {
			o := e.ctl[1-i]
			if c.Exited() || o.Exited() {
				continue
			}
			cl, ol := haCluster(t, c), haCluster(t, o)
			if cl.Role == "leader" && ol.Role == "follower" && ol.Leader == cl.Name && cl.Master == 1 && ol.Switches == 1 &&
				ol.Master == 0 {
				return c, o
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no leader master of the bridge after 30s: a %+v, b %+v", haCluster(t, e.ctl[0]), haCluster(t, e.ctl[1]))
	return nil, nil
}

// waitBridgeMaster waits until `ovs-vsctl list controller` shows c's target connected as master,
// as a user checks it (Open vSwitch writes the column at its next status refresh, up to 5 s late).
func (e *haEnv) waitBridgeMaster(t testing.TB, c *Controller) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for e.bridgeMaster(t) != c.Target {
		if time.Now().After(deadline) {
			st, _ := e.L.Status()
			t.Fatalf("ovs-vsctl list controller does not show %s as master 15s on: %+v", c.Target, st.Controllers)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill9 kills an instance (SIGKILL).
func (e *haEnv) kill9(t testing.TB, c *Controller) {
	t.Helper()
	c.cmd.Process.Kill()
	<-c.done
}

// restart starts a killed instance again on the same addresses; it joins as a follower.
func (e *haEnv) restart(c *Controller) {
	// The test's own t: the instance outlives the subtest that restarted it.
	args := e.args[c]
	n := RestartController(e.scanEnv.t, c, args...)
	e.args[n] = args
	for i := range e.ctl {
		if e.ctl[i] == c {
			e.ctl[i] = n
		}
	}
}

func haPost(t testing.TB, c *Controller, method, path string, body any) (int, []byte) {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, c.APIURL+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+scanToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes()
}

// haLiftAll lifts every block through c and waits until the bridge holds no block flow.
func (e *haEnv) liftAll(t testing.TB, c *Controller) {
	t.Helper()
	for _, b := range scanBlocks(t, c) {
		scanLift(t, c, b.ID)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(persistBlockFlows(t, e.L)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("block flows left after lifting every block: %v", persistBlockFlows(t, e.L))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestHA(t *testing.T) {
	e := haStart(t)
	leader, follower := e.waitLeader(t)
	e.C = leader // WarmUp checks what the master learned
	e.WarmUp(t)

	t.Run("BlockThroughFollower", func(t *testing.T) {
		// A block added through the follower's API is installed by the leader: h4 is cut off,
		// and both APIs show the one block.
		ip := e.L.Host(4).IP.String()
		code, body := haPost(t, follower, "POST", "/api/v1/blocks", map[string]string{"ip": ip, "duration": "1h"})
		if code != http.StatusCreated {
			t.Fatalf("POST /api/v1/blocks on the follower: %d %s", code, body)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !persistHas(persistBlockFlows(t, e.L), "nw_src="+ip) {
			if time.Now().After(deadline) {
				t.Fatalf("the leader did not install the follower's block of %s: %v", ip, persistBlockFlows(t, e.L))
			}
			time.Sleep(50 * time.Millisecond)
		}
		// Open vSwitch revalidates the flows its datapath cached asynchronously after a
		// flow-mod: a ping sent the instant the drop flow is in the table may still pass.
		for i := 0; scanPing(e.L, 4, 1, false, 1); i++ {
			if i == 3 {
				t.Fatalf("h4 still pings h1 after its block through the follower")
			}
		}
		if scanPing(e.L, 4, 1, false, 2) {
			t.Errorf("h4 pings h1 again after its block through the follower dropped a ping")
		}
		bl, bf := scanBlocks(t, leader), scanBlocks(t, follower)
		if len(bl) != 1 || len(bf) != 1 || bl[0].ID != bf[0].ID {
			t.Errorf("blocks: leader %s, follower %s; want the same one", scanJSON(bl), scanJSON(bf))
		}
		// Lifted through the follower too.
		e.liftAll(t, follower)
		if !scanPing(e.L, 4, 1, false, 3) {
			t.Errorf("h4 cannot ping h1 after the lift")
		}
	})

	t.Run("FailoverDuringScan", func(t *testing.T) {
		// A scan blocked by the leader; the leader is killed (-9); the follower takes the bridge,
		// the block is still in the switch and in the new leader's API; a scanner that starts
		// during the failover is blocked by the new leader.
		blocks := persistScan(t, leader, e.L, 3, 1)
		if len(blocks) != 1 {
			t.Fatalf("first scan: %s", scanJSON(blocks))
		}
		before := persistBlockFlows(t, e.L)
		old := leader
		e.kill9(t, old)
		// At 100 probes a second the scan outlasts the failover (about 2 s): the probes sent
		// while no instance is master reach nobody's detector (docs/ha.md), the later ones the
		// new leader's. A -T4 scan of 300 ports can end inside that gap on a loaded machine.
		scan := scanStart(t, e.L, 2, 60*time.Second, "nmap", "-n", "-Pn", "-sS", "-T4", "--max-rate", "100", "-p", "1-1000", e.L.Host(4).IP.String())
		e.restart(old)
		leader, follower = e.waitLeader(t)
		if leader.Target == old.Target {
			t.Fatalf("the killed instance leads again; want the other")
		}
		e.waitBridgeMaster(t, leader)
		after := haMatches(persistBlockFlows(t, e.L))
		for _, m := range haMatches(before) {
			if !slices.Contains(after, m) {
				t.Errorf("block flow %s gone after the failover (now %v)", m, after)
			}
		}
		got := scanWaitBlock(t, leader, 30*time.Second, scan.done)
		scan.Kill()
		var second bool
		for _, b := range got {
			if b.ID != blocks[0].ID && strings.EqualFold(b.MAC, e.L.Host(2).MAC.String()) {
				second = true
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		for !second && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
			for _, b := range scanBlocks(t, leader) {
				second = second || strings.EqualFold(b.MAC, e.L.Host(2).MAC.String())
			}
		}
		if !second {
			t.Fatalf("the scanner that started during the failover (h2) is not blocked: %s\n%s", scanJSON(scanBlocks(t, leader)), scan.Output())
		}
		if n := len(scanBlocks(t, follower)); n != 2 {
			t.Errorf("the follower shows %d blocks, want 2: %s", n, scanJSON(scanBlocks(t, follower)))
		}
		if scanPing(e.L, 3, 1, false, 1) || scanPing(e.L, 2, 4, false, 1) {
			t.Errorf("a blocked scanner still pings")
		}
		scanCheckOthers(t, e.L, 2, 3)
		e.liftAll(t, leader)
	})

	t.Run("FailoverSteadyTraffic", func(t *testing.T) {
		// Pings between learned hosts keep flowing while the leader dies and the follower takes
		// over: the flows stay in the switch, and the new leader's set-up floods until it learns.
		testenv.Tool(t, "ping")
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := e.L.Exec(ctx, e.L.Host(1).Name, "ping", "-n", "-i", "0.1", "-w", "8", e.L.Host(2).IP.String())
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		old := leader
		e.kill9(t, old)
		e.restart(old)
		leader, follower = e.waitLeader(t)
		cmd.Wait()
		sent, recv := pingCounts(out.String())
		t.Logf("ping h1 -> h2 across the failover: %d sent, %d received", sent, recv)
		if sent == 0 || recv < sent*9/10 {
			t.Errorf("traffic between learned hosts did not keep flowing: %d of %d pings answered\n%s", recv, sent, out.String())
		}
		scanCheckOthers(t, e.L)
	})

	t.Run("EtcdRestart", func(t *testing.T) {
		// etcd restarts: the instances watch again from a fresh snapshot; a leader leads, and a
		// block through either API is in force.
		if err := e.etcd.Restart(t.Context()); err != nil {
			t.Fatal(err)
		}
		leader, follower = e.waitLeader(t)
		ip := e.L.Host(4).IP.String()
		code, body := haPost(t, follower, "POST", "/api/v1/blocks", map[string]string{"ip": ip, "duration": "1h"})
		if code != http.StatusCreated {
			t.Fatalf("POST /api/v1/blocks on the follower after the etcd restart: %d %s", code, body)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !persistHas(persistBlockFlows(t, e.L), "nw_src="+ip) {
			if time.Now().After(deadline) {
				t.Fatalf("the block of %s is not installed after the etcd restart", ip)
			}
			time.Sleep(50 * time.Millisecond)
		}
		e.liftAll(t, leader)
	})

	t.Run("PartitionedLeader", func(t *testing.T) {
		// The leader's link to etcd goes silent (a partition: no error, no answer) while the
		// follower still reaches etcd. The leader stops leading before the follower is elected,
		// says so (log, leader_lost), and the follower takes the bridge with every block flow
		// still in it. The link back: the old leader follows.
		ip := e.L.Host(4).IP.String()
		code, body := haPost(t, leader, "POST", "/api/v1/blocks", map[string]string{"ip": ip, "duration": "1h"})
		if code != http.StatusCreated {
			t.Fatalf("POST /api/v1/blocks: %d %s", code, body)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !persistHas(persistBlockFlows(t, e.L), "nw_src="+ip) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		old, other := leader, follower
		cut := time.Now()
		e.link[haCluster(t, old).Name].Cut()
		deadline = time.Now().Add(20 * time.Second)
		for cl := haCluster(t, other); cl.Role != "leader" || cl.Master != 1; cl = haCluster(t, other) {
			if time.Now().After(deadline) {
				t.Fatalf("the follower is not master 20s after the leader's etcd link was cut: old %+v, other %+v",
					haCluster(t, old), haCluster(t, other))
			}
			time.Sleep(100 * time.Millisecond)
		}
		lost, ok1 := haLogAfter(old.Logs(), "cluster: leader lost: this instance writes to no switch from now on", cut)
		won, ok2 := haLogAfter(other.Logs(), "cluster: elected leader", cut)
		switch {
		case !ok1:
			t.Errorf("the cut-off leader's log does not say it stopped leading:\n%s", grepLines(old.Logs(), "cluster"))
		case !ok2:
			t.Errorf("the new leader's log does not say it was elected:\n%s", grepLines(other.Logs(), "cluster"))
		case !lost.Before(won):
			t.Errorf("the cut-off leader stopped leading %v after the cut, the other was elected %v after it: two leaders",
				lost.Sub(cut), won.Sub(cut))
		}
		if cl := haCluster(t, old); cl.Role != "follower" || cl.Master != 0 {
			t.Errorf("the cut-off instance: role %s, master of %d switches; want a follower master of none", cl.Role, cl.Master)
		}
		if len(scanEvents(t, old, "leader_lost")) == 0 {
			t.Errorf("no leader_lost event on the cut-off instance")
		}
		if !persistHas(persistBlockFlows(t, e.L), "nw_src="+ip) {
			t.Errorf("the block flow is gone after the takeover")
		}
		e.link[haCluster(t, old).Name].Heal()
		leader, follower = e.waitLeader(t)
		if leader != other {
			t.Errorf("the instance cut off leads again after the link came back; want the other")
		}
		if !persistHas(persistBlockFlows(t, e.L), "nw_src="+ip) {
			t.Errorf("the block flow is gone after the link came back")
		}
		e.liftAll(t, leader)
	})

	t.Run("NewEtcd", func(t *testing.T) {
		// The cluster moves to a new, empty etcd (its revisions start at 1 again): the bridge,
		// which remembers the larger generation it was claimed with, refuses the first leader of
		// the new etcd as stale (OFPRRFC_STALE). That leader, which etcd says leads, raises its
		// generation past the bridge's and becomes its master; a block through the follower is
		// in force.
		gen := haCluster(t, leader).Generation
		et2, err := lab.StartEtcd(t.Context(), fmt.Sprintf("e2e-ha2-%d", os.Getpid()), filepath.Join(t.TempDir(), "etcd"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(et2.Kill)
		for _, p := range e.link {
			p.Retarget(strings.TrimPrefix(et2.Endpoint, "http://"))
		}
		deadline := time.Now().Add(20 * time.Second)
		for haCluster(t, e.ctl[0]).Generation == gen && haCluster(t, e.ctl[1]).Generation == gen {
			if time.Now().After(deadline) {
				t.Fatalf("no election on the new etcd after 20s")
			}
			time.Sleep(100 * time.Millisecond)
		}
		leader, follower = e.waitLeader(t)
		cl := haCluster(t, leader)
		if cl.Generation <= gen {
			t.Errorf("generation %d on the new etcd, %d before: want it raised past the bridge's", cl.Generation, gen)
		}
		if !strings.Contains(leader.Logs(), "generation raised") {
			t.Errorf("the leader's log does not say it raised its generation:\n%s", grepLines(leader.Logs(), "cluster"))
		}
		ip := e.L.Host(4).IP.String()
		code, body := haPost(t, follower, "POST", "/api/v1/blocks", map[string]string{"ip": ip, "duration": "1h"})
		if code != http.StatusCreated {
			t.Fatalf("POST /api/v1/blocks on the follower on the new etcd: %d %s", code, body)
		}
		deadline = time.Now().Add(10 * time.Second)
		for !persistHas(persistBlockFlows(t, e.L), "nw_src="+ip) {
			if time.Now().After(deadline) {
				t.Fatalf("the block of %s is not installed on the new etcd", ip)
			}
			time.Sleep(50 * time.Millisecond)
		}
		e.liftAll(t, leader)
	})

	// Throughout, no instance's switch session was closed by a write that timed out: a quiet
	// session (the follower's) was, every 10 to 15 s, by a write deadline left set.
	for _, c := range e.ctl {
		if l := grepLines(c.Logs(), "i/o timeout"); l != "" {
			t.Errorf("%s: a switch session closed by a write timeout:\n%s", c.Target, l)
		}
	}
}

// haLogAfter returns the time of the first log line with message msg after since.
func haLogAfter(logs, msg string, since time.Time) (time.Time, bool) {
	for _, m := range persistLogTime.FindAllStringSubmatch(logs, -1) {
		if m[2] != msg {
			continue
		}
		if ts, err := time.Parse(time.RFC3339Nano, m[1]); err == nil && ts.After(since) {
			return ts, true
		}
	}
	return time.Time{}, false
}

var haMatch = regexp.MustCompile(`priority=40000\S*`)

// haMatches returns the matches of block flows, without their counters.
func haMatches(flows []string) []string {
	var out []string
	for _, f := range flows {
		out = append(out, haMatch.FindString(f))
	}
	return out
}

// pingCounts parses ping's summary line ("N packets transmitted, M received").
func pingCounts(out string) (sent, recv int) {
	for line := range strings.Lines(out) {
		if strings.Contains(line, "packets transmitted") {
			fmt.Sscanf(strings.TrimSpace(line), "%d packets transmitted, %d received", &sent, &recv)
		}
	}
	return sent, recv
}

// BenchmarkHAFailover measures, over PORTCULLIS_BENCH_ROUNDS rounds (default 10), the time from
// the leader's kill -9 until the other instance is master on the bridge (`ovs-vsctl list
// controller` shows role=master for its target; the lease TTL, 2 s, included), and the time from
// a block posted to the follower's API until its drop flow is in the bridge. It reports median and
// max; it never fails on a figure (docs/BENCHMARKS.md).
func BenchmarkHAFailover(b *testing.B) {
	rounds := envInt(b, "PORTCULLIS_BENCH_ROUNDS", 10)
	e := haStart(b)
	leader, follower := e.waitLeader(b)
	e.C = leader // WarmUp checks what the master learned
	e.WarmUp(b)
	var failover, claimed, propagate []time.Duration
	for b.Loop() {
		for r := 0; r < rounds; r++ {
			ip := e.L.Host(4).IP.String()
			t0 := time.Now()
			code, body := haPost(b, follower, "POST", "/api/v1/blocks", map[string]string{"ip": ip, "duration": "1h"})
			if code != http.StatusCreated {
				b.Fatalf("POST /api/v1/blocks on the follower: %d %s", code, body)
			}
			for !persistHas(persistBlockFlows(b, e.L), "nw_src="+ip) {
				if time.Since(t0) > 10*time.Second {
					b.Fatalf("block not installed after 10s")
				}
				time.Sleep(5 * time.Millisecond)
			}
			propagate = append(propagate, time.Since(t0))
			e.liftAll(b, follower)

			old := leader
			t0 = time.Now()
			e.kill9(b, old)
			for e.bridgeMaster(b) != follower.Target {
				if time.Since(t0) > 30*time.Second {
					b.Fatalf("no new master 30s after the kill")
				}
				time.Sleep(10 * time.Millisecond)
			}
			failover = append(failover, time.Since(t0))
			// When the new leader had the switch's ROLE_REPLY (its log), which OVS shows in
			// the Controller table only at its next status refresh.
			for _, line := range strings.Split(follower.Logs(), "\n") {
				if strings.Contains(line, `msg="cluster: master of the switch"`) {
					if at, ok := persistLogAt(line, "cluster: master of the switch"); ok && at.After(t0) {
						claimed = append(claimed, at.Sub(t0))
						break
					}
				}
			}
			if os.Getenv("PORTCULLIS_BENCH_HA_DEBUG") != "" {
				b.Logf("round %d: killed at %s\n%s", r, t0.UTC().Format(time.RFC3339Nano), grepLines(follower.Logs(), "cluster"))
			}
			e.restart(old)
			leader, follower = e.waitLeader(b)
		}
	}
	stats := func(ds []time.Duration) (time.Duration, time.Duration) {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2], s[len(s)-1]
	}
	fm, fx := stats(failover)
	pm, px := stats(propagate)
	b.ReportMetric(fm.Seconds(), "failover-median-s")
	b.ReportMetric(fx.Seconds(), "failover-max-s")
	b.ReportMetric(pm.Seconds()*1000, "propagation-median-ms")
	b.ReportMetric(px.Seconds()*1000, "propagation-max-ms")
	b.Logf("failover (kill -9 to master on the bridge), %d rounds: median %v, max %v; all %v", len(failover), fm, fx, failover)
	if len(claimed) > 0 {
		cm, cx := stats(claimed)
		b.ReportMetric(cm.Seconds(), "master-reply-median-s")
		b.Logf("failover (kill -9 to the new leader's ROLE_REPLY MASTER, from its log), %d rounds: median %v, max %v; all %v",
			len(claimed), cm, cx, claimed)
	}
	b.Logf("block propagation (follower's API to the drop flow in the bridge), %d rounds: median %v, max %v; all %v",
		len(propagate), pm, px, propagate)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
