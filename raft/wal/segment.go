// Segments: the log's files, NNNNNNNNNNNNNNNN.wal (16 hex digits of the
// segment's sequence number). Each starts with a header (magic, format
// version, sequence, identity) and a checkpoint record, and is created
// complete (tmp, fsync, rename, dir fsync), so a file with a segment's name
// always has both. Segments are append-only; the WAL rolls to the next one
// after SegmentBytes, having fsynced the previous one, so only the last
// segment can ever end in a torn write.
package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	segmentMagic      = "KNTKWAL\x00"
	formatVersion     = 1
	segmentHeaderSize = 48
	segmentExt        = ".wal"
)

func segmentName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, segmentExt) }

// parseSegmentName returns the sequence number of a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, segmentExt)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	seq, err := strconv.ParseUint(hex, 16, 64)
	return seq, err == nil && seq > 0
}

// Header layout (little-endian):
//
//	0:8   magic
//	8:12  format version
//	12:16 reserved, zero
//	16:24 segment sequence number (equals the file name's)
//	24:32 cluster id
//	32:40 node id
//	40:44 crc32c of bytes 0:40
//	44:48 reserved, zero
func appendSegmentHeader(b []byte, seq uint64, id Identity) []byte {
	h := make([]byte, segmentHeaderSize)
	copy(h, segmentMagic)
	binary.LittleEndian.PutUint32(h[8:], formatVersion)
	binary.LittleEndian.PutUint64(h[16:], seq)
	binary.LittleEndian.PutUint64(h[24:], id.ClusterID)
	binary.LittleEndian.PutUint64(h[32:], id.NodeID)
	binary.LittleEndian.PutUint32(h[40:], crc32.Checksum(h[:40], castagnoli))
	return append(b, h...)
}

func checkSegmentHeader(path string, data []byte, seq uint64, id Identity) error {
	if len(data) < segmentHeaderSize {
		return corruptf(path, 0, "segment shorter than its header (%d bytes)", len(data))
	}
	h := data[:segmentHeaderSize]
	if !bytes.Equal(h[:8], []byte(segmentMagic)) {
		return corruptf(path, 0, "not a Kontiki WAL segment (bad magic)")
	}
	if binary.LittleEndian.Uint32(h[40:]) != crc32.Checksum(h[:40], castagnoli) {
		return corruptf(path, 0, "segment header checksum mismatch")
	}
	// The checksum does not cover 44:48: check it is zero, so no bit of
	// the header can flip unnoticed.
	if binary.LittleEndian.Uint32(h[44:]) != 0 {
		return corruptf(path, 44, "segment header reserved bytes are not zero")
	}
	if v := binary.LittleEndian.Uint32(h[8:]); v != formatVersion {
		return corruptf(path, 8, "segment format version %d, this build reads version %d", v, formatVersion)
	}
	if s := binary.LittleEndian.Uint64(h[16:]); s != seq {
		return corruptf(path, 16, "segment header says sequence %d, file name says %d", s, seq)
	}
	cid, nid := binary.LittleEndian.Uint64(h[24:]), binary.LittleEndian.Uint64(h[32:])
	if cid != id.ClusterID || nid != id.NodeID {
		return corruptf(path, 24, "segment belongs to cluster id %d node %d, not cluster id %d node %d",
			cid, nid, id.ClusterID, id.NodeID)
	}
	return nil
}

// createSegment writes a new segment, header and checkpoint, through a tmp
// file made durable before its rename, and returns it open for appending.
func createSegment(fsys FS, dir string, seq uint64, id Identity, cp checkpoint, noSync bool) (File, int64, error) {
	b := appendSegmentHeader(nil, seq, id)
	b = beginRecord(b)
	b = appendCheckpoint(b, cp.hs, cp.snap, cp.prev)
	finishRecord(b, segmentHeaderSize, recordCheckpoint, 0)

	path := filepath.Join(dir, segmentName(seq))
	tmp := path + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("wal: create segment %s: %w", tmp, classify(err))
	}
	fail := func(op string, err error) (File, int64, error) {
		f.Close()
		fsys.Remove(tmp)
		return nil, 0, fmt.Errorf("wal: %s segment %s: %w", op, tmp, err)
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		return fail("write", classify(err))
	}
	if !noSync {
		if err := f.Sync(); err != nil {
			return fail("fsync", fmt.Errorf("%w: %w", ErrSyncFailed, err))
		}
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fail("rename", err)
	}
	if !noSync {
		if err := fsys.SyncDir(dir); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("wal: fsync directory %s: %w: %w", dir, ErrSyncFailed, err)
		}
	}
	return f, int64(len(b)), nil
}

// segmentInfo is what the writer remembers of each live segment.
type segmentInfo struct {
	seq  uint64
	path string
	// prev is the log's last position when the segment was created (its
	// checkpoint). The previous segment holds no entry the log needs beyond
	// prev.Index, which is what Compact checks.
	prev logPos
}
