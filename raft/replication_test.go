package raft

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	pb "github.com/kontiki-raft/kontiki/messages"
)

func terms(runs ...[2]uint64) []uint64 {
	var out []uint64
	for _, r := range runs {
		for i := uint64(0); i < r[0]; i++ {
			out = append(out, r[1])
		}
	}
	return out
}

func appEntryIndexes(m *pb.Message) []uint64 {
	var out []uint64
	for _, e := range m.Entries {
		out = append(out, e.Index)
	}
	return out
}

// --- Commit and persistence ---

func TestCommittedEntriesReachEveryNodeInOrder(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.campaign(1)
	for _, d := range []string{"a", "b", "c"} {
		if err := c.propose(1, d); err != nil {
			t.Fatal(err)
		}
	}
	// Followers learn the commit index with the next heartbeat.
	c.tick(1, 1)
	c.deliverAll()
	for _, id := range c.ids {
		if got := appliedData(c.nodes[id]); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("node %d applied %v", id, got)
		}
	}
}

func TestSingleNodeCommitsOnlyAfterItsOwnPersist(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	n := c.nodes[1]
	if err := n.r.Campaign(); err != nil {
		t.Fatal(err)
	}
	if n.r.Role() != Leader {
		t.Fatalf("single node role = %v", n.r.Role())
	}
	rd := n.r.Ready()
	if len(rd.Entries) != 1 || len(rd.CommittedEntries) != 0 {
		t.Fatalf("first Ready: %d entries, %d committed; the empty entry must not commit before it is durable", len(rd.Entries), len(rd.CommittedEntries))
	}
	c.persist(1, rd)
	n.r.Advance(rd)
	rd = n.r.Ready()
	if len(rd.CommittedEntries) != 1 {
		t.Fatalf("after persist: %d committed entries, want 1", len(rd.CommittedEntries))
	}
}

// proposeWithoutPersist proposes on the leader and sends its Ready's messages
// (a leader's appends may leave before its fsync) without persisting the
// entries or calling Advance; it returns the Ready to finish later.
func proposeWithoutPersist(t *testing.T, c *testCluster, lead uint64, data string) Ready {
	t.Helper()
	n := c.nodes[lead]
	if err := n.r.Propose([]byte(data)); err != nil {
		t.Fatal(err)
	}
	rd := n.r.Ready()
	if len(rd.Entries) != 1 {
		t.Fatalf("Ready has %d entries to persist, want 1", len(rd.Entries))
	}
	for _, m := range rd.Messages {
		if !SendsBeforePersist(m) {
			t.Fatalf("%v may not leave before the persist", m.Type)
		}
	}
	c.send(rd.Messages)
	return rd
}

// deliverToFollowersThenAcksToLeader delivers the queue to the followers and
// steps their responses into the leader without flushing the leader.
func deliverToFollowersThenAcksToLeader(c *testCluster, lead uint64) {
	for _, m := range c.take(func(m *pb.Message) bool { return m.To != lead }) {
		c.deliver(m)
	}
	for _, m := range c.take(func(m *pb.Message) bool { return m.To == lead }) {
		if !c.cut[[2]uint64{m.From, m.To}] {
			_ = c.nodes[lead].r.Step(m)
		}
	}
}

func TestLeaderCommitsOnTwoFollowerAcksBeforeItsOwnPersist(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.campaign(1)
	rd := proposeWithoutPersist(t, c, 1, "x")
	deliverToFollowersThenAcksToLeader(c, 1)
	if got := c.status(1).Commit; got != 2 {
		t.Fatalf("commit %d, want 2: both followers stored entry 2, a quorum without the leader", got)
	}
	c.persist(1, rd)
	c.nodes[1].r.Advance(rd)
	c.deliverAll()
	if got := appliedData(c.nodes[1]); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("leader applied %v", got)
	}
}

func TestLeaderWithAFollowerDownCommitsOnlyAfterItsOwnPersist(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.campaign(1)
	c.isolate(3)
	rd := proposeWithoutPersist(t, c, 1, "x")
	deliverToFollowersThenAcksToLeader(c, 1)
	if got := c.status(1).Commit; got != 1 {
		t.Fatalf("commit %d before the leader's persist, want 1: node 2 alone is no quorum", got)
	}
	c.persist(1, rd)
	c.nodes[1].r.Advance(rd)
	if got := c.status(1).Commit; got != 2 {
		t.Fatalf("commit %d after the leader's persist, want 2 (leader + node 2)", got)
	}
}

// --- Commit only entries of the current term (§5.4.2, Figure 8) ---

// figure8 sets up the paper's Figure 8 with five servers. S1 leads term 4
// with log [1:t1 2:t2]; S5 holds [1:t1 2:t3] from its term-3 leadership; S2
// and S3 hold only [1:t1]; S4 is down. S1's appends carrying its own term-4
// entry (index 3) are lost while withholdIndex3 is true.
func figure8(t *testing.T) (*testCluster, *bool) {
	t.Helper()
	c := newTestClusterWithLogs(t, [][]uint64{{1, 2}, {1}, {1}, {1}, {1, 3}}, 1, func(cfg *Config) {
		cfg.DisablePreVote = true
		cfg.DisableCheckQuorum = true
		cfg.MaxSizePerMsg = 1 // one entry per append
	})
	c.setTerm(1, 3)
	c.isolate(4)
	c.cut[[2]uint64{1, 5}], c.cut[[2]uint64{5, 1}] = true, true
	withhold := true
	c.drop = func(m *pb.Message) bool {
		if !withhold || m.Type != pb.MessageType_MSG_APP {
			return false
		}
		// Deliver only appends of index 3 that the follower will reject
		// (it lacks index 2 of term 2): they help S1 find the match point.
		to := c.nodes[m.To].r
		for _, e := range m.Entries {
			if e.Index == 3 && to.log.matchTerm(2, 2) {
				return true
			}
		}
		return false
	}
	c.campaign(1)
	if c.nodes[1].r.Role() != Leader || c.nodes[1].r.Term() != 4 {
		t.Fatalf("S1 is %v in term %d, want leader of term 4", c.nodes[1].r.Role(), c.nodes[1].r.Term())
	}
	return c, &withhold
}

func TestOldTermEntryOnAMajorityIsNotCommittedUntilACurrentTermEntryIs(t *testing.T) {
	c, withhold := figure8(t)
	for _, id := range []uint64{1, 2, 3} {
		if got := logTerms(c.nodes[id].r); len(got) < 2 || got[1] != 2 {
			t.Fatalf("S%d log terms %v: entry 2 of term 2 should be on S1, S2, S3", id, got)
		}
	}
	pr := c.status(1).Progress
	if pr[2].Match != 2 || pr[3].Match != 2 {
		t.Fatalf("S1 sees match S2=%d S3=%d, want 2 and 2", pr[2].Match, pr[3].Match)
	}
	if got := c.status(1).Commit; got != 1 {
		t.Fatalf("S1 committed %d: entry 2 (term 2) is on a majority but no entry of term 4 is, so it must not commit", got)
	}
	// Once S1's own entry 3 of term 4 reaches the majority, both commit.
	*withhold = false
	c.tick(1, 1)
	c.deliverAll()
	if got := c.status(1).Commit; got != 3 {
		t.Fatalf("S1 committed %d, want 3 once its term-4 entry is on a majority", got)
	}
	// Now S5, with its stale term-3 entry, can never win an election.
	c.isolate(1)
	for i := 0; i < 3; i++ {
		c.campaign(5)
	}
	if c.nodes[5].r.Role() == Leader {
		t.Fatal("S5 won an election without the committed entries")
	}
}

func TestUncommittedOldTermEntryMayBeOverwrittenByANewerLeader(t *testing.T) {
	c, withhold := figure8(t)
	// S1 crashes with entry 2 (term 2) on S1, S2, S3, uncommitted. S5's log
	// ends in term 3, more up to date than S2's and S3's.
	c.isolate(1)
	*withhold = false
	c.campaign(5) // term 4: S2 and S3 already voted for S1 in term 4
	c.campaign(5) // term 5
	if c.nodes[5].r.Role() != Leader {
		t.Fatalf("S5 is %v in term %d, want leader", c.nodes[5].r.Role(), c.nodes[5].r.Term())
	}
	c.tick(5, 1)
	c.deliverAll()
	for _, id := range []uint64{2, 3, 5} {
		if got := logTerms(c.nodes[id].r); len(got) < 2 || got[1] != 3 {
			t.Fatalf("S%d log terms %v, want entry 2 of term 3 (S5's)", id, got)
		}
	}
	if got := c.status(5).Commit; got < 2 {
		t.Fatalf("S5 commit %d", got)
	}
}

// --- Heartbeats ---

func TestHeartbeatCarriesCommitCappedAtTheFollowersMatch(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.campaign(1)
	c.drop = isTypeTo(pb.MessageType_MSG_APP, 3)
	_ = c.propose(1, "a")
	_ = c.propose(1, "b")
	if c.status(1).Commit != 3 {
		t.Fatalf("commit %d", c.status(1).Commit)
	}
	c.resetTrace()
	c.tick(1, 1)
	for _, m := range c.trace {
		if m.Type != pb.MessageType_MSG_HEARTBEAT {
			continue
		}
		want := map[uint64]uint64{2: 3, 3: 1}[m.To]
		if m.Commit != want {
			t.Fatalf("heartbeat to %d carries commit %d, want %d (min of its match and the commit index)", m.To, m.Commit, want)
		}
	}
}

func TestHeartbeatResponseFromALaggingFollowerTriggersCatchUp(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.campaign(1)
	c.drop = isTypeTo(pb.MessageType_MSG_APP, 3)
	for _, d := range []string{"a", "b", "c"} {
		_ = c.propose(1, d)
	}
	c.drop = nil
	c.deliverAll()
	if got := c.status(3).LastIndex; got != 1 {
		t.Fatalf("node 3 last index %d, want 1 (it missed the appends)", got)
	}
	c.resetTrace()
	c.tick(1, 1)
	c.deliverAll()
	if got := c.status(3).LastIndex; got != 4 {
		t.Fatalf("node 3 last index %d after a heartbeat round, want 4", got)
	}
	first := slices.IndexFunc(c.trace, func(m *pb.Message) bool { return m.Type == pb.MessageType_MSG_APP && m.To == 3 })
	resp := slices.IndexFunc(c.trace, func(m *pb.Message) bool { return m.Type == pb.MessageType_MSG_HEARTBEAT_RESP && m.From == 3 })
	if resp < 0 || first < resp {
		t.Fatalf("catch-up append at %d, heartbeat response at %d: the response must trigger it", first, resp)
	}
	c.tick(1, 1)
	c.deliverAll()
	if got := appliedData(c.nodes[3]); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("node 3 applied %v", got)
	}
}

func TestHeartbeatCommitBeyondOurLogIsNotApplied(t *testing.T) {
	// A leader only ever sends min(match, commit); a larger commit is from a
	// malformed message and must neither crash us nor commit entries we
	// cannot know match the leader's.
	r, s := newSoloRaft(t, 1, []uint64{1, 2, 3}, []uint64{1, 1}, nil)
	out := stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_HEARTBEAT, From: 2, To: 1, Term: 1, Commit: 10})
	if resp := onlyMsg(t, out); resp.Type != pb.MessageType_MSG_HEARTBEAT_RESP {
		t.Fatalf("answer %v", resp)
	}
	if got := r.Status().Commit; got != 0 {
		t.Fatalf("commit %d from a heartbeat claiming 10 with a log of 2", got)
	}
}

// --- Log backtracking with RejectHint and LogTerm ---

func TestConflictingFollowerIsBackedUpATermAtATime(t *testing.T) {
	cases := []struct {
		name             string
		leader, follower []uint64
		conflictingTerms int
	}{
		{
			name:             "100 conflicting entries of 2 terms interleaved with the leader's",
			leader:           terms([2]uint64{10, 1}, [2]uint64{50, 3}, [2]uint64{50, 5}),
			follower:         terms([2]uint64{10, 1}, [2]uint64{50, 2}, [2]uint64{50, 4}),
			conflictingTerms: 2,
		},
		{
			name:             "follower longer than the leader with 2 old terms",
			leader:           terms([2]uint64{10, 1}, [2]uint64{20, 4}),
			follower:         terms([2]uint64{10, 1}, [2]uint64{50, 2}, [2]uint64{50, 3}),
			conflictingTerms: 2,
		},
		{
			name:             "follower shorter than the leader",
			leader:           terms([2]uint64{10, 1}, [2]uint64{100, 2}),
			follower:         terms([2]uint64{10, 1}),
			conflictingTerms: 0,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClusterWithLogs(t, [][]uint64{tc.leader, tc.follower, tc.leader}, 10, nil)
			c.campaign(1)
			if c.leader() != 1 {
				t.Fatal("node 1 not elected")
			}
			rejections := c.count(func(m *pb.Message) bool {
				return m.Type == pb.MessageType_MSG_APP_RESP && m.From == 2 && m.Reject
			})
			// Each conflicting term costs at most one round trip, plus one
			// for the leader's first guess.
			if rejections > tc.conflictingTerms+1 {
				t.Fatalf("%d rejected appends for %d conflicting terms", rejections, tc.conflictingTerms)
			}
			t.Logf("%d rejections", rejections)
			want := append(slices.Clone(tc.leader), c.nodes[1].r.Term())
			if got := logTerms(c.nodes[2].r); !slices.Equal(got, want) {
				t.Fatalf("follower log terms %v, want the leader's %v", got, want)
			}
		})
	}
}

func TestRejectionCarriesAHintAtTheFollowersLastMatchingTerm(t *testing.T) {
	// Follower: 1..3 term 1, 4..6 term 2. The leader probes at index 6 with
	// term 3: the follower hints index 6 (term 2 ≤ 3) and its term there.
	r, s := newSoloRaft(t, 2, []uint64{1, 2, 3}, terms([2]uint64{3, 1}, [2]uint64{3, 2}), nil)
	resp := onlyMsg(t, stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_APP, From: 1, To: 2, Term: 4, Index: 6, LogTerm: 3}))
	if !resp.Reject || resp.Index != 6 || resp.RejectHint != 6 || resp.LogTerm != 2 {
		t.Fatalf("rejection %v, want index 6 hint 6 log term 2", resp)
	}
	// Probing beyond its log: the hint is its last index.
	resp = onlyMsg(t, stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_APP, From: 1, To: 2, Term: 4, Index: 20, LogTerm: 4}))
	if !resp.Reject || resp.RejectHint != 6 || resp.LogTerm != 2 {
		t.Fatalf("rejection %v, want hint 6 log term 2", resp)
	}
	// Probing at term 1 skips the whole term-2 run.
	resp = onlyMsg(t, stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_APP, From: 1, To: 2, Term: 4, Index: 5, LogTerm: 1}))
	if !resp.Reject || resp.RejectHint != 3 || resp.LogTerm != 1 {
		t.Fatalf("rejection %v, want hint 3 log term 1", resp)
	}
}

func TestAppendBelowOurCommitIsAnsweredWithOurCommit(t *testing.T) {
	r, s := newSoloRaft(t, 2, []uint64{1, 2, 3}, []uint64{1, 1, 1}, nil)
	stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_APP, From: 1, To: 2, Term: 1, Index: 3, LogTerm: 1, Commit: 3})
	resp := onlyMsg(t, stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_APP, From: 1, To: 2, Term: 1, Index: 1, LogTerm: 1, Entries: []*pb.Entry{{Index: 2, Term: 1}}}))
	if resp.Reject || resp.Index != 3 {
		t.Fatalf("answer %v, want an ack of our commit 3", resp)
	}
}

func TestStaleAppendDoesNotTruncateNewerEntries(t *testing.T) {
	r, s := newSoloRaft(t, 2, []uint64{1, 2, 3}, []uint64{1, 1, 1, 1}, nil)
	// A delayed append carrying only entry 2 arrives after 3 and 4.
	resp := onlyMsg(t, stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_APP, From: 1, To: 2, Term: 1, Index: 1, LogTerm: 1, Entries: []*pb.Entry{{Index: 2, Term: 1}}}))
	if resp.Reject || resp.Index != 2 {
		t.Fatalf("answer %v, want an ack of 2", resp)
	}
	if got := r.Status().LastIndex; got != 4 {
		t.Fatalf("last index %d: a stale append truncated matching entries", got)
	}
}

func TestMalformedAppendIsDropped(t *testing.T) {
	cases := []struct {
		name string
		m    *pb.Message
	}{
		{"entries skip an index", &pb.Message{Index: 1, LogTerm: 1, Entries: []*pb.Entry{{Index: 2, Term: 2}, {Index: 4, Term: 2}}}},
		{"entries do not start after index", &pb.Message{Index: 1, LogTerm: 1, Entries: []*pb.Entry{{Index: 5, Term: 2}}}},
		{"entries start at index itself", &pb.Message{Index: 2, LogTerm: 2, Entries: []*pb.Entry{{Index: 2, Term: 2}, {Index: 3, Term: 2}}}},
		{"entries repeat an index", &pb.Message{Index: 1, LogTerm: 1, Entries: []*pb.Entry{{Index: 2, Term: 2}, {Index: 2, Term: 2}}}},
		{"entry terms decrease", &pb.Message{Index: 1, LogTerm: 1, Entries: []*pb.Entry{{Index: 2, Term: 2}, {Index: 3, Term: 1}}}},
		{"entry term below the previous entry's", &pb.Message{Index: 2, LogTerm: 2, Entries: []*pb.Entry{{Index: 3, Term: 1}}}},
		{"entry term above the message's", &pb.Message{Index: 2, LogTerm: 2, Entries: []*pb.Entry{{Index: 3, Term: 9}}}},
		{"entry of term 0", &pb.Message{Index: 2, LogTerm: 2, Entries: []*pb.Entry{{Index: 3, Term: 0}}}},
		{"index overflows", &pb.Message{Index: ^uint64(0), LogTerm: 1, Entries: []*pb.Entry{{Index: 0, Term: 2}}}},
		{"last entry at the end of the index space", &pb.Message{Index: ^uint64(0) - 1, LogTerm: 1, Entries: []*pb.Entry{{Index: ^uint64(0), Term: 2}}}},
		{"index wraps around", &pb.Message{Index: ^uint64(0), LogTerm: 1, Entries: []*pb.Entry{{Index: 0, Term: 2}, {Index: 1, Term: 2}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, s := newSoloRaft(t, 2, []uint64{1, 2, 3}, []uint64{1, 2}, nil)
			stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_APP, From: 1, To: 2, Term: 2, Index: 2, LogTerm: 2, Commit: 1})
			before := logTerms(r)
			m := tc.m
			m.Type, m.From, m.To, m.Term = pb.MessageType_MSG_APP, 1, 2, 2
			out := stepSolo(t, r, s, m)
			for _, o := range out {
				if o.Type == pb.MessageType_MSG_APP_RESP && !o.Reject && o.Index > 2 {
					t.Fatalf("acknowledged index %d of a malformed append", o.Index)
				}
			}
			if got := logTerms(r); !slices.Equal(got, before) {
				t.Fatalf("log terms %v → %v after a malformed append", before, got)
			}
			if last, _ := s.LastIndex(); last != 2 {
				t.Fatalf("storage last index %d", last)
			}
		})
	}
}

func TestAppendAckBeyondTheLeadersLogIsIgnored(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.campaign(1)
	// A malformed ack from node 2, sent while it was still being probed.
	c.nodes[1].r.trk.progress[2].BecomeProbe()
	c.nodes[1].r.trk.progress[2].MsgAppFlowPaused = true
	if err := c.nodes[1].r.Step(&pb.Message{Type: pb.MessageType_MSG_APP_RESP, From: 2, To: 1, Term: 1, Index: 1000}); err != nil {
		t.Fatal(err)
	}
	c.deliverAll()
	if got := c.status(1).Progress[2].Match; got > c.status(1).LastIndex {
		t.Fatalf("leader records match %d for node 2 beyond its own last index %d", got, c.status(1).LastIndex)
	}
	if err := c.propose(1, "x"); err != nil {
		t.Fatal(err)
	}
	c.tick(1, 1) // the heartbeat response resumes the probe
	c.deliverAll()
	if c.status(2).LastIndex != 2 {
		t.Fatalf("replication to node 2 broke: its last index is %d", c.status(2).LastIndex)
	}
}

// --- Progress: probe, replicate, snapshot ---

func TestFollowerIsProbedOneAppendAtATimeThenStreamedInReplicate(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.MaxSizePerMsg = 1 })
	c.campaign(1)
	if st := c.status(1).Progress[2].State; st != "replicate" {
		t.Fatalf("after election node 2 is in %s, want replicate", st)
	}
	// The transport reports node 2 unreachable: back to probing.
	_ = c.nodes[1].r.Step(&pb.Message{Type: pb.MessageType_MSG_UNREACHABLE, From: 2})
	if st := c.status(1).Progress[2].State; st != "probe" {
		t.Fatalf("after unreachable node 2 is in %s, want probe", st)
	}
	var held []*pb.Message
	for _, d := range []string{"a", "b", "c"} {
		if err := c.nodes[1].r.Propose([]byte(d)); err != nil {
			t.Fatal(err)
		}
		c.flushReady(1)
		held = append(held, c.take(isTypeTo(pb.MessageType_MSG_APP, 2))...)
		c.deliverAll()
	}
	if len(held) != 1 {
		t.Fatalf("%d appends to a probed follower over 3 proposals, want 1 (one probe in flight)", len(held))
	}
	c.deliver(held[0])
	for _, m := range c.take(func(m *pb.Message) bool { return m.From == 2 }) {
		c.deliver(m)
	}
	if st := c.status(1).Progress[2].State; st != "replicate" {
		t.Fatalf("after the probe's ack node 2 is in %s, want replicate", st)
	}
	// Both remaining entries are in flight at once (one entry per append).
	if got := len(c.take(isTypeTo(pb.MessageType_MSG_APP, 2))); got != 2 {
		t.Fatalf("%d appends in flight after the probe was acked, want 2 streamed without waiting", got)
	}
	c.tick(1, 1)
	c.deliverAll()
	if c.status(2).LastIndex != 4 {
		t.Fatalf("node 2 last index %d, want 4", c.status(2).LastIndex)
	}
}

func TestRejectedAppendInReplicateFallsBackToProbe(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.campaign(1)
	c.drop = isTypeTo(pb.MessageType_MSG_APP, 2)
	_ = c.propose(1, "a") // lost on the way to node 2
	c.drop = nil
	var probeSeen bool
	if err := c.nodes[1].r.Propose([]byte("b")); err != nil {
		t.Fatal(err)
	}
	c.flushReady(1)
	for len(c.queue) > 0 {
		m := c.queue[0]
		c.queue = c.queue[1:]
		c.deliver(m)
		if m.Type == pb.MessageType_MSG_APP_RESP && m.From == 2 && m.Reject {
			if st := c.status(1).Progress[2].State; st != "probe" && st != "replicate" {
				t.Fatalf("state %s", st)
			}
			probeSeen = true
		}
	}
	if !probeSeen {
		t.Fatal("node 2 never rejected the append after the gap")
	}
	if c.status(2).LastIndex != 3 || c.status(1).Progress[2].State != "replicate" {
		t.Fatalf("node 2 last %d state %s, want 3 and replicate again", c.status(2).LastIndex, c.status(1).Progress[2].State)
	}
}

// --- Flow control ---

func TestFollowerThatDoesNotAckReceivesAtMostMaxInflightMsgsAppends(t *testing.T) {
	const maxInflight = 4
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.MaxInflightMsgs = maxInflight
		cfg.MaxSizePerMsg = 1
	})
	c.campaign(1)
	c.drop = func(m *pb.Message) bool { return m.Type == pb.MessageType_MSG_APP_RESP && m.From == 3 }
	c.resetTrace()
	for i := 0; i < 20; i++ {
		if err := c.propose(1, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Heartbeats keep flowing (node 3 answers them) but must not reopen
	// the window: only empty appends may go out while it is full.
	c.tickAll(5)
	withEntries := func(m *pb.Message) bool {
		return m.Type == pb.MessageType_MSG_APP && m.To == 3 && len(m.Entries) > 0
	}
	if got := c.count(withEntries); got != maxInflight {
		t.Fatalf("node 3 received %d appends with entries, want MaxInflightMsgs=%d", got, maxInflight)
	}
	if c.status(2).LastIndex != 21 {
		t.Fatalf("node 2 last index %d: the slow follower held back the others", c.status(2).LastIndex)
	}
	// Acks flow again: the window reopens and node 3 catches up.
	c.drop = nil
	c.tickAll(3)
	if got := c.status(3).LastIndex; got != 21 {
		t.Fatalf("node 3 last index %d after acks resumed, want 21", got)
	}
}

func TestFollowerThatDoesNotAckReceivesAtMostAboutMaxInflightBytes(t *testing.T) {
	const maxBytes = 1000
	const size = 300
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.MaxInflightMsgs = 100
		cfg.MaxInflightBytes = maxBytes
		cfg.MaxSizePerMsg = 1
	})
	c.campaign(1)
	c.drop = func(m *pb.Message) bool { return m.Type == pb.MessageType_MSG_APP_RESP && m.From == 3 }
	c.resetTrace()
	for i := 0; i < 10; i++ {
		if err := c.propose(1, string(bytes.Repeat([]byte{'a' + byte(i)}, size))); err != nil {
			t.Fatal(err)
		}
	}
	c.tickAll(5)
	var sent, largest uint64
	for _, m := range c.trace {
		if m.Type == pb.MessageType_MSG_APP && m.To == 3 {
			var b uint64
			for _, e := range m.Entries {
				b += payloadSize(e)
			}
			sent += b
			largest = max(largest, b)
		}
	}
	// The window closes once it holds MaxInflightBytes: at most one
	// message beyond it.
	if sent >= maxBytes+largest {
		t.Fatalf("node 3 received %d bytes of unacked entries, want below %d + one message (%d)", sent, maxBytes, largest)
	}
	if sent < maxBytes {
		t.Fatalf("node 3 received only %d bytes: the window closed early", sent)
	}
	c.drop = nil
	c.tickAll(3)
	if got := c.status(3).LastIndex; got != 11 {
		t.Fatalf("node 3 last index %d after acks resumed, want 11", got)
	}
}

func TestLeaderSplitsAppendsAtMaxSizePerMsg(t *testing.T) {
	const entry = 100
	maxMsg := 3 * (entry + 24) // three entries by entrySize
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.MaxSizePerMsg = uint64(maxMsg) })
	c.campaign(1)
	c.isolate(3)
	for i := 0; i < 30; i++ {
		_ = c.propose(1, string(bytes.Repeat([]byte{'x'}, entry)))
	}
	c.heal()
	c.resetTrace()
	c.tickAll(3)
	n := 0
	for _, m := range c.trace {
		if m.Type != pb.MessageType_MSG_APP || m.To != 3 || len(m.Entries) == 0 {
			continue
		}
		n++
		var size uint64
		for _, e := range m.Entries {
			size += entrySize(e)
		}
		if len(m.Entries) > 1 && size > uint64(maxMsg) {
			t.Fatalf("append of %d entries, %d bytes, above MaxSizePerMsg %d", len(m.Entries), size, maxMsg)
		}
	}
	if n < 10 {
		t.Fatalf("30 entries went in %d appends, want at least 10 (3 per message)", n)
	}
	if c.status(3).LastIndex != 31 {
		t.Fatalf("node 3 last index %d, want 31", c.status(3).LastIndex)
	}
}

func TestUncommittedLogCapRejectsProposalsUntilCommit(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.MaxUncommittedEntriesSize = 1000 })
	c.campaign(1)
	c.isolate(1)
	big := string(bytes.Repeat([]byte{'x'}, 300))
	for i := 0; i < 3; i++ {
		if err := c.propose(1, big); err != nil {
			t.Fatalf("proposal %d: %v", i, err)
		}
	}
	err := c.propose(1, big)
	if !errors.Is(err, ErrUncommittedLogFull) || !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("fourth proposal: %v, want ErrUncommittedLogFull (an ErrProposalDropped)", err)
	}
	c.heal()
	c.tickAll(2)
	if c.status(1).Commit != 4 {
		t.Fatalf("commit %d, want 4", c.status(1).Commit)
	}
	if err := c.propose(1, big); err != nil {
		t.Fatalf("after commit: %v", err)
	}
}

func TestLoneProposalLargerThanTheUncommittedCapIsAccepted(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.MaxUncommittedEntriesSize = 100 })
	c.campaign(1)
	if err := c.propose(1, string(bytes.Repeat([]byte{'x'}, 500))); err != nil {
		t.Fatalf("a lone oversized proposal with nothing uncommitted: %v (the leader would be stuck forever)", err)
	}
}

func TestProposeBatchIsOneAppendAndAllOrNothingAtTheCap(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.MaxUncommittedEntriesSize = 1000 })
	c.campaign(1)
	before := c.count(isTypeTo(pb.MessageType_MSG_APP, 2))
	if err := c.nodes[1].r.ProposeBatch([][]byte{[]byte("a"), []byte("b"), []byte("c")}); err != nil {
		t.Fatal(err)
	}
	c.deliverAll()
	c.tick(1, 1) // the commit index rides on the next heartbeat
	c.deliverAll()
	if got := appliedData(c.nodes[3]); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("batch applied as %v, want a b c in order", got)
	}
	var carried []int
	for _, m := range c.trace {
		if m.Type == pb.MessageType_MSG_APP && m.To == 2 && len(m.Entries) > 0 {
			carried = append(carried, len(m.Entries))
		}
	}
	if n := c.count(isTypeTo(pb.MessageType_MSG_APP, 2)) - before; len(carried) == 0 || carried[len(carried)-1] != 3 || n > 2 {
		t.Fatalf("node 2 got %d appends after the batch, entries per non-empty append %v; want the 3 entries in one", n, carried)
	}
	c.isolate(1)
	big := bytes.Repeat([]byte{'x'}, 400)
	if err := c.nodes[1].r.Propose(big); err != nil {
		t.Fatal(err)
	}
	last := c.status(1).LastIndex
	err := c.nodes[1].r.ProposeBatch([][]byte{big, big})
	if !errors.Is(err, ErrUncommittedLogFull) || c.status(1).LastIndex != last {
		t.Fatalf("a batch past the cap: %v, last index %d → %d; want ErrUncommittedLogFull and nothing appended", err, last, c.status(1).LastIndex)
	}
	if err := c.nodes[1].r.Propose(big); err != nil {
		t.Fatalf("one item of the refused batch alone still fits: %v", err)
	}
	if err := c.nodes[1].r.ProposeBatch(nil); err == nil {
		t.Fatal("an empty batch was accepted")
	}
}

// --- Proposals ---

func TestFollowerForwardsProposalToTheLeader(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.campaign(1)
	if err := c.propose(2, "x"); err != nil {
		t.Fatal(err)
	}
	fwd := c.trace[slices.IndexFunc(c.trace, isType(pb.MessageType_MSG_PROP))]
	if fwd.From != 2 || fwd.To != 1 || fwd.Term != 0 {
		t.Fatalf("forwarded proposal %v, want from 2 to 1 with term 0", fwd)
	}
	c.tick(1, 1)
	c.deliverAll()
	if got := appliedData(c.nodes[3]); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("forwarded proposal applied as %v", got)
	}
}

func TestProposalWithoutALeaderFailsAtOnce(t *testing.T) {
	for _, role := range []Role{Follower, PreCandidate, Candidate} {
		t.Run(role.String(), func(t *testing.T) {
			r, s := soloInRole(t, role, nil)
			err := r.Propose([]byte("x"))
			if !errors.Is(err, ErrNoLeader) || !errors.Is(err, ErrProposalDropped) {
				t.Fatalf("proposal: %v, want ErrNoLeader (an ErrProposalDropped)", err)
			}
			if out := drain(r, s); len(out) != 0 {
				t.Fatalf("sent %v", out)
			}
		})
	}
}

func TestFollowerWithForwardingDisabledDropsProposals(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.DisableProposalForwarding = true })
	c.campaign(1)
	if err := c.propose(2, "x"); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("proposal: %v, want ErrProposalDropped", err)
	}
}

func TestForwardedRequestCarryingATermIsForwardedWithoutIt(t *testing.T) {
	// Proposals, reads and transfers reach the leader as local requests
	// (term 0); one that arrives from the wire with a term is still
	// forwarded, not a crash.
	for _, typ := range []pb.MessageType{pb.MessageType_MSG_PROP, pb.MessageType_MSG_READ_INDEX, pb.MessageType_MSG_TRANSFER_LEADER} {
		t.Run(typ.String(), func(t *testing.T) {
			r, s := soloInRole(t, Follower, nil)
			stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_HEARTBEAT, From: 2, To: 1, Term: 2})
			out := stepSolo(t, r, s, &pb.Message{Type: typ, From: 3, To: 1, Term: 2, Entries: []*pb.Entry{{Data: []byte("x")}}})
			fwd := onlyMsg(t, out)
			if fwd.Type != typ || fwd.To != 2 || fwd.From != 3 {
				t.Fatalf("forwarded %v", fwd)
			}
			if want := map[bool]uint64{true: 2, false: 0}[typ == pb.MessageType_MSG_TRANSFER_LEADER]; fwd.Term != want {
				t.Fatalf("forwarded with term %d, want %d", fwd.Term, want)
			}
		})
	}
}

// --- Snapshots ---

func TestFollowerBehindTheCompactedLogReceivesASnapshotAndContinues(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.campaign(1)
	c.isolate(3)
	for _, d := range []string{"a", "b", "c", "d", "e"} {
		_ = c.propose(1, d)
	}
	lead := c.nodes[1]
	if c.status(1).Applied != 6 {
		t.Fatalf("leader applied %d", c.status(1).Applied)
	}
	if _, err := lead.storage.CreateSnapshot(6, lead.r.ConfState(), []byte("state@6")); err != nil {
		t.Fatal(err)
	}
	if err := lead.storage.Compact(6); err != nil {
		t.Fatal(err)
	}
	c.heal()
	c.resetTrace()
	c.tick(1, 1)
	c.flushAll()
	// Run until the snapshot is on its way and look at node 3's progress.
	for len(c.queue) > 0 && c.count(isTypeTo(pb.MessageType_MSG_SNAP, 3)) == 0 {
		m := c.queue[0]
		c.queue = c.queue[1:]
		c.deliver(m)
	}
	if got := c.count(isTypeTo(pb.MessageType_MSG_SNAP, 3)); got != 1 {
		t.Fatalf("%d snapshots sent to node 3, want 1", got)
	}
	if st := c.status(1).Progress[3].State; st != "snapshot" {
		t.Fatalf("node 3 progress in %s while its snapshot is in flight, want snapshot", st)
	}
	// No appends to node 3 while its snapshot is in flight.
	before := c.count(isTypeTo(pb.MessageType_MSG_APP, 3))
	snaps := c.take(isTypeTo(pb.MessageType_MSG_SNAP, 3))
	_ = c.propose(1, "f")
	if got := c.count(isTypeTo(pb.MessageType_MSG_APP, 3)); got != before {
		t.Fatalf("%d appends sent to node 3 in snapshot state", got-before)
	}
	for _, m := range snaps {
		c.deliver(m)
	}
	c.deliverAll()
	if st := c.status(1).Progress[3].State; st != "replicate" {
		t.Fatalf("node 3 in %s after installing the snapshot, want replicate", st)
	}
	_ = c.propose(1, "g")
	c.tick(1, 1)
	c.deliverAll()
	st := c.status(3)
	if st.FirstIndex != 7 || st.LastIndex != 8 || st.Commit != 8 {
		t.Fatalf("node 3 first %d last %d commit %d, want 7, 8, 8", st.FirstIndex, st.LastIndex, st.Commit)
	}
	if got := appliedData(c.nodes[3]); !slices.Equal(got, []string{"f", "g"}) {
		t.Fatalf("node 3 applied %v after its snapshot, want [f g]", got)
	}
	if snap, _ := c.nodes[3].storage.Snapshot(); string(snap.Data) != "state@6" {
		t.Fatalf("node 3 snapshot data %q", snap.Data)
	}
}

func TestFailedSnapshotSendReturnsTheFollowerToProbe(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.campaign(1)
	c.isolate(3)
	_ = c.propose(1, "a")
	lead := c.nodes[1]
	if _, err := lead.storage.CreateSnapshot(2, lead.r.ConfState(), nil); err != nil {
		t.Fatal(err)
	}
	_ = lead.storage.Compact(2)
	c.heal()
	c.drop = isTypeTo(pb.MessageType_MSG_SNAP, 3)
	c.tick(1, 1)
	c.deliverAll()
	if st := c.status(1).Progress[3].State; st != "snapshot" {
		t.Fatalf("state %s, want snapshot", st)
	}
	_ = lead.r.Step(&pb.Message{Type: pb.MessageType_MSG_SNAP_STATUS, From: 3, Reject: true})
	if st := c.status(1).Progress[3].State; st != "probe" {
		t.Fatalf("state %s after a failed snapshot, want probe", st)
	}
	c.drop = nil
	c.tick(1, 1)
	c.deliverAll()
	if c.status(3).Commit != 2 {
		t.Fatalf("node 3 commit %d after the retry, want 2", c.status(3).Commit)
	}
}

func TestSnapshotOlderThanOurCommitIsIgnored(t *testing.T) {
	r, s := newSoloRaft(t, 2, []uint64{1, 2, 3}, []uint64{1, 1, 1, 1, 1}, nil)
	stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_APP, From: 1, To: 2, Term: 1, Index: 5, LogTerm: 1, Commit: 5})
	resp := onlyMsg(t, stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_SNAP, From: 1, To: 2, Term: 1, Snapshot: testSnapshot(3, 1, 1, 2, 3)}))
	if resp.Type != pb.MessageType_MSG_APP_RESP || resp.Index != 5 {
		t.Fatalf("answer %v, want an ack of our commit 5", resp)
	}
	if st := r.Status(); st.FirstIndex != 1 || st.LastIndex != 5 || st.Commit != 5 {
		t.Fatalf("first %d last %d commit %d: an old snapshot changed the log", st.FirstIndex, st.LastIndex, st.Commit)
	}
}

func TestSnapshotWhoseLastEntryWeHaveOnlyAdvancesCommit(t *testing.T) {
	r, s := newSoloRaft(t, 2, []uint64{1, 2, 3}, []uint64{1, 1, 1, 1, 1}, nil)
	stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_APP, From: 1, To: 2, Term: 1, Index: 5, LogTerm: 1, Commit: 2})
	resp := onlyMsg(t, stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_SNAP, From: 1, To: 2, Term: 1, Snapshot: testSnapshot(4, 1, 1, 2, 3)}))
	if resp.Index != 4 {
		t.Fatalf("answer %v, want an ack of 4", resp)
	}
	if st := r.Status(); st.FirstIndex != 1 || st.LastIndex != 5 || st.Commit != 4 {
		t.Fatalf("first %d last %d commit %d, want the log kept and commit 4", st.FirstIndex, st.LastIndex, st.Commit)
	}
}

func TestMalformedSnapshotIsIgnored(t *testing.T) {
	cases := []struct {
		name string
		snap *pb.Snapshot
	}{
		{"no snapshot", nil},
		{"no metadata", &pb.Snapshot{}},
		{"no membership", &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: 10, Term: 1}}},
		{"no voters", &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: 10, Term: 1, ConfState: &pb.ConfState{Learners: []uint64{2}}}}},
		{"term 0", testSnapshot(10, 0, 1, 2, 3)},
		{"term above the message's", testSnapshot(10, 9, 1, 2, 3)},
		{"index at the end of the index space", testSnapshot(^uint64(0), 2, 1, 2, 3)},
		{"index near the end of the index space", testSnapshot(^uint64(0)-2, 2, 1, 2, 3)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, s := newSoloRaft(t, 2, []uint64{1, 2, 3}, []uint64{1}, nil)
			stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_SNAP, From: 1, To: 2, Term: 2, Snapshot: tc.snap})
			if st := r.Status(); st.LastIndex != 1 || st.FirstIndex != 1 {
				t.Fatalf("malformed snapshot installed: first %d last %d", st.FirstIndex, st.LastIndex)
			}
			if cs := r.ConfState(); len(cs.Voters) != 3 {
				t.Fatalf("membership now %v", cs)
			}
		})
	}
}
