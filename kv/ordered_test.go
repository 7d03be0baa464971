// ordered_test.go checks the chunked index against a map model.

package kv

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kontiki-raft/kontiki/messages"
)

// check verifies the ordered invariants.
func (o *ordered) check(t *testing.T) {
	t.Helper()
	n := 0
	prev := ""
	o.lasts.check(t)
	if len(o.lasts.elems) != len(o.chunks) {
		t.Fatalf("%d chunks, %d last keys", len(o.chunks), len(o.lasts.elems))
	}
	for ci, ch := range o.chunks {
		ch.recs.check(t)
		c := ch.recs.elems
		if len(c) == 0 || len(c) > maxChunk {
			t.Fatalf("chunk %d has %d records", ci, len(c))
		}
		if last := c[len(c)-1].key; o.lasts.elems[ci] != last {
			t.Fatalf("chunk %d: last key %q, lasts has %q", ci, last, o.lasts.elems[ci])
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
	want := make(map[string]*record, n)
	o.each(func(r *record) { want[r.key] = r })
	checkHashIndex(t, 0, &o.byKey, want, func(r *record) uint64 { return o.hash(r.key) })
	size := 0
	o.each(func(r *record) { size += itemImageSize(r) })
	if size != o.imageBytes {
		t.Fatalf("imageBytes is %d, the records take %d", o.imageBytes, size)
	}
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

// modelItem is a key's state in TestStoreMatchesSortedModel's model.
type modelItem struct {
	value       string
	create, mod uint64
}

// TestStoreMatchesSortedModel drives a Store through Apply with random
// puts (new keys and overwrites), deletes and snapshot captures, against a
// plain map model sorted on demand. It checks Get, List (prefix, after,
// limit and more) against the model as it goes, and that every capture,
// encoded at some later point, holds exactly the model's items at the
// moment it was taken. The key space grows past many chunks and shrinks
// again, so chunks split and merge between captures.
func TestStoreMatchesSortedModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	s := New(Options{HistorySize: 64})
	model := map[string]modelItem{}
	// Keys of several shapes: shared prefixes, different lengths, prefixes
	// of other keys, and keys that agree on many bytes in the middle (so
	// that the index's 8-byte words tie), so that the order is not just
	// numeric.
	shapes := []string{"a.%d", "a.%d.x", "b%04d", "b%d", "c.%02d.%03d", "%d", "x%02d.long-shared-middle.%03d"}
	key := func() string {
		shape := shapes[rng.IntN(len(shapes))]
		if strings.Count(shape, "%") == 2 {
			return fmt.Sprintf(shape, rng.IntN(40), rng.IntN(60))
		}
		return fmt.Sprintf(shape, rng.IntN(1500))
	}
	sortedKeys := func() []string {
		return slices.Sorted(func(yield func(string) bool) {
			for k := range model {
				if !yield(k) {
					return
				}
			}
		})
	}
	type pending struct {
		encode func() ([]byte, error)
		want   []*messages.KVItem
		at     uint64
	}
	var captures []pending
	checkCapture := func(c pending) {
		t.Helper()
		img, err := c.encode()
		if err != nil {
			t.Fatal(err)
		}
		snap := &messages.KVSnapshot{}
		if err := proto.Unmarshal(img, snap); err != nil {
			t.Fatal(err)
		}
		if len(snap.Items) != len(c.want) {
			t.Fatalf("capture at %d: %d items, model had %d", c.at, len(snap.Items), len(c.want))
		}
		for i, it := range snap.Items {
			if !proto.Equal(it, c.want[i]) {
				t.Fatalf("capture at %d: item %d is %v, model had %v", c.at, i, it, c.want[i])
			}
		}
	}
	checkList := func() {
		t.Helper()
		keys := sortedKeys()
		var prefix, after string
		switch rng.IntN(4) {
		case 0:
		case 1:
			prefix = key()[:1]
		case 2:
			prefix = key()
			prefix = prefix[:1+rng.IntN(len(prefix))]
		}
		if rng.IntN(2) == 0 {
			after = key()
			after = after[:1+rng.IntN(len(after))]
		}
		limit := rng.IntN(3) * rng.IntN(300)
		var want []string
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) && k > after {
				want = append(want, k)
			}
		}
		wantMore := limit > 0 && len(want) > limit
		if wantMore {
			want = want[:limit]
		}
		items, more, _ := s.List(prefix, after, limit)
		if !slices.Equal(keysOf(items), want) || more != wantMore {
			t.Fatalf("List(%q, %q, %d): %d keys, more %v; model: %d keys, more %v",
				prefix, after, limit, len(items), more, len(want), wantMore)
		}
		for _, it := range items {
			m := model[it.Key]
			if string(it.Value) != m.value || it.CreateRevision != m.create || it.ModRevision != m.mod {
				t.Fatalf("List: %q is %q %d/%d, model %q %d/%d",
					it.Key, it.Value, it.CreateRevision, it.ModRevision, m.value, m.create, m.mod)
			}
		}
	}
	const steps = 40_000
	for idx := uint64(1); idx <= steps; idx++ {
		k := key()
		// Grow for the first half, shrink for the second.
		if grow := idx <= steps/2; rng.IntN(4) != 0 == grow {
			v := fmt.Sprint("v", idx)
			wantStatus(t, put(t, s, idx, k, v, WriteOptions{}), messages.KVStatus_KV_STATUS_OK, idx)
			m, had := model[k]
			if !had {
				m.create = idx
			}
			m.value, m.mod = v, idx
			model[k] = m
		} else if _, had := model[k]; had {
			wantStatus(t, del(t, s, idx, k, WriteOptions{}), messages.KVStatus_KV_STATUS_OK, idx)
			delete(model, k)
		} else {
			wantStatus(t, del(t, s, idx, k, WriteOptions{}), messages.KVStatus_KV_STATUS_NOT_FOUND, 0)
		}
		switch r := rng.IntN(1000); {
		case r < 3:
			// A capture, encoded some time later (or at the end).
			encode, err := s.CaptureSnapshot()
			if err != nil {
				t.Fatal(err)
			}
			c := pending{encode: encode, at: idx}
			for _, k := range sortedKeys() {
				m := model[k]
				c.want = append(c.want, &messages.KVItem{Key: k, Value: []byte(m.value), CreateRevision: m.create, ModRevision: m.mod})
			}
			captures = append(captures, c)
		case r < 6 && len(captures) > 0:
			j := rng.IntN(len(captures))
			checkCapture(captures[j])
			captures = slices.Delete(captures, j, j+1)
		case r < 16:
			checkList()
		}
		if got, ok := s.Get(k); ok != (model[k] != modelItem{}) || ok && (string(got.Value) != model[k].value || got.ModRevision != model[k].mod) {
			t.Fatalf("Get(%q) = %v %v, model %v", k, got, ok, model[k])
		}
		if idx%2000 == 0 {
			s.data.check(t)
			if s.Len() != len(model) {
				t.Fatalf("Len %d, model %d", s.Len(), len(model))
			}
		}
	}
	for _, c := range captures {
		checkCapture(c)
	}
	checkList()
	s.data.check(t)
}
