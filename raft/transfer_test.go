package raft

import (
	"errors"
	"slices"
	"testing"

	pb "github.com/kontiki-raft/kontiki/messages"
)

func TestTransferToAnUpToDateFollowerSendsTimeoutNowAtOnce(t *testing.T) {
	c := settledLeader(t, nil)
	c.resetTrace()
	if err := c.nodes[1].r.TransferLeader(2); err != nil {
		t.Fatal(err)
	}
	c.flushReady(1)
	if len(c.trace) != 1 || c.trace[0].Type != pb.MessageType_MSG_TIMEOUT_NOW || c.trace[0].To != 2 {
		t.Fatalf("sent %v, want only MsgTimeoutNow to 2", c.trace)
	}
	c.deliverAll()
	if c.leader() != 2 || c.nodes[2].r.Term() != 2 {
		t.Fatalf("leader %d in term %d, want 2 in term 2", c.leader(), c.nodes[2].r.Term())
	}
	if st := c.status(1); st.Role != Follower || st.Lead != 2 {
		t.Fatalf("old leader: %v following %d", st.Role, st.Lead)
	}
}

func TestTransfereeCampaignsSkippingPreVoteAndStickiness(t *testing.T) {
	// Pre-vote and check-quorum are on: node 3 heard from leader 1 a tick
	// ago, so any ordinary campaign would be ignored by it.
	c := settledLeader(t, nil)
	c.resetTrace()
	if err := c.nodes[1].r.TransferLeader(2); err != nil {
		t.Fatal(err)
	}
	c.deliverAll()
	if got := c.count(isType(pb.MessageType_MSG_PRE_VOTE)); got != 0 {
		t.Fatalf("transferee sent %d pre-votes, want none", got)
	}
	for _, m := range c.trace {
		if m.Type == pb.MessageType_MSG_VOTE && !slices.Equal(m.Context, campaignTransfer) {
			t.Fatalf("transfer vote request without the transfer context: %v", m)
		}
		if m.Type == pb.MessageType_MSG_VOTE_RESP && m.Reject {
			t.Fatalf("node %d refused the transferee: %v", m.From, m)
		}
	}
	if c.leader() != 2 {
		t.Fatalf("leader %d, want 2", c.leader())
	}
	if st := c.status(3); st.Term != 2 || st.Vote != 2 || st.Lead != 2 {
		t.Fatalf("node 3 term %d vote %d lead %d, want it to have voted 2 in term 2 despite its lease", st.Term, st.Vote, st.Lead)
	}
}

func TestFollowerForwardsATransferRequestToTheLeader(t *testing.T) {
	c := settledLeader(t, nil)
	if err := c.nodes[3].r.TransferLeader(3); err != nil {
		t.Fatal(err)
	}
	c.deliverAll()
	if c.leader() != 3 {
		t.Fatalf("leader %d, want 3", c.leader())
	}
}

func TestTransferToALaggingFollowerCatchesItUpFirst(t *testing.T) {
	c := settledLeader(t, nil)
	c.drop = isTypeTo(pb.MessageType_MSG_APP, 3)
	for _, d := range []string{"a", "b", "c"} {
		_ = c.propose(1, d)
	}
	c.drop = nil
	c.resetTrace()
	if err := c.nodes[1].r.TransferLeader(3); err != nil {
		t.Fatal(err)
	}
	c.flushReady(1)
	if c.count(isType(pb.MessageType_MSG_TIMEOUT_NOW)) != 0 {
		t.Fatal("MsgTimeoutNow sent to a follower that lacks entries")
	}
	if c.count(isTypeTo(pb.MessageType_MSG_APP, 3)) == 0 {
		t.Fatal("no append sent to bring the transferee up to date")
	}
	c.deliverAll()
	timeout := slices.IndexFunc(c.trace, isType(pb.MessageType_MSG_TIMEOUT_NOW))
	caughtUp := slices.IndexFunc(c.trace, func(m *pb.Message) bool {
		return m.Type == pb.MessageType_MSG_APP_RESP && m.From == 3 && !m.Reject && m.Index == 4
	})
	if timeout < 0 || caughtUp < 0 || timeout < caughtUp {
		t.Fatalf("MsgTimeoutNow at %d, transferee's ack of 4 at %d: the ack must come first", timeout, caughtUp)
	}
	if c.leader() != 3 {
		t.Fatalf("leader %d, want 3", c.leader())
	}
	c.tickAll(1)
	for _, id := range c.ids {
		if got := appliedData(c.nodes[id]); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("node %d applied %v", id, got)
		}
	}
}

func TestProposalsDuringALeadershipTransferAreDropped(t *testing.T) {
	c := settledLeader(t, nil)
	c.isolate(3)
	if err := c.nodes[1].r.TransferLeader(3); err != nil {
		t.Fatal(err)
	}
	c.deliverAll()
	if c.nodes[1].r.LeadTransferee() != 3 {
		t.Fatalf("transferee %d", c.nodes[1].r.LeadTransferee())
	}
	if err := c.propose(1, "x"); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("proposal during a transfer: %v, want ErrProposalDropped", err)
	}
	if err := c.propose(2, "y"); err != nil {
		t.Fatalf("forwarding from a follower: %v", err)
	}
	if c.status(1).LastIndex != 1 {
		t.Fatalf("leader appended during a transfer: last index %d", c.status(1).LastIndex)
	}
}

func TestTransferAbandonedAfterAnElectionTimeoutReenablesProposals(t *testing.T) {
	c := settledLeader(t, nil)
	c.isolate(3) // the transferee never answers
	if err := c.nodes[1].r.TransferLeader(3); err != nil {
		t.Fatal(err)
	}
	c.deliverAll()
	c.tickAll(9)
	if err := c.propose(1, "x"); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("within the election timeout: %v, want ErrProposalDropped", err)
	}
	c.tickAll(1)
	if c.nodes[1].r.Role() != Leader {
		t.Fatal("leader stepped down")
	}
	if got := c.nodes[1].r.LeadTransferee(); got != None {
		t.Fatalf("transfer to %d still pending after an election timeout", got)
	}
	if err := c.propose(1, "x"); err != nil {
		t.Fatalf("after the transfer was abandoned: %v", err)
	}
}

func TestTransferToItselfOrALearnerIsIgnored(t *testing.T) {
	c := settledLeader(t, nil)
	c.resetTrace()
	if err := c.nodes[1].r.TransferLeader(1); err != nil {
		t.Fatal(err)
	}
	c.deliverAll()
	if c.nodes[1].r.LeadTransferee() != None || len(c.trace) != 0 {
		t.Fatalf("transfer to itself: transferee %d, sent %v", c.nodes[1].r.LeadTransferee(), c.trace)
	}
	if _, err := c.nodes[1].r.ApplyConfChange(confChangeData(t, pb.ConfChangeType_CONF_CHANGE_ADD_LEARNER, 4)); err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[1].r.TransferLeader(4); err != nil {
		t.Fatal(err)
	}
	if c.nodes[1].r.LeadTransferee() != None {
		t.Fatal("transfer to a learner accepted")
	}
}
