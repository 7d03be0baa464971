// A member's durable log: the write-ahead log in its data directory, seen
// through the actors' LogStore interface.
package cluster

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"sync"

	"github.com/kontiki-raft/kontiki/actors"
	pb "github.com/kontiki-raft/kontiki/messages"
	"github.com/kontiki-raft/kontiki/raft/wal"
)

// ClusterID derives the id a NEW data directory is stamped with from the
// cluster name and its initial voters, so members bootstrapped together
// agree on it without talking. An existing directory keeps the id it was
// stamped with (a restored cluster's differs: see RestoreDataDir).
func ClusterID(cluster string, peers []uint64) uint64 {
	sorted := slices.Clone(peers)
	slices.Sort(sorted)
	h := fnv.New64a()
	h.Write([]byte(cluster))
	for _, p := range sorted {
		h.Write([]byte{0})
		h.Write([]byte(strconv.FormatUint(p, 10)))
	}
	return h.Sum64()
}

// WALStore is an actors.LogStore over the write-ahead log.
type WALStore struct {
	dir  string
	id   wal.Identity
	opts wal.Options

	mu     sync.Mutex
	w      *wal.WAL
	opened *wal.State // the state Open returned, until the first Load
}

// OpenLogStore opens (creating if new) the write-ahead log in dataDir for
// node id. It refuses a directory locked by another process or stamped for
// another cluster name or node, and a log that fails its checks.
func OpenLogStore(dataDir, cluster string, peers []uint64, id uint64, logger *slog.Logger) (*WALStore, error) {
	clusterID := ClusterID(cluster, peers)
	stamp, stamped, err := wal.ReadIdentity(dataDir)
	if err != nil {
		return nil, fmt.Errorf("open log in %s: %w", dataDir, err)
	}
	if stamped {
		// The directory's own id wins: it may be a restored cluster's.
		clusterID = stamp.ClusterID
	}
	s := &WALStore{dir: dataDir, id: wal.Identity{Cluster: cluster, ClusterID: clusterID, NodeID: id}, opts: wal.Options{Logger: logger}}
	w, st, err := wal.Open(dataDir, s.id, s.opts)
	if err != nil {
		return nil, fmt.Errorf("open log in %s: %w", dataDir, err)
	}
	s.w, s.opened = w, st
	return s, nil
}

// Load returns the durable state. The first call returns what Open
// replayed; a later call (a supervised restart of the node) reopens the log
// so the node restarts from what is on disk, not from memory.
func (s *WALStore) Load() (*actors.DurableState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.opened
	s.opened = nil
	if st == nil {
		if err := s.w.Close(); err != nil {
			return nil, fmt.Errorf("reopen log: close: %w", err)
		}
		w, reopened, err := wal.Open(s.dir, s.id, s.opts)
		if err != nil {
			return nil, fmt.Errorf("reopen log in %s: %w", s.dir, err)
		}
		s.w, st = w, reopened
	}
	return &actors.DurableState{HardState: st.HardState, Snapshot: st.Snapshot, Entries: st.Entries}, nil
}

func (s *WALStore) wal() *wal.WAL {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w
}

func (s *WALStore) Save(hs *pb.HardState, ents []*pb.Entry, sync bool) error {
	return s.noSpace(s.wal().Save(hs, ents, sync))
}

func (s *WALStore) SaveSnapshot(snap *pb.Snapshot) error {
	err := s.wal().SaveSnapshot(snap)
	if errors.Is(err, wal.ErrSnapOutOfDate) {
		return fmt.Errorf("%w: %w", actors.ErrSnapshotOutOfDate, err)
	}
	return s.noSpace(err)
}

// noSpace marks a full disk as actors.ErrNoSpace (the node holds its writes
// and retries) when the WAL rolled the write back and still takes writes.
// A failed fsync stays fatal even when its cause was ENOSPC: the kernel may
// have dropped pages the node already counted as durable.
func (s *WALStore) noSpace(err error) error {
	if s.wal().RolledBackNoSpace(err) {
		return fmt.Errorf("%w: %w", actors.ErrNoSpace, err)
	}
	return err
}

func (s *WALStore) Compact(index uint64) error { return s.wal().Compact(index) }

func (s *WALStore) Durable() bool { return !s.opts.NoSync }

// ClusterID is the id the data directory is stamped with.
func (s *WALStore) ClusterID() uint64 { return s.id.ClusterID }

// Stats of the underlying log (fsyncs per write for the benchmarks).
func (s *WALStore) Stats() wal.Stats { return s.wal().Stats() }

func (s *WALStore) Close() error { return s.wal().Close() }

var _ actors.LogStore = (*WALStore)(nil)
