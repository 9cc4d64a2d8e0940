package controller

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/forward"
	"portcullis/internal/ofconn"
	"portcullis/internal/policy"
	"portcullis/internal/store"
	"portcullis/ofp"
)

// Periodic work and the API at 1,000 switches (issue 9, item 4): what each
// periodic job and each API call the dashboard makes costs per run, and what
// they do to the packet-in path of one switch while they run.
//
//	go test -run '^$' -bench PeriodicAt1000 -benchtime 20x ./internal/controller/
//
// The controller's blocker runs without its tickers (manualTicks): the
// benchmark runs the jobs itself, on the goroutines production runs them on
// (the tick and the exemption walk on the blocker, the polls' requests on
// their own goroutines), so the quiet phase of the hot-path case is quiet.

// scaleSwitches and scaleHosts are the benchmark's network: a never-block
// gateway and scaleHosts-1 other stations learned on each of 1,000 switches.
const (
	scaleSwitches = 1000
	scaleHosts    = 32
)

// scaleMeters are the meters a scale switch reports in each meter reading:
// per port its answer meter and a few others, and the UDP watch meter, all
// without drops (the reading's cost, not a loss to act on).
func scaleMeters() []ofp.MeterStats {
	var out []ofp.MeterStats
	for port := uint32(1); port <= 4; port++ {
		out = append(out, ofp.MeterStats{MeterID: policy.ReplyMeter(port), Bands: []ofp.MeterBandStats{{}}})
		for k := uint32(0); k < 8; k++ {
			out = append(out, ofp.MeterStats{MeterID: 0x100000 + port<<4 + k, Bands: []ofp.MeterBandStats{{}}})
		}
	}
	return append(out, ofp.MeterStats{MeterID: forward.MeterWatchUDP, Bands: []ofp.MeterBandStats{{}}})
}

// scaleBench is a controller with scaleSwitches switches connected and
// their stations learned, an API handler over it, and a clock it sets.
type scaleBench struct {
	c     *Controller
	ctx   context.Context
	api   http.Handler
	clock *atomic.Int64
	s1    *ofconn.Session // switch 1: the hot path measured
	sws   []*ofconn.Session
}

// scaleStation is station h of switch s: h 0 is the switch's gateway (on
// the never-block list), the others ordinary hosts, on ports 1-4.
func scaleStation(s, h int) host {
	mac := [6]byte{0x02, 0x5c, byte(s >> 8), byte(s), 0, byte(h)}
	ip := netip.AddrFrom4([4]byte{10, byte(s >> 8), byte(s), byte(h + 2)})
	if h == 0 {
		ip = netip.AddrFrom4([4]byte{10, 250, byte(s >> 8), byte(s)})
	}
	return host{mac: mac, ip: ip, port: uint32(h%4 + 1)}
}

func newScaleBench(b *testing.B) *scaleBench {
	b.Helper()
	var clock atomic.Int64
	clock.Store(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).UnixNano())
	cfg := testConfig(b)
	cfg.Block.NeverBlock = []string{"10.250.0.0/16"}
	c, err := New(Options{Config: cfg, Store: store.NewMemory(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		b.Fatal(err)
	}
	c.manualTicks = true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var addr net.Addr
	for addr == nil {
		time.Sleep(time.Millisecond)
		addr = c.OpenFlowAddr()
	}
	meters := ofp.Marshal(0, &ofp.MultipartReply{Body: &ofp.MeterStatsReply{Stats: scaleMeters()}})
	var conns []net.Conn
	b.Cleanup(func() {
		cancel()
		<-done
		for _, cn := range conns {
			cn.Close()
		}
	})
	start := time.Now()
	for s := 1; s <= scaleSwitches; s++ {
		conns = append(conns, rawSwitch(b, addr.String(), uint64(s), meters))
	}
	sb := &scaleBench{c: c, ctx: ctx, clock: &clock}
	for deadline := time.Now().Add(60 * time.Second); ; {
		c.mu.Lock()
		n := len(c.switches)
		c.mu.Unlock()
		if n == scaleSwitches {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d switches connected", n, scaleSwitches)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Logf("%d switches connected in %v", scaleSwitches, time.Since(start).Round(time.Millisecond))
	for s := 1; s <= scaleSwitches; s++ {
		sess := c.srv.Session(uint64(s))
		sb.sws = append(sb.sws, sess)
		gw := scaleStation(s, 0)
		for h := 0; h < scaleHosts; h++ {
			st := scaleStation(s, h)
			c.Message(sess, 0, learnMiss(st.port, arpFrame(1, st.mac, st.ip, [6]byte{}, gw.ip)))
		}
	}
	sb.s1 = sb.sws[0]
	// Switch 1 is the busy one whose packet-ins are measured: its station
	// table is full (the hot-path case learns a new station every op).
	fill := learnMiss(1, arpFrame(1, [6]byte{2}, netip.AddrFrom4([4]byte{10, 9, 9, 9}), [6]byte{}, scaleStation(1, 0).ip))
	for i := 0; i < forward.DefaultMaxHosts; i++ {
		learnNew(c, sb.s1, fill, i)
	}
	// Detection's table full of sources with a failed first contact: every
	// station but the gateway probes a silent address once, and the clock
	// moves past the attempt's timeout.
	for s := 1; s <= scaleSwitches; s++ {
		sess := sb.sws[s-1]
		dst := host{mac: [6]byte{0x02, 0x5d, 0, 0, 0, 1}, ip: netip.AddrFrom4([4]byte{10, 251, byte(s >> 8), byte(s)}), port: 4}
		for h := 1; h < scaleHosts; h++ {
			st := scaleStation(s, h)
			c.Message(sess, 0, watchCopy(st.port, tcpFrame(st, dst, st.ip, 40000, 22, tcpSYN)))
		}
	}
	clock.Add(int64(30 * time.Second))
	sb.onBlocker(func(now time.Time) { c.tick(now) })
	b.Logf("detector: %+v", c.det.Stats())
	sb.api = api.New(c, api.Options{OpenReadsOnLoopback: true, Version: "bench"})
	// The hosts and their IP bindings are in: the first walk lifts the
	// gateways' ports, later walks find nothing changed.
	sb.onBlocker(func(time.Time) { c.exemptProtectedPorts() })
	return sb
}

// onBlocker runs f on the blocker goroutine and waits for it and the engine's
// Ready that follows.
func (sb *scaleBench) onBlocker(f func(now time.Time)) {
	done := make(chan struct{})
	sb.c.post(func(now time.Time) {
		f(now)
		close(done)
	})
	<-done
	sb.c.post(func(time.Time) {}) // apply ran after f
}

// synPoll runs one SYN counter poll and waits until every reading reached
// the engine.
func (sb *scaleBench) synPoll() {
	sb.clock.Add(int64(time.Second))
	sb.c.pollSYNCounters(sb.ctx)
	for _, sess := range sb.sws {
		sw := sb.c.lookup(sess)
		for sw.synPolling.Load() {
			time.Sleep(50 * time.Microsecond)
		}
	}
	sb.onBlocker(func(time.Time) {})
}

// meterPoll runs one meter reading round and waits for its end.
func (sb *scaleBench) meterPoll() {
	sb.c.pollMeters()
	for sb.c.meterPolling.Load() {
		time.Sleep(50 * time.Microsecond)
	}
}

// exemptWalk runs the never-block exemption walk on the blocker; changed
// makes every switch look changed since the last walk (the worst case: an
// address bound on every switch in the last 2 seconds).
func (sb *scaleBench) exemptWalk(changed bool) {
	if changed {
		for _, sess := range sb.sws {
			sw := sb.c.lookup(sess)
			sw.mu.Lock()
			sw.exempted = exemptMark{}
			sw.mu.Unlock()
		}
	}
	sb.onBlocker(func(time.Time) { sb.c.exemptProtectedPorts() })
}

// get serves one API request from loopback and returns the body's size.
func (sb *scaleBench) get(b testing.TB, path string) int {
	req := httptest.NewRequest("GET", path, nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Host = "127.0.0.1:6680"
	w := httptest.NewRecorder()
	sb.api.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("GET %s: %d %s", path, w.Code, w.Body.Bytes())
	}
	return w.Body.Len()
}

// dashboardFull is what the dashboard asked for every poll before it knew
// large networks: every list. dashboardLarge is what it asks above
// largeNetwork switches (app.js): the counts, the blocks, the suspects and
// the selected switch's hosts; the switch list every fifth poll.
var (
	dashboardFull  = []string{"/api/v1/switches", "/api/v1/hosts", "/api/v1/suspects", "/api/v1/blocks", "/api/v1/stats", "/api/v1/status"}
	dashboardLarge = []string{"/api/v1/status", "/api/v1/stats", "/api/v1/blocks", "/api/v1/suspects", "/api/v1/hosts?dpid=0000000000000001"}
)

func BenchmarkPeriodicAt1000(b *testing.B) {
	if testing.Short() {
		b.Skip("1,000 switches")
	}
	sb := newScaleBench(b)
	jobs := []struct {
		name string
		run  func()
	}{
		{"job/syn-poll", sb.synPoll},
		{"job/meter-poll", sb.meterPoll},
		{"job/exempt-walk-unchanged", func() { sb.exemptWalk(false) }},
		{"job/exempt-walk-all-changed", func() { sb.exemptWalk(true) }},
		{"job/blocker-tick", func() { sb.onBlocker(func(now time.Time) { sb.c.tick(now) }) }},
	}
	// How long a hot-path lock is held: the detector's by a suspects walk
	// (every watch copy of every switch waits on it), switch 1's by a copy
	// of its table (it learns a new station every op of the hot-path case,
	// so its table is full) and by a count.
	sw1 := sb.c.lookup(sb.s1)
	jobs = append(jobs, []struct {
		name string
		run  func()
	}{
		{"hold/detector-suspects", func() { sb.c.det.Suspects(sb.c.now()) }},
		{"hold/switch1-hosts-copy", func() { sw1.mu.Lock(); sw1.fwd.Hosts(); sw1.mu.Unlock() }},
		{"hold/switch1-count", func() { sw1.mu.Lock(); sw1.fwd.Stats(); sw1.mu.Unlock() }},
	}...)
	for _, j := range jobs {
		b.Run(j.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				j.run()
			}
		})
	}
	paths := []string{"/api/v1/status", "/api/v1/hosts", "/api/v1/hosts?dpid=0000000000000001", "/api/v1/hosts?limit=100",
		"/api/v1/suspects", "/api/v1/switches", "/api/v1/blocks", "/api/v1/stats"}
	for _, p := range paths {
		b.Run("api"+p, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				forgetSuspects(sb.c) // each call's own detector walk, not the last one's list
				n = sb.get(b, p)
			}
			b.ReportMetric(float64(n), "bytes/resp")
		})
	}
	for _, h := range []struct {
		name     string
		periodic bool
		paths    []string
	}{
		{"periodic", true, nil},
		{"dashboard-full", false, dashboardFull},
		{"dashboard-large", false, dashboardLarge},
		{"periodic+dashboard-full", true, dashboardFull},
		{"periodic+dashboard-large", true, dashboardLarge},
	} {
		b.Run("hotpath/"+h.name, func(b *testing.B) { sb.hotPath(b, h.periodic, h.paths) })
	}
}

// hotPath measures Controller.Message on switch 1 (a watch copy of a known
// host's SYN and a learning miss of a new station, each op) in phases of
// hotPhase that alternate, one pair per b.Loop iteration: quiet, then
// loaded with the blocker's periodic work at its production cadence (the
// half-second tick: silence and engine timers, the meter reading, the SYN
// counter reading every second, the exemption walk every 2 seconds; the
// clock moves half a second a tick) if periodic, and a dashboard asking for
// paths every 2 seconds (app.js's POLL_MS), all at once as its
// Promise.all does. It reports each phase's mean, 99th and 99.9th
// percentile and worst op, and the ratio of the means.
func (sb *scaleBench) hotPath(b *testing.B, periodic bool, paths []string) {
	c, s := sb.c, sb.s1
	a, d := scaleStation(1, 1), scaleStation(1, 2)
	watch := watchCopy(a.port, tcpFrame(a, d, a.ip, 50000, 443, tcpSYN))
	miss := learnMiss(a.port, arpFrame(1, a.mac, a.ip, [6]byte{}, d.ip))
	var quiet, loaded []time.Duration
	var ticks, polls atomic.Int64
	i := 1 << 20
	op := func() time.Duration {
		t0 := time.Now()
		c.Message(s, 0, watch)
		learnNew(c, s, miss, i)
		i++
		return time.Since(t0)
	}
	for k := 0; k < 1000; k++ { // warm: the switch's table at its working size
		op()
	}
	var ps periodicState
	load := func() (stop func()) {
		done := make(chan struct{})
		var wg sync.WaitGroup
		every := func(d time.Duration, f func()) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t := time.NewTicker(d)
				defer t.Stop()
				for {
					select {
					case <-done:
						return
					case <-t.C:
						f()
					}
				}
			}()
		}
		if periodic {
			every(500*time.Millisecond, func() {
				sb.clock.Add(int64(500 * time.Millisecond))
				sb.onBlocker(func(now time.Time) { c.periodic(sb.ctx, now, &ps) })
				ticks.Add(1)
			})
		}
		if len(paths) > 0 {
			poll := func() {
				var pw sync.WaitGroup
				for _, p := range paths {
					pw.Add(1)
					go func() { defer pw.Done(); sb.get(b, p) }()
				}
				pw.Wait()
				polls.Add(1)
			}
			every(2*time.Second, poll)
			poll()
		}
		return func() { close(done); wg.Wait() }
	}
	phase := func(out *[]time.Duration) {
		for end := time.Now().Add(hotPhase); time.Now().Before(end); {
			*out = append(*out, op())
		}
	}
	for b.Loop() {
		phase(&quiet)
		b.StopTimer()
		stop := load()
		b.StartTimer()
		phase(&loaded)
		b.StopTimer()
		stop()
		b.StartTimer()
	}
	q := durStats(quiet)
	l := durStats(loaded)
	b.ReportMetric(float64(q.mean.Nanoseconds()), "quiet-ns/op")
	b.ReportMetric(float64(l.mean.Nanoseconds()), "loaded-ns/op")
	b.ReportMetric(float64(l.mean)/float64(q.mean), "ratio")
	b.ReportMetric(float64(q.p99.Nanoseconds()), "quiet-p99-ns")
	b.ReportMetric(float64(l.p99.Nanoseconds()), "loaded-p99-ns")
	b.ReportMetric(float64(q.p999.Nanoseconds()), "quiet-p99.9-ns")
	b.ReportMetric(float64(l.p999.Nanoseconds()), "loaded-p99.9-ns")
	b.ReportMetric(float64(q.max.Nanoseconds()), "quiet-max-ns")
	b.ReportMetric(float64(l.max.Nanoseconds()), "loaded-max-ns")
	b.Logf("%d quiet and %d loaded ops; while loaded %d ticks and %d dashboard polls (%v)",
		len(quiet), len(loaded), ticks.Load(), polls.Load(), paths)
}

// hotPhase is how long each phase of hotPath runs: four ticks and one
// dashboard poll at least.
const hotPhase = 2100 * time.Millisecond

type durSummary struct{ mean, p99, p999, max time.Duration }

// durStats summarizes ds.
func durStats(ds []time.Duration) durSummary {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return durSummary{mean: sum / time.Duration(len(ds)), p99: s[len(s)*99/100], p999: s[len(s)*999/1000], max: s[len(s)-1]}
}

// forgetSuspects drops the suspects list the API serves between detector
// walks (suspectsFresh).
func forgetSuspects(c *Controller) {
	c.sus.mu.Lock()
	c.sus.list = nil
	c.sus.mu.Unlock()
}
