// Transport carries raft messages to peers; PIDTransport does it in-process.
package actors

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	pb "github.com/kontiki-raft/kontiki/messages"
)

// Transport sends the messages of one Ready. Send must not block: Raft
// tolerates loss, so a transport drops what it cannot deliver. One duty: for
// every MsgSnap it must eventually send the sender a SnapshotStatus (sent or
// failed); a snapshot lost without one leaves that follower paused forever.
type Transport interface {
	Send(ctx actor.SenderContext, msgs []*pb.Message)
}

// PIDTransport delivers to peer node actors in the same actor system. The
// messages are shared, not copied: nothing mutates a message once sent.
type PIDTransport struct {
	mu    sync.RWMutex
	peers map[uint64]*actor.PID
}

func NewPIDTransport() *PIDTransport { return &PIDTransport{peers: map[uint64]*actor.PID{}} }

// SetPeer records where node id listens.
func (t *PIDTransport) SetPeer(id uint64, pid *actor.PID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.peers[id] = pid
}

// Send delivers msgs. A snapshot is reported sent at once (SnapshotStatus to
// the sender): in-process delivery is the whole transfer, and without the
// report a lost snapshot would leave the follower in snapshot state forever.
func (t *PIDTransport) Send(ctx actor.SenderContext, msgs []*pb.Message) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, m := range msgs {
		pid, ok := t.peers[m.To]
		if ok {
			ctx.Send(pid, m)
		}
		if m.Type == pb.MessageType_MSG_SNAP {
			ctx.Send(ctx.Self(), &SnapshotStatus{ID: m.To, Failed: !ok})
		}
	}
}
