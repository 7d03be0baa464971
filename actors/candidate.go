// The candidate behavior: collecting votes in a new term.
package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	pb "github.com/kontiki-raft/kontiki/messages"
)

func (n *node) candidate(ctx actor.Context) {
	if m, ok := ctx.Message().(*pb.Message); ok {
		n.stepRole(m, n.raft.StepCandidate)
		return
	}
	n.refuseWithoutLeader(ctx)
}
