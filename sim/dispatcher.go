// The dispatcher and the run queue. protoactor hands a mailbox to its
// dispatcher whenever the mailbox has work; here Schedule only queues the
// mailbox's run function and the simulator picks which queued run goes next,
// one delivery per step, in an order drawn from the seed.
package sim

import (
	"math/rand/v2"

	"github.com/asynkron/protoactor-go/actor"
)

// runQueue holds the mailbox runs that are ready. Each entry delivers one
// message when called.
type runQueue struct {
	ready []func()
}

// pick removes and returns a random ready run, or nil when none is ready.
func (q *runQueue) pick(rng *rand.Rand) func() {
	n := len(q.ready)
	if n == 0 {
		return nil
	}
	i := rng.IntN(n)
	fn := q.ready[i]
	q.ready[i] = q.ready[n-1]
	q.ready[n-1] = nil
	q.ready = q.ready[:n-1]
	return fn
}

func (q *runQueue) empty() bool { return len(q.ready) == 0 }

// dispatcher is the actor.Dispatcher of every simulated actor.
type dispatcher struct{ q *runQueue }

var _ actor.Dispatcher = dispatcher{}

// Schedule queues fn for the simulator; it never runs anything itself.
func (d dispatcher) Schedule(fn func()) { d.q.ready = append(d.q.ready, fn) }

// Throughput is one: a mailbox run delivers a single message.
func (d dispatcher) Throughput() int { return 1 }
