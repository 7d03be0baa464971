// Scenario tests of the WAL's contract: what is saved comes back, conflict
// rewrites, torn tails, corruption, fsync failure, full disk, lock, identity.
package wal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kontiki-raft/kontiki/messages"
)

func TestSavedStateComesBackAfterReopen(t *testing.T) {
	dir := t.TempDir()
	w, st := openT(t, dir, Options{})
	if len(st.Entries) != 0 || st.Snapshot != nil || st.HardState.Term != 0 {
		t.Fatalf("new directory has state %+v", st)
	}
	mustSave(t, w, hs(1, 1, 0), mkEnts(1, 3, 1, 100))
	mustSave(t, w, nil, mkEnts(4, 1, 1, 100))
	mustSave(t, w, hs(1, 1, 3), nil)
	mustSave(t, w, hs(1, 1, 4), mkEnts(5, 60, 1, 100))

	w, st = reopenT(t, w, dir, Options{})
	checkHardState(t, st.HardState, hs(1, 1, 4))
	checkEntries(t, st.Entries, 1, 64, term1, 100)

	// The reopened log keeps growing from where it was.
	mustSave(t, w, hs(2, 3, 64), mkEnts(65, 1, 2, 100))
	_, st = reopenT(t, w, dir, Options{})
	checkHardState(t, st.HardState, hs(2, 3, 64))
	checkEntries(t, st.Entries, 1, 65, func(i uint64) uint64 { return map[bool]uint64{true: 2, false: 1}[i == 65] }, 100)
}

func TestConflictRewriteReplacesTheSuffix(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{})
	mustSave(t, w, hs(1, 1, 3), mkEnts(1, 10, 1, 50))
	// A new leader in term 2 overwrites 6..10 with 6..8.
	mustSave(t, w, hs(2, 2, 3), mkEnts(6, 3, 2, 50))

	termOf := func(i uint64) uint64 {
		if i >= 6 {
			return 2
		}
		return 1
	}
	w, st := reopenT(t, w, dir, Options{})
	checkEntries(t, st.Entries, 1, 8, termOf, 50)
	checkHardState(t, st.HardState, hs(2, 2, 3))

	// The writer knows the log now ends at 8.
	if err := w.Save(nil, mkEnts(10, 1, 2, 50), true); !errors.Is(err, ErrBadEntries) {
		t.Fatalf("a gap after the rewritten tail: got %v, want ErrBadEntries", err)
	}
	mustSave(t, w, nil, mkEnts(9, 1, 2, 50))
	_, st = reopenT(t, w, dir, Options{})
	checkEntries(t, st.Entries, 1, 9, termOf, 50)
}

func TestSaveRejectsEntriesThatCannotExtendTheLog(t *testing.T) {
	w, _ := openT(t, t.TempDir(), Options{})
	defer w.Close()
	mustSave(t, w, nil, mkEnts(1, 5, 2, 10))
	for name, ents := range map[string][]*messages.Entry{
		"gap":            mkEnts(7, 1, 2, 10),
		"not contiguous": {mkEnts(6, 1, 2, 10)[0], mkEnts(8, 1, 2, 10)[0]},
		"term goes back": mkEnts(6, 1, 1, 10),
		"index 0":        mkEnts(0, 1, 2, 10),
	} {
		if err := w.Save(nil, ents, true); !errors.Is(err, ErrBadEntries) {
			t.Errorf("%s: got %v, want ErrBadEntries", name, err)
		}
	}
}

// saveAndMark saves one record and returns its [start, end) in the last
// segment.
func saveAndMark(t *testing.T, w *WAL, dir string, h *messages.HardState, ents []*messages.Entry) (int64, int64) {
	t.Helper()
	seg := lastSegment(t, dir)
	start := logicalEnd(w)
	mustSave(t, w, h, ents)
	if lastSegment(t, dir) != seg {
		t.Fatal("the record went to a new segment")
	}
	return start, logicalEnd(w)
}

// A crash tears the last record anywhere. In a growing segment the file may
// end at any byte of it. In a preallocated segment the file keeps its size
// and the record's bytes from some point on read as the zeros they
// overwrote; a disk writes whole 512-byte sectors, so that point is the
// start of the sector holding the byte where the write stopped (a sector
// half written in place is not a crash this format tells from damage: see
// TestHalfWrittenSectorInPlaceIsCorruption). Either way the record is cut
// off, the bytes after the previous record read as zeros after Open (the
// file keeps its size), and the log goes on with a shorter record in the
// same place.
func TestTornLastRecordIsCutAtEveryByte(t *testing.T) {
	layouts(t, func(t *testing.T, opts Options) {
		dir := t.TempDir()
		w, _ := openT(t, dir, opts)
		mustSave(t, w, hs(1, 1, 0), mkEnts(1, 5, 1, 40))
		start, end := saveAndMark(t, w, dir, hs(1, 1, 5), mkEnts(6, 2, 1, 40))
		w.Close()
		seg := filepath.Base(lastSegment(t, dir))
		size := fileSize(t, filepath.Join(dir, seg))
		if opts.NoPreallocate != (size == end) {
			t.Fatalf("segment is %d bytes with its last record ending at %d", size, end)
		}

		damages := map[string]func(b []byte, cut int64) []byte{
			"its sectors from there read as zeros": func(b []byte, cut int64) []byte {
				clear(b[max(start, cut/sectorSize*sectorSize):end])
				return b
			},
		}
		if opts.NoPreallocate {
			damages["the file ends there"] = func(b []byte, cut int64) []byte { return b[:cut] }
		}
		for name, damage := range damages {
			for cut := start; cut < end; cut++ {
				d := copyDir(t, dir)
				path := filepath.Join(d, seg)
				patchFile(t, path, func(b []byte) []byte { return damage(b, cut) })
				before := fileSize(t, path)
				w, st, err := Open(d, testID, Options{Logger: quietLogger()})
				if err != nil {
					t.Fatalf("%s from %d: %v", name, cut, err)
				}
				checkEntries(t, st.Entries, 1, 5, term1, 40)
				checkHardState(t, st.HardState, hs(1, 1, 0))
				if got := logicalEnd(w); got != start {
					t.Fatalf("%s from %d: the log goes on at %d, want %d", name, cut, got, start)
				}
				zerosFrom(t, path, start)
				if got := fileSize(t, path); got != before {
					t.Fatalf("%s from %d: Open changed the segment's size from %d to %d", name, cut, before, got)
				}
				// The log goes on from the previous record.
				mustSave(t, w, nil, mkEnts(6, 1, 1, 40))
				w, st = reopenT(t, w, d, Options{})
				checkEntries(t, st.Entries, 1, 6, term1, 40)
				w.Close()
			}
		}
	})
}

// Every combination of the last record's sectors landing or not, in a
// preallocated segment: Open returns the log with or without the record,
// never fails, leaves zeros after the logical end, and a shorter record
// written there next replays (the remains of a longer torn record behind
// it were zeroed).
func TestTornRecordSectorsInAPreallocatedSegment(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{})
	mustSave(t, w, hs(1, 1, 0), mkEnts(1, 5, 1, 40))
	start, end := saveAndMark(t, w, dir, hs(1, 1, 5), mkEnts(6, 3, 1, 700))
	w.Close()
	seg := filepath.Base(lastSegment(t, dir))
	first, last := start/sectorSize, (end-1)/sectorSize
	n := int(last - first + 1)
	if n < 4 || n > 8 {
		t.Fatalf("the record spans %d sectors; the test wants 4 to 8", n)
	}
	full := 0
	for landed := 0; landed < 1<<n; landed++ {
		d := copyDir(t, dir)
		path := filepath.Join(d, seg)
		patchFile(t, path, func(b []byte) []byte {
			for k := range n {
				if landed&(1<<k) == 0 {
					s := (first + int64(k)) * sectorSize
					clear(b[max(s, start):min(s+sectorSize, end)])
				}
			}
			return b
		})
		w, st, err := Open(d, testID, Options{Logger: quietLogger()})
		if err != nil {
			t.Fatalf("sectors landed %0*b: %v", n, landed, err)
		}
		want := uint64(5)
		if landed == 1<<n-1 {
			want, full = 8, full+1
		}
		checkEntries(t, st.Entries[:5], 1, 5, term1, 40)
		if uint64(len(st.Entries)) != want {
			t.Fatalf("sectors landed %0*b: entries %s, want 1..%d", n, landed, span(st.Entries), want)
		}
		zerosFrom(t, path, logicalEnd(w))
		mustSave(t, w, hs(1, 1, 5), mkEnts(want+1, 1, 1, 10))
		w, st = reopenT(t, w, d, Options{})
		if uint64(len(st.Entries)) != want+1 {
			t.Fatalf("sectors landed %0*b: after one more record, entries %s, want 1..%d", n, landed, span(st.Entries), want+1)
		}
		w.Close()
	}
	if full != 1 {
		t.Fatal("the record never landed whole")
	}
}

// A sector half written in place (the record's first bytes landed, the rest
// of that sector still zeros) is not something a disk that writes whole
// sectors leaves, and in a preallocated segment there is no file end to
// explain it: it is reported as corruption, which fails safe. In a growing
// segment the same bytes are explained by the file ending there.
func TestHalfWrittenSectorInPlaceIsCorruption(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{})
	mustSave(t, w, hs(1, 1, 0), mkEnts(1, 5, 1, 40))
	start, end := saveAndMark(t, w, dir, hs(1, 1, 5), mkEnts(6, 2, 1, 40))
	w.Close()
	if start/sectorSize != (start+recordHeaderSize)/sectorSize {
		t.Fatalf("the record header at %d straddles a sector", start)
	}
	d := copyDir(t, dir)
	path := filepath.Join(d, filepath.Base(lastSegment(t, dir)))
	patchFile(t, path, func(b []byte) []byte { clear(b[start+1 : end]); return b })
	_, _, err := Open(d, testID, Options{Logger: quietLogger()})
	wantCorrupt(t, err, path, start)
}

// Zeros from a record boundary to the end of the last segment are its
// zero-filled tail: the logical end, not damage. Open keeps them, and the
// next record overwrites them.
func TestZeroFilledTailIsTheLogicalEnd(t *testing.T) {
	layouts(t, func(t *testing.T, opts Options) {
		dir := t.TempDir()
		w, _ := openT(t, dir, opts)
		mustSave(t, w, hs(1, 1, 0), mkEnts(1, 5, 1, 40))
		start, end := saveAndMark(t, w, dir, nil, mkEnts(6, 1, 1, 2000))
		w.Close()
		seg := lastSegment(t, dir)

		for name, c := range map[string]struct {
			damage   func([]byte) []byte
			last     uint64
			wantsEnd int64
		}{
			"zeros after the last record":            {func(b []byte) []byte { return append(b, make([]byte, 1<<20)...) }, 6, end},
			"the last record never reached the disk": {func(b []byte) []byte { clear(b[start:end]); return b }, 5, start},
		} {
			t.Run(name, func(t *testing.T) {
				d := copyDir(t, dir)
				path := filepath.Join(d, filepath.Base(seg))
				patchFile(t, path, c.damage)
				size := fileSize(t, path)
				w, st := openT(t, d, Options{})
				checkEntries(t, st.Entries[:5], 1, 5, term1, 40)
				checkEntries(t, st.Entries[5:], 6, c.last, term1, 2000)
				if got := logicalEnd(w); got != c.wantsEnd {
					t.Fatalf("the log goes on at %d, want %d", got, c.wantsEnd)
				}
				if got := fileSize(t, path); got != size {
					t.Fatalf("segment is %d bytes, want %d (kept)", got, size)
				}
				mustSave(t, w, nil, mkEnts(c.last+1, 1, 1, 2000))
				if got := fileSize(t, path); got != size {
					t.Fatalf("segment is %d bytes after a record went into its zeros, want %d", got, size)
				}
				_, st = reopenT(t, w, d, Options{})
				checkEntries(t, st.Entries[5:], 6, c.last+1, term1, 2000)
			})
		}
	})
}

// Every bit of a segment header is checked: a flip in its last reserved
// bytes (44:48, outside the header checksum) was accepted (found by the
// simulation's media faults, sim seed 31 of TestSimulationWAL: bit 6 of
// offset 47 flipped, the node started).
func TestSegmentHeaderBitFlipIsCorruption(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{})
	mustSave(t, w, hs(1, 1, 0), mkEnts(1, 3, 1, 40))
	w.Close()
	seg := lastSegment(t, dir)
	for at := 0; at < segmentHeaderSize; at++ {
		for bit := 0; bit < 8; bit++ {
			d := copyDir(t, dir)
			path := filepath.Join(d, filepath.Base(seg))
			patchFile(t, path, func(b []byte) []byte { b[at] ^= 1 << bit; return b })
			if _, _, err := Open(d, testID, Options{Logger: quietLogger()}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("bit %d of header byte %d flipped: Open returned %v, want ErrCorrupt", bit, at, err)
			}
		}
	}
}

func TestBadChecksumInTheMiddleIsCorruption(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{})
	mustSave(t, w, hs(1, 1, 0), mkEnts(1, 5, 1, 40))
	midStart, _ := saveAndMark(t, w, dir, nil, mkEnts(6, 5, 1, 40))
	mustSave(t, w, hs(1, 1, 10), mkEnts(11, 5, 1, 40))
	w.Close()
	seg := lastSegment(t, dir)

	for name, at := range map[string]int64{
		"payload byte":    midStart + recordHeaderSize + 20,
		"length byte":     midStart,
		"synced field":    midStart + 12,
		"header checksum": midStart + 21,
	} {
		t.Run(name, func(t *testing.T) {
			d := copyDir(t, dir)
			path := filepath.Join(d, filepath.Base(seg))
			patchFile(t, path, func(b []byte) []byte { b[at] ^= 0x10; return b })
			_, _, err := Open(d, testID, Options{Logger: quietLogger()})
			ce := wantCorrupt(t, err, path, midStart)
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "offset") {
				t.Fatalf("message does not name file and offset: %v", ce)
			}
		})
	}
	t.Run("zeroed sector in a record that is not the last", func(t *testing.T) {
		d := copyDir(t, dir)
		path := filepath.Join(d, filepath.Base(seg))
		patchFile(t, path, func(b []byte) []byte { clear(b[midStart : midStart+recordHeaderSize]); return b })
		_, _, err := Open(d, testID, Options{Logger: quietLogger()})
		wantCorrupt(t, err, path, midStart)
	})
}

func TestLastRecordWithAZeroedSectorIsATornWrite(t *testing.T) {
	layouts(t, func(t *testing.T, opts Options) { testZeroedSector(t, opts) })
}

func testZeroedSector(t *testing.T, opts Options) {
	dir := t.TempDir()
	w, _ := openT(t, dir, opts)
	mustSave(t, w, hs(1, 1, 0), mkEnts(1, 5, 1, 40))
	start, end := saveAndMark(t, w, dir, hs(1, 1, 5), mkEnts(6, 3, 1, 3000))
	w.Close()
	seg := lastSegment(t, dir)
	if end-start < 4*sectorSize {
		t.Fatalf("last record too small for the test: %d", end-start)
	}
	firstFull := (start/sectorSize + 1) * sectorSize

	for name, sector := range map[string]int64{
		"a middle sector":              firstFull + sectorSize,
		"the sector holding the start": firstFull - sectorSize,
		"the sector holding the end":   (end - 1) / sectorSize * sectorSize,
	} {
		t.Run(name, func(t *testing.T) {
			d := copyDir(t, dir)
			path := filepath.Join(d, filepath.Base(seg))
			patchFile(t, path, func(b []byte) []byte {
				clear(b[max(sector, start):min(sector+sectorSize, end)])
				return b
			})
			size := fileSize(t, path)
			w, st := openT(t, d, Options{})
			checkEntries(t, st.Entries, 1, 5, term1, 40)
			checkHardState(t, st.HardState, hs(1, 1, 0))
			// The remains of the torn record are zeroed, not truncated.
			zerosFrom(t, path, start)
			if got := fileSize(t, path); got != size {
				t.Fatalf("segment is %d bytes, want %d", got, size)
			}
			// A shorter record in its place replays.
			mustSave(t, w, hs(1, 1, 5), mkEnts(6, 1, 1, 40))
			_, st = reopenT(t, w, d, Options{})
			checkEntries(t, st.Entries, 1, 6, term1, 40)
		})
	}
	t.Run("a flipped bit without a zeroed sector is corruption", func(t *testing.T) {
		d := copyDir(t, dir)
		path := filepath.Join(d, filepath.Base(seg))
		patchFile(t, path, func(b []byte) []byte { b[firstFull+100] ^= 1; return b })
		_, _, err := Open(d, testID, Options{Logger: quietLogger()})
		wantCorrupt(t, err, path, start)
	})
	t.Run("a zeroed sector in a segment that is not the last is corruption", func(t *testing.T) {
		d := copyDir(t, dir)
		path := filepath.Join(d, filepath.Base(seg))
		patchFile(t, path, func(b []byte) []byte { clear(b[firstFull : firstFull+sectorSize]); return b })
		// A newer segment after it makes it an older one.
		next := appendSegmentHeader(nil, 2, testID)
		if err := os.WriteFile(filepath.Join(d, segmentName(2)), next, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := Open(d, testID, Options{Logger: quietLogger()})
		wantCorrupt(t, err, path, start)
	})
}

// ENOSPC at fsync (NFS, thin volumes) is a failed fsync, not a full disk
// that was rolled back: pages may be gone, so it stays fatal.
func TestFsyncENOSPCIsNotARolledBackFullDisk(t *testing.T) {
	ffs := newFaultFS()
	w, _ := openT(t, t.TempDir(), Options{FS: ffs})
	mustSave(t, w, hs(1, 1, 0), mkEnts(1, 3, 1, 10))
	ffs.setSyncErr(syscall.ENOSPC)
	err := w.Save(nil, mkEnts(4, 1, 1, 10), true)
	if !errors.Is(err, ErrSyncFailed) || w.RolledBackNoSpace(err) || w.Failed() == nil {
		t.Fatalf("Save with fsync failing ENOSPC: got %v (rolled back: %v, failed: %v), want a sticky ErrSyncFailed", err, w.RolledBackNoSpace(err), w.Failed())
	}
	w.Close()
}

func TestFsyncErrorIsSticky(t *testing.T) {
	dir := t.TempDir()
	ffs := newFaultFS()
	w, _ := openT(t, dir, Options{FS: ffs})
	mustSave(t, w, hs(1, 1, 0), mkEnts(1, 3, 1, 10))

	ffs.setSyncErr(syscall.EIO)
	if err := w.Save(nil, mkEnts(4, 1, 1, 10), true); !errors.Is(err, ErrSyncFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Save with a failing fsync: got %v, want ErrSyncFailed wrapping EIO", err)
	}
	// The disk recovers, but the WAL must not: the failed fsync may have
	// dropped pages it can never re-check.
	ffs.setSyncErr(nil)
	for name, err := range map[string]error{
		"Save":         w.Save(nil, mkEnts(5, 1, 1, 10), false),
		"Sync":         w.Sync(),
		"SaveSnapshot": w.SaveSnapshot(&messages.Snapshot{Metadata: &messages.SnapshotMetadata{Index: 2, Term: 1}}),
		"Compact":      w.Compact(1),
	} {
		if !errors.Is(err, ErrSyncFailed) {
			t.Errorf("%s after a failed fsync: got %v, want ErrSyncFailed", name, err)
		}
	}
	w.Close()
	// A restart replays what is on disk; what was acknowledged is there.
	w, st := openT(t, dir, Options{})
	defer w.Close()
	if len(st.Entries) < 3 {
		t.Fatalf("acknowledged entries lost: %s", span(st.Entries))
	}
	checkEntries(t, st.Entries[:3], 1, 3, term1, 10)
}

func TestFullDiskRefusesWritesAndCorruptsNothing(t *testing.T) {
	layouts(t, testFullDisk)
}

// A real disk does not run out of space overwriting a preallocated
// segment's zeros; faultFS counts every byte written, so the refused write
// here also exercises the rollback of a write into preallocated space.
func testFullDisk(t *testing.T, opts Options) {
	dir := t.TempDir()
	ffs := newFaultFS()
	opts.FS, opts.SegmentBytes = ffs, 64<<10
	w, _ := openT(t, dir, opts)
	mustSave(t, w, hs(1, 1, 0), mkEnts(1, 10, 1, 100))
	seg := lastSegment(t, dir)
	end := logicalEnd(w)

	// Room for half of the next record: the write is cut short.
	ffs.setSpace(300)
	err := w.Save(hs(1, 1, 10), mkEnts(11, 5, 1, 100), true)
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Save on a full disk: got %v, want ErrNoSpace", err)
	}
	if !w.RolledBackNoSpace(err) {
		t.Fatalf("RolledBackNoSpace(%v) = false on a rolled-back full-disk write", err)
	}
	// Rolled back: the file is cut to the logical end (a preallocated
	// segment is appended to from then on).
	if got := fileSize(t, seg); got != end || logicalEnd(w) != end {
		t.Fatalf("segment is %d bytes after the refused write, logical end %d, want %d (rolled back)", got, logicalEnd(w), end)
	}
	// Still full: refused again, cleanly.
	if err := w.Save(nil, mkEnts(11, 1, 1, 100), true); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("second Save on a full disk: got %v", err)
	}

	// Space is freed: the same WAL goes on, and so does a restart.
	ffs.setSpace(-1)
	mustSave(t, w, hs(1, 1, 10), mkEnts(11, 5, 1, 100))
	w, st := reopenT(t, w, dir, Options{})
	checkEntries(t, st.Entries, 1, 15, term1, 100)
	checkHardState(t, st.HardState, hs(1, 1, 10))
	w.Close()

	t.Run("reopen while still full", func(t *testing.T) {
		ffs := newFaultFS()
		opts.FS = ffs
		w, _ := openT(t, dir, opts)
		ffs.setSpace(10)
		if err := w.Save(nil, mkEnts(16, 1, 1, 100), true); !errors.Is(err, ErrNoSpace) {
			t.Fatalf("got %v, want ErrNoSpace", err)
		}
		w.Close()
		w, st := openT(t, dir, Options{})
		defer w.Close()
		checkEntries(t, st.Entries, 1, 15, term1, 100)
	})
	t.Run("no room for the next segment", func(t *testing.T) {
		ffs := newFaultFS()
		opts.FS, opts.SegmentBytes = ffs, 4096
		w, _ := openT(t, dir, opts)
		ffs.setSpace(20) // the roll's new segment does not fit
		if err := w.Save(nil, mkEnts(16, 50, 1, 100), true); !errors.Is(err, ErrNoSpace) {
			t.Fatalf("got %v, want ErrNoSpace", err)
		}
		ffs.setSpace(-1)
		mustSave(t, w, nil, mkEnts(16, 50, 1, 100))
		_, st := reopenT(t, w, dir, Options{})
		checkEntries(t, st.Entries, 1, 65, term1, 100)
	})
}

func TestIdentityMismatchRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{})
	mustSave(t, w, hs(1, 1, 0), mkEnts(1, 1, 1, 10))
	w.Close()

	for _, other := range []Identity{
		{Cluster: "other", ClusterID: 7, NodeID: 1},
		{Cluster: "kontiki", ClusterID: 8, NodeID: 1},
		{Cluster: "kontiki", ClusterID: 7, NodeID: 2},
	} {
		_, _, err := Open(dir, other, Options{Logger: quietLogger()})
		var me *IdentityMismatchError
		if !errors.Is(err, ErrIdentityMismatch) || !errors.As(err, &me) {
			t.Fatalf("Open as %v: got %v, want ErrIdentityMismatch", other, err)
		}
		if !strings.Contains(err.Error(), testID.String()) || !strings.Contains(err.Error(), other.String()) {
			t.Fatalf("message does not name both identities: %v", err)
		}
	}
	w, _ = openT(t, dir, Options{})
	w.Close()

	if _, _, err := Open(t.TempDir(), Identity{Cluster: "kontiki", ClusterID: 7}, Options{}); err == nil {
		t.Fatal("Open with node id 0 succeeded")
	}
}

func TestSegmentsWithoutStampAreRefused(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{})
	mustSave(t, w, hs(1, 1, 0), mkEnts(1, 1, 1, 10))
	w.Close()
	os.Remove(filepath.Join(dir, stampName))
	_, _, err := Open(dir, testID, Options{Logger: quietLogger()})
	wantCorrupt(t, err, filepath.Join(dir, stampName), -1)
}

func TestSecondOpenOfTheDirectoryFails(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{})
	if _, _, err := Open(dir, testID, Options{Logger: quietLogger()}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: got %v, want ErrLocked", err)
	}
	w.Close()
	w, _ = openT(t, dir, Options{})
	w.Close()
}

const lockChildEnv = "KONTIKI_WAL_LOCK_CHILD_DIR"

// TestLockChildProcess is the child half of TestSecondProcessIsLockedOut:
// it only runs when re-executed with the directory in its environment.
func TestLockChildProcess(t *testing.T) {
	dir := os.Getenv(lockChildEnv)
	if dir == "" {
		t.Skip("only runs as a child of TestSecondProcessIsLockedOut")
	}
	w, _, err := Open(dir, testID, Options{Logger: quietLogger()})
	switch {
	case errors.Is(err, ErrLocked):
		os.Stdout.WriteString("CHILD: locked: " + err.Error() + "\n")
	case err == nil:
		os.Stdout.WriteString("CHILD: opened\n")
		w.Close()
	default:
		t.Fatalf("CHILD: %v", err)
	}
}

func TestSecondProcessIsLockedOut(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	child := func() string {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := execCommand(exe, "-test.run=^TestLockChildProcess$", "-test.v")
		cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return string(out)
	}
	w, _ := openT(t, dir, Options{})
	if out := child(); !strings.Contains(out, "CHILD: locked") || !strings.Contains(out, "pid") {
		t.Fatalf("child opened a locked directory:\n%s", out)
	}
	w.Close()
	if out := child(); !strings.Contains(out, "CHILD: opened") {
		t.Fatalf("child could not open the released directory:\n%s", out)
	}
}

func TestSegmentsRollAndReplayInOrder(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{SegmentBytes: 8 << 10})
	for i := uint64(0); i < 200; i++ {
		mustSave(t, w, hs(1, 1, i*5), mkEnts(1+i*5, 5, 1, 100))
	}
	if n := len(segmentPaths(t, dir)); n < 12 {
		t.Fatalf("%d segments for 100 KiB in 8 KiB segments", n)
	}
	if got := w.Stats().Segments; got != len(segmentPaths(t, dir)) {
		t.Fatalf("Stats says %d segments, the directory has %d", got, len(segmentPaths(t, dir)))
	}
	w, st := reopenT(t, w, dir, Options{SegmentBytes: 8 << 10})
	checkEntries(t, st.Entries, 1, 1000, term1, 100)
	checkHardState(t, st.HardState, hs(1, 1, 995))
	// A rewrite across a segment boundary.
	mustSave(t, w, hs(2, 2, 995), mkEnts(996, 300, 2, 100))
	_, st = reopenT(t, w, dir, Options{SegmentBytes: 8 << 10})
	checkEntries(t, st.Entries, 1, 1295, func(i uint64) uint64 { return 1 + b2u(i >= 996) }, 100)
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func TestMissingSegmentIsCorruption(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{SegmentBytes: 4 << 10})
	for i := uint64(0); i < 40; i++ {
		mustSave(t, w, nil, mkEnts(1+i*5, 5, 1, 100))
	}
	w.Close()
	segs := segmentPaths(t, dir)
	os.Remove(segs[len(segs)/2])
	_, _, err := Open(dir, testID, Options{Logger: quietLogger()})
	wantCorrupt(t, err, "", -1)
	if !strings.Contains(err.Error(), "missing") {
		t.Fatalf("got %v, want it to say a segment is missing", err)
	}
}

func TestBatchLargerThanARecordIsSplit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 70 MiB")
	}
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{NoSync: true})
	mustSave(t, w, hs(3, 1, 0), mkEnts(1, 70, 3, 1<<20))
	if got := w.Stats().Writes; got < 2 {
		t.Fatalf("a 70 MiB batch took %d record(s)", got)
	}
	_, st := reopenT(t, w, dir, Options{NoSync: true})
	checkEntries(t, st.Entries, 1, 70, func(uint64) uint64 { return 3 }, 1<<20)
	checkHardState(t, st.HardState, hs(3, 1, 0))

	if err := st.Entries[0].Data; len(err) == 0 {
		t.Fatal("empty data")
	}
}

func TestEntryLargerThanARecordIsRefused(t *testing.T) {
	w, _ := openT(t, t.TempDir(), Options{NoSync: true})
	defer w.Close()
	big := &messages.Entry{Index: 1, Term: 1, Data: make([]byte, maxEntryData+1)}
	if err := w.Save(nil, []*messages.Entry{big}, false); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}

func TestClosedWALRefusesWrites(t *testing.T) {
	w, _ := openT(t, t.TempDir(), Options{})
	w.Close()
	if err := w.Save(hs(1, 1, 0), nil, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("Save after Close: %v", err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestLeftoverTmpFilesAreRemoved(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{})
	mustSave(t, w, hs(1, 1, 0), mkEnts(1, 1, 1, 10))
	w.Close()
	for _, name := range []string{segmentName(2) + ".tmp", "IDENTITY.tmp", snapshotName(logPos{5, 1}) + ".part"} {
		os.WriteFile(filepath.Join(dir, name), []byte("half"), 0o600)
	}
	w, st := openT(t, dir, Options{})
	defer w.Close()
	checkEntries(t, st.Entries, 1, 1, term1, 10)
	for _, name := range []string{segmentName(2) + ".tmp", "IDENTITY.tmp", snapshotName(logPos{5, 1}) + ".part"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived Open", name)
		}
	}
}

func TestOpenCreatesMissingParents(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "wal")
	w, _ := openT(t, dir, Options{})
	mustSave(t, w, hs(1, 1, 0), mkEnts(1, 1, 1, 10))
	_, st := reopenT(t, w, dir, Options{})
	checkEntries(t, st.Entries, 1, 1, term1, 10)
}

func TestDamagedStampIsCorruption(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{})
	w.Close()
	path := filepath.Join(dir, stampName)
	patchFile(t, path, func(b []byte) []byte { return []byte(strings.Replace(string(b), "node-id: 1", "node-id: 2", 1)) })
	_, _, err := Open(dir, testID, Options{Logger: quietLogger()})
	wantCorrupt(t, err, path, -1)
}

func TestForeignSegmentIsCorruption(t *testing.T) {
	mine, theirs := t.TempDir(), t.TempDir()
	w, _ := openT(t, mine, Options{})
	mustSave(t, w, hs(1, 1, 0), mkEnts(1, 1, 1, 10))
	w.Close()
	other := Identity{Cluster: "kontiki", ClusterID: 7, NodeID: 2}
	w2, _, err := Open(theirs, other, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	w2.Close()
	// Node 2's first segment copied over node 1's.
	b, _ := os.ReadFile(filepath.Join(theirs, segmentName(1)))
	os.WriteFile(filepath.Join(mine, segmentName(1)), b, 0o600)
	_, _, err = Open(mine, testID, Options{Logger: quietLogger()})
	wantCorrupt(t, err, filepath.Join(mine, segmentName(1)), 24)
}
