// The client actor: it proposes unique data to the node it believes leads,
// follows NotLeaderError redirects, retries elsewhere on loss or timeout
// (each attempt is a new proposal with its own ID), and records every
// successful ProposeResult — the acknowledged writes that must never be lost.
// Some of its requests are reads (linearizable or lease): a read that
// succeeds must return an index at least that of every write acknowledged
// before the read was sent (linearizability of reads).
// It runs in two modes: random proposals during the faults, then a fixed
// number of final proposals that must all be acknowledged once the faults
// heal (the liveness check).
package sim

import (
	"encoding/binary"
	"errors"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/kontiki-raft/kontiki/actors"
)

type clientWake struct{}

type clientRetry struct{ final bool }

type clientTimeout struct{ id uint64 }

type attempt struct {
	id     uint64
	data   []byte
	node   uint64
	final  bool
	cancel func()
	// a read: the mode, and the highest index acknowledged when it was sent
	read  bool
	mode  actors.ReadMode
	floor uint64
}

// ack is an acknowledged proposal: data is at index in every log, forever.
type ack struct {
	id, index uint64
	data      []byte
}

type client struct {
	s           *Sim
	self        *actor.PID
	concurrency int
	think       time.Duration
	timeout     time.Duration
	backoff     time.Duration

	proposing bool
	waking    bool   // a clientWake is on its way
	leader    uint64 // the node believed to lead (0: unknown)
	rotate    uint64
	nextID    uint64
	inflight  map[uint64]*attempt
	data      map[uint64][]byte   // every attempt's data by ID
	sentReads map[uint64]*attempt // every read by ID
	acks      []ack
	maxAck    uint64 // the highest acknowledged index
	finalLeft int
	reads     int // reads answered
}

func newClient(s *Sim, concurrency int, think, timeout time.Duration) *client {
	return &client{
		s: s, concurrency: concurrency, think: think, timeout: timeout, backoff: 20 * time.Millisecond,
		inflight: map[uint64]*attempt{}, data: map[uint64][]byte{}, sentReads: map[uint64]*attempt{},
	}
}

func (c *client) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case clientWake:
		c.waking = false
		for c.proposing && c.randomInflight() < c.concurrency {
			if c.s.clientRng.IntN(5) == 0 {
				c.read(ctx)
			} else {
				c.propose(ctx, false)
			}
		}
	case clientRetry:
		if !m.final || c.finalLeft > c.finalInflight() {
			c.propose(ctx, m.final)
		}
	case clientTimeout:
		if a, ok := c.inflight[m.id]; ok {
			delete(c.inflight, m.id)
			c.leader = 0
			c.retry(ctx, a, 0)
		}
	case *actors.ProposeResult:
		c.onResult(ctx, m)
	case *actors.ReadResult:
		c.onRead(m)
	}
}

func (c *client) after(d time.Duration, msg any) func() {
	return timers{c.s}.SendOnce(d, c.self, msg)
}

func (c *client) randomInflight() int {
	n := 0
	for _, a := range c.inflight {
		if !a.final {
			n++
		}
	}
	return n
}

func (c *client) finalInflight() int {
	n := 0
	for _, a := range c.inflight {
		if a.final {
			n++
		}
	}
	return n
}

func (c *client) target() uint64 {
	if c.leader != 0 {
		return c.leader
	}
	c.rotate = c.rotate%uint64(c.s.cfg.Nodes) + 1
	return c.rotate
}

func (c *client) propose(ctx actor.Context, final bool) {
	c.nextID++
	id := c.nextID
	data := []byte("p" + strconv.FormatUint(id, 10))
	a := &attempt{id: id, data: data, node: c.target(), final: final}
	c.inflight[id] = a
	c.data[id] = data
	a.cancel = c.after(c.timeout, clientTimeout{id: id})
	if pid := c.s.hosts[a.node].pid; pid != nil {
		ctx.Request(pid, &actors.Propose{ID: id, Data: data})
	}
}

// read sends a read barrier (linearizable, or lease one time in three).
func (c *client) read(ctx actor.Context) {
	c.nextID++
	a := &attempt{id: c.nextID, node: c.target(), read: true, floor: c.maxAck}
	if c.s.clientRng.IntN(2) == 0 {
		// Anywhere: a follower forwards it, a deposed leader must refuse it.
		a.node = uint64(1 + c.s.clientRng.IntN(c.s.cfg.Nodes))
	}
	if c.s.clientRng.IntN(3) == 0 {
		a.mode = actors.ReadLease
	}
	c.inflight[a.id] = a
	c.sentReads[a.id] = a
	a.cancel = c.after(c.timeout, clientTimeout{id: a.id})
	if pid := c.s.hosts[a.node].pid; pid != nil {
		ctx.Request(pid, &actors.Read{ID: a.id, Mode: a.mode})
	}
}

func (c *client) onRead(m *actors.ReadResult) {
	if m.Err == nil {
		c.reads++
		// Late or not, a read that succeeds must not be stale.
		if a, ok := c.sentReads[m.ID]; ok && m.Index < a.floor {
			mode := "linearizable"
			if a.mode == actors.ReadLease {
				mode = "lease"
			}
			c.s.failf("linearizability: %s read %d on node %d returned index %d, but index %d was acknowledged before the read was sent",
				mode, m.ID, a.node, m.Index, a.floor)
		}
	}
	a, ok := c.inflight[m.ID]
	if !ok || !a.read {
		return // answered after its timeout
	}
	delete(c.inflight, m.ID)
	a.cancel()
	if m.Err != nil {
		var nl *actors.NotLeaderError
		if errors.As(m.Err, &nl) && nl.Leader != 0 {
			c.leader = nl.Leader
		} else {
			c.leader = 0
		}
	}
	c.wake()
}

// wake schedules the next random proposals after a think time.
func (c *client) wake() {
	if c.proposing && !c.waking {
		c.waking = true
		c.after(time.Duration(c.s.clientRng.Int64N(int64(c.think)+1)), clientWake{})
	}
}

// retry replaces a failed attempt after delay; a random proposal is
// replaced by the next wake.
func (c *client) retry(ctx actor.Context, a *attempt, delay time.Duration) {
	if !a.final {
		c.wake()
		return
	}
	if delay == 0 {
		c.propose(ctx, true)
		return
	}
	c.after(delay, clientRetry{final: true})
}

func (c *client) onResult(ctx actor.Context, m *actors.ProposeResult) {
	if m.Err == nil {
		data, ok := c.data[m.ID]
		if !ok {
			c.s.failf("client: acknowledgement of unknown proposal %d", m.ID)
			return
		}
		if len(m.Result) != 8 || binary.BigEndian.Uint64(m.Result) != m.Index {
			c.s.failf("client: proposal %d acknowledged at index %d with the result of another index", m.ID, m.Index)
		}
		c.acks = append(c.acks, ack{id: m.ID, index: m.Index, data: data})
		c.maxAck = max(c.maxAck, m.Index)
		if a, ok := c.inflight[m.ID]; ok {
			delete(c.inflight, m.ID)
			a.cancel()
			if a.final {
				c.finalLeft--
			}
		}
		c.wake()
		return
	}
	a, ok := c.inflight[m.ID]
	if !ok || a.read {
		return // a late failure of an attempt already given up
	}
	delete(c.inflight, m.ID)
	a.cancel()
	var nl *actors.NotLeaderError
	if errors.As(m.Err, &nl) && nl.Leader != 0 && nl.Leader != a.node {
		c.leader = nl.Leader
		c.retry(ctx, a, 0)
		return
	}
	c.leader = 0
	c.retry(ctx, a, c.backoff)
}

// startFinal stops random proposals and sends n that must all be
// acknowledged.
func (c *client) startFinal(n int) {
	c.proposing = false
	c.finalLeft = n
	for i := 0; i < n; i++ {
		c.s.system.Root.Send(c.self, clientRetry{final: true})
	}
}

func (c *client) maxAckIndex() uint64 { return c.maxAck }
