// hashindex.go owns hashIndex, the open-addressing hash table behind the
// store's point lookups: records by key (ordered.go) and dedupe entries by
// request id (dedupe.go).

package kv

// hashIndex is a set of elements (pointers) with distinct keys, each held
// under a 64-bit hash of its key that the caller computes and passes in.
// Linear probing from slot hash&(len-1); removal shifts the slots that
// follow back into the hole instead of leaving a tombstone, so churn (one
// key in, one out) neither fills the table with dead slots nor makes it
// rebuild: it allocates only when it doubles. The hash sits next to the
// pointer, so a probe reads an element (and its key) only when the hashes
// match, and a removal finds its slot by pointer without reading a key.
//
// Doubling moves every element in one pass (home i becomes i or i+len, so
// the writes run through the new slots nearly in order; 25 to 30 ms per
// million elements as measured here): the caller stalls for it, as the
// applier does for a capture's pass over the records, where a Go map would
// spread its growth out.
//
// Like a Go map, it never shrinks: after a mass delete the slots stay at
// their peak (16 bytes per slot, 2 to 4 slots per element at the peak)
// until the store is restored from an image.
//
// Invariants: n elements, each in one slot; n is at most half of
// len(slots), a power of two, or both are zero; every slot from an
// element's hash&(len-1) up to its own, cyclically, is occupied; no two
// elements have the same key. An empty slot holds the zero E.
type hashIndex[E comparable, K keyOf[E]] struct {
	slots []hashSlot[E]
	n     int
}

type hashSlot[E comparable] struct {
	hash uint64
	e    E
}

// hashIndexMinSlots is the size of the first slots array.
const hashIndexMinSlots = 16

func (t *hashIndex[E, K]) len() int { return t.n }

// find returns the slot of the element with key, whose hash is h, or -1.
func (t *hashIndex[E, K]) find(h uint64, key string) int {
	if len(t.slots) == 0 {
		return -1
	}
	var zero E
	var k K
	m := uint64(len(t.slots) - 1)
	for i := h & m; ; i = (i + 1) & m {
		s := &t.slots[i]
		if s.e == zero {
			return -1
		}
		if s.hash == h && k.keyOf(s.e) == key {
			return int(i)
		}
	}
}

// slotOf returns the slot of e, present under hash h.
func (t *hashIndex[E, K]) slotOf(h uint64, e E) int {
	m := uint64(len(t.slots) - 1)
	i := h & m
	for t.slots[i].e != e {
		i = (i + 1) & m
	}
	return int(i)
}

// at returns the element in slot i.
func (t *hashIndex[E, K]) at(i int) E { return t.slots[i].e }

// set puts e in slot i in the place of an element with the same key.
func (t *hashIndex[E, K]) set(i int, e E) { t.slots[i].e = e }

// insert adds e, whose key (of hash h) is not present, doubling the slots
// first if they would be more than half full.
func (t *hashIndex[E, K]) insert(h uint64, e E) {
	if 2*(t.n+1) > len(t.slots) {
		old := t.slots
		t.slots = make([]hashSlot[E], max(hashIndexMinSlots, 2*len(old)))
		var zero E
		for _, s := range old {
			if s.e != zero {
				t.put(s)
			}
		}
	}
	t.put(hashSlot[E]{hash: h, e: e})
	t.n++
}

// put writes s into the first empty slot from its hash on.
func (t *hashIndex[E, K]) put(s hashSlot[E]) {
	var zero E
	m := uint64(len(t.slots) - 1)
	i := s.hash & m
	for t.slots[i].e != zero {
		i = (i + 1) & m
	}
	t.slots[i] = s
}

// removeAt empties slot i. Each slot that follows, up to the first empty
// one, moves back into the hole when its probe passes the hole (its home
// slot is at or before the hole), so every probe still reaches its element
// before an empty slot.
func (t *hashIndex[E, K]) removeAt(i int) {
	var zero E
	m := uint64(len(t.slots) - 1)
	hole := uint64(i)
	for j := (hole + 1) & m; t.slots[j].e != zero; j = (j + 1) & m {
		// The distance from j's home to j is at least the distance from
		// the hole to j: the hole lies on j's probe.
		if (j-t.slots[j].hash)&m >= (j-hole)&m {
			t.slots[hole] = t.slots[j]
			hole = j
		}
	}
	t.slots[hole] = hashSlot[E]{}
	t.n--
}

// each calls fn for every element, in no particular order.
func (t *hashIndex[E, K]) each(fn func(E)) {
	var zero E
	for _, s := range t.slots {
		if s.e != zero {
			fn(s.e)
		}
	}
}
