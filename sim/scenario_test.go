// Scripted scenarios on the simulator, for faults too precise for the random
// schedule to hit often.
package sim

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/kontiki-raft/kontiki/actors"
	pb "github.com/kontiki-raft/kontiki/messages"
	"github.com/kontiki-raft/kontiki/raft"
)

// probe is a scripted client: the test tells it what to send where; it
// keeps the answers.
type probe struct{ answers []any }

type probeSend struct {
	to  *actor.PID
	msg any
}

func (p *probe) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case probeSend:
		ctx.Request(m.to, m.msg)
	case *actors.ProposeResult, *actors.ReadResult:
		p.answers = append(p.answers, m)
	}
}

func spawnProbe(t *testing.T, s *Sim) (*probe, *actor.PID) {
	t.Helper()
	p := &probe{}
	props := actor.PropsFromProducer(func() actor.Actor { return p }, s.propsOptions(s.hosts[clientHost], 0)...)
	props.Configure(actor.WithGuardian(s.world.guardian))
	pid, err := s.system.Root.SpawnNamed(props, "probe")
	if err != nil {
		t.Fatal(err)
	}
	return p, pid
}

// A follower that reboots could forget that it heard from the leader a
// moment ago and vote at once. The leader's lease rests on its acks from
// before the reboot: if another node, cut off from the leader, campaigns
// right then and wins with the rebooted node's vote while the old leader's
// lease still runs, a lease read there returns a stale index. This scenario
// found that bug (the old leader answered index 1 after index 3 was
// acknowledged); raft.Config.QuietAfterRestart, which the node sets, fixed
// it: the rebooted node ignores the campaign for an election timeout.
func TestLeaseReadAfterFollowerReboot(t *testing.T) {
	s := healthy(nil, 7, 3, time.Millisecond, time.Millisecond, false)
	defer s.Close()
	tick := s.cfg.TickInterval
	if !s.RunUntil(5*time.Second, s.idle) {
		t.Fatalf("no leader: %v", s.failure)
	}
	l := s.leader()
	var a, b uint64
	for id := uint64(1); id <= 3; id++ {
		if id != l {
			if a == 0 {
				a = id
			} else {
				b = id
			}
		}
	}
	term := s.chk.views[l].status.Term
	// B stops hearing the leader and campaigns every R ticks; A and the
	// leader ignore its pre-votes (they heard from a leader lately).
	s.net.cut[l][b] = true
	preVotes := func() int { return s.net.sent[pb.MessageType_MSG_PRE_VOTE] }
	campaignAt := func(after int) time.Duration {
		s.RunUntil(s.clock.now+5*time.Second, func() bool { return preVotes() > after })
		return s.clock.now / tick * tick // ticks fall on multiples of tick
	}
	p1 := campaignAt(preVotes())
	p2 := campaignAt(preVotes())
	next := p2 + (p2 - p1)
	// Just before B's next campaign: A reboots, and the old leader is cut
	// off from A (its lease stands on A's acks from a moment ago) and from
	// B's messages (it does not learn of the new term).
	s.RunUntil(next-3*time.Millisecond, nil)
	s.net.cut[l][a], s.net.cut[a][l], s.net.cut[b][l] = true, true, true
	s.crash(s.hosts[a])
	s.clock.after(time.Millisecond, func() { s.restart(s.hosts[a]) })
	s.RunUntil(next+10*time.Millisecond, nil)
	if s.failure != nil {
		t.Fatal(s.failure)
	}
	vb := s.chk.views[b].status
	p, pid := spawnProbe(t, s)
	if vb.Role != raft.Leader {
		// The rebooted node kept the promise it made before going down.
		t.Logf("node %d was not elected (%s in term %d): rebooted node %d ignored its campaign", b, vb.Role.String(), vb.Term, a)
		s.system.Root.Send(pid, probeSend{to: s.hosts[l].pid, msg: &actors.Read{ID: 2, Mode: actors.ReadLease}})
		s.RunUntil(s.clock.now+10*time.Millisecond, func() bool { return len(p.answers) == 1 })
		if r := p.answers[0].(*actors.ReadResult); r.Err != nil {
			t.Fatalf("lease read on the leader %d, whose lease still runs: %v", l, r.Err)
		}
		return
	}
	if s.chk.views[l].status.Role != raft.Leader {
		t.Fatalf("the old leader %d stepped down already: the scenario did not arise", l)
	}
	t.Logf("node %d leads term %d while node %d still leads term %d", b, vb.Term, l, term)
	s.system.Root.Send(pid, probeSend{to: s.hosts[b].pid, msg: &actors.Propose{ID: 1, Data: []byte("after")}})
	s.RunUntil(s.clock.now+10*time.Millisecond, func() bool { return len(p.answers) == 1 })
	w, ok := p.answers[0].(*actors.ProposeResult)
	if !ok || w.Err != nil {
		t.Fatalf("write to the new leader: %+v", p.answers[0])
	}
	s.system.Root.Send(pid, probeSend{to: s.hosts[l].pid, msg: &actors.Read{ID: 2, Mode: actors.ReadLease}})
	s.RunUntil(s.clock.now+10*time.Millisecond, func() bool { return len(p.answers) == 2 })
	r := p.answers[1].(*actors.ReadResult)
	t.Logf("write acknowledged at index %d at %v; lease read on the old leader: index %d, err %v", w.Index, s.clock.now, r.Index, r.Err)
	if r.Err == nil && r.Index < w.Index {
		t.Fatalf("stale lease read: the old leader %d answered index %d after index %d was acknowledged by the new leader %d", l, r.Index, w.Index, b)
	}
}
