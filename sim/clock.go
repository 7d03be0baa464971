// Virtual time: the clock the nodes read (actors.WithClock), the one-shot
// timers that drive their ticks (actors.WithTimers), and the event queue that
// holds every future happening — timer firings, network deliveries, faults —
// in (time, sequence) order. Time moves only when no mailbox has work.
package sim

import (
	"container/heap"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/kontiki-raft/kontiki/actors"
)

// epoch is virtual time zero as a wall-clock value.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// event is one future happening: a function, a timer's message, or a
// message crossing the network (kept inline: one allocation per event).
type event struct {
	at        time.Duration
	seq       uint64
	cancelled bool
	fn        func()
	// a timer: msg to pid
	pid *actor.PID
	msg any
	// a network delivery, when net.dst is set
	net transit
}

func (e *event) fire(s *Sim) {
	switch {
	case e.fn != nil:
		e.fn()
	case e.net.dst != nil:
		s.net.deliver(&e.net)
	case s.alive(e.pid):
		s.system.Root.Send(e.pid, e.msg)
	}
}

type eventHeap []*event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(*event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// clock is the virtual clock and its event queue.
type clock struct {
	now    time.Duration
	seq    uint64
	events eventHeap
}

// Now implements actors.Clock.
func (c *clock) Now() time.Time { return epoch.Add(c.now) }

// push schedules e at virtual time t (never in the past).
func (c *clock) push(t time.Duration, e *event) *event {
	e.at = max(t, c.now)
	c.seq++
	e.seq = c.seq
	heap.Push(&c.events, e)
	return e
}

// at schedules fn at virtual time t.
func (c *clock) at(t time.Duration, fn func()) *event { return c.push(t, &event{fn: fn}) }

func (c *clock) after(d time.Duration, fn func()) *event { return c.at(c.now+d, fn) }

// next returns the time of the earliest live event.
func (c *clock) next() (time.Duration, bool) {
	for len(c.events) > 0 {
		if c.events[0].cancelled {
			heap.Pop(&c.events)
			continue
		}
		return c.events[0].at, true
	}
	return 0, false
}

// fireDue advances to t and runs every live event due at t, in order.
func (c *clock) fireDue(s *Sim, t time.Duration) {
	c.now = t
	for len(c.events) > 0 && c.events[0].at <= t {
		e := heap.Pop(&c.events).(*event)
		if !e.cancelled {
			e.fire(s)
		}
	}
}

// timers implements actors.Timers on the virtual clock: the message is
// posted to the target's mailbox when virtual time reaches the deadline,
// unless the target is gone by then (a dead letter would start protoactor's
// throttle goroutine).
type timers struct{ s *Sim }

var _ actors.Timers = timers{}

func (t timers) SendOnce(d time.Duration, pid *actor.PID, msg any) func() {
	e := t.s.clock.push(t.s.clock.now+d, &event{pid: pid, msg: msg})
	return e.cancel
}

func (e *event) cancel() { e.cancelled = true }
