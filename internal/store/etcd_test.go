package store

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"portcullis/internal/cluster/clustertest"
	"portcullis/internal/lab"
	"portcullis/internal/testenv"
)

// One real etcd (Debian's etcd-server) serves every test of the package,
// each under a prefix of its own.
var (
	etcdOnce sync.Once
	etcdProc *lab.Etcd
	etcdErr  error
	etcdDir  string
	prefixN  atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if etcdProc != nil {
		etcdProc.Stop()
	}
	if etcdDir != "" {
		os.RemoveAll(etcdDir)
	}
	os.Exit(code)
}

func sharedEtcd(t *testing.T) *lab.Etcd {
	t.Helper()
	testenv.Tool(t, "etcd")
	etcdOnce.Do(func() {
		etcdDir, etcdErr = os.MkdirTemp("", "portcullis-etcd-")
		if etcdErr != nil {
			return
		}
		etcdProc, etcdErr = lab.StartEtcd(context.Background(), "store-test", etcdDir)
	})
	if etcdErr != nil {
		t.Fatalf("start etcd: %v", etcdErr)
	}
	return etcdProc
}

func testPrefix(t *testing.T) string {
	return fmt.Sprintf("/test/%s/%d/", strings.ReplaceAll(t.Name(), "/", "_"), prefixN.Add(1))
}

func openEtcdPrefix(t *testing.T, prefix string) *Etcd {
	t.Helper()
	e := sharedEtcd(t)
	s, err := OpenEtcd(EtcdOptions{Endpoints: []string{e.Endpoint}, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openEtcd(t *testing.T) *Etcd { return openEtcdPrefix(t, testPrefix(t)) }

// next returns the next update of ch within a few seconds.
func next(t *testing.T, ch <-chan Update) Update {
	t.Helper()
	select {
	case u, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("no update within 10 s")
	}
	return Update{}
}

func TestEtcdSharedBetweenInstances(t *testing.T) {
	p := testPrefix(t)
	a, b := openEtcdPrefix(t, p), openEtcdPrefix(t, p)
	defer a.Close()
	defer b.Close()
	other := openEtcd(t) // another network's prefix
	defer other.Close()

	if err := a.Put(BucketBlocks, "b1", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := b.Get(BucketBlocks, "b1"); err != nil || !ok || string(v) != "one" {
		t.Fatalf("second instance reads %q %v %v, want the first's write", v, ok, err)
	}
	if kvs, _ := other.List(BucketBlocks); len(kvs) != 0 {
		t.Fatalf("another prefix sees %v", kvs)
	}
	// A bucket whose name extends another's is a different bucket.
	if err := a.Put("blocksx", "b9", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if kvs, _ := b.List(BucketBlocks); len(kvs) != 1 || kvs[0].Key != "b1" {
		t.Fatalf("List(blocks) = %v, want only b1", kvs)
	}
	if err := a.Put("a/b", "k", nil); err == nil {
		t.Fatal("a bucket name with a slash was accepted")
	}
}

func TestEtcdWatch(t *testing.T) {
	p := testPrefix(t)
	a, b := openEtcdPrefix(t, p), openEtcdPrefix(t, p)
	defer a.Close()
	defer b.Close()
	if err := a.Put(BucketAllow, "x", []byte("before")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := b.Watch(ctx, BucketAllow)

	u := next(t, ch)
	if !u.Reset || len(u.Changes) != 1 || u.Changes[0].Key != "x" || string(u.Changes[0].Value) != "before" {
		t.Fatalf("first update = %+v, want a reset holding x=before", u)
	}
	// Writes by the other instance arrive in order, deletes included, and
	// writes to other buckets do not.
	a.Put(BucketBlocks, "noise", []byte("n"))
	a.Put(BucketAllow, "y", []byte("1"))
	a.Delete(BucketAllow, "x")
	a.Put(BucketAllow, "x", []byte("again"))
	var got []string
	for len(got) < 3 {
		u := next(t, ch)
		if u.Reset {
			t.Fatalf("unexpected reset %+v", u)
		}
		for _, c := range u.Changes {
			if c.Deleted {
				got = append(got, "-"+c.Key)
			} else {
				got = append(got, c.Key+"="+string(c.Value))
			}
		}
	}
	if want := "y=1 -x x=again"; strings.Join(got, " ") != want {
		t.Fatalf("changes %q, want %q", strings.Join(got, " "), want)
	}
	cancel()
	for range ch { // closes once ctx is done
	}
}

// An etcd restart loses no write: the watcher resynchronises with a reset
// holding what was written while it was away.
func TestEtcdWatchSurvivesRestart(t *testing.T) {
	testenv.Tool(t, "etcd")
	dir := t.TempDir()
	e, err := lab.StartEtcd(context.Background(), "restart-test", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Kill()
	o := EtcdOptions{Endpoints: []string{e.Endpoint}, Prefix: "/r/", OpTimeout: 2 * time.Second}
	a, err := OpenEtcd(o)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenEtcd(o)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := b.Watch(ctx, BucketBlocks)
	if u := next(t, ch); !u.Reset || len(u.Changes) != 0 {
		t.Fatalf("first update %+v, want an empty reset", u)
	}
	e.Kill()
	if err := a.Put(BucketBlocks, "lost", []byte("x")); err == nil {
		t.Fatal("a write with etcd down succeeded")
	}
	if err := e.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := a.Put(BucketBlocks, "k1", []byte("v1"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("write after restart: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	held := map[string]string{}
	for held["k1"] != "v1" {
		u := next(t, ch)
		if u.Reset {
			clear(held)
		}
		for _, c := range u.Changes {
			if c.Deleted {
				delete(held, c.Key)
			} else {
				held[c.Key] = string(c.Value)
			}
		}
	}
	if _, ok := held["lost"]; ok {
		t.Fatal("a write refused while etcd was down appeared")
	}
}

// A new etcd at the same address is noticed: the client would resume the
// watch there from the revision it had seen, silent while the new etcd's
// revisions are behind it (a new, empty etcd), or streaming changes that
// follow nothing held while they are ahead. The watcher takes a new snapshot:
// what the old etcd held goes, what is written to the new one comes.
func TestEtcdWatchFollowsNewEtcd(t *testing.T) {
	for _, tc := range []struct {
		name        string
		old, before int // writes to the old etcd, and to the new one before the move
	}{
		{"behind", 30, 0},
		{"ahead", 5, 40},
	} {
		t.Run(tc.name, func(t *testing.T) { watchNewEtcd(t, tc.old, tc.before) })
	}
}

func watchNewEtcd(t *testing.T, oldN, beforeN int) {
	testenv.Tool(t, "etcd")
	e1, err := lab.StartEtcd(context.Background(), "old-etcd", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer e1.Kill()
	p, err := clustertest.NewProxy(strings.TrimPrefix(e1.Endpoint, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w, err := OpenEtcd(EtcdOptions{Endpoints: []string{"http://" + p.Addr()}, Prefix: "/n/", OpTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range oldN {
		if err := w.Put(BucketHistory, fmt.Sprint(i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Put(BucketBlocks, "old", []byte("o")); err != nil {
		t.Fatal(err)
	}
	e2, err := lab.StartEtcd(context.Background(), "new-etcd", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Kill()
	n, err := OpenEtcd(EtcdOptions{Endpoints: []string{e2.Endpoint}, Prefix: "/n/", OpTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for i := range beforeN {
		if err := n.Put(BucketHistory, fmt.Sprint(i), []byte("y")); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := w.Watch(ctx, BucketBlocks)
	held := map[string]string{}
	apply := func(u Update) {
		if u.Reset {
			clear(held)
		}
		for _, c := range u.Changes {
			if c.Deleted {
				delete(held, c.Key)
			} else {
				held[c.Key] = string(c.Value)
			}
		}
	}
	apply(next(t, ch))
	if held["old"] != "o" {
		t.Fatalf("first snapshot %v, want the old etcd's block", held)
	}
	p.Retarget(strings.TrimPrefix(e2.Endpoint, "http://"))
	if err := n.Put(BucketBlocks, "k1", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	for held["k1"] != "v1" || held["old"] != "" {
		apply(next(t, ch))
	}
}

func TestEtcdUnreachable(t *testing.T) {
	_, err := OpenEtcd(EtcdOptions{Endpoints: []string{"http://127.0.0.1:1"}, DialTimeout: 500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("OpenEtcd on a dead endpoint = %v, want an error naming it", err)
	}
	if _, err := OpenEtcd(EtcdOptions{}); err == nil {
		t.Fatal("OpenEtcd without endpoints succeeded")
	}
}
