// Open: lock the directory, check or write its identity stamp, replay the
// segments into the durable State, and reopen the last segment for writing
// after its last valid record.
package wal

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/kontiki-raft/kontiki/messages"
)

// Open locks dir (creating it if needed), checks or writes its identity
// stamp, replays the log and returns it with the durable state.
func Open(dir string, id Identity, opts Options) (*WAL, *State, error) {
	if err := id.validate(); err != nil {
		return nil, nil, err
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.FS == nil {
		opts.FS = OSFS{}
	}
	w := &WAL{dir: dir, id: id, opts: opts, fs: opts.FS,
		log: opts.Logger.With("wal", dir, "node", id.NodeID, "cluster", id.Cluster)}
	if err := w.fs.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	lk, err := w.fs.Lock(filepath.Join(dir, lockName))
	if err != nil {
		return nil, nil, err
	}
	w.lock = lk
	st, err := w.open()
	if err != nil {
		if w.cur != nil {
			w.cur.Close()
		}
		lk.Close()
		return nil, nil, err
	}
	return w, st, nil
}

func (w *WAL) open() (*State, error) {
	names, err := w.fs.ReadDir(w.dir)
	if err != nil {
		return nil, fmt.Errorf("wal: list %s: %w", w.dir, err)
	}
	var segs []uint64
	removed := false
	for _, name := range names {
		if seq, ok := parseSegmentName(name); ok {
			segs = append(segs, seq)
		} else if strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".part") {
			// Half-made files from a crash: never renamed, so never part of
			// the durable state.
			if err := w.fs.Remove(filepath.Join(w.dir, name)); err != nil {
				return nil, fmt.Errorf("wal: remove leftover %s: %w", name, err)
			}
			removed = true
		}
	}
	if removed && !w.opts.NoSync {
		if err := w.fs.SyncDir(w.dir); err != nil {
			return nil, fmt.Errorf("wal: fsync directory %s: %w", w.dir, err)
		}
	}
	if err := checkStamp(w.fs, w.dir, w.id, len(segs) > 0); err != nil {
		return nil, err
	}

	if len(segs) == 0 {
		// The first segment is zero-filled here, in the caller: a new
		// node pays it once (0.1-0.16 s for 64 MiB on the test machine).
		f, size, alloc, err := createSegment(w.fs, w.dir, 1, w.id, checkpoint{}, w.takeSpare(1), w.opts.NoSync)
		if err != nil {
			return nil, err
		}
		w.cur, w.size, w.alloc, w.segStart = f, size, alloc, size
		w.segs = []segmentInfo{{seq: 1, path: filepath.Join(w.dir, segmentName(1))}}
		return &State{HardState: &messages.HardState{}}, nil
	}

	r := newReplayer(w.id)
	// The last segment's file size, and where its non-zero bytes end.
	var lastSize, lastDataEnd int64
	for i, seq := range segs {
		path := filepath.Join(w.dir, segmentName(seq))
		data, err := w.fs.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("wal: read %s: %w", path, err)
		}
		last := i == len(segs)-1
		if err := r.segment(segmentImage{path: path, seq: seq, data: data}, last); err != nil {
			return nil, err
		}
		if last {
			lastSize, lastDataEnd = int64(len(data)), int64(dataEnd(data))
			if r.torn != "" {
				w.log.Warn("wal: cutting off torn tail of the last segment",
					"file", path, "offset", r.end, "dropped_bytes", lastDataEnd-r.end, "reason", r.torn)
			}
		}
	}
	if err := r.finish(); err != nil {
		return nil, err
	}

	st := &State{Entries: r.log.entries}
	hs := r.log.hs
	if r.log.snap.Index > 0 {
		if st.Snapshot, err = readSnapshotFile(w.fs, w.dir, r.log.snap); err != nil {
			return nil, err
		}
		// A snapshot is always of committed state; a crash between
		// SaveSnapshot and the Save of the Ready's hard state leaves the
		// recorded commit behind it. Only the returned view is raised: the
		// writer keeps what is on disk so checkpoints match replay.
		hs.Commit = max(hs.Commit, r.log.snap.Index)
	}
	st.HardState = &messages.HardState{Term: hs.Term, Vote: hs.Vote, Commit: hs.Commit}
	if gone := pruneSnapshots(w.fs, w.dir, names, r.log.snap); len(gone) > 0 {
		w.log.Info("wal: removed snapshot files", "files", gone)
	}

	// Reopen the last segment for writing after its last valid record.
	// Whatever follows that must read as zeros before a record goes there:
	// a torn tail is overwritten with zeros rather than truncated, so a
	// preallocated segment keeps its size, and a later, shorter record can
	// never be followed by the remains of a longer torn one.
	active := r.segs[len(r.segs)-1]
	f, err := w.fs.OpenFile(active.path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", active.path, err)
	}
	w.cur = f
	for off := r.end; off < lastDataEnd; {
		n := min(lastDataEnd-off, int64(len(zeroChunk)))
		if _, err := f.WriteAt(zeroChunk[:n], off); err != nil {
			return nil, fmt.Errorf("wal: zero the torn tail of %s at offset %d: %w", active.path, off, classify(err))
		}
		off += n
	}
	// After a process crash (not a power loss) records never fsynced are
	// still in the page cache and replay accepted them: make them durable
	// before any new record vouches for them.
	if !w.opts.NoSync {
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("wal: fsync %s: %w: %w", active.path, ErrSyncFailed, err)
		}
	}
	w.size, w.syncedOff, w.alloc = r.end, r.end, lastSize
	w.segStart = r.end // do not roll a segment we have not written to yet
	w.segs = r.segs
	w.state = r.log
	w.state.keep, w.state.entries = false, nil
	w.prepareAhead()
	return st, nil
}
