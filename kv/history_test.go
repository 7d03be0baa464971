// history_test.go covers the watch history: EventsSince with prefixes and
// limits, compaction, restore, and the Changed notification.

package kv

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kontiki-raft/kontiki/messages"
)

func revisions(evs []Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Revision
	}
	return out
}

func TestEventsSince(t *testing.T) {
	s := New(Options{HistorySize: 5})
	put(t, s, 1, "a.1", "x", WriteOptions{})
	put(t, s, 2, "b.1", "y", WriteOptions{})
	s.Apply(3, nil)
	del(t, s, 4, "a.1", WriteOptions{})
	del(t, s, 5, "a.9", WriteOptions{}) // not found: no event
	put(t, s, 6, "a.2", "z", WriteOptions{})

	evs, next, err := s.EventsSince("", 0, 0)
	if err != nil || !slices.Equal(revisions(evs), []uint64{1, 2, 4, 6}) || next != 7 {
		t.Fatalf("all = %v next %d err %v", revisions(evs), next, err)
	}
	if e := evs[2]; e.Op != messages.KVOp_KV_OP_DELETE || e.Key != "a.1" || len(e.Value) != 0 {
		t.Fatalf("delete event = %+v", e)
	}
	if e := evs[0].Proto(); e.Op != messages.KVOp_KV_OP_PUT || string(e.Value) != "x" || e.Revision != 1 {
		t.Fatalf("put event = %v", e)
	}
	evs, next, _ = s.EventsSince("a.", 2, 0)
	if !slices.Equal(revisions(evs), []uint64{4, 6}) || next != 7 {
		t.Fatalf("a. from 2 = %v next %d", revisions(evs), next)
	}
	// A limit stops after the last returned event.
	evs, next, _ = s.EventsSince("a.", 1, 1)
	if !slices.Equal(revisions(evs), []uint64{1}) || next != 2 {
		t.Fatalf("limited = %v next %d", revisions(evs), next)
	}
	// A quiet prefix still advances next past everything examined.
	evs, next, _ = s.EventsSince("quiet.", 1, 0)
	if len(evs) != 0 || next != 7 {
		t.Fatalf("quiet = %v next %d", revisions(evs), next)
	}
	// The future: nothing yet, next stays.
	if evs, next, err = s.EventsSince("", 50, 0); len(evs) != 0 || next != 50 || err != nil {
		t.Fatalf("future = %v next %d err %v", revisions(evs), next, err)
	}

	// Fill past HistorySize: 1 and 2 drop out, compacted = 2.
	put(t, s, 7, "a.3", "", WriteOptions{})
	put(t, s, 8, "a.4", "", WriteOptions{})
	put(t, s, 9, "a.5", "", WriteOptions{})
	if s.CompactedRevision() != 2 {
		t.Fatalf("compacted = %d", s.CompactedRevision())
	}
	for _, from := range []uint64{0, 1, 2} {
		if _, _, err := s.EventsSince("", from, 0); !errors.Is(err, ErrCompacted) {
			t.Fatalf("from %d: err = %v, want ErrCompacted", from, err)
		}
	}
	// 3 was not a write, but every write from 3 on is retained.
	if evs, _, err := s.EventsSince("", 3, 0); err != nil || !slices.Equal(revisions(evs), []uint64{4, 6, 7, 8, 9}) {
		t.Fatalf("from 3 = %v, %v", revisions(evs), err)
	}

	// A restored replica serves the same resumes.
	r := New(Options{HistorySize: 5})
	if err := r.Restore(s.AppliedIndex(), mustSnapshot(t, s)); err != nil {
		t.Fatal(err)
	}
	for from := uint64(0); from <= 10; from++ {
		e1, n1, err1 := s.EventsSince("a.", from, 0)
		e2, n2, err2 := r.EventsSince("a.", from, 0)
		if !slices.EqualFunc(e1, e2, eventEqual) || n1 != n2 || !errors.Is(err2, err1) {
			t.Fatalf("from %d: restored replica differs", from)
		}
	}
	// A replica with a shorter history trims the image on restore.
	short := New(Options{HistorySize: 2})
	if err := short.Restore(s.AppliedIndex(), mustSnapshot(t, s)); err != nil {
		t.Fatal(err)
	}
	if short.CompactedRevision() != 7 {
		t.Fatalf("short compacted = %d", short.CompactedRevision())
	}
}

func eventEqual(a, b Event) bool {
	return a.Op == b.Op && a.Key == b.Key && string(a.Value) == string(b.Value) && a.Revision == b.Revision
}

func TestChangedWakesWatchers(t *testing.T) {
	s := New(Options{})
	ch := s.Changed()
	if ch != s.Changed() {
		t.Fatal("Changed returned a new channel without a change")
	}
	s.Apply(1, nil) // not a write
	del(t, s, 2, "missing", WriteOptions{})
	select {
	case <-ch:
		t.Fatal("closed without a write")
	default:
	}
	put(t, s, 3, "k", "v", WriteOptions{})
	select {
	case <-ch:
	default:
		t.Fatal("not closed by a write")
	}
	ch = s.Changed()
	if err := s.Restore(3, mustSnapshot(t, s)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("not closed by Restore")
	}
}

// TestWatchLoop runs the documented watcher loop against a writer and checks
// it sees every matching event exactly once, in order.
func TestWatchLoop(t *testing.T) {
	s := New(Options{HistorySize: 100_000})
	const writes = 3000
	done := make(chan []uint64)
	go func() {
		var seen []uint64
		next := uint64(1)
		for len(seen) < writes/2 {
			ch := s.Changed()
			evs, n, err := s.EventsSince("even.", next, 7)
			if err != nil {
				panic(err)
			}
			seen = append(seen, revisions(evs)...)
			next = n
			if len(evs) == 0 {
				select {
				case <-ch:
				case <-time.After(10 * time.Second):
					panic("watcher stuck")
				}
			}
		}
		done <- seen
	}()
	var want []uint64
	for i := uint64(1); i <= writes; i++ {
		prefix := "odd."
		if i%2 == 0 {
			prefix = "even."
			want = append(want, i)
		}
		put(t, s, i, fmt.Sprint(prefix, i%10), "v", WriteOptions{})
	}
	if got := <-done; !slices.Equal(got, want) {
		t.Fatalf("watcher saw %d events, want %d", len(got), len(want))
	}
}
