// Logical time. The node re-arms a one-shot timer on Started and on every
// tick and cancels it on Stopping and Restarting, so exactly one tick is
// pending at any time and a restarted actor never sees a stale timer chain.
// (SetReceiveTimeout and SendRepeatedly race in the pinned protoactor-go.)
package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
)

// Timers schedules a one-shot message; the simulation supplies virtual ones.
type Timers interface {
	SendOnce(delay time.Duration, pid *actor.PID, msg any) (cancel func())
}

// Clock is the monotonic wall clock, used only for the read lease.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// schedulerTimers uses protoactor's scheduler on the system's Root context:
// the timer fires on its own goroutine, which must not touch the actor's
// context.
type schedulerTimers struct{ s *scheduler.TimerScheduler }

func newSchedulerTimers(system *actor.ActorSystem) Timers {
	return schedulerTimers{s: scheduler.NewTimerScheduler(system.Root)}
}

func (t schedulerTimers) SendOnce(d time.Duration, pid *actor.PID, msg any) func() {
	return t.s.SendOnce(d, pid, msg)
}

// tick is the message of one logical tick.
type tick struct{}

type ticker struct {
	timers   Timers
	interval time.Duration
	cancel   func()
}

func (t *ticker) arm(self *actor.PID) {
	t.stop()
	t.cancel = t.timers.SendOnce(t.interval, self, tick{})
}

func (t *ticker) stop() {
	if t.cancel != nil {
		t.cancel()
		t.cancel = nil
	}
}
