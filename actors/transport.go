// Transport carries raft messages to peers; PIDTransport does it in-process.
package actors

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	pb "github.com/kontiki-raft/kontiki/messages"
)

// Transport sends the messages of one Ready. Send must not block: Raft
// tolerates loss, so a transport drops what it cannot deliver.
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

func (t *PIDTransport) Send(ctx actor.SenderContext, msgs []*pb.Message) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, m := range msgs {
		if pid, ok := t.peers[m.To]; ok {
			ctx.Send(pid, m)
		}
	}
}
