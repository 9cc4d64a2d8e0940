// Package cluster elects one leader among the controllers that share a
// network through etcd, and tells each instance its role.
//
// Each instance holds a lease (the TTL of Options) and campaigns in an etcd
// election under PREFIX/election. The winner is the leader; its generation
// is the create revision of its election key plus the generation base kept
// in etcd (see Raise), so every election yields a larger one, the
// generation_id the leader sends switches in OFPT_ROLE_REQUEST MASTER. A switch refuses a master request with a smaller
// generation (OFPRRFC_STALE) and demotes the old master when a new one
// claims it, so a deposed leader cannot write to a switch after its
// successor has.
//
// Fencing on the instance side: the node renews its lease every TTL/8 and
// remembers when it sent the latest renewal etcd answered. etcd expires the
// lease no earlier than a TTL after it received that renewal, so nobody else
// can be elected before that send time plus the TTL. A leader whose lease
// was last confirmed 3/4 of the TTL ago steps down at once (checked every
// TTL/20), a quarter TTL before anyone else can win. Timing from the send,
// not from the answer, keeps this safe however slow the answer was; renewing
// often keeps it from firing on a healthy leader whose answers are late on a
// loaded machine (the client library's keep-alive, every third of the TTL on
// a half-second tick and timed by its answers, deposed healthy leaders: a
// gap of 1.5 s between two answers was enough). The instance then campaigns
// again with a new lease. The switches fence too: a new master's claim
// demotes the old one, whose writes they refuse from then on.
//
// Members register PREFIX/members/NAME under their lease, so a dead
// instance leaves the list when its lease expires.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Role is an instance's part in the cluster.
type Role int

const (
	Follower Role = iota // receives port status, installs nothing
	Leader               // detects, installs flows, master on every switch
)

func (r Role) String() string {
	if r == Leader {
		return "leader"
	}
	return "follower"
}

// Options configure a Node.
type Options struct {
	Prefix string // the store's prefix; the election lives under PREFIX/election
	Name   string // this instance's name, unique in the cluster
	// API is the URL of this instance's REST API, shown to the others.
	API string
	// TTL is the lease: how long a dead leader holds the role (2 s when
	// zero; etcd rounds to whole seconds and enforces its own minimum).
	TTL time.Duration
	Log *slog.Logger
}

// Change is a role change of this instance.
type Change struct {
	Role       Role
	Generation uint64 // the leader's generation (this instance's when Leader)
	Leader     string // the leader's name, "" when none is known
	Why        string // for the log and the event
}

// Member is one instance of the cluster.
type Member struct {
	Name   string `json:"name"`
	API    string `json:"api,omitempty"`
	Leader bool   `json:"leader"`
}

// Status is the cluster as this instance sees it.
type Status struct {
	Name       string   `json:"name"`
	Role       string   `json:"role"`
	Leader     string   `json:"leader"`
	Generation uint64   `json:"generation"`
	Elections  uint64   `json:"elections"` // times this instance became leader
	Members    []Member `json:"members"`
}

// Node is this instance's membership in the cluster.
type Node struct {
	cli *clientv3.Client
	o   Options
	log *slog.Logger
	ttl int // seconds

	changes chan Change
	resign  chan string   // StepDown's reasons
	raise   chan raiseReq // Raise's requests

	mu     sync.Mutex
	cur    Change
	leader string

	elections atomic.Uint64
}

// New prepares a node; Run takes part in the elections.
func New(cli *clientv3.Client, o Options) (*Node, error) {
	if o.Name == "" || strings.ContainsAny(o.Name, "/ ") {
		return nil, fmt.Errorf("cluster: instance name %q must be non-empty without slashes or spaces", o.Name)
	}
	if o.Prefix == "" {
		o.Prefix = "/portcullis/"
	}
	if !strings.HasSuffix(o.Prefix, "/") {
		o.Prefix += "/"
	}
	ttl := int((o.TTL + time.Second - 1) / time.Second)
	if ttl <= 0 {
		ttl = 2
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Node{cli: cli, o: o, log: log, ttl: ttl, changes: make(chan Change, 8), resign: make(chan string, 1),
		raise: make(chan raiseReq)}, nil
}

// Changes delivers this instance's role changes, in order. Every instance
// starts as a follower; the first change is its first election or the
// first leader it learns. The caller must keep reading it: the node waits
// for each change to be taken before it acts further.
func (n *Node) Changes() <-chan Change { return n.changes }

// Current returns the role this instance holds now.
func (n *Node) Current() Change {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cur
}

// set records c and reports it on Changes, waiting for the reader unless
// ctx ends first.
func (n *Node) set(ctx context.Context, c Change) {
	n.mu.Lock()
	same := n.cur.Role == c.Role && n.cur.Generation == c.Generation && n.cur.Leader == c.Leader
	elected := c.Role == Leader && n.cur.Role != Leader
	n.cur = c
	n.mu.Unlock()
	if same {
		return
	}
	if elected {
		n.elections.Add(1)
	}
	select {
	case n.changes <- c:
	case <-ctx.Done():
	}
}

func (n *Node) electionPrefix() string { return n.o.Prefix + "election" }
func (n *Node) baseKey() string        { return n.o.Prefix + "generation-base" }
func (n *Node) memberKey(name string) string {
	return n.o.Prefix + "members/" + name
}

// Run campaigns until ctx ends, with a new lease each time the old one is
// lost. It returns ctx's error. Changes is closed when Run returns.
func (n *Node) Run(ctx context.Context) error {
	defer close(n.changes)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := n.term(ctx)
		if ctx.Err() != nil {
			break
		}
		if c := n.Current(); c.Role == Leader {
			n.set(ctx, Change{Role: Follower, Generation: c.Generation, Why: "lost the etcd session: " + errString(err)})
		}
		n.log.Warn("cluster: etcd session ended; joining again", "err", errString(err))
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	if c := n.Current(); c.Role == Leader {
		// The reader may already have stopped: wait for it a moment only.
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		n.set(sctx, Change{Role: Follower, Generation: c.Generation, Why: "stopping"})
		cancel()
	}
	return ctx.Err()
}

func errString(err error) string {
	if err == nil {
		return "lease expired"
	}
	return err.Error()
}

// term is one lease's life: register, campaign, lead or follow, until the
// lease is lost or ctx ends.
func (n *Node) term(ctx context.Context) error {
	gctx, cancel := context.WithTimeout(ctx, time.Duration(n.ttl)*time.Second)
	asked := time.Now()
	lease, err := n.cli.Grant(gctx, int64(n.ttl))
	cancel()
	if err != nil {
		return fmt.Errorf("grant lease: %w", err)
	}
	tctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // observe reports nothing after the term
	defer stop()
	// The lease's TTL as etcd granted it (etcd raises a TTL below its minimum).
	ttl := time.Duration(max(lease.TTL, int64(n.ttl))) * time.Second
	if lease.TTL > int64(n.ttl) {
		n.log.Warn("cluster: etcd granted a longer lease than configured", "lease_ttl", time.Duration(n.ttl)*time.Second, "granted", ttl)
	}
	// validFrom is the send time of the latest renewal etcd answered: etcd
	// expires the lease no earlier than a TTL after it received that
	// renewal, so no one else can be elected before validFrom + TTL.
	var validFrom atomic.Int64
	validFrom.Store(asked.UnixNano())
	lost := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(lost)
		n.renew(tctx, lease.ID, ttl, &validFrom)
	}()
	defer func() {
		// Hand the role over at once when we stop on purpose.
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		n.cli.Revoke(rctx, lease.ID)
		cancel()
	}()

	sess, err := concurrency.NewSession(n.cli, concurrency.WithLease(lease.ID), concurrency.WithContext(tctx))
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	defer sess.Orphan()
	me, _ := json.Marshal(Member{Name: n.o.Name, API: n.o.API})
	if _, err := n.cli.Put(tctx, n.memberKey(n.o.Name), string(me), clientv3.WithLease(lease.ID)); err != nil {
		return fmt.Errorf("register member: %w", err)
	}

	el := concurrency.NewElection(sess, n.electionPrefix())
	won := make(chan error, 1)
	go func() { won <- el.Campaign(tctx, n.o.Name) }()
	wg.Add(1)
	go func() { defer wg.Done(); n.observe(tctx, el) }()

	// A lease last confirmed valid 3/4 of the TTL ago (from the send time of
	// the renewal etcd answered) may expire a quarter TTL from now: a leader
	// steps down before anyone else can be elected.
	fence := ttl * 3 / 4
	tick := time.NewTicker(ttl / 20)
	defer tick.Stop()
	leading := false
	// stepDown gives the role up before anything else (revoking the lease,
	// which may wait on an unreachable etcd) happens.
	stepDown := func(err error) error {
		if leading {
			n.set(ctx, Change{Role: Follower, Generation: n.Current().Generation, Why: "stepped down: " + err.Error()})
			n.log.Warn("cluster: stepped down", "name", n.o.Name, "err", err)
		}
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-lost:
			return stepDown(errors.New("lease keep-alive ended"))
		case err := <-won:
			if err != nil {
				return fmt.Errorf("campaign: %w", err)
			}
			bctx, cancel := context.WithTimeout(tctx, ttl/4) // the fence waits meanwhile
			base, _, err := n.readBase(bctx)
			cancel()
			if err != nil {
				return err
			}
			leading = true
			gen := base + uint64(el.Rev())
			n.setLeader(n.o.Name)
			n.set(tctx, Change{Role: Leader, Generation: gen, Leader: n.o.Name, Why: "won the election"})
			n.log.Info("cluster: elected leader", "name", n.o.Name, "generation", gen)
		case why := <-n.resign:
			if leading {
				return stepDown(errors.New(why))
			}
		case rq := <-n.raise:
			if !leading {
				rq.done <- errors.New("cluster: not the leader")
				continue
			}
			rctx, cancel := context.WithTimeout(tctx, ttl/4) // the fence waits meanwhile
			gen, err := n.raiseBase(rctx, el, rq)
			cancel()
			if err == nil && gen != n.Current().Generation {
				n.set(tctx, Change{Role: Leader, Generation: gen, Leader: n.o.Name, Why: rq.why})
				n.log.Warn("cluster: generation raised past a switch's", "name", n.o.Name, "generation", gen, "switch_generation", rq.switchGen)
			}
			rq.done <- err
		case <-tick.C:
			if leading && time.Since(time.Unix(0, validFrom.Load())) > fence {
				return stepDown(fmt.Errorf("lease not renewed for %v", fence))
			}
		}
	}
}

// renew keeps the lease alive with a renewal every TTL/8 (at least 100 ms)
// and stores in validFrom the send time of each renewal etcd answered. The
// send time, not the answer's arrival, is what bounds etcd's expiry: a slow
// answer shortens the time this instance may still act, it does not
// lengthen it. Frequent renewals keep validFrom young, so a late answer or
// two on a loaded machine do not reach the fence (3/4 of the TTL). It
// returns when the lease is gone (etcd says so: it expired) or ctx ends; an
// unreachable etcd is retried until then, while the fence runs.
func (n *Node) renew(ctx context.Context, id clientv3.LeaseID, ttl time.Duration, validFrom *atomic.Int64) {
	every := max(ttl/8, 100*time.Millisecond)
	for ctx.Err() == nil {
		sent := time.Now()
		rctx, cancel := context.WithTimeout(ctx, ttl)
		_, err := n.cli.KeepAliveOnce(rctx, id)
		cancel()
		switch {
		case err == nil:
			validFrom.Store(sent.UnixNano())
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			n.log.Warn("cluster: etcd says our lease expired", "lease", fmt.Sprintf("%x", int64(id)))
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(sent.Add(every))):
		}
	}
}

// ---- the generation base ----
//
// A switch remembers the largest generation_id it was claimed with and refuses
// smaller ones (OFPRRFC_STALE). etcd's revisions start again at 1 in a new,
// empty etcd, so the switches of a cluster moved to a new etcd would refuse
// every leader of it. The generation is therefore the election key's create
// revision plus a base kept in etcd (PREFIX/generation-base, 0 when absent),
// which only the leader raises (Raise) when a switch says it has seen a newer
// generation and etcd says no leader has one. Every generation of one etcd
// keeps growing with every election; comparisons are modulo 2^64, as the
// switches make them.

type raiseReq struct {
	gen, switchGen uint64
	why            string
	done           chan error
}

// observeRetry is how long a follower waits before it observes the election
// again after etcd ended its observation.
var observeRetry = 200 * time.Millisecond

// maxRaise bounds one raise: a switch that claims a generation further ahead
// is not followed (a liar could otherwise push the generation half way round
// 2^64, where every other switch would see it as older).
const maxRaise = 1 << 62

// readBase returns the generation base and its key's mod revision (0: absent).
func (n *Node) readBase(ctx context.Context) (uint64, int64, error) {
	r, err := n.cli.Get(ctx, n.baseKey())
	if err != nil {
		return 0, 0, fmt.Errorf("cluster: read the generation base: %w", err)
	}
	if len(r.Kvs) == 0 {
		return 0, 0, nil
	}
	b, err := strconv.ParseUint(string(r.Kvs[0].Value), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("cluster: generation base %q: %w", r.Kvs[0].Value, err)
	}
	return b, r.Kvs[0].ModRevision, nil
}

// raiseBase writes a base that puts this leader's generation one past
// rq.switchGen, if this instance still holds its election key and nobody
// changed the base meanwhile. It returns the leader's generation.
func (n *Node) raiseBase(ctx context.Context, el *concurrency.Election, rq raiseReq) (uint64, error) {
	base, mod, err := n.readBase(ctx)
	if err != nil {
		return 0, err
	}
	rev := uint64(el.Rev())
	gen := base + rev
	if gen != rq.gen {
		return gen, nil // raised already (another switch said the same)
	}
	ahead := rq.switchGen - gen
	if int64(ahead) <= 0 {
		return gen, fmt.Errorf("cluster: the switch's generation %d is not ahead of ours (%d)", rq.switchGen, gen)
	}
	if ahead >= maxRaise {
		return gen, fmt.Errorf("cluster: the switch's generation %d is %d ahead of ours (%d), more than 2^62: not followed", rq.switchGen, ahead, gen)
	}
	nb := base + ahead + 1
	r, err := n.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.CreateRevision(el.Key()), "=", el.Rev()),
		clientv3.Compare(clientv3.ModRevision(n.baseKey()), "=", mod),
	).Then(clientv3.OpPut(n.baseKey(), strconv.FormatUint(nb, 10))).Commit()
	if err != nil {
		return gen, fmt.Errorf("cluster: write the generation base: %w", err)
	}
	if !r.Succeeded {
		return gen, errors.New("cluster: the generation base changed, or this instance no longer leads")
	}
	return nb + rev, nil
}

// Raise asks the leader to raise its generation past switchGen, the
// generation a switch says it has seen when it refused gen as stale, once
// etcd has said this instance leads with gen (Leads). On success the new
// generation comes as a Change (Leader, same leader, larger generation). It
// fails on a follower, when the leadership or the base changed meanwhile,
// and when switchGen is 2^62 or more ahead.
func (n *Node) Raise(ctx context.Context, gen, switchGen uint64, why string) error {
	rq := raiseReq{gen: gen, switchGen: switchGen, why: why, done: make(chan error, 1)}
	select {
	case n.raise <- rq:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-rq.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StepDown gives up the leadership (when a switch says another controller
// holds a newer generation, for example): the lease is revoked so another
// instance can win, and this one campaigns again with a new lease. It does
// nothing on a follower.
func (n *Node) StepDown(why string) {
	if n.Current().Role != Leader {
		return
	}
	select {
	case n.resign <- why:
	default: // one is pending already
	}
}

// Leads asks etcd (a linearizable read) whether this instance still leads
// with generation gen: its election key is the oldest under the election
// prefix. A leader told by a switch that someone newer holds it asks this
// before it gives the role up: a deposed leader is told no (its key expired
// with its lease, or a newer one is first); a leader etcd still backs need
// not give the whole cluster up for one switch that says otherwise.
func (n *Node) Leads(ctx context.Context, gen uint64) (bool, error) {
	r, err := n.cli.Txn(ctx).Then( // linearizable, both at one revision
		clientv3.OpGet(n.electionPrefix()+"/", clientv3.WithFirstCreate()...),
		clientv3.OpGet(n.baseKey())).Commit()
	if err != nil {
		return false, fmt.Errorf("cluster: read the election: %w", err)
	}
	el, bk := r.Responses[0].GetResponseRange().Kvs, r.Responses[1].GetResponseRange().Kvs
	if len(el) == 0 {
		return false, nil
	}
	var base uint64
	if len(bk) > 0 {
		if base, err = strconv.ParseUint(string(bk[0].Value), 10, 64); err != nil {
			return false, fmt.Errorf("cluster: generation base %q: %w", bk[0].Value, err)
		}
	}
	return string(el[0].Value) == n.o.Name && base+uint64(el[0].CreateRevision) == gen, nil
}

// observe follows who leads while this instance does not.
// A raised generation base changes the leader's generation too.
//
// etcd's Election.Observe ends its channel when one of its reads fails (a
// restarted etcd answers "no leader" until its raft has one), and a
// follower that stopped observing would never learn the next leader: it
// observes again, after observeRetry, until the term ends.
func (n *Node) observe(ctx context.Context, el *concurrency.Election) {
	leaders := el.Observe(ctx)
	bases := n.cli.Watch(ctx, n.baseKey())
	var rewatch <-chan time.Time // set while the base's watch is to be made again
	retrying := false            // the observation ended and no leader came since
	var name string
	var rev int64
	for {
		select {
		case r, ok := <-leaders:
			if !ok {
				if !retrying { // once per outage, not every observeRetry while etcd is down
					n.log.Warn("cluster: etcd ended the observation of the election; observing again", "retry", observeRetry)
				}
				retrying = true
				select {
				case <-ctx.Done():
					return
				case <-time.After(observeRetry):
				}
				leaders = el.Observe(ctx)
				continue
			}
			retrying = false
			if len(r.Kvs) == 0 {
				continue
			}
			name, rev = string(r.Kvs[0].Value), r.Kvs[0].CreateRevision
			n.setLeader(name)
		case wr, ok := <-bases:
			if !ok || wr.Err() != nil {
				// The same compaction or restart ends this watch: watch
				// again, and read the base then (a raise in between would
				// be missed until the next leader change).
				bases, rewatch = nil, time.After(observeRetry)
				continue
			}
		case <-rewatch:
			rewatch = nil
			bases = n.cli.Watch(ctx, n.baseKey())
		case <-ctx.Done():
			return
		}
		if name == "" || name == n.o.Name {
			continue // our own win and raises are reported by the term
		}
		base, _, err := n.readBase(ctx)
		if err != nil {
			n.log.Warn("cluster: following without the generation base", "err", err)
		}
		n.set(ctx, Change{Role: Follower, Generation: base + uint64(rev), Leader: name, Why: name + " leads"})
	}
}

func (n *Node) setLeader(name string) {
	n.mu.Lock()
	n.leader = name
	n.mu.Unlock()
}

// Status reads the members from etcd.
func (n *Node) Status(ctx context.Context) (Status, error) {
	c := n.Current()
	st := Status{Name: n.o.Name, Role: c.Role.String(), Leader: c.Leader, Generation: c.Generation, Elections: n.elections.Load()}
	r, err := n.cli.Get(ctx, n.o.Prefix+"members/", clientv3.WithPrefix())
	if err != nil {
		return st, fmt.Errorf("cluster: read members: %w", err)
	}
	for _, kv := range r.Kvs {
		var m Member
		if json.Unmarshal(kv.Value, &m) != nil {
			continue
		}
		m.Leader = m.Name == c.Leader && c.Leader != ""
		st.Members = append(st.Members, m)
	}
	slices.SortFunc(st.Members, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return st, nil
}
