// Supervision under simulation. Nodes are spawned under a guardian whose
// strategy never consults the wall clock: an injected panic (a fault of the
// schedule) restarts the node, which rebuilds itself from its LogStore; any
// other panic is a bug and fails the run.
package sim

import (
	"github.com/asynkron/protoactor-go/actor"
)

// injectedPanic is the panic value of a panic the fault schedule asked for.
type injectedPanic struct{}

// panicNow makes the node actor that receives it panic.
type panicNow struct{}

// supervisor is the guardian strategy of a World; it acts for the seed
// running in it.
type supervisor struct{ w *World }

var _ actor.SupervisorStrategy = (*supervisor)(nil)

func (sv *supervisor) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason any, _ any) {
	s := sv.w.current
	if _, ok := reason.(injectedPanic); ok {
		s.trace.event(s, "restart %s after injected panic", child.Id)
		sup.RestartChildren(child)
		return
	}
	s.failf("actor %s panicked: %v", child.Id, reason)
	sup.StopChildren(child)
}

// receiver is the receiver middleware of every simulated actor: a panicNow
// message panics inside the actor's Receive, as a bug in it would; Stopped
// marks the actor gone, so nothing is sent to it any more.
func (s *Sim) receiver(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
		switch env.Message.(type) {
		case panicNow:
			panic(injectedPanic{})
		case *actor.Stopped:
			if m := s.mailboxOf(ctx.Self()); m != nil {
				m.stopped = true
			}
		}
		next(ctx, env)
	}
}
