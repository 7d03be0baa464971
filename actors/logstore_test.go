package actors

import (
	"testing"

	pb "github.com/kontiki-raft/kontiki/messages"
)

func ents(term uint64, from, to uint64) []*pb.Entry {
	var out []*pb.Entry
	for i := from; i <= to; i++ {
		out = append(out, &pb.Entry{Index: i, Term: term})
	}
	return out
}

func snapAt(index, term uint64) *pb.Snapshot {
	return &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: index, Term: term, ConfState: &pb.ConfState{Voters: []uint64{1}}}}
}

// A follower whose log diverges at the snapshot's index installs the
// leader's snapshot: its old tail belongs to another branch and must go, or
// a restart would load entries of term 1 after a snapshot of term 2 (found by
// the simulation, seed 93: log matching broken in the stored log).
func TestMemoryLogStoreInstalledSnapshotDropsDivergentTail(t *testing.T) {
	m := NewMemoryLogStore()
	_ = m.Save(&pb.HardState{Term: 1}, ents(1, 1, 10), true)
	if err := m.SaveSnapshot(snapAt(9, 2)); err != nil {
		t.Fatal(err)
	}
	for _, crash := range []bool{false, true} {
		if crash {
			m.Crash()
		}
		ds, _ := m.Load()
		if len(ds.Entries) != 0 {
			t.Fatalf("crash=%v: entries after an installed snapshot of another branch: %v", crash, ds.Entries)
		}
	}
}

// A local snapshot (the log holds its entry with its term) keeps the entries
// after it.
func TestMemoryLogStoreLocalSnapshotKeepsTail(t *testing.T) {
	m := NewMemoryLogStore()
	_ = m.Save(&pb.HardState{Term: 2}, append(ents(1, 1, 5), ents(2, 6, 10)...), true)
	if err := m.SaveSnapshot(snapAt(7, 2)); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	ds, _ := m.Load()
	if len(ds.Entries) != 3 || ds.Entries[0].Index != 8 || ds.Entries[2].Index != 10 {
		t.Fatalf("entries after a local snapshot at 7: %v, want 8..10", ds.Entries)
	}
}
