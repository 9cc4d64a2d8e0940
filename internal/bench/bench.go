package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"portcullis/internal/forward"
	"portcullis/ofp"
)

// Mode is what the emulated switches do once connected.
type Mode string

// Modes.
const (
	Throughput Mode = "throughput" // Config.InFlight packet-ins in flight per switch
	Latency    Mode = "latency"    // one in flight per switch; round trips measured
	Idle       Mode = "idle"       // connect and stay quiet
)

// Miss describes the packet-ins: which table's miss sent them. Learning
// misses of Portcullis come from its TableLearn (2) table-miss flow, with
// that flow's cookie; most controllers install their table-miss flow in
// table 0.
type Miss struct {
	Table  uint8
	Reason uint8
	Cookie uint64
}

// Misses by name (Config.Miss and the --miss flag).
var (
	// MissPortcullis is a TableLearn miss of the Portcullis pipeline
	// (table 2 with the cookie of the pipeline's base flows).
	MissPortcullis = Miss{Table: forward.TableLearn, Reason: ofp.PacketInReasonNoMatch, Cookie: forward.Cookie(forward.KindBase, 0)}
	// MissTable0 is a table-miss packet-in of table 0 with cookie 0
	// (ovs-testcontroller, os-ken's simple_switch_13).
	MissTable0 = Miss{Table: 0, Reason: ofp.PacketInReasonNoMatch}
)

// Config is one benchmark run.
type Config struct {
	Addr     string // the controller's OpenFlow address (host:port)
	Switches int    // emulated switches (at most 65535)
	Ports    int    // ports per switch (default 4); packet-ins rotate over them
	Mode     Mode
	InFlight int // throughput mode: packet-ins in flight per switch (default 64)
	Miss     Miss

	Rounds int           // measured rounds (default 5)
	Round  time.Duration // length of a round (default 2s)
	Warmup time.Duration // load before the first round (default 1s)

	// ConnectTimeout bounds the connection of all switches (default 60s);
	// Dialers is how many switches connect at once (default 64).
	ConnectTimeout time.Duration
	Dialers        int
	// Settle is how long idle mode waits after the last switch is ready
	// before it reads the controller's memory (default 2s).
	Settle time.Duration

	// PID of the controller, for its resident memory (0: not read).
	PID int

	// readyOnPortDesc counts a switch ready when it answered PORT_DESC
	// (tests); otherwise at its first FLOW_MOD or BARRIER_REQUEST after
	// FEATURES_REPLY, or readyAfter after FEATURES_REPLY.
	readyOnPortDesc bool
	// idleHook, if set, runs in idle mode while the switches are connected
	// (benchmarks take heap profiles there).
	idleHook func()
}

// readyAfter is when a switch that got FEATURES_REQUEST but neither a
// flow-mod nor a barrier counts as ready anyway.
const readyAfter = 2 * time.Second

func (c Config) withDefaults() Config {
	if c.Ports <= 0 {
		c.Ports = 4
	}
	if c.Mode == "" {
		c.Mode = Throughput
	}
	if c.InFlight <= 0 {
		c.InFlight = 64
	}
	if c.Rounds <= 0 {
		c.Rounds = 5
	}
	if c.Round <= 0 {
		c.Round = 2 * time.Second
	}
	if c.Warmup < 0 {
		c.Warmup = 0
	} else if c.Warmup == 0 {
		c.Warmup = time.Second
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 60 * time.Second
	}
	if c.Dialers <= 0 {
		c.Dialers = 64
	}
	if c.Settle <= 0 {
		c.Settle = 2 * time.Second
	}
	return c
}

func (c Config) validate() error {
	switch c.Mode {
	case Throughput, Latency, Idle:
	default:
		return fmt.Errorf("bench: mode %q: want throughput, latency or idle", c.Mode)
	}
	if c.Switches < 1 || c.Switches > 65535 {
		return fmt.Errorf("bench: %d switches: want 1 to 65535", c.Switches)
	}
	if c.Addr == "" {
		return errors.New("bench: no controller address")
	}
	return nil
}

// Report is what a run measured.
type Report struct {
	Mode     Mode `json:"mode"`
	Switches int  `json:"switches"`
	InFlight int  `json:"in_flight"` // per switch

	Connected      int           `json:"connected"`        // switches ready
	ConnectTime    time.Duration `json:"connect_ns"`       // first dial to the last switch ready
	ReadyByTimeout int           `json:"ready_by_timeout"` // switches counted ready without a flow-mod or barrier

	Rounds []float64 `json:"rounds"` // answered packet-ins per second, per round
	Min    float64   `json:"min"`
	Median float64   `json:"median"`
	Max    float64   `json:"max"`

	// Latency mode: the packet-in -> first answer round trip.
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`

	Answered   uint64 `json:"answered"`    // packet-ins answered (whole run, warm-up included)
	Lost       uint64 `json:"lost"`        // packet-ins without an answer within a second
	FlowMods   uint64 `json:"flow_mods"`   // FLOW_MODs received
	PacketOuts uint64 `json:"packet_outs"` // PACKET_OUTs received
	Errors     int    `json:"errors"`      // switches whose connection failed
	FirstError string `json:"first_error,omitempty"`

	// Resident memory of Config.PID: when every switch was connected (and
	// idle), and at the end of the load.
	MemConnected Memory `json:"mem_connected"`
	MemEnd       Memory `json:"mem_end"`

	// CPU time used during the measured rounds, by Config.PID (0 without
	// it) and by this process (the generator), and per answered packet-in
	// in those rounds: what an answer costs each side, less noisy on a
	// shared machine than the rate (utime + stime, 10 ms resolution).
	ControllerCPU       time.Duration `json:"controller_cpu_ns"`
	GeneratorCPU        time.Duration `json:"generator_cpu_ns"`
	ControllerCPUPerAns time.Duration `json:"controller_cpu_per_answer_ns"`
	GeneratorCPUPerAns  time.Duration `json:"generator_cpu_per_answer_ns"`
}

type runner struct {
	cfg     Config
	epoch   time.Time
	ports   []ofp.Port
	running atomic.Bool
	closing atomic.Bool
	sw      []*emulated
}

func (r *runner) since() int64 { return int64(time.Since(r.epoch)) }

func (r *runner) inFlight() int {
	switch r.cfg.Mode {
	case Latency:
		return 1
	case Idle:
		return 0
	}
	return r.cfg.InFlight
}

// Run connects cfg.Switches emulated switches to the controller, loads it
// as cfg.Mode says, and reports. It returns an error only when it cannot
// run at all (no switch connects); switches that fail later are counted in
// Report.Errors.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, epoch: time.Now(), ports: ports(cfg.Ports)}
	rep := &Report{Mode: cfg.Mode, Switches: cfg.Switches, InFlight: r.inFlight()}
	defer r.close()

	// Connect.
	r.sw = make([]*emulated, cfg.Switches)
	for i := range r.sw {
		r.sw[i] = newEmulated(r, i)
	}
	var wg sync.WaitGroup
	next := atomic.Int64{}
	var dialErr atomic.Pointer[error]
	for range min(cfg.Dialers, cfg.Switches) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(r.sw) || ctx.Err() != nil {
					return
				}
				e := r.sw[i]
				if err := e.dial(); err != nil {
					e.mu.Lock()
					e.setErr(err)
					e.mu.Unlock()
					dialErr.CompareAndSwap(nil, &err)
					continue
				}
				go e.serve()
			}
		}()
	}
	wg.Wait()
	deadline := r.epoch.Add(cfg.ConnectTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		ready, byTimeout, failed := r.readiness()
		if ready+failed == len(r.sw) || time.Now().After(deadline) || ctx.Err() != nil {
			rep.Connected, rep.ReadyByTimeout = ready, byTimeout
			rep.ConnectTime = time.Since(r.epoch)
			break
		}
		<-tick.C
	}
	tick.Stop()
	if rep.Connected == 0 {
		if p := dialErr.Load(); p != nil {
			return rep, *p
		}
		return rep, fmt.Errorf("bench: no switch became ready within %v", cfg.ConnectTimeout)
	}

	stop := make(chan struct{})
	var wdone sync.WaitGroup
	wdone.Add(1)
	go func() { defer wdone.Done(); r.watchdog(stop) }()
	defer func() { close(stop); wdone.Wait() }()

	if cfg.Mode == Idle {
		sleep(ctx, cfg.Settle)
		rep.MemConnected = r.memory()
		rep.MemEnd = rep.MemConnected
		if cfg.idleHook != nil {
			cfg.idleHook()
		}
		r.totals(rep)
		return rep, ctx.Err()
	}
	rep.MemConnected = r.memory()

	// Load.
	r.running.Store(true)
	for _, e := range r.sw {
		if !e.ready.Load() {
			continue
		}
		e.mu.Lock()
		e.fill(r.since())
		e.flushLocked()
		e.mu.Unlock()
	}
	sleep(ctx, cfg.Warmup)
	last, at := r.answered(), time.Now()
	first := last
	cpu0, gen0 := r.cpu()
	for range cfg.Rounds {
		if !sleep(ctx, cfg.Round) {
			break
		}
		n, now := r.answered(), time.Now()
		rep.Rounds = append(rep.Rounds, float64(n-last)/now.Sub(at).Seconds())
		last, at = n, now
	}
	cpu1, gen1 := r.cpu()
	r.running.Store(false)
	rep.ControllerCPU, rep.GeneratorCPU = cpu1-cpu0, gen1-gen0
	if n := last - first; n > 0 {
		if r.cfg.PID != 0 {
			rep.ControllerCPUPerAns = rep.ControllerCPU / time.Duration(n)
		}
		rep.GeneratorCPUPerAns = rep.GeneratorCPU / time.Duration(n)
	}
	rep.MemEnd = r.memory()
	r.totals(rep)
	if len(rep.Rounds) > 0 {
		s := slices.Sorted(slices.Values(rep.Rounds))
		rep.Min, rep.Max = s[0], s[len(s)-1]
		if n := len(s); n%2 == 1 {
			rep.Median = s[n/2]
		} else {
			rep.Median = (s[n/2-1] + s[n/2]) / 2
		}
	}
	if cfg.Mode == Latency {
		var h hist
		for _, e := range r.sw {
			e.mu.Lock()
			h.merge(e.hist)
			e.mu.Unlock()
		}
		rep.P50, rep.P99 = h.quantile(0.5), h.quantile(0.99)
	}
	return rep, ctx.Err()
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// readiness counts ready and failed switches; a switch that answered
// FEATURES_REQUEST readyAfter ago is made ready. It reads atomics only:
// at 10,000 switches it runs every 5 ms while they connect.
func (r *runner) readiness() (ready, byTimeout, failed int) {
	now := r.since()
	for _, e := range r.sw {
		if !e.ready.Load() {
			if f := e.featuresAt.Load(); f != 0 && now-f > int64(readyAfter) {
				e.byTimeout.Store(true)
				e.ready.Store(true)
			}
		}
		switch {
		case e.ready.Load():
			ready++
			if e.byTimeout.Load() {
				byTimeout++
			}
		case e.failed.Load():
			failed++
		}
	}
	return ready, byTimeout, failed
}

// watchdog replaces lost packet-ins every quarter second.
func (r *runner) watchdog(stop <-chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if !r.running.Load() {
			continue
		}
		now := r.since()
		for _, e := range r.sw {
			if !e.ready.Load() || now-e.lastAnswer.Load() < int64(lostAfter) {
				continue
			}
			e.mu.Lock()
			e.expire(now)
			if r.running.Load() {
				e.fill(now)
				e.flushLocked()
			}
			e.mu.Unlock()
		}
	}
}

func (r *runner) answered() uint64 {
	var n uint64
	for _, e := range r.sw {
		n += e.answered.Load()
	}
	return n
}

func (r *runner) totals(rep *Report) {
	for _, e := range r.sw {
		rep.Answered += e.answered.Load()
		rep.Lost += e.lost.Load()
		rep.FlowMods += e.flowMods.Load()
		rep.PacketOuts += e.packetOuts.Load()
		e.mu.Lock()
		if e.err != nil {
			rep.Errors++
			if rep.FirstError == "" {
				rep.FirstError = e.err.Error()
			}
		}
		e.mu.Unlock()
	}
}

func (r *runner) memory() Memory {
	if r.cfg.PID == 0 {
		return Memory{}
	}
	m, _ := ReadMemory(r.cfg.PID)
	return m
}

// cpu returns the CPU time used so far by the controller (0 without
// Config.PID) and by this process.
func (r *runner) cpu() (controller, generator time.Duration) {
	if r.cfg.PID != 0 {
		controller, _ = ReadCPU(r.cfg.PID)
	}
	generator, _ = ReadCPU(os.Getpid())
	return controller, generator
}

func (r *runner) close() {
	r.closing.Store(true)
	r.running.Store(false)
	for _, e := range r.sw {
		if e != nil {
			e.close()
		}
	}
}

// ports returns n ports numbered from 1.
func ports(n int) []ofp.Port {
	ps := make([]ofp.Port, n)
	for i := range ps {
		no := uint32(i + 1)
		ps[i] = ofp.Port{PortNo: no, HWAddr: net.HardwareAddr{0x02, 0xfe, 0, 0, byte(no >> 8), byte(no)},
			Name: fmt.Sprintf("p%d", no), Curr: 0x820, CurrSpeed: 10000000, MaxSpeed: 10000000}
	}
	return ps
}

// WriteText prints rep for people.
func WriteText(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "mode %s, %d switches, %d in flight per switch\n", rep.Mode, rep.Switches, rep.InFlight)
	fmt.Fprintf(w, "connected %d in %v", rep.Connected, rep.ConnectTime.Round(time.Millisecond))
	if rep.ReadyByTimeout > 0 {
		fmt.Fprintf(w, " (%d ready without a flow-mod or barrier)", rep.ReadyByTimeout)
	}
	fmt.Fprintln(w)
	if len(rep.Rounds) > 0 {
		fmt.Fprintf(w, "responses/s min %.0f median %.0f max %.0f over %d rounds\n", rep.Min, rep.Median, rep.Max, len(rep.Rounds))
	}
	if rep.Mode == Latency {
		fmt.Fprintf(w, "round trip p50 %v p99 %v\n", rep.P50.Round(time.Microsecond), rep.P99.Round(time.Microsecond))
	}
	if rep.Mode != Idle {
		fmt.Fprintf(w, "answered %d lost %d; flow-mods %d packet-outs %d\n", rep.Answered, rep.Lost, rep.FlowMods, rep.PacketOuts)
	}
	if rep.GeneratorCPU > 0 {
		if rep.ControllerCPU > 0 {
			fmt.Fprintf(w, "controller CPU %.2f s (%.1f µs per answer), ", rep.ControllerCPU.Seconds(),
				float64(rep.ControllerCPUPerAns)/1e3)
		}
		fmt.Fprintf(w, "generator CPU %.2f s (%.1f µs per answer) over the rounds\n", rep.GeneratorCPU.Seconds(),
			float64(rep.GeneratorCPUPerAns)/1e3)
	}
	if rep.MemConnected.RSS > 0 {
		fmt.Fprintf(w, "controller resident %.1f MB connected, %.1f MB at the end (peak %.1f MB)\n",
			mb(rep.MemConnected.RSS), mb(rep.MemEnd.RSS), mb(rep.MemEnd.Peak))
	}
	if rep.Errors > 0 {
		fmt.Fprintf(w, "%d switches failed; first: %s\n", rep.Errors, rep.FirstError)
	}
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }
