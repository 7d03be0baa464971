// hashindex_test.go holds hashIndex to a map under random inserts,
// replacements and removals, with hashes narrowed so that probes run long
// and wrap around the end of the slots.

package kv

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// checkHashIndex fails unless t keeps its invariants and holds exactly
// want, each element under hashOf(element).
func checkHashIndex[E comparable, K keyOf[E]](tb testing.TB, step int, t *hashIndex[E, K], want map[string]E, hashOf func(E) uint64) {
	tb.Helper()
	if n := len(t.slots); n&(n-1) != 0 || 2*t.n > n || n == 0 && t.n != 0 {
		tb.Fatalf("step %d: %d slots for %d elements", step, n, t.n)
	}
	var zero E
	var k K
	seen := 0
	m := len(t.slots) - 1
	for i, s := range t.slots {
		if s.e == zero {
			continue
		}
		key := k.keyOf(s.e)
		if want[key] != s.e || s.hash != hashOf(s.e) {
			tb.Fatalf("step %d: slot %d holds %q (hash %#x), not the element wanted under it", step, i, key, s.hash)
		}
		for j := int(s.hash) & m; j != i; j = (j + 1) & m {
			if t.slots[j].e == zero {
				tb.Fatalf("step %d: %q in slot %d, past the empty slot %d", step, key, i, j)
			}
		}
		if f := t.find(s.hash, key); f != i || t.slotOf(s.hash, s.e) != i {
			tb.Fatalf("step %d: %q in slot %d, found in %d", step, key, i, f)
		}
		seen++
	}
	if seen != len(want) || t.n != len(want) {
		tb.Fatalf("step %d: %d elements in the slots, %d counted, want %d", step, seen, t.n, len(want))
	}
}

type testElem struct{ key string }

type testElemKey struct{}

func (testElemKey) keyOf(e *testElem) string { return e.key }

func TestHashIndexMatchesMap(t *testing.T) {
	for _, bits := range []uint{2, 5, 64} {
		t.Run(fmt.Sprintf("hash-bits=%d", bits), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(bits)))
			wrapped := 0 // steps with an element past the end of the slots
			hashes := map[string]uint64{}
			hashOf := func(e *testElem) uint64 { return hashes[e.key] }
			var idx hashIndex[*testElem, testElemKey]
			want := map[string]*testElem{}
			for step := range 8_000 {
				key := fmt.Sprint(rng.IntN(400))
				if _, ok := hashes[key]; !ok {
					// Few distinct hashes, whose homes are the last slots:
					// long probes, which wrap around the end.
					hashes[key] = ^(rng.Uint64() >> (64 - bits))
				}
				h := hashes[key]
				i := idx.find(h, key)
				if (i >= 0) != (want[key] != nil) || i >= 0 && idx.at(i) != want[key] {
					t.Fatalf("step %d: find(%q) = %d, map has %v", step, key, i, want[key])
				}
				switch op := rng.IntN(3); {
				case i < 0 && (op > 0 || step < 2000): // grow for a while, then hold
					e := &testElem{key: key}
					idx.insert(h, e)
					want[key] = e
				case i >= 0 && op == 0:
					e := &testElem{key: key}
					idx.set(i, e)
					want[key] = e
				case i >= 0:
					idx.removeAt(idx.slotOf(h, want[key]))
					delete(want, key)
				}
				checkHashIndex(t, step, &idx, want, hashOf)
				m := len(idx.slots) - 1
				for i, s := range idx.slots {
					if s.e != nil && i < int(s.hash)&m {
						wrapped++
						break
					}
				}
			}
			if bits < 64 && wrapped == 0 {
				t.Fatal("no probe wrapped around the end of the slots")
			}
		})
	}
}
