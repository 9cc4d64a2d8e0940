package forward

// index is an open-addressing hash index from a key to a slot of the table
// that holds the key (stations, bindings, port records): linear probing, at
// most half full, deletion by backward shift. A slot of the index is 8 bytes,
// the key's 32-bit hash and the table slot plus one (0: empty), so a lookup
// that misses reads one cache line of the index and one that hits that line
// and the entry it names. With no tombstones a table under constant churn
// (every packet-in of portcullis bench learns one station and evicts
// another) keeps its probe lengths; Go's maps spent most of their time there
// (issue 9: map probes and deletions were half of forward's CPU).
//
// It starts empty (no memory) and doubles on demand up to what its table
// has held at most (it does not shrink; tables.forgetAll drops it whole):
// at most twice the table's cap, 64 KB for 4,096 stations. The hash is the
// caller's (seeded per switch for the keys a port can choose: MACs and
// addresses, see Switch.macHash), and the caller probes:
//
//	for p := x.home(h); ; p = x.next(p) {
//		v := x.slots[p]
//		if v == 0 { /* not found */ }
//		if tagOf(v) == h && key(valOf(v)) == k { /* found at p */ }
//	}
type index struct {
	slots []uint64 // len 0 or a power of two
	n     int      // slots in use
}

// minIndex is an index's first size.
const minIndex = 16

func (x *index) home(h uint32) uint32 { return h & uint32(len(x.slots)-1) }

func (x *index) next(p uint32) uint32 { return (p + 1) & uint32(len(x.slots)-1) }

func tagOf(v uint64) uint32 { return uint32(v >> 32) }

func valOf(v uint64) int32 { return int32(uint32(v)) - 1 }

func slotOf(h uint32, val int32) uint64 { return uint64(h)<<32 | uint64(uint32(val+1)) }

// empty reports whether the index holds nothing (lookups must not probe).
func (x *index) empty() bool { return x.n == 0 }

// insert adds val under hash h. The caller knows its key is not in the index.
func (x *index) insert(h uint32, val int32) {
	if 2*(x.n+1) > len(x.slots) {
		x.grow()
	}
	p := x.home(h)
	for x.slots[p] != 0 {
		p = x.next(p)
	}
	x.slots[p] = slotOf(h, val)
	x.n++
}

func (x *index) grow() {
	old := x.slots
	x.slots = make([]uint64, max(minIndex, 2*len(old)))
	for _, v := range old {
		if v != 0 {
			p := x.home(tagOf(v))
			for x.slots[p] != 0 {
				p = x.next(p)
			}
			x.slots[p] = v
		}
	}
}

// remove deletes val, whose key hashes to h; it reports whether val was there.
func (x *index) remove(h uint32, val int32) bool {
	if x.n == 0 {
		return false
	}
	want := slotOf(h, val)
	for p := x.home(h); ; p = x.next(p) {
		switch x.slots[p] {
		case want:
			x.removeAt(p)
			return true
		case 0:
			return false
		}
	}
}

// removeAt empties slot p and moves back the slots after it that their
// probe would no longer reach across the hole (Knuth's algorithm R), so no
// tombstone is left.
func (x *index) removeAt(p uint32) {
	x.n--
	for {
		x.slots[p] = 0
		q := p
		for {
			q = x.next(q)
			v := x.slots[q]
			if v == 0 {
				return
			}
			// v stays if its home lies cyclically in (p, q]: its probe does not pass p.
			h := x.home(tagOf(v))
			if p <= q && p < h && h <= q || p > q && (p < h || h <= q) {
				continue
			}
			x.slots[p] = v
			p = q
			break
		}
	}
}
