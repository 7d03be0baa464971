package raft

import (
	"errors"
	"slices"
	"sync"
	"testing"

	pb "github.com/kontiki-raft/kontiki/messages"
)

func storageWith(t *testing.T, terms ...uint64) *MemoryStorage {
	t.Helper()
	s := NewMemoryStorage()
	if err := s.Append(ents(1, terms...)); err != nil {
		t.Fatal(err)
	}
	return s
}

func storedIndexes(t *testing.T, s *MemoryStorage) []uint64 {
	t.Helper()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if last < first {
		return nil
	}
	es, err := s.Entries(first, last+1, noLimit)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, e := range es {
		out = append(out, e.Index)
	}
	return out
}

func TestMemoryStorageStartsEmpty(t *testing.T) {
	s := NewMemoryStorage()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 1 || last != 0 {
		t.Fatalf("first %d last %d, want 1 and 0", first, last)
	}
	if term, err := s.Term(0); err != nil || term != 0 {
		t.Fatalf("term(0) = %d, %v", term, err)
	}
	if snap, _ := s.Snapshot(); snap.GetMetadata().GetIndex() != 0 {
		t.Fatalf("snapshot index %d", snap.Metadata.Index)
	}
	hs, cs, err := s.InitialState()
	if err != nil || hs.Term != 0 || len(cs.Voters) != 0 {
		t.Fatalf("initial state %v %v %v", hs, cs, err)
	}
}

func TestMemoryStorageReportsCompactedAndUnavailableEntries(t *testing.T) {
	s := storageWith(t, 1, 1, 2, 2, 3)
	if err := s.Compact(2); err != nil {
		t.Fatal(err)
	}
	if term, err := s.Term(2); err != nil || term != 1 {
		t.Fatalf("term at the compaction point = %d, %v; its term stays known", term, err)
	}
	if _, err := s.Term(1); !errors.Is(err, ErrCompacted) {
		t.Fatalf("term(1): %v", err)
	}
	if _, err := s.Term(6); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("term(6): %v", err)
	}
	if _, err := s.Entries(2, 4, noLimit); !errors.Is(err, ErrCompacted) {
		t.Fatalf("entries [2,4): %v", err)
	}
	if _, err := s.Entries(3, 7, noLimit); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("entries [3,7): %v", err)
	}
	if got := storedIndexes(t, s); !slices.Equal(got, []uint64{3, 4, 5}) {
		t.Fatalf("entries %v", got)
	}
}

func TestMemoryStorageEntriesRespectMaxSizeButReturnAtLeastOne(t *testing.T) {
	s := NewMemoryStorage()
	var es []*pb.Entry
	for i := uint64(1); i <= 5; i++ {
		es = append(es, &pb.Entry{Index: i, Term: 1, Data: make([]byte, 76)}) // 100 bytes by entrySize
	}
	_ = s.Append(es)
	for _, tc := range []struct {
		max  uint64
		want int
	}{{0, 1}, {99, 1}, {100, 1}, {199, 1}, {200, 2}, {350, 3}, {noLimit, 5}} {
		got, err := s.Entries(1, 6, tc.max)
		if err != nil || len(got) != tc.want {
			t.Fatalf("max %d: %d entries, %v; want %d", tc.max, len(got), err, tc.want)
		}
	}
}

func TestMemoryStorageAppendReplacesAConflictingTail(t *testing.T) {
	s := storageWith(t, 1, 1, 1, 1)
	if err := s.Append(ents(3, 2, 2, 2)); err != nil {
		t.Fatal(err)
	}
	if got := storedIndexes(t, s); !slices.Equal(got, []uint64{1, 2, 3, 4, 5}) {
		t.Fatalf("indexes %v", got)
	}
	if term, _ := s.Term(4); term != 2 {
		t.Fatalf("term(4) = %d, want the new entry's 2", term)
	}
	// A shorter overwrite drops what followed.
	_ = s.Append(ents(2, 3))
	if last, _ := s.LastIndex(); last != 2 {
		t.Fatalf("last %d after overwriting from 2, want 2", last)
	}
}

func TestMemoryStorageAppendIgnoresCompactedEntriesAndRefusesGaps(t *testing.T) {
	s := storageWith(t, 1, 1, 1, 1)
	_ = s.Compact(3)
	if err := s.Append(ents(1, 1, 1)); err != nil {
		t.Fatalf("append of entries all compacted away: %v", err)
	}
	if err := s.Append(ents(2, 1, 1, 1, 5)); err != nil {
		t.Fatal(err)
	}
	if got := storedIndexes(t, s); !slices.Equal(got, []uint64{4, 5}) {
		t.Fatalf("indexes %v, want [4 5]", got)
	}
	if term, _ := s.Term(5); term != 5 {
		t.Fatalf("term(5) = %d", term)
	}
	if err := s.Append(ents(7, 5)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append leaving a gap: %v, want ErrUnavailable", err)
	}
}

func TestMemoryStorageCompact(t *testing.T) {
	s := storageWith(t, 1, 2, 3, 4, 5)
	if err := s.Compact(3); err != nil {
		t.Fatal(err)
	}
	if first, _ := s.FirstIndex(); first != 4 {
		t.Fatalf("first %d, want 4", first)
	}
	if err := s.Compact(3); !errors.Is(err, ErrCompacted) {
		t.Fatalf("compacting again: %v", err)
	}
	if err := s.Compact(6); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("compacting beyond the log: %v", err)
	}
	if err := s.Compact(5); err != nil {
		t.Fatal(err)
	}
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 6 || last != 5 {
		t.Fatalf("compacted to the end: first %d last %d", first, last)
	}
}

func TestMemoryStorageCreateSnapshot(t *testing.T) {
	s := storageWith(t, 1, 1, 2)
	cs := &pb.ConfState{Voters: []uint64{1, 2, 3}}
	s.SetConfState(cs)
	snap, err := s.CreateSnapshot(2, nil, []byte("at 2"))
	if err != nil {
		t.Fatal(err)
	}
	if snap.Metadata.Index != 2 || snap.Metadata.Term != 1 || !slices.Equal(snap.Metadata.ConfState.Voters, cs.Voters) {
		t.Fatalf("snapshot %v, want index 2 term 1 with the membership in force", snap.Metadata)
	}
	if got, _ := s.Snapshot(); string(got.Data) != "at 2" {
		t.Fatalf("stored snapshot %q", got.Data)
	}
	if got := storedIndexes(t, s); len(got) != 3 {
		t.Fatalf("creating a snapshot compacted the log: %v", got)
	}
	if _, err := s.CreateSnapshot(2, nil, nil); !errors.Is(err, ErrSnapOutOfDate) {
		t.Fatalf("same index again: %v", err)
	}
	if _, err := s.CreateSnapshot(4, nil, nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("beyond the log: %v", err)
	}
}

func TestMemoryStorageApplySnapshotReplacesEverything(t *testing.T) {
	s := storageWith(t, 1, 1, 2)
	if err := s.ApplySnapshot(testSnapshot(10, 4, 1, 2)); err != nil {
		t.Fatal(err)
	}
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	term, _ := s.Term(10)
	if first != 11 || last != 10 || term != 4 {
		t.Fatalf("first %d last %d term(10) %d", first, last, term)
	}
	if _, cs, _ := s.InitialState(); !slices.Equal(cs.Voters, []uint64{1, 2}) {
		t.Fatalf("membership %v, want the snapshot's", cs.Voters)
	}
	if err := s.ApplySnapshot(testSnapshot(8, 4, 1, 2)); !errors.Is(err, ErrSnapOutOfDate) {
		t.Fatalf("older snapshot: %v", err)
	}
	if err := s.Append(ents(11, 4)); err != nil {
		t.Fatalf("appending after the snapshot: %v", err)
	}
}

func TestMemoryStorageDoesNotShareItsSlicesOrState(t *testing.T) {
	s := storageWith(t, 1, 1, 1)
	got, _ := s.Entries(1, 3, noLimit)
	_ = append(got, &pb.Entry{Index: 99, Term: 99})
	if term, _ := s.Term(3); term != 1 {
		t.Fatalf("appending to a returned slice overwrote entry 3 (term %d)", term)
	}
	s.SetHardState(&pb.HardState{Term: 5, Vote: 2})
	hs, cs, _ := s.InitialState()
	hs.Term = 9
	cs.Voters = append(cs.Voters, 7)
	if hs2, cs2, _ := s.InitialState(); hs2.Term != 5 || len(cs2.Voters) != 0 {
		t.Fatalf("mutating InitialState's result changed storage: %v %v", hs2, cs2)
	}
}

func TestMemoryStorageIsSafeForConcurrentReaders(t *testing.T) {
	s := storageWith(t, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			_, _ = s.LastIndex()
			_, _, _ = s.InitialState()
			_, _ = s.Term(1)
		}
	}()
	for i := uint64(2); i < 200; i++ {
		_ = s.Append(ents(i, 1))
		s.SetHardState(&pb.HardState{Term: 1, Commit: i})
	}
	wg.Wait()
}

func TestNodeRestartsFromItsStorage(t *testing.T) {
	s := storageWith(t, 1, 1, 2, 2)
	s.SetConfState(&pb.ConfState{Voters: []uint64{1, 2, 3}})
	s.SetHardState(&pb.HardState{Term: 3, Vote: 2, Commit: 3})
	cfg := newTestConfig(1, s)
	cfg.Applied = 2
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := r.Status()
	if st.Term != 3 || st.Vote != 2 || st.Commit != 3 || st.Applied != 2 || st.LastIndex != 4 || st.Role != Follower {
		t.Fatalf("restarted as %+v", st)
	}
	rd := r.Ready()
	if len(rd.CommittedEntries) != 1 || rd.CommittedEntries[0].Index != 3 {
		t.Fatalf("to apply after restart: %v, want entry 3", rd.CommittedEntries)
	}
	if rd.HardState != nil || len(rd.Entries) != 0 {
		t.Fatal("restart reported durable state as new")
	}
}

func TestNodeRefusesInconsistentStorage(t *testing.T) {
	s := storageWith(t, 1, 1)
	s.SetConfState(&pb.ConfState{Voters: []uint64{1}})
	s.SetHardState(&pb.HardState{Term: 1, Commit: 5})
	if _, err := New(newTestConfig(1, s)); err == nil {
		t.Fatal("hard state commit beyond the log accepted")
	}
	s.SetHardState(&pb.HardState{Term: 1, Commit: 1})
	cfg := newTestConfig(1, s)
	cfg.Applied = 2
	if _, err := New(cfg); err == nil {
		t.Fatal("applied above commit accepted")
	}
}
