// dedupe_test.go covers request-id dedupe: original results, apply-once
// across snapshots, and deterministic expiry by index, leader time and size.

package kv

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
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
	if n := len(s.dedupe.byID); n != 3 {
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

func TestDedupeHeapsStayConsistent(t *testing.T) {
	d := newDedupe(40, 1000, 25)
	rng := rand.New(rand.NewPCG(7, 8))
	for idx := uint64(1); idx < 3000; idx++ {
		tm := int64(rng.IntN(5000)) - 100 // some unstamped (<= 0)
		d.expire(idx, tm)
		id := fmt.Sprint(rng.IntN(100))
		if _, seen := d.lookup(id); !seen {
			d.add(id, result{revision: idx}, idx, tm)
		}
		stamped := 0
		for _, e := range d.byID {
			if d.byIndex[e.indexPos] != e || (e.timePos >= 0) != (e.timeMs > 0) || e.timePos >= 0 && d.byTime[e.timePos] != e {
				t.Fatalf("index %d: entry %q has stale heap positions", idx, e.id)
			}
			if e.timePos >= 0 {
				stamped++
			}
		}
		if len(d.byIndex) != len(d.byID) || len(d.byTime) != stamped || len(d.byID) > 25 {
			t.Fatalf("index %d: sizes %d/%d/%d", idx, len(d.byID), len(d.byIndex), len(d.byTime))
		}
	}
}
