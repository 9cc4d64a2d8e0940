package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/event"
	"portcullis/internal/policy"
	"portcullis/internal/store"
	"portcullis/ofp"
)

// The Controller is the API's Backend.
var _ api.Backend = (*Controller)(nil)

// Switches lists connected switches and their ports.
func (c *Controller) Switches() []api.Switch {
	sws := c.sessionsSnapshot()
	out := make([]api.Switch, 0, len(sws))
	for _, sw := range sws {
		s := api.Switch{DPID: fmtDPID(sw.dpid), DatapathID: sw.dpid, Address: sw.sess.RemoteAddr().String(),
			ConnectedSince: sw.sess.ConnectedAt(), Ports: []api.Port{}}
		for _, p := range sw.sess.Ports() {
			st := api.PortUp
			if p.Config&ofp.PortConfigPortDown != 0 || p.State&ofp.PortStateLinkDown != 0 {
				st = api.PortDown
			}
			s.Ports = append(s.Ports, api.Port{Number: p.PortNo, Name: p.Name, MAC: p.HWAddr.String(), State: st})
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b api.Switch) int { return cmpU64(a.DatapathID, b.DatapathID) })
	return out
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Hosts lists the hosts learned on every switch, by datapath id
// (HostsFiltered, periodic_api.go).
func (c *Controller) Hosts() []api.Host {
	hs, _ := c.HostsFiltered(api.HostFilter{})
	return hs
}

// Suspects lists sources with their current detection score, as of a
// detector walk at most suspectsFresh old (periodic_api.go).
func (c *Controller) Suspects() []api.Suspect { return c.suspects() }

func blockDTO(r policy.BlockRecord) api.Block {
	b := r.Block
	out := api.Block{ID: b.ID, Port: b.Source.Port, IPs: addrStrings(r.AllIPs), Reason: b.Reason, Kind: b.Kind,
		Evidence: r.Evidence, Created: b.Created, Expires: b.Expires, Level: b.Level, Scope: b.Scope.String()}
	if b.Source.DPID != 0 {
		out.DPID = fmtDPID(b.Source.DPID)
	}
	if b.Source.MAC != ([6]byte{}) {
		out.MAC = macString(b.Source.MAC)
	}
	if len(out.IPs) == 0 {
		out.IPs = addrStrings(b.IPs)
	}
	out.Switches = []api.BlockSwitch{}
	return out
}

// Blocks lists the blocks in force, each with its state on every connected
// switch it has flows on.
func (c *Controller) Blocks() []api.Block {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := c.blockList(ctx)
	if out == nil {
		out = []api.Block{}
	}
	return out
}

// AddBlock blocks a host by IP and/or MAC at an operator's request. The host
// is attributed like a detected scanner: by where it is learned (the engine
// decides; policy.Engine.AddBlock).
func (c *Controller) AddBlock(ctx context.Context, req api.BlockRequest) (api.Block, error) {
	mb := policy.ManualBlock{IP: req.IP, Reason: req.Reason, Duration: req.Duration}
	if req.MAC != "" {
		hw, err := net.ParseMAC(req.MAC)
		if err != nil || len(hw) != 6 {
			return api.Block{}, fmt.Errorf("%w: bad mac %q", api.ErrInvalid, req.MAC)
		}
		copy(mb.MAC[:], hw)
		mb.HasMAC = true
	}
	type result struct {
		b   api.Block
		err error
	}
	done := make(chan result, 1)
	ok := c.post(func(now time.Time) {
		r, err := c.eng.AddBlock(now, mb)
		c.apply(c.runCtx) // its flows are on their way before the API answers
		if err != nil {
			done <- result{err: err}
			return
		}
		d := blockDTO(r)
		d.Switches = switchDTOs(c.eng.Switches(r.Block.ID))
		done <- result{b: d}
	})
	if !ok {
		return api.Block{}, fmt.Errorf("%w: the controller is stopping", api.ErrUnavailable)
	}
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return api.Block{}, fmt.Errorf("%w: %v", api.ErrUnavailable, ctx.Err())
	}
	switch {
	case errors.Is(res.err, policy.ErrNeverBlock):
		return api.Block{}, fmt.Errorf("%w: %s is on the never-block list", api.ErrConflict, req.IP.Unmap())
	case errors.Is(res.err, policy.ErrNoTarget):
		return api.Block{}, fmt.Errorf("%w: give an ip or a mac", api.ErrInvalid)
	case res.err != nil:
		return api.Block{}, res.err
	}
	return res.b, nil
}

// RemoveBlock lifts a block.
func (c *Controller) RemoveBlock(ctx context.Context, id string) error {
	done := make(chan error, 1)
	if !c.post(func(now time.Time) {
		err := c.eng.RemoveBlock(now, id)
		c.apply(c.runCtx) // its flows' deletes are on their way before the API answers
		done <- err
	}) {
		return fmt.Errorf("%w: the controller is stopping", api.ErrUnavailable)
	}
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		return fmt.Errorf("%w: %v", api.ErrUnavailable, ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("%w: no block %q", api.ErrNotFound, id)
	}
	return nil
}

// Allowlist lists allowlist entries (configured and added at run time).
func (c *Controller) Allowlist() []api.AllowEntry {
	c.mu.Lock()
	out := make([]api.AllowEntry, 0, len(c.allow))
	for _, e := range c.allow {
		out = append(out, e)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b api.AllowEntry) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// AddAllow adds an allowlist entry and persists it.
func (c *Controller) AddAllow(ctx context.Context, e api.AllowEntry) (api.AllowEntry, error) {
	if !e.CIDR.IsValid() {
		return api.AllowEntry{}, fmt.Errorf("%w: bad cidr", api.ErrInvalid)
	}
	e.CIDR = e.CIDR.Masked()
	e.ID = newID()
	e.Created = c.now()
	rec := allowRecord{CIDR: e.CIDR.String(), Ports: e.Ports, Comment: e.Comment, Created: e.Created}
	if err := store.PutJSON(c.store, store.BucketAllow, e.ID, rec); err != nil {
		return api.AllowEntry{}, fmt.Errorf("%w: %v", api.ErrUnavailable, err)
	}
	c.mu.Lock()
	c.allow[e.ID] = e
	c.rebuildAllow()
	c.mu.Unlock()
	c.bus.Publish(event.Event{Type: event.AllowAdded, IP: e.CIDR.String(), Message: "allowlisted " + e.CIDR.String()})
	return e, nil
}

// RemoveAllow removes a run-time allowlist entry.
func (c *Controller) RemoveAllow(ctx context.Context, id string) error {
	if strings.HasPrefix(id, "cfg-") {
		return fmt.Errorf("%w: entry %q comes from the config file; edit the file and reload", api.ErrConflict, id)
	}
	c.mu.Lock()
	e, ok := c.allow[id]
	if ok {
		delete(c.allow, id)
		c.rebuildAllow()
	}
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: no allowlist entry %q", api.ErrNotFound, id)
	}
	if err := c.store.Delete(store.BucketAllow, id); err != nil {
		return fmt.Errorf("%w: %v", api.ErrUnavailable, err)
	}
	c.bus.Publish(event.Event{Type: event.AllowRemoved, IP: e.CIDR.String(), Message: "removed allowlist entry " + e.CIDR.String()})
	return nil
}

func eventDTO(e event.Event) api.Event {
	out := api.Event{ID: e.ID, Time: e.Time, Type: string(e.Type), Severity: e.Severity, Port: e.Port, MAC: e.MAC,
		IP: e.IP, IPs: e.IPs, Target: e.Target, Kind: e.Kind, BlockID: e.BlockID, Level: e.Level, Scope: e.Scope,
		Reason: e.Reason, Message: e.Message, Evidence: e.Evidence, Probes: e.Probes, Score: e.Score, Count: e.Count}
	if out.Severity == "" {
		out.Severity = event.DefaultSeverity(e.Type)
	}
	if e.DPID != 0 {
		out.DPID = fmtDPID(e.DPID)
	}
	if e.Expires != nil {
		out.Expires = *e.Expires
	}
	return out
}

// Events returns recent events.
func (c *Controller) Events(f api.EventFilter) []api.Event {
	all := c.bus.Recent(event.Filter{})
	dtos := make([]api.Event, 0, len(all))
	for _, e := range all {
		dtos = append(dtos, eventDTO(e))
	}
	return api.FilterEvents(dtos, f)
}

// SubscribeEvents streams events as they are published.
func (c *Controller) SubscribeEvents() (<-chan api.Event, func()) {
	sub := c.bus.Sub("api-stream", 256)
	out := make(chan api.Event, 64)
	done := make(chan struct{})
	go func() {
		defer close(out)
		for e := range sub.C {
			select {
			case out <- eventDTO(e):
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return out, func() { once.Do(func() { close(done); sub.Close() }) }
}

// Stats returns counters and the per-minute series for the dashboard.
func (c *Controller) Stats() api.Stats {
	now := c.now()
	c.mu.Lock()
	sws := len(c.switches)
	c.mu.Unlock()
	active := int(c.activeN.Load())
	return api.Stats{Started: c.started, Uptime: now.Sub(c.started).Seconds(), PacketIns: c.m.PacketIns.Total(),
		Probes: c.m.probes.Total(), Detections: c.detections.Load(), Blocks: c.blocksN.Load(), ActiveBlocks: active,
		Switches: sws, Events: c.bus.LastID(), Series: c.series.snapshot()}
}

var _ = time.Second

func addrStrings(ips []netip.Addr) []string {
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}
