// Message budgets at the actor level: what an idle cluster and an election
// cost, counted on the simulated network.
package sim

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kontiki-raft/kontiki/actors"
	pb "github.com/kontiki-raft/kontiki/messages"
)

// healthy is a cluster on a reliable network (latency in [minLat, maxLat],
// no loss, no duplicates, no partitions), with no faults and no client.
// With spread false every node starts at time 0, so all tick together.
// The caller closes it.
func healthy(w *World, seed uint64, nodes int, minLat, maxLat time.Duration, spread bool) *Sim {
	s := New(w, Config{Seed: seed, Nodes: nodes, AuditStores: true})
	s.net.minLat, s.net.maxLat = minLat, maxLat
	r := rand.New(rand.NewPCG(seed, 1))
	for _, h := range s.hosts[1:] {
		if spread {
			s.clock.at(time.Duration(r.Int64N(int64(s.cfg.TickInterval))), func() { s.spawn(h) })
		} else {
			s.spawn(h)
		}
	}
	return s
}

// idle: one leader, followed by every node, everything committed and
// applied everywhere.
func (s *Sim) idle() bool {
	lead := s.leader()
	if lead == 0 {
		return false
	}
	ls := s.chk.views[lead].status
	for _, h := range s.hosts[1:] {
		v := s.chk.views[h.id]
		if !h.up || !v.seen || v.status.Term != ls.Term || v.status.Lead != lead ||
			v.status.Commit != ls.LastIndex || h.sm.applied() != ls.LastIndex {
			return false
		}
	}
	return true
}

func sentOf(s *Sim, types ...pb.MessageType) int {
	n := 0
	for _, t := range types {
		n += s.net.sent[t]
	}
	return n
}

func totalSent(s *Sim) int {
	n := 0
	for _, c := range s.net.sent {
		n += c
	}
	return n
}

// An idle cluster with a stable leader sends heartbeats and their responses,
// nothing else: over N leader ticks exactly N·(n−1) of each.
func TestIdleClusterSendsOnlyHeartbeats(t *testing.T) {
	const ticks = 100
	for _, n := range []int{3, 5, 7} {
		s := healthy(nil, 1, n, time.Millisecond, time.Millisecond, false)
		defer s.Close()
		tick := s.cfg.TickInterval
		if !s.RunUntil(5*time.Second, s.idle) {
			t.Fatalf("%d nodes: no stable leader within 5s: %v %s", n, s.failure, s.describe())
		}
		lead := s.leader()
		// Every node ticks at multiples of tick; a heartbeat and its
		// response take 2ms: a window from mid-tick to mid-tick holds
		// exactly the traffic of `ticks` leader ticks.
		from := (s.clock.now/tick+2)*tick + tick/2
		s.RunUntil(from, nil)
		hb0 := sentOf(s, pb.MessageType_MSG_HEARTBEAT)
		hbr0 := sentOf(s, pb.MessageType_MSG_HEARTBEAT_RESP)
		all0, other0 := totalSent(s), s.net.other
		s.RunUntil(from+ticks*tick, nil)
		if s.failure != nil {
			t.Fatal(s.failure)
		}
		hb := sentOf(s, pb.MessageType_MSG_HEARTBEAT) - hb0
		hbr := sentOf(s, pb.MessageType_MSG_HEARTBEAT_RESP) - hbr0
		all, other := totalSent(s)-all0, s.net.other-other0
		want := ticks * (n - 1)
		if hb != want || hbr != want || all != 2*want || other != 0 || s.leader() != lead {
			t.Fatalf("%d nodes, %d ticks: heartbeats %d, responses %d, all raft messages %d, other messages %d, leader %d→%d; want %d, %d, %d, 0, unchanged",
				n, ticks, hb, hbr, all, other, lead, s.leader(), want, want, 2*want)
		}
		t.Logf("%d nodes: %d ticks of a stable leader cost %d heartbeats + %d responses, nothing else", n, ticks, hb, hbr)
	}
}

// An election in a healthy cluster: every campaign (pre-vote, then vote)
// sends one request to each of the n−1 others and gets at most one answer
// from each, so it costs at most 4(n−1) messages, exactly that when one node
// campaigns alone; randomized timeouts keep campaigns few (at most 3 here,
// when timeouts collide). From boot to the leader's first entry committed
// everywhere, the rest is appends with their acks and heartbeats.
func TestElectionMessageBudget(t *testing.T) {
	const seeds = 60
	const maxCampaigns = 3
	w := NewWorld()
	for _, n := range []int{3, 5, 7} {
		campaigns := map[int]int{}
		worstTotal := 0
		for seed := uint64(1); seed <= seeds; seed++ {
			s := healthy(w, seed, n, time.Millisecond, 5*time.Millisecond, true)
			if !s.RunUntil(5*time.Second, s.idle) {
				t.Fatalf("%d nodes, seed %d: no stable leader within 5s: %v", n, seed, s.failure)
			}
			pv, pvr := sentOf(s, pb.MessageType_MSG_PRE_VOTE), sentOf(s, pb.MessageType_MSG_PRE_VOTE_RESP)
			v, vr := sentOf(s, pb.MessageType_MSG_VOTE), sentOf(s, pb.MessageType_MSG_VOTE_RESP)
			if pv%(n-1) != 0 || v%(n-1) != 0 || pvr > pv || vr > v {
				t.Fatalf("%d nodes, seed %d: pre-votes %d/%d answers, votes %d/%d answers: requests not whole rounds or more answers than requests", n, seed, pv, pvr, v, vr)
			}
			r := pv / (n - 1)
			campaigns[r]++
			if r > maxCampaigns || v/(n-1) > r {
				t.Fatalf("%d nodes, seed %d: %d pre-vote campaigns, %d vote campaigns; want at most %d, no more votes than pre-votes", n, seed, r, v/(n-1), maxCampaigns)
			}
			election := pv + pvr + v + vr
			if r == 1 && election != 4*(n-1) {
				t.Fatalf("%d nodes, seed %d: a single-campaign election cost %d messages, want %d", n, seed, election, 4*(n-1))
			}
			// Appends: the leader's empty entry, sent again once to a
			// follower whose heartbeat response overtook its ack (it is
			// still probed), and the commit that follows; each acknowledged.
			leaderTicks := int(s.clock.now/s.cfg.TickInterval) + 1
			apps := sentOf(s, pb.MessageType_MSG_APP, pb.MessageType_MSG_APP_RESP)
			if apps > 6*(n-1) {
				t.Fatalf("%d nodes, seed %d: %d appends and acks to commit the leader's first entry, want at most %d", n, seed, apps, 6*(n-1))
			}
			hb := sentOf(s, pb.MessageType_MSG_HEARTBEAT, pb.MessageType_MSG_HEARTBEAT_RESP)
			if hb > 2*(n-1)*leaderTicks {
				t.Fatalf("%d nodes, seed %d: %d heartbeats in %d ticks", n, seed, hb, leaderTicks)
			}
			if total := totalSent(s); total != election+apps+hb {
				t.Fatalf("%d nodes, seed %d: %d messages besides votes, appends and heartbeats", n, seed, total-election-apps-hb)
			}
			worstTotal = max(worstTotal, election+apps)
			if s.failure != nil {
				t.Fatal(s.failure)
			}
			s.Close()
		}
		t.Logf("%d nodes, %d seeds: elections by number of (pre-)campaigns %v; at most %d vote and append messages to a committed first entry", n, seeds, campaigns, worstTotal)
	}
}

// A burst of proposals that reach the leader together is appended as one
// batch: each follower gets one append carrying all of them and answers it
// once, whatever the burst's size.
func TestProposalBurstIsOneAppend(t *testing.T) {
	const burst = 50
	for _, n := range []int{3, 5} {
		s := healthy(nil, 1, n, time.Millisecond, time.Millisecond, false)
		defer s.Close()
		if !s.RunUntil(5*time.Second, s.idle) {
			t.Fatalf("%d nodes: no stable leader within 5s: %v %s", n, s.failure, s.describe())
		}
		lead := s.leader()
		// Start mid-tick so no heartbeat shares the window.
		tick := s.cfg.TickInterval
		at := (s.clock.now/tick+1)*tick + tick/4
		s.RunUntil(at, nil)
		app0 := sentOf(s, pb.MessageType_MSG_APP)
		resp0 := sentOf(s, pb.MessageType_MSG_APP_RESP)
		done := 0
		for i := range burst {
			s.system.Root.Send(s.hosts[lead].pid, &actors.Propose{ID: uint64(i + 1), Data: []byte{byte(i)}, Done: func(r *actors.ProposeResult) {
				if r.Err == nil {
					done++
				}
			}})
		}
		s.RunUntil(at+tick/2, func() bool { return done == burst })
		if s.failure != nil {
			t.Fatal(s.failure)
		}
		apps := sentOf(s, pb.MessageType_MSG_APP) - app0
		resps := sentOf(s, pb.MessageType_MSG_APP_RESP) - resp0
		if done != burst || apps != n-1 || resps != n-1 {
			t.Fatalf("%d nodes: %d of %d proposals committed within half a tick with %d appends and %d acks; want all, %d and %d",
				n, done, burst, apps, resps, n-1, n-1)
		}
		t.Logf("%d nodes: a burst of %d proposals committed with %d appends and %d acks", n, burst, apps, resps)
	}
}
