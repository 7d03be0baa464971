// The persister encodes and writes the node's own snapshots, so neither the
// applier (and so every write) nor the node's ticks and heartbeats wait for
// an image to be encoded, written and fsynced. See snapshot.go for the flow.
package actors

import (
	"errors"

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

type persister struct{ store LogStore }

func (p *persister) Receive(ctx actor.Context) {
	m, ok := ctx.Message().(*saveSnapshot)
	if !ok {
		return
	}
	ctx.Send(ctx.Parent(), p.save(m))
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
