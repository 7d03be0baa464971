// The step loop and its failures: one mailbox delivery per step, virtual
// time advancing only when no mailbox has work; the first violated invariant
// stops the run and keeps what is needed to replay it.
package sim

import (
	"fmt"
	"strings"
	"time"
)

// Failure is a violated invariant, with what is needed to replay it.
type Failure struct {
	Seed  uint64
	Nodes int
	Step  uint64
	Time  time.Duration
	Msg   string
	Tail  []string
	// Test is the test that replays the seed (TestSimulation, or
	// TestSimulationWAL for a run on the WAL).
	Test string
}

func (f *Failure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d (%d nodes): step %d at %v: %s\n", f.Seed, f.Nodes, f.Step, f.Time, f.Msg)
	test := f.Test
	if test == "" {
		test = "TestSimulation"
	}
	fmt.Fprintf(&b, "replay: go test ./sim -run '%s$' -seed=%d -v (add -simtrace=FILE for the whole trace)\n", test, f.Seed)
	fmt.Fprintf(&b, "last %d trace lines:\n", len(f.Tail))
	for _, l := range f.Tail {
		b.WriteString("  ")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// failf records the first violation, with the end of the trace.
func (s *Sim) failf(format string, args ...any) {
	if s.failure != nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	s.trace.event(s, "FAIL %s", msg)
	s.failure = &Failure{Seed: s.cfg.Seed, Nodes: s.cfg.Nodes, Step: s.steps, Time: s.clock.now, Msg: msg, Tail: s.trace.last(60)}
	if s.cfg.WAL {
		s.failure.Test = "TestSimulationWAL"
	}
}

// RunUntil delivers messages and advances time until done reports true at
// a quiet moment, virtual time passes deadline, or an invariant fails.
func (s *Sim) RunUntil(deadline time.Duration, done func() bool) bool {
	for s.failure == nil {
		if fn := s.q.pick(s.schedRng); fn != nil {
			s.steps++
			fn()
			if s.steps >= s.cfg.MaxSteps {
				s.failf("sim: step limit %d reached (livelock?)", s.cfg.MaxSteps)
			}
			continue
		}
		if done != nil && done() {
			return true
		}
		t, ok := s.clock.next()
		if !ok || t > deadline {
			s.clock.now = max(s.clock.now, deadline)
			return false
		}
		s.clock.fireDue(s, t)
	}
	return false
}
