// Package wal is Kontiki's write-ahead log: the durable hard state, log
// entries and snapshots of one raft node.
//
// The log is a series of segment files of CRC-checked records (segment.go,
// record.go). Each Save is one record, written after the last one (into the
// zero-filled space of a preallocated segment) and, when asked, fdatasynced
// before Save returns; concurrent callers of Sync share fsyncs (group
// commit). Open locks the directory (lock.go), checks its identity stamp
// (stamp.go) and replays the segments (replay.go), cutting off a write torn
// by a crash and refusing to start on anything else that fails its checks.
// Snapshots live in their own files (snapshot.go); Compact deletes segments
// a snapshot covers (compact.go). An fsync error is fatal: the WAL refuses
// every later write, because after a failed fsync the kernel may have
// dropped the dirty pages and retrying could acknowledge lost data.
//
// The package knows nothing of the raft core: the node actor writes each
// Ready through Save and loads the State returned by Open into the core's
// memory storage.
package wal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/kontiki-raft/kontiki/messages"
)

// DefaultSegmentBytes is the segment size used when Options.SegmentBytes is 0.
const DefaultSegmentBytes = 64 << 20

const lockName = "LOCK"

// Options configures Open. The zero value is the production setting.
type Options struct {
	// SegmentBytes: the WAL rolls to a new segment before a write that would
	// take the current one past this size (default 64 MiB). A single larger
	// record still goes into one segment.
	SegmentBytes int64
	// NoSync skips every fsync. For tests and benchmarks only: a crash loses
	// acknowledged writes. Never the default.
	NoSync bool
	// Logger receives torn-tail truncations and fatal errors (default
	// slog.Default()).
	Logger *slog.Logger
	// FS is the file system (default OSFS). Tests inject faults through it;
	// a simulation can model a disk that loses un-fsynced writes.
	FS FS
	// NoPreallocate: a new segment is only its header and checkpoint and
	// grows as records are appended, so every fdatasync also commits the new
	// file size. By default a segment is created at SegmentBytes, zero-filled
	// and fsynced, and records overwrite its zeros (see segment.go).
	NoPreallocate bool
	// PreallocateInline: the next segment is zero-filled by the writer when
	// it rolls, instead of by a background goroutine while the current one
	// fills. Every roll then waits for the zero-fill (0.1-0.16 s for 64 MiB
	// on the test machine), but the WAL starts no goroutine and calls FS
	// from the caller's goroutine only: for a deterministic simulation on an
	// FS that is not safe for concurrent use.
	PreallocateInline bool
}

// State is what Open found durable.
type State struct {
	HardState *messages.HardState // never nil; zero in a new directory
	// Snapshot is the latest recorded snapshot (metadata and data), or nil.
	Snapshot *messages.Snapshot
	// Entries are the entries after the snapshot's index, contiguous.
	Entries []*messages.Entry
}

// Stats counts the WAL's work since Open.
type Stats struct {
	Writes   uint64 // records appended
	Bytes    uint64 // bytes appended
	Syncs    uint64 // fdatasyncs of the active segment (group commit makes this < Writes)
	Segments int    // live segment files
}

// WAL is an open write-ahead log. Its methods are safe for concurrent use;
// Save calls are applied in the order they take the internal lock.
type WAL struct {
	dir  string
	id   Identity
	opts Options
	fs   FS
	log  *slog.Logger
	lock io.Closer

	// snapMu serializes SaveSnapshot and Compact (slow file work done
	// without holding mu).
	snapMu sync.Mutex
	// smu serializes fsyncs of the active segment. Lock order: smu, then mu.
	smu sync.Mutex
	// mu guards everything below.
	mu     sync.Mutex
	err    error // sticky: once set, every write returns it
	closed bool
	state  logState      // the log as written so far (no entries held)
	segs   []segmentInfo // live segments, oldest first; the last is active
	cur    File          // the active segment
	size   int64         // logical end of cur (end of its last record); the next record goes here
	// alloc is cur's file size as the writer knows it: bytes from size to
	// alloc are zeros already on disk (a preallocated segment's tail).
	// Invariant: size <= alloc.
	alloc int64
	// segStart is where cur's first record after its checkpoint goes: a
	// segment is only rolled once it holds more than its checkpoint.
	segStart int64
	// syncedOff is the offset in cur up to which it is known fsynced; every
	// record carries it (see record.go). Invariant: syncedOff <= size.
	syncedOff int64
	// retired are rolled segments, fsynced by the roll, closed by the next
	// Sync (which holds smu, so no fsync is using them).
	retired []File
	// written counts records appended; synced is the count known durable.
	// Invariant: synced <= written.
	written, synced uint64
	// next is the background preparation of the spare for the next
	// segment, started once cur is half full (nil: none started).
	next  *preparation
	stats Stats
	buf   []byte
}

// preparation is a spare segment being zero-filled by a goroutine.
type preparation struct {
	seq  uint64 // the segment it is for (its tmp name)
	stop atomic.Bool
	done chan struct{} // closed when sp and err are set
	sp   spare
	err  error
}

// Save appends hs (nil or unchanged: not recorded) and ents as one record.
// Entries whose first index is at or below the last saved index replace the
// log from there (a conflict rewrite); the truncation is part of the same
// atomic record, so it is durable exactly when the new entries are. With
// sync, Save returns once the record is fdatasynced.
func (w *WAL) Save(hs *messages.HardState, ents []*messages.Entry, sync bool) error {
	if err := w.append(hs, ents); err != nil {
		return err
	}
	if sync {
		return w.Sync()
	}
	return nil
}

func (w *WAL) append(hs *messages.HardState, ents []*messages.Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.writable(); err != nil {
		return err
	}
	var nhs *hardState
	if hs != nil {
		v := hardState{Term: hs.Term, Vote: hs.Vote, Commit: hs.Commit}
		if v != w.state.hs {
			nhs = &v
		}
	}
	if len(ents) == 0 {
		if nhs == nil {
			return nil
		}
		return w.writeBatch(nhs, nil)
	}
	if err := w.state.checkAppend(ents); err != nil {
		return err
	}
	for _, e := range ents {
		if len(e.Data) > maxEntryData {
			return fmt.Errorf("%w: entry %d has %d bytes, the limit is %d", ErrTooLarge, e.Index, len(e.Data), maxEntryData)
		}
	}
	// Normally one record. A batch beyond maxRecordPayload is split, and
	// every part but the last is made durable before the next is written,
	// so a crash can still only tear the last record. The hard state goes
	// with the last part: entries durable without it are harmless.
	for len(ents) > 0 {
		n, size := 0, 0
		for n < len(ents) && (n == 0 || size+batchEntrySize(ents[n]) <= maxRecordPayload-64) {
			size += batchEntrySize(ents[n])
			n++
		}
		part := nhs
		if n < len(ents) {
			part = nil
		}
		if err := w.writeBatch(part, ents[:n]); err != nil {
			return err
		}
		if n < len(ents) {
			if err := w.syncLocked(); err != nil {
				return err
			}
		}
		ents = ents[n:]
	}
	return nil
}

// writeBatch appends one batch record and applies it to w.state.
func (w *WAL) writeBatch(hs *hardState, ents []*messages.Entry) error {
	b := beginRecord(w.buf[:0])
	b = appendBatch(b, hs, ents)
	w.keepBuf(b)
	if err := w.writeRecord(b, recordBatch); err != nil {
		return err
	}
	if len(ents) > 0 {
		w.state.append(ents)
	}
	if hs != nil {
		w.state.hs = *hs
	}
	return nil
}

// keepBuf keeps the encode buffer for reuse unless a huge batch grew it.
func (w *WAL) keepBuf(b []byte) {
	if cap(b) <= 4<<20 {
		w.buf = b[:0]
	} else {
		w.buf = nil
	}
}

// writeRecord frames rec (a reserved header and its payload) as type t and
// writes it at the logical end of the active segment, rolling first when it
// would take the segment past SegmentBytes. A failed write is rolled back by
// truncating the file to the logical end, so the file never holds a partial
// record we know about and a full disk leaves the WAL usable; a preallocated
// segment loses its zero tail that way, and the rest of it is appended.
func (w *WAL) writeRecord(rec []byte, t recordType) error {
	if w.size+int64(len(rec)) > w.opts.SegmentBytes && w.size > w.segStart {
		if err := w.roll(); err != nil {
			return err
		}
	}
	finishRecord(rec, 0, t, uint64(w.syncedOff))
	if _, err := w.cur.WriteAt(rec, w.size); err != nil {
		path := w.segs[len(w.segs)-1].path
		werr := fmt.Errorf("wal: write %s at offset %d: %w", path, w.size, classify(err))
		if terr := w.cur.Truncate(w.size); terr != nil {
			return w.fail(fmt.Errorf("%w; rolling it back failed too: %w", werr, terr))
		}
		w.alloc = w.size
		if !errors.Is(werr, ErrNoSpace) {
			// An I/O error on write means the device is failing: stop as
			// for a failed fsync.
			return w.fail(werr)
		}
		return werr
	}
	w.size += int64(len(rec))
	w.alloc = max(w.alloc, w.size)
	w.written++
	w.stats.Writes++
	w.stats.Bytes += uint64(len(rec))
	w.prepareAhead()
	return nil
}

// roll fsyncs the active segment and starts the next one with a checkpoint.
func (w *WAL) roll() error {
	if err := w.syncLocked(); err != nil {
		return err
	}
	seq := w.segs[len(w.segs)-1].seq + 1
	prev := w.state.lastPos()
	cp := checkpoint{hs: w.state.hs, snap: w.state.snap, prev: prev}
	f, size, alloc, err := createSegment(w.fs, w.dir, seq, w.id, cp, w.takeSpare(seq), w.opts.NoSync)
	if err != nil {
		if errors.Is(err, ErrNoSpace) {
			return err // the old segment stays active; nothing was harmed
		}
		return w.fail(err)
	}
	w.retired = append(w.retired, w.cur)
	w.cur, w.size, w.alloc, w.segStart, w.syncedOff = f, size, alloc, size, size
	w.segs = append(w.segs, segmentInfo{seq: seq, path: filepath.Join(w.dir, segmentName(seq)), prev: prev})
	w.written++ // the checkpoint is a record too; the roll made it durable
	w.synced = w.written
	w.prepareAhead()
	return nil
}

// prepareAhead starts zero-filling the spare for the next segment in the
// background once the active one is half full, so that the roll finds it
// ready. mu is held.
func (w *WAL) prepareAhead() {
	if w.opts.NoPreallocate || w.opts.PreallocateInline || w.next != nil || w.size < w.opts.SegmentBytes/2 {
		return
	}
	p := &preparation{seq: w.segs[len(w.segs)-1].seq + 1, done: make(chan struct{})}
	fsys, tmp, size, noSync := w.fs, filepath.Join(w.dir, segmentName(p.seq))+".tmp", w.opts.SegmentBytes, w.opts.NoSync
	w.next = p
	go func() {
		p.sp, p.err = prepareSegment(fsys, tmp, size, noSync, &p.stop)
		close(p.done)
	}()
}

// takeSpare returns the zero-filled spare for segment seq: the background
// one (waiting for it if it is not done yet), or one made now. Without one
// (NoPreallocate, or the zero-fill failed, say for lack of space for a
// whole segment) the new segment grows as records are appended. mu is held.
func (w *WAL) takeSpare(seq uint64) spare {
	if w.opts.NoPreallocate {
		return spare{}
	}
	p := w.next
	w.next = nil
	var sp spare
	var err error
	if p != nil && p.seq == seq {
		<-p.done
		sp, err = p.sp, p.err
	} else {
		w.cancelSpare(p)
		sp, err = prepareSegment(w.fs, filepath.Join(w.dir, segmentName(seq))+".tmp", w.opts.SegmentBytes, w.opts.NoSync, nil)
	}
	if err != nil {
		w.log.Warn("wal: could not preallocate the next segment; it will grow as records are appended", "err", err)
		return spare{}
	}
	return sp
}

// cancelSpare stops a background preparation (if any), waits for it and
// removes its file.
func (w *WAL) cancelSpare(p *preparation) {
	if p == nil {
		return
	}
	p.stop.Store(true)
	<-p.done
	if p.sp.f != nil {
		p.sp.f.Close()
		w.fs.Remove(filepath.Join(w.dir, segmentName(p.seq)) + ".tmp")
	}
}

// Sync makes every record appended so far durable. Concurrent callers share
// fsyncs: a caller whose records an fsync already in flight covers waits for
// it and returns without one of its own, so N waiters cost at most two
// fsyncs. Together with Save(..., false) this is group commit.
func (w *WAL) Sync() error {
	w.mu.Lock()
	want := w.written
	err := w.writable()
	w.mu.Unlock()
	if err != nil {
		return err
	}
	w.smu.Lock()
	defer w.smu.Unlock()

	w.mu.Lock()
	if err := w.writable(); err != nil {
		w.mu.Unlock()
		return err
	}
	if w.synced >= want {
		w.mu.Unlock()
		return nil
	}
	f, seg, target, size, retired := w.cur, w.segs[len(w.segs)-1], w.written, w.size, w.retired
	w.retired = nil
	w.mu.Unlock()

	for _, r := range retired {
		r.Close()
	}
	// The fsync runs without mu: writers keep appending meanwhile, and the
	// next Sync covers them.
	if !w.opts.NoSync {
		err = f.Sync()
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		return w.fail(fmt.Errorf("%w: %s: %w", ErrSyncFailed, seg.path, err))
	}
	if !w.opts.NoSync {
		w.stats.Syncs++
	}
	w.synced = max(w.synced, target)
	if w.segs[len(w.segs)-1].seq == seg.seq {
		w.syncedOff = max(w.syncedOff, size)
	}
	return nil
}

// syncLocked fsyncs the active segment with mu held (roll, split batches).
func (w *WAL) syncLocked() error {
	if w.synced == w.written {
		return nil
	}
	if !w.opts.NoSync {
		if err := w.cur.Sync(); err != nil {
			return w.fail(fmt.Errorf("%w: %s: %w", ErrSyncFailed, w.segs[len(w.segs)-1].path, err))
		}
		w.stats.Syncs++
	}
	w.synced, w.syncedOff = w.written, w.size
	return nil
}

// fail makes err sticky: every later write returns it. mu is held.
func (w *WAL) fail(err error) error {
	if w.err == nil {
		w.err = err
		w.log.Error("wal: refusing further writes", "err", err)
	}
	return w.err
}

// Failed returns the error that made the WAL refuse every later write (a
// failed fsync, an I/O error, a rollback that failed), or nil. A full disk
// alone does not fail it: those writes are rolled back and may be retried.
func (w *WAL) Failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// RolledBackNoSpace reports whether err, returned by one of w's writes, is a
// full disk (ENOSPC, EDQUOT) that w rolled back: w still takes writes and the
// same write may succeed once space is freed. A failed fsync never is, even
// when its cause was ENOSPC.
func (w *WAL) RolledBackNoSpace(err error) bool {
	return errors.Is(err, ErrNoSpace) && !errors.Is(err, ErrSyncFailed) && w.Failed() == nil
}

func (w *WAL) writable() error {
	if w.closed {
		return ErrClosed
	}
	return w.err
}

// Stats returns counters of the WAL's work.
func (w *WAL) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Segments = len(w.segs)
	return s
}

// Close syncs what was appended (unless the WAL already failed), closes the
// files and releases the directory lock.
func (w *WAL) Close() error {
	w.smu.Lock()
	defer w.smu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	var err error
	if w.err == nil {
		err = w.syncLocked()
	}
	w.closed = true
	w.cancelSpare(w.next)
	w.next = nil
	for _, f := range append(w.retired, w.cur) {
		if cerr := f.Close(); err == nil && !errors.Is(cerr, fs.ErrClosed) {
			err = cerr
		}
	}
	w.retired, w.cur = nil, nil
	if lerr := w.lock.Close(); err == nil {
		err = lerr
	}
	return err
}
