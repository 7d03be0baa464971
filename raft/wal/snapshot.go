// Snapshot files: IIIIIIIIIIIIIIII-TTTTTTTTTTTTTTTT.snap (index and term in
// hex). A snapshot is written to name.part, fsynced, renamed, and the
// directory fsynced; only then is a snapshot record appended to the log, so
// a recorded snapshot always has its file. Files the log never recorded (a
// crash between the rename and the record) are removed at Open. The two
// newest snapshots are kept.
package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kontiki-raft/kontiki/messages"
)

const (
	snapMagic      = "KNTKSNP\x00"
	snapHeaderSize = 56
	snapExt        = ".snap"
	snapsKept      = 2
)

func snapshotName(s logPos) string { return fmt.Sprintf("%016x-%016x%s", s.Index, s.Term, snapExt) }

func parseSnapshotName(name string) (logPos, bool) {
	base, ok := strings.CutSuffix(name, snapExt)
	if !ok || len(base) != 33 || base[16] != '-' {
		return logPos{}, false
	}
	i, err1 := strconv.ParseUint(base[:16], 16, 64)
	t, err2 := strconv.ParseUint(base[17:], 16, 64)
	return logPos{Index: i, Term: t}, err1 == nil && err2 == nil
}

// File layout (little-endian):
//
//	0:8   magic
//	8:12  format version
//	12:16 reserved, zero
//	16:24 index
//	24:32 term
//	32:40 length of the encoded membership (ConfState)
//	40:48 length of the data
//	48:52 crc32c of bytes 0:48 (lengths are trusted only after this)
//	52:56 reserved, zero
//	56:   membership, data, then crc32c of membership+data (4 bytes)
func snapshotHeader(s logPos, metaLen, dataLen int) []byte {
	h := make([]byte, snapHeaderSize)
	copy(h, snapMagic)
	binary.LittleEndian.PutUint32(h[8:], formatVersion)
	binary.LittleEndian.PutUint64(h[16:], s.Index)
	binary.LittleEndian.PutUint64(h[24:], s.Term)
	binary.LittleEndian.PutUint64(h[32:], uint64(metaLen))
	binary.LittleEndian.PutUint64(h[40:], uint64(dataLen))
	binary.LittleEndian.PutUint32(h[48:], crc32.Checksum(h[:48], castagnoli))
	return h
}

func appendConfState(b []byte, cs *messages.ConfState) []byte {
	for _, ids := range [][]uint64{cs.GetVoters(), cs.GetLearners(), cs.GetVotersOutgoing(), cs.GetLearnersNext()} {
		b = binary.AppendUvarint(b, uint64(len(ids)))
		for _, id := range ids {
			b = binary.AppendUvarint(b, id)
		}
	}
	if cs.GetAutoLeave() {
		return append(b, 1)
	}
	return append(b, 0)
}

func decodeConfState(p []byte) (*messages.ConfState, error) {
	d := decoder{b: p}
	var lists [4][]uint64
	for i := range lists {
		n := d.uvarint()
		if n > uint64(len(d.b)) { // each id takes at least one byte
			return nil, errPayload
		}
		for range n {
			lists[i] = append(lists[i], d.uvarint())
		}
	}
	auto := d.byte()
	if err := d.done(); err != nil || auto > 1 {
		return nil, errPayload
	}
	return &messages.ConfState{Voters: lists[0], Learners: lists[1], VotersOutgoing: lists[2],
		LearnersNext: lists[3], AutoLeave: auto == 1}, nil
}

// writeSnapshotFile writes snap durably under its final name.
func writeSnapshotFile(fsys FS, dir string, snap *messages.Snapshot, noSync bool) (string, error) {
	md := snap.GetMetadata()
	s := logPos{Index: md.GetIndex(), Term: md.GetTerm()}
	path := filepath.Join(dir, snapshotName(s))
	part := path + ".part"
	meta := appendConfState(nil, md.GetConfState())
	body := crc32.Update(crc32.Checksum(meta, castagnoli), castagnoli, snap.GetData())
	trailer := binary.LittleEndian.AppendUint32(nil, body)

	f, err := fsys.OpenFile(part, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", fmt.Errorf("wal: create snapshot %s: %w", part, classify(err))
	}
	var off int64
	for _, p := range [][]byte{snapshotHeader(s, len(meta), len(snap.GetData())), meta, snap.GetData(), trailer} {
		if err == nil {
			_, err = f.WriteAt(p, off)
			err = classify(err)
			off += int64(len(p))
		}
	}
	if err == nil && !noSync {
		if err = f.Sync(); err != nil {
			err = fmt.Errorf("%w: %w", ErrSyncFailed, err)
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(part, path)
	}
	if err == nil && !noSync {
		if err = fsys.SyncDir(dir); err != nil {
			err = fmt.Errorf("%w: %w", ErrSyncFailed, err)
		}
	}
	if err != nil {
		fsys.Remove(part)
		return "", fmt.Errorf("wal: write snapshot %s: %w", path, err)
	}
	return path, nil
}

// readSnapshotFile loads and checks the snapshot s recorded in the log.
func readSnapshotFile(fsys FS, dir string, s logPos) (*messages.Snapshot, error) {
	path := filepath.Join(dir, snapshotName(s))
	b, err := fsys.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, corruptf(path, -1, "the log records snapshot %d (term %d) but its file is missing", s.Index, s.Term)
	}
	if err != nil {
		return nil, fmt.Errorf("wal: read snapshot %s: %w", path, err)
	}
	if len(b) < snapHeaderSize+4 || !bytes.Equal(b[:8], []byte(snapMagic)) ||
		binary.LittleEndian.Uint32(b[48:]) != crc32.Checksum(b[:48], castagnoli) {
		return nil, corruptf(path, 0, "bad snapshot header")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != formatVersion {
		return nil, corruptf(path, 8, "snapshot format version %d, this build reads version %d", v, formatVersion)
	}
	idx, term := binary.LittleEndian.Uint64(b[16:]), binary.LittleEndian.Uint64(b[24:])
	metaLen, dataLen := binary.LittleEndian.Uint64(b[32:]), binary.LittleEndian.Uint64(b[40:])
	if idx != s.Index || term != s.Term {
		return nil, corruptf(path, 16, "snapshot file holds index %d term %d, its name says %d/%d", idx, term, s.Index, s.Term)
	}
	bodyLen := uint64(len(b) - snapHeaderSize - 4)
	if metaLen > bodyLen || dataLen != bodyLen-metaLen {
		return nil, corruptf(path, 32, "snapshot lengths (%d+%d) do not match the file size %d", metaLen, dataLen, len(b))
	}
	body := b[snapHeaderSize : len(b)-4]
	if binary.LittleEndian.Uint32(b[len(b)-4:]) != crc32.Checksum(body, castagnoli) {
		return nil, corruptf(path, snapHeaderSize, "snapshot checksum mismatch")
	}
	cs, err := decodeConfState(body[:metaLen])
	if err != nil {
		return nil, corruptf(path, snapHeaderSize, "snapshot membership: %v", err)
	}
	snap := &messages.Snapshot{Metadata: &messages.SnapshotMetadata{Index: idx, Term: term, ConfState: cs}}
	if dataLen > 0 {
		snap.Data = body[metaLen:]
	}
	return snap, nil
}

// pruneSnapshots removes snapshot files the log does not record (newer than
// current) and all but the snapsKept newest recorded ones. Best effort: a
// file left behind is only disk space.
func pruneSnapshots(fsys FS, dir string, names []string, current logPos) []string {
	var recorded []logPos
	var removed []string
	for _, name := range names {
		s, ok := parseSnapshotName(name)
		if !ok {
			continue
		}
		if s.Index > current.Index || (s.Index == current.Index && s != current) {
			removed = append(removed, name)
			continue
		}
		recorded = append(recorded, s)
	}
	sort.Slice(recorded, func(i, j int) bool { return recorded[i].Index > recorded[j].Index })
	for i, s := range recorded {
		if i >= snapsKept {
			removed = append(removed, snapshotName(s))
		}
	}
	var done []string
	for _, name := range removed {
		if fsys.Remove(filepath.Join(dir, name)) == nil {
			done = append(done, name)
		}
	}
	return done
}
