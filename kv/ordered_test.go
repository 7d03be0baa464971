// ordered_test.go checks the chunked index against a map model.

package kv

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// check verifies the ordered invariants.
func (o *ordered) check(t *testing.T) {
	t.Helper()
	n := 0
	prev := ""
	for ci, ch := range o.chunks {
		c := ch.recs
		if len(c) == 0 || len(c) > maxChunk {
			t.Fatalf("chunk %d has %d records", ci, len(c))
		}
		for _, r := range c {
			if r.chunk != ch {
				t.Fatalf("chunk %d: record %q points to another chunk", ci, r.key)
			}
			if n > 0 && r.key <= prev {
				t.Fatalf("chunk %d: %q after %q", ci, r.key, prev)
			}
			prev = r.key
			n++
		}
	}
	if o.len() != n {
		t.Fatalf("map has %d records, chunks %d", o.len(), n)
	}
	o.each(func(r *record) {
		if o.byKey[r.key] != r {
			t.Fatalf("map and chunks disagree on %q", r.key)
		}
	})
}

func TestOrderedMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var o ordered
	model := map[string]uint64{}
	key := func() string { return fmt.Sprintf("k%05d", rng.IntN(3000)) }
	for step := range 60_000 {
		// Grow for the first half, shrink for the second: exercises split and merge.
		k := key()
		if grow := step < 30_000; rng.IntN(4) != 0 == grow {
			if r := o.get(k); r != nil {
				o.replace(r, &record{key: k, mod: uint64(step + 1)})
			} else {
				o.insert(&record{key: k, mod: uint64(step + 1)})
			}
			model[k] = uint64(step + 1)
		} else {
			r := o.delete(k)
			_, had := model[k]
			if (r != nil) != had {
				t.Fatalf("delete(%q) = %v, model has=%v", k, r, had)
			}
			delete(model, k)
		}
		if step%1000 == 0 {
			o.check(t)
		}
	}
	o.check(t)
	for k, v := range model {
		if r := o.get(k); r == nil || r.mod != v {
			t.Fatalf("get(%q) = %v, want mod %d", k, r, v)
		}
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range model {
			if !yield(k) {
				return
			}
		}
	})
	for _, q := range []struct{ prefix, after string }{
		{"", ""}, {"k0", ""}, {"k01", "k0150"}, {"k02", "k01"}, {"k02", "k03"}, {"x", ""}, {"k", "k02999"},
	} {
		var got []string
		o.ascend(q.prefix, q.after, func(r *record) bool { got = append(got, r.key); return true })
		var want []string
		for _, k := range keys {
			if strings.HasPrefix(k, q.prefix) && k > q.after {
				want = append(want, k)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("ascend(%q, %q): got %d keys, want %d", q.prefix, q.after, len(got), len(want))
		}
	}
}
