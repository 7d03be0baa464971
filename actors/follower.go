// The follower behavior: raft traffic goes to the core's follower handler;
// writes are refused with the leader's id so the caller can go there; reads
// are forwarded to the leader as ReadIndex requests.
package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	pb "github.com/kontiki-raft/kontiki/messages"
)

func (n *node) follower(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *pb.Message:
		n.stepRole(m, n.raft.StepFollower)
	case *Propose:
		n.answerProposal(ctx, ctx.Sender(), m.Done, &ProposeResult{ID: m.ID, Err: &NotLeaderError{Leader: n.raft.Lead()}})
	case *Read:
		if m.Mode == ReadLease {
			n.reply(ctx, ctx.Sender(), &ReadResult{ID: m.ID, Err: &NotLeaderError{Leader: n.raft.Lead()}})
			return
		}
		n.startRead(ctx, m.ID)
	case *TransferLeadership:
		n.reply(ctx, ctx.Sender(), &TransferResult{Err: &NotLeaderError{Leader: n.raft.Lead()}})
	}
}

// stepRole hands a raft message to a role's handler; errors of peer traffic
// are logged, not returned to anyone.
func (n *node) stepRole(m *pb.Message, step func(*pb.Message) error) {
	if err := step(m); err != nil {
		n.logger.Debug("raft message refused", "type", m.Type.String(), "from", m.From, "err", err)
	}
}
