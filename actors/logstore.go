// LogStore is how the node makes a Ready durable; MemoryLogStore keeps it in
// memory and can lose its unsynced tail like a crashed disk would.
package actors

import (
	"errors"
	"sync"

	pb "github.com/kontiki-raft/kontiki/messages"
	"google.golang.org/protobuf/proto"
)

// DurableState is what a node restarts from.
type DurableState struct {
	HardState *pb.HardState
	Snapshot  *pb.Snapshot // nil when none
	// Entries follow the snapshot, contiguous.
	Entries []*pb.Entry
}

// ErrNoSpace: a LogStore's Save or SaveSnapshot found no room on its disk
// and will succeed, retried whole, once space is freed. What it had begun is
// rolled back, except that a Save split into several records may keep its
// earlier parts (written and fsynced), which the retry rewrites in place. A
// store reports it by wrapping this error; the node then holds its writes
// and refuses proposals (retrying every second), and a leader hands over,
// instead of stopping. Any other error stops the node.
var ErrNoSpace = errors.New("actors: no space left for the log; writes are held until space is freed")

// LogStore persists hard state, entries and snapshots. Save with sync must
// not return before the data is durable: the node acknowledges on its word.
type LogStore interface {
	Load() (*DurableState, error)
	// Save appends ents (replacing any overlapping tail) and records hs
	// (nil: unchanged).
	Save(hs *pb.HardState, ents []*pb.Entry, sync bool) error
	SaveSnapshot(snap *pb.Snapshot) error
	// Compact discards entries up to index (covered by a snapshot).
	Compact(index uint64) error
	// Durable reports whether Save(sync) really reaches stable storage.
	Durable() bool
}

// MemoryLogStore is an in-memory LogStore. What Save wrote without sync
// survives until Crash drops it, as the page cache would on power loss.
type MemoryLogStore struct {
	mu      sync.Mutex
	synced  memState
	pending memState
	saves   int
	syncs   int
}

type memState struct {
	hs   *pb.HardState
	snap *pb.Snapshot
	ents []*pb.Entry
}

func (s memState) clone() memState {
	return memState{hs: s.hs, snap: s.snap, ents: append([]*pb.Entry(nil), s.ents...)}
}

func NewMemoryLogStore() *MemoryLogStore { return &MemoryLogStore{} }

func (m *MemoryLogStore) Load() (*DurableState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.pending.clone()
	hs := &pb.HardState{}
	if st.hs != nil {
		hs = proto.Clone(st.hs).(*pb.HardState)
	}
	return &DurableState{HardState: hs, Snapshot: st.snap, Entries: st.ents}, nil
}

func (m *MemoryLogStore) Save(hs *pb.HardState, ents []*pb.Entry, sync bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saves++
	if hs != nil {
		m.pending.hs = proto.Clone(hs).(*pb.HardState)
	}
	if len(ents) > 0 {
		m.pending.ents = spliceEntries(m.pending.ents, ents)
	}
	if sync {
		m.syncs++
		m.synced = m.pending.clone()
	}
	return nil
}

// spliceEntries appends ents to log, replacing the tail from ents[0].Index.
func spliceEntries(log, ents []*pb.Entry) []*pb.Entry {
	if len(log) == 0 {
		return append([]*pb.Entry(nil), ents...)
	}
	first := log[0].Index
	from := ents[0].Index
	switch {
	case from < first:
		return append([]*pb.Entry(nil), ents...)
	case from > first+uint64(len(log)):
		// A gap cannot happen: the core appends contiguously.
		panic("actors: entries leave a gap in the log")
	default:
		return append(log[:from-first:from-first], ents...)
	}
}

func (m *MemoryLogStore) SaveSnapshot(snap *pb.Snapshot) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, st := range []*memState{&m.pending, &m.synced} {
		if st.snap != nil && st.snap.Metadata.Index >= snap.Metadata.Index {
			continue
		}
		st.snap = snap
		// Entries the snapshot covers are no longer needed. Those after it
		// stay only when the log holds the snapshot's entry with its term
		// (a local snapshot); after a snapshot installed from the leader
		// over a log that diverged there, they belong to another branch.
		var keep []*pb.Entry
		for i, e := range st.ents {
			if e.Index == snap.Metadata.Index {
				if e.Term == snap.Metadata.Term {
					keep = st.ents[i+1:]
				}
				break
			}
		}
		st.ents = append([]*pb.Entry(nil), keep...)
	}
	return nil
}

func (m *MemoryLogStore) Compact(index uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, st := range []*memState{&m.pending, &m.synced} {
		var keep []*pb.Entry
		for _, e := range st.ents {
			if e.Index > index {
				keep = append(keep, e)
			}
		}
		st.ents = keep
	}
	return nil
}

func (m *MemoryLogStore) Durable() bool { return false }

// Crash drops everything written since the last sync.
func (m *MemoryLogStore) Crash() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending = m.synced.clone()
}

// Syncs counts the Saves that synced (for fsync-per-op figures).
func (m *MemoryLogStore) Syncs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncs
}
