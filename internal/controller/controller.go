// Package controller wires Portcullis together: OpenFlow sessions (ofconn),
// forwarding (forward), detection (detect), blocking (policy), state (store),
// events (event), the REST API (api) and metrics. It is the only package that
// knows all the others.
//
// Concurrency: each switch session's reader goroutine calls the Handler
// methods in order. Per-switch state (forwarding table, parse buffer) is
// guarded by that switch's mutex; the detector by its own (detshard.go); the switch
// tables, the allowlist and the reloadable
// settings by mu. Blocks belong to the block engine (policy.Engine), which
// only the blocker goroutine touches (block.go): verdicts, switch events,
// API requests and the outcomes of block IO reach it through queues that
// never drop, so the packet-in path never waits on a store write or a
// barrier. Lock order: mu before a switch's mu; the detector's lock is
// taken alone. The Controller struct groups its fields by what guards them
// (set once, mu, atomics, the blocker goroutine, locks of their own), as
// wireguard-go's Device does; a new field goes in the group of its guard.
package controller

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/config"
	"portcullis/internal/event"
	"portcullis/internal/forward"
	"portcullis/internal/ofconn"
	"portcullis/internal/policy"
	"portcullis/internal/store"
)

// Options configure a Controller.
type Options struct {
	Config  config.Config
	Logger  *slog.Logger
	Version string
	// Store overrides the state store (tests); nil opens Config.StateDir.
	Store store.Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Confine, when set, runs once in Run after the listeners are bound and
	// the event sinks opened, before a byte is read from a switch or an API
	// client (cmd/portcullis: internal/sandbox). An error stops Run.
	Confine func() error
}

// Controller is a running Portcullis controller.
type Controller struct {
	// Set by New and read-only after it.
	log      *slog.Logger
	version  string
	now      func() time.Time
	started  time.Time
	confine  func() error
	store    store.Store
	bus      *event.Bus
	srv      *ofconn.Server
	apiSrv   *http.Server
	apiLn    net.Listener
	m        *metricsSet
	fwdCfg   forward.Config
	watchCfg policy.WatchConfig
	ha       *haState // the cluster on etcd, nil for a single instance (cluster.go)

	// Guarded by mu: the switch tables, the allowlist and the reloadable
	// settings. Lock order: mu before a switch's mu (switchState.mu).
	mu       sync.Mutex
	cfg      config.Config // Reload rewrites its live sections under mu
	switches map[*ofconn.Session]*switchState
	byDPID   map[uint64]*switchState
	allow    map[string]api.AllowEntry // run-time and configured entries by ID (ports as ranges)
	durs     []time.Duration
	scope    policy.Scope
	fwdIdle  uint16 // forward.idle_timeout in seconds, as reloaded (reload.go)

	// Replaced whole, read without a lock.
	apiAddr  atomic.Pointer[net.Addr]
	never    atomic.Pointer[policy.Allowlist] // replaced on reload
	notice   atomic.Pointer[noticeSettings]   // notify.notice; replaced on reload (notice.go)
	allowSet atomic.Pointer[policy.Allowlist]
	apiH     atomic.Pointer[http.Handler]
	sinks    atomic.Pointer[sinkSet] // the running event sinks; Reload restarts them (sinks.go)

	// The blocker goroutine's alone (block.go): the block engine and what
	// feeds it. Others reach it through inbox and vq, which never drop.
	eng     *policy.Engine
	inbox   chan func(now time.Time) // inputs other than verdicts; senders wait, never drop
	stopped chan struct{}            // closed when the blocker ends
	runCtx  context.Context          // the blocker's context
	synTop  synMax                   // highest port SYN rate per switch at its last reading (periodic.go)

	// Tests: the blocker's tickers stay off and the test drives c.periodic
	// (periodic_bench_test.go). Set before Run.
	manualTicks bool

	// With locks of their own.
	det      *detector     // scan detection (detshard.go)
	vq       *verdictQueue // packet-in verdicts (verdicts.go)
	refusals refusalEvents // bounds switch_refused events (channel.go)
	sus      suspectMemo   // the API's suspects list, one detector walk per suspectsFresh (periodic_api.go)
	series   seriesRing    // the API's stats series

	// Atomic counters and flags.
	epochs       atomic.Uint64               // session epochs for the engine
	activeN      atomic.Int64                // blocks the engine holds, as of its last Ready
	lastBlocks   atomic.Pointer[[]api.Block] // the last list the API got (blockList)
	meterPolling atomic.Bool                 // a meter reading round is in flight (pollMeters)
	meterHorizon atomic.Int64                // unix ns: start of the last complete meter reading round
	detections   atomic.Uint64
	blocksN      atomic.Uint64
}

// New builds a controller: it opens the state store, restores blocks and the
// allowlist, and prepares the listeners. Run starts it.
func New(opts Options) (*Controller, error) {
	cfg := opts.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	c := &Controller{
		cfg:      cfg,
		log:      log,
		version:  opts.Version,
		now:      now,
		confine:  opts.Confine,
		started:  now(),
		bus:      event.NewBus(event.DefaultRingSize),
		switches: map[*ofconn.Session]*switchState{},
		byDPID:   map[uint64]*switchState{},
		allow:    map[string]api.AllowEntry{},
		inbox:    make(chan func(time.Time), 256),
		stopped:  make(chan struct{}),
		runCtx:   context.Background(),
		vq:       newVerdictQueue(maxPendingVerdicts),
		durs:     cfg.Block.Durations,
	}
	c.m = newMetrics(opts.Version)
	var err error
	if c.scope, err = policy.ParseScope(cfg.Block.Scope); err != nil {
		return nil, err
	}
	never, err := policy.ParseAllowlist(cfg.Block.NeverBlock)
	if err != nil {
		return nil, fmt.Errorf("controller: never_block: %w", err)
	}
	c.never.Store(never)
	ns, err := loadNotice(cfg.Notify.Notice)
	if err != nil {
		return nil, err
	}
	c.notice.Store(ns)
	c.fwdCfg = cfg.ForwardConfig() // config/runtime.go: the translations, tested against each package's defaults
	c.fwdIdle = c.fwdCfg.IdleTimeout
	c.watchCfg = policy.WatchConfig{}

	dc := cfg.DetectConfig()
	if err := dc.Validate(); err != nil {
		return nil, fmt.Errorf("controller: detect: %w", err)
	}
	c.det = newDetector(dc)
	c.synTop = newSynMax()

	c.store = opts.Store
	if c.store == nil {
		st, err := c.openStore() // cluster.go: etcd or bbolt
		if err != nil {
			return nil, err
		}
		c.store = st
	}
	if err := c.restore(); err != nil {
		c.store.Close()
		return nil, err
	}
	if err := c.initHA(); err != nil {
		c.store.Close()
		return nil, err
	}

	tlsCfg, err := c.tlsConfig()
	if err != nil {
		c.store.Close()
		return nil, err
	}
	ofc := cfg.OpenFlowConfig()
	ofc.TLS = tlsCfg
	c.srv = ofconn.NewServer(ofc, c, log)
	if err := c.m.CounterFunc("openflow", "switches_refused_total",
		"Connections refused after the OpenFlow handshake: their datapath id was held by a live session, or their certificate lacked its identity (see switch_refused events).",
		func() float64 { return float64(c.srv.Stats().Refused) }); err != nil {
		c.store.Close()
		return nil, err
	}
	return c, nil
}

func (c *Controller) tlsConfig() (*tls.Config, error) {
	t := c.cfg.TLS
	if !t.Enabled() {
		return nil, nil
	}
	return ofconn.ServerTLSConfig(t.Cert, t.Key, t.CA)
}

// Bus returns the event bus (tests and embedding).
func (c *Controller) Bus() *event.Bus { return c.bus }

// OpenFlowAddr returns the OpenFlow listener's address once Run listens.
func (c *Controller) OpenFlowAddr() net.Addr { return c.srv.Addr() }

// APIAddr returns the API listener's address once Run listens.
func (c *Controller) APIAddr() net.Addr {
	if a := c.apiAddr.Load(); a != nil {
		return *a
	}
	return nil
}

// Run listens for switches and API clients and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	defer c.store.Close()
	if err := c.srv.Listen(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("controller: api listen %s: %w", c.cfg.API.Listen, err)
	}
	c.apiLn = ln
	addr := ln.Addr()
	c.apiAddr.Store(&addr)
	c.swapAPI()
	ctx, cancel := context.WithCancel(ctx)
	// Handlers see ctx: event streams end at shutdown instead of holding
	// Shutdown for its whole timeout.
	c.apiSrv = api.NewServer(apiHandler{c}, ctx) // read, write and idle timeouts

	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	c.startSinks(ctx, &wg)
	// The API's certificate is read now: once confined it may be out of reach.
	if t := c.cfg.API.TLS; t.Enabled() {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("controller: api tls: %w", err)
		}
		c.apiSrv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	if c.confine != nil {
		if err := c.confine(); err != nil {
			cancel()
			wg.Wait()
			return err
		}
	}
	c.bus.OnDrop(func(name string, e event.Event) { c.m.EventsDropped.WithLabelValues(name).Inc() })
	counted := c.bus.Sub("metrics", 1024)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer counted.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-counted.C:
				if !ok {
					return
				}
				c.m.EventsPublished.WithLabelValues(string(e.Type)).Inc()
			}
		}
	}()
	wg.Add(3)
	go func() {
		defer wg.Done()
		var err error
		if t := c.cfg.API.TLS; t.Enabled() {
			err = c.apiSrv.ServeTLS(ln, "", "") // certificate loaded above
		} else {
			err = c.apiSrv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("controller: api: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := c.srv.ListenAndServe(ctx); err != nil && !errors.Is(err, ofconn.ErrServerClosed) && ctx.Err() == nil {
			errc <- err
		}
	}()
	c.runCtx = ctx
	go func() {
		defer wg.Done()
		c.blocker(ctx)
	}()
	if err := c.startHA(ctx, &wg); err != nil {
		cancel()
		wg.Wait()
		return err
	}
	c.warnPlaintext()
	state := []any{"state_dir", c.cfg.StateDir}
	if e := c.cfg.Store.Etcd; e.Enabled() {
		state = []any{"store", "etcd", "etcd_prefix", e.Prefix}
	}
	c.log.Info("portcullis running", append([]any{"openflow", c.srv.Addr().String(), "api", ln.Addr().String(),
		"tls", c.cfg.TLS.Enabled()}, append(state, "blocks", c.activeN.Load())...)...)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 3*time.Second)
	c.apiSrv.Shutdown(sctx)
	scancel()
	wg.Wait()
	return runErr
}
