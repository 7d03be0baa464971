package raft

import (
	"errors"
	"slices"
	"testing"

	pb "github.com/kontiki-raft/kontiki/messages"
	"google.golang.org/protobuf/proto"
)

func confChangeEntry(t *testing.T, index, term uint64, typ pb.ConfChangeType, id uint64) *pb.Entry {
	t.Helper()
	data, err := proto.Marshal(confChangeData(t, typ, id))
	if err != nil {
		t.Fatal(err)
	}
	return &pb.Entry{Index: index, Term: term, Type: pb.EntryType_ENTRY_CONF_CHANGE, Data: data}
}

func proposeConfChange(t *testing.T, c *testCluster, lead uint64, typ pb.ConfChangeType, id uint64) {
	t.Helper()
	if err := c.nodes[lead].r.ProposeConfChange(confChangeData(t, typ, id)); err != nil {
		t.Fatal(err)
	}
	c.deliverAll()
	c.tickAll(1) // followers learn the commit index and apply it too
}

func TestAddedNodeGetsProgressAndTheLog(t *testing.T) {
	c := settledLeader(t, nil)
	_ = c.propose(1, "a")
	proposeConfChange(t, c, 1, pb.ConfChangeType_CONF_CHANGE_ADD_NODE, 4)
	pr, ok := c.status(1).Progress[4]
	if !ok || pr.Learner {
		t.Fatalf("leader progress for node 4: %+v, %v", pr, ok)
	}
	// Node 4 starts knowing the membership before its addition.
	c.addNode(4, &pb.ConfState{Voters: []uint64{1, 2, 3}})
	c.tickAll(2)
	if got, want := logTerms(c.nodes[4].r), logTerms(c.nodes[1].r); !slices.Equal(got, want) {
		t.Fatalf("node 4 log %v, want the leader's %v", got, want)
	}
	for _, id := range c.ids {
		if got := c.nodes[id].r.ConfState().Voters; !slices.Equal(got, []uint64{1, 2, 3, 4}) {
			t.Fatalf("node %d voters %v", id, got)
		}
	}
	// Four voters need three: with 3 and 4 cut off nothing commits.
	c.isolate(3)
	c.isolate(4)
	commit := c.status(1).Commit
	_ = c.propose(1, "b")
	if c.status(1).Commit != commit {
		t.Fatal("committed with 2 of 4 voters")
	}
}

func TestRemovedVoterNoLongerCountsTowardTheQuorum(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	c.campaign(1)
	c.tickAll(1)
	// With 3 and 4 down, 2 of 4 is no quorum.
	c.isolate(3)
	c.isolate(4)
	_ = c.propose(1, "stuck")
	if got := c.status(1).Commit; got != 1 {
		t.Fatalf("commit %d with 2 of 4 voters", got)
	}
	c.heal()
	c.isolate(4)
	c.tickAll(1)
	if got := appliedData(c.nodes[1]); !slices.Equal(got, []string{"stuck"}) {
		t.Fatalf("with 3 back: applied %v", got)
	}
	proposeConfChange(t, c, 1, pb.ConfChangeType_CONF_CHANGE_REMOVE_NODE, 4)
	if got := c.nodes[1].r.ConfState().Voters; !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("voters %v after removing 4", got)
	}
	if _, ok := c.status(1).Progress[4]; ok {
		t.Fatal("leader still tracks removed node 4")
	}
	// Now 2 of the 3 remaining voters are a quorum.
	c.isolate(3)
	if err := c.propose(1, "after"); err != nil {
		t.Fatal(err)
	}
	if got := appliedData(c.nodes[1]); !slices.Equal(got, []string{"stuck", "after"}) {
		t.Fatalf("applied %v: nodes 1 and 2 are a quorum of {1, 2, 3}", got)
	}
}

func TestRemovingAVoterCommitsWhatTheNewQuorumHolds(t *testing.T) {
	// Nodes 1 and 2 hold entry 2; 3 and 4 do not. Under {1,2,3,4} that is
	// no quorum; under {1,2,3} it is.
	c := newTestCluster(t, 4, nil)
	c.campaign(1)
	c.tickAll(1)
	c.isolate(3)
	c.isolate(4)
	_ = c.propose(1, "x")
	if c.status(1).Commit != 1 {
		t.Fatal("committed with 2 of 4")
	}
	// Apply the removal directly (as if its entry had committed earlier):
	// the leader re-counts at once.
	if _, err := c.nodes[1].r.ApplyConfChange(confChangeData(t, pb.ConfChangeType_CONF_CHANGE_REMOVE_NODE, 4)); err != nil {
		t.Fatal(err)
	}
	if c.status(1).Commit != 2 {
		t.Fatalf("commit %d after the removal, want 2 (held by 1 and 2 of {1,2,3})", c.status(1).Commit)
	}
}

func TestSecondConfChangeWhileOneIsPendingIsRefused(t *testing.T) {
	c := settledLeader(t, nil)
	r := c.nodes[1].r
	if err := r.ProposeConfChange(confChangeData(t, pb.ConfChangeType_CONF_CHANGE_ADD_LEARNER, 4)); err != nil {
		t.Fatal(err)
	}
	err := r.ProposeConfChange(confChangeData(t, pb.ConfChangeType_CONF_CHANGE_ADD_LEARNER, 5))
	if !errors.Is(err, ErrConfChangePending) || !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("second change: %v, want ErrConfChangePending (an ErrProposalDropped)", err)
	}
	// Ordinary proposals are not held back.
	if err := r.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	c.deliverAll()
	if err := r.ProposeConfChange(confChangeData(t, pb.ConfChangeType_CONF_CHANGE_ADD_LEARNER, 5)); err != nil {
		t.Fatalf("after the first was applied: %v", err)
	}
}

func TestNewLeaderRefusesAConfChangeUntilEarlierOnesAreApplied(t *testing.T) {
	// Entry 2, a conf change of term 1, is in every log but not committed.
	logs := make([][]*pb.Entry, 3)
	for i := range logs {
		logs[i] = []*pb.Entry{{Index: 1, Term: 1}, confChangeEntry(t, 2, 1, pb.ConfChangeType_CONF_CHANGE_ADD_LEARNER, 4)}
	}
	c := newTestClusterWithEntries(t, logs, 1, nil)
	r := c.nodes[1].r
	if err := r.Campaign(); err != nil {
		t.Fatal(err)
	}
	c.flushAll()
	for len(c.queue) > 0 && r.Role() != Leader {
		m := c.queue[0]
		c.queue = c.queue[1:]
		c.deliver(m)
	}
	if r.Role() != Leader {
		t.Fatal("no leader")
	}
	if err := r.ProposeConfChange(confChangeData(t, pb.ConfChangeType_CONF_CHANGE_ADD_LEARNER, 5)); !errors.Is(err, ErrConfChangePending) {
		t.Fatalf("change proposed before the inherited one was applied: %v", err)
	}
	c.deliverAll()
	if got := r.ConfState().Learners; !slices.Equal(got, []uint64{4}) {
		t.Fatalf("learners %v after the inherited change applied", got)
	}
	if err := r.ProposeConfChange(confChangeData(t, pb.ConfChangeType_CONF_CHANGE_ADD_LEARNER, 5)); err != nil {
		t.Fatalf("after the inherited change applied: %v", err)
	}
}

func TestNodeWithACommittedButUnappliedConfChangeDoesNotCampaign(t *testing.T) {
	s := NewMemoryStorage()
	s.SetConfState(&pb.ConfState{Voters: []uint64{1, 2, 3}})
	_ = s.Append([]*pb.Entry{confChangeEntry(t, 1, 1, pb.ConfChangeType_CONF_CHANGE_REMOVE_NODE, 1)})
	s.SetHardState(&pb.HardState{Term: 1, Commit: 1})
	r, err := New(newTestConfig(1, s))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Campaign(); err != nil {
		t.Fatal(err)
	}
	if r.Role() != Follower || r.Term() != 1 {
		t.Fatalf("%v in term %d: campaigned under a membership about to change", r.Role(), r.Term())
	}
	// Once applied (it removes us) there is nothing to campaign for either.
	rd := r.Ready()
	if _, err := r.ApplyConfChange(confChangeData(t, pb.ConfChangeType_CONF_CHANGE_REMOVE_NODE, 1)); err != nil {
		t.Fatal(err)
	}
	r.Advance(rd)
	_ = r.Campaign()
	if r.Role() != Follower {
		t.Fatalf("a removed node campaigned")
	}
}

func TestRemovedLeaderStepsDownAndTheRestElectANewOne(t *testing.T) {
	c := settledLeader(t, nil)
	proposeConfChange(t, c, 1, pb.ConfChangeType_CONF_CHANGE_REMOVE_NODE, 1)
	if c.nodes[1].r.Role() == Leader {
		t.Fatal("removed leader still leads")
	}
	if err := c.nodes[1].r.Propose([]byte("x")); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("removed node accepted a proposal: %v", err)
	}
	c.isolate(1)
	c.tickAll(30)
	lead := c.leader()
	if lead != 2 && lead != 3 {
		t.Fatalf("leader %d after removing 1, want 2 or 3", lead)
	}
	if got := c.nodes[lead].r.ConfState().Voters; !slices.Equal(got, []uint64{2, 3}) {
		t.Fatalf("new leader's voters %v", got)
	}
}

func TestLearnerReceivesTheLogButDoesNotVoteUntilPromoted(t *testing.T) {
	c := settledLeader(t, nil)
	proposeConfChange(t, c, 1, pb.ConfChangeType_CONF_CHANGE_ADD_LEARNER, 4)
	c.addNode(4, &pb.ConfState{Voters: []uint64{1, 2, 3}})
	_ = c.propose(1, "a")
	c.tickAll(2)
	if got := appliedData(c.nodes[4]); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("learner applied %v", got)
	}
	if !c.status(1).Progress[4].Learner {
		t.Fatal("node 4 is not a learner")
	}
	// Two voters down: the learner's acks do not make a quorum.
	c.isolate(2)
	c.isolate(3)
	commit := c.status(1).Commit
	_ = c.propose(1, "b")
	if c.status(1).Commit != commit {
		t.Fatal("a learner's ack counted toward the quorum")
	}
	c.heal()
	c.tickAll(1)
	proposeConfChange(t, c, 1, pb.ConfChangeType_CONF_CHANGE_ADD_NODE, 4)
	if c.status(1).Progress[4].Learner || !slices.Equal(c.nodes[1].r.ConfState().Voters, []uint64{1, 2, 3, 4}) {
		t.Fatalf("promotion: voters %v", c.nodes[1].r.ConfState().Voters)
	}
}

func TestInvalidConfChangesAreRefused(t *testing.T) {
	r, _ := newSoloRaft(t, 1, []uint64{1, 2, 3}, nil, nil)
	cases := map[string]*pb.ConfChange{
		"no change":           {},
		"two changes at once": {Changes: []*pb.ConfChangeSingle{{NodeId: 4}, {NodeId: 5}}},
		"node 0":              {Changes: []*pb.ConfChangeSingle{{NodeId: 0}}},
		"demoting a voter":    confChangeData(t, pb.ConfChangeType_CONF_CHANGE_ADD_LEARNER, 2),
		"unknown type":        {Changes: []*pb.ConfChangeSingle{{Type: 99, NodeId: 4}}},
	}
	for name, cc := range cases {
		if _, err := r.ApplyConfChange(cc); err == nil {
			t.Fatalf("%s: accepted", name)
		}
	}
	if got := r.ConfState().Voters; !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("voters %v after refused changes", got)
	}
}
