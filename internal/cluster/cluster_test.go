package cluster

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"portcullis/internal/cluster/clustertest"
	"portcullis/internal/lab"
	"portcullis/internal/testenv"
)

func startEtcd(t *testing.T) *lab.Etcd {
	t.Helper()
	testenv.Tool(t, "etcd")
	e, err := lab.StartEtcd(context.Background(), "cluster-test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Kill)
	return e
}

// proxyTo returns a proxy to e's client URL, closed at the test's end.
func proxyTo(t *testing.T, e *lab.Etcd) *clustertest.Proxy {
	t.Helper()
	p, err := clustertest.NewProxy(strings.TrimPrefix(e.Endpoint, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func clientAt(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 2 * time.Second,
		Logger: zap.NewNop(), DialKeepAliveTime: time.Second, DialKeepAliveTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

// instance is one running Node and the last role it reported.
type instance struct {
	name   string
	cli    *clientv3.Client
	node   *Node
	cancel context.CancelFunc
	done   chan struct{}
	seen   chan Change

	mu  sync.Mutex
	log []timedChange // every change, with when the node reported it
}

type timedChange struct {
	at time.Time
	Change
}

// firstAt returns when in first reported role after since (zero if never).
func (in *instance) firstAt(role Role, since time.Time) time.Time {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, c := range in.log {
		if c.Role == role && c.at.After(since) {
			return c.at
		}
	}
	return time.Time{}
}

func join(t *testing.T, e *lab.Etcd, name string) *instance {
	t.Helper()
	return joinAt(t, e.Endpoint, name)
}

// joinAt joins through the etcd client URL endpoint (a proxy, for example).
func joinAt(t *testing.T, endpoint, name string) *instance {
	t.Helper()
	cli := clientAt(t, endpoint)
	n, err := New(cli, Options{Prefix: "/net1/", Name: name, API: "http://" + name, TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{name: name, cli: cli, node: n, cancel: cancel, done: make(chan struct{}), seen: make(chan Change, 64)}
	go func() { defer close(in.done); n.Run(ctx) }()
	go func() {
		for c := range n.Changes() {
			in.mu.Lock()
			in.log = append(in.log, timedChange{time.Now(), c})
			in.mu.Unlock()
			in.seen <- c
		}
	}()
	t.Cleanup(func() { in.stop(); cli.Close() })
	return in
}

func (in *instance) stop() {
	in.cancel()
	<-in.done
}

// waitRole waits until in reports role (and, for a follower, leader).
func waitRole(t *testing.T, in *instance, role Role, leader string) Change {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		if c := in.node.Current(); c.Role == role && (leader == "" || c.Leader == leader) {
			return c
		}
		select {
		case <-in.seen:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s: role %v (leader %q), want %v (leader %q)", in.name, in.node.Current().Role, in.node.Current().Leader, role, leader)
		}
	}
}

func leaderOf(t *testing.T, ins []*instance) (*instance, []*instance) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var lead []*instance
		var rest []*instance
		for _, in := range ins {
			if in.node.Current().Role == Leader {
				lead = append(lead, in)
			} else {
				rest = append(rest, in)
			}
		}
		if len(lead) > 1 {
			t.Fatalf("%d leaders at once", len(lead))
		}
		if len(lead) == 1 {
			return lead[0], rest
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no leader elected")
	return nil, nil
}

func TestOneLeaderEveryoneAgrees(t *testing.T) {
	e := startEtcd(t)
	ins := []*instance{join(t, e, "a"), join(t, e, "b"), join(t, e, "c")}
	lead, rest := leaderOf(t, ins)
	gen := lead.node.Current().Generation
	if gen == 0 {
		t.Fatal("leader has generation 0")
	}
	for _, f := range rest {
		c := waitRole(t, f, Follower, lead.name)
		if c.Generation != gen {
			t.Errorf("%s sees generation %d, leader holds %d", f.name, c.Generation, gen)
		}
	}
	st, err := rest[0].node.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 3 || st.Leader != lead.name || st.Role != "follower" {
		t.Fatalf("status %+v, want 3 members led by %s", st, lead.name)
	}
	for _, m := range st.Members {
		if m.Leader != (m.Name == lead.name) || m.API != "http://"+m.Name {
			t.Errorf("member %+v", m)
		}
	}
}

// A leader that dies without a word (its client gone, its lease left to
// expire) is replaced, with a larger generation, and leaves the members.
func TestFailoverAfterSilentDeath(t *testing.T) {
	e := startEtcd(t)
	ins := []*instance{join(t, e, "a"), join(t, e, "b")}
	lead, rest := leaderOf(t, ins)
	old := lead.node.Current().Generation
	lead.cli.Close() // as kill -9: no revoke, the lease expires on its own
	next := waitRole(t, rest[0], Leader, "")
	if next.Generation <= old {
		t.Fatalf("new generation %d not above the old %d", next.Generation, old)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := rest[0].node.Status(context.Background())
		if err == nil && len(st.Members) == 1 && st.Members[0].Name == rest[0].name {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members after failover: %+v %v", st.Members, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A leader cut off from etcd steps down by itself; when etcd is back, the
// cluster has one leader again.
func TestLeaderCutOffStepsDown(t *testing.T) {
	e := startEtcd(t)
	ins := []*instance{join(t, e, "a"), join(t, e, "b")}
	lead, _ := leaderOf(t, ins)
	e.Kill()
	waitRole(t, lead, Follower, "")
	for _, in := range ins {
		if in.node.Current().Role == Leader {
			t.Fatalf("%s still leads with etcd gone", in.name)
		}
	}
	if err := e.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	leaderOf(t, ins)
}

// A leader whose etcd link goes silent (a partition: no error, no answer)
// stops leading before the instance that still reaches etcd is elected: the
// fence (3/4 of the TTL from the last renewal etcd answered) comes before
// the lease can expire. Once the link is back it follows the new leader.
func TestPartitionedLeaderStepsDownFirst(t *testing.T) {
	e := startEtcd(t)
	p := proxyTo(t, e)
	a := joinAt(t, "http://"+p.Addr(), "a")
	waitRole(t, a, Leader, "")
	b := join(t, e, "b")
	waitRole(t, b, Follower, "a")
	gen := a.node.Current().Generation

	cut := time.Now()
	p.Cut()
	nb := waitRole(t, b, Leader, "")
	down, up := a.firstAt(Follower, cut), b.firstAt(Leader, cut)
	if down.IsZero() {
		t.Fatalf("a still leads with its etcd link cut, and b leads too")
	}
	if !down.Before(up) {
		t.Fatalf("a stepped down %v after the cut, b was elected %v after it: two leaders at once", down.Sub(cut), up.Sub(cut))
	}
	if nb.Generation <= gen {
		t.Errorf("b's generation %d, a's was %d: want a larger one", nb.Generation, gen)
	}
	p.Heal()
	waitRole(t, a, Follower, "b")
}

func TestNameChecked(t *testing.T) {
	for _, bad := range []string{"", "a/b", "a b"} {
		if _, err := New(nil, Options{Name: bad}); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
}

// BenchmarkFailover: from a leader's silent death (client closed, lease left
// to expire) to its successor's election, with the default 2 s TTL. Run
// with -benchtime=10x for the ten runs; it reports the median and
// the maximum.
func BenchmarkFailover(b *testing.B) {
	testenv.Tool(b, "etcd")
	e, err := lab.StartEtcd(context.Background(), "failover-bench", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer e.Kill()
	var took []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var nodes []*Node
		var clis []*clientv3.Client
		ctx, cancel := context.WithCancel(context.Background())
		for _, name := range []string{"a", "b"} {
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
			if err != nil {
				b.Fatal(err)
			}
			n, _ := New(cli, Options{Prefix: fmt.Sprintf("/bench%d/", i), Name: name, TTL: 2 * time.Second})
			go n.Run(ctx)
			go func() {
				for range n.Changes() {
				}
			}()
			nodes, clis = append(nodes, n), append(clis, cli)
		}
		lead := -1
		for lead < 0 {
			for j, n := range nodes {
				if n.Current().Role == Leader {
					lead = j
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		other := nodes[1-lead]
		b.StartTimer()
		start := time.Now()
		clis[lead].Close()
		for other.Current().Role != Leader {
			time.Sleep(5 * time.Millisecond)
		}
		took = append(took, time.Since(start))
		b.StopTimer()
		cancel()
		clis[1-lead].Close()
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "median-ms")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "max-ms")
}

// A leader told to step down (a switch said its generation is stale) hands
// the role to another instance.
func TestStepDownHandsOver(t *testing.T) {
	e := startEtcd(t)
	ins := []*instance{join(t, e, "a"), join(t, e, "b")}
	lead, rest := leaderOf(t, ins)
	old := lead.node.Current().Generation
	lead.node.StepDown("switch 00000000000000a1 says generation is stale")
	next := waitRole(t, rest[0], Leader, "")
	if next.Generation <= old {
		t.Fatalf("generation %d after step-down, was %d", next.Generation, old)
	}
	waitRole(t, lead, Follower, rest[0].name)
}

// A follower whose observation of the election etcd ended (its watch came
// back to a compacted revision; after an etcd restart, reads answered "no
// leader" end it too) observes again, and learns who leads next. CI
// (TestHA/EtcdRestart): a follower that stopped observing said "following"
// with no leader for the rest of its term. The follower here is b's observe
// alone, through a proxy, watching two real elections made directly; the
// watch of the generation base, ended by the same compaction, is made
// again too.
func TestFollowerObservesAgainWhenEtcdEndsTheWatch(t *testing.T) {
	e := startEtcd(t)
	p := proxyTo(t, e)
	cliB, cliD := clientAt(t, "http://"+p.Addr()), clientAt(t, e.Endpoint)
	t.Cleanup(func() { cliB.Close(); cliD.Close() })
	n, err := New(cliB, Options{Prefix: "/net1/", Name: "b", API: "http://b", TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range n.changes {
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	elect := func(cli *clientv3.Client, name string) *concurrency.Election {
		sess, err := concurrency.NewSession(cli, concurrency.WithTTL(10))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sess.Close() })
		return concurrency.NewElection(sess, n.electionPrefix())
	}
	leads := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for n.Current().Leader != want {
			if time.Now().After(deadline) {
				t.Fatalf("b's observe says %q leads, want %q", n.Current().Leader, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	x := elect(cliD, "x")
	if err := x.Campaign(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	go n.observe(ctx, elect(cliB, "b"))
	leads("x")

	// b's link drops for a moment while etcd moves on and compacts: b's
	// watches come back to a revision etcd no longer has.
	p.Cut()
	var rev int64
	for i := range 5 {
		r, err := cliD.Put(ctx, "/elsewhere", strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		rev = r.Header.Revision
	}
	if _, err := cliD.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	p.Heal()
	time.Sleep(time.Second) // b reconnects; its watches meet the compaction

	// A raise of the generation base reaches b: its watch of the base,
	// ended by the same compaction, is made again.
	if _, err := cliD.Put(ctx, n.baseKey(), "1000"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for n.Current().Generation < 1000 {
		if time.Now().After(deadline) {
			t.Fatalf("b's generation %d after the base was raised to 1000", n.Current().Generation)
		}
		time.Sleep(20 * time.Millisecond)
	}

	y := elect(cliD, "y")
	won := make(chan error, 1)
	go func() { won <- y.Campaign(ctx, "y") }()
	if err := x.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-won; err != nil {
		t.Fatal(err)
	}
	leads("y")
}
