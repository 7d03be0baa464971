// The storage behind a simulated node's Store: the in-memory store of
// package actors, or the real write-ahead log (raft/wal) on the node's
// simulated disk (memfs.go). The WAL backend is the adapter of
// cluster.WALStore (copied: importing cluster would pull NATS into the
// simulation): a supervised restart's Load reopens the log from the disk, a
// crash applies the seed's crash model to the disk and reopens it, and a
// log that fails its checks keeps the node down for good.
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/kontiki-raft/kontiki/actors"
	pb "github.com/kontiki-raft/kontiki/messages"
	"github.com/kontiki-raft/kontiki/raft/wal"
)

// backend is what Store keeps the log in.
type backend interface {
	actors.LogStore
	// view is the stored state as a restart of the process now would load
	// it, without changing anything (for the checker's mirror).
	view() (*actors.DurableState, error)
	// crash loses what the disk would and returns what a restart loads.
	// An error means the node must never start again.
	crash() (*actors.DurableState, error)
}

type memBackend struct{ *actors.MemoryLogStore }

func (m memBackend) view() (*actors.DurableState, error) { return m.Load() }

func (m memBackend) crash() (*actors.DurableState, error) {
	m.Crash()
	return m.Load()
}

// walBackend: the real WAL on a simulated disk.
type walBackend struct {
	s    *Sim
	node uint64
	fs   *memFS
	dir  string
	id   wal.Identity
	opts wal.Options

	w      *wal.WAL
	opened *wal.State // what the last Open returned, until the node's Load
	// flip: the next crash also flips a bit of the durable log.
	flip bool
}

func newWALBackend(s *Sim, node uint64, segmentBytes int64, noPrealloc, brokenSync bool) *walBackend {
	b := &walBackend{s: s, node: node, fs: newMemFS(), dir: fmt.Sprintf("/data/n%d", node),
		id: wal.Identity{Cluster: "sim", ClusterID: 1, NodeID: node}}
	b.fs.brokenSync = brokenSync
	// PreallocateInline: the WAL zero-fills new segments when it rolls,
	// not in a goroutine of its own: memFS is not safe for concurrent use,
	// and a seed must replay exactly.
	b.opts = wal.Options{FS: b.fs, SegmentBytes: segmentBytes, NoPreallocate: noPrealloc, PreallocateInline: true,
		Logger: slog.New(walLog{s: s, node: node})}
	return b
}

// open opens the log (the first time: creates it).
func (b *walBackend) open() error {
	w, st, err := wal.Open(b.dir, b.id, b.opts)
	if err != nil {
		return err
	}
	b.w, b.opened = w, st
	return nil
}

func durableOf(st *wal.State) *actors.DurableState {
	return &actors.DurableState{HardState: st.HardState, Snapshot: st.Snapshot, Entries: st.Entries}
}

// Load returns what the last Open replayed; a later call (a supervised
// restart of the node) closes the log and reopens it from the disk, as
// cluster.WALStore does.
func (b *walBackend) Load() (*actors.DurableState, error) {
	if b.w == nil {
		if err := b.open(); err != nil {
			return nil, err
		}
	}
	st := b.opened
	b.opened = nil
	if st == nil {
		if err := b.w.Close(); err != nil {
			return nil, fmt.Errorf("reopen log: close: %w", err)
		}
		b.w = nil
		if err := b.open(); err != nil {
			return nil, fmt.Errorf("reopen log in %s: %w", b.dir, err)
		}
		st, b.opened = b.opened, nil
	}
	return durableOf(st), nil
}

func (b *walBackend) Save(hs *pb.HardState, ents []*pb.Entry, sync bool) error {
	return b.noSpace(b.w.Save(hs, ents, sync))
}

func (b *walBackend) SaveSnapshot(snap *pb.Snapshot) error {
	err := b.w.SaveSnapshot(snap)
	if errors.Is(err, wal.ErrSnapOutOfDate) {
		return fmt.Errorf("%w: %w", actors.ErrSnapshotOutOfDate, err)
	}
	return b.noSpace(err)
}

// noSpace maps a rolled-back full-disk write as cluster.WALStore does.
func (b *walBackend) noSpace(err error) error {
	if b.w.RolledBackNoSpace(err) {
		return fmt.Errorf("%w: %w", actors.ErrNoSpace, err)
	}
	return err
}

func (b *walBackend) Compact(index uint64) error { return b.w.Compact(index) }

func (b *walBackend) Durable() bool { return true }

// view opens the log on a copy of the disk as the running process sees it
// (a process crash now, the page cache intact).
func (b *walBackend) view() (*actors.DurableState, error) {
	c := b.fs.clone()
	opts := b.opts
	opts.FS = c
	opts.Logger = slog.New(walLog{})
	w, st, err := wal.Open(b.dir, b.id, opts)
	if err != nil {
		return nil, err
	}
	w.Close()
	return durableOf(st), nil
}

// crash: the process dies (its open log is abandoned, not closed), the disk
// loses what the seed's crash model says, maybe a bit flips, and the log is
// reopened as a restart would.
func (b *walBackend) crash() (*actors.DurableState, error) {
	s := b.s
	r := s.diskRng
	mode := crashMode(r.IntN(int(crashModes)))
	synced := b.fs.syncedLens()
	b.fs.powerLoss(mode, r)
	s.stats.DiskCrashes[mode]++
	s.trace.event(s, "disk of node %d: %s unsynced writes", b.node, mode)
	b.w, b.opened = nil, nil
	flipped := ""
	if b.flip {
		b.flip = false
		if flipped = b.fs.flipBit(r, synced); flipped != "" {
			s.stats.BitFlips++
			s.trace.event(s, "disk of node %d: bit flip in %s", b.node, flipped)
		}
	}
	if err := b.open(); err != nil {
		return nil, err
	}
	if flipped != "" {
		s.failf("node %d: its log opened with a flipped bit (%s): a media fault went unnoticed", b.node, flipped)
	}
	return durableOf(b.opened), nil
}

// clone copies the disk's current namespace and contents (not its durable
// layer: a clone is only read as it is).
func (m *memFS) clone() *memFS {
	c := newMemFS()
	maps.Copy(c.dirs, m.dirs)
	for name, ino := range m.names {
		c.names[name] = &inode{data: slices.Clone(ino.data)}
	}
	return c
}

// syncedLens is how many bytes of each durably named file the last fsync
// made durable, up to its last non-zero byte: the zero-filled tail of a
// preallocated segment holds no record, so a bit flipped there damages
// nothing a restart must notice (Open zeroes it again, as it does the
// remains of a torn record).
func (m *memFS) syncedLens() map[string]int {
	out := map[string]int{}
	for name, ino := range m.durableNames {
		n := len(ino.durable)
		for n > 0 && ino.durable[n-1] == 0 {
			n--
		}
		out[name] = n
	}
	return out
}

// walLog counts what the WAL logs (torn tails it cut off) and drops the rest.
type walLog struct {
	s    *Sim
	node uint64
}

func (l walLog) Enabled(context.Context, slog.Level) bool { return l.s != nil }
func (l walLog) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "torn tail") {
		l.s.stats.TornTails++
		l.s.trace.event(l.s, "node %d: wal cut a torn tail", l.node)
	}
	return nil
}
func (l walLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l walLog) WithGroup(string) slog.Handler      { return l }
