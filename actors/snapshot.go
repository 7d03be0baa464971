// Snapshots of the node's own state machine, in steps so that applying never
// waits for an image to be encoded and the node never waits for a disk:
//
//  1. once enough is applied, the node asks the applier (takeSnapshot);
//  2. the applier captures the state at its applied index and reports the
//     capture (snapshotCaptured); the node adds that index's term and sends
//     it on (saveSnapshot);
//  3. the persister encodes the image, writes and fsyncs the file, and
//     reports it durable with its data (snapshotSaved). Only then does the
//     node record it in its in-memory storage (which a leader sends to
//     followers that fell behind) and compact the log.
//
// One snapshot is in flight at a time (node.snapshotting).
package actors

import (
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	pb "github.com/kontiki-raft/kontiki/messages"
	"github.com/kontiki-raft/kontiki/raft"
)

// snapshotJob is one snapshot on its way. The node ignores the reports of
// any job but its current one: after a supervised restart, the children of
// the previous incarnation may still report to the same PID. Jobs are told
// apart by address, so the type must not be zero-size (pointers to distinct
// zero-size values may be equal). handed and handedBytes are the counts the
// job reset, given back if it fails for lack of space.
type snapshotJob struct {
	handed      uint64
	handedBytes uint64
}

type takeSnapshot struct{ job *snapshotJob }

// snapshotCaptured: the state at index, to be encoded by encode (which may
// run on any goroutine while the applier goes on).
type snapshotCaptured struct {
	job       *snapshotJob
	index     uint64
	confState *pb.ConfState
	encode    func() ([]byte, error)
	err       error
}

// capture captures the state at the applied index for the node. A
// SnapshotCapturer's image is encoded later, by the persister; a plain
// StateMachine's Snapshot encodes it here, as it always did.
func (a *applier) capture(m *takeSnapshot) *snapshotCaptured {
	c := &snapshotCaptured{job: m.job, index: a.applied.Load(), confState: a.confState}
	if sc, ok := a.sm.(SnapshotCapturer); ok {
		c.encode, c.err = sc.CaptureSnapshot()
		return c
	}
	data, err := a.sm.Snapshot()
	c.encode, c.err = func() ([]byte, error) { return data, nil }, err
	return c
}

// maybeSnapshot starts a snapshot when one is due and none is in flight. It
// runs as entries are handed to the applier and as a snapshot ends (entries
// handed meanwhile may already have made the next one due).
func (n *node) maybeSnapshot(ctx actor.Context) {
	if n.snapshotting != nil || n.stopped || n.ticks < n.snapshotNotBefore {
		return
	}
	due := n.handedSinceSnapshot >= n.cfg.SnapshotEntries || n.handedBytesSinceSnapshot >= n.cfg.SnapshotBytes
	if n.cfg.snapshotsScaled && n.handedBytesSinceSnapshot < scaledSnapshotBytes(n.lastSnapshotBytes, n.cfg.SnapshotBytes, n.snapshotStretch) {
		due = false
	}
	if due {
		n.takeSnapshot(ctx)
	}
}

// scaledSnapshotBytes: with the scaled policy, a snapshot waits until the
// entry bytes handed since the last one reach the image's size, stretched
// by stretch percent (capped by SnapshotBytes).
func scaledSnapshotBytes(image, capBytes uint64, stretch int) uint64 {
	return min(image+image*uint64(stretch)/100, capBytes)
}

func (n *node) takeSnapshot(ctx actor.Context) {
	n.snapshotting = &snapshotJob{}
	// Members apply the same entries at nearly the same moment: with one
	// threshold they would all encode their images at once, and an encode
	// slows its member for tens of milliseconds (docs/BENCHMARKS.md, "the
	// tail"). A fresh random stretch of 0–50 % per snapshot spreads them.
	if n.cfg.snapshotsScaled {
		n.snapshotStretch = n.rand.IntN(50)
	}
	// The capture covers every entry handed so far: the applier takes
	// its messages in order.
	n.snapshotting.handed, n.snapshotting.handedBytes = n.handedSinceSnapshot, n.handedBytesSinceSnapshot
	n.handedSinceSnapshot, n.handedBytesSinceSnapshot = 0, 0
	ctx.Send(n.applier, &takeSnapshot{job: n.snapshotting})
}

func (n *node) onSnapshotCaptured(ctx actor.Context, m *snapshotCaptured) {
	if m.job != n.snapshotting {
		return
	}
	if m.err != nil {
		n.snapshotting = nil
		n.logger.Error("state machine snapshot failed", "err", m.err)
		return
	}
	prev, _ := n.storage.Snapshot()
	if m.index <= prev.Metadata.Index {
		// Nothing applied since the last snapshot, or one installed from
		// the leader overtook this one: no need to encode it.
		n.snapshotting = nil
		return
	}
	// Applied entries are committed, so durable here and never replaced:
	// their term is final.
	term, err := n.storage.Term(m.index)
	if err != nil {
		n.snapshotting = nil
		n.logger.Warn("snapshot not taken: no term for its index", "index", m.index, "err", err)
		return
	}
	cs := m.confState
	if cs == nil {
		cs = prev.Metadata.ConfState
	}
	ctx.Send(n.persister, &saveSnapshot{job: m.job, meta: &pb.SnapshotMetadata{Index: m.index, Term: term, ConfState: cs}, encode: m.encode})
}

func (n *node) onSnapshotSaved(ctx actor.Context, m *snapshotSaved) {
	if m.job != n.snapshotting {
		return
	}
	n.snapshotting = nil
	switch {
	case errors.Is(m.err, ErrNoSpace):
		// Nothing was recorded: the log stays whole until a later
		// snapshot, once there is room, lets it be compacted.
		n.logger.Error("snapshot not saved: disk full; the log is kept until a later snapshot succeeds", "index", m.meta.Index, "err", m.err)
		// The snapshot is still due: its counts come back, and the tick
		// tries again an election timeout later (an image per Ready
		// would burn the CPU for nothing meanwhile).
		n.handedSinceSnapshot += m.job.handed
		n.handedBytesSinceSnapshot += m.job.handedBytes
		n.snapshotNotBefore = n.ticks + n.cfg.ElectionTicks
		return
	case m.err != nil:
		// An fsync or write error is fatal, like any other storage error.
		n.fatal(ctx, fmt.Errorf("save snapshot %d: %w", m.meta.Index, m.err))
		return
	case m.encodeErr != nil:
		n.logger.Error("state machine snapshot failed", "index", m.meta.Index, "err", m.encodeErr)
		return
	case m.snap == nil:
		return // the LogStore holds a newer one, installed from the leader
	}
	// The snapshot is durable: followers may get it, and the log it covers
	// may go. A snapshot installed from the leader in the meantime is newer
	// (ErrSnapOutOfDate) and has replaced the log itself.
	if _, err := n.storage.CreateSnapshot(m.meta.Index, m.meta.ConfState, m.snap.Data); err != nil {
		if !errors.Is(err, raft.ErrSnapOutOfDate) {
			n.logger.Warn("snapshot not recorded", "index", m.meta.Index, "err", err)
		}
		return
	}
	if m.meta.Index > n.cfg.SnapshotKeepEntries {
		compact := m.meta.Index - n.cfg.SnapshotKeepEntries
		if err := n.storage.Compact(compact); err == nil {
			ctx.Send(n.persister, &compactLog{index: compact})
		}
	}
	n.lastSnapshotBytes = uint64(len(m.snap.Data))
	n.logger.Info("snapshot taken", "index", m.meta.Index, "bytes", len(m.snap.Data))
}
