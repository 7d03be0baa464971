// Records: the framing every log record has, and the payloads of the three
// record types. One Save is one record, so a crash can only tear records
// written since the last completed fsync, and usually just the last one.
//
// Frame (little-endian), 24-byte header then payload, no padding:
//
//	0:4   payload length
//	4     record type
//	5:8   reserved, zero
//	8:16  synced: the offset in this segment up to which the log was known
//	      fsynced when the record was written (never beyond the record's
//	      own offset). A damaged record that a later record vouches for was
//	      acknowledged: corruption, not a torn write (see replay.go)
//	16:20 crc32c over bytes 0:16 and the payload (type, length, payload)
//	20:24 crc32c over bytes 0:20, so the length can be trusted before the
//	      payload is read: a header that checks out and runs past the end
//	      of the file is a torn write, never a flipped length bit
package wal

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"

	"github.com/kontiki-raft/kontiki/messages"
)

const (
	recordHeaderSize = 24
	// maxRecordPayload bounds one record: Save splits larger batches, and
	// replay calls a longer length corruption rather than allocating it.
	maxRecordPayload = 64 << 20
	// maxEntryData is the largest entry payload a record can carry.
	maxEntryData = maxRecordPayload - 64
)

type recordType uint8

const (
	// recordBatch is one Save: an optional hard state, then contiguous
	// entries from a first index. A first index at or below the log's last
	// index truncates the log there first (a conflict rewrite), in the same
	// atomic record as the new entries.
	recordBatch recordType = 1
	// recordSnapshot marks a snapshot (index, term) whose file was made
	// durable before this record was written, and whether the entries after
	// it were kept (the writer's decision, so replay repeats it rather than
	// re-deriving it from entries it may no longer have).
	recordSnapshot recordType = 2
	// recordCheckpoint opens every segment: the hard state, snapshot and last
	// log position at the time it was created, so that older segments can be
	// deleted without losing state and a missing segment is detected.
	recordCheckpoint recordType = 3
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// hardState mirrors messages.HardState as a plain value.
type hardState struct{ Term, Vote, Commit uint64 }

// logPos is a position in the log: an index and the term of the entry there.
type logPos struct{ Index, Term uint64 }

type recordHeader struct {
	length uint32
	typ    recordType
	synced uint64
}

// beginRecord reserves a header at the end of buf; the payload is appended
// after it and finishRecord fills the header in.
func beginRecord(buf []byte) []byte {
	return append(buf, make([]byte, recordHeaderSize)...)
}

func finishRecord(buf []byte, start int, t recordType, synced uint64) {
	h := buf[start : start+recordHeaderSize]
	payload := buf[start+recordHeaderSize:]
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	h[4], h[5], h[6], h[7] = byte(t), 0, 0, 0
	binary.LittleEndian.PutUint64(h[8:16], synced)
	c := crc32.Update(crc32.Update(0, castagnoli, h[0:16]), castagnoli, payload)
	binary.LittleEndian.PutUint32(h[16:20], c)
	binary.LittleEndian.PutUint32(h[20:24], crc32.Checksum(h[0:20], castagnoli))
}

// parseHeader checks a header on its own: reserved bytes, header checksum and
// a plausible length. The type is checked later, once the payload checks out.
func parseHeader(h []byte) (recordHeader, bool) {
	if h[5]|h[6]|h[7] != 0 {
		return recordHeader{}, false
	}
	n := binary.LittleEndian.Uint32(h[0:4])
	if n > maxRecordPayload || h[4] == 0 {
		return recordHeader{}, false
	}
	if binary.LittleEndian.Uint32(h[20:24]) != crc32.Checksum(h[0:20], castagnoli) {
		return recordHeader{}, false
	}
	return recordHeader{length: n, typ: recordType(h[4]), synced: binary.LittleEndian.Uint64(h[8:16])}, true
}

// payloadOK checks the record checksum over the header fields and payload.
func payloadOK(h, payload []byte) bool {
	c := crc32.Update(crc32.Update(0, castagnoli, h[0:16]), castagnoli, payload)
	return c == binary.LittleEndian.Uint32(h[16:20])
}

// --- payloads ---

func appendHardState(b []byte, hs hardState) []byte {
	b = binary.AppendUvarint(b, hs.Term)
	b = binary.AppendUvarint(b, hs.Vote)
	return binary.AppendUvarint(b, hs.Commit)
}

func appendPos(b []byte, p logPos) []byte {
	b = binary.AppendUvarint(b, p.Index)
	return binary.AppendUvarint(b, p.Term)
}

// appendBatch encodes a batch payload: flags (bit 0: a hard state follows),
// the hard state, the entry count, then the first index and each entry as
// term, type, data length, data. Entries are contiguous, so only the first
// index is stored.
func appendBatch(b []byte, hs *hardState, ents []*messages.Entry) []byte {
	if hs != nil {
		b = append(b, 1)
		b = appendHardState(b, *hs)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(ents)))
	if len(ents) == 0 {
		return b
	}
	b = binary.AppendUvarint(b, ents[0].Index)
	for _, e := range ents {
		b = binary.AppendUvarint(b, e.Term)
		b = binary.AppendUvarint(b, uint64(uint32(e.Type)))
		b = binary.AppendUvarint(b, uint64(len(e.Data)))
		b = append(b, e.Data...)
	}
	return b
}

// batchEntrySize is an upper bound of an entry's encoded size in a batch.
func batchEntrySize(e *messages.Entry) int { return 3*binary.MaxVarintLen64 + len(e.Data) }

func appendCheckpoint(b []byte, hs hardState, snap, prev logPos) []byte {
	b = appendHardState(b, hs)
	b = appendPos(b, snap)
	return appendPos(b, prev)
}

var errPayload = errors.New("malformed payload")

// decoder reads uvarints and byte strings, remembering the first error so
// callers check once at the end. It never allocates beyond its input.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errPayload
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errPayload
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errPayload
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

// done reports the first error, or errPayload when bytes are left over.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		return errPayload
	}
	return d.err
}

func (d *decoder) hardState() hardState {
	return hardState{Term: d.uvarint(), Vote: d.uvarint(), Commit: d.uvarint()}
}

func (d *decoder) pos() logPos { return logPos{Index: d.uvarint(), Term: d.uvarint()} }

type batch struct {
	hs      *hardState
	first   uint64
	entries []*messages.Entry
}

// decodeBatch parses a batch payload. Entry data is copied into one fresh
// buffer per record so the segment image it was read from can be freed.
func decodeBatch(p []byte) (batch, error) {
	d := decoder{b: p}
	var bt batch
	switch d.byte() {
	case 0:
	case 1:
		hs := d.hardState()
		bt.hs = &hs
	default:
		return bt, errPayload
	}
	n := d.uvarint()
	if n == 0 {
		return bt, d.done()
	}
	bt.first = d.uvarint()
	// Each entry takes at least three bytes: bound the count by the input
	// before allocating for it.
	if d.err != nil || n > uint64(len(d.b))/3 || bt.first == 0 || bt.first+n-1 < bt.first {
		return bt, errPayload
	}
	vals := make([]messages.Entry, n)
	datas := make([][]byte, n)
	total := 0
	for i := range vals {
		vals[i].Index = bt.first + uint64(i)
		vals[i].Term = d.uvarint()
		t := d.uvarint()
		if t > math.MaxInt32 {
			return bt, errPayload
		}
		vals[i].Type = messages.EntryType(t)
		datas[i] = d.bytes(d.uvarint())
		total += len(datas[i])
	}
	if err := d.done(); err != nil {
		return bt, err
	}
	buf := make([]byte, 0, total)
	bt.entries = make([]*messages.Entry, n)
	for i := range vals {
		if len(datas[i]) > 0 {
			start := len(buf)
			buf = append(buf, datas[i]...)
			vals[i].Data = buf[start:len(buf):len(buf)]
		}
		bt.entries[i] = &vals[i]
	}
	return bt, nil
}

type checkpoint struct {
	hs   hardState
	snap logPos
	prev logPos
}

func decodeCheckpoint(p []byte) (checkpoint, error) {
	d := decoder{b: p}
	cp := checkpoint{hs: d.hardState(), snap: d.pos(), prev: d.pos()}
	return cp, d.done()
}

func appendSnapshotMarker(b []byte, s logPos, kept bool) []byte {
	b = appendPos(b, s)
	if kept {
		return append(b, 1)
	}
	return append(b, 0)
}

func decodeSnapshotMarker(p []byte) (logPos, bool, error) {
	d := decoder{b: p}
	s := d.pos()
	kept := d.byte()
	if err := d.done(); err != nil || s.Index == 0 || kept > 1 {
		return s, false, errPayload
	}
	return s, kept == 1, nil
}
