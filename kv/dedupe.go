// dedupe.go owns the replicated request-id table that makes a retried write
// apply once, and its deterministic expiry.

package kv

import (
	"fmt"
	"hash/maphash"
	"slices"
	"unsafe"
)

// dedupeEntry remembers the result of the command that carried a request id.
// id, result, index and timeMs never change after add, so a capture may read
// them while Apply goes on; hash and live are the table's bookkeeping, which
// captures never read.
type dedupeEntry struct {
	id     string
	result result
	index  uint64 // raft index of the command
	timeMs int64  // the command's leader_time_unix_ms; <= 0 means unstamped

	hash uint64 // d.hash(id): the entry's hash in the table
	live bool   // in the table; false once removed (the queues drop it lazily)
}

// entryID is the key of a *dedupeEntry in the table.
type entryID struct{}

func (entryID) keyOf(e *dedupeEntry) string { return e.id }

// timeSlot is an entry's place in dedupe's time order. It carries the sort
// key, so that the time queue and heap compare within their arrays rather
// than through the entry pointers.
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
// fresh table. So byIndex is a queue in index order, not a heap. Leader
// times mostly increase with the index too, so the time order is a queue
// as well (inOrder), with a heap (outOfOrder) for the stamps that arrive
// below the queue's last one (a new leader whose clock is behind); the
// earliest entry is at the front of one of the two. Removal (expiry by
// time, eviction, expiry by index) marks the entry dead and empties its
// slot; the queues and the heap drop a dead entry when it reaches their
// front, and compact drops the rest once they outnumber the live ones
// (plus a small slack), which bounds the memory they hold. Once the table
// has grown to its working size, none of this allocates: the slots, the
// queues and the heap reuse their arrays.
//
// The table is a hashIndex over a 64-bit hash of the request id, so a
// probe reads the slots' hashes, not the ids' bytes, and a removal (whose
// id is in no cache) finds its slot by pointer. Lookups compare the full id
// when the hashes match, so outcomes do not depend on the hash or its seed,
// which differ between replicas and runs: only the speed does.
//
// Invariants: table holds the live entries, and e.live is true exactly for
// them; live is their number. byIndex[head:] holds every live entry, in
// strictly increasing index order, and some dead ones. inOrder[timeHead:]
// is sorted by (timeMs, index), unique since indexes are; outOfOrder is a
// min-heap by the same order; between them they hold a slot for every live
// stamped entry (timeMs > 0), and for some dead ones; stamped is the number
// of live stamped entries. Expiry and eviction depend on the live entries
// only, so the dead ones change no outcome.
type dedupe struct {
	window     uint64
	ttlMs      int64
	maxEntries int

	table   hashIndex[*dedupeEntry, entryID]
	live    int
	seed    maphash.Seed
	mask    uint64         // ANDed into every hash: all ones; tests narrow it to force collisions
	byIndex []*dedupeEntry // byIndex[:head] is nil
	head    int
	// The time order: a queue, inOrder[:timeHead] being zero slots, and a
	// heap.
	inOrder    []timeSlot
	timeHead   int
	outOfOrder []timeSlot
	stamped    int
	// imageBytes is the length of the live entries in the snapshot image
	// (the sum of dedupeImageSize), so that a capture knows it without
	// reading the entries.
	imageBytes int

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
// A removed entry is not reused: a capture taken while it was live may
// still be reading it, and nothing says when that capture is done (records
// are copied on write for the same reason).
const dedupeChunk = 64

// dedupeSlack is how many dead entries byIndex and the time order may hold
// beyond as many as the live ones before compact drops them.
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
		seed: maphash.MakeSeed(), mask: ^uint64(0),
	}
}

// hash returns the hash of request id in the table.
func (d *dedupe) hash(id string) uint64 {
	return maphash.String(d.seed, id) & d.mask
}

// find returns the live entry of request id, or nil.
func (d *dedupe) find(id string) *dedupeEntry {
	if d.live == 0 {
		return nil // and no hash to compute
	}
	if i := d.table.find(d.hash(id), id); i >= 0 {
		return d.table.at(i)
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
	*e = dedupeEntry{id: d.keep(id), result: res, index: index, timeMs: timeMs, hash: d.hash(id), live: true}
	d.table.insert(e.hash, e)
	d.live++
	d.imageBytes += dedupeImageSize(e)
	d.byIndex, d.head = pushQueue(d.byIndex, d.head, e)
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
		for {
			top, inQueue := d.earliest()
			if top == nil {
				break
			}
			e := top.e
			live := e.live
			if live && top.timeMs >= horizon {
				break // every other live stamped entry is at or after top
			}
			if inQueue {
				d.inOrder[d.timeHead] = timeSlot{}
				d.timeHead++
			} else {
				d.popHeap()
			}
			if live {
				d.remove(e)
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
	d.byIndex, d.head = d.byIndex[:0], 0 // empty: start again at the front
	return nil
}

// earliest returns the time order's first slot, at the front of the queue
// (inQueue) or the top of the heap; nil when both are empty.
func (d *dedupe) earliest() (s *timeSlot, inQueue bool) {
	if d.timeHead < len(d.inOrder) {
		s, inQueue = &d.inOrder[d.timeHead], true
	}
	if len(d.outOfOrder) > 0 && (s == nil || slotLess(&d.outOfOrder[0], s)) {
		s, inQueue = &d.outOfOrder[0], false
	}
	return s, inQueue
}

// remove takes the live entry e out of the table; byIndex and the time
// order drop it later.
func (d *dedupe) remove(e *dedupeEntry) {
	d.table.removeAt(d.table.slotOf(e.hash, e))
	d.live--
	d.imageBytes -= dedupeImageSize(e)
	e.live = false
	if e.timeMs > 0 {
		d.stamped--
	}
}

// compact drops the dead entries inside byIndex, and inside the time order,
// once they outnumber the live ones by more than dedupeSlack. Each pass
// costs O(live + dead), reading every entry, and drops more dead entries
// than there are live ones, so its cost per removal is O(1). The emptied
// front of a queue is not among them: pushQueue reuses it without reading
// the entries, so entries that leave in the order they came (the usual
// case) never cause a pass.
func (d *dedupe) compact() {
	d.oldest() // drop those at the front now: copyEntries then usually finds none
	if live := d.live; len(d.byIndex)-d.head-live > live+dedupeSlack {
		kept := d.byIndex[:0]
		for _, e := range d.byIndex[d.head:] {
			if e.live {
				kept = append(kept, e)
			}
		}
		clear(d.byIndex[len(kept):])
		d.byIndex, d.head = kept, 0
	}
	if len(d.inOrder)-d.timeHead+len(d.outOfOrder)-d.stamped > d.stamped+dedupeSlack {
		kept := d.inOrder[:0]
		for _, s := range d.inOrder[d.timeHead:] {
			if s.e.live {
				kept = append(kept, s)
			}
		}
		clear(d.inOrder[len(kept):])
		d.inOrder, d.timeHead = kept, 0
		kept = d.outOfOrder[:0]
		for _, s := range d.outOfOrder {
			if s.e.live {
				kept = append(kept, s)
			}
		}
		clear(d.outOfOrder[len(kept):])
		d.outOfOrder = kept
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

// pushQueue appends x to the queue q[head:] (q[:head] being zero values)
// and returns the queue and its head. When q's array is full and at least
// a quarter of it is the emptied front, it first moves the queue to the
// front of the array rather than let append allocate a larger one: a queue
// whose length holds steady stops allocating, at a capacity below three
// times its length, and each move of n elements follows at least n/3
// pushes.
func pushQueue[T any](q []T, head int, x T) ([]T, int) {
	if len(q) == cap(q) && head > 0 && head >= len(q)/4 {
		n := copy(q, q[head:])
		clear(q[n:])
		q, head = q[:n], 0
	}
	return append(q, x), head
}

// The time order's operations. The heap's move a hole rather than swap,
// writing each slot they pass once.

func slotLess(a, b *timeSlot) bool {
	return a.timeMs < b.timeMs || a.timeMs == b.timeMs && a.index < b.index
}

// pushTime adds s to the time order: to the queue when it sorts at or after
// the queue's last slot (always, while leader times do not go back), else
// to the heap.
func (d *dedupe) pushTime(s timeSlot) {
	n := len(d.inOrder)
	if n == d.timeHead {
		d.inOrder, d.timeHead = d.inOrder[:0], 0 // empty: start again at the front
		n = 0
	}
	if n == 0 || !slotLess(&s, &d.inOrder[n-1]) {
		d.inOrder, d.timeHead = pushQueue(d.inOrder, d.timeHead, s)
		return
	}
	d.outOfOrder = append(d.outOfOrder, s)
	h, i := d.outOfOrder, len(d.outOfOrder)-1
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

// popHeap removes the heap's top slot.
func (d *dedupe) popHeap() {
	last := len(d.outOfOrder) - 1
	d.outOfOrder[0] = d.outOfOrder[last]
	d.outOfOrder[last] = timeSlot{}
	d.outOfOrder = d.outOfOrder[:last]
	d.siftDown(0)
}

// siftDown moves the heap's slot at i down to its place.
func (d *dedupe) siftDown(i int) {
	h := d.outOfOrder
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
