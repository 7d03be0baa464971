// The persister writes snapshot files for the node, so a large snapshot's
// write and fsync never hold up the node's ticks and heartbeats. The node
// compacts its log only when told the snapshot is durable.
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

type saveSnapshot struct{ snap *pb.Snapshot }

type snapshotSaved struct {
	index uint64
	bytes int
	err   error
}

type persister struct{ store LogStore }

func (p *persister) Receive(ctx actor.Context) {
	m, ok := ctx.Message().(*saveSnapshot)
	if !ok {
		return
	}
	err := p.store.SaveSnapshot(m.snap)
	if errors.Is(err, ErrSnapshotOutOfDate) {
		err = nil
	}
	ctx.Send(ctx.Parent(), &snapshotSaved{index: m.snap.Metadata.Index, bytes: len(m.snap.Data), err: err})
}
