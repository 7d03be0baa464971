// ordered.go owns the in-memory index of live keys: a hash table for point
// lookups (hashindex.go) plus a sorted list of sorted chunks (a two-level B+tree) for
// cheap inserts and deletes and key-order iteration from any key for List.
// Both levels are searched through 8-byte words of the keys (keyrun.go).

package kv

import (
	"hash/maphash"
	"slices"
	"strings"
	"unsafe"
)

// record is one live key. Its value and revisions are copy-on-write: once
// a snapshot capture may hold the record (one was taken since the record was
// made: epoch is below Store.captures), an overwrite installs a new record
// (replace) and leaves the old one as the capture saw it (capture.go);
// before that, it edits the record in place. The bytes of a value are never
// modified, so Items, Events and captures share them.
type record struct {
	key    string
	value  []byte
	create uint64 // revision of the write that created the key
	mod    uint64 // revision of the write that produced value
	epoch  uint64 // Store.captures when the record was made

	// chunk and slot are the index's bookkeeping, not data: the chunk
	// holding the record, so replace finds its slot, and delete its chunk,
	// without a search of the chunks; and a hint of its position in the
	// chunk, exact when set but not kept up when an insert or delete before
	// it shifts it. chunk changes on splits and merges; captures never read
	// either.
	chunk *chunk
	slot  int32
}

// chunk is one sorted run of records, with a word of each key (keyrun.go)
// to search by.
type chunk struct {
	recs keyRun[*record, recordKey]
}

// Chunk bounds. A chunk splits in two when it would exceed maxChunk records;
// a chunk that falls below minChunk after a delete merges with a neighbour
// when the two fit in maxChunk/2, so the chunk count stays O(n/maxChunk).
// 256 keeps each insert's memmove small (16 bytes a record: pointer and
// word; 4 KiB per chunk) while the top level stays short (4k chunks for a
// million keys). With the words, BenchmarkOrdered and
// BenchmarkApplyPut/insert-new-keys-into-100000 measured 128, 256 and 512
// alike; 64 and 1024 were no better.
const (
	maxChunk = 256
	minChunk = maxChunk / 8
)

// ordered is a sorted set of records keyed by record.key.
//
// Invariants: byKey and the chunks hold the same records, byKey each under
// hash(key); every chunk is non-empty and sorted by key with no duplicates,
// the last key of chunk i is below the first key of chunk i+1; every
// record's chunk is the one that holds it (its slot is only a hint, see
// record); lasts.elems[i] is the key of chunk i's last record (so
// len(lasts.elems) == len(chunks)). keyRun and hashIndex have invariants of
// their own.
type ordered struct {
	byKey  hashIndex[*record, recordKey]
	seed   maphash.Seed // byKey's; made by the first insert
	chunks []*chunk
	// lasts holds each chunk's last key, so that finding a chunk searches
	// one array instead of chasing chunk, record and key at every step.
	lasts keyRun[string, stringKey]
	// imageBytes is the length of the records' items in the snapshot
	// image (the sum of itemImageSize), kept up by every change, so that a
	// capture knows its image's size without reading the records.
	imageBytes int
}

// len returns the number of records.
func (o *ordered) len() int { return o.byKey.len() }

// hash returns the hash of key in byKey.
func (o *ordered) hash(key string) uint64 { return maphash.String(o.seed, key) }

// locate returns the chunk that holds key or would hold it on insert and
// the position of the first key >= key within it (the length of the last
// chunk when key is above every key). With no chunks it returns (0, 0).
func (o *ordered) locate(key string) (ci, i int) {
	n := len(o.chunks)
	if n == 0 {
		return 0, 0
	}
	// Beyond every key: the end of the last chunk, where an insert appends
	// (ascending inserts and Restore take this path without a search).
	if key > o.lasts.last() {
		return n - 1, len(o.chunks[n-1].recs.elems)
	}
	// The first chunk whose last key is >= key, then the first key >= key
	// within it; both exist since key <= the last key.
	ci = o.lasts.search(key)
	return ci, o.chunks[ci].recs.search(key)
}

// chunkIndex returns the position of ch in chunks, by a search of lasts for
// ch's last key; it must run before ch changes.
func (o *ordered) chunkIndex(ch *chunk) int {
	return o.lasts.search(ch.recs.last().key)
}

// get returns the record for key, or nil. The caller may change its value
// and revisions in place only when no capture holds it (see record).
func (o *ordered) get(key string) *record {
	if o.byKey.len() == 0 {
		return nil // and the seed may not be made yet
	}
	if i := o.byKey.find(o.hash(key), key); i >= 0 {
		return o.byKey.at(i)
	}
	return nil
}

// getBytes is get for a key held in bytes, without converting it to a
// string: get reads the view only during the call, and keeps nothing of it.
func (o *ordered) getBytes(key []byte) *record {
	return o.get(unsafe.String(unsafe.SliceData(key), len(key)))
}

// replace puts r in the place of old, the present record with r's key (the
// words stay). lasts keeps old's key string, so r should share it rather
// than hold a second copy. It finds old's slot by pointer in old's chunk:
// at old's slot hint when that is still right (no insert or delete in the
// chunk moved it since), else by a scan; no key comparisons, no
// dereference of the other records. (A search of the chunk's words
// measured slower than the scan.)
func (o *ordered) replace(old, r *record) {
	ch := old.chunk
	i := int(old.slot)
	if i >= len(ch.recs.elems) || ch.recs.elems[i] != old {
		i = slices.Index(ch.recs.elems, old)
	}
	ch.recs.elems[i] = r
	r.chunk, r.slot, old.chunk = ch, int32(i), nil
	o.byKey.set(o.byKey.slotOf(o.hash(r.key), old), r)
	o.imageBytes += itemImageSize(r) - itemImageSize(old)
}

// setValue gives the present record r a new value and mod revision in
// place; the caller has checked that no capture holds r (see record).
func (o *ordered) setValue(r *record, value []byte, mod uint64) {
	o.imageBytes -= itemImageSize(r)
	r.value, r.mod = value, mod
	o.imageBytes += itemImageSize(r)
}

// insert adds r, whose key must not be present.
func (o *ordered) insert(r *record) {
	if o.seed == (maphash.Seed{}) {
		o.seed = maphash.MakeSeed()
	}
	o.byKey.insert(o.hash(r.key), r)
	o.imageBytes += itemImageSize(r)
	if len(o.chunks) == 0 {
		ch := &chunk{}
		ch.recs.insert(0, r)
		r.chunk, r.slot = ch, 0
		o.chunks = append(o.chunks, ch)
		o.lasts.insert(0, r.key)
		return
	}
	ci, i := o.locate(r.key)
	ch := o.chunks[ci]
	r.chunk, r.slot = ch, int32(i)
	ch.recs.insert(i, r)
	if i == len(ch.recs.elems)-1 {
		o.lasts.set(ci, r.key) // appended to the last chunk
	}
	if len(ch.recs.elems) > maxChunk {
		o.split(ci)
	}
}

// split cuts chunk ci in two halves. The right half gets arrays of its own
// so that appends to the left half never overwrite it.
func (o *ordered) split(ci int) {
	ch := o.chunks[ci]
	right := &chunk{recs: ch.recs.cut(len(ch.recs.elems)/2, maxChunk+1)}
	for i, x := range right.recs.elems {
		x.chunk, x.slot = right, int32(i)
	}
	o.chunks = slices.Insert(o.chunks, ci+1, right)
	// The left half's last key goes in at ci; the old one, now the right
	// half's, moves to ci+1.
	o.lasts.insert(ci, ch.recs.last().key)
}

// delete removes key and returns its record, or nil when it is absent.
func (o *ordered) delete(key string) *record {
	if o.byKey.len() == 0 {
		return nil
	}
	slot := o.byKey.find(o.hash(key), key)
	if slot < 0 {
		return nil
	}
	r := o.byKey.at(slot)
	o.byKey.removeAt(slot)
	o.imageBytes -= itemImageSize(r)
	ch := r.chunk
	n := len(ch.recs.elems)
	i := ch.recs.search(key) // key is there: its position
	wasLast, small := i == n-1, n-1 < minChunk
	ci := -1
	if wasLast || small {
		ci = o.chunkIndex(ch)
	}
	ch.recs.remove(i)
	r.chunk = nil
	switch {
	case n == 1:
		o.removeChunk(ci)
		return r
	case wasLast:
		o.lasts.set(ci, ch.recs.last().key)
	}
	if small {
		o.mergeSmall(ci)
	}
	return r
}

// mergeSmall merges chunk ci into a neighbour when the pair fits in half a
// chunk, keeping key order.
func (o *ordered) mergeSmall(ci int) {
	for _, left := range []int{ci - 1, ci} {
		if left < 0 || left+1 >= len(o.chunks) {
			continue
		}
		a, b := o.chunks[left], o.chunks[left+1]
		if len(a.recs.elems)+len(b.recs.elems) > maxChunk/2 {
			continue
		}
		n := len(a.recs.elems)
		a.recs.appendRun(&b.recs)
		for i, x := range b.recs.elems {
			x.chunk, x.slot = a, int32(n+i)
		}
		// a's last key is now b's: drop a's old one from lasts (b's moves
		// down to left) and drop chunk b.
		o.lasts.remove(left)
		o.chunks = slices.Delete(o.chunks, left+1, left+2)
		o.lasts.sharpen()
		return
	}
}

// removeChunk drops chunk ci and its last key.
func (o *ordered) removeChunk(ci int) {
	o.chunks = slices.Delete(o.chunks, ci, ci+1)
	o.lasts.remove(ci)
	o.lasts.sharpen()
}

// ascend calls fn for each record whose key has prefix and is above after
// (every key when after is below prefix), in key order, until fn returns
// false.
func (o *ordered) ascend(prefix, after string, fn func(*record) bool) {
	// Start at the first key >= max(prefix, after); skip after itself.
	start := prefix
	if after > start {
		start = after
	}
	ci, i := o.locate(start)
	for ; ci < len(o.chunks); ci, i = ci+1, 0 {
		c := o.chunks[ci].recs.elems
		for ; i < len(c); i++ {
			r := c[i]
			if r.key <= after {
				continue
			}
			// Keys with a prefix are contiguous in key order, so the
			// first key without it ends the scan.
			if !strings.HasPrefix(r.key, prefix) {
				return
			}
			if !fn(r) {
				return
			}
		}
	}
}

// each calls fn for every record in key order.
func (o *ordered) each(fn func(*record)) {
	for _, c := range o.chunks {
		for _, r := range c.recs.elems {
			fn(r)
		}
	}
}

// records returns every record in key order, in a slice of its own: the
// chunks change under later inserts and deletes, the records do not.
func (o *ordered) records() []*record {
	out := make([]*record, 0, o.len())
	for _, c := range o.chunks {
		out = append(out, c.recs.elems...)
	}
	return out
}
