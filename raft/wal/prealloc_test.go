// Preallocated segments: created at full size and zero-filled, written in
// place, continued after a restart, rolled into a spare zero-filled ahead of
// need; and what happens when there is no room or the WAL closes mid-fill.
package wal

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tmpFiles lists the .tmp files of dir.
func tmpFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPreallocatedSegmentHoldsRecordsThenZeros(t *testing.T) {
	const segBytes = 64 << 10
	opts := Options{SegmentBytes: segBytes, PreallocateInline: true}
	dir := t.TempDir()
	w, _ := openT(t, dir, opts)
	seg := lastSegment(t, dir)
	if got := fileSize(t, seg); got != segBytes {
		t.Fatalf("a new segment is %d bytes, want %d", got, segBytes)
	}
	for i := uint64(0); i < 20; i++ {
		mustSave(t, w, hs(1, 1, i*3), mkEnts(1+i*3, 3, 1, 300))
	}
	end := logicalEnd(w)
	if got := fileSize(t, seg); got != segBytes {
		t.Fatalf("the segment is %d bytes after 20 records, want %d: records must overwrite its zeros", got, segBytes)
	}
	zerosFrom(t, seg, end)

	// A restart replays the records, stops at the zeros without calling
	// them torn, and goes on writing in place.
	w, st := reopenT(t, w, dir, opts)
	checkEntries(t, st.Entries, 1, 60, term1, 300)
	if got := logicalEnd(w); got != end {
		t.Fatalf("the reopened log goes on at %d, want %d", got, end)
	}
	for i := uint64(20); i < 40; i++ {
		mustSave(t, w, hs(1, 1, i*3), mkEnts(1+i*3, 3, 1, 300))
	}
	if got := fileSize(t, seg); got != segBytes || len(segmentPaths(t, dir)) != 1 {
		t.Fatalf("after the restart the segment is %d bytes (%d segments), want %d in one", got, len(segmentPaths(t, dir)), segBytes)
	}
	_, st = reopenT(t, w, dir, opts)
	checkEntries(t, st.Entries, 1, 120, term1, 300)
	checkHardState(t, st.HardState, hs(1, 1, 117))
}

// Rolls take the spare zero-filled in the background: every segment is
// created at full size, every older one ends in zeros and replays, and no
// spare outlives Close.
func TestSegmentsRollIntoSparesPreparedAhead(t *testing.T) {
	const segBytes = 16 << 10
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{SegmentBytes: segBytes})
	sawSpare := false
	for i := uint64(0); i < 200; i++ {
		mustSave(t, w, hs(1, 1, i*4), mkEnts(1+i*4, 4, 1, 100))
		w.mu.Lock()
		p := w.next
		w.mu.Unlock()
		if p != nil && !sawSpare {
			<-p.done
			if p.err != nil {
				t.Fatalf("preparing segment %d: %v", p.seq, p.err)
			}
			tmp := tmpFiles(t, dir)
			if len(tmp) != 1 || fileSize(t, tmp[0]) != segBytes || !strings.HasPrefix(filepath.Base(tmp[0]), segmentName(p.seq)) {
				t.Fatalf("the spare for segment %d: %v", p.seq, tmp)
			}
			sawSpare = true
		}
	}
	if !sawSpare {
		t.Fatal("no spare was prepared")
	}
	segs := segmentPaths(t, dir)
	if len(segs) < 5 {
		t.Fatalf("%d segments for 80 KiB in 16 KiB segments", len(segs))
	}
	for _, p := range segs {
		if got := fileSize(t, p); got != segBytes {
			t.Fatalf("%s is %d bytes, want %d", p, got, segBytes)
		}
	}
	w, st := reopenT(t, w, dir, Options{SegmentBytes: segBytes})
	checkEntries(t, st.Entries, 1, 800, term1, 100)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if tmp := tmpFiles(t, dir); len(tmp) != 0 {
		t.Fatalf("spares left after Close: %v", tmp)
	}
}

// A record larger than a whole segment goes into a fresh segment of its
// own, which it extends past its preallocated size.
func TestRecordLargerThanASegmentExtendsIt(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 4096, PreallocateInline: true}
	w, _ := openT(t, dir, opts)
	mustSave(t, w, hs(1, 1, 0), mkEnts(1, 2, 1, 100))
	mustSave(t, w, hs(1, 1, 2), mkEnts(3, 1, 1, 10000))
	mustSave(t, w, hs(1, 1, 3), mkEnts(4, 2, 1, 100))
	_, st := reopenT(t, w, dir, opts)
	checkEntries(t, st.Entries[:2], 1, 2, term1, 100)
	checkEntries(t, st.Entries[2:3], 3, 3, term1, 10000)
	checkEntries(t, st.Entries[3:], 4, 5, term1, 100)
	segs := segmentPaths(t, dir)
	if len(segs) != 3 || fileSize(t, segs[1]) <= 10000 || fileSize(t, segs[2]) != 4096 {
		t.Fatalf("segments %v", segs)
	}
}

// A segment written without preallocation (by an older version, or with
// NoPreallocate) is continued by appending; the next one is preallocated.
func TestGrowingSegmentIsContinuedThenRolledIntoAPreallocatedOne(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{SegmentBytes: 8 << 10, NoPreallocate: true})
	mustSave(t, w, hs(1, 1, 0), mkEnts(1, 10, 1, 100))
	w.Close()
	seg := lastSegment(t, dir)
	size := fileSize(t, seg)

	opts := Options{SegmentBytes: 8 << 10, PreallocateInline: true}
	w, _ = openT(t, dir, opts)
	mustSave(t, w, hs(1, 1, 10), mkEnts(11, 10, 1, 100))
	if got := fileSize(t, seg); got <= size || got != logicalEnd(w) {
		t.Fatalf("the growing segment is %d bytes (was %d, logical end %d)", got, size, logicalEnd(w))
	}
	for i := uint64(0); i < 10; i++ {
		mustSave(t, w, nil, mkEnts(21+i*10, 10, 1, 100))
	}
	segs := segmentPaths(t, dir)
	if len(segs) < 2 || fileSize(t, segs[len(segs)-1]) != 8<<10 {
		t.Fatalf("after the roll: %v, the last %d bytes", segs, fileSize(t, segs[len(segs)-1]))
	}
	_, st := reopenT(t, w, dir, opts)
	checkEntries(t, st.Entries, 1, 120, term1, 100)
}

// Preallocation needs room for a whole segment. Without it the roll falls
// back to a segment that grows, rather than refusing writes the disk still
// has room for.
func TestRollWithoutRoomForAWholeSegmentFallsBackToGrowing(t *testing.T) {
	for _, inline := range []bool{true, false} {
		t.Run(map[bool]string{true: "inline", false: "background"}[inline], func(t *testing.T) {
			dir := t.TempDir()
			ffs := newFaultFS()
			opts := Options{FS: ffs, SegmentBytes: 8 << 10, PreallocateInline: inline}
			w, _ := openT(t, dir, opts)
			ffs.setMaxTmp(4096) // room for a small new file, not for a whole segment
			for i := uint64(0); i < 12; i++ {
				mustSave(t, w, hs(1, 1, i*5), mkEnts(1+i*5, 5, 1, 200))
			}
			segs := segmentPaths(t, dir)
			if len(segs) != 2 {
				t.Fatalf("%d segments, want 2", len(segs))
			}
			if got := fileSize(t, segs[1]); got != logicalEnd(w) || got >= 8<<10 {
				t.Fatalf("the second segment is %d bytes, logical end %d: want it growing", got, logicalEnd(w))
			}
			if tmp := tmpFiles(t, dir); len(tmp) != 0 {
				t.Fatalf("a failed spare was left behind: %v", tmp)
			}
			ffs.setMaxTmp(-1)
			_, st := reopenT(t, w, dir, Options{SegmentBytes: 8 << 10})
			checkEntries(t, st.Entries, 1, 60, term1, 200)
		})
	}
}

// gateFS blocks the zero-fill of a spare created once it is armed at its
// second chunk, until released.
type gateFS struct {
	OSFS
	armed            atomic.Bool
	entered, release chan struct{}
	once             sync.Once
}

type gateFile struct {
	File
	g *gateFS
}

func (g *gateFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := g.OSFS.OpenFile(name, flag, perm)
	if err != nil || !g.armed.Load() || !strings.HasSuffix(name, ".tmp") {
		return f, err
	}
	return gateFile{f, g}, nil
}

func (f gateFile) WriteAt(p []byte, off int64) (int, error) {
	if off >= int64(len(zeroChunk)) {
		f.g.once.Do(func() { close(f.g.entered) })
		<-f.g.release
	}
	return f.File.WriteAt(p, off)
}

// Close stops a zero-fill in progress, waits for it, and removes its file.
func TestCloseStopsTheBackgroundPreparation(t *testing.T) {
	dir := t.TempDir()
	g := &gateFS{entered: make(chan struct{}), release: make(chan struct{})}
	w, _ := openT(t, dir, Options{FS: g, SegmentBytes: 4 << 20, NoSync: true})
	g.armed.Store(true)
	for i := uint64(0); logicalEnd(w) < 2<<20; i++ {
		if err := w.Save(nil, mkEnts(1+i*64, 64, 1, 1000), false); err != nil {
			t.Fatal(err)
		}
	}
	<-g.entered
	w.mu.Lock()
	p := w.next
	w.mu.Unlock()
	closed := make(chan error)
	go func() { closed <- w.Close() }()
	for deadline := time.Now().Add(10 * time.Second); !p.stop.Load(); time.Sleep(time.Millisecond) { // poll of a bounded wait
		if time.Now().After(deadline) {
			t.Fatal("Close did not ask the zero-fill to stop")
		}
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while the zero-fill was still writing", err)
	default:
	}
	close(g.release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if !errors.Is(p.err, errStopped) {
		t.Fatalf("the stopped preparation ended with %v", p.err)
	}
	if tmp := tmpFiles(t, dir); len(tmp) != 0 {
		t.Fatalf("the stopped spare was left behind: %v", tmp)
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(2))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("segment 2 exists: %v", err)
	}
}
