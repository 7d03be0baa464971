// The simulated network, as protoactor sender middleware on every simulated
// actor: a message between actors on one host (a node and its applier) is
// posted at once; a message between hosts (node to node through the real
// actors.PIDTransport, client to node, applier to client) is delayed by a
// random latency, may be dropped or duplicated, is reordered by those
// latencies, and is dropped when its link is cut — links are directed, so a
// partition may be asymmetric (a→b cut while b→a works). A message to a node
// that restarted meanwhile reaches its new incarnation, as the node's subject
// would; a message to a dead actor is dropped, never dead-lettered. Like the
// cluster's snapshot transport, the network tells a node how each snapshot it
// sent fared (actors.SnapshotStatus): the leader waits for that word before it
// probes the follower again.
package sim

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/kontiki-raft/kontiki/actors"
	pb "github.com/kontiki-raft/kontiki/messages"
	"google.golang.org/protobuf/proto"
)

type network struct {
	s *Sim
	// cut[a][b]: messages from host a to host b are lost.
	cut [][]bool
	// drop and dup are probabilities per message; slow is the probability of
	// a long delay (several times maxLat) that reorders a message past many.
	drop, dup, slow float64
	minLat, maxLat  time.Duration
	// sent counts raft messages sent between nodes, by type (what the node
	// sent, lost or not); other counts other messages between hosts.
	sent              [32]int
	other             int
	dropped, dupCount int
}

func newNetwork(s *Sim, hosts int) *network {
	n := &network{s: s, minLat: time.Millisecond, maxLat: time.Millisecond}
	n.cut = make([][]bool, hosts)
	for i := range n.cut {
		n.cut[i] = make([]bool, hosts)
	}
	return n
}

// middleware is the actor.SenderMiddleware of every simulated actor.
func (n *network) middleware(next actor.SenderFunc) actor.SenderFunc {
	return func(ctx actor.SenderContext, target *actor.PID, env *actor.MessageEnvelope) {
		n.send(ctx, next, target, env)
	}
}

func (n *network) send(ctx actor.SenderContext, next actor.SenderFunc, target *actor.PID, env *actor.MessageEnvelope) {
	s := n.s
	src := s.mailboxOf(ctx.Self())
	if src != nil && src.dead() {
		s.trace.note(s, "mute", src.name, env)
		return
	}
	dst := s.mailboxOf(target)
	if src == nil || dst == nil || src.host == dst.host {
		if s.alive(target) {
			next(ctx, target, env)
		} else {
			s.trace.note(s, "nobody", target.Id, env)
		}
		return
	}
	if m, ok := env.Message.(*pb.Message); ok && src.host.id != clientHost && dst.host.id != clientHost {
		n.sent[int(m.Type)%len(n.sent)]++
	} else {
		n.other++
	}
	from, to := src.host, dst.host
	if n.cut[from.id][to.id] {
		n.lost(from, "cut", target, env)
		return
	}
	if n.drop > 0 && s.netRng.Float64() < n.drop {
		n.lost(from, "drop", target, env)
		return
	}
	n.schedule(ctx, next, from, dst, target, env)
	if n.dup > 0 && s.netRng.Float64() < n.dup {
		n.dupCount++
		s.trace.note(s, "dup", target.Id, env)
		n.schedule(ctx, next, from, dst, target, duplicate(env))
	}
}

// transit is a message on the wire.
type transit struct {
	ctx    actor.SenderContext
	next   actor.SenderFunc
	from   *host
	dst    *mailbox
	target *actor.PID
	env    *actor.MessageEnvelope
}

func (n *network) schedule(ctx actor.SenderContext, next actor.SenderFunc, from *host, dst *mailbox, target *actor.PID, env *actor.MessageEnvelope) {
	s := n.s
	lat := n.minLat
	if n.maxLat > n.minLat {
		lat += time.Duration(s.netRng.Int64N(int64(n.maxLat - n.minLat + 1)))
	}
	if n.slow > 0 && s.netRng.Float64() < n.slow {
		lat += time.Duration(s.netRng.Int64N(int64(5*n.maxLat + 1)))
	}
	s.clock.push(s.clock.now+lat, &event{net: transit{ctx: ctx, next: next, from: from, dst: dst, target: target, env: env}})
}

// deliver hands a message that crossed the network to its target.
func (n *network) deliver(t *transit) {
	s := n.s
	from, to, target, env := t.from, t.dst.host, t.target, t.env
	if n.cut[from.id][to.id] {
		n.lost(from, "cut", target, env)
		return
	}
	if t.dst.dead() {
		// Raft messages are addressed to a node, not to a process: they
		// reach whatever incarnation is up now.
		if _, ok := env.Message.(*pb.Message); ok && to.up && to.pid != nil {
			target = to.pid
		} else {
			n.lost(from, "gone", target, env)
			return
		}
	}
	if !s.alive(target) {
		n.lost(from, "gone", target, env)
		return
	}
	t.next(t.ctx, target, env)
	n.snapshotStatus(from, env, false)
}

// lost records a message the network lost.
func (n *network) lost(from *host, why string, target *actor.PID, env *actor.MessageEnvelope) {
	n.dropped++
	n.s.trace.note(n.s, why, target.Id, env)
	n.snapshotStatus(from, env, true)
}

// snapshotStatus tells the node that sent a snapshot whether it arrived, one
// latency later (the transfer's last acknowledgement, or its timeout).
func (n *network) snapshotStatus(from *host, env *actor.MessageEnvelope, failed bool) {
	m, ok := env.Message.(*pb.Message)
	if !ok || m.Type != pb.MessageType_MSG_SNAP || from.id == clientHost {
		return
	}
	s := n.s
	inc := from.inc
	s.clock.after(n.maxLat, func() {
		if from.up && from.inc == inc && s.alive(from.pid) {
			s.system.Root.Send(from.pid, &actors.SnapshotStatus{ID: m.To, Failed: failed})
		}
	})
}

// duplicate copies a message as a second delivery off the wire would.
func duplicate(env *actor.MessageEnvelope) *actor.MessageEnvelope {
	cp := *env
	if m, ok := env.Message.(*pb.Message); ok {
		cp.Message = proto.Clone(m)
	}
	return &cp
}

// heal removes every cut.
func (n *network) heal() {
	for _, row := range n.cut {
		clear(row)
	}
}
