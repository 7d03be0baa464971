// The simulated mailbox: it delivers one message per run, system messages
// first, honours SuspendMailbox/ResumeMailbox, and turns a panic in the actor
// into EscalateFailure as protoactor's own mailbox does. A mailbox belongs to
// one incarnation of a host; once that incarnation has crashed it discards
// user messages (a dead process reads nothing) but still runs the system
// messages that take the actor down. While its host is paused (a stopped
// process, a long GC pause) it delivers nothing; messages and ticks queue up.
package sim

import (
	"github.com/asynkron/protoactor-go/actor"
)

type mailbox struct {
	sim   *Sim
	host  *host
	inc   int // the host incarnation this mailbox belongs to
	pid   *actor.PID
	name  string
	inv   actor.MessageInvoker
	disp  actor.Dispatcher
	sys   fifo
	user  fifo
	susp  bool
	sched bool
	runFn func() // m.run, bound once
	// stopped: the actor has stopped (it is out of the process registry).
	stopped bool
}

var _ actor.Mailbox = (*mailbox)(nil)

// dead reports whether the incarnation that owns the mailbox has crashed.
func (m *mailbox) dead() bool { return m.host.inc != m.inc || !m.host.up }

func (m *mailbox) PostUserMessage(msg any) {
	if m.dead() {
		m.sim.trace.note(m.sim, "lost", m.name, msg)
		return
	}
	m.user.push(msg)
	m.schedule()
}

func (m *mailbox) PostSystemMessage(msg any) {
	m.sys.push(msg)
	m.schedule()
}

func (m *mailbox) RegisterHandlers(inv actor.MessageInvoker, d actor.Dispatcher) {
	m.inv, m.disp = inv, d
	// The invoker is the actor's context; its PID names the mailbox in the
	// trace and lets the network find the host of a target.
	if c, ok := inv.(interface{ Self() *actor.PID }); ok && c.Self() != nil {
		m.pid = c.Self()
		m.name = m.pid.Id
		m.sim.mailboxes[m.name] = m
	}
}

func (m *mailbox) Start() {}

func (m *mailbox) UserMessageCount() int { return m.user.len() }

func (m *mailbox) ready() bool { return m.sys.len() > 0 || (!m.susp && m.user.len() > 0) }

func (m *mailbox) schedule() {
	if !m.sched && !m.host.paused && m.ready() {
		m.sched = true
		if m.runFn == nil {
			m.runFn = m.run
		}
		m.disp.Schedule(m.runFn)
	}
}

// drop discards the queued user messages (the process died with them).
func (m *mailbox) drop() {
	for m.user.len() > 0 {
		m.sim.trace.note(m.sim, "lost", m.name, m.user.pop())
	}
}

// run delivers exactly one message (none while its host is paused; resume
// schedules it again).
func (m *mailbox) run() {
	m.sched = false
	if m.host.paused {
		return
	}
	var msg any
	defer func() {
		if r := recover(); r != nil {
			m.inv.EscalateFailure(r, msg)
		}
		m.schedule()
	}()
	if msg = m.sys.pop(); msg != nil {
		m.sim.deliveries++
		m.sim.trace.deliver(m.sim, m.name, msg)
		switch msg.(type) {
		case *actor.SuspendMailbox:
			m.susp = true
		case *actor.ResumeMailbox:
			m.susp = false
		default:
			m.inv.InvokeSystemMessage(msg)
		}
		return
	}
	if m.susp {
		return
	}
	if msg = m.user.pop(); msg != nil {
		m.sim.deliveries++
		m.sim.trace.deliver(m.sim, m.name, msg)
		m.inv.InvokeUserMessage(msg)
	}
}

// fifo is a slice queue that reuses its space.
type fifo struct {
	items []any
	head  int
}

func (f *fifo) push(v any) { f.items = append(f.items, v) }

func (f *fifo) len() int { return len(f.items) - f.head }

func (f *fifo) pop() any {
	if f.head == len(f.items) {
		return nil
	}
	v := f.items[f.head]
	f.items[f.head] = nil
	f.head++
	if f.head == len(f.items) {
		f.items, f.head = f.items[:0], 0
	} else if f.head > 64 && f.head*2 > len(f.items) {
		n := copy(f.items, f.items[f.head:])
		clear(f.items[n:])
		f.items, f.head = f.items[:n], 0
	}
	return v
}
