package forward

import (
	"math/rand/v2"
	"testing"
)

// The index against a Go map under random inserts and removals, with
// hashes drawn from a few values (long clusters that wrap around the end of
// the slots, the backward shift's hard cases) and from many: every value
// stays findable from its home, nothing removed is found, no tombstone is
// left (the slots in use are exactly n), and it stays at most half full.
func TestIndexAgainstMap(t *testing.T) {
	for _, spread := range []uint32{3, 40, 1 << 31} {
		rng := rand.New(rand.NewPCG(1, uint64(spread)))
		var x index
		model := map[int32]uint32{} // value -> hash
		hashOf := func(v int32) uint32 {
			h := uint32(v)*2654435761%spread + uint32(len(x.slots)-1) // near the end: clusters wrap
			return h
		}
		find := func(v int32, h uint32) bool {
			if x.empty() {
				return false
			}
			for p := x.home(h); ; p = x.next(p) {
				s := x.slots[p]
				if s == 0 {
					return false
				}
				if tagOf(s) == h && valOf(s) == v {
					return true
				}
			}
		}
		for step := range 20000 {
			v := int32(rng.IntN(200))
			if h, ok := model[v]; ok {
				if !x.remove(h, v) {
					t.Fatalf("spread %d step %d: %d not removed", spread, step, v)
				}
				delete(model, v)
				if find(v, h) {
					t.Fatalf("spread %d step %d: %d found after its removal", spread, step, v)
				}
			} else {
				h := hashOf(v)
				x.insert(h, v)
				model[v] = h
			}
			if x.n != len(model) {
				t.Fatalf("spread %d step %d: n %d, want %d", spread, step, x.n, len(model))
			}
			if step%97 == 0 || spread == 3 {
				err := checkIndex(&x, func(v int32) (uint32, bool) {
					h, ok := model[v]
					return h, ok
				})
				if err != nil {
					t.Fatalf("spread %d step %d: %v", spread, step, err)
				}
				for v, h := range model {
					if !find(v, h) {
						t.Fatalf("spread %d step %d: %d lost", spread, step, v)
					}
				}
			}
		}
		if x.remove(12345, 999) {
			t.Errorf("spread %d: removed a value never inserted", spread)
		}
	}
}
