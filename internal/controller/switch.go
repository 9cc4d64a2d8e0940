package controller

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"portcullis/internal/detect"
	"portcullis/internal/event"
	"portcullis/internal/forward"
	"portcullis/internal/metrics"
	"portcullis/internal/ofconn"
	"portcullis/internal/packet"
	"portcullis/internal/policy"
	"portcullis/ofp"
)

// switchState is what the controller keeps per connected datapath.
type switchState struct {
	sess  *ofconn.Session
	dpid  uint64
	epoch uint64    // this session's number, for the block engine
	cnt   hotCounts // this session's stripes of the per-message counters

	mu  sync.Mutex // guards everything below
	fwd *forward.Switch
	pkt packet.Packet
	out []ofp.Message

	badFrames uint64
	udp       udpPairs        // recent UDP first packets, for bypass decisions
	acks      udpPairs        // recent pure ACKs outside bypassed conversations
	echoes    udpPairs        // recent echo requests, for echo bypasses (bypass.go)
	fcPorts   map[uint32]bool // ports with a first-contact meter (policy.FirstContactFlows)
	synPorts  map[uint32]bool // ports with SYN counter flows (policy.SYNCountFlows)
	spoofs    spoofReports    // recent MAC spoofs reported (spoof.go)
	fcGen     uint64          // firstContactAdd calls: ports (re)armed
	exempted  exemptMark      // what exemptProtectedPorts last walked
	holds     holdTable       // suspects whose SYNs the switch holds (hold.go)

	meters meterReadings // the last meter reading (pollMeters' goroutine only)

	synPolling atomic.Bool // a SYN counter request is in flight
}

// lookup returns the state of a connected switch's session, or nil: the
// state attached to the session in Connected (the per-message path takes
// no lock shared by all switches). c.switches, under c.mu, lists them for
// the periodic work.
func (c *Controller) lookup(s *ofconn.Session) *switchState {
	sw, _ := s.Attached().(*switchState)
	return sw
}

// Connected installs the pipeline on a switch that finished its handshake,
// then reconciles block flows by cookie (ours removed if stale, missing ones
// added) and confirms with a barrier.
func (c *Controller) Connected(s *ofconn.Session) {
	if c.ha != nil && c.haConnected(s) {
		return // cluster.go: set up once this instance is the switch's master
	}
	c.setUp(s)
}

func (c *Controller) setUp(s *ofconn.Session) {
	sw := &switchState{sess: s, dpid: s.DPID(), epoch: c.epochs.Add(1), fwd: forward.NewSwitch(c.fwdCfg),
		out: make([]ofp.Message, 0, 8), fcPorts: map[uint32]bool{}, synPorts: map[uint32]bool{}}
	sw.cnt = c.m.stripes(sw.epoch)
	sw.mu.Lock()
	msgs := sw.fwd.Setup()
	msgs = append(msgs, policy.WatchFlows(c.watchCfg)...)
	msgs = append(msgs, policy.SYNCountReset())
	for _, p := range s.Ports() {
		msgs = append(msgs, c.replyAdd(p)...) // its meter first: the refusal budget copies through it
		msgs = append(msgs, c.firstContactAdd(sw, p)...)
	}
	err := c.sendTo(s, msgs...)
	sw.mu.Unlock()
	if err != nil {
		s.Logger().Error("pipeline setup failed", "err", err)
		s.Close(err)
		return
	}
	c.mu.Lock()
	if old := c.byDPID[sw.dpid]; old != nil {
		delete(c.switches, old.sess)
		old.sess.Attach(nil)
	}
	sw.fwd.SetIdleTimeout(c.fwdIdle) // a reload may have changed it since NewSwitch (reload.go)
	c.switches[s] = sw
	s.Attach(sw)
	c.byDPID[sw.dpid] = sw
	n := len(c.switches)
	c.mu.Unlock()
	c.m.SwitchesConnected.Set(float64(n))
	// The engine reconciles the switch's block flows (policy/engine_sync.go)
	// and starts its SYN counters afresh (their flows went with SYNCountReset).
	addr := s.RemoteAddr().String()
	c.post(func(now time.Time) { c.eng.SwitchConnected(now, sw.dpid, sw.epoch, addr) })
}

// Disconnected forgets a switch whose session ended.
func (c *Controller) Disconnected(s *ofconn.Session, err error) {
	if c.ha != nil {
		c.haDisconnected(s)
	}
	c.mu.Lock()
	sw := c.switches[s]
	delete(c.switches, s)
	s.Attach(nil)
	if sw != nil && c.byDPID[sw.dpid] == sw {
		delete(c.byDPID, sw.dpid)
	}
	n := len(c.switches)
	c.mu.Unlock()
	c.m.SwitchesConnected.Set(float64(n))
	if sw == nil {
		return
	}
	c.post(func(time.Time) {
		c.synTop.forget(sw.dpid)
		c.eng.SwitchDisconnected(sw.dpid, sw.epoch)
	})
	msg := "switch " + fmtDPID(sw.dpid) + " disconnected"
	if err != nil {
		msg += ": " + err.Error()
	}
	s.Logger().Info("switch disconnected", "err", err)
	c.bus.Publish(event.Event{Type: event.SwitchDown, DPID: sw.dpid, Message: msg})
}

// Message handles one asynchronous message on the switch's reader goroutine.
// It is the hot path for PACKET_IN.
func (c *Controller) Message(s *ofconn.Session, xid uint32, m ofp.Message) {
	sw := c.lookup(s)
	if sw == nil {
		return
	}
	sw.cnt.messages.Inc(metrics.MessageIndex(uint8(m.Type()), false))
	switch m := m.(type) {
	case *ofp.PacketIn:
		c.packetIn(sw, m)
	case *ofp.PortStatus:
		sw.mu.Lock()
		gone := macsAt(sw, m.Port.PortNo)
		sw.out = sw.fwd.PortStatus(c.now(), m, sw.out[:0])
		moved := false
		if _, still := sw.fwd.PortOf(firstMAC(gone)); len(gone) > 0 && !still {
			moved = true
		}
		switch m.Reason {
		case ofp.PortReasonAdd:
			sw.out = append(sw.out, c.replyAdd(m.Port)...)
			sw.out = append(sw.out, c.firstContactAdd(sw, m.Port)...)
		case ofp.PortReasonDelete:
			sw.out = append(sw.out, policy.ReplyDelete(m.Port.PortNo)...)
			if sw.fcPorts[m.Port.PortNo] {
				delete(sw.fcPorts, m.Port.PortNo)
				sw.out = append(sw.out, policy.FirstContactDelete(m.Port.PortNo)...)
				sw.out = append(sw.out, policy.LookupDelete(m.Port.PortNo)...)
			}
			sw.out = append(sw.out, c.synCountDelete(sw, m.Port.PortNo)...)
		}
		c.send(sw)
		sw.mu.Unlock()
		if moved {
			// The stations may have moved: the engine releases their homes
			// elsewhere and lifts their mac-spoof blocks (policy.Engine.PortDown).
			c.post(func(now time.Time) { c.eng.PortDown(now, sw.dpid, gone) })
		}
	case *ofp.FlowRemoved:
		sw.mu.Lock()
		sw.out = sw.fwd.FlowRemoved(c.now(), m, sw.out[:0])
		c.send(sw)
		sw.mu.Unlock()
	case *ofp.Error:
		c.m.Errors.WithLabelValues(m.ErrType.String()).Inc()
		s.Logger().Warn("switch reported an error", "xid", xid, "error", m.Error())
		c.haSwitchError(s, m)
	}
}

// firstContactAdd returns the first-contact meter and flows, the probe
// budgets and the SYN counter flows for a port, each unless its feature is
// off, or none if the port is exempt by name. Must hold sw.mu.
func (c *Controller) firstContactAdd(sw *switchState, p ofp.Port) []ofp.Message {
	m := c.cfg.Meters
	if slices.Contains(m.FirstContactExempt, p.Name) {
		return nil
	}
	var msgs []ofp.Message
	if m.FirstContactRate != 0 {
		msgs = policy.FirstContactFlows(p.PortNo, m.FirstContact())
	}
	msgs = append(msgs, policy.BudgetFlows(p.PortNo, m.Budget())...)
	msgs = append(msgs, policy.LookupFlows(p.PortNo, policy.LookupConfig{})...) // issue 8: sweeps (policy/lookupbudget.go)
	if msgs != nil {
		sw.fcPorts[p.PortNo] = true // policy.FirstContactDelete removes both
	}
	sw.fcGen++
	return append(msgs, c.synCountAdd(sw, p.PortNo)...)
}

// exemptProtectedPorts lifts the first-contact meter from ports behind which
// a never-block host (a gateway, a DNS server) lives: their connection
// attempts are other people's, many and legitimate.
func (c *Controller) exemptProtectedPorts() {
	if c.never.Load().Len() == 0 {
		return
	}
	never := c.never.Load()
	for _, sw := range c.sessionsSnapshot() {
		sw.mu.Lock()
		// Walk a switch's hosts only when an address was bound to a
		// station, a port got its meters, or the list changed since the
		// last walk: not every switch's every host every 2 seconds.
		if mark := (exemptMark{never, sw.fwd.Stats().Bound, sw.fcGen}); mark == sw.exempted {
			sw.mu.Unlock()
			continue
		} else {
			sw.exempted = mark
		}
		if len(sw.fcPorts) > 0 || len(sw.synPorts) > 0 {
			// The addresses in place, not a copy of the table (forward.Switch.EachAddr).
			sw.fwd.EachAddr(func(port uint32, mac [6]byte, ip netip.Addr) bool {
				if !sw.fcPorts[port] && !sw.synPorts[port] || !never.ContainsAddr(ip) {
					return true
				}
				// Only an address the switch vouches for (not one the station used while a
				// station at another port used it too: forward.Switch.IPLivesAt).
				if p, m, ok := sw.fwd.IPLivesAt(ip); ok && p == port && m == mac {
					if sw.fcPorts[port] {
						delete(sw.fcPorts, port)
						sw.out = append(sw.out, policy.FirstContactDelete(port)...)
						sw.out = append(sw.out, policy.LookupDelete(port)...)
					}
					sw.out = append(sw.out, c.synCountDelete(sw, port)...)
					sw.sess.Logger().Info("first-contact meter and SYN counter lifted: a never-block host lives behind the port",
						"port", port, "ip", ip.String())
				}
				return true
			})
			c.send(sw)
		}
		sw.mu.Unlock()
	}
}

// exemptMark is the state exemptProtectedPorts walked a switch in: the
// never-block list, the switch's address bindings and port arming.
type exemptMark struct {
	never *policy.Allowlist
	bound uint64
	fcGen uint64
}

// send flushes sw.out to the switch. Must hold sw.mu.
func (c *Controller) send(sw *switchState) {
	if len(sw.out) == 0 {
		return
	}
	if err := countSent(sw.sess, sw.cnt.messages, sw.out); err != nil {
		c.m.Errors.WithLabelValues("send").Inc()
	}
	clear(sw.out)
	sw.out = sw.out[:0]
	// Send encoded them: forward's flow-mods are free for its next ones
	// (forward.Switch.Recycle), so learning allocates nothing.
	sw.fwd.Recycle()
}

func (c *Controller) packetIn(sw *switchState, pi *ofp.PacketIn) {
	sw.cnt.packetIns.Inc(metrics.PacketInIndex(pi.Reason, pi.TableID))
	now := c.now()
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if err := packet.Parse(pi.Data, &sw.pkt); err != nil {
		sw.badFrames++
		return
	}
	sw.out = sw.fwd.PacketIn(now, pi, &sw.pkt, sw.out[:0])
	c.send(sw)
	inPort, ok := pi.Match.InPort()
	if !ok {
		return
	}
	p := &sw.pkt
	// Evidence counts only where it entered (docs/pipeline.md "IP
	// attribution"): is the packet's source where it entered?
	srcIP := p.Src
	if p.EthType == packet.EthTypeARP {
		srcIP = p.ARPSenderIP
	}
	attr := sw.fwd.Attribute(now, inPort, p.EthSrc, srcIP)
	if attr == forward.AttrMACElsewhere {
		c.macSpoof(sw, now, inPort, p.EthSrc)
	}
	if attr.Spoofed() {
		c.m.spoofed.Add(1)
	}
	if pi.TableID != forward.TableWatch {
		return
	}
	if attr == forward.AttrHere {
		// Only an answer from where its sender lives opens a bypass.
		switch {
		case p.Proto == 17 && !p.Fragment:
			c.udpBypass(sw, now, inPort, p)
		case p.Proto == 6 && p.TCPFlags&0x17 == 0x12: // SYN+ACK, no RST/FIN: accepted
			c.tcpBypass(sw, inPort, p)
		case p.Proto == 6 && p.TCPFlags&0x1f7 == 0x10: // ACK, with or without PSH
			c.ackBypass(sw, now, inPort, p)
		case (p.Proto == 1 || p.Proto == 58) && !p.Fragment:
			c.echoBypass(sw, now, inPort, p)
		}
	}
	if c.exempt(p) {
		c.holdExempt(sw, pi, inPort)
		return
	}
	src := detect.Source{DPID: sw.dpid, Port: inPort, MAC: p.EthSrc}
	var v detect.Verdict
	var decided bool
	if attr.Spoofed() {
		v, decided = c.det.ObserveSpoofed(now, src, p)
	} else {
		v, decided = c.det.Observe(now, src, p)
	}
	sw.cnt.probes.Inc(0)
	if decided {
		c.queueVerdict(v)
		c.holdVerdict(sw, now, v)
	}
	c.holdSYN(sw, now, pi, inPort, src, decided)
}

// exempt reports whether a copied packet is a probe from an allowlisted
// source (to an allowlisted port). Replies are never exempt: they are the
// outcome signal for other sources' attempts.
func (c *Controller) exempt(p *packet.Packet) bool {
	al := c.allowSet.Load()
	if al == nil || al.Len() == 0 || !p.Src.IsValid() {
		return false
	}
	if p.Proto == 6 && p.TCPFlags&0x14 != 0 { // ACK or RST: a reply
		return false
	}
	return al.Contains(p.Src, p.DstPort)
}

// sessions returns the connected switches.
func (c *Controller) sessionsSnapshot() []*switchState {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*switchState, 0, len(c.switches))
	for _, sw := range c.switches {
		out = append(out, sw)
	}
	return out
}

// locateIP finds where an address is known to live (seen from exactly one
// port and MAC).
func (c *Controller) locateIP(ip netip.Addr) (dpid uint64, port uint32, mac [6]byte, ok bool) {
	for _, sw := range c.sessionsSnapshot() {
		sw.mu.Lock()
		p, m, found := sw.fwd.IPLivesAt(ip)
		sw.mu.Unlock()
		if found {
			return sw.dpid, p, m, true
		}
	}
	return 0, 0, mac, false
}
