// SaveSnapshot and Compact: how the log shrinks. A snapshot is made durable
// in its own file, then recorded in the log; Compact deletes whole segments
// whose entries the recorded snapshot covers. Every segment's checkpoint
// repeats the hard state and snapshot, so deleting older segments never
// loses either.
package wal

import (
	"errors"
	"fmt"

	"github.com/kontiki-raft/kontiki/messages"
)

// SaveSnapshot writes snap's file (name.part, fsync, rename, dir fsync),
// then records it in the log and fsyncs. Entries after the snapshot stay
// when the log holds the snapshot's entry with its term (a local snapshot);
// otherwise (a snapshot installed from the leader) the log restarts after
// it. The two newest snapshot files are kept.
func (w *WAL) SaveSnapshot(snap *messages.Snapshot) error {
	md := snap.GetMetadata()
	if md == nil || md.Index == 0 {
		return errors.New("wal: snapshot without metadata or index")
	}
	s := logPos{Index: md.Index, Term: md.Term}
	w.snapMu.Lock()
	defer w.snapMu.Unlock()

	w.mu.Lock()
	err := w.writable()
	cur := w.state.snap
	w.mu.Unlock()
	if err != nil {
		return err
	}
	if s.Index <= cur.Index {
		return fmt.Errorf("%w: %d (recorded: %d)", ErrSnapOutOfDate, s.Index, cur.Index)
	}
	path, err := writeSnapshotFile(w.fs, w.dir, snap, w.opts.NoSync)
	if err != nil {
		if errors.Is(err, ErrSyncFailed) {
			w.mu.Lock()
			err = w.fail(err)
			w.mu.Unlock()
		}
		return err
	}

	w.mu.Lock()
	err = w.writable()
	if err == nil {
		kept := w.state.keepsAfter(s)
		b := beginRecord(w.buf[:0])
		b = appendSnapshotMarker(b, s, kept)
		w.keepBuf(b)
		if err = w.writeRecord(b, recordSnapshot); err == nil {
			w.state.applySnapshot(s, kept)
		}
	}
	w.mu.Unlock()
	if err != nil {
		// Not recorded: the file is unknown to the log. Remove it now (Open
		// would otherwise).
		w.fs.Remove(path)
		return err
	}
	if err := w.Sync(); err != nil {
		return err
	}
	if names, err := w.fs.ReadDir(w.dir); err == nil {
		pruneSnapshots(w.fs, w.dir, names, s)
	}
	return nil
}

// Compact deletes the segments holding only entries up to index. index must
// not exceed the recorded snapshot's. The active segment is never deleted,
// so entries up to index may remain on disk until later segments roll; Open
// still returns only the entries after the snapshot.
func (w *WAL) Compact(index uint64) error {
	w.snapMu.Lock()
	defer w.snapMu.Unlock()
	w.mu.Lock()
	if err := w.writable(); err != nil {
		w.mu.Unlock()
		return err
	}
	if index > w.state.snap.Index {
		w.mu.Unlock()
		return fmt.Errorf("%w: %d > %d", ErrCompactBeyondSnapshot, index, w.state.snap.Index)
	}
	// Segment k holds no entry the log needs beyond segs[k+1].prev.Index.
	n := 0
	for n+1 < len(w.segs) && w.segs[n+1].prev.Index <= index {
		n++
	}
	doomed := append([]segmentInfo(nil), w.segs[:n]...)
	w.mu.Unlock()
	if n == 0 {
		return nil
	}
	// Oldest first: a crash part-way leaves a suffix of segments, which
	// replays (the first survivor's checkpoint starts the log).
	var err error
	done := 0
	for _, s := range doomed {
		if err = w.fs.Remove(s.path); err != nil {
			err = fmt.Errorf("wal: compact: remove %s: %w", s.path, err)
			break
		}
		done++
	}
	if done > 0 && !w.opts.NoSync {
		if serr := w.fs.SyncDir(w.dir); err == nil && serr != nil {
			err = fmt.Errorf("wal: compact: fsync directory %s: %w", w.dir, serr)
		}
	}
	w.mu.Lock()
	w.segs = w.segs[done:]
	w.mu.Unlock()
	return err
}
