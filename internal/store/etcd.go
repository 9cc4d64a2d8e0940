package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// EtcdOptions say where an etcd cluster is and how to reach it.
type EtcdOptions struct {
	Endpoints []string // client URLs, http:// or https://
	// Prefix is the root of every key this store writes ("/portcullis/" when
	// empty). Controllers that share one network share one prefix.
	Prefix string
	// Client TLS: a certificate and key to present, a CA to verify etcd with.
	// All empty means plaintext (or the system roots for https endpoints).
	CertFile, KeyFile, CAFile string
	// DialTimeout bounds the first contact (5 s when zero); OpTimeout each
	// read or write (5 s when zero).
	DialTimeout, OpTimeout time.Duration
}

// Etcd is a Store in an etcd cluster, shared by every controller that opens
// the same prefix. Keys are PREFIX/BUCKET/KEY. It also implements Watcher,
// so an instance learns what the others write.
type Etcd struct {
	cli    *clientv3.Client
	prefix string
	opT    time.Duration

	mu     sync.Mutex
	closed bool
}

var _ Store = (*Etcd)(nil)

// OpenEtcd connects to etcd and checks that it answers within the dial
// timeout: a controller configured for etcd that cannot reach it says so at
// start instead of failing its first block.
func OpenEtcd(o EtcdOptions) (*Etcd, error) {
	if len(o.Endpoints) == 0 {
		return nil, errors.New("store: etcd: no endpoints")
	}
	dialT := o.DialTimeout
	if dialT <= 0 {
		dialT = 5 * time.Second
	}
	opT := o.OpTimeout
	if opT <= 0 {
		opT = 5 * time.Second
	}
	prefix := o.Prefix
	if prefix == "" {
		prefix = "/portcullis/"
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	tc, err := etcdTLS(o)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   o.Endpoints,
		DialTimeout: dialT,
		TLS:         tc,
		Logger:      zap.NewNop(),
		// A dead member is noticed within seconds, not minutes.
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("store: etcd %s: %w", strings.Join(o.Endpoints, ","), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialT)
	defer cancel()
	if _, err := cli.Get(ctx, prefix+BucketMeta+"/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("store: etcd %s not reachable: %w", strings.Join(o.Endpoints, ","), err)
	}
	return &Etcd{cli: cli, prefix: prefix, opT: opT}, nil
}

func etcdTLS(o EtcdOptions) (*tls.Config, error) {
	if o.CertFile == "" && o.KeyFile == "" && o.CAFile == "" {
		for _, e := range o.Endpoints {
			if strings.HasPrefix(e, "https://") {
				return &tls.Config{MinVersion: tls.VersionTLS12}, nil
			}
		}
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("store: etcd TLS needs both a certificate and a key")
	}
	if o.CertFile != "" {
		c, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("store: etcd client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{c}
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("store: etcd CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("store: etcd CA %s: no certificate in it", o.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// Client is the underlying etcd client, for leader election on the same
// connection (internal/cluster).
func (e *Etcd) Client() *clientv3.Client { return e.cli }

// Prefix is the root of this store's keys.
func (e *Etcd) Prefix() string { return e.prefix }

func (e *Etcd) bucketPrefix(bucket string) string { return e.prefix + bucket + "/" }

func (e *Etcd) check(bucket, key string) error {
	if err := checkNames(bucket, key); err != nil {
		return err
	}
	if strings.Contains(bucket, "/") {
		return fmt.Errorf("store: etcd: bucket name %q has a slash", bucket)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	return nil
}

func (e *Etcd) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), e.opT)
}

// Put stores value under bucket/key.
func (e *Etcd) Put(bucket, key string, value []byte) error {
	if err := e.check(bucket, key); err != nil {
		return err
	}
	ctx, cancel := e.ctx()
	defer cancel()
	if _, err := e.cli.Put(ctx, e.bucketPrefix(bucket)+key, string(value)); err != nil {
		return fmt.Errorf("store: etcd put %s/%s: %w", bucket, key, err)
	}
	return nil
}

// Delete removes bucket/key; a missing key is not an error.
func (e *Etcd) Delete(bucket, key string) error {
	if err := e.check(bucket, key); err != nil {
		return err
	}
	ctx, cancel := e.ctx()
	defer cancel()
	if _, err := e.cli.Delete(ctx, e.bucketPrefix(bucket)+key); err != nil {
		return fmt.Errorf("store: etcd delete %s/%s: %w", bucket, key, err)
	}
	return nil
}

// Get returns the value under bucket/key.
func (e *Etcd) Get(bucket, key string) ([]byte, bool, error) {
	if err := e.check(bucket, key); err != nil {
		return nil, false, err
	}
	ctx, cancel := e.ctx()
	defer cancel()
	r, err := e.cli.Get(ctx, e.bucketPrefix(bucket)+key)
	if err != nil {
		return nil, false, fmt.Errorf("store: etcd get %s/%s: %w", bucket, key, err)
	}
	if len(r.Kvs) == 0 {
		return nil, false, nil
	}
	return r.Kvs[0].Value, true, nil
}

// List returns every pair of bucket in ascending key order.
func (e *Etcd) List(bucket string) ([]KV, error) {
	kvs, _, err := e.Snapshot(bucket)
	return kvs, err
}

// Snapshot lists bucket and returns the store revision it was read at:
// watching from the next revision misses nothing.
func (e *Etcd) Snapshot(bucket string) ([]KV, int64, error) {
	if err := e.check(bucket, "-"); err != nil {
		return nil, 0, err
	}
	kvs, rev, _, err := e.snapshot(bucket)
	return kvs, rev, err
}

// snapshot is Snapshot with the id of the etcd cluster that answered.
func (e *Etcd) snapshot(bucket string) ([]KV, int64, uint64, error) {
	ctx, cancel := e.ctx()
	defer cancel()
	p := e.bucketPrefix(bucket)
	r, err := e.cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("store: etcd list %s: %w", bucket, err)
	}
	out := make([]KV, 0, len(r.Kvs))
	for _, kv := range r.Kvs {
		out = append(out, KV{Key: string(kv.Key[len(p):]), Value: kv.Value})
	}
	return out, r.Header.Revision, r.Header.ClusterId, nil
}

// Close closes the client; every method returns ErrClosed after it.
func (e *Etcd) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	return e.cli.Close()
}

// Change is one key written or deleted.
type Change struct {
	Key     string
	Value   []byte // nil when Deleted
	Deleted bool
}

// Update is what changed in a watched bucket. When Reset is set, Changes is
// the whole bucket (puts only) and replaces what the watcher held: the first
// update is one, and so is the first after a lost watch (etcd restarted, the
// revision was compacted, the member lost its leader). Otherwise Changes are
// the changes since the previous update, in the order etcd applied them.
type Update struct {
	Bucket  string
	Reset   bool
	Changes []Change
	Rev     int64 // store revision the update brings the watcher to
}

// Watch follows bucket until ctx ends: a Reset snapshot first, then every
// change any client makes, each exactly once, with a fresh snapshot whenever
// the watch had to be restarted. The channel closes when ctx ends or the
// store is closed. A slow reader holds etcd's events back, it loses none.
func (e *Etcd) Watch(ctx context.Context, bucket string) <-chan Update {
	ch := make(chan Update, 16)
	go func() {
		defer close(ch)
		backoff := 100 * time.Millisecond
		for ctx.Err() == nil {
			if err := e.check(bucket, "-"); err != nil {
				return
			}
			kvs, rev, cid, err := e.snapshot(bucket)
			if errors.Is(err, ErrClosed) {
				return
			}
			if err != nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 2*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			u := Update{Bucket: bucket, Reset: true, Rev: rev, Changes: make([]Change, len(kvs))}
			for i, kv := range kvs {
				u.Changes[i] = Change{Key: kv.Key, Value: kv.Value}
			}
			select {
			case ch <- u:
			case <-ctx.Done():
				return
			}
			if !e.follow(ctx, bucket, rev, cid, ch) {
				return
			}
		}
	}()
	return ch
}

// progressEvery is how often a watch asks etcd for its revision (follow).
const progressEvery = 2 * time.Second

// follow streams changes after rev into ch. It returns false when the
// watcher is done (ctx ended or the store closed), true when the watch was
// lost and a new snapshot is needed.
func (e *Etcd) follow(ctx context.Context, bucket string, rev int64, cid uint64, ch chan<- Update) bool {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	p := e.bucketPrefix(bucket)
	w := e.cli.Watch(wctx, p, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	// The client resumes a watch on whatever etcd it reaches next, from the
	// revision it had seen. A new etcd at the same address is another
	// history: with smaller revisions it would hold the watch, silent, until
	// they caught up; with larger ones it would stream changes that follow
	// nothing we hold. A progress request every progressEvery gets an answer
	// from etcd even when nothing changes; an answer from another etcd
	// cluster (its id), or with a revision below ours, means a new snapshot.
	go func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
				e.cli.RequestProgress(wctx)
			}
		}
	}()
	for resp := range w {
		if resp.Err() != nil || resp.Canceled {
			return ctx.Err() == nil && !e.isClosed()
		}
		if (resp.Header.ClusterId != 0 && cid != 0 && resp.Header.ClusterId != cid) ||
			(resp.Header.Revision != 0 && resp.Header.Revision < rev) {
			return ctx.Err() == nil && !e.isClosed() // another etcd
		}
		if len(resp.Events) == 0 {
			continue // progress notification
		}
		u := Update{Bucket: bucket, Rev: resp.Header.Revision}
		for _, ev := range resp.Events {
			k := string(ev.Kv.Key[len(p):])
			if ev.Type == clientv3.EventTypeDelete {
				u.Changes = append(u.Changes, Change{Key: k, Deleted: true})
			} else {
				u.Changes = append(u.Changes, Change{Key: k, Value: ev.Kv.Value})
			}
		}
		select {
		case ch <- u:
		case <-ctx.Done():
			return false
		}
	}
	return ctx.Err() == nil && !e.isClosed()
}

func (e *Etcd) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}
