// ordered.go owns the in-memory index of live keys: a hash map for point
// lookups plus a sorted list of sorted chunks (a two-level B+tree) for
// cheap inserts and deletes and key-order iteration from any key for List.

package kv

import (
	"sort"
	"strings"
)

// record is one live key. A record is immutable once it is in the index:
// an overwrite installs a new record (replace), never edits the old one, so
// a snapshot capture may keep record pointers and read them while Apply
// goes on (capture.go). The bytes of a value are never modified either, so
// Items, Events and captures share them.
type record struct {
	key    string
	value  []byte
	create uint64 // revision of the write that created the key
	mod    uint64 // revision of the write that produced value
}

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
// below the first key of chunk i+1.
type ordered struct {
	byKey  map[string]*record
	chunks [][]*record
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
		c := o.chunks[j]
		return c[len(c)-1].key >= key
	})
	if ci == len(o.chunks) {
		ci--
	}
	c := o.chunks[ci]
	i = sort.Search(len(c), func(j int) bool { return c[j].key >= key })
	return ci, i, i < len(c) && c[i].key == key
}

// get returns the record for key, or nil. The record must not be modified:
// use replace.
func (o *ordered) get(key string) *record {
	return o.byKey[key] // nil map reads are fine
}

// replace puts r in the place of the record with the same key, which must
// be present.
func (o *ordered) replace(r *record) {
	o.byKey[r.key] = r
	ci, i, _ := o.locate(r.key)
	o.chunks[ci][i] = r
}

// insert adds r, whose key must not be present.
func (o *ordered) insert(r *record) {
	if o.byKey == nil {
		o.byKey = map[string]*record{}
	}
	o.byKey[r.key] = r
	if len(o.chunks) == 0 {
		o.chunks = append(o.chunks, []*record{r})
		return
	}
	ci, i, _ := o.locate(r.key)
	c := o.chunks[ci]
	c = append(c, nil)
	copy(c[i+1:], c[i:])
	c[i] = r
	if len(c) <= maxChunk {
		o.chunks[ci] = c
		return
	}
	// Split: the right half gets its own backing array so that appends to
	// the left half never overwrite it.
	half := len(c) / 2
	right := make([]*record, len(c)-half, maxChunk+1)
	copy(right, c[half:])
	clear(c[half:])
	o.chunks[ci] = c[:half]
	o.chunks = append(o.chunks, nil)
	copy(o.chunks[ci+2:], o.chunks[ci+1:])
	o.chunks[ci+1] = right
}

// delete removes key and returns its record, or nil when it is absent.
func (o *ordered) delete(key string) *record {
	if o.byKey[key] == nil {
		return nil
	}
	delete(o.byKey, key)
	ci, i, _ := o.locate(key)
	c := o.chunks[ci]
	r := c[i]
	copy(c[i:], c[i+1:])
	c[len(c)-1] = nil // drop the reference for the GC
	c = c[:len(c)-1]
	o.chunks[ci] = c
	switch {
	case len(c) == 0:
		o.removeChunk(ci)
	case len(c) < minChunk:
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
		if len(a)+len(b) > maxChunk/2 {
			continue
		}
		o.chunks[left] = append(a, b...)
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
		c := o.chunks[ci]
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
		for _, r := range c {
			fn(r)
		}
	}
}

// records returns every record in key order, in a slice of its own: the
// chunks change under later inserts and deletes, the records do not.
func (o *ordered) records() []*record {
	out := make([]*record, 0, o.len())
	for _, c := range o.chunks {
		out = append(out, c...)
	}
	return out
}
