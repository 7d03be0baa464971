// The persister encodes and writes the node's own snapshots, so neither the
// applier (and so every write) nor the node's ticks and heartbeats wait for
// an image to be encoded, written and fsynced. See snapshot.go for the flow.
package actors

import (
	"errors"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	pb "github.com/kontiki-raft/kontiki/messages"
)

// ErrSnapshotOutOfDate is returned (wrapped) by LogStore.SaveSnapshot for a
// snapshot no newer than the recorded one: a snapshot installed from the
// leader overtook ours. Nothing to do, not a failure.
var ErrSnapshotOutOfDate = errors.New("actors: snapshot is not newer than the recorded one")

// saveSnapshot: encode the captured state and store it with meta.
type saveSnapshot struct {
	job    *snapshotJob
	meta   *pb.SnapshotMetadata
	encode func() ([]byte, error)
}

// snapshotSaved: snap is durable; or nil, when encodeErr (the state machine
// failed: the node goes on) or err (the storage failed: the node stops) says
// why, or when the LogStore holds a newer snapshot already (no error).
type snapshotSaved struct {
	job       *snapshotJob
	meta      *pb.SnapshotMetadata
	snap      *pb.Snapshot
	encodeErr error
	err       error
}

// compactLog: discard the durable log up to index, which a durable snapshot
// covers. Removing files and fsyncing the directory can take tens of
// milliseconds on a busy disk: here, not on the node's goroutine, where it
// would hold up heartbeats and acks.
type compactLog struct{ index uint64 }

type persister struct {
	store  LogStore
	logger *slog.Logger
}

func (p *persister) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *saveSnapshot:
		ctx.Send(ctx.Parent(), p.save(m))
	case *compactLog:
		// A failure leaves files that a later compaction removes.
		if err := p.store.Compact(m.index); err != nil {
			p.logger.Warn("log compaction failed", "index", m.index, "err", err)
		}
	}
}

func (p *persister) save(m *saveSnapshot) *snapshotSaved {
	r := &snapshotSaved{job: m.job, meta: m.meta}
	data, err := m.encode()
	if err != nil {
		r.encodeErr = err
		return r
	}
	snap := &pb.Snapshot{Data: data, Metadata: m.meta}
	switch err := p.store.SaveSnapshot(snap); {
	case errors.Is(err, ErrSnapshotOutOfDate):
	case err != nil:
		r.err = err
	default:
		r.snap = snap
	}
	return r
}
