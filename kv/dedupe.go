// dedupe.go owns the replicated request-id table that makes a retried write
// apply once, and its deterministic expiry.

package kv

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"slices"
	"unsafe"
)

// dedupeEntry remembers the result of the command that carried a request id.
// id, result, index and timeMs never change after add, so a capture may read
// them while Apply goes on; hash, next and live are the table's bookkeeping,
// which captures never read.
type dedupeEntry struct {
	id     string
	result result
	index  uint64 // raft index of the command
	timeMs int64  // the command's leader_time_unix_ms; <= 0 means unstamped

	hash uint64       // d.hash(id): the entry's key in byHash
	next *dedupeEntry // the next live entry with the same hash (rare)
	live bool         // in the table; false once removed (the queues drop it lazily)
}

// timeSlot is an entry's place in dedupe.byTime. It carries the sort key, so
// that sifting compares within the heap's array rather than through the
// entry pointers.
type timeSlot struct {
	timeMs int64
	index  uint64
	e      *dedupeEntry
}

// dedupe is the request-id table. It is replicated state: every replica
// applies the same commands, so every replica holds the same table, and the
// table is in the snapshot.
//
// Expiry uses only values carried in the log, never a replica's clock:
//   - by index: an entry expires once the applied index is window or more
//     past the entry's index;
//   - by leader time: an entry expires when a command stamped with leader
//     time T is applied and the entry's stamp is older than T - ttl. The
//     reference is the applying command's own stamp, not a running maximum:
//     a maximum is not in the snapshot image (a restored replica would
//     expire differently from one that never restarted), and a maximum would
//     latch a leader clock that ran ahead, disabling dedupe until real time
//     caught up;
//   - by size: inserting beyond maxEntries evicts the lowest index first.
//
// Entries are added in strictly increasing index order: Apply adds the
// command it applies, above every applied index, and restoreDedupe adds an
// image's entries, which it checks are in increasing index order, to a
// fresh table. So byIndex is a queue in index order, not a heap. Removal
// (expiry by time, eviction, expiry by index) marks the entry dead and
// unlinks it from its chain in byHash; byIndex and byTime drop a dead entry when it
// reaches their front, and compact drops the rest once they outnumber the
// live ones (plus a small slack), which bounds the memory they hold.
//
// The table is keyed by a 64-bit hash of the request id rather than by the
// id: a map of integers is probed without reading the ids' bytes (on a
// removal in particular, whose id is in no cache), and holds no pointer to
// them. Entries whose ids share a hash form a chain in which lookups
// compare the full id, so outcomes do not depend on the hash or its seed,
// which differ between replicas and runs: only the speed does.
//
// Invariants: the chains of byHash hold the live entries (the table), each
// once, each in the chain at its own hash, and e.live is true exactly for
// them; live is their number; byIndex[head:] holds every live entry, in strictly
// increasing index order, and some dead ones; byTime is a min-heap by
// (timeMs, index), unique since indexes are, holding a slot for every live
// stamped entry (timeMs > 0), and for some dead ones; stamped is the number
// of live stamped entries. Expiry and eviction depend on the live entries
// only, so the dead ones change no outcome.
type dedupe struct {
	window     uint64
	ttlMs      int64
	maxEntries int

	byHash  map[uint64]*dedupeEntry // hash -> the first entry of its chain
	live    int
	seed    maphash.Seed
	mask    uint64         // ANDed into every hash: all ones; tests narrow it to force collisions
	byIndex []*dedupeEntry // byIndex[:head] is nil
	head    int
	byTime  []timeSlot
	stamped int

	free []dedupeEntry // entries allocated ahead, dedupeChunk at a time
	// ids holds the bytes of the request ids add copied, dedupeIDBytes at
	// a time; the entries' id strings are made over it (keep).
	// Invariant: ids[:len(ids)] is never written again (add only appends,
	// and a full slab is replaced, never reused), so those strings never
	// change, as Go strings must not.
	ids []byte
}

// dedupeChunk is how many entries add allocates at once. Entries of one
// chunk are added, and so expire, close together: a chunk is not held long
// after its last entry leaves the table (and every capture that holds it).
const dedupeChunk = 64

// dedupeSlack is how many dead entries byIndex and byTime may hold beyond as
// many as the live ones before compact drops them.
const dedupeSlack = 64

// dedupeIDBytes is the size of the slabs add copies request ids into. Like
// the entries of a chunk, the ids of a slab are added, and so expire, close
// together: a slab (2 KiB: about 80 ids of 26 bytes, as clients make them)
// is not held long after its last id leaves the table and every capture
// that holds it.
const dedupeIDBytes = 2048

func newDedupe(window uint64, ttlMs int64, maxEntries int) *dedupe {
	return &dedupe{
		window: window, ttlMs: ttlMs, maxEntries: maxEntries,
		byHash: map[uint64]*dedupeEntry{}, seed: maphash.MakeSeed(), mask: ^uint64(0),
	}
}

// hash returns the key of request id in byHash.
func (d *dedupe) hash(id string) uint64 {
	return maphash.String(d.seed, id) & d.mask
}

// find returns the live entry of request id, or nil.
func (d *dedupe) find(id string) *dedupeEntry {
	for e := d.byHash[d.hash(id)]; e != nil; e = e.next {
		if e.id == id {
			return e
		}
	}
	return nil
}

// lookup returns the remembered result of request id.
func (d *dedupe) lookup(id string) (result, bool) {
	e := d.find(id)
	if e == nil {
		return result{}, false
	}
	return e.result, true
}

// keep returns a copy of id made in the current slab of ids, which is
// one allocation for many ids rather than one each.
func (d *dedupe) keep(id string) string {
	if id == "" {
		return ""
	}
	if len(id) > cap(d.ids)-len(d.ids) {
		d.ids = make([]byte, 0, max(dedupeIDBytes, len(id)))
	}
	start := len(d.ids)
	d.ids = append(d.ids, id...)
	return unsafe.String(&d.ids[start], len(id)) // immutable from now on: see d.ids
}

// add remembers the result of the command at index with request id. The
// caller has checked that id is not present, and index is above the index
// of every entry added before. add keeps a copy of id: the caller's string
// may be a view of bytes that change once add returns.
func (d *dedupe) add(id string, res result, index uint64, timeMs int64) {
	if n := len(d.byIndex); n > d.head && d.byIndex[n-1].index >= index {
		panic(fmt.Sprintf("kv: dedupe entry at index %d added after one at %d (a bug)", index, d.byIndex[n-1].index))
	}
	for d.live >= d.maxEntries {
		e := d.oldest()
		if e == nil {
			break
		}
		d.remove(e)
	}
	if len(d.free) == 0 {
		d.free = make([]dedupeEntry, dedupeChunk)
	}
	e := &d.free[0]
	d.free = d.free[1:]
	h := d.hash(id)
	*e = dedupeEntry{id: d.keep(id), result: res, index: index, timeMs: timeMs, hash: h, next: d.byHash[h], live: true}
	d.byHash[h] = e
	d.live++
	d.byIndex = append(d.byIndex, e)
	if timeMs > 0 {
		d.pushTime(timeSlot{timeMs: timeMs, index: index, e: e})
		d.stamped++
	}
	d.compact()
}

// expire drops the entries that have expired at applied index idx, given the
// leader time stamped on the command being applied (<= 0: none).
func (d *dedupe) expire(idx uint64, leaderTimeMs int64) {
	// idx >= e.index always holds: entries come from applied commands.
	for e := d.oldest(); e != nil && idx-e.index >= d.window; e = d.oldest() {
		d.remove(e)
	}
	if leaderTimeMs > 0 {
		// leaderTimeMs > 0 and ttlMs > 0, so the subtraction cannot overflow.
		horizon := leaderTimeMs - d.ttlMs
		for len(d.byTime) > 0 {
			top := d.byTime[0]
			live := top.e.live
			if live && top.timeMs >= horizon {
				break // every other live stamped entry is at or after top
			}
			d.popTime()
			if live {
				d.remove(top.e)
			}
		}
	}
	d.compact()
}

// oldest returns the live entry of lowest index, dropping the dead entries
// before it from byIndex; nil when the table is empty.
func (d *dedupe) oldest() *dedupeEntry {
	for d.head < len(d.byIndex) {
		e := d.byIndex[d.head]
		if e.live {
			return e
		}
		d.byIndex[d.head] = nil
		d.head++
	}
	return nil
}

// remove takes the live entry e out of the table; byIndex and byTime drop
// it later.
func (d *dedupe) remove(e *dedupeEntry) {
	switch first := d.byHash[e.hash]; {
	case first == e && e.next == nil:
		delete(d.byHash, e.hash)
	case first == e:
		d.byHash[e.hash] = e.next
	default:
		p := first
		for p.next != e {
			p = p.next
		}
		p.next = e.next
	}
	e.next = nil
	d.live--
	e.live = false
	if e.timeMs > 0 {
		d.stamped--
	}
}

// compact drops dead entries from byIndex and byTime once they outnumber the
// live ones by more than dedupeSlack. Each pass costs O(live + dead) and
// drops more dead entries than there are live ones, so its cost per removal
// is O(1).
func (d *dedupe) compact() {
	d.oldest() // drop those at the front now: copyEntries then usually finds none
	if live := d.live; len(d.byIndex)-live > live+dedupeSlack {
		kept := d.byIndex[:0]
		for _, e := range d.byIndex[d.head:] {
			if e.live {
				kept = append(kept, e)
			}
		}
		clear(d.byIndex[len(kept):])
		d.byIndex, d.head = kept, 0
	}
	if len(d.byTime)-d.stamped > d.stamped+dedupeSlack {
		kept := d.byTime[:0]
		for _, s := range d.byTime {
			if s.e.live {
				kept = append(kept, s)
			}
		}
		clear(d.byTime[len(kept):])
		d.byTime = kept
		for i := len(kept)/2 - 1; i >= 0; i-- {
			d.siftDown(i)
		}
	}
}

// copyEntries returns the live entries, in index order, in a slice of their
// own. An entry's id, result, index and time never change after add (only
// the bookkeeping does), so they may be read while Apply goes on.
func (d *dedupe) copyEntries() []*dedupeEntry {
	queue := d.byIndex[d.head:]
	if len(queue) == d.live {
		return slices.Clone(queue) // no dead entries (the usual case)
	}
	out := make([]*dedupeEntry, 0, d.live)
	for _, e := range queue {
		if e.live {
			out = append(out, e)
		}
	}
	return out
}

// inIndexOrder returns entries sorted by index, the image's deterministic
// order (one command per log entry, so indexes are unique). It sorts
// (index, entry) pairs: comparing through the pointers would miss the cache
// at nearly every step.
func inIndexOrder(entries []*dedupeEntry) []*dedupeEntry {
	type pair struct {
		index uint64
		e     *dedupeEntry
	}
	pairs := make([]pair, len(entries))
	for i, e := range entries {
		pairs[i] = pair{e.index, e}
	}
	slices.SortFunc(pairs, func(a, b pair) int { return cmp.Compare(a.index, b.index) })
	out := make([]*dedupeEntry, len(pairs))
	for i, p := range pairs {
		out[i] = p.e
	}
	return out
}

// byTime's heap operations. They move a hole rather than swap, writing
// each slot they pass once.

func slotLess(a, b *timeSlot) bool {
	return a.timeMs < b.timeMs || a.timeMs == b.timeMs && a.index < b.index
}

func (d *dedupe) pushTime(s timeSlot) {
	d.byTime = append(d.byTime, s)
	h, i := d.byTime, len(d.byTime)-1
	for i > 0 {
		parent := (i - 1) / 2
		if !slotLess(&s, &h[parent]) {
			break
		}
		h[i] = h[parent]
		i = parent
	}
	h[i] = s
}

// popTime removes the top slot.
func (d *dedupe) popTime() {
	last := len(d.byTime) - 1
	d.byTime[0] = d.byTime[last]
	d.byTime[last] = timeSlot{}
	d.byTime = d.byTime[:last]
	d.siftDown(0)
}

// siftDown moves the slot at i down to its place.
func (d *dedupe) siftDown(i int) {
	h := d.byTime
	if i >= len(h) {
		return
	}
	s := h[i]
	for {
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if r := c + 1; r < len(h) && slotLess(&h[r], &h[c]) {
			c = r
		}
		if !slotLess(&h[c], &s) {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = s
}
