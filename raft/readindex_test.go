package raft

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	pb "github.com/kontiki-raft/kontiki/messages"
)

// settledLeader is a 3-node cluster with node 1 leading and every node caught
// up (the leader's entry of its term is committed everywhere).
func settledLeader(t *testing.T, tweak func(*Config)) *testCluster {
	t.Helper()
	c := newTestCluster(t, 3, tweak)
	c.campaign(1)
	c.tickAll(1)
	return c
}

func readCtxs(rs []ReadState) []string {
	var out []string
	for _, r := range rs {
		out = append(out, string(r.RequestCtx))
	}
	return out
}

func TestReadIsAnsweredOnlyAfterAQuorumAcksARoundStartedAfterIt(t *testing.T) {
	c := settledLeader(t, nil)
	lead := c.nodes[1]
	// A heartbeat round is under way when the read arrives.
	c.tick(1, 1)
	earlier := c.take(isType(pb.MessageType_MSG_HEARTBEAT))
	if len(earlier) != 2 {
		t.Fatalf("%d heartbeats", len(earlier))
	}
	if err := lead.r.ReadIndex([]byte("r1")); err != nil {
		t.Fatal(err)
	}
	c.flushReady(1)
	later := c.take(isType(pb.MessageType_MSG_HEARTBEAT))
	if len(later) != 2 {
		t.Fatalf("the read started no round of its own: %d heartbeats", len(later))
	}
	// Both followers acknowledge only the earlier round: it may have left
	// before the read arrived, so it proves nothing about the read.
	for _, m := range earlier {
		c.deliver(m)
	}
	for _, m := range c.take(isType(pb.MessageType_MSG_HEARTBEAT_RESP)) {
		c.deliver(m)
	}
	if len(lead.reads) != 0 {
		t.Fatalf("read answered %v on acks of a round started before it", lead.reads)
	}
	// One follower acknowledges the later round: with the leader, a quorum.
	c.deliver(later[0])
	for _, m := range c.take(isType(pb.MessageType_MSG_HEARTBEAT_RESP)) {
		c.deliver(m)
	}
	if got := readCtxs(lead.reads); !slices.Equal(got, []string{"r1"}) {
		t.Fatalf("reads %v, want r1 once a quorum acked the round after it", got)
	}
	if lead.reads[0].Index != c.status(1).Commit {
		t.Fatalf("read index %d, want the commit index %d at the time of the read", lead.reads[0].Index, c.status(1).Commit)
	}
}

func TestReadIndexCoversEveryWriteCommittedBeforeTheRead(t *testing.T) {
	c := settledLeader(t, nil)
	for _, d := range []string{"a", "b"} {
		if err := c.propose(1, d); err != nil {
			t.Fatal(err)
		}
	}
	written := c.status(1).Commit
	if err := c.nodes[1].r.ReadIndex([]byte("r")); err != nil {
		t.Fatal(err)
	}
	c.deliverAll()
	reads := c.nodes[1].reads
	if len(reads) != 1 || reads[0].Index < written {
		t.Fatalf("reads %v, want one at index ≥ %d", reads, written)
	}
}

func TestReadIsNotAnsweredBeforeTheLeadersFirstEntryOfItsTermCommits(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	// The new leader's appends are lost: its empty entry does not commit.
	c.drop = isType(pb.MessageType_MSG_APP)
	c.campaign(1)
	if c.nodes[1].r.Role() != Leader {
		t.Fatal("no leader")
	}
	if c.nodes[1].r.CommittedInTerm() {
		t.Fatal("leader claims an entry of its term committed")
	}
	if err := c.nodes[1].r.ReadIndex([]byte("early")); err != nil {
		t.Fatal(err)
	}
	c.tickAll(5) // heartbeats are acknowledged, appends still lost
	if len(c.nodes[1].reads) != 0 {
		t.Fatalf("answered %v before the leader committed an entry of its term", c.nodes[1].reads)
	}
	c.drop = nil
	c.tickAll(2)
	if got := readCtxs(c.nodes[1].reads); !slices.Equal(got, []string{"early"}) {
		t.Fatalf("reads %v, want the early read answered once the term's entry committed", got)
	}
	if idx := c.nodes[1].reads[0].Index; idx < 1 {
		t.Fatalf("read index %d, want at least the leader's empty entry 1", idx)
	}
}

func TestManyReadsBetweenRoundsShareOneRound(t *testing.T) {
	c := settledLeader(t, nil)
	c.resetTrace()
	var want []string
	for i := 0; i < 10; i++ {
		ctx := fmt.Sprintf("r%d", i)
		want = append(want, ctx)
		if err := c.nodes[1].r.ReadIndex([]byte(ctx)); err != nil {
			t.Fatal(err)
		}
	}
	c.deliverAll()
	if got := c.sent[pb.MessageType_MSG_HEARTBEAT]; got != 2 {
		t.Fatalf("10 reads cost %d heartbeats, want 2 (one round)", got)
	}
	if got := readCtxs(c.nodes[1].reads); !slices.Equal(got, want) {
		t.Fatalf("reads %v, want %v in order", got, want)
	}
}

func TestFollowerReadIsForwardedToTheLeaderAndAnswered(t *testing.T) {
	c := settledLeader(t, nil)
	_ = c.propose(1, "a")
	if err := c.nodes[2].r.ReadIndex([]byte("from-2")); err != nil {
		t.Fatal(err)
	}
	c.deliverAll()
	reads := c.nodes[2].reads
	if len(reads) != 1 || string(reads[0].RequestCtx) != "from-2" || reads[0].Index != c.status(1).Commit {
		t.Fatalf("follower reads %v, want from-2 at the leader's commit %d", reads, c.status(1).Commit)
	}
	if len(c.nodes[1].reads) != 0 {
		t.Fatalf("the leader kept a forwarded read for itself: %v", c.nodes[1].reads)
	}
	if got := c.count(isType(pb.MessageType_MSG_READ_INDEX_RESP)); got != 1 {
		t.Fatalf("%d read responses, want 1", got)
	}
}

func TestReadWithoutALeaderFails(t *testing.T) {
	for _, role := range []Role{Follower, PreCandidate, Candidate} {
		t.Run(role.String(), func(t *testing.T) {
			r, _ := soloInRole(t, role, nil)
			if err := r.ReadIndex([]byte("x")); !errors.Is(err, ErrNoLeader) {
				t.Fatalf("read: %v, want ErrNoLeader", err)
			}
		})
	}
}

func TestSingleNodeAnswersAReadAtOnce(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	c.campaign(1)
	c.resetTrace()
	if err := c.nodes[1].r.ReadIndex([]byte("solo")); err != nil {
		t.Fatal(err)
	}
	rd := c.nodes[1].r.Ready()
	if len(rd.ReadStates) != 1 || string(rd.ReadStates[0].RequestCtx) != "solo" || rd.ReadStates[0].Index != 1 {
		t.Fatalf("read states %v, want solo at 1 in the very next Ready", rd.ReadStates)
	}
	if len(rd.Messages) != 0 {
		t.Fatalf("a single node sent %v to answer a read", rd.Messages)
	}
}

func TestIsolatedLeaderNeverAnswersARead(t *testing.T) {
	c := settledLeader(t, nil)
	c.isolate(1)
	if err := c.nodes[1].r.ReadIndex([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	c.tickAll(30) // the old leader steps down; the others elect a new one
	c.heal()
	c.tickAll(30)
	if len(c.nodes[1].reads) != 0 {
		t.Fatalf("an isolated leader answered %v without a quorum", c.nodes[1].reads)
	}
	if c.leader() == 1 {
		t.Fatal("isolated leader kept leading")
	}
}

func TestReadyReportsHeartbeatRoundsAndTheRoundsAQuorumAcked(t *testing.T) {
	c := settledLeader(t, nil)
	lead := c.nodes[1]
	lead.heartbeatRounds, lead.quorumRounds = nil, nil
	c.tickAll(3)
	if len(lead.heartbeatRounds) != 3 || len(slices.Compact(slices.Clone(lead.heartbeatRounds))) != 3 || !slices.IsSorted(lead.heartbeatRounds) {
		t.Fatalf("heartbeat rounds %v, want 3 increasing rounds, one per Ready that started one", lead.heartbeatRounds)
	}
	// Each round is reported as acked by a quorum once, even though both
	// followers answer it.
	if !slices.Equal(lead.quorumRounds, lead.heartbeatRounds) {
		t.Fatalf("quorum rounds %v, want each heartbeat round %v once", lead.quorumRounds, lead.heartbeatRounds)
	}
	// A round only a minority answers is started but never reported acked.
	c.isolate(1)
	lead.heartbeatRounds, lead.quorumRounds = nil, nil
	c.tick(1, 1)
	c.deliverAll()
	if len(lead.heartbeatRounds) != 1 || len(lead.quorumRounds) != 0 {
		t.Fatalf("cut off: started %v, quorum-acked %v; want one started, none acked", lead.heartbeatRounds, lead.quorumRounds)
	}
	// Followers report no rounds.
	if f := c.nodes[2]; len(f.heartbeatRounds) != 0 || len(f.quorumRounds) != 0 {
		t.Fatalf("follower reported rounds %v %v", f.heartbeatRounds, f.quorumRounds)
	}
}

func TestReadRoundNumbersKeepIncreasingAcrossTerms(t *testing.T) {
	c := settledLeader(t, nil)
	c.tickAll(2)
	first := slices.Max(c.nodes[1].heartbeatRounds)
	// Node 1 hands leadership to 2 and gets it back in a later term.
	_ = c.nodes[1].r.TransferLeader(2)
	c.deliverAll()
	_ = c.nodes[2].r.TransferLeader(1)
	c.deliverAll()
	if c.leader() != 1 || c.nodes[1].r.Term() != 3 {
		t.Fatal("node 1 not re-elected")
	}
	c.nodes[1].heartbeatRounds = nil
	c.tickAll(1)
	if got := c.nodes[1].heartbeatRounds; len(got) != 1 || got[0] <= first {
		t.Fatalf("round after re-election %v, want above %d (a round number names one broadcast)", got, first)
	}
}
