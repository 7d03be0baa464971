package raft

import (
	"fmt"
	"math/rand/v2"
	"testing"

	pb "github.com/kontiki-raft/kontiki/messages"
)

// stepSolo steps m into a solo node, persists its Ready and returns what it
// sent.
func stepSolo(t *testing.T, r *Raft, s *MemoryStorage, m *pb.Message) []*pb.Message {
	t.Helper()
	if err := r.Step(m); err != nil {
		t.Fatalf("step %v: %v", m.Type, err)
	}
	return drain(r, s)
}

func onlyMsg(t *testing.T, msgs []*pb.Message) *pb.Message {
	t.Helper()
	if len(msgs) != 1 {
		t.Fatalf("sent %d messages, want 1: %v", len(msgs), msgs)
	}
	return msgs[0]
}

// --- Logical time ---

func TestElectionTimeoutIsRandomizedBetweenOneAndTwoElectionTimeouts(t *testing.T) {
	const E = 10
	seen := map[int]bool{}
	for seed := uint64(0); seed < 300; seed++ {
		r, s := newSoloRaft(t, 1, []uint64{1, 2, 3}, nil, func(c *Config) {
			c.ElectionTick = E
			c.Rand = rand.New(rand.NewPCG(seed, seed*31+1))
		})
		// The drawn timeout itself, over many redraws.
		for i := 0; i < 20; i++ {
			r.resetRandomizedElectionTimeout()
			to := r.randomizedElectionTimeout
			if to < E || to >= 2*E {
				t.Fatalf("seed %d: randomized election timeout %d outside [%d, %d)", seed, to, E, 2*E)
			}
			seen[to] = true
		}
		// And as behaviour: a follower that hears nothing campaigns after
		// between E and 2E-1 ticks.
		r.becomeFollower(r.Term(), None)
		drain(r, s)
		ticks := 0
		for r.Role() == Follower {
			r.Tick()
			ticks++
			if ticks > 2*E {
				break
			}
		}
		if ticks < E || ticks >= 2*E {
			t.Fatalf("seed %d: follower campaigned after %d ticks, want [%d, %d)", seed, ticks, E, 2*E)
		}
	}
	if len(seen) != E {
		t.Fatalf("over 300 seeds only %d distinct timeouts were drawn, want all %d in [E, 2E)", len(seen), E)
	}
}

func TestLeaderHeartbeatsEveryHeartbeatTicks(t *testing.T) {
	const H = 3
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.HeartbeatTick = H })
	c.campaign(1)
	c.resetTrace()
	for tick := 1; tick <= 10*H; tick++ {
		before := c.sent[pb.MessageType_MSG_HEARTBEAT]
		c.tick(1, 1)
		c.deliverAll()
		got := c.sent[pb.MessageType_MSG_HEARTBEAT] - before
		want := 0
		if tick%H == 0 {
			want = 2
		}
		if got != want {
			t.Fatalf("tick %d: leader sent %d heartbeats, want %d (one per follower every %d ticks)", tick, got, want, H)
		}
	}
}

// --- Elections with pre-vote ---

func TestThreeNodesElectOneLeaderWithPreVote(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.campaign(1)
	if got := c.leader(); got != 1 {
		t.Fatalf("leader = %d, want 1", got)
	}
	for _, id := range c.ids {
		if term := c.nodes[id].r.Term(); term != 1 {
			t.Fatalf("node %d term = %d, want 1 (pre-vote must not raise terms twice)", id, term)
		}
		if lead := c.nodes[id].r.Lead(); lead != 1 {
			t.Fatalf("node %d lead = %d", id, lead)
		}
	}
}

func TestPreCandidateAsksForNextTermWithoutEnteringIt(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.setTerm(1, 4)
	n := c.nodes[1]
	if err := n.r.Campaign(); err != nil {
		t.Fatal(err)
	}
	c.flushReady(1)
	if n.r.Role() != PreCandidate {
		t.Fatalf("role = %v, want pre-candidate (pre-vote is on by default)", n.r.Role())
	}
	if n.r.Term() != 4 || n.r.Status().Vote != None {
		t.Fatalf("pre-candidate term %d vote %d, want term 4 and no vote", n.r.Term(), n.r.Status().Vote)
	}
	if hs, _, _ := n.storage.InitialState(); hs.Term != 4 || hs.Vote != None {
		t.Fatalf("persisted hard state %v: a pre-vote must leave no durable trace", hs)
	}
	reqs := c.take(isType(pb.MessageType_MSG_PRE_VOTE))
	if len(reqs) != 2 {
		t.Fatalf("%d pre-vote requests, want 2", len(reqs))
	}
	for _, m := range reqs {
		if m.Term != 5 {
			t.Fatalf("pre-vote to %d asks for term %d, want 5 (term+1)", m.To, m.Term)
		}
	}
	if c.count(isType(pb.MessageType_MSG_VOTE)) != 0 {
		t.Fatal("a real vote request left before the pre-vote was won")
	}
}

func TestRejectedPreVoteLeavesEveryTermUnchanged(t *testing.T) {
	// Node 3 missed entry 2: its log is behind, so both peers refuse it.
	c := newTestClusterWithLogs(t, [][]uint64{{1, 1}, {1, 1}, {1}}, 1, nil)
	c.campaign(3)
	if got := c.count(func(m *pb.Message) bool { return m.Type == pb.MessageType_MSG_PRE_VOTE_RESP && m.Reject }); got != 2 {
		t.Fatalf("%d pre-vote rejections, want 2", got)
	}
	for _, id := range c.ids {
		st := c.status(id)
		if st.Term != 1 || st.Vote != None {
			t.Fatalf("node %d term %d vote %d after a failed pre-vote, want term 1 and no vote", id, st.Term, st.Vote)
		}
	}
	if c.nodes[3].r.Role() != Follower {
		t.Fatalf("node 3 role = %v, want follower after losing its pre-vote", c.nodes[3].r.Role())
	}
	if c.count(isType(pb.MessageType_MSG_VOTE)) != 0 {
		t.Fatal("a lost pre-vote started a real election")
	}
}

// --- Vote rules (§5.2, §5.4.1) ---

func voteReq(typ pb.MessageType, from, term, lastIndex, lastTerm uint64) *pb.Message {
	return &pb.Message{Type: typ, From: from, To: 1, Term: term, Index: lastIndex, LogTerm: lastTerm}
}

func TestVoterGrantsARepeatedVoteToTheSameCandidate(t *testing.T) {
	r, s := newSoloRaft(t, 1, []uint64{1, 2, 3}, []uint64{1}, nil)
	for i := 0; i < 2; i++ {
		resp := onlyMsg(t, stepSolo(t, r, s, voteReq(pb.MessageType_MSG_VOTE, 2, 2, 1, 1)))
		if resp.Type != pb.MessageType_MSG_VOTE_RESP || resp.Reject || resp.Term != 2 || resp.To != 2 {
			t.Fatalf("request %d: response %v, want a grant in term 2 (a lost response must be repeatable)", i+1, resp)
		}
	}
	if st := r.Status(); st.Vote != 2 || st.Term != 2 {
		t.Fatalf("term %d vote %d, want term 2 vote 2", st.Term, st.Vote)
	}
}

func TestVoterRefusesASecondCandidateInTheSameTerm(t *testing.T) {
	r, s := newSoloRaft(t, 1, []uint64{1, 2, 3}, []uint64{1}, nil)
	stepSolo(t, r, s, voteReq(pb.MessageType_MSG_VOTE, 2, 2, 1, 1))
	resp := onlyMsg(t, stepSolo(t, r, s, voteReq(pb.MessageType_MSG_VOTE, 3, 2, 1, 1)))
	if !resp.Reject || resp.Term != 2 {
		t.Fatalf("second candidate got %v, want a rejection in term 2", resp)
	}
	if r.Status().Vote != 2 {
		t.Fatalf("vote moved to %d", r.Status().Vote)
	}
}

func TestFollowerWithAKnownLeaderRefusesAVoteInTheSameTerm(t *testing.T) {
	r, s := newSoloRaft(t, 1, []uint64{1, 2, 3}, []uint64{1}, nil)
	// Leader 2 of term 2 is heard from; we never voted in term 2.
	stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_HEARTBEAT, From: 2, To: 1, Term: 2})
	if r.Lead() != 2 || r.Status().Vote != None {
		t.Fatalf("lead %d vote %d", r.Lead(), r.Status().Vote)
	}
	resp := onlyMsg(t, stepSolo(t, r, s, voteReq(pb.MessageType_MSG_VOTE, 3, 2, 5, 2)))
	if !resp.Reject {
		t.Fatalf("granted a vote in term 2 while following leader 2 of that term: %v", resp)
	}
}

func TestPreVoteForAFutureTermIsGrantedDespiteAVoteCast(t *testing.T) {
	r, s := newSoloRaft(t, 1, []uint64{1, 2, 3}, []uint64{1}, nil)
	stepSolo(t, r, s, voteReq(pb.MessageType_MSG_VOTE, 2, 2, 1, 1))
	resp := onlyMsg(t, stepSolo(t, r, s, voteReq(pb.MessageType_MSG_PRE_VOTE, 3, 3, 1, 1)))
	if resp.Type != pb.MessageType_MSG_PRE_VOTE_RESP || resp.Reject || resp.Term != 3 {
		t.Fatalf("pre-vote for term 3 got %v, want a grant carrying term 3", resp)
	}
	if st := r.Status(); st.Term != 2 || st.Vote != 2 {
		t.Fatalf("after granting a pre-vote: term %d vote %d, want term 2 vote 2 unchanged", st.Term, st.Vote)
	}
}

func TestVoteRequiresCandidateLogAtLeastAsUpToDate(t *testing.T) {
	// The voter's log: terms 1, 1, 2 (last index 3, last term 2).
	cases := []struct {
		lastIndex, lastTerm uint64
		grant               bool
		why                 string
	}{
		{3, 2, true, "same last term and index"},
		{5, 2, true, "same last term, longer log"},
		{2, 2, false, "same last term, shorter log"},
		{1, 3, true, "higher last term wins even if shorter"},
		{9, 1, false, "lower last term loses even if longer"},
	}
	for _, typ := range []pb.MessageType{pb.MessageType_MSG_VOTE, pb.MessageType_MSG_PRE_VOTE} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%v/%s", typ, tc.why), func(t *testing.T) {
				r, s := newSoloRaft(t, 1, []uint64{1, 2, 3}, []uint64{1, 1, 2}, nil)
				resp := onlyMsg(t, stepSolo(t, r, s, voteReq(typ, 2, 3, tc.lastIndex, tc.lastTerm)))
				if resp.Reject == tc.grant {
					t.Fatalf("candidate (last index %d, last term %d): reject=%v, want grant=%v", tc.lastIndex, tc.lastTerm, resp.Reject, tc.grant)
				}
			})
		}
	}
}

func TestCandidateCountsVotesToWinLoseOrWait(t *testing.T) {
	type step struct {
		from    uint64
		granted bool
		want    VoteResult
	}
	cases := []struct {
		name  string
		steps []step
		role  Role
	}{
		{"two grants make a majority of five with its own", []step{{2, true, VotePending}, {3, true, VoteWon}}, Leader},
		{"three rejections of five lose", []step{{2, false, VotePending}, {3, false, VotePending}, {4, false, VoteLost}}, Follower},
		{"a split with one voter missing is pending", []step{{2, true, VotePending}, {3, false, VotePending}, {4, false, VotePending}}, Candidate},
		{"a repeated response counts once", []step{{2, true, VotePending}, {2, true, VotePending}}, Candidate},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, s := newSoloRaft(t, 1, []uint64{1, 2, 3, 4, 5}, nil, func(c *Config) { c.DisablePreVote = true })
			if err := r.Campaign(); err != nil {
				t.Fatal(err)
			}
			drain(r, s)
			for _, st := range tc.steps {
				stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_VOTE_RESP, From: st.from, To: 1, Term: 1, Reject: !st.granted})
				var got VoteResult
				switch r.Role() {
				case Leader:
					got = VoteWon
				case Follower:
					got = VoteLost
				default:
					_, _, got = r.trk.tallyVotes()
				}
				if got != st.want {
					t.Fatalf("after response of %d (granted=%v): %v, want %v", st.from, st.granted, got, st.want)
				}
			}
			if r.Role() != tc.role {
				t.Fatalf("role = %v, want %v", r.Role(), tc.role)
			}
			if r.Term() != 1 {
				t.Fatalf("term = %d, want 1", r.Term())
			}
		})
	}
}

func TestCandidateThatLosesStepsDownToFollower(t *testing.T) {
	// Node 3 is behind; without pre-vote it raises its term and asks.
	c := newTestClusterWithLogs(t, [][]uint64{{1, 1}, {1, 1}, {1}}, 1, func(cfg *Config) { cfg.DisablePreVote = true })
	c.campaign(3)
	n := c.nodes[3].r
	if n.Role() != Follower || n.Term() != 2 || n.Lead() != None {
		t.Fatalf("losing candidate: role %v term %d lead %d, want follower of term 2 without leader", n.Role(), n.Term(), n.Lead())
	}
	// The others entered term 2 (a real vote raises terms) but voted no.
	for _, id := range []uint64{1, 2} {
		if st := c.status(id); st.Term != 2 || st.Vote != None {
			t.Fatalf("node %d term %d vote %d", id, st.Term, st.Vote)
		}
	}
	// One of the up-to-date nodes can still win term 3.
	c.campaign(1)
	if c.leader() != 1 || c.nodes[1].r.Term() != 3 {
		t.Fatalf("leader %d term %d", c.leader(), c.nodes[1].r.Term())
	}
}

func TestLearnerNeverCampaigns(t *testing.T) {
	s := NewMemoryStorage()
	s.SetConfState(&pb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}})
	cfg := newTestConfig(3, s)
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		r.Tick()
	}
	if err := r.Campaign(); err != nil {
		t.Fatal(err)
	}
	if r.Role() != Follower || r.Term() != 0 || len(r.Ready().Messages) != 0 {
		t.Fatalf("learner: role %v term %d", r.Role(), r.Term())
	}
}

func TestNewLeaderAppendsAnEmptyEntryOfItsTerm(t *testing.T) {
	c := newTestClusterWithLogs(t, [][]uint64{{1, 1}, {1, 1}, {1, 1}}, 2, nil)
	c.campaign(1)
	for _, id := range c.ids {
		if got := logTerms(c.nodes[id].r); len(got) != 3 || got[2] != 2 {
			t.Fatalf("node %d log terms %v, want [1 1 2]", id, got)
		}
		n := c.nodes[id]
		e := n.applied[len(n.applied)-1]
		if id == 1 && (e.Index != 3 || e.Term != 2 || len(e.Data) != 0) {
			t.Fatalf("leader applied %v last, want the empty entry 3 of term 2", e)
		}
	}
	if c.status(1).Commit != 3 {
		t.Fatalf("leader commit %d, want 3: its empty entry commits the earlier ones", c.status(1).Commit)
	}
}

// --- Message budgets ---

// A healthy election with pre-vote costs, for n voters with majority q, one
// pre-vote request and one response per peer, one vote request and one
// response per peer: 4(n-1). The leader's empty entry then costs one append
// per peer, one more per peer carrying the new commit index, and one more to
// each of the q-2 peers whose ack arrives before the quorum is complete (a
// probed follower that was paused may have missed a commit index, so its ack
// is answered with an append), each answered once: at most 2(2(n-1)+q-2).
// In all 8(n-1)+2(q-2): 16 messages for 3 nodes, 34 for 5. Nothing else.
func TestHealthyElectionCostsABoundedNumberOfMessages(t *testing.T) {
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d nodes", n), func(t *testing.T) {
			c := newTestCluster(t, n, nil)
			c.campaign(1)
			if c.leader() != 1 {
				t.Fatalf("no leader")
			}
			peers := n - 1
			q := n/2 + 1
			maxApps := 2*peers + q - 2
			exact := map[pb.MessageType]int{
				pb.MessageType_MSG_PRE_VOTE:      peers,
				pb.MessageType_MSG_PRE_VOTE_RESP: peers,
				pb.MessageType_MSG_VOTE:          peers,
				pb.MessageType_MSG_VOTE_RESP:     peers,
			}
			total := 0
			for typ, got := range c.sent {
				total += got
				switch typ {
				case pb.MessageType_MSG_APP, pb.MessageType_MSG_APP_RESP:
					if got > maxApps {
						t.Errorf("%v: %d, want at most %d", typ, got, maxApps)
					}
				default:
					if want, ok := exact[typ]; !ok || got != want {
						t.Errorf("%v: %d, want %d", typ, got, want)
					}
				}
			}
			if bound := 8*peers + 2*(q-2); total > bound {
				t.Errorf("election cost %d messages, want at most %d", total, bound)
			}
			t.Logf("%d-node election: %d messages %v", n, total, c.sent)
			for _, id := range c.ids {
				if c.status(id).Commit != 1 {
					t.Errorf("node %d commit %d, want 1", id, c.status(id).Commit)
				}
			}
		})
	}
}

// An idle cluster of 3 sends, per heartbeat interval, exactly one heartbeat
// to each follower and one response from each: 2 + 2, nothing else (no
// appends, no votes, no check-quorum traffic).
func TestIdleThreeNodeClusterSendsOnlyHeartbeats(t *testing.T) {
	const intervals = 50
	c := newTestCluster(t, 3, nil)
	c.campaign(1)
	c.tickAll(1) // followers learn the commit index
	c.resetTrace()
	c.tickAll(intervals) // H = 1: one interval per tick
	want := map[pb.MessageType]int{
		pb.MessageType_MSG_HEARTBEAT:      2 * intervals,
		pb.MessageType_MSG_HEARTBEAT_RESP: 2 * intervals,
	}
	for typ, got := range c.sent {
		if got != want[typ] {
			t.Errorf("%v: %d over %d intervals, want %d", typ, got, intervals, want[typ])
		}
	}
	if len(c.trace) != 4*intervals {
		t.Errorf("idle cluster sent %d messages over %d intervals, want %d", len(c.trace), intervals, 4*intervals)
	}
	if c.leader() != 1 || c.nodes[1].r.Term() != 1 {
		t.Fatalf("leadership changed while idle")
	}
}

// --- Check-quorum and leader stickiness ---

func TestLeaderIsolatedInMinorityStepsDownAfterElectionTimeout(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.campaign(1)
	c.isolate(1)
	// Peers were active in the round before the cut; the first check-quorum
	// resets that, the second finds no quorum: at most 2E ticks.
	c.tick(1, 10)
	if c.nodes[1].r.Role() != Leader {
		t.Fatal("leader stepped down while its quorum was recently active")
	}
	c.tick(1, 10)
	if c.nodes[1].r.Role() == Leader {
		t.Fatal("isolated leader still leads after a full election timeout without a quorum (check-quorum)")
	}
	// Time passes for the majority too; it elects a new leader.
	for i := 0; i < 20; i++ {
		c.tick(2, 1)
		c.tick(3, 1)
		c.deliverAll()
	}
	if lead := c.leader(); lead == 1 || lead == 0 {
		t.Fatalf("majority leader = %d", lead)
	}
}

func TestLeaderWithOneFollowerDownKeepsLeading(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.campaign(1)
	c.isolate(3)
	for i := 0; i < 10; i++ {
		c.tickAll(10)
		if c.nodes[1].r.Role() != Leader || c.nodes[1].r.Term() != 1 {
			t.Fatalf("after %d election timeouts: node 1 is %v in term %d; itself and node 2 are a quorum", i+1, c.nodes[1].r.Role(), c.nodes[1].r.Term())
		}
	}
	if err := c.propose(1, "x"); err != nil {
		t.Fatal(err)
	}
	if c.status(2).LastIndex != 2 || c.status(1).Commit != 2 {
		t.Fatalf("proposal not committed by the quorum {1, 2}")
	}
}

func TestSingleNodeLeaderStaysLeaderAcrossElectionTimeouts(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	c.campaign(1)
	c.tick(1, 100)
	if c.nodes[1].r.Role() != Leader || c.nodes[1].r.Term() != 1 {
		t.Fatalf("single node: %v in term %d after 10 election timeouts; it is its own quorum", c.nodes[1].r.Role(), c.nodes[1].r.Term())
	}
}

func TestPartitionedNodeRejoiningDoesNotDisruptLeader(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.campaign(1)
	c.isolate(3)
	// Everyone's time passes; node 3 times out again and again while cut
	// off. With pre-vote its term stays put.
	c.tickAll(100)
	if term := c.nodes[3].r.Term(); term != 1 {
		t.Fatalf("isolated node term = %d, want 1", term)
	}
	c.heal()
	c.tickAll(100)
	if c.leader() != 1 {
		t.Fatalf("leader = %d, want 1", c.leader())
	}
	for _, id := range c.ids {
		if st := c.status(id); st.Term != 1 || st.Lead != 1 {
			t.Fatalf("node %d: term %d lead %d, want term 1 under leader 1", id, st.Term, st.Lead)
		}
	}
}

func TestStaleLeaderBackFromAPartitionStepsDown(t *testing.T) {
	// Without check-quorum the cut-off leader does not notice by itself.
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.DisableCheckQuorum = true })
	c.campaign(1)
	c.isolate(1)
	c.campaign(2)
	if c.nodes[2].r.Role() != Leader || c.nodes[2].r.Term() != 2 {
		t.Fatalf("majority did not elect node 2 in term 2")
	}
	c.heal()
	c.tick(1, 1) // node 1 still believes it leads term 1 and heartbeats
	c.deliverAll()
	if st := c.status(1); st.Role != Follower || st.Term != 2 {
		t.Fatalf("stale leader: %v in term %d, want follower in term 2", st.Role, st.Term)
	}
	if c.leader() != 2 {
		t.Fatalf("leader = %d, want 2", c.leader())
	}
}
