// The pre-candidate behavior: collecting pre-votes without raising the term.
// It serves no requests: there is no leader to serve them.
package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	pb "github.com/kontiki-raft/kontiki/messages"
)

func (n *node) preCandidate(ctx actor.Context) {
	if m, ok := ctx.Message().(*pb.Message); ok {
		n.stepRole(m, n.raft.StepCandidate)
		return
	}
	n.refuseWithoutLeader(ctx)
}

// refuseWithoutLeader answers a user request at once while no leader exists:
// never a hang.
func (n *node) refuseWithoutLeader(ctx actor.Context) {
	err := &NotLeaderError{}
	switch m := ctx.Message().(type) {
	case *Propose:
		n.answerProposal(ctx, ctx.Sender(), m.Done, &ProposeResult{ID: m.ID, Err: err})
	case *Read:
		n.reply(ctx, ctx.Sender(), &ReadResult{ID: m.ID, Err: err})
	case *TransferLeadership:
		n.reply(ctx, ctx.Sender(), &TransferResult{Err: err})
	}
}
