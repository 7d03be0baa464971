// keyrun_test.go checks keyRun against a sorted slice of strings.

package kv

import (
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
)

// check verifies the keyRun invariants.
func (r *keyRun[E, K]) check(t *testing.T) {
	t.Helper()
	if len(r.words) != len(r.elems) {
		t.Fatalf("%d elements, %d words", len(r.elems), len(r.words))
	}
	for i := range r.elems {
		k := r.key(i)
		if i > 0 && k <= r.key(i-1) {
			t.Fatalf("key %d %q after %q", i, k, r.key(i-1))
		}
		if !strings.HasPrefix(k, r.prefix) {
			t.Fatalf("key %d %q without the prefix %q", i, k, r.prefix)
		}
		if w := word(k, len(r.prefix)); r.words[i] != w {
			t.Fatalf("key %d %q: word %x, want %x", i, k, r.words[i], w)
		}
	}
}

// runKey returns a key drawn so that keys often share long prefixes, are
// prefixes of one another, agree on 8 bytes past a prefix, or hold the
// bytes 0 and 0xff, which the padding of words must not confuse.
func runKey(rng *rand.Rand) string {
	bases := []string{"", "a", "ab", "abcdefghijklmnop", "abcdefghijklmnoq", "b.", "b.0123456789"}
	var sb strings.Builder
	sb.WriteString(bases[rng.IntN(len(bases))])
	for range rng.IntN(12) {
		sb.WriteByte("ab\x00\xff"[rng.IntN(4)])
	}
	return sb.String()
}

func TestWordOrdersKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		a, b := runKey(rng), runKey(rng)
		p := commonPrefix(a, b)
		if p > 0 {
			p = rng.IntN(p + 1)
		}
		wa, wb := word(a, p), word(b, p)
		if c := strings.Compare(a, b); wa < wb && c >= 0 || wa > wb && c <= 0 {
			t.Fatalf("word(%q, %d) = %x, word(%q, %d) = %x: the keys compare %d", a, p, wa, b, p, wb, c)
		}
	}
}

func TestKeyRunMatchesSortedSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 20 {
		var r keyRun[string, stringKey]
		var model []string
		for step := range 3000 {
			k := runKey(rng)
			i := sort.SearchStrings(model, k)
			if got := r.search(k); got != i {
				t.Fatalf("round %d step %d: search(%q) = %d, want %d (prefix %q)", round, step, k, got, i, r.prefix)
			}
			present := i < len(model) && model[i] == k
			switch op := rng.IntN(10); {
			case op < 5 && !present:
				r.insert(i, k)
				model = slices.Insert(model, i, k)
			case op < 7 && len(model) > 0:
				j := rng.IntN(len(model))
				r.remove(j)
				model = slices.Delete(model, j, j+1)
			case op < 8 && !present && len(model) > 0:
				// Replace a neighbour of k's place by k: sorted still.
				j := min(i, len(model)-1)
				if j > 0 && model[j-1] >= k || j+1 < len(model) && model[j+1] <= k {
					break
				}
				r.set(j, k)
				model[j] = k
			case op < 9 && len(model) > 1:
				j := 1 + rng.IntN(len(model)-1)
				right := r.cut(j, len(model))
				r.check(t)
				right.check(t)
				if !slices.Equal(r.elems, model[:j]) || !slices.Equal(right.elems, model[j:]) {
					t.Fatalf("round %d step %d: cut(%d) lost keys", round, step, j)
				}
				r.appendRun(&right)
			default:
				r.sharpen()
			}
			r.check(t)
			if !slices.Equal(r.elems, model) {
				t.Fatalf("round %d step %d: keys differ from the model", round, step)
			}
		}
	}
}
