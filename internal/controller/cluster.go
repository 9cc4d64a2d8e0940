package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/cluster"
	"portcullis/internal/event"
	"portcullis/internal/ofconn"
	"portcullis/internal/policy"
	"portcullis/internal/store"
	"portcullis/ofp"
)

// High availability (docs/ha.md, issue 11). With store.etcd configured the state store is etcd,
// shared by two or three instances, and a cluster.Node elects one leader among them. Every
// switch connects to every instance:
//
//	session up ──► haConnected ──► leader?  ROLE_REQUEST MASTER(gen) ──► reply MASTER ──► setUp
//	                           └─► follower: ROLE_REQUEST SLAVE(gen)      (pipeline, meters, and
//	                                         (nothing installed)            the engine's pass)
//
//	Leader(gen) ──► every session: claim as above
//	Follower    ──► every claimed session: released (the engine forgets it: no more sends;
//	                packet-ins ignored) and ROLE_REQUEST SLAVE
//	switch says stale / not master / is-slave ──► Node.StepDown
//
// Only sessions set up (claimed) are in c.switches, so everything that writes to a switch (the
// blocker's sends, meter and SYN polls, exemptions, notices) reaches only the switches this
// instance is master of, and only while it leads. Every instance watches the store's blocks,
// history and allowlist and feeds another instance's writes to its engine (policy.StoreBlocks),
// so a block added through a follower's API is installed by the leader, and every API shows the
// same blocks.

// haState is the controller's part in a cluster. mu orders role changes against claims: a claim
// completes (setUp) only under mu, for the generation it was started for, so a step-down cannot
// miss a session. Lock order: ha.mu before c.mu. The blocker never takes ha.mu.
type haState struct {
	est  *store.Etcd
	node *cluster.Node
	name string

	mu       sync.Mutex
	leader   bool
	gen      uint64
	leaderOf string                      // the leader's name, as last heard
	sessions map[*ofconn.Session]*haSess // every session that finished its handshake

	elections atomic.Uint64 // times this instance became leader
	failovers atomic.Uint64 // times the leader changed from one instance to another
	isLeader  atomic.Bool
	genNow    atomic.Uint64

	lastRaise time.Time // when a switch's refusal last raised the generation (raise); under mu
}

type haSess struct {
	claimed bool // set up as this instance's (master) switch
	// refusing is set while a refusal of this switch is looked into (refused), so a burst of
	// OFPBRC_IS_SLAVE errors costs one etcd read.
	refusing bool
	// missed is a refusal of a later generation that came while one was looked into: the
	// switch's answer to the claim of a raised generation can come before the look that raised
	// it ends. It is looked into when that look ends (it used to be dropped, and a switch
	// refusing the raised generation was never asked again).
	missed *refusal
	// raised is set once this session's STALE refusal raised the generation: a switch that is
	// still stale after its raise lies (it answers STALE whatever it is sent), and may not raise it
	// again.
	raised bool
}

// refusal is a refused call kept for later (haSess.missed).
type refusal struct {
	gen   uint64
	stale bool
	why   string
}

// refusedRetry is how long a leader leaves a switch alone that refused it while etcd says it
// leads, before it asks that switch again; also the least time between two raises of the
// generation for all switches together. Tests shorten it (refusedRetryTest, read atomically:
// the goroutines of a test's last controller may still be reading it).
func refusedRetry() time.Duration {
	if d := refusedRetryTest.Load(); d > 0 {
		return time.Duration(d)
	}
	return 10 * time.Second
}

var refusedRetryTest atomic.Int64 // nanoseconds; 0: the default

// roleTimeout bounds a role request's reply.
const roleTimeout = 5 * time.Second

// openStore opens the configured store: etcd when store.etcd is set, else bbolt under state_dir.
func (c *Controller) openStore() (store.Store, error) {
	e := c.cfg.Store.Etcd
	if !e.Enabled() {
		return store.Open(c.cfg.StateDir)
	}
	// The TLS files are read here, before Run confines the process.
	return store.OpenEtcd(store.EtcdOptions{Endpoints: e.Endpoints, Prefix: e.Prefix, CertFile: e.Cert, KeyFile: e.Key,
		CAFile: e.CA, DialTimeout: e.DialTimeout})
}

// initHA makes this instance a cluster member when its store is etcd: a follower until the first
// election says otherwise. Called in New after restore.
func (c *Controller) initHA() error {
	est, ok := c.store.(*store.Etcd)
	if !ok {
		return nil
	}
	c.ha = &haState{est: est, name: c.cfg.Cluster.NodeName(), sessions: map[*ofconn.Session]*haSess{}}
	c.eng.SetLeader(false)
	m := c.m
	for _, err := range []error{
		m.GaugeFunc("cluster", "leader", "1 while this instance leads its cluster (master on every switch), else 0.",
			func() float64 { return b2f(c.ha.isLeader.Load()) }),
		m.GaugeFunc("cluster", "generation", "The cluster leader's generation (the generation_id of its role requests), as this instance knows it.",
			func() float64 { return float64(c.ha.genNow.Load()) }),
		m.CounterFunc("cluster", "elections_total", "Times this instance became the cluster's leader.",
			func() float64 { return float64(c.ha.elections.Load()) }),
		m.CounterFunc("cluster", "failovers_total", "Times this instance saw the leadership pass from one instance to another.",
			func() float64 { return float64(c.ha.failovers.Load()) }),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// startHA joins the elections and follows the store. Run, after the API listens.
func (c *Controller) startHA(ctx context.Context, wg *sync.WaitGroup) error {
	h := c.ha
	if h == nil {
		return nil
	}
	apiURL := ""
	if a := c.APIAddr(); a != nil {
		scheme := "http"
		if c.cfg.API.TLS.Enabled() {
			scheme = "https"
		}
		apiURL = scheme + "://" + a.String()
	}
	node, err := cluster.New(h.est.Client(), cluster.Options{Prefix: h.est.Prefix(), Name: h.name, API: apiURL,
		TTL: c.cfg.Cluster.LeaseTTL, Log: c.log})
	if err != nil {
		return err
	}
	h.node = node
	c.log.Info("cluster: joining (state in etcd, not state_dir)", "name", h.name, "endpoints", c.cfg.Store.Etcd.Endpoints,
		"prefix", h.est.Prefix(), "lease_ttl", c.cfg.Cluster.LeaseTTL)
	wg.Add(5)
	go func() { defer wg.Done(); node.Run(ctx) }()
	go func() {
		defer wg.Done()
		for ch := range node.Changes() {
			c.onRole(ch)
		}
	}()
	go func() { defer wg.Done(); c.followBlocks(ctx) }()
	go func() { defer wg.Done(); c.followHistory(ctx) }()
	go func() { defer wg.Done(); c.followAllow(ctx) }()
	return nil
}

// haConnected takes a new session: it returns true when the cluster handles it (the session is set
// up later, once claimed), false when Connected should set it up now (no cluster).
func (c *Controller) haConnected(s *ofconn.Session) bool {
	h := c.ha
	h.mu.Lock()
	h.sessions[s] = &haSess{}
	leader, gen := h.leader, h.gen
	h.mu.Unlock()
	if leader {
		go c.claim(s, gen)
	} else if gen != 0 {
		go c.slave(s, gen)
	}
	return true
}

// haDisconnected forgets a session that ended.
func (c *Controller) haDisconnected(s *ofconn.Session) {
	h := c.ha
	h.mu.Lock()
	delete(h.sessions, s)
	h.mu.Unlock()
}

// onRole applies a role change of this instance. Its own goroutine, in order.
func (c *Controller) onRole(ch cluster.Change) {
	h := c.ha
	leader := ch.Role == cluster.Leader
	h.mu.Lock()
	was, prevLeader, oldGen := h.leader, h.leaderOf, h.gen
	h.leader, h.gen, h.leaderOf = leader, ch.Generation, ch.Leader
	h.isLeader.Store(leader)
	h.genNow.Store(ch.Generation)
	raised := leader && was && ch.Generation != oldGen // Node.Raise: claim every switch again
	var claim, reclaim, slave []*ofconn.Session
	for s, st := range h.sessions {
		switch {
		case leader && !st.claimed:
			claim = append(claim, s)
		case raised:
			reclaim = append(reclaim, s)
		case !leader && st.claimed:
			st.claimed = false
			c.release(s)
			slave = append(slave, s)
		case !leader:
			slave = append(slave, s)
		}
	}
	h.mu.Unlock()
	if ch.Leader != "" && prevLeader != "" && ch.Leader != prevLeader {
		h.failovers.Add(1)
	}
	c.post(func(time.Time) { c.eng.SetLeader(leader) })
	switch {
	case leader && !was:
		h.elections.Add(1)
		msg := fmt.Sprintf("%s leads the cluster (generation %d): claiming master on %d switches", h.name, ch.Generation, len(claim))
		c.log.Info("cluster: leader elected", "name", h.name, "generation", ch.Generation, "switches", len(claim))
		c.bus.Publish(event.Event{Type: event.LeaderElected, Message: msg})
	case !leader && was:
		c.log.Warn("cluster: leader lost: this instance writes to no switch from now on", "name", h.name, "why", ch.Why)
		c.bus.Publish(event.Event{Type: event.LeaderLost, Reason: ch.Why, Message: h.name + " stopped leading: " + ch.Why})
	case !leader:
		c.log.Info("cluster: following", "leader", ch.Leader, "generation", ch.Generation)
	case raised:
		c.log.Warn("cluster: generation raised: claiming every switch again", "name", h.name, "generation", ch.Generation,
			"was", oldGen, "why", ch.Why)
	}
	for _, s := range claim {
		go c.claim(s, ch.Generation)
	}
	for _, s := range reclaim {
		go c.reclaim(s, ch.Generation)
	}
	if ch.Generation != 0 {
		for _, s := range slave {
			go c.slave(s, ch.Generation)
		}
	}
}

// claim asks the switch to make this instance its master for generation gen, then sets the switch
// up (pipeline, meters, the engine's pass over its block flows) if this instance still leads with
// gen. A refusal means another instance holds a newer generation: this one steps down.
func (c *Controller) claim(s *ofconn.Session, gen uint64) {
	ctx, cancel := context.WithTimeout(c.runCtx, roleTimeout)
	defer cancel()
	log := s.Logger()
	m, err := s.Request(ctx, &ofp.RoleRequest{Role: ofp.ControllerRoleMaster, GenerationID: gen})
	c.m.countMessage(ofp.TypeRoleRequest, dirOut)
	if err != nil {
		var oe *ofp.Error
		if errors.As(err, &oe) && oe.ErrType == ofp.ErrTypeRoleRequestFailed {
			c.refused(s, gen, oe.Code == ofp.RoleRequestFailedStale,
				fmt.Sprintf("switch %s refused master for generation %d: %s", fmtDPID(s.DPID()), gen, oe))
			return
		}
		log.Warn("cluster: master role request failed", "generation", gen, "err", err)
		return
	}
	rr, ok := m.(*ofp.RoleReply)
	if !ok || rr.Role != ofp.ControllerRoleMaster {
		c.refused(s, gen, false, fmt.Sprintf("switch %s did not make us master for generation %d (reply %v)", fmtDPID(s.DPID()), gen, m))
		return
	}
	h := c.ha
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.sessions[s]
	if st == nil || st.claimed || !h.leader || h.gen != gen {
		return // the session ended, or the role changed meanwhile (its change handles the session)
	}
	st.claimed = true
	st.missed = nil // a refusal kept from before this claim is answered by it
	log.Info("cluster: master of the switch", "generation", gen)
	c.setUp(s)
}

// reclaim asks a switch this instance is master of to take it as master for its new, raised
// generation (Node.Raise); the switch stays set up.
func (c *Controller) reclaim(s *ofconn.Session, gen uint64) {
	ctx, cancel := context.WithTimeout(c.runCtx, roleTimeout)
	defer cancel()
	m, err := s.Request(ctx, &ofp.RoleRequest{Role: ofp.ControllerRoleMaster, GenerationID: gen})
	c.m.countMessage(ofp.TypeRoleRequest, dirOut)
	var oe *ofp.Error
	switch rr, ok := m.(*ofp.RoleReply); {
	case errors.As(err, &oe) && oe.ErrType == ofp.ErrTypeRoleRequestFailed:
		c.refused(s, gen, oe.Code == ofp.RoleRequestFailedStale,
			fmt.Sprintf("switch %s refused master for generation %d: %s", fmtDPID(s.DPID()), gen, oe))
	case err != nil:
		s.Logger().Warn("cluster: master role request failed", "generation", gen, "err", err)
	case !ok || rr.Role != ofp.ControllerRoleMaster:
		c.refused(s, gen, false, fmt.Sprintf("switch %s did not make us master for generation %d (reply %v)", fmtDPID(s.DPID()), gen, m))
	}
}

// slave tells the switch this instance is a slave: it sends no packet-ins and refuses our writes.
// A refusal (stale generation: a newer leader already spoke) changes nothing for a follower.
func (c *Controller) slave(s *ofconn.Session, gen uint64) {
	ctx, cancel := context.WithTimeout(c.runCtx, roleTimeout)
	defer cancel()
	_, err := s.Request(ctx, &ofp.RoleRequest{Role: ofp.ControllerRoleSlave, GenerationID: gen})
	c.m.countMessage(ofp.TypeRoleRequest, dirOut)
	if err != nil {
		s.Logger().Debug("cluster: slave role request failed", "generation", gen, "err", err)
	}
}

// refused handles a switch that will not take this instance as master: OFPRRFC_STALE, a role
// reply that is not MASTER, or OFPBRC_IS_SLAVE for a write. It asks etcd whether this instance
// still leads with gen. A deposed leader (etcd says no, or cannot say) steps down and says so.
// A leader etcd still backs does not give the cluster up because one switch says otherwise: any
// program that reaches the OpenFlow port can play a switch that answers SLAVE or STALE, and a
// switch that saw a generation from another etcd (a new, empty one) refuses every generation of
// this one. That switch is left alone (released: nothing more is written to it) and asked
// again in refusedRetry; the log says why. It runs in its own goroutine.
func (c *Controller) refused(s *ofconn.Session, gen uint64, stale bool, why string) {
	h := c.ha
	h.mu.Lock()
	st := h.sessions[s]
	if st == nil || !h.leader || h.gen != gen {
		h.mu.Unlock()
		return // gone, or the role changed meanwhile
	}
	if st.refusing {
		if st.missed == nil || st.missed.gen != gen {
			st.missed = &refusal{gen: gen, stale: stale, why: why} // looked into after this look
		}
		h.mu.Unlock()
		return
	}
	st.refusing = true
	// A session raises the generation once, and all of them together at most once per
	// refusedRetry: a program playing a switch that answers STALE to every generation and
	// claims ever higher ones would otherwise make the leader raise it, and every switch be
	// asked again, as fast as round trips allow.
	mayRaise := stale && !st.raised && time.Since(h.lastRaise) >= refusedRetry()
	if mayRaise {
		st.raised = true
		h.lastRaise = time.Now()
	}
	h.mu.Unlock()
	go func() {
		cleared := false
		defer func() {
			if cleared {
				return
			}
			h.mu.Lock()
			st.refusing = false
			m := st.missed
			st.missed = nil
			h.mu.Unlock()
			if m != nil && m.gen != gen && c.runCtx.Err() == nil {
				c.refused(s, m.gen, m.stale, m.why) // the raised generation, refused meanwhile
			}
		}()
		ctx, cancel := context.WithTimeout(c.runCtx, roleTimeout)
		leads, err := h.node.Leads(ctx, gen)
		cancel()
		if err != nil || !leads {
			if err != nil {
				why += " (and etcd could not confirm our leadership: " + err.Error() + ")"
			}
			c.stepDown(s, why)
			return
		}
		if mayRaise && c.raise(s, gen, why) {
			return // the raised generation's change claims the switch again
		}
		c.log.Warn("cluster: a switch refuses this instance as master, but etcd says it leads at this generation: "+
			"that switch is left alone and asked again later (a switch or program that lies, or a switch that saw a "+
			"generation of another etcd)", "dpid", fmtDPID(s.DPID()), "generation", gen, "why", why, "retry", refusedRetry())
		h.mu.Lock()
		if st.claimed {
			st.claimed = false
			c.release(s)
		}
		h.mu.Unlock()
		select {
		case <-c.runCtx.Done():
			return
		case <-time.After(refusedRetry()):
		}
		h.mu.Lock()
		again := h.leader && h.gen == gen && h.sessions[s] == st && !st.claimed
		// Cleared before the claim: a claim refused again is looked into again, and asked
		// again after another refusedRetry, for as long as the switch refuses.
		m := st.missed
		st.refusing, st.missed, cleared = false, nil, true
		h.mu.Unlock()
		switch {
		case again:
			c.claim(s, gen)
		case m != nil && m.gen != gen:
			c.refused(s, m.gen, m.stale, m.why) // a later generation's claim, refused while this one slept
		}
	}()
}

// raise asks the switch which generation it has seen and has the node raise ours past it: a
// leader etcd backs, refused as stale, meets a switch that saw a generation of another etcd (or
// one that lies, which can push the generation at most 2^62 at a time: the other switches
// follow). It reports whether the generation was raised.
func (c *Controller) raise(s *ofconn.Session, gen uint64, why string) bool {
	ctx, cancel := context.WithTimeout(c.runCtx, roleTimeout)
	defer cancel()
	m, err := s.Request(ctx, &ofp.RoleRequest{Role: ofp.ControllerRoleNoChange})
	c.m.countMessage(ofp.TypeRoleRequest, dirOut)
	rr, ok := m.(*ofp.RoleReply)
	if err != nil || !ok {
		s.Logger().Warn("cluster: the switch does not say which generation it has seen", "err", err)
		return false
	}
	if err := c.ha.node.Raise(ctx, gen, rr.GenerationID, "switch "+fmtDPID(s.DPID())+" has seen generation "+
		fmt.Sprint(rr.GenerationID)+": "+why); err != nil {
		s.Logger().Warn("cluster: generation not raised", "generation", gen, "switch_generation", rr.GenerationID, "err", err)
		return false
	}
	return true
}

// stepDown gives up the leadership because a switch said another instance is master and etcd
// did not say otherwise.
func (c *Controller) stepDown(s *ofconn.Session, why string) {
	c.log.Warn("cluster: stepping down: "+why, "dpid", fmtDPID(s.DPID()))
	if n := c.ha.node; n != nil {
		n.StepDown(why)
	}
}

// haSwitchError looks at a switch's asynchronous error: OFPBRC_IS_SLAVE means a write of ours
// reached a switch that no longer takes this instance as master.
func (c *Controller) haSwitchError(s *ofconn.Session, e *ofp.Error) {
	if c.ha == nil {
		return
	}
	if (e.ErrType == ofp.ErrTypeBadRequest && e.Code == ofp.BadRequestIsSlave) || e.ErrType == ofp.ErrTypeRoleRequestFailed {
		c.ha.mu.Lock()
		gen := c.ha.gen
		c.ha.mu.Unlock()
		c.refused(s, gen, false, fmt.Sprintf("switch %s refused a write: %s (another instance is its master)", fmtDPID(s.DPID()), e))
	}
}

// release removes a session from the switches this instance writes to: the engine forgets it and
// its messages are ignored. Must hold c.ha.mu.
func (c *Controller) release(s *ofconn.Session) {
	c.mu.Lock()
	sw := c.switches[s]
	delete(c.switches, s)
	s.Attach(nil) // its messages are ignored from now on (lookup)
	if sw != nil && c.byDPID[sw.dpid] == sw {
		delete(c.byDPID, sw.dpid)
	}
	n := len(c.switches)
	c.mu.Unlock()
	c.m.SwitchesConnected.Set(float64(n))
	if sw != nil {
		c.post(func(time.Time) { c.eng.SwitchDisconnected(sw.dpid, sw.epoch) })
	}
}

// ---- following the store ----

// followBlocks feeds every change of the store's blocks to the engine.
func (c *Controller) followBlocks(ctx context.Context) {
	for u := range c.ha.est.Watch(ctx, store.BucketBlocks) {
		changes := make([]policy.StoredBlock, 0, len(u.Changes))
		for _, ch := range u.Changes {
			sb := policy.StoredBlock{ID: ch.Key, Deleted: ch.Deleted}
			if !ch.Deleted {
				if err := json.Unmarshal(ch.Value, &sb.Record); err != nil {
					c.log.Warn("cluster: undecodable block record in the store: ignored", "key", ch.Key, "err", err)
					continue
				}
			}
			changes = append(changes, sb)
		}
		reset := u.Reset
		c.post(func(now time.Time) { c.eng.StoreBlocks(now, reset, changes) })
	}
}

// followHistory feeds the store's escalation records to the engine (a follower keeps them for the
// day it leads).
func (c *Controller) followHistory(ctx context.Context) {
	for u := range c.ha.est.Watch(ctx, store.BucketHistory) {
		type rec struct {
			key string
			h   policy.History
			del bool
		}
		var recs []rec
		for _, ch := range u.Changes {
			r := rec{key: ch.Key, del: ch.Deleted}
			if !ch.Deleted && json.Unmarshal(ch.Value, &r.h) != nil {
				continue
			}
			recs = append(recs, r)
		}
		c.post(func(now time.Time) {
			for _, r := range recs {
				c.eng.StoreHistory(now, r.key, r.h, r.del)
			}
		})
	}
}

// followAllow keeps the run-time allowlist equal to the store's: an entry added or removed through
// any instance's API is in force here too. Configured entries (cfg-) stay.
func (c *Controller) followAllow(ctx context.Context) {
	for u := range c.ha.est.Watch(ctx, store.BucketAllow) {
		c.mu.Lock()
		if u.Reset {
			for id := range c.allow {
				if !strings.HasPrefix(id, "cfg-") {
					delete(c.allow, id)
				}
			}
		}
		for _, ch := range u.Changes {
			if ch.Deleted {
				delete(c.allow, ch.Key)
				continue
			}
			var r allowRecord
			if json.Unmarshal(ch.Value, &r) != nil {
				continue
			}
			p, err := netip.ParsePrefix(r.CIDR)
			if err != nil {
				continue
			}
			c.allow[ch.Key] = api.AllowEntry{ID: ch.Key, CIDR: p, Ports: r.Ports, Comment: r.Comment, Created: r.Created}
		}
		c.rebuildAllow()
		c.mu.Unlock()
	}
}

// ---- the operator's view ----

// Cluster returns the cluster as this instance sees it (GET /api/v1/cluster).
func (c *Controller) Cluster(ctx context.Context) api.Cluster {
	h := c.ha
	if h == nil {
		return api.Cluster{Enabled: false, Role: "standalone", Members: []api.ClusterMember{}}
	}
	out := api.Cluster{Enabled: true, Name: h.name, Members: []api.ClusterMember{}, Elections: h.elections.Load(),
		Failovers: h.failovers.Load()}
	h.mu.Lock()
	out.Role, out.Leader, out.Generation = "follower", h.leaderOf, h.gen
	if h.leader {
		out.Role = "leader"
	}
	for _, st := range h.sessions {
		if st.claimed {
			out.Master++
		}
	}
	out.Switches = len(h.sessions)
	h.mu.Unlock()
	if h.node == nil {
		return out
	}
	st, err := h.node.Status(ctx)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	for _, m := range st.Members {
		out.Members = append(out.Members, api.ClusterMember{Name: m.Name, API: m.API, Leader: m.Leader})
	}
	return out
}
