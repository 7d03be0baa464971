// The log writer makes each Ready's hard state, entries and installed
// snapshot durable off the node's mailbox, so a node in the middle of an
// fsync still takes acks, commits and hands committed entries to the
// applier. Writes land in the order the node sent them; whatever queued up
// during one fsync shares the next (group commit). What depended on a write
// (acks, votes) leaves from here the moment it is durable, in one batch per
// peer, before the node even hears of it: raft's safety rests on persisting
// before sending, never on the order of messages.
package actors

import (
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pb "github.com/kontiki-raft/kontiki/messages"
)

// logWrite is one Ready's durable work and the messages waiting for it.
type logWrite struct {
	hardState *pb.HardState
	entries   []*pb.Entry
	snapshot  *pb.Snapshot
	// sync: the term, vote or entries changed, so the write is fsynced
	// before it is reported (a commit-index-only write need not be).
	sync bool
	// late are sent once this write, and every write before it, is durable.
	late []*pb.Message
	// snapshotSaved: the log writer saved snapshot (used only by the writer).
	snapshotSaved bool
}

func (w *logWrite) persists() bool {
	return w.hardState != nil || len(w.entries) > 0 || w.snapshot != nil
}

// logWritten reports writes durable, in the order they were sent; err: the
// first that failed (the node stops).
type logWritten struct {
	writes []*logWrite
	err    error
}

// diskFull tells the node that writes are paused for lack of space (err
// says why); the next logWritten says they resumed.
type diskFull struct{ err error }

// flushWrites: every write queued before it has been written; fsync once.
type flushWrites struct{}

// retryWrites: the pause after a full disk is over; try the writes again.
type retryWrites struct{}

// diskFullRetry is how often writes are retried while the disk is full.
const diskFullRetry = time.Second

type logWriter struct {
	store     LogStore
	transport Transport
	timers    Timers
	pending   []*logWrite
	failed    bool
	// saved: pending[:saved] were written (not yet synced) by a flush that
	// then ran out of space; the retry goes on after them, so nothing is
	// written twice and nothing is reported before its fsync.
	saved int
	// full: writes wait for space; a retryWrites is scheduled, and new
	// writes queue without a flush of their own.
	full bool
	// toldFull: the node heard diskFull; the next logWritten ends it.
	toldFull bool
	// cancelRetry cancels the pending retryWrites, if any.
	cancelRetry func()
}

func (w *logWriter) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Stopping:
		if w.cancelRetry != nil {
			w.cancelRetry()
		}
	case *logWrite:
		if w.failed {
			return
		}
		w.pending = append(w.pending, m)
		if len(w.pending) == 1 && !w.full {
			ctx.Send(ctx.Self(), flushWrites{})
		}
	case flushWrites, retryWrites:
		if _, retry := m.(retryWrites); retry {
			w.full = false
		}
		if w.failed || w.full || len(w.pending) == 0 {
			return
		}
		if err := w.flush(); err != nil {
			if errors.Is(err, ErrNoSpace) {
				// Nothing durable was harmed and nothing was acknowledged:
				// hold the writes (and the acks behind them) until space
				// is freed, instead of stopping the node.
				if !w.toldFull {
					ctx.Send(ctx.Parent(), &diskFull{err: err})
					w.toldFull = true
				}
				w.full = true
				w.cancelRetry = w.timers.SendOnce(diskFullRetry, ctx.Self(), retryWrites{})
				return
			}
			w.failed = true
			w.pending = nil
			ctx.Send(ctx.Parent(), &logWritten{err: err})
			return
		}
		var late []*pb.Message
		for _, m := range w.pending {
			late = append(late, m.late...)
		}
		w.transport.Send(ctx, late)
		ctx.Send(ctx.Parent(), &logWritten{writes: w.pending})
		w.pending, w.toldFull = nil, false
	}
}

// flush writes the pending writes in order, as few Saves as possible: runs
// of contiguous entries go in one record with the latest hard state (one
// write syscall), a conflict truncation or a snapshot starts a new one. The
// last Save carries the fsync that covers them all, when any needs one.
func (w *logWriter) flush() error {
	sync := false
	for _, m := range w.pending {
		sync = sync || m.sync
	}
	var hs *pb.HardState
	var ents []*pb.Entry
	// through: pending[:through] are in what save writes next.
	through := w.saved
	save := func(syncNow bool) error {
		if hs == nil && len(ents) == 0 && !syncNow {
			w.saved = through
			return nil
		}
		err := w.store.Save(hs, ents, syncNow)
		hs, ents = nil, nil
		if err != nil {
			return fmt.Errorf("persist: %w", err)
		}
		w.saved = through
		return nil
	}
	start := w.saved
	for i, m := range w.pending[start:] {
		contiguous := len(ents) == 0 || len(m.entries) == 0 || m.entries[0].Index == ents[len(ents)-1].Index+1
		if m.snapshot != nil || !contiguous {
			if err := save(false); err != nil {
				return err
			}
		}
		if m.snapshot != nil && !m.snapshotSaved {
			if err := w.store.SaveSnapshot(m.snapshot); err != nil {
				return fmt.Errorf("persist snapshot %d: %w", m.snapshot.Metadata.Index, err)
			}
			m.snapshotSaved = true // a retry after a full disk must not save it again
		}
		if m.hardState != nil {
			hs = m.hardState
		}
		ents = append(ents, m.entries...)
		through = start + i + 1
	}
	if err := save(sync); err != nil {
		return err
	}
	w.saved = 0 // the caller reports and clears pending
	return nil
}
