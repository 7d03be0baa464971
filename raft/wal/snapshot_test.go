// Scenario tests of snapshots and compaction.
package wal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kontiki-raft/kontiki/messages"
)

func mkSnap(index, term uint64, data string) *messages.Snapshot {
	return &messages.Snapshot{Data: []byte(data), Metadata: &messages.SnapshotMetadata{
		Index: index, Term: term,
		ConfState: &messages.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{9}, AutoLeave: true},
	}}
}

func checkSnap(t testing.TB, got *messages.Snapshot, want *messages.Snapshot) {
	t.Helper()
	if got == nil {
		t.Fatal("no snapshot")
	}
	g, w := got.Metadata, want.Metadata
	if g.Index != w.Index || g.Term != w.Term || !bytes.Equal(got.Data, want.Data) ||
		!slices.Equal(g.ConfState.Voters, w.ConfState.Voters) || !slices.Equal(g.ConfState.Learners, w.ConfState.Learners) ||
		g.ConfState.AutoLeave != w.ConfState.AutoLeave {
		t.Fatalf("snapshot %v, want %v", got, want)
	}
}

func snapFiles(t testing.TB, dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "*"+snapExt))
	return m
}

func TestSnapshotThenCompactThenReopen(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 4 << 10}
	w, _ := openT(t, dir, opts)
	for i := uint64(0); i < 100; i++ {
		mustSave(t, w, hs(1, 1, i*5), mkEnts(1+i*5, 5, 1, 100))
	}
	before := len(segmentPaths(t, dir))

	snap := mkSnap(300, 1, "state machine at 300")
	if err := w.SaveSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	if err := w.Compact(300); err != nil {
		t.Fatal(err)
	}
	after := len(segmentPaths(t, dir))
	if after > before*2/5+1 {
		t.Fatalf("compacting 300 of 500 entries left %d of %d segments", after, before)
	}

	w, st := reopenT(t, w, dir, opts)
	checkSnap(t, st.Snapshot, snap)
	checkEntries(t, st.Entries, 301, 500, term1, 100)
	checkHardState(t, st.HardState, hs(1, 1, 495))

	// More snapshots: only the two newest files stay.
	for i, idx := range []uint64{400, 450, 480} {
		if err := w.SaveSnapshot(mkSnap(idx, 1, "at")); err != nil {
			t.Fatalf("snapshot %d: %v", i, err)
		}
		if err := w.Compact(idx); err != nil {
			t.Fatal(err)
		}
	}
	if got := snapFiles(t, dir); len(got) != 2 {
		t.Fatalf("snapshot files %v, want the two newest", got)
	}
	mustSave(t, w, hs(2, 2, 500), mkEnts(501, 5, 2, 100))
	_, st = reopenT(t, w, dir, opts)
	checkSnap(t, st.Snapshot, mkSnap(480, 1, "at"))
	checkEntries(t, st.Entries, 481, 505, func(i uint64) uint64 { return 1 + b2u(i > 500) }, 100)
}

func TestInstalledSnapshotReplacesADisagreeingLog(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{})
	mustSave(t, w, hs(1, 1, 3), mkEnts(1, 10, 1, 20))
	// The leader's snapshot at 50 (term 3): our log does not hold it.
	snap := mkSnap(50, 3, "leader state")
	if err := w.SaveSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	// Crash before the Ready's hard state: the recorded commit (3) is
	// behind the snapshot; Open raises it.
	w, st := reopenT(t, w, dir, Options{})
	checkSnap(t, st.Snapshot, snap)
	if len(st.Entries) != 0 {
		t.Fatalf("entries %s survived a snapshot they disagree with", span(st.Entries))
	}
	checkHardState(t, st.HardState, hs(1, 1, 50))

	if err := w.Save(nil, mkEnts(11, 1, 1, 20), true); !errors.Is(err, ErrBadEntries) {
		t.Fatalf("appending after the dropped log: got %v, want ErrBadEntries", err)
	}
	if err := w.Save(nil, mkEnts(50, 1, 3, 20), true); !errors.Is(err, ErrBadEntries) {
		t.Fatalf("rewriting the snapshot's entry: got %v, want ErrBadEntries", err)
	}
	mustSave(t, w, hs(3, 2, 50), mkEnts(51, 5, 3, 20))
	_, st = reopenT(t, w, dir, Options{})
	checkEntries(t, st.Entries, 51, 55, func(uint64) uint64 { return 3 }, 20)
	checkHardState(t, st.HardState, hs(3, 2, 50))
}

func TestLocalSnapshotKeepsTheEntriesAfterIt(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{})
	mustSave(t, w, hs(2, 1, 10), append(mkEnts(1, 5, 1, 20), mkEnts(6, 5, 2, 20)...))
	if err := w.SaveSnapshot(mkSnap(4, 1, "s")); err != nil {
		t.Fatal(err)
	}
	_, st := reopenT(t, w, dir, Options{})
	checkEntries(t, st.Entries, 5, 10, func(i uint64) uint64 { return 1 + b2u(i >= 6) }, 20)
}

func TestSnapshotAndCompactionMisuseIsRefused(t *testing.T) {
	w, _ := openT(t, t.TempDir(), Options{})
	defer w.Close()
	mustSave(t, w, hs(1, 1, 10), mkEnts(1, 10, 1, 20))
	if err := w.Compact(5); !errors.Is(err, ErrCompactBeyondSnapshot) {
		t.Fatalf("Compact without a snapshot: %v", err)
	}
	if err := w.SaveSnapshot(mkSnap(5, 1, "")); err != nil {
		t.Fatal(err)
	}
	if err := w.SaveSnapshot(mkSnap(5, 1, "")); !errors.Is(err, ErrSnapOutOfDate) {
		t.Fatalf("same snapshot again: %v", err)
	}
	if err := w.SaveSnapshot(mkSnap(3, 1, "")); !errors.Is(err, ErrSnapOutOfDate) {
		t.Fatalf("older snapshot: %v", err)
	}
	if err := w.SaveSnapshot(&messages.Snapshot{}); err == nil {
		t.Fatal("snapshot without metadata accepted")
	}
	if err := w.Compact(6); !errors.Is(err, ErrCompactBeyondSnapshot) {
		t.Fatalf("Compact beyond the snapshot: %v", err)
	}
}

func TestSnapshotFilesAreCheckedAtOpen(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{})
	mustSave(t, w, hs(1, 1, 10), mkEnts(1, 10, 1, 20))
	if err := w.SaveSnapshot(mkSnap(5, 1, "five")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	path := filepath.Join(dir, snapshotName(logPos{5, 1}))

	t.Run("a newer file the log never recorded is removed", func(t *testing.T) {
		d := copyDir(t, dir)
		stray := filepath.Join(d, snapshotName(logPos{9, 1}))
		os.WriteFile(stray, []byte("crashed before its record"), 0o600)
		w, st := openT(t, d, Options{})
		defer w.Close()
		checkSnap(t, st.Snapshot, mkSnap(5, 1, "five"))
		if _, err := os.Stat(stray); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("unrecorded snapshot file survived Open")
		}
	})
	t.Run("a recorded file that is missing is corruption", func(t *testing.T) {
		d := copyDir(t, dir)
		os.Remove(filepath.Join(d, filepath.Base(path)))
		_, _, err := Open(d, testID, Options{Logger: quietLogger()})
		wantCorrupt(t, err, filepath.Join(d, filepath.Base(path)), -1)
	})
	t.Run("a damaged file is corruption", func(t *testing.T) {
		d := copyDir(t, dir)
		p := filepath.Join(d, filepath.Base(path))
		patchFile(t, p, func(b []byte) []byte { b[len(b)-6] ^= 1; return b })
		_, _, err := Open(d, testID, Options{Logger: quietLogger()})
		wantCorrupt(t, err, p, -1)
	})
}

// A follower rewrites a conflicting tail that began in a segment which is
// later compacted away: the survivor's checkpoint says the log ended past
// the rewrite, and replay must still accept it.
func TestCompactionAfterARewriteAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 2 << 10}
	w, _ := openT(t, dir, opts)
	mustSave(t, w, hs(1, 1, 0), mkEnts(1, 15, 1, 100)) // one record fills the first segment
	mustSave(t, w, hs(2, 2, 10), mkEnts(11, 20, 2, 100))
	if n := len(segmentPaths(t, dir)); n < 2 {
		t.Fatalf("%d segments", n)
	}
	mustSave(t, w, hs(2, 2, 30), nil)
	if err := w.SaveSnapshot(mkSnap(20, 2, "s")); err != nil {
		t.Fatal(err)
	}
	if err := w.Compact(20); err != nil {
		t.Fatal(err)
	}
	_, st := reopenT(t, w, dir, opts)
	checkEntries(t, st.Entries, 21, 30, func(uint64) uint64 { return 2 }, 100)
}

func TestPreviousSnapshotEntriesAreNotReturned(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{SegmentBytes: 1 << 10})
	for i := uint64(0); i < 30; i++ {
		mustSave(t, w, hs(1, 1, i), mkEnts(1+i, 1, 1, 200))
	}
	if err := w.SaveSnapshot(mkSnap(20, 1, "s")); err != nil {
		t.Fatal(err)
	}
	// Compact less than the snapshot: still only entries after it come back.
	if err := w.Compact(10); err != nil {
		t.Fatal(err)
	}
	_, st := reopenT(t, w, dir, Options{SegmentBytes: 1 << 10})
	checkEntries(t, st.Entries, 21, 30, term1, 200)
}
