// Package apitest provides Fake, an in-memory api.Backend for tests of the
// API, the CLI and the dashboard. It is safe for concurrent use.
package apitest

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"portcullis/internal/api"
)

// Fake is an in-memory api.Backend. Set its exported state with the Set*
// methods; changes through the API (AddBlock, RemoveBlock, ...) update it and
// publish events like the controller would.
type Fake struct {
	mu        sync.Mutex
	now       func() time.Time
	switches  []api.Switch
	hosts     []api.Host
	suspects  []api.Suspect
	blocks    []api.Block
	allow     []api.AllowEntry
	events    []api.Event
	stats     api.Stats
	nextID    int
	nextEvent uint64
	subs      map[int]chan api.Event
	nextSub   int
	calls     []string
	// Err, if set, is returned by every change method.
	err error
}

// New returns an empty Fake whose clock is time.Now.
func New() *Fake {
	return &Fake{now: time.Now, subs: map[int]chan api.Event{}}
}

// Demo returns a Fake with one switch of three ports, three hosts, a suspect,
// a block and an allowlist entry: enough to draw the dashboard.
func Demo() *Fake {
	f := New()
	now := f.now()
	f.SetSwitches([]api.Switch{{
		DPID: api.FormatDPID(1), DatapathID: 1, Address: "127.0.0.1:40000",
		ConnectedSince: now.Add(-time.Hour),
		Ports: []api.Port{
			{Number: 1, Name: "h1-eth", MAC: "02:00:00:00:01:01", State: api.PortUp},
			{Number: 2, Name: "h2-eth", MAC: "02:00:00:00:01:02", State: api.PortUp},
			{Number: 3, Name: "h3-eth", MAC: "02:00:00:00:01:03", State: api.PortUp},
		},
	}})
	f.SetHosts([]api.Host{
		{MAC: "02:00:00:00:00:01", IPs: []string{"10.0.0.1"}, DPID: api.FormatDPID(1), Port: 1, LastSeen: now},
		{MAC: "02:00:00:00:00:02", IPs: []string{"10.0.0.2"}, DPID: api.FormatDPID(1), Port: 2, LastSeen: now},
		{MAC: "02:00:00:00:00:03", IPs: []string{"10.0.0.3"}, DPID: api.FormatDPID(1), Port: 3, LastSeen: now},
	})
	f.SetSuspects([]api.Suspect{{
		DPID: api.FormatDPID(1), Port: 2, MAC: "02:00:00:00:00:02", IPs: []string{"10.0.0.2"},
		Score: 0.5, Kind: "tcp_syn", Failures: 2, Probes: 2, LastSeen: now,
	}})
	f.SetBlocks([]api.Block{{
		ID: "b1", DPID: api.FormatDPID(1), Port: 3, MAC: "02:00:00:00:00:03", IPs: []string{"10.0.0.3"},
		Reason: "port scan", Kind: "tcp_syn", Evidence: []string{"SYN to 10.0.0.1:22 refused"},
		Created: now.Add(-time.Minute), Expires: now.Add(9 * time.Minute), Scope: api.ScopeNetwork,
		Switches: []api.BlockSwitch{
			{DPID: api.FormatDPID(1), State: api.BlockConfirmed, ConfirmedAt: now.Add(-time.Minute)},
			{DPID: api.FormatDPID(2), State: api.BlockPending},
		},
	}})
	f.SetAllowlist([]api.AllowEntry{{ID: "a1", CIDR: mustPrefix("10.0.0.254/32"), Comment: "gateway", Created: now}})
	series := make([]api.StatsPoint, 10)
	for i := range series {
		series[i] = api.StatsPoint{Time: now.Truncate(time.Minute).Add(time.Duration(i-9) * time.Minute),
			PacketIns: uint64(10 + 5*i), Probes: uint64(i * i), Blocks: uint64(i / 5)}
	}
	f.SetStats(api.Stats{Started: now.Add(-time.Hour), Uptime: 3600, PacketIns: 1234, Probes: 56,
		Detections: 1, Blocks: 1, ActiveBlocks: 1, Switches: 1, Series: series})
	return f
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// SetNow replaces the clock (for stamps of new blocks and events).
func (f *Fake) SetNow(now func() time.Time) { f.mu.Lock(); f.now = now; f.mu.Unlock() }

// SetErr makes every change method fail with err (nil to stop).
func (f *Fake) SetErr(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }

// SetSwitches replaces the switches.
func (f *Fake) SetSwitches(s []api.Switch) { f.mu.Lock(); f.switches = slices.Clone(s); f.mu.Unlock() }

// SetHosts replaces the hosts.
func (f *Fake) SetHosts(h []api.Host) { f.mu.Lock(); f.hosts = slices.Clone(h); f.mu.Unlock() }

// SetSuspects replaces the suspects.
func (f *Fake) SetSuspects(s []api.Suspect) { f.mu.Lock(); f.suspects = slices.Clone(s); f.mu.Unlock() }

// SetBlocks replaces the blocks.
func (f *Fake) SetBlocks(b []api.Block) { f.mu.Lock(); f.blocks = slices.Clone(b); f.mu.Unlock() }

// SetAllowlist replaces the allowlist.
func (f *Fake) SetAllowlist(a []api.AllowEntry) {
	f.mu.Lock()
	f.allow = slices.Clone(a)
	f.mu.Unlock()
}

// SetStats replaces the stats.
func (f *Fake) SetStats(s api.Stats) { f.mu.Lock(); f.stats = s; f.mu.Unlock() }

// Calls returns the change calls made so far, as "AddBlock 10.0.0.5 ..." lines.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Subscribers returns the number of live event subscriptions.
func (f *Fake) Subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// Publish records e (assigning ID and Time if zero) and sends it to every
// subscriber, dropping it for a subscriber whose buffer is full. It returns
// the recorded event.
func (f *Fake) Publish(e api.Event) api.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.publishLocked(e)
}

func (f *Fake) publishLocked(e api.Event) api.Event {
	f.nextEvent++
	if e.ID == 0 {
		e.ID = f.nextEvent
	} else if e.ID > f.nextEvent {
		f.nextEvent = e.ID
	}
	if e.Time.IsZero() {
		e.Time = f.now()
	}
	f.events = append(f.events, e)
	for _, ch := range f.subs {
		select {
		case ch <- e:
		default:
		}
	}
	return e
}

// Switches implements api.Backend.
func (f *Fake) Switches() []api.Switch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.switches)
}

// Hosts implements api.Backend.
func (f *Fake) Hosts() []api.Host {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.hosts)
}

// Suspects implements api.Backend.
func (f *Fake) Suspects() []api.Suspect {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.suspects)
}

// Blocks implements api.Backend.
func (f *Fake) Blocks() []api.Block {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.blocks)
}

// AddBlock implements api.Backend.
func (f *Fake) AddBlock(ctx context.Context, req api.BlockRequest) (api.Block, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ip := ""
	if req.IP.IsValid() {
		ip = req.IP.String()
	}
	f.calls = append(f.calls, fmt.Sprintf("AddBlock ip=%s mac=%s duration=%v reason=%q", ip, req.MAC, req.Duration, req.Reason))
	if f.err != nil {
		return api.Block{}, f.err
	}
	f.nextID++
	now := f.now()
	d := req.Duration
	if d == 0 {
		d = 10 * time.Minute
	}
	b := api.Block{ID: "m" + strconv.Itoa(f.nextID), MAC: req.MAC, Reason: req.Reason, Kind: "manual",
		Created: now, Expires: now.Add(d), Scope: api.ScopeNetwork, Switches: []api.BlockSwitch{}}
	if ip != "" {
		b.IPs = []string{ip}
	}
	f.blocks = append(f.blocks, b)
	f.publishLocked(api.Event{Type: "blocked", Severity: "warning", MAC: req.MAC, IP: ip, Kind: "manual",
		BlockID: b.ID, Reason: req.Reason, Message: "blocked by hand"})
	return b, nil
}

// RemoveBlock implements api.Backend.
func (f *Fake) RemoveBlock(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "RemoveBlock "+id)
	if f.err != nil {
		return f.err
	}
	i := slices.IndexFunc(f.blocks, func(b api.Block) bool { return b.ID == id })
	if i < 0 {
		return fmt.Errorf("no block %q: %w", id, api.ErrNotFound)
	}
	b := f.blocks[i]
	f.blocks = slices.Delete(f.blocks, i, i+1)
	ip := ""
	if len(b.IPs) > 0 {
		ip = b.IPs[0]
	}
	f.publishLocked(api.Event{Type: "unblocked", Severity: "info", DPID: b.DPID, Port: b.Port, MAC: b.MAC, IP: ip,
		BlockID: b.ID, Message: "unblocked by hand"})
	return nil
}

// Allowlist implements api.Backend.
func (f *Fake) Allowlist() []api.AllowEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.allow)
}

// AddAllow implements api.Backend.
func (f *Fake) AddAllow(ctx context.Context, e api.AllowEntry) (api.AllowEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("AddAllow cidr=%s ports=%v comment=%q", e.CIDR, e.Ports, e.Comment))
	if f.err != nil {
		return api.AllowEntry{}, f.err
	}
	f.nextID++
	e.ID = "a" + strconv.Itoa(f.nextID+1000)
	e.Created = f.now()
	f.allow = append(f.allow, e)
	return e, nil
}

// RemoveAllow implements api.Backend.
func (f *Fake) RemoveAllow(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "RemoveAllow "+id)
	if f.err != nil {
		return f.err
	}
	i := slices.IndexFunc(f.allow, func(a api.AllowEntry) bool { return a.ID == id })
	if i < 0 {
		return fmt.Errorf("no allowlist entry %q: %w", id, api.ErrNotFound)
	}
	f.allow = slices.Delete(f.allow, i, i+1)
	return nil
}

// Events implements api.Backend.
func (f *Fake) Events(filter api.EventFilter) []api.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(api.FilterEvents(f.events, filter))
}

// SubscribeEvents implements api.Backend.
func (f *Fake) SubscribeEvents() (<-chan api.Event, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan api.Event, 64)
	id := f.nextSub
	f.nextSub++
	f.subs[id] = ch
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			f.mu.Lock()
			delete(f.subs, id)
			f.mu.Unlock()
			close(ch)
		})
	}
}

// Stats implements api.Backend.
func (f *Fake) Stats() api.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stats
	s.Series = slices.Clone(s.Series)
	s.ActiveBlocks = len(f.blocks)
	s.Switches = len(f.switches)
	s.Events = uint64(len(f.events))
	return s
}

var _ api.Backend = (*Fake)(nil)
