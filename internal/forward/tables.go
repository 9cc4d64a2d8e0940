package forward

import "hash/maphash"

// The tables of a Switch: stations, address bindings and the ports they are
// learned at, each a slice of fixed-size slots with an index (index.go) and
// intrusive lists on slot numbers. No slot holds a pointer (flowbuf.go), a
// station or a binding is one 64-byte cache line, and learning a station
// into a full table (evict one, learn one: portcullis bench's every
// packet-in) touches a few lines of memory and no Go map:
//
//	stations  ents[i]   by MAC: macIdx; on its port's list by last seen (prev, next),
//	                    its bindings on a list of their own (ips, ipBind.sib)
//	bindings  binds[j]  by address: ipIdx; on the list of all bindings by last seen
//	                    (prev, next: the full index evicts the oldest), owner: its station
//	ports     ports[r]  by port number: portIdx; how many stations, their list's ends
//
// Free slots of each table are on a list of their own (through next, or
// head for ports) and hold a zero key. Every table starts empty and grows on
// demand up to its cap (Config.MaxHosts stations, IPsPerHost addresses per
// station), so an idle switch holds none of it.

const none = -1

// Move-check states of a station (entry.move; see Switch.elsewhere).
const (
	moveNone      = iota
	moveChecking  // a check runs until moveAt
	moveConfirmed // the last check found the station at home at moveAt
)

// entry is a learned station, 64 bytes. Times are Unix nanoseconds (0: none).
type entry struct {
	mac       [6]byte
	nips      uint8 // bindings on its list, at most IPsPerHost
	move      uint8 // moveNone, moveChecking or moveConfirmed
	port      uint32
	prev      int32  // its port's list, most recently seen first
	next      int32  // (free slots: the next free one)
	ips       int32  // its newest binding (then ipBind.sib), none
	rec       int32  // its port's record in Switch.ports
	hash      uint32 // macHash(mac), for its removal from macIdx
	lastSeen  int64
	learned   int64 // when it was learned on this port
	installed int64 // 0: no flows in the switch (expired or never installed)
	moveAt    int64 // see move
}

// ipBind is an address's home, 64 bytes. No pointer.
type ipBind struct {
	key      addrKey
	mac      [6]byte
	disputed bool // a station at another port used the address too while the home was only taught by use (see IPLivesAt)
	_        uint8
	port     uint32
	prev     int32  // the list of bindings, most recently seen first
	next     int32  // (free slots: the next free one)
	sib      int32  // the owner's next (older) binding, none
	owner    int32  // the station it is bound to: ents[owner] has mac and port
	hash     uint32 // addrHash(key), for its removal from ipIdx
	seen     int64
	// confirmed is when the owner last answered, from this address, traffic
	// the switch delivered to it (answers.go); 0: the home was taught by use.
	confirmed int64
}

// portRec counts the stations learned at a port and holds the ends of their list.
type portRec struct {
	port       uint32
	n          int32 // stations; 0: the record is free (head: the next free one)
	head, tail int32 // most and least recently seen station
	tailSeen   int64 // when the tail was last seen, so that victim reads no station
}

// tables is the state of a Switch's tables (see above).
type tables struct {
	seed    maphash.Seed // of macIdx and ipIdx: the keys a port chooses must not choose their slots
	ents    []entry
	macIdx  index
	efree   int32
	binds   []ipBind
	ipIdx   index
	bfree   int32
	bhead   int32 // binding seen most recently
	btail   int32 // binding seen least recently
	ports   []portRec
	portIdx index
	pfree   int32
}

// forgetAll forgets every station, binding and port, and the memory that held them.
func (t *tables) forgetAll() {
	seed := t.seed
	*t = tables{seed: seed, efree: none, bfree: none, bhead: none, btail: none, pfree: none}
}

func (t *tables) macHash(mac *[6]byte) uint32 { return uint32(maphash.Bytes(t.seed, mac[:])) }

func (t *tables) addrHash(k *addrKey) uint32 { return uint32(maphash.Bytes(t.seed, k[:])) }

// portHash spreads port numbers (the switch's own, not a packet's: no seed).
func portHash(p uint32) uint32 { return uint32(uint64(p) * 0x9e3779b97f4a7c15 >> 32) }

// hosts is how many stations are learned.
func (t *tables) hosts() int { return t.macIdx.n }

// ---- stations ----

// find returns mac's station.
func (t *tables) find(mac [6]byte) (int32, bool) {
	return t.findHashed(mac, t.macHash(&mac))
}

func (t *tables) findHashed(mac [6]byte, h uint32) (int32, bool) {
	if t.macIdx.empty() {
		return none, false
	}
	x := &t.macIdx
	for p := x.home(h); ; p = x.next(p) {
		v := x.slots[p]
		if v == 0 {
			return none, false
		}
		if tagOf(v) == h && t.ents[valOf(v)].mac == mac {
			return valOf(v), true
		}
	}
}

// learn adds a station (the caller made room: hosts() < cap) and returns its slot.
func (t *tables) learn(mac [6]byte, h uint32, port uint32, now int64, capacity int) int32 {
	i := t.efree
	if i != none {
		t.efree = t.ents[i].next
	} else {
		t.ents = grow(t.ents, capacity)
		i = int32(len(t.ents) - 1)
	}
	r := t.portRecord(port)
	t.ents[i] = entry{mac: mac, port: port, lastSeen: now, learned: now, installed: now, ips: none, rec: r, hash: h, prev: none, next: none}
	t.macIdx.insert(h, i)
	t.ports[r].n++
	t.pushFront(i)
	return i
}

// forget removes station i, its bindings too, and frees its slot.
func (t *tables) forget(i int32) {
	e := &t.ents[i]
	t.dropIPs(i)
	t.unlink(i)
	r := e.rec
	if t.ports[r].n--; t.ports[r].n == 0 {
		t.freePort(r)
	}
	t.macIdx.remove(e.hash, i)
	*e = entry{next: t.efree}
	t.efree = i
}

func (t *tables) touch(i int32, now int64) {
	e := &t.ents[i]
	e.lastSeen = now
	switch pr := &t.ports[e.rec]; {
	case pr.head != i:
		t.unlink(i)
		t.pushFront(i)
	case pr.tail == i: // the port's only station
		pr.tailSeen = now
	}
}

func (t *tables) unlink(i int32) {
	e := &t.ents[i]
	pr := &t.ports[e.rec]
	if e.prev != none {
		t.ents[e.prev].next = e.next
	} else {
		pr.head = e.next
	}
	if e.next != none {
		t.ents[e.next].prev = e.prev
	} else {
		pr.tail = e.prev
		if e.prev != none {
			pr.tailSeen = t.ents[e.prev].lastSeen
		}
	}
	e.prev, e.next = none, none
}

func (t *tables) pushFront(i int32) {
	e := &t.ents[i]
	pr := &t.ports[e.rec]
	e.prev, e.next = none, pr.head
	if pr.head != none {
		t.ents[pr.head].prev = i
	}
	pr.head = i
	if pr.tail == none {
		pr.tail, pr.tailSeen = i, e.lastSeen
	}
}

// victim is the station a full table evicts to learn one at port learner:
// the least recently seen station of the port that holds the most; of ports
// that hold as many, the learner's own, else the one whose least recently
// seen station is the oldest (then the lowest port number). A flood of
// forged source MACs from one port therefore takes quiet ports' stations
// only while another port holds more than the flooder, and its own from the
// moment it holds as many as any: a port keeps at least as many stations as
// the flooder holds (of a full table of two ports, half), so its stations'
// addresses do not all go, free for the flooder to claim (Attribute would
// then call the real owner's answers spoofed). With the ports balanced it is
// the least recently seen station of all. It reads the port records only.
func (t *tables) victim(learner uint32) int32 {
	var most int32
	for r := range t.ports {
		most = max(most, t.ports[r].n)
	}
	best := int32(none)
	var bestSeen int64
	for r := range t.ports {
		pr := &t.ports[r]
		if pr.n != most || most == 0 {
			continue
		}
		if pr.port == learner {
			return pr.tail
		}
		seen := pr.tailSeen
		if best == none || seen < bestSeen || seen == bestSeen && pr.port < t.ports[best].port {
			best, bestSeen = int32(r), seen
		}
	}
	if best == none {
		return none
	}
	return t.ports[best].tail
}

// grow returns s with one more slot: in place if there is room, else in an
// array half again as large, up to capacity slots (a table that doubles
// leaves up to half its slots unused: slices.Grow made 7,296 for 4,096
// bindings).
func grow[T any](s []T, capacity int) []T {
	if len(s) < cap(s) {
		return s[:len(s)+1]
	}
	n := make([]T, len(s)+1, max(len(s)+1, min(capacity, max(16, cap(s)+cap(s)/2))))
	copy(n, s)
	return n
}

// ---- ports ----

// portRecord returns port's record, made if the port holds no station yet.
func (t *tables) portRecord(port uint32) int32 {
	h := portHash(port)
	if r, ok := t.portAt(port, h); ok {
		return r
	}
	r := t.pfree
	if r != none {
		t.pfree = t.ports[r].head
	} else {
		t.ports = append(t.ports, portRec{})
		r = int32(len(t.ports) - 1)
	}
	t.ports[r] = portRec{port: port, head: none, tail: none}
	t.portIdx.insert(h, r)
	return r
}

func (t *tables) portAt(port, h uint32) (int32, bool) {
	if t.portIdx.empty() {
		return none, false
	}
	x := &t.portIdx
	for p := x.home(h); ; p = x.next(p) {
		v := x.slots[p]
		if v == 0 {
			return none, false
		}
		if r := valOf(v); tagOf(v) == h && t.ports[r].port == port {
			return r, true
		}
	}
}

// freePort frees record r, which holds no station.
func (t *tables) freePort(r int32) {
	pr := &t.ports[r]
	t.portIdx.remove(portHash(pr.port), r)
	*pr = portRec{head: t.pfree, tail: none}
	t.pfree = r
}

// at returns the record of port, if a station is learned there.
func (t *tables) at(port uint32) (*portRec, bool) {
	r, ok := t.portAt(port, portHash(port))
	if !ok {
		return nil, false
	}
	return &t.ports[r], true
}

// ---- bindings ----

// findBind returns address k's binding.
func (t *tables) findBind(k *addrKey, h uint32) (int32, bool) {
	if t.ipIdx.empty() {
		return none, false
	}
	x := &t.ipIdx
	for p := x.home(h); ; p = x.next(p) {
		v := x.slots[p]
		if v == 0 {
			return none, false
		}
		if tagOf(v) == h && t.binds[valOf(v)].key == *k {
			return valOf(v), true
		}
	}
}

// newBind adds address k's binding (the caller made room: ipIdx.n < cap),
// first on the list by last seen and not yet listed by any station.
func (t *tables) newBind(k *addrKey, h uint32, capacity int) int32 {
	j := t.bfree
	if j != none {
		t.bfree = t.binds[j].next
	} else {
		t.binds = grow(t.binds, capacity)
		j = int32(len(t.binds) - 1)
	}
	t.binds[j] = ipBind{key: *k, hash: h, owner: none, sib: none, prev: none, next: none}
	t.bindPush(j)
	t.ipIdx.insert(h, j)
	return j
}

// dropBind forgets binding j: out of the index and the list, its slot
// free. The caller took it off its owner's list.
func (t *tables) dropBind(j int32) {
	b := &t.binds[j]
	t.ipIdx.remove(b.hash, j)
	t.bindUnlink(j)
	*b = ipBind{next: t.bfree}
	t.bfree = j
}

// listIP puts binding j (listed by no station) first on station i's list,
// and drops i's oldest binding if it then has more than IPsPerHost.
func (t *tables) listIP(i, j int32) {
	e := &t.ents[i]
	b := &t.binds[j]
	b.owner, b.mac, b.port, b.sib = i, e.mac, e.port, e.ips
	e.ips = j
	if e.nips++; int(e.nips) <= IPsPerHost {
		return
	}
	last := j // the IPsPerHost-th binding: its sib is the oldest
	for range IPsPerHost - 1 {
		last = t.binds[last].sib
	}
	old := t.binds[last].sib
	t.binds[last].sib = none
	e.nips--
	t.dropBind(old)
}

// frontIP moves binding j, on station i's list, to the list's head: the
// address i used last is the last one its list drops (listIP).
func (t *tables) frontIP(i, j int32) {
	e := &t.ents[i]
	for p := &e.ips; *p != none; p = &t.binds[*p].sib {
		if *p == j {
			*p = t.binds[j].sib
			t.binds[j].sib = e.ips
			e.ips = j
			return
		}
	}
}

// unlistIP takes binding j off its owner's list.
func (t *tables) unlistIP(j int32) {
	o := t.binds[j].owner
	if o == none {
		return
	}
	e := &t.ents[o]
	for p := &e.ips; *p != none; p = &t.binds[*p].sib {
		if *p == j {
			*p = t.binds[j].sib
			e.nips--
			break
		}
	}
	t.binds[j].owner, t.binds[j].sib = none, none
}

// dropIPs drops the bindings station i owns (on a move or removal).
func (t *tables) dropIPs(i int32) {
	e := &t.ents[i]
	for j := e.ips; j != none; {
		next := t.binds[j].sib
		t.dropBind(j)
		j = next
	}
	e.ips, e.nips = none, 0
}

func (t *tables) bindUnlink(j int32) {
	b := &t.binds[j]
	if b.prev != none {
		t.binds[b.prev].next = b.next
	} else {
		t.bhead = b.next
	}
	if b.next != none {
		t.binds[b.next].prev = b.prev
	} else {
		t.btail = b.prev
	}
	b.prev, b.next = none, none
}

func (t *tables) bindPush(j int32) {
	b := &t.binds[j]
	b.prev, b.next = none, t.bhead
	if t.bhead != none {
		t.binds[t.bhead].prev = j
	}
	t.bhead = j
	if t.btail == none {
		t.btail = j
	}
}

func (t *tables) bindFront(j int32) {
	if t.bhead != j {
		t.bindUnlink(j)
		t.bindPush(j)
	}
}
