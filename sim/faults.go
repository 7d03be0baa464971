// The fault schedule: while the fault phase lasts, at random moments, crash
// a node (the leader half the time; half of the crashes are quick reboots)
// or restart one, pause one, make one panic, partition the nodes (at random, or the
// leader alone in a minority), cut one direction of a link, heal, hand
// leadership over, or change how lossy the network is. Every choice comes from the seed's fault stream.
package sim

import (
	"time"

	"github.com/kontiki-raft/kontiki/actors"
	"github.com/kontiki-raft/kontiki/raft"
)

// faultPlan is the seed's choice of how rough the fault phase is.
type faultPlan struct {
	until    time.Duration // end of the fault phase
	meanGap  time.Duration // mean time between faults
	maxDown  int           // most nodes down at once
	dropMax  float64
	dupMax   float64
	slowMax  float64
	crashPct int // weight of crashes among faults
}

func (s *Sim) scheduleFault(p *faultPlan) {
	gap := time.Duration(s.faultRng.Int64N(int64(2*p.meanGap))) + time.Millisecond
	if s.clock.now+gap >= p.until {
		return
	}
	s.clock.after(gap, func() {
		s.fault(p)
		s.scheduleFault(p)
	})
}

func (s *Sim) fault(p *faultPlan) {
	r := s.faultRng
	n := s.cfg.Nodes
	up, down := s.nodesBy(true), s.nodesBy(false)
	x := r.IntN(100)
	switch {
	case x < p.crashPct:
		// Half of the crashes take the leader down, when there is one.
		// Half of them are reboots: the node is back within a few ticks.
		if len(down) < p.maxDown && len(up) > 0 {
			h := up[r.IntN(len(up))]
			if lead := s.leader(); lead != 0 && r.IntN(2) == 0 {
				h = s.hosts[lead]
			}
			s.crash(h)
			if r.IntN(2) == 0 {
				s.clock.after(time.Duration(r.Int64N(int64(5*s.cfg.TickInterval)))+time.Millisecond, func() { s.restart(h) })
			}
		}
	case x < 2*p.crashPct:
		if len(down) > 0 {
			s.restart(down[r.IntN(len(down))])
		}
	case x < 2*p.crashPct+5:
		if len(up) > 0 {
			s.injectPanic(up[r.IntN(len(up))])
		}
	case x < 2*p.crashPct+10:
		// A pause of up to three election timeouts, the leader's half the
		// time: a paused-then-resumed leader must not serve a stale lease.
		if len(up) > 0 {
			h := up[r.IntN(len(up))]
			if lead := s.leader(); lead != 0 && r.IntN(2) == 0 {
				h = s.hosts[lead]
			}
			s.pause(h, time.Duration(1+r.IntN(3*s.cfg.ElectionTicks))*s.cfg.TickInterval)
		}
	case x < 2*p.crashPct+25:
		side := make([]bool, n+1)
		for id := 1; id <= n; id++ {
			side[id] = r.IntN(2) == 0
		}
		s.partition(side)
		s.stats.Partitions++
		s.trace.event(s, "partition %v", side[1:])
	case x < 2*p.crashPct+37:
		// The leader, with fewer than half of the others, cut from the rest.
		lead := s.leader()
		if lead == 0 {
			lead = uint64(1 + r.IntN(n))
		}
		side := make([]bool, n+1)
		side[lead] = true
		for k := r.IntN((n - 1) / 2); k > 0; k-- {
			side[1+r.IntN(n)] = true
		}
		s.partition(side)
		s.stats.Partitions++
		s.trace.event(s, "isolate leader %d in minority %v", lead, side[1:])
	case x < 2*p.crashPct+47:
		a, b := 1+r.IntN(n), 1+r.IntN(n)
		if a != b {
			s.net.cut[a][b] = true
			s.stats.Cuts++
			s.trace.event(s, "cut %d->%d", a, b)
		}
	case x < 2*p.crashPct+62:
		s.net.heal()
		s.trace.event(s, "heal partitions")
	case x < 2*p.crashPct+67:
		// Hand leadership over (MsgTimeoutNow: a campaign that skips
		// pre-vote and the others' stickiness).
		if lead := s.leader(); lead != 0 {
			to := uint64(1 + r.IntN(n))
			s.stats.Transfers++
			s.trace.event(s, "transfer leadership %d -> %d", lead, to)
			s.system.Root.Send(s.hosts[lead].pid, &actors.TransferLeadership{To: to})
		}
	case x < 2*p.crashPct+77:
		s.net.drop = r.Float64() * p.dropMax
		s.net.dup = r.Float64() * p.dupMax
		s.net.slow = r.Float64() * p.slowMax
		s.trace.event(s, "network drop=%.3f dup=%.3f slow=%.3f", s.net.drop, s.net.dup, s.net.slow)
	}
}

// partition cuts every link between the two sides (both directions).
func (s *Sim) partition(side []bool) {
	s.net.heal()
	for a := 1; a < len(side); a++ {
		for b := 1; b < len(side); b++ {
			if side[a] != side[b] {
				s.net.cut[a][b] = true
			}
		}
	}
}

func (s *Sim) nodesBy(up bool) []*host {
	var out []*host
	for _, h := range s.hosts[1:] {
		if h.up == up {
			out = append(out, h)
		}
	}
	return out
}

// leader is the up node that last reported itself leader in the highest
// term, or 0.
func (s *Sim) leader() uint64 {
	var id, term uint64
	for _, h := range s.hosts[1:] {
		v := s.chk.views[h.id]
		if h.up && v.seen && v.status.Role == raft.Leader && v.status.Term >= term {
			id, term = h.id, v.status.Term
		}
	}
	return id
}
