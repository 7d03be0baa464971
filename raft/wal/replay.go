// Replay: reading the segments back at Open and deciding, record by record,
// what is durable state, what is a write torn by a crash (cut off and
// logged), and what is corruption (Open fails naming the file and offset).
//
// In any segment, zeros from a record boundary to the end of the file are
// not a record: they are the zero-filled tail of a preallocated segment (or
// sectors that never reached the disk), and the segment's logical end is
// that boundary. This is not damage and is not reported.
//
// Only the last segment can hold a torn write (a roll fsyncs the previous
// one), and only in records written after the last completed fsync. In the
// last segment:
//   - a record whose (checked) header says it runs past the end of the
//     file, or a partial header at the end, is torn;
//   - a record that fails its checks, when one of its 512-byte sectors
//     (aligned to file offsets) is all zeros, is a write torn before its
//     fsync finished, provided no later record vouches for it (each record
//     carries the offset known fsynced when it was written): nothing after
//     it, as for the last record of the log, or only records written before
//     an fsync covering it had completed. Such a record was never
//     acknowledged, so it and everything after it are cut off;
//   - anything else that fails its checks is corruption.
package wal

import (
	"encoding/binary"
	"fmt"
)

const sectorSize = 512

type segmentImage struct {
	path string
	seq  uint64
	data []byte
}

// replayer folds segments, oldest first, into a logState.
type replayer struct {
	id    Identity
	log   logState
	segs  []segmentInfo
	end   int64  // logical end of the last segment fed: the end of its last valid record
	torn  string // why the last segment's bytes past end are dropped ("" if none, or only zeros)
	first bool   // no segment fed yet
}

func newReplayer(id Identity) *replayer {
	return &replayer{id: id, log: logState{keep: true}, first: true}
}

// segment replays one segment; last says it is the newest one, the only one
// allowed a torn tail.
func (r *replayer) segment(img segmentImage, last bool) error {
	if !r.first && img.seq != r.segs[len(r.segs)-1].seq+1 {
		return corruptf(img.path, -1, "segment %d is missing (found %d after %d)",
			r.segs[len(r.segs)-1].seq+1, img.seq, r.segs[len(r.segs)-1].seq)
	}
	if err := checkSegmentHeader(img.path, img.data, img.seq, r.id); err != nil {
		return err
	}
	info := segmentInfo{seq: img.seq, path: img.path}
	sawCheckpoint := false
	end, torn, err := scanRecords(img, last, func(off int64, h recordHeader, p []byte) error {
		bad := func(format string, args ...any) error {
			return corruptf(img.path, off, "record type %d: %s", h.typ, fmt.Sprintf(format, args...))
		}
		if !sawCheckpoint && h.typ != recordCheckpoint {
			return bad("the segment does not start with a checkpoint")
		}
		switch h.typ {
		case recordCheckpoint:
			if sawCheckpoint {
				return bad("a second checkpoint")
			}
			sawCheckpoint = true
			cp, err := decodeCheckpoint(p)
			if err != nil {
				return bad("%v", err)
			}
			info.prev = cp.prev
			if err := r.checkpoint(cp); err != nil {
				return bad("%v", err)
			}
		case recordBatch:
			b, err := decodeBatch(p)
			if err != nil {
				return bad("%v", err)
			}
			if len(b.entries) > 0 {
				if err := r.log.checkAppend(b.entries); err != nil {
					return bad("%v", err)
				}
				r.log.append(b.entries)
			}
			if b.hs != nil {
				r.log.hs = *b.hs
			}
		case recordSnapshot:
			s, kept, err := decodeSnapshotMarker(p)
			if err != nil {
				return bad("%v", err)
			}
			if err := r.log.checkSnapshot(s, kept); err != nil {
				return bad("%v", err)
			}
			r.log.applySnapshot(s, kept)
		default:
			return bad("unknown record type")
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !sawCheckpoint {
		return corruptf(img.path, segmentHeaderSize, "segment has no checkpoint record")
	}
	r.segs = append(r.segs, info)
	r.end, r.torn, r.first = end, torn, false
	return nil
}

// checkpoint starts the log from the first segment's checkpoint, or checks
// that a later segment's checkpoint agrees with everything before it (a
// missing or foreign segment shows up here).
func (r *replayer) checkpoint(cp checkpoint) error {
	if !r.first {
		if cp.hs != r.log.hs || cp.snap != r.log.snap || cp.prev != r.log.lastPos() {
			return fmt.Errorf("checkpoint (hard state %+v, snapshot %+v, last %+v) disagrees with the "+
				"preceding segments (hard state %+v, snapshot %+v, last %+v)",
				cp.hs, cp.snap, cp.prev, r.log.hs, r.log.snap, r.log.lastPos())
		}
		return nil
	}
	// The writer's log always reaches its snapshot, so the snapshot is at or
	// before prev. When it is before, the entries (snap, prev] were in
	// compacted segments, and a later snapshot must cover them (finish checks).
	if cp.snap.Index > cp.prev.Index || (cp.snap.Index == cp.prev.Index && cp.snap.Term != cp.prev.Term) {
		return fmt.Errorf("checkpoint snapshot %+v is beyond its last position %+v", cp.snap, cp.prev)
	}
	r.log.hs, r.log.snap = cp.hs, cp.snap
	r.log.base, r.log.baseTerm, r.log.last = cp.prev.Index, cp.prev.Term, cp.prev.Index
	return nil
}

// finish checks the log is whole: every entry after the snapshot is present.
func (r *replayer) finish() error {
	if r.log.base != r.log.snap.Index {
		return corruptf(r.segs[0].path, -1, "entries %d..%d are missing: segments were removed before a snapshot covered them",
			r.log.snap.Index+1, r.log.base)
	}
	return nil
}

// scanRecords walks the records of a segment image, calling visit for each
// record that checks out. It returns the offset where valid data ends and,
// for the last segment, why the rest is a torn tail ("" when the rest is
// only zeros).
func scanRecords(img segmentImage, last bool, visit func(off int64, h recordHeader, payload []byte) error) (int64, string, error) {
	data := img.data
	off := segmentHeaderSize
	for off < len(data) {
		rest := data[off:]
		// tornOr returns the torn tail when allowed here, else corruption.
		tornOr := func(torn bool, why, corrupt string) (int64, string, error) {
			if last && torn {
				return int64(off), why, nil
			}
			return 0, "", corruptf(img.path, int64(off), "%s", corrupt)
		}
		if allZero(rest) {
			// Zero fill to the end of the file: preallocation or sectors that
			// never reached the disk. The logical end, in any segment.
			return int64(off), "", nil
		}
		if len(rest) < recordHeaderSize {
			return tornOr(true, "record header runs past end of file",
				"truncated record header at end of a segment that is not the last")
		}
		hb := rest[:recordHeaderSize]
		h, ok := parseHeader(hb)
		if !ok {
			torn := hasZeroSector(off, hb) && !vouchedFor(data, off)
			return tornOr(torn, "a record header lost a sector before its fsync (torn write)",
				"bad record header (checksum, reserved bytes or length)")
		}
		end := off + recordHeaderSize + int(h.length)
		if end > len(data) {
			return tornOr(true, "last record runs past end of file (torn write)",
				fmt.Sprintf("record of %d bytes runs past the end of a segment that is not the last", h.length))
		}
		payload := data[off+recordHeaderSize : end]
		if !payloadOK(hb, payload) {
			torn := hasZeroSector(off, data[off:end]) && !vouchedFor(data, off)
			return tornOr(torn, "a record lost a sector before its fsync (torn write)",
				"record checksum mismatch")
		}
		if h.synced > uint64(off) {
			return 0, "", corruptf(img.path, int64(off), "record claims the log was synced to %d, beyond itself", h.synced)
		}
		if err := visit(int64(off), h, payload); err != nil {
			return 0, "", err
		}
		off = end
	}
	return int64(off), "", nil
}

// hasZeroSector reports whether b, found at file offset off, has a part
// within one 512-byte sector (aligned to file offsets) that is all zeros.
func hasZeroSector(off int, b []byte) bool {
	for len(b) > 0 {
		n := sectorSize - off%sectorSize
		if n > len(b) {
			n = len(b)
		}
		if allZero(b[:n]) {
			return true
		}
		b, off = b[n:], off+n
	}
	return false
}

// vouchedFor reports whether a valid record after the damaged one at off
// says the log was fsynced past off when it was written: then the damaged
// record had been acknowledged, and its damage is corruption. Every offset
// is tried, since the damaged record's length cannot be trusted, up to the
// zero tail (a record's header is never all zeros).
func vouchedFor(data []byte, off int) bool {
	nz := dataEnd(data)
	for at := off + 1; at < nz && at+recordHeaderSize <= len(data); at++ {
		h := data[at : at+recordHeaderSize]
		// Cheap filters before the checksums: reserved bytes zero, a type,
		// a plausible length, a claim past off.
		if h[5]|h[6]|h[7] != 0 || h[4] == 0 || binary.LittleEndian.Uint32(h[0:4]) > maxRecordPayload ||
			binary.LittleEndian.Uint64(h[8:16]) <= uint64(off) {
			continue
		}
		hdr, ok := parseHeader(h)
		if !ok || at+recordHeaderSize+int(hdr.length) > len(data) || hdr.synced > uint64(at) {
			continue
		}
		if payloadOK(h, data[at+recordHeaderSize:at+recordHeaderSize+int(hdr.length)]) {
			return true
		}
	}
	return false
}

// dataEnd is the length of b without its trailing zeros.
func dataEnd(b []byte) int {
	n := len(b)
	for n >= 8 && binary.LittleEndian.Uint64(b[n-8:]) == 0 {
		n -= 8
	}
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return n
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
