// dedupe.go owns the replicated request-id table that makes a retried write
// apply once, and its deterministic expiry.

package kv

import (
	"cmp"
	"container/heap"
	"slices"
)

// dedupeEntry remembers the result of the command that carried a request id.
type dedupeEntry struct {
	id     string
	result result
	index  uint64 // raft index of the command
	timeMs int64  // the command's leader_time_unix_ms; <= 0 means unstamped

	indexPos int // position in dedupe.byIndex
	timePos  int // position in dedupe.byTime, -1 when unstamped
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
// Invariants: byID, byIndex and byTime (stamped entries only) hold the same
// entries; each entry's indexPos/timePos is its position in those heaps.
type dedupe struct {
	window     uint64
	ttlMs      int64
	maxEntries int

	byID    map[string]*dedupeEntry
	byIndex indexHeap
	byTime  timeHeap
}

func newDedupe(window uint64, ttlMs int64, maxEntries int) *dedupe {
	return &dedupe{window: window, ttlMs: ttlMs, maxEntries: maxEntries, byID: map[string]*dedupeEntry{}}
}

// lookup returns the remembered result of request id.
func (d *dedupe) lookup(id string) (result, bool) {
	e, ok := d.byID[id]
	if !ok {
		return result{}, false
	}
	return e.result, true
}

// add remembers the result of the command at index with request id. The
// caller has checked that id is not present.
func (d *dedupe) add(id string, res result, index uint64, timeMs int64) {
	for len(d.byID) >= d.maxEntries && len(d.byIndex) > 0 {
		d.remove(d.byIndex[0])
	}
	e := &dedupeEntry{id: id, result: res, index: index, timeMs: timeMs, timePos: -1}
	d.byID[id] = e
	heap.Push(&d.byIndex, e)
	if timeMs > 0 {
		heap.Push(&d.byTime, e)
	}
}

// expire drops the entries that have expired at applied index idx, given the
// leader time stamped on the command being applied (<= 0: none).
func (d *dedupe) expire(idx uint64, leaderTimeMs int64) {
	// idx >= e.index always holds: entries come from applied commands.
	for len(d.byIndex) > 0 && idx-d.byIndex[0].index >= d.window {
		d.remove(d.byIndex[0])
	}
	if leaderTimeMs <= 0 {
		return
	}
	// leaderTimeMs > 0 and ttlMs > 0, so the subtraction cannot overflow.
	horizon := leaderTimeMs - d.ttlMs
	for len(d.byTime) > 0 && d.byTime[0].timeMs < horizon {
		d.remove(d.byTime[0])
	}
}

func (d *dedupe) remove(e *dedupeEntry) {
	delete(d.byID, e.id)
	heap.Remove(&d.byIndex, e.indexPos)
	if e.timePos >= 0 {
		heap.Remove(&d.byTime, e.timePos)
	}
}

// copyEntries returns the entries in a slice of their own, in no useful
// order. An entry's id, result, index and time never change after add (only
// its heap positions do), so they may be read while Apply goes on.
func (d *dedupe) copyEntries() []*dedupeEntry {
	return slices.Clone([]*dedupeEntry(d.byIndex))
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

// indexHeap is a min-heap of entries by index.
type indexHeap []*dedupeEntry

func (h indexHeap) Len() int           { return len(h) }
func (h indexHeap) Less(i, j int) bool { return h[i].index < h[j].index }
func (h indexHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].indexPos, h[j].indexPos = i, j
}
func (h *indexHeap) Push(x any) {
	e := x.(*dedupeEntry)
	e.indexPos = len(*h)
	*h = append(*h, e)
}
func (h *indexHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.indexPos = -1
	return e
}

// timeHeap is a min-heap of stamped entries by (leader time, index).
type timeHeap []*dedupeEntry

func (h timeHeap) Len() int { return len(h) }
func (h timeHeap) Less(i, j int) bool {
	if h[i].timeMs != h[j].timeMs {
		return h[i].timeMs < h[j].timeMs
	}
	return h[i].index < h[j].index
}
func (h timeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].timePos, h[j].timePos = i, j
}
func (h *timeHeap) Push(x any) {
	e := x.(*dedupeEntry)
	e.timePos = len(*h)
	*h = append(*h, e)
}
func (h *timeHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.timePos = -1
	return e
}
