package detect

import (
	"math"
	"net/netip"
	"time"

	"portcullis/internal/packet"
)

// Actors.

func (d *Detector) actorFor(now time.Time, src Source, ip netip.Addr) *actor {
	k := actorKey{src: src, ip: ip}
	a, ok := d.actors[k]
	if !ok {
		if d.perSource[src].n >= d.cfg.MaxIPsPerSource {
			d.stats.OverflowFolded++
			k.ip = netip.Addr{}
			a, ok = d.actors[k]
		}
	}
	if !ok {
		if len(d.actors) >= d.cfg.MaxActors {
			d.stats.ActorsEvicted++
			d.release(d.tail)
		}
		a = d.free
		if a != nil {
			d.free = a.next
			gen := a.gen
			*a = actor{}
			a.gen = gen + 1
		} else {
			a = &actor{gen: 1}
		}
		a.key = k
		a.first = now
		d.actors[k] = a
		si := d.perSource[src]
		if k.ip.IsValid() {
			si.n++
		}
		d.perSource[src] = si
	} else {
		d.unlink(a)
	}
	a.last = now
	d.pushFront(a)
	if !a.key.ip.IsValid() {
		d.sampleIP(a, ip)
	}
	return a
}

// forwarder reports whether src's frames carry the traffic of other hosts
// of the given family (4 or 6): a router, or a spoofer. A router's ARP and ND
// lookups resolve next hops for traffic it forwards (in zeek_wikipedia.pcap
// the gateway asks for four silent addresses in ten seconds), so they are not
// sweep evidence. Frames with several source addresses are not enough (a
// spoofer sends them at will): answers to two distinct addresses must also
// have been sent to its MAC from elsewhere (noteRouted).
func (d *Detector) forwarder(src Source, family int) bool {
	e := &d.addrs[srcSlot(src)]
	if !e.used || e.src != src {
		return false
	}
	if family == 4 {
		return e.v4.multi && e.routed4.b.IsValid()
	}
	return e.v6.multi && e.routed6.b.IsValid()
}

// Forwarder reports whether src's frames carried a third distinct IPv4
// address or IPv6 /64: it forwards for other hosts (a router), or spoofs.
// Unlike the lookup exemption (forwarder), it does not ask for answers
// routed back.
func (d *Detector) Forwarder(src Source) bool {
	e := &d.addrs[srcSlot(src)]
	return e.used && e.src == src && (e.v4.multi || e.v6.multi)
}

// noteRouted records that p, which entered at src, was sent to the MAC of
// the Source its destination address was last heard from: an answer routed
// back through that Source, as a router's are. A spoofer's forged source
// addresses are not answered through its MAC (their owners, or nobody,
// answer for them), so its frames carry several addresses but only its own
// is routed back to it.
//
// The order does not matter: a packet sent to a MAC for an address that MAC
// has not carried yet waits in routeAsks (a client's SYN to the gateway for
// a remote server, before the gateway's SYN-ACK from it), and counts once
// frames from that MAC carry the address (creditRouted). The packets after
// an answer often never reach the detector (the ACKs and data of an
// accepted connection go by a bypass flow), so a proof that needed the
// answer first was missed: zeek_wikipedia.pcap's gateway, replayed, was
// blocked as an ARP sweeper now and then for its silent next-hop lookups.
func (d *Detector) noteRouted(now time.Time, src Source, p *packet.Packet) {
	if d.spoofed || p.EthDst[0]&1 != 0 || p.Dst.IsMulticast() || p.Dst.IsLinkLocalUnicast() {
		return
	}
	if p.EthDst == src.MAC {
		return // to itself
	}
	dpid, port, ok := d.heardAt(p.Dst)
	if ok {
		if e := &d.addrs[srcSlot(Source{DPID: dpid, Port: port, MAC: p.EthDst})]; e.used && e.src.DPID == dpid &&
			e.src.Port == port && e.src.MAC == p.EthDst {
			e.addRouted(p.Dst)
			return
		}
	}
	ra := &d.routeAsks[routeAskSlot(p.EthDst, p.Dst)]
	*ra = routeAsk{mac: p.EthDst, ip: p.Dst, from: src, at: now}
}

// creditRouted counts, for src whose frame carries ip as its source, a
// packet sent to src's MAC for ip from another Source before (noteRouted).
func (d *Detector) creditRouted(now time.Time, src Source, ip netip.Addr) {
	if d.spoofed || !ip.IsValid() {
		return
	}
	ra := &d.routeAsks[routeAskSlot(src.MAC, ip)]
	if ra.mac != src.MAC || ra.ip != ip || ra.from == src || now.Sub(ra.at) > routeAskWindow {
		return
	}
	*ra = routeAsk{}
	if e := &d.addrs[srcSlot(src)]; e.used && e.src == src {
		e.addRouted(ip)
	}
}

// addRouted records ip (its /64 for IPv6) as routed back to the Source.
func (e *addrSeen) addRouted(ip netip.Addr) {
	if ip.Is4() || ip.Is4In6() {
		e.routed4.add(ip.Unmap())
		return
	}
	pfx, _ := ip.Prefix(64)
	e.routed6.add(pfx.Addr())
}

// routeAsk is a packet sent to a MAC for an address the MAC had not carried
// (noteRouted): a direct-mapped table, a collision forgets the older one.
type routeAsk struct {
	mac  [6]byte
	ip   netip.Addr
	from Source
	at   time.Time
}

const (
	routeAskSlots  = 1024
	routeAskWindow = 10 * time.Second // an answer comes within it, or the ask is forgotten
)

func routeAskSlot(mac [6]byte, ip netip.Addr) int {
	h := targetHash(ip, 0, 0)
	for _, b := range mac {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return int(h % routeAskSlots)
}

// addrSeen remembers, per Source, the distinct source addresses seen, up to
// the point where they prove the Source forwards for others. A host has one
// IPv4 address (two across a DHCP change) and its IPv6 addresses share one or
// two /64 prefixes (privacy addresses, ULA beside a global prefix), so it
// takes a third distinct IPv4 address or /64 to mark a forwarder; unspecified,
// link-local and multicast sources are ignored. The table is direct-mapped
// and fixed in size: a collision forgets the older Source, which only delays
// router detection.
type addrSeen struct {
	src    Source
	used   bool
	v4, v6 distinct2
	// Destinations of packets sent to this Source's MAC from elsewhere
	// (noteRouted): a router has answers routed back for the addresses it
	// forwards for; two distinct ones are its proof.
	routed4, routed6 distinct2
}

// distinct2 holds up to two values and whether a third was seen.
type distinct2 struct {
	a, b  netip.Addr
	multi bool
}

func (x *distinct2) add(v netip.Addr) {
	switch {
	case x.multi || v == x.a || v == x.b:
	case !x.a.IsValid():
		x.a = v
	case !x.b.IsValid():
		x.b = v
	default:
		x.multi = true
	}
}

const addrSlots = 4096

// Hosts heard from: a direct-mapped table of source addresses and when they
// last sent anything. A collision forgets an address, which only makes a
// timeout count for less (see outcome).
const (
	aliveSlots  = 8192
	aliveWindow = 10 * time.Minute
)

type aliveEntry struct {
	ip   netip.Addr
	last time.Time
	dpid uint64 // where it was last heard from: the port its answers enter at
	port uint32
}

func addrSlot(ip netip.Addr, n int) int {
	return int(targetHash(ip, 0, 0) % uint64(n))
}

func (d *Detector) noteAlive(src Source, ip netip.Addr, now time.Time) {
	if !ip.IsValid() || ip.IsUnspecified() || d.spoofed {
		return
	}
	e := &d.alives[addrSlot(ip, aliveSlots)]
	e.ip, e.last, e.dpid, e.port = ip, now, src.DPID, src.Port
}

// heardAt returns where ip was last heard from, if it was.
func (d *Detector) heardAt(ip netip.Addr) (dpid uint64, port uint32, ok bool) {
	e := &d.alives[addrSlot(ip, aliveSlots)]
	if e.ip != ip || e.last.IsZero() {
		return 0, 0, false
	}
	return e.dpid, e.port, true
}

func (d *Detector) alive(ip netip.Addr, now time.Time) bool {
	e := &d.alives[addrSlot(ip, aliveSlots)]
	return e.ip == ip && now.Sub(e.last) <= aliveWindow
}

func srcSlot(s Source) int {
	h := s.DPID*0x9e3779b97f4a7c15 ^ uint64(s.Port)*0xbf58476d1ce4e5b9
	for _, b := range s.MAC {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return int(h % addrSlots)
}

func (d *Detector) noteAddr(src Source, ip netip.Addr) {
	if d.spoofed || !ip.IsValid() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() || ip.IsMulticast() {
		return
	}
	e := &d.addrs[srcSlot(src)]
	if !e.used || e.src != src {
		*e = addrSeen{src: src, used: true}
	}
	if ip.Is4() || ip.Is4In6() {
		e.v4.add(ip.Unmap())
		return
	}
	pfx, _ := ip.Prefix(64)
	e.v6.add(pfx.Addr())
}

func (d *Detector) sampleIP(a *actor, ip netip.Addr) {
	for _, x := range a.ips[:a.nIPs] {
		if x == ip {
			return
		}
	}
	if a.nIPs < len(a.ips) {
		a.ips[a.nIPs] = ip
		a.nIPs++
	}
}

func (d *Detector) release(a *actor) {
	d.unlink(a)
	delete(d.actors, a.key)
	if si, ok := d.perSource[a.key.src]; ok {
		if a.key.ip.IsValid() {
			si.n--
		}
		d.perSource[a.key.src] = si
		if _, pooled := d.actors[actorKey{src: a.key.src}]; si.n <= 0 && !pooled {
			delete(d.perSource, a.key.src)
		}
	}
	a.gen++ // pending attempts of this actor no longer apply
	a.next = d.free
	d.free = a
}

func (d *Detector) unlink(a *actor) {
	if a.prev != nil {
		a.prev.next = a.next
	} else if d.head == a {
		d.head = a.next
	}
	if a.next != nil {
		a.next.prev = a.prev
	} else if d.tail == a {
		d.tail = a.prev
	}
	a.prev, a.next = nil, nil
}

func (d *Detector) pushFront(a *actor) {
	a.prev, a.next = nil, d.head
	if d.head != nil {
		d.head.prev = a
	}
	d.head = a
	if d.tail == nil {
		d.tail = a
	}
}

func (d *Detector) actorIPs(a *actor, buf []netip.Addr) []netip.Addr {
	if a.key.ip.IsValid() {
		return append(buf, a.key.ip)
	}
	return append(buf, a.ips[:a.nIPs]...)
}

// findWalk returns a's walk for k, or nil.
func (d *Detector) findWalk(a *actor, k walkKey) *walk {
	for i := range a.walks {
		if a.walks[i].key == k {
			return &a.walks[i]
		}
	}
	return nil
}

// walkFor returns a's walk for k. Service walks and host walks have their
// own slots (svcWalks and maxWalks-svcWalks), so many hosts cannot push out
// the walk of the one port they share. When all of a dimension's slots are
// used, the least informative walk (closest to a ratio of 1, then the
// oldest) is replaced: both a scanner's rising walk and a client's earned
// credit are kept.
func (d *Detector) walkFor(a *actor, k walkKey, now time.Time) *walk {
	lo, hi := 0, svcWalks
	if k.dim == dimHost {
		lo, hi = svcWalks, maxWalks
	}
	free := -1
	for i := lo; i < hi; i++ {
		w := &a.walks[i]
		if w.key == k {
			return w
		}
		if free < 0 && w.key.dim == 0 {
			free = i
		}
	}
	if free < 0 {
		free = lo
		for i := lo + 1; i < hi; i++ {
			w, l := &a.walks[i], &a.walks[free]
			if math.Abs(w.llr) < math.Abs(l.llr) || (math.Abs(w.llr) == math.Abs(l.llr) && w.last.Before(l.last)) {
				free = i
			}
		}
	}
	a.walks[free] = walk{key: k, last: now}
	return &a.walks[free]
}

// firstContact records (host, cls, port) as tried by a and reports whether
// it is new. Memory is fixed: two generations of targetGen hashes, the older
// dropped when the newer fills to 3/4.
func (d *Detector) firstContact(a *actor, host netip.Addr, cls uint8, port uint16) bool {
	h := targetHash(host, cls, port)
	for g := range 2 {
		for i, n := h%targetGen, 0; n < targetGen; i, n = (i+1)%targetGen, n+1 {
			switch a.seen[g][i] {
			case h:
				return false
			case 0:
				n = targetGen // not in this generation
			}
		}
	}
	if a.nSeen >= targetGen*3/4 {
		a.seen[1] = a.seen[0]
		a.seen[0] = [targetGen]uint64{}
		a.nSeen = 0
	}
	for i := h % targetGen; ; i = (i + 1) % targetGen {
		if a.seen[0][i] == 0 {
			a.seen[0][i] = h
			a.nSeen++
			return true
		}
	}
}

func targetHash(host netip.Addr, cls uint8, port uint16) uint64 {
	b := host.As16()
	h := uint64(14695981039346656037)
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	h = (h ^ uint64(cls)) * 1099511628211
	h = (h ^ uint64(port)) * 1099511628211
	h = (h ^ uint64(port>>8)) * 1099511628211
	if h == 0 {
		h = 1
	}
	return h
}
