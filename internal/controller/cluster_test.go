package controller

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"portcullis/internal/api"
	"portcullis/internal/lab"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/internal/store"
	"portcullis/internal/testenv"
	"portcullis/ofp"
)

// Issue 11: two controllers share one etcd; one switch connects to both. The fake switch keeps
// OpenFlow 1.3's roles as Open vSwitch does (section "Role request message" of the 1.3.5 spec): a
// MASTER or SLAVE request whose generation_id is older than the newest it saw fails with
// OFPRRFC_STALE; a new master demotes the old one to slave; a slave's flow-mods fail with
// OFPBRC_IS_SLAVE and are not applied.

// roleSwitch is one datapath seen through several controller connections.
type roleSwitch struct {
	mu     sync.Mutex
	maxGen uint64
	seen   bool
	master *fakeSwitch
	slaves map[*fakeSwitch]bool
	// ahead makes a liar: every MASTER or SLAVE request is refused as stale, and the
	// generation it says it has seen is always 2^62-1 past the one it was last sent.
	ahead bool
}

func newRoleSwitch() *roleSwitch { return &roleSwitch{slaves: map[*fakeSwitch]bool{}} }

func (rs *roleSwitch) masterOf() *fakeSwitch {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.master
}

func (rs *roleSwitch) generation() uint64 {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.maxGen
}

// handle answers role requests and refuses a slave's writes; it returns false for a message the
// switch refused (not to be applied).
func (rs *roleSwitch) handle(fs *fakeSwitch, sw *ofconntest.Switch, hdr ofp.Header, m ofp.Message) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	switch m := m.(type) {
	case *ofp.RoleRequest:
		if rs.ahead && (m.Role == ofp.ControllerRoleMaster || m.Role == ofp.ControllerRoleSlave) {
			rs.seen, rs.maxGen = true, m.GenerationID+1<<62-1
			sw.Send(hdr.Xid, &ofp.Error{ErrType: ofp.ErrTypeRoleRequestFailed, Code: ofp.RoleRequestFailedStale})
			return false
		}
		if m.Role == ofp.ControllerRoleMaster || m.Role == ofp.ControllerRoleSlave {
			if rs.seen && int64(m.GenerationID-rs.maxGen) < 0 {
				sw.Send(hdr.Xid, &ofp.Error{ErrType: ofp.ErrTypeRoleRequestFailed, Code: ofp.RoleRequestFailedStale})
				return false
			}
			rs.seen, rs.maxGen = true, m.GenerationID
		}
		switch m.Role {
		case ofp.ControllerRoleMaster:
			if rs.master != nil && rs.master != fs {
				rs.slaves[rs.master] = true
			}
			rs.master = fs
			delete(rs.slaves, fs)
		case ofp.ControllerRoleSlave:
			if rs.master == fs {
				rs.master = nil
			}
			rs.slaves[fs] = true
		}
		sw.Send(hdr.Xid, &ofp.RoleReply{Role: m.Role, GenerationID: rs.maxGen})
	case *ofp.FlowMod, *ofp.MeterMod, *ofp.PacketOut:
		if rs.slaves[fs] {
			sw.Send(hdr.Xid, &ofp.Error{ErrType: ofp.ErrTypeBadRequest, Code: ofp.BadRequestIsSlave})
			return false
		}
	}
	return true
}

// dialRole connects a fake switch of dpid to h, as one connection of rs.
func (h *harness) dialRole(rs *roleSwitch, dpid uint64, nports int) *fakeSwitch {
	h.t.Helper()
	fs := &fakeSwitch{t: h.t, dpid: dpid, changed: make(chan struct{})}
	fs.fenceXID.Store(0x7f000000)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	sw, err := ofconntest.Dial(ctx, h.ofAddr, ofconntest.Config{DPID: dpid, Ports: ofconntest.Ports(nports),
		Handle: func(sw *ofconntest.Switch, hdr ofp.Header, m ofp.Message) {
			if rs.handle(fs, sw, hdr, m) {
				fs.handle(sw, hdr, m)
			}
		}})
	if err != nil {
		h.t.Fatalf("dial: %v", err)
	}
	fs.Switch = sw
	h.t.Cleanup(func() { sw.Close() })
	select {
	case <-sw.Handshook():
	case <-ctx.Done():
		h.t.Fatalf("switch %d: no handshake", dpid)
	}
	return fs
}

func (h *harness) cluster() api.Cluster {
	h.t.Helper()
	var c api.Cluster
	h.get("/api/v1/cluster", &c)
	return c
}

func startEtcd(t *testing.T) *lab.Etcd {
	t.Helper()
	testenv.Tool(t, "etcd")
	e, err := lab.StartEtcd(context.Background(), "controller-test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Kill)
	return e
}

// startMember runs a controller named name on etcd e.
// startLeader starts an etcd and member a on it, and waits until a leads.
func startLeader(t *testing.T) (*lab.Etcd, *harness) {
	t.Helper()
	e := startEtcd(t)
	a := startMember(t, e, "a")
	eventually(t, "a leads", func() bool { return a.cluster().Role == "leader" })
	return e, a
}

func startMember(t *testing.T, e *lab.Etcd, name string) *harness {
	t.Helper()
	cfg := testConfig(t)
	cfg.Store.Etcd.Endpoints = []string{e.Endpoint}
	cfg.Store.Etcd.Prefix = "/test-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")) + "/"
	cfg.Cluster.Name = name
	cfg.Cluster.LeaseTTL = 2 * time.Second
	st, err := store.OpenEtcd(store.EtcdOptions{Endpoints: cfg.Store.Etcd.Endpoints, Prefix: cfg.Store.Etcd.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	return startController(t, cfg, st)
}

// hasBlockFor reports whether fs was sent a block drop flow for ip.
func hasBlockFor(fs *fakeSwitch, ip netip.Addr) bool {
	for _, fm := range blockAdds(fs.recorded(0)) {
		if a, ok := matchIPv4Src(fm.Match); ok && a == ip {
			return true
		}
	}
	return false
}

func TestClusterLeaderFollowerFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	e := startEtcd(t)
	a := startMember(t, e, "a")
	b := startMember(t, e, "b")
	rs := newRoleSwitch()
	sa := a.dialRole(rs, 1, 4)
	sb := b.dialRole(rs, 1, 4)

	var leader, follower *harness
	var ls, fls *fakeSwitch
	eventually(t, "one leader, master of the switch", func() bool {
		ca, cb := a.cluster(), b.cluster()
		switch {
		case ca.Role == "leader" && cb.Role == "follower" && cb.Leader == "a" && rs.masterOf() == sa:
			leader, follower, ls, fls = a, b, sa, sb
		case cb.Role == "leader" && ca.Role == "follower" && ca.Leader == "b" && rs.masterOf() == sb:
			leader, follower, ls, fls = b, a, sb, sa
		default:
			return false
		}
		return true
	})
	gen1 := rs.generation()
	if c := follower.cluster(); c.Leader != leader.cluster().Name || c.Generation != gen1 || len(c.Members) != 2 {
		t.Errorf("follower's view: %+v; want leader %s at generation %d, two members", c, leader.cluster().Name, gen1)
	}
	// The leader set the switch up; the follower installed nothing.
	ls.waitFor(0, "the leader's block-flow dump", isBlockFlowsRequest)
	for _, r := range fls.recorded(0) {
		if t := r.Header.Type; t == ofp.TypeFlowMod || t == ofp.TypeMeterMod {
			t2 := t
			follower.t.Errorf("the follower sent the switch %v", t2)
		}
	}

	// A packet-in reaching the follower (a switch sends a slave none; this one lies) is ignored:
	// no flow, no packet-out; the leader learns the same station.
	h1 := newHost(1, 1)
	from := fls.count()
	fls.packetIn(learnMiss(h1.port, arpFrame(1, h1.mac, h1.ip, [6]byte{}, netip.AddrFrom4([4]byte{10, 0, 0, 254}))))
	end := fls.fence()
	for _, r := range fls.recorded(from)[:end-from] {
		if r.Header.Type == ofp.TypeFlowMod || r.Header.Type == ofp.TypePacketOut {
			t.Errorf("the follower answered a packet-in with %v", r.Header.Type)
		}
	}
	ls.learn(h1)

	// A block through the follower's API: the leader installs it, both APIs show it.
	victim := netip.MustParseAddr("10.0.0.99")
	code, body := follower.call("POST", "/api/v1/blocks", testToken, map[string]string{"ip": victim.String(), "duration": "1h"})
	if code != http.StatusCreated {
		t.Fatalf("POST /api/v1/blocks on the follower: %d %s", code, body)
	}
	eventually(t, "the leader installs the follower's block", func() bool { return hasBlockFor(ls, victim) })
	eventually(t, "both APIs list the block", func() bool {
		bl, bf := leader.blocks(), follower.blocks()
		return len(bl) == 1 && len(bf) == 1 && bl[0].ID == bf[0].ID
	})
	if hasBlockFor(fls, victim) {
		t.Errorf("the follower sent the block's flows")
	}

	// The leader goes away: the follower takes the switch with a newer generation and puts the
	// block on it (its connection's table is empty: the pass adds it).
	leader.stop()
	eventually(t, "the follower leads and is master", func() bool {
		return follower.cluster().Role == "leader" && rs.masterOf() == fls
	})
	if g := rs.generation(); g <= gen1 {
		t.Errorf("generation after failover %d, want > %d", g, gen1)
	}
	eventually(t, "the new leader reconciles the block onto the switch", func() bool { return hasBlockFor(fls, victim) })
	if len(follower.events("leader_elected")) != 1 {
		t.Errorf("leader_elected events: %+v", follower.events("leader_elected"))
	}
}

// A switch that has seen a newer generation than the leader's refuses it (OFPRRFC_STALE), and
// etcd no longer backs the leader (its election key is gone, as when its lease expired and
// another instance won): the leader steps down, says so, and sets nothing up.
func TestClusterStaleLeaderStepsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	e, a := startLeader(t)
	st, err := store.OpenEtcd(store.EtcdOptions{Endpoints: []string{e.Endpoint}, Prefix: a.c.cfg.Store.Etcd.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Client().Delete(t.Context(), a.c.cfg.Store.Etcd.Prefix+"election/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	rs := newRoleSwitch()
	rs.seen, rs.maxGen = true, 1<<40 // the instance that won claimed it with a newer generation
	fs := a.dialRole(rs, 7, 2)
	eventually(t, "a steps down", func() bool { return len(a.events("leader_lost")) > 0 })
	if !strings.Contains(a.logs.String(), "stepping down: switch 0000000000000007 refused master") {
		t.Errorf("the log does not say why a stepped down:\n%s", a.logs.String())
	}
	for _, r := range fs.recorded(0) {
		if r.Header.Type == ofp.TypeFlowMod {
			t.Fatalf("a stale leader wrote to the switch: %s", describe(fs.recorded(0)))
		}
	}
}

// A switch that refuses the leader as stale with a generation more than 2^62 ahead (a liar:
// following it would put the generation half way round 2^64) while etcd says the leader leads
// does not depose it: the leader stays, keeps its other switch set up, writes nothing to the one
// that refused, says so in its log, and the follower stays a follower.
func TestClusterLyingSwitchDoesNotDepose(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	e, a := startLeader(t)
	b := startMember(t, e, "b")
	eventually(t, "b follows a", func() bool { return b.cluster().Leader == "a" })
	honest := newRoleSwitch()
	ha := a.dialRole(honest, 1, 2)
	b.dialRole(honest, 1, 2)
	liar := newRoleSwitch()
	liar.seen, liar.maxGen = true, 1<<62+1<<40
	la := a.dialRole(liar, 2, 2)
	ha.waitFor(0, "the leader's block-flow dump on the honest switch", isBlockFlowsRequest)
	eventually(t, "a says the liar refused it", func() bool {
		return strings.Contains(a.logs.String(), "a switch refuses this instance as master, but etcd says it leads")
	})
	if c := a.cluster(); c.Role != "leader" || c.Master != 1 {
		t.Errorf("a after the liar's refusal: role %s, master of %d; want the leader, master of the honest switch", c.Role, c.Master)
	}
	if c := b.cluster(); c.Role != "follower" || c.Leader != "a" {
		t.Errorf("b after the liar's refusal: role %s, leader %q; want a follower of a", c.Role, c.Leader)
	}
	if n := len(a.events("leader_lost")); n != 0 {
		t.Errorf("a published %d leader_lost events", n)
	}
	for _, r := range la.recorded(0) {
		if r.Header.Type == ofp.TypeFlowMod || r.Header.Type == ofp.TypeMeterMod {
			t.Fatalf("the leader wrote to the switch that refused it: %s", describe(la.recorded(0)))
		}
	}
}

// A program playing a switch that refuses every generation as stale and always says it has seen
// one far ahead may make the leader raise its generation once, not again and again: each raise
// writes etcd and asks every switch again, and a loop of them, as fast as round trips allow,
// would be the attacker's to run. The leader stays master of the honest switch.
func TestClusterRatchetingLiarRaisesOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	_, a := startLeader(t)
	honest := newRoleSwitch()
	a.dialRole(honest, 1, 2)
	eventually(t, "a is master of the honest switch", func() bool { return a.cluster().Master == 1 })
	liar := newRoleSwitch()
	liar.ahead = true
	a.dialRole(liar, 2, 2)
	eventually(t, "a leaves the liar alone", func() bool {
		return strings.Contains(a.logs.String(), "a switch refuses this instance as master, but etcd says it leads")
	})
	gen := a.cluster().Generation
	time.Sleep(2 * time.Second) // a raise takes a few etcd round trips: a loop would have raised it many times
	if c := a.cluster(); c.Generation != gen || c.Role != "leader" || c.Master != 1 {
		t.Errorf("2 s after the liar was left alone: generation %d (was %d), role %s, master of %d; want the same generation, the leader, master of the honest switch",
			c.Generation, gen, c.Role, c.Master)
	}
	if n := strings.Count(a.logs.String(), "generation raised: claiming every switch again"); n > 1 {
		t.Errorf("the generation was raised %d times", n)
	}
	if g := honest.generation(); g != a.cluster().Generation {
		t.Errorf("the honest switch has generation %d, the leader %d", g, a.cluster().Generation)
	}
}

// A switch that keeps refusing a leader etcd backs is asked again every refusedRetry, for as long
// as it refuses (it was asked once only: the retry ran while the first refusal was still being
// looked into, and its own refusal was dropped).
func TestClusterRefusingSwitchAskedAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	defer refusedRetryTest.Store(0)
	refusedRetryTest.Store(int64(200 * time.Millisecond))
	_, a := startLeader(t)
	liar := newRoleSwitch()
	liar.ahead = true
	a.dialRole(liar, 2, 2)
	eventually(t, "the refusing switch refused for the fourth time", func() bool {
		return strings.Count(a.logs.String(), "a switch refuses this instance as master, but etcd says it leads") >= 4
	})
}

// A switch that remembers a generation from another etcd (the cluster moved to a new, empty
// etcd, whose revisions start at 1) refuses every generation of this one as stale. The leader,
// which etcd says leads, asks the switch which generation it has seen and raises its own past it
// (the generation base in etcd): it becomes master of that switch, claims its other switch again
// with the new generation, the follower sees the same generation, and a failover after that
// still works (the next leader's generation is larger again).
func TestClusterGenerationRaisedPastSwitch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	e, a := startLeader(t)
	b := startMember(t, e, "b")
	eventually(t, "b follows a", func() bool { return b.cluster().Leader == "a" })
	one := newRoleSwitch()
	a.dialRole(one, 1, 2)
	fb1 := b.dialRole(one, 1, 2)
	eventually(t, "a is master of switch 1", func() bool { return a.cluster().Master == 1 })
	old := newRoleSwitch()
	old.seen, old.maxGen = true, 1<<40 // claimed by a leader of another etcd
	oa := a.dialRole(old, 2, 2)
	fb2 := b.dialRole(old, 2, 2)
	eventually(t, "a is master of both, past the old generation", func() bool {
		c := a.cluster()
		return c.Role == "leader" && c.Master == 2 && c.Generation > 1<<40 && old.masterOf() == oa
	})
	gen := a.cluster().Generation
	if g := one.generation(); g != gen {
		t.Errorf("switch 1 was claimed with generation %d, want the raised %d", g, gen)
	}
	eventually(t, "b sees the raised generation", func() bool { return b.cluster().Generation == gen })
	if n := len(a.events("leader_lost")); n != 0 {
		t.Errorf("a published %d leader_lost events", n)
	}
	a.stop()
	eventually(t, "b leads and is master of both", func() bool {
		c := b.cluster()
		return c.Role == "leader" && c.Master == 2 && one.masterOf() == fb1 && old.masterOf() == fb2
	})
	if g := b.cluster().Generation; g <= gen {
		t.Errorf("b's generation %d after the failover, want more than %d", g, gen)
	}
}
