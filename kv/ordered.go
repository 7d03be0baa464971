// ordered.go owns the in-memory index of live keys: a hash map for point
// lookups plus a sorted list of sorted chunks (a two-level B+tree) for
// cheap inserts and deletes and key-order iteration from any key for List.

package kv

import (
	"slices"
	"sort"
	"strings"
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

	// chunk is the index's bookkeeping, not data: the chunk holding the
	// record, so replace finds its slot without a search. It changes on
	// splits and merges; captures never read it.
	chunk *chunk
}

// chunk is one sorted run of records.
type chunk struct{ recs []*record }

// Chunk bounds. A chunk splits in two when it would exceed maxChunk records;
// a chunk that falls below minChunk after a delete merges with a neighbour
// when the two fit in maxChunk/2, so the chunk count stays O(n/maxChunk).
// 256 keeps each insert's memmove small (pointers, 2 KiB per chunk) while the
// top level stays short (4k chunks for a million keys). BenchmarkApplyPut
// and BenchmarkList measured 64..1024 alike and 4096 clearly slower.
const (
	maxChunk = 256
	minChunk = maxChunk / 8
)

// ordered is a sorted set of records keyed by record.key.
//
// Invariants: byKey and the chunks hold the same records; every chunk is
// non-empty and sorted by key with no duplicates, the last key of chunk i is
// below the first key of chunk i+1; every record's chunk is the one that
// holds it.
type ordered struct {
	byKey  map[string]*record
	chunks []*chunk
}

// len returns the number of records.
func (o *ordered) len() int { return len(o.byKey) }

// locate returns the chunk that holds key or would hold it on insert, the
// position of key within it, and whether key is present there. With no
// chunks it returns (0, 0, false).
func (o *ordered) locate(key string) (ci, i int, found bool) {
	if len(o.chunks) == 0 {
		return 0, 0, false
	}
	// The first chunk whose last key is >= key; past the end, the last chunk
	// (an insert of a key beyond every key appends to it).
	ci = sort.Search(len(o.chunks), func(j int) bool {
		c := o.chunks[j].recs
		return c[len(c)-1].key >= key
	})
	if ci == len(o.chunks) {
		ci--
	}
	c := o.chunks[ci].recs
	i = sort.Search(len(c), func(j int) bool { return c[j].key >= key })
	return ci, i, i < len(c) && c[i].key == key
}

// get returns the record for key, or nil. The caller may change its value
// and revisions in place only when no capture holds it (see record).
func (o *ordered) get(key string) *record {
	return o.byKey[key] // nil map reads are fine
}

// replace puts r in the place of old, the present record with r's key. It
// finds old's slot by pointer in old's chunk: no key comparisons, no
// dereference of the other records (a binary search of the chunks would
// miss the cache on each step).
func (o *ordered) replace(old, r *record) {
	ch := old.chunk
	ch.recs[slices.Index(ch.recs, old)] = r
	r.chunk, old.chunk = ch, nil
	o.byKey[r.key] = r
}

// insert adds r, whose key must not be present.
func (o *ordered) insert(r *record) {
	if o.byKey == nil {
		o.byKey = map[string]*record{}
	}
	o.byKey[r.key] = r
	if len(o.chunks) == 0 {
		r.chunk = &chunk{recs: []*record{r}}
		o.chunks = append(o.chunks, r.chunk)
		return
	}
	ci, i, _ := o.locate(r.key)
	ch := o.chunks[ci]
	r.chunk = ch
	c := append(ch.recs, nil)
	copy(c[i+1:], c[i:])
	c[i] = r
	if len(c) <= maxChunk {
		ch.recs = c
		return
	}
	// Split: the right half gets its own backing array so that appends to
	// the left half never overwrite it.
	half := len(c) / 2
	right := &chunk{recs: make([]*record, len(c)-half, maxChunk+1)}
	copy(right.recs, c[half:])
	for _, x := range right.recs {
		x.chunk = right
	}
	clear(c[half:])
	ch.recs = c[:half]
	o.chunks = slices.Insert(o.chunks, ci+1, right)
}

// delete removes key and returns its record, or nil when it is absent.
func (o *ordered) delete(key string) *record {
	if o.byKey[key] == nil {
		return nil
	}
	delete(o.byKey, key)
	ci, i, _ := o.locate(key)
	ch := o.chunks[ci]
	c := ch.recs
	r := c[i]
	r.chunk = nil
	copy(c[i:], c[i+1:])
	c[len(c)-1] = nil // drop the reference for the GC
	ch.recs = c[:len(c)-1]
	switch {
	case len(ch.recs) == 0:
		o.removeChunk(ci)
	case len(ch.recs) < minChunk:
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
		if len(a.recs)+len(b.recs) > maxChunk/2 {
			continue
		}
		a.recs = append(a.recs, b.recs...)
		for _, x := range b.recs {
			x.chunk = a
		}
		o.removeChunk(left + 1)
		return
	}
}

func (o *ordered) removeChunk(ci int) {
	copy(o.chunks[ci:], o.chunks[ci+1:])
	o.chunks[len(o.chunks)-1] = nil
	o.chunks = o.chunks[:len(o.chunks)-1]
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
	ci, i, _ := o.locate(start)
	for ; ci < len(o.chunks); ci, i = ci+1, 0 {
		c := o.chunks[ci].recs
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
		for _, r := range c.recs {
			fn(r)
		}
	}
}

// records returns every record in key order, in a slice of its own: the
// chunks change under later inserts and deletes, the records do not.
func (o *ordered) records() []*record {
	out := make([]*record, 0, o.len())
	for _, c := range o.chunks {
		out = append(out, c.recs...)
	}
	return out
}
