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
	"fmt"

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

// flushWrites: every write queued before it has been written; fsync once.
type flushWrites struct{}

type logWriter struct {
	store     LogStore
	transport Transport
	pending   []*logWrite
	failed    bool
}

func (w *logWriter) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *logWrite:
		if w.failed {
			return
		}
		w.pending = append(w.pending, m)
		if len(w.pending) == 1 {
			ctx.Send(ctx.Self(), flushWrites{})
		}
	case flushWrites:
		if w.failed || len(w.pending) == 0 {
			return
		}
		if err := w.flush(); err != nil {
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
		w.pending = nil
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
	save := func(syncNow bool) error {
		if hs == nil && len(ents) == 0 && !syncNow {
			return nil
		}
		err := w.store.Save(hs, ents, syncNow)
		hs, ents = nil, nil
		if err != nil {
			return fmt.Errorf("persist: %w", err)
		}
		return nil
	}
	for _, m := range w.pending {
		contiguous := len(ents) == 0 || len(m.entries) == 0 || m.entries[0].Index == ents[len(ents)-1].Index+1
		if m.snapshot != nil || !contiguous {
			if err := save(false); err != nil {
				return err
			}
		}
		if m.snapshot != nil {
			if err := w.store.SaveSnapshot(m.snapshot); err != nil {
				return fmt.Errorf("persist snapshot %d: %w", m.snapshot.Metadata.Index, err)
			}
		}
		if m.hardState != nil {
			hs = m.hardState
		}
		ents = append(ents, m.entries...)
	}
	return save(sync)
}
