package raft

import (
	"fmt"
	"slices"
	"testing"

	pb "github.com/kontiki-raft/kontiki/messages"
)

// ents builds entries from index first with the given terms.
func ents(first uint64, terms ...uint64) []*pb.Entry {
	var out []*pb.Entry
	for i, t := range terms {
		out = append(out, &pb.Entry{Index: first + uint64(i), Term: t})
	}
	return out
}

// newTestLog is a log whose storage holds stable (from index 1) and whose
// unstable tail holds the entries after them with terms unstable.
func newTestLog(t *testing.T, stable []uint64, unstable []uint64) *raftLog {
	t.Helper()
	s := NewMemoryStorage()
	if err := s.Append(ents(1, stable...)); err != nil {
		t.Fatal(err)
	}
	l, err := newLog(s, noLimit)
	if err != nil {
		t.Fatal(err)
	}
	if len(unstable) > 0 {
		l.append(ents(uint64(len(stable))+1, unstable...)...)
	}
	return l
}

func allTerms(l *raftLog) []uint64 {
	var out []uint64
	for i := l.firstIndex(); i <= l.lastIndex(); i++ {
		out = append(out, l.zeroTermOnOutOfBounds(l.term(i)))
	}
	return out
}

func TestAppendIsAcceptedOnlyAfterAMatchingEntry(t *testing.T) {
	// The log: 1:t1 2:t2 3:t3, with 1 committed.
	cases := []struct {
		name                   string
		index, logTerm, commit uint64
		ents                   []*pb.Entry
		ok                     bool
		wantLast               uint64
		wantTerms              []uint64
		wantCommit             uint64
	}{
		{"heartbeat-like append at our last entry", 3, 3, 3, nil, true, 3, []uint64{1, 2, 3}, 3},
		{"previous term differs", 3, 2, 3, nil, false, 0, []uint64{1, 2, 3}, 1},
		{"previous entry missing", 4, 3, 3, nil, false, 0, []uint64{1, 2, 3}, 1},
		{"new entries extend the log", 3, 3, 1, ents(4, 4, 4), true, 5, []uint64{1, 2, 3, 4, 4}, 1},
		{"a conflict truncates the rest", 1, 1, 1, ents(2, 4), true, 2, []uint64{1, 4}, 1},
		{"entries we already have change nothing", 1, 1, 1, ents(2, 2), true, 2, []uint64{1, 2, 3}, 1},
		{"commit is capped at the last new entry", 1, 1, 10, ents(2, 2), true, 2, []uint64{1, 2, 3}, 2},
		{"from the start of the log", 0, 0, 0, ents(1, 1, 2), true, 2, []uint64{1, 2, 3}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestLog(t, []uint64{1, 2, 3}, nil)
			l.commitTo(1)
			last, ok := l.maybeAppend(tc.index, tc.logTerm, tc.commit, tc.ents)
			if ok != tc.ok || last != tc.wantLast {
				t.Fatalf("maybeAppend = %d, %v; want %d, %v", last, ok, tc.wantLast, tc.ok)
			}
			if got := allTerms(l); !slices.Equal(got, tc.wantTerms) {
				t.Fatalf("log terms %v, want %v", got, tc.wantTerms)
			}
			if l.committed != tc.wantCommit {
				t.Fatalf("committed %d, want %d", l.committed, tc.wantCommit)
			}
		})
	}
}

func TestAppendConflictingWithACommittedEntryIsAnInvariantViolation(t *testing.T) {
	l := newTestLog(t, []uint64{1, 2, 3}, nil)
	l.commitTo(2)
	defer func() {
		if recover() == nil {
			t.Fatal("overwriting a committed entry did not panic")
		}
	}()
	l.maybeAppend(1, 1, 3, ents(2, 9))
}

func TestFindConflictIsTheFirstNewOrDifferingEntry(t *testing.T) {
	cases := []struct {
		ents []*pb.Entry
		want uint64
	}{
		{nil, 0},
		{ents(1, 1, 2, 3), 0},
		{ents(2, 2, 3), 0},
		{ents(2, 2, 3, 4, 4), 4},
		{ents(4, 4), 4},
		{ents(1, 1, 5), 2},
		{ents(3, 9), 3},
		{ents(1, 2), 1},
	}
	for _, tc := range cases {
		l := newTestLog(t, []uint64{1, 2, 3}, nil)
		if got := l.findConflict(tc.ents); got != tc.want {
			t.Fatalf("findConflict(%v) = %d, want %d", tc.ents, got, tc.want)
		}
	}
}

func TestFindConflictByTermSkipsEveryEntryOfAHigherTerm(t *testing.T) {
	// The log: 1:t1 2:t1 3:t2 4:t2 5:t5.
	cases := []struct {
		index, term         uint64
		wantIndex, wantTerm uint64
	}{
		{5, 5, 5, 5},
		{5, 9, 5, 5},
		{5, 4, 4, 2}, // the whole term-5 run is skipped
		{5, 2, 4, 2},
		{5, 1, 2, 1}, // and the term-2 run
		{5, 0, 0, 0},
		{3, 9, 3, 2},
		{8, 3, 8, 0}, // beyond the log: unknown, returned as is
	}
	for _, tc := range cases {
		l := newTestLog(t, []uint64{1, 1, 2, 2, 5}, nil)
		i, term := l.findConflictByTerm(tc.index, tc.term)
		if i != tc.wantIndex || term != tc.wantTerm {
			t.Fatalf("findConflictByTerm(%d, %d) = (%d, %d), want (%d, %d)", tc.index, tc.term, i, term, tc.wantIndex, tc.wantTerm)
		}
	}
}

func TestFindConflictByTermStopsAtTheCompactionPoint(t *testing.T) {
	s := NewMemoryStorage()
	_ = s.Append(ents(1, 1, 1, 2, 2, 5))
	_ = s.Compact(2) // first index 3; entry 2 (term 1) is the snapshot point
	l, err := newLog(s, noLimit)
	if err != nil {
		t.Fatal(err)
	}
	if i, term := l.findConflictByTerm(5, 1); i != 2 || term != 1 {
		t.Fatalf("(%d, %d), want (2, 1): the snapshot point's term is known", i, term)
	}
	if i, term := l.findConflictByTerm(5, 0); i != 1 || term != 0 {
		t.Fatalf("(%d, %d), want (1, 0): below the snapshot the term is unknown", i, term)
	}
}

func TestLeaderCommitsOnlyEntriesOfItsCurrentTerm(t *testing.T) {
	l := newTestLog(t, []uint64{1, 1, 2}, nil)
	if l.maybeCommit(2, 2) {
		t.Fatal("committed entry 2 of term 1 by counting replicas in term 2")
	}
	if !l.maybeCommit(3, 2) || l.committed != 3 {
		t.Fatalf("entry 3 of term 2 not committed (committed %d)", l.committed)
	}
	if l.maybeCommit(2, 2) || l.committed != 3 {
		t.Fatalf("commit moved back to %d", l.committed)
	}
	if l.maybeCommit(9, 2) {
		t.Fatal("committed beyond the log")
	}
}

func TestCommitIndexNeverMovesBackward(t *testing.T) {
	l := newTestLog(t, []uint64{1, 1, 1}, nil)
	l.commitTo(3)
	l.commitTo(1)
	if l.committed != 3 {
		t.Fatalf("committed %d, want 3", l.committed)
	}
}

func TestCommitBeyondTheLogIsAnInvariantViolation(t *testing.T) {
	l := newTestLog(t, []uint64{1}, nil)
	defer func() {
		if recover() == nil {
			t.Fatal("committing beyond the last index did not panic")
		}
	}()
	l.commitTo(2)
}

func TestCandidateLogUpToDateComparesLastTermThenLastIndex(t *testing.T) {
	l := newTestLog(t, []uint64{1, 1, 2}, nil)
	cases := []struct {
		index, term uint64
		want        bool
	}{
		{3, 2, true}, {4, 2, true}, {2, 2, false}, {1, 3, true}, {9, 1, false}, {0, 0, false},
	}
	for _, tc := range cases {
		if got := l.isUpToDate(tc.index, tc.term); got != tc.want {
			t.Fatalf("isUpToDate(%d, %d) = %v, want %v", tc.index, tc.term, got, tc.want)
		}
	}
}

func TestLogReadsAcrossStorageAndTheUnstableTail(t *testing.T) {
	l := newTestLog(t, []uint64{1, 1, 2}, []uint64{3, 3})
	if l.firstIndex() != 1 || l.lastIndex() != 5 || l.stableIndex() != 3 {
		t.Fatalf("first %d last %d stable %d", l.firstIndex(), l.lastIndex(), l.stableIndex())
	}
	got, err := l.slice(2, 6, noLimit)
	if err != nil {
		t.Fatal(err)
	}
	if idx := func() []uint64 {
		var o []uint64
		for _, e := range got {
			o = append(o, e.Index)
		}
		return o
	}(); !slices.Equal(idx, []uint64{2, 3, 4, 5}) {
		t.Fatalf("slice [2,6) = %v", idx)
	}
	// A size limit still returns at least one entry.
	if got, _ := l.slice(2, 6, 1); len(got) != 1 {
		t.Fatalf("size-limited slice has %d entries, want 1", len(got))
	}
	if _, err := l.term(6); err != ErrUnavailable {
		t.Fatalf("term beyond the log: %v", err)
	}
}

func TestUnstableEntriesBecomeStableOnlyIfTheirTermStillMatches(t *testing.T) {
	l := newTestLog(t, []uint64{1}, []uint64{2, 2})
	l.stableTo(3, 1) // a persist of an entry 3 that was since replaced
	if len(l.unstable.entries) != 2 {
		t.Fatalf("a stale persist marked %d entries stable", 2-len(l.unstable.entries))
	}
	l.stableTo(2, 2)
	if got := l.unstable.entries; len(got) != 1 || got[0].Index != 3 {
		t.Fatalf("unstable %v after persisting up to 2", got)
	}
	if l.stableIndex() != 2 {
		t.Fatalf("stable index %d", l.stableIndex())
	}
}

func TestConflictReachingIntoStorageReplacesTheTail(t *testing.T) {
	l := newTestLog(t, []uint64{1, 1, 1}, nil)
	l.append(ents(2, 2)...)
	if got := allTerms(l); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("log terms %v, want [1 2]", got)
	}
	if l.stableIndex() != 1 {
		t.Fatalf("stable index %d, want 1: the replaced tail is no longer durable", l.stableIndex())
	}
}

func TestCommittedEntriesToApplyAreBoundedBySize(t *testing.T) {
	s := NewMemoryStorage()
	var es []*pb.Entry
	for i := uint64(1); i <= 10; i++ {
		es = append(es, &pb.Entry{Index: i, Term: 1, Data: make([]byte, 100)})
	}
	_ = s.Append(es)
	l, err := newLog(s, 3*124)
	if err != nil {
		t.Fatal(err)
	}
	l.commitTo(10)
	if got := l.nextCommittedEnts(); len(got) != 3 {
		t.Fatalf("%d entries to apply, want 3 within the size bound", len(got))
	}
	l.appliedTo(3)
	l.maxApplySize = 1
	if got := l.nextCommittedEnts(); len(got) != 1 || got[0].Index != 4 {
		t.Fatalf("with a tiny bound: %v, want entry 4 alone", got)
	}
}

func TestRestoringASnapshotReplacesTheLog(t *testing.T) {
	l := newTestLog(t, []uint64{1, 1}, []uint64{2})
	l.restore(testSnapshot(10, 3, 1, 2, 3))
	if l.firstIndex() != 11 || l.lastIndex() != 10 || l.committed != 10 {
		t.Fatalf("first %d last %d committed %d", l.firstIndex(), l.lastIndex(), l.committed)
	}
	if term, err := l.term(10); err != nil || term != 3 {
		t.Fatalf("term(10) = %d, %v", term, err)
	}
	if _, err := l.term(9); err != ErrCompacted {
		t.Fatalf("term(9): %v, want ErrCompacted", err)
	}
	if l.hasNextCommittedEnts() {
		t.Fatal("entries to apply while the snapshot is not yet persisted")
	}
	if fmt.Sprint(l.stableIndex()) != "0" {
		t.Fatalf("stable index %d with an unpersisted snapshot", l.stableIndex())
	}
}
