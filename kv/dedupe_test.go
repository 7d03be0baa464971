// dedupe_test.go covers request-id dedupe: original results, apply-once
// across snapshots, and deterministic expiry by index, leader time and size.

package kv

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kontiki-raft/kontiki/messages"
)

func TestDedupeReturnsOriginalAndAppliesOnce(t *testing.T) {
	s := New(Options{})
	id := WriteOptions{RequestID: "req-1"}
	wantStatus(t, put(t, s, 1, "k", "first", id), statusOK, 1)
	wantStatus(t, put(t, s, 2, "k", "other", WriteOptions{}), statusOK, 2)
	// The retry (even with another value) returns the original result and
	// does not overwrite the later write.
	wantStatus(t, put(t, s, 3, "k", "first", id), statusOK, 1)
	if it, _ := s.Get("k"); string(it.Value) != "other" || it.ModRevision != 2 {
		t.Fatalf("k = %q@%d after the retry", it.Value, it.ModRevision)
	}
	if s.Revision() != 2 || s.AppliedIndex() != 3 {
		t.Fatalf("revision %d applied %d", s.Revision(), s.AppliedIndex())
	}

	// A CAS that succeeded stays a success on retry, though a retry run
	// afresh would now conflict.
	cas := WriteOptions{RequestID: "req-2", HasExpectedRevision: true, ExpectedRevision: 2}
	wantStatus(t, put(t, s, 4, "k", "cas", cas), statusOK, 4)
	wantStatus(t, put(t, s, 5, "k", "cas", cas), statusOK, 4)
	// A failure is remembered too: the retry of a delete of a missing key
	// is still NOT_FOUND even after the key appears.
	wantStatus(t, del(t, s, 6, "gone", WriteOptions{RequestID: "req-3"}), notFound, 0)
	put(t, s, 7, "gone", "now here", WriteOptions{})
	wantStatus(t, del(t, s, 8, "gone", WriteOptions{RequestID: "req-3"}), notFound, 0)
	if _, found := s.Get("gone"); !found {
		t.Fatal("the retried delete applied")
	}

	// Across Snapshot/Restore onto a fresh store.
	snap := mustSnapshot(t, s)
	r := New(Options{})
	if err := r.Restore(s.AppliedIndex(), snap); err != nil {
		t.Fatal(err)
	}
	for _, st := range []*Store{s, r} {
		wantStatus(t, put(t, st, 9, "k", "again", id), statusOK, 1)
		wantStatus(t, put(t, st, 10, "k", "again", cas), statusOK, 4)
	}
	sameState(t, s, r)
	if it, _ := r.Get("k"); string(it.Value) != "cas" {
		t.Fatalf("restored k = %q", it.Value)
	}
}

func TestDedupeExpiresByIndex(t *testing.T) {
	s := New(Options{DedupeWindow: 10})
	id := WriteOptions{RequestID: "r"}
	wantStatus(t, put(t, s, 1, "k", "a", id), statusOK, 1)
	s.Apply(9, nil)
	// Index 10 is 9 past the id's entry: still remembered.
	wantStatus(t, put(t, s, 10, "k", "a", id), statusOK, 1)
	// Index 11 is 10 past: forgotten, so the command applies again.
	wantStatus(t, put(t, s, 11, "k", "b", id), statusOK, 11)
	if it, _ := s.Get("k"); string(it.Value) != "b" {
		t.Fatalf("k = %q", it.Value)
	}
}

func TestDedupeExpiresByLeaderTime(t *testing.T) {
	const t0 = 1_700_000_000_000
	s := New(Options{DedupeTTL: time.Minute})
	wantStatus(t, put(t, s, 1, "k", "a", WriteOptions{RequestID: "r", LeaderTimeUnixMs: t0}), statusOK, 1)
	// Exactly TTL later: still remembered.
	wantStatus(t, put(t, s, 2, "k", "a", WriteOptions{RequestID: "r", LeaderTimeUnixMs: t0 + 60_000}), statusOK, 1)
	// Unstamped commands and a leader clock that went back expire nothing.
	put(t, s, 3, "x", "", WriteOptions{})
	put(t, s, 4, "x", "", WriteOptions{LeaderTimeUnixMs: t0 - 3_600_000})
	wantStatus(t, put(t, s, 5, "k", "a", WriteOptions{RequestID: "r"}), statusOK, 1)
	// A command stamped more than TTL after the entry's stamp expires it,
	// whatever its own request id.
	put(t, s, 6, "x", "", WriteOptions{LeaderTimeUnixMs: t0 + 60_001})
	wantStatus(t, put(t, s, 7, "k", "b", WriteOptions{RequestID: "r"}), statusOK, 7)
}

func TestDedupeSizeBound(t *testing.T) {
	s := New(Options{DedupeMaxEntries: 3})
	for i := 1; i <= 5; i++ {
		put(t, s, uint64(i), "k", "v", WriteOptions{RequestID: fmt.Sprint("r", i)})
	}
	// r1, r2 were evicted (lowest index first); r3..r5 remain.
	if n := s.dedupe.live; n != 3 {
		t.Fatalf("table holds %d entries", n)
	}
	wantStatus(t, put(t, s, 6, "k", "v", WriteOptions{RequestID: "r3"}), statusOK, 3)
	wantStatus(t, put(t, s, 7, "k", "v", WriteOptions{RequestID: "r1"}), statusOK, 7)
}

// TestDedupeDeterministic applies one random command stream to two stores,
// one of which is restarted from its snapshot now and then, and checks that
// both end (and stay) identical, dedupe table included.
func TestDedupeDeterministic(t *testing.T) {
	opts := Options{DedupeWindow: 50, DedupeTTL: 2 * time.Second, DedupeMaxEntries: 20, HistorySize: 30}
	rng := rand.New(rand.NewPCG(5, 6))
	a, b := New(opts), New(opts)
	now := int64(1_700_000_000_000)
	for index := uint64(1); index <= 5000; index++ {
		var data []byte
		if rng.IntN(20) != 0 {
			now += int64(rng.IntN(200)) - 40 // leader clocks may step back
			wo := WriteOptions{LeaderTimeUnixMs: now}
			if rng.IntN(3) != 0 {
				wo.RequestID = fmt.Sprint("r", rng.IntN(60))
			}
			if rng.IntN(4) == 0 {
				wo.HasExpectedRevision, wo.ExpectedRevision = true, uint64(rng.IntN(int(index)))
			}
			key := fmt.Sprint("k", rng.IntN(15))
			if rng.IntN(3) == 0 {
				data, _ = EncodeDelete(key, wo)
			} else {
				data, _ = EncodePut(key, []byte(fmt.Sprint(index)), wo)
			}
		}
		ra, rb := a.Apply(index, data), b.Apply(index, data)
		if !proto.Equal(mustResult(t, ra), mustResult(t, rb)) {
			t.Fatalf("index %d: results differ", index)
		}
		if rng.IntN(100) == 0 {
			img := mustSnapshot(t, b)
			b = New(opts)
			if err := b.Restore(index, img); err != nil {
				t.Fatal(err)
			}
		}
		if index%500 == 0 {
			sameState(t, a, b)
		}
	}
	sameState(t, a, b)
}

func mustResult(t testing.TB, out []byte) proto.Message {
	if out == nil {
		return nil
	}
	res, err := DecodeResult(out)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// dedupeModel is the table's semantics written plainly: a list of entries
// that expiry and eviction scan in full.
type dedupeModel struct {
	window  uint64
	ttlMs   int64
	max     int
	entries []dedupeEntry
}

func (m *dedupeModel) drop(gone func(e *dedupeEntry) bool) {
	m.entries = slices.DeleteFunc(m.entries, func(e dedupeEntry) bool { return gone(&e) })
}

func (m *dedupeModel) expire(idx uint64, leaderTimeMs int64) {
	m.drop(func(e *dedupeEntry) bool { return idx-e.index >= m.window })
	if leaderTimeMs > 0 {
		m.drop(func(e *dedupeEntry) bool { return e.timeMs > 0 && e.timeMs < leaderTimeMs-m.ttlMs })
	}
}

func (m *dedupeModel) add(id string, res result, index uint64, timeMs int64) {
	for len(m.entries) >= m.max {
		lowest := slices.MinFunc(m.entries, func(a, b dedupeEntry) int { return cmp.Compare(a.index, b.index) })
		m.drop(func(e *dedupeEntry) bool { return e.index == lowest.index })
	}
	m.entries = append(m.entries, dedupeEntry{id: id, result: res, index: index, timeMs: timeMs})
}

// checkDedupe fails unless d holds the model's entries and keeps its own
// invariants (see dedupe), including the bound on the dead entries.
func checkDedupe(t *testing.T, step int, d *dedupe, m *dedupeModel) {
	t.Helper()
	got := d.copyEntries()
	live := map[string]*dedupeEntry{}
	for _, e := range got {
		live[e.id] = e
	}
	checkHashIndex(t, step, &d.table, live, func(e *dedupeEntry) uint64 { return e.hash })
	if len(got) != len(m.entries) || d.live != len(m.entries) || d.table.len() != len(m.entries) {
		t.Fatalf("step %d: %d entries copied, %d counted live, %d in the table, want %d",
			step, len(got), d.live, d.table.len(), len(m.entries))
	}
	for i, e := range got {
		w := &m.entries[i]
		if e.id != w.id || e.result != w.result || e.index != w.index || e.timeMs != w.timeMs || !e.live || d.find(e.id) != e || e.hash != d.hash(e.id) {
			t.Fatalf("step %d: entry %d is %+v, want %+v", step, i, *e, *w)
		}
		if res, ok := d.lookup(w.id); !ok || res != w.result {
			t.Fatalf("step %d: lookup(%q) = %v, %v", step, w.id, res, ok)
		}
	}
	for i, e := range d.byIndex {
		if (i < d.head) != (e == nil) || i > d.head && e.index <= d.byIndex[i-1].index {
			t.Fatalf("step %d: byIndex[%d] out of place (head %d)", step, i, d.head)
		}
	}
	stamped, slots := 0, map[*dedupeEntry]int{}
	for i, s := range d.inOrder {
		if (i < d.timeHead) != (s.e == nil) || i > d.timeHead && slotLess(&s, &d.inOrder[i-1]) {
			t.Fatalf("step %d: inOrder[%d] out of place (head %d)", step, i, d.timeHead)
		}
	}
	for i := range d.outOfOrder {
		if i > 0 && slotLess(&d.outOfOrder[i], &d.outOfOrder[(i-1)/2]) {
			t.Fatalf("step %d: outOfOrder is not a heap at %d", step, i)
		}
	}
	for _, s := range slices.Concat(d.inOrder[d.timeHead:], d.outOfOrder) {
		if s.timeMs != s.e.timeMs || s.index != s.e.index || s.timeMs <= 0 {
			t.Fatalf("step %d: time slot %+v does not match its entry", step, s)
		}
		slots[s.e]++
	}
	for _, e := range got {
		if e.timeMs > 0 {
			stamped++
			if slots[e] != 1 {
				t.Fatalf("step %d: live stamped entry %q has %d time slots", step, e.id, slots[e])
			}
		}
	}
	if d.stamped != stamped {
		t.Fatalf("step %d: stamped = %d, want %d", step, d.stamped, stamped)
	}
	if dead := len(d.byIndex) - d.head - len(got); dead > len(got)+dedupeSlack {
		t.Fatalf("step %d: byIndex holds %d dead entries for %d live", step, dead, len(got))
	}
	if dead := len(d.inOrder) - d.timeHead + len(d.outOfOrder) - stamped; dead > stamped+dedupeSlack {
		t.Fatalf("step %d: the time order holds %d dead slots for %d live", step, dead, stamped)
	}
}

// TestDedupeMatchesModel runs random expiries and adds (leader clocks that
// step back, unstamped commands, retried ids) against the table and the
// model, under limits where each of window, TTL and size does the expiring,
// and with a hash narrowed to 2 bits, so that most ids share their hash with
// others and lookups and removals walk long runs of slots.
func TestDedupeMatchesModel(t *testing.T) {
	for _, tc := range []struct {
		window uint64
		ttlMs  int64
		max    int
		mask   uint64
		// Expiry by time leaves dead entries inside byIndex; expiry by
		// index and eviction leave dead slots in the time order.
		wantDeadInQueue, wantDeadInTime bool
	}{
		{40, 100, 25, ^uint64(0), true, true},                // all three
		{1_000_000, 300, 1_000_000, ^uint64(0), true, false}, // leader time
		{150, 1_000_000, 1_000_000, ^uint64(0), false, true}, // index
		{1_000_000, 1_000_000, 100, ^uint64(0), false, true}, // size
		{40, 100, 25, 3, true, true},                         // all three, colliding hashes
	} {
		t.Run(fmt.Sprintf("window=%d,ttl=%d,max=%d,mask=%#x", tc.window, tc.ttlMs, tc.max, tc.mask), func(t *testing.T) {
			d := newDedupe(tc.window, tc.ttlMs, tc.max)
			d.mask = tc.mask
			m := &dedupeModel{window: tc.window, ttlMs: tc.ttlMs, max: tc.max}
			rng := rand.New(rand.NewPCG(7, 8))
			now := int64(10_000)
			idx := uint64(0)
			deadInQueue, deadInTime, inHeap, peak := 0, 0, 0, 0
			for step := range 20_000 {
				idx += 1 + uint64(rng.IntN(3))
				now += int64(rng.IntN(40)) - 15 // steps back now and then
				tm := now
				if rng.IntN(8) == 0 {
					tm = -int64(rng.IntN(2)) // unstamped
				}
				d.expire(idx, tm)
				m.expire(idx, tm)
				id := fmt.Sprint(rng.IntN(300))
				_, seen := d.lookup(id)
				if seen != slices.ContainsFunc(m.entries, func(e dedupeEntry) bool { return e.id == id }) {
					t.Fatalf("step %d: lookup(%q) disagrees with the model", step, id)
				}
				if !seen && rng.IntN(4) != 0 {
					res := result{status: messages.KVStatus(rng.IntN(4)), revision: idx}
					d.add(id, res, idx, tm)
					m.add(id, res, idx, tm)
				}
				checkDedupe(t, step, d, m)
				peak = max(peak, d.live)
				if len(d.byIndex)-d.head > d.live {
					deadInQueue++
				}
				if len(d.inOrder)-d.timeHead+len(d.outOfOrder) > d.stamped {
					deadInTime++
				}
				if len(d.outOfOrder) > 0 {
					inHeap++
				}
			}
			// The lazy removals were exercised, not just front pops, and
			// the stamps that step back went through the heap.
			if tc.wantDeadInQueue && deadInQueue == 0 || tc.wantDeadInTime && deadInTime == 0 || inHeap == 0 {
				t.Fatalf("dead entries inside byIndex at %d steps, in the time order at %d; the heap used at %d",
					deadInQueue, deadInTime, inHeap)
			}
			// The queues reuse their arrays rather than grow with the
			// number of entries that passed through them.
			if bound := 8 * (peak + dedupeSlack); cap(d.byIndex) > bound || cap(d.inOrder) > bound {
				t.Fatalf("capacities %d (byIndex), %d (time queue) for at most %d entries", cap(d.byIndex), cap(d.inOrder), peak)
			}
		})
	}
}

// TestDedupeCompactsDeadEntries drives each queue into keeping dead entries
// it cannot pop, and checks that compact keeps them bounded.
func TestDedupeCompactsDeadEntries(t *testing.T) {
	// An unstamped entry stays at the front of byIndex while the stamped
	// ones behind it expire by leader time.
	d := newDedupe(1_000_000, 10, 1_000_000)
	m := &dedupeModel{window: 1_000_000, ttlMs: 10, max: 1_000_000}
	d.add("front", result{}, 1, 0)
	m.add("front", result{}, 1, 0)
	for i := uint64(2); i < 2000; i++ {
		d.expire(i, int64(i))
		m.expire(i, int64(i))
		d.add(fmt.Sprint(i), result{revision: i}, i, int64(i))
		m.add(fmt.Sprint(i), result{revision: i}, i, int64(i))
		checkDedupe(t, int(i), d, m)
	}
	if len(d.byIndex) > 2*d.live+dedupeSlack+1 {
		t.Fatalf("byIndex holds %d slots for %d entries", len(d.byIndex), d.live)
	}

	// A leader clock that runs backwards puts each new entry at the top of
	// the time heap, while expiry by index removes the entries at its
	// bottom.
	d = newDedupe(10, 1_000_000, 1_000_000)
	m = &dedupeModel{window: 10, ttlMs: 1_000_000, max: 1_000_000}
	for i := uint64(1); i < 2000; i++ {
		d.expire(i, 10_000-int64(i))
		m.expire(i, 10_000-int64(i))
		d.add(fmt.Sprint(i), result{revision: i}, i, 10_000-int64(i))
		m.add(fmt.Sprint(i), result{revision: i}, i, 10_000-int64(i))
		checkDedupe(t, int(i), d, m)
	}
	if len(d.outOfOrder) > 2*d.stamped+dedupeSlack+1 || len(d.outOfOrder) == 0 {
		t.Fatalf("the time heap holds %d slots for %d stamped entries", len(d.outOfOrder), d.stamped)
	}

	// Stamped entries that expire by index while only unstamped commands
	// come, which leave the time order alone, stay in the time queue.
	d = newDedupe(10, 1_000_000, 1_000_000)
	m = &dedupeModel{window: 10, ttlMs: 1_000_000, max: 1_000_000}
	for i := uint64(1); i < 2000; i++ {
		d.expire(i, 0)
		m.expire(i, 0)
		d.add(fmt.Sprint(i), result{revision: i}, i, int64(i))
		m.add(fmt.Sprint(i), result{revision: i}, i, int64(i))
		checkDedupe(t, int(i), d, m)
	}
	if len(d.inOrder) > 2*d.stamped+dedupeSlack+1 || len(d.outOfOrder) != 0 {
		t.Fatalf("the time queue holds %d slots (the heap %d) for %d stamped entries", len(d.inOrder), len(d.outOfOrder), d.stamped)
	}
}
