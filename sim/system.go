// The actor system simulations run in. Creating a protoactor actor system is
// costly (its process registry allocates 1024 concurrent maps), so a World is
// reused by the seeds one test goroutine runs, one after the other: after a
// seed every actor it spawned is removed from the registry and the PID
// counter starts again from where a fresh World starts it, so a seed's trace
// does not depend on what ran before (the replay test checks this).
package sim

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/kontiki-raft/kontiki/actors"
)

// World is an actor system for simulations, used by one goroutine at a time.
type World struct {
	system   *actor.ActorSystem
	guardian *supervisor
	current  *Sim
}

// NewWorld creates the actor system. Its logs are quiet; it never produces a
// dead letter (the network drops what has no live target) and reports one as
// a failure if it does, since protoactor's dead-letter throttle would start a
// wall-clock goroutine for it.
func NewWorld() *World {
	w := &World{system: actor.NewActorSystemWithConfig(actors.SystemConfig(nil))}
	w.guardian = &supervisor{w: w}
	w.system.EventStream.Subscribe(func(evt any) {
		if dl, ok := evt.(*actor.DeadLetterEvent); ok && w.current != nil {
			s := w.current
			s.failf("sim: dead letter to %s: %s", dl.PID.GetId(), string(s.trace.appendMsg(nil, dl.Message)))
		}
	})
	// The guardian exists before any seed runs, so every seed starts with
	// the same PID counter.
	w.system.Root.Copy().WithGuardian(w.guardian).Self()
	return w
}

// begin hands the world to s.
func (w *World) begin(s *Sim) {
	w.current = s
	w.system.ProcessRegistry.SequenceID = 0
}

// end removes every actor s spawned.
func (w *World) end(s *Sim) {
	for _, m := range s.mailboxList {
		if m.pid != nil {
			w.system.ProcessRegistry.Remove(m.pid)
		}
	}
	w.current = nil
}
