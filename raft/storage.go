// Storage is the core's read side of the durable log; MemoryStorage is the
// in-memory implementation the node keeps beside its write-ahead log.
package raft

import (
	"sync"

	pb "github.com/kontiki-raft/kontiki/messages"
	"google.golang.org/protobuf/proto"
)

// Storage returns what has been persisted. The core never writes to it: the
// caller appends a Ready's entries after they are durable.
type Storage interface {
	// InitialState returns the persisted hard state and membership.
	InitialState() (*pb.HardState, *pb.ConfState, error)
	// Entries returns entries in [lo, hi), at least one when any is in range,
	// and no more than maxSize bytes beyond the first.
	Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error)
	// Term of entry i, for i in [FirstIndex()-1, LastIndex()].
	Term(i uint64) (uint64, error)
	LastIndex() (uint64, error)
	FirstIndex() (uint64, error)
	// Snapshot returns the most recent snapshot.
	Snapshot() (*pb.Snapshot, error)
}

// MemoryStorage is a Storage backed by a slice. It is safe for concurrent use:
// the node writes to it while status readers query it.
type MemoryStorage struct {
	mu        sync.Mutex
	hardState *pb.HardState
	snapshot  *pb.Snapshot
	// ents[0] is a dummy entry at the snapshot's index and term.
	// Invariant: ents[i].Index == ents[0].Index + i.
	ents []*pb.Entry
}

// NewMemoryStorage returns an empty storage: no entries, no snapshot.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{
		hardState: &pb.HardState{},
		snapshot:  &pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: &pb.ConfState{}}},
		ents:      []*pb.Entry{{}},
	}
}

func (ms *MemoryStorage) InitialState() (*pb.HardState, *pb.ConfState, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return proto.Clone(ms.hardState).(*pb.HardState), proto.Clone(ms.snapshot.Metadata.ConfState).(*pb.ConfState), nil
}

// SetHardState records the persisted hard state.
func (ms *MemoryStorage) SetHardState(hs *pb.HardState) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.hardState = proto.Clone(hs).(*pb.HardState)
}

// SetConfState records the membership in force (used at bootstrap).
func (ms *MemoryStorage) SetConfState(cs *pb.ConfState) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.snapshot.Metadata.ConfState = proto.Clone(cs).(*pb.ConfState)
}

func (ms *MemoryStorage) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if lo <= offset {
		return nil, ErrCompacted
	}
	if hi > ms.lastIndex()+1 {
		return nil, ErrUnavailable
	}
	ents := limitSize(ms.ents[lo-offset:hi-offset], maxSize)
	// Return a copy of the slice header's backing so appends by the caller
	// cannot overwrite our entries.
	out := make([]*pb.Entry, len(ents))
	copy(out, ents)
	return out, nil
}

func (ms *MemoryStorage) Term(i uint64) (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if i < offset {
		return 0, ErrCompacted
	}
	if int(i-offset) >= len(ms.ents) {
		return 0, ErrUnavailable
	}
	return ms.ents[i-offset].Term, nil
}

func (ms *MemoryStorage) LastIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.lastIndex(), nil
}

func (ms *MemoryStorage) lastIndex() uint64 { return ms.ents[0].Index + uint64(len(ms.ents)) - 1 }

func (ms *MemoryStorage) FirstIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.ents[0].Index + 1, nil
}

func (ms *MemoryStorage) Snapshot() (*pb.Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.snapshot, nil
}

// ApplySnapshot replaces the contents with the snapshot.
func (ms *MemoryStorage) ApplySnapshot(snap *pb.Snapshot) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if snap.Metadata.Index <= ms.snapshot.Metadata.Index && ms.snapshot.Metadata.Index > 0 {
		return ErrSnapOutOfDate
	}
	ms.snapshot = snap
	ms.ents = []*pb.Entry{{Term: snap.Metadata.Term, Index: snap.Metadata.Index}}
	return nil
}

// CreateSnapshot records a snapshot of the state machine at index i (which
// must be applied) and returns it. The log is not compacted: call Compact.
func (ms *MemoryStorage) CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (*pb.Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if i <= ms.snapshot.Metadata.Index {
		return nil, ErrSnapOutOfDate
	}
	offset := ms.ents[0].Index
	if i > ms.lastIndex() {
		return nil, ErrUnavailable
	}
	meta := &pb.SnapshotMetadata{Index: i, Term: ms.ents[i-offset].Term, ConfState: cs}
	if cs == nil {
		meta.ConfState = ms.snapshot.Metadata.ConfState
	}
	ms.snapshot = &pb.Snapshot{Data: data, Metadata: meta}
	return ms.snapshot, nil
}

// Compact discards entries up to and including compactIndex.
func (ms *MemoryStorage) Compact(compactIndex uint64) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if compactIndex <= offset {
		return ErrCompacted
	}
	if compactIndex > ms.lastIndex() {
		return ErrUnavailable
	}
	i := compactIndex - offset
	ents := make([]*pb.Entry, 1, uint64(len(ms.ents))-i)
	ents[0] = &pb.Entry{Index: ms.ents[i].Index, Term: ms.ents[i].Term}
	ents = append(ents, ms.ents[i+1:]...)
	ms.ents = ents
	return nil
}

// Append adds persisted entries; entries that overlap the existing tail
// replace it (a conflict that the leader's log resolved).
func (ms *MemoryStorage) Append(entries []*pb.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	first := ms.ents[0].Index + 1
	last := entries[0].Index + uint64(len(entries)) - 1
	if last < first {
		return nil
	}
	if first > entries[0].Index {
		entries = entries[first-entries[0].Index:]
	}
	offset := entries[0].Index - ms.ents[0].Index
	switch {
	case uint64(len(ms.ents)) > offset:
		ms.ents = append(ms.ents[:offset:offset], entries...)
	case uint64(len(ms.ents)) == offset:
		ms.ents = append(ms.ents, entries...)
	default:
		return ErrUnavailable
	}
	return nil
}

// limitSize keeps the first entry and as many following ones as fit maxSize.
func limitSize(ents []*pb.Entry, maxSize uint64) []*pb.Entry {
	if len(ents) == 0 || maxSize == noLimit {
		return ents
	}
	size := entrySize(ents[0])
	for i := 1; i < len(ents); i++ {
		size += entrySize(ents[i])
		if size > maxSize {
			return ents[:i]
		}
	}
	return ents
}

const noLimit = ^uint64(0)

// entrySize approximates an entry's encoded size without marshaling it.
func entrySize(e *pb.Entry) uint64 { return uint64(len(e.Data)) + 24 }

// payloadSize is what counts toward the uncommitted-log cap.
func payloadSize(e *pb.Entry) uint64 { return uint64(len(e.Data)) }
