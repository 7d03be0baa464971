// Fuzzing what Open reads from disk: arbitrary bytes as a segment, and as a
// snapshot file, must either load or fail with a clear *CorruptError, never
// panic or allocate beyond the input.
package wal

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"testing"
)

// validSegment returns the bytes of a real segment with a few records: a
// growing one, or a preallocated one of 4 KiB (the records, then zeros).
func validSegment(t testing.TB, prealloc bool) []byte {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{NoSync: true, NoPreallocate: !prealloc, PreallocateInline: true, SegmentBytes: 4096})
	mustSave(t, w, hs(1, 1, 0), mkEnts(1, 3, 1, 20))
	mustSave(t, w, hs(2, 2, 2), mkEnts(3, 2, 2, 700))
	if err := w.SaveSnapshot(mkSnap(2, 1, "s")); err != nil {
		t.Fatal(err)
	}
	mustSave(t, w, hs(2, 2, 4), nil)
	w.Close()
	b, err := os.ReadFile(lastSegment(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzReplay(f *testing.F) {
	seg := validSegment(f, false)
	pre := validSegment(f, true)
	f.Add(pre, true, false)
	f.Add(pre, false, true)
	tornPre := append([]byte{}, pre...)
	clear(tornPre[512:1024]) // a lost sector in the middle of the records
	f.Add(tornPre, true, false)
	f.Add(seg, true, false)
	f.Add(seg, false, false)
	f.Add(seg, true, true)
	f.Add(seg[:len(seg)-5], true, false)
	f.Add(append(append([]byte{}, seg...), make([]byte, 600)...), true, false)
	torn := append([]byte{}, seg...)
	clear(torn[len(torn)-600 : len(torn)-300])
	f.Add(torn, true, false)
	f.Add(seg[:segmentHeaderSize], true, false)
	f.Add([]byte{}, true, false)

	f.Fuzz(func(t *testing.T, data []byte, last, fixCRCs bool) {
		if fixCRCs {
			// Let mutations through the checksums, to reach the payload
			// decoders and the log's validation.
			data = append([]byte(nil), data...)
			repairChecksums(data)
		}
		r := newReplayer(testID)
		err := r.segment(segmentImage{path: "fuzz.wal", seq: 1, data: data}, last)
		if err == nil {
			err = r.finish()
		}
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.File != "fuzz.wal" || ce.Reason == "" {
				t.Fatalf("not a clear corruption error: %v", err)
			}
			return
		}
		if r.end > int64(len(data)) || r.end < segmentHeaderSize {
			t.Fatalf("valid end %d outside the %d-byte input", r.end, len(data))
		}
		if !last && r.end != int64(len(data)) && !allZero(data[r.end:]) {
			t.Fatalf("an older segment lost bytes %d.. without an error", r.end)
		}
		for i, e := range r.log.entries {
			if e.Index != r.log.snap.Index+1+uint64(i) {
				t.Fatalf("entry %d has index %d after snapshot %d", i, e.Index, r.log.snap.Index)
			}
		}
	})
}

// repairChecksums rewrites the segment header's and every record's
// checksums in place, following the lengths as far as they fit.
func repairChecksums(data []byte) {
	if len(data) < segmentHeaderSize {
		return
	}
	copy(data, appendSegmentHeader(nil, 1, testID))
	for off := segmentHeaderSize; off+recordHeaderSize <= len(data); {
		h := data[off : off+recordHeaderSize]
		h[5], h[6], h[7] = 0, 0, 0
		n := int(binary.LittleEndian.Uint32(h[0:4]))
		if h[4] == 0 || n > len(data)-off-recordHeaderSize {
			return
		}
		end := off + recordHeaderSize + n
		synced := binary.LittleEndian.Uint64(h[8:16])
		if synced > uint64(off) {
			synced = uint64(off)
		}
		finishRecord(data[off:end], 0, recordType(h[4]), synced)
		off = end
	}
}

// oneFileFS serves one file's bytes to readSnapshotFile.
type oneFileFS struct {
	FS
	data []byte
}

func (o oneFileFS) ReadFile(string) ([]byte, error) {
	if o.data == nil {
		return nil, fs.ErrNotExist
	}
	return o.data, nil
}

func FuzzSnapshotFile(f *testing.F) {
	dir := f.TempDir()
	if _, err := writeSnapshotFile(OSFS{}, dir, mkSnap(5, 2, "snapshot data"), true); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(dir + "/" + snapshotName(logPos{5, 2}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Fuzz(func(t *testing.T, data []byte) {
		snap, err := readSnapshotFile(oneFileFS{data: data}, "d", logPos{5, 2})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("not a corruption error: %v", err)
			}
			return
		}
		if snap.Metadata.Index != 5 || snap.Metadata.Term != 2 {
			t.Fatalf("loaded %v for 5/2", snap.Metadata)
		}
	})
}
