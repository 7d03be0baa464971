// keyrun.go owns keyRun, the sorted arrays of the index (ordered.go): the
// records of a chunk and the chunks' last keys. They are searched by
// comparing 8-byte words held next to each other rather than the keys'
// bytes, which live in as many separate allocations.

package kv

import (
	"slices"
	"strings"
)

// keyOf reads the key of an element of a keyRun; its implementations are
// empty structs, so a keyRun's type says how to read its keys at no cost.
type keyOf[E any] interface{ keyOf(E) string }

// recordKey is the key of a *record, stringKey of a string.
type (
	recordKey struct{}
	stringKey struct{}
)

func (recordKey) keyOf(r *record) string { return r.key }
func (stringKey) keyOf(s string) string  { return s }

// keyRun is a sorted array of elements with distinct keys and, for each, a
// word: the 8 bytes of the key that follow a prefix all the keys share,
// big-endian, zero-padded past the key's end.
//
// For two keys with that prefix, a smaller word means a smaller key (the
// first byte where the words differ is either a byte where the keys differ,
// or the padding of a key that ends there and is a prefix of the other), so
// a search compares words and reads a key only on a tie: keys that agree on
// 8 bytes past the prefix, or one a prefix of the other within them. A
// binary search of the keys themselves would miss the cache at every step
// (element, then key bytes).
//
// Invariants: the elements are sorted by key without duplicate keys; every
// key has prefix; len(words) == len(elems) and words[i] == word(key i,
// len(prefix)). The prefix need not be the longest common one: it shrinks
// when a key without it comes in, and grows only in sharpen.
type keyRun[E any, K keyOf[E]] struct {
	elems  []E
	words  []uint64
	prefix string
}

// word returns the 8 bytes of s from byte p, big-endian, zero-padded past
// the end of s.
func word(s string, p int) uint64 {
	if len(s)-p >= 8 {
		b := s[p : p+8]
		return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
			uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	}
	var w uint64
	for i := p; i < p+8; i++ {
		w <<= 8
		if i < len(s) {
			w |= uint64(s[i])
		}
	}
	return w
}

// commonPrefix returns the length of the longest common prefix of a and b.
func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// key returns the key of element i.
func (r *keyRun[E, K]) key(i int) string {
	var k K
	return k.keyOf(r.elems[i])
}

func (r *keyRun[E, K]) last() E { return r.elems[len(r.elems)-1] }

// search returns the first i whose key is >= key, or len(elems) when there
// is none.
func (r *keyRun[E, K]) search(key string) int {
	if !strings.HasPrefix(key, r.prefix) {
		// Below or above every key, which all have the prefix.
		if key < r.prefix {
			return 0
		}
		return len(r.elems)
	}
	w := word(key, len(r.prefix))
	words := r.words
	lo, hi := 0, len(words)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if wm := words[m]; wm < w || wm == w && r.key(m) < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// fit shortens the prefix, if need be, so that key has it. An empty run
// takes key as its prefix.
func (r *keyRun[E, K]) fit(key string) {
	switch {
	case len(r.elems) == 0:
		r.prefix = key
	case !strings.HasPrefix(key, r.prefix):
		r.shorten(commonPrefix(key, r.prefix))
	}
}

// shorten makes the prefix its first n bytes, n < len(prefix), and rewrites
// the words. A word at n is the prefix's bytes from n followed by the word
// at len(prefix), shifted: when fewer than 8 bytes are dropped, no key needs
// to be read.
func (r *keyRun[E, K]) shorten(n int) {
	if d := len(r.prefix) - n; d < 8 {
		high := word(r.prefix, n) // the d dropped bytes, then zeros
		for i, w := range r.words {
			r.words[i] = high | w>>(8*d)
		}
	} else {
		for i := range r.words {
			r.words[i] = word(r.key(i), n)
		}
	}
	r.prefix = r.prefix[:n]
}

// sharpen lengthens the prefix to the keys' longest common prefix (that of
// the first and the last key) when that gains at least half a word: words
// that spend most of their bytes on what every key shares tell few keys
// apart. It then reads every key, so it runs where the run changed shape (a
// split, a removed chunk), not on each insert.
func (r *keyRun[E, K]) sharpen() {
	n := len(r.elems)
	if n < 2 {
		return
	}
	first := r.key(0)
	p := commonPrefix(first, r.key(n-1))
	if p < len(r.prefix)+4 {
		return
	}
	r.prefix = first[:p]
	for i := range r.words {
		r.words[i] = word(r.key(i), p)
	}
}

// insert puts e at position i, which must keep the keys sorted.
func (r *keyRun[E, K]) insert(i int, e E) {
	var k K
	key := k.keyOf(e)
	r.fit(key)
	r.elems = slices.Insert(r.elems, i, e)
	r.words = slices.Insert(r.words, i, word(key, len(r.prefix)))
}

// set replaces element i by e, whose key must keep the keys sorted.
func (r *keyRun[E, K]) set(i int, e E) {
	var k K
	key := k.keyOf(e)
	r.fit(key)
	r.elems[i], r.words[i] = e, word(key, len(r.prefix))
}

// remove drops element i.
func (r *keyRun[E, K]) remove(i int) {
	r.elems = slices.Delete(r.elems, i, i+1) // clears the vacated slot for the GC
	r.words = slices.Delete(r.words, i, i+1)
}

// cut moves the elements from i on to a new run with arrays of capacity c,
// and returns it. Both runs keep the prefix, then sharpen it.
func (r *keyRun[E, K]) cut(i, c int) keyRun[E, K] {
	right := keyRun[E, K]{
		elems:  make([]E, len(r.elems)-i, c),
		words:  make([]uint64, len(r.elems)-i, c),
		prefix: r.prefix,
	}
	copy(right.elems, r.elems[i:])
	copy(right.words, r.words[i:])
	clear(r.elems[i:])
	r.elems, r.words = r.elems[:i], r.words[:i]
	r.sharpen()
	right.sharpen()
	return right
}

// appendRun appends the elements of b, whose keys must all be above r's.
// Both runs shorten their prefix to what the two prefixes share; b is left
// with the shortened prefix and words.
func (r *keyRun[E, K]) appendRun(b *keyRun[E, K]) {
	n := commonPrefix(r.prefix, b.prefix)
	if n < len(r.prefix) {
		r.shorten(n)
	}
	if n < len(b.prefix) {
		b.shorten(n)
	}
	r.elems = append(r.elems, b.elems...)
	r.words = append(r.words, b.words...)
}
