package raft

import (
	"fmt"
	"testing"

	pb "github.com/kontiki-raft/kontiki/messages"
)

// The term rules every server applies before its role sees a message
// (StepCommon): higher terms, lower terms, pre-vote and leader stickiness.

// soloInRole returns node 1 of {1, 2, 3} (log: one entry of term 1) in role,
// in term 2 (a pre-candidate asks for 3).
func soloInRole(t *testing.T, role Role, tweak func(*Config)) (*Raft, *MemoryStorage) {
	t.Helper()
	r, s := newSoloRaft(t, 1, []uint64{1, 2, 3}, []uint64{1}, tweak)
	switch role {
	case Follower:
		r.becomeFollower(2, None)
	case PreCandidate:
		r.becomeFollower(2, None)
		if err := r.Campaign(); err != nil {
			t.Fatal(err)
		}
	case Candidate:
		r.becomeFollower(1, None)
		r.becomeCandidate()
	case Leader:
		r.becomeFollower(1, None)
		r.becomeCandidate()
		r.becomeLeader()
	}
	drain(r, s)
	if r.Role() != role || r.Term() != 2 {
		t.Fatalf("setup: %v in term %d, want %v in term 2", r.Role(), r.Term(), role)
	}
	return r, s
}

var allRoles = []Role{Follower, PreCandidate, Candidate, Leader}

func testSnapshot(index, term uint64, voters ...uint64) *pb.Snapshot {
	return &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: index, Term: term, ConfState: &pb.ConfState{Voters: voters}}}
}

func TestHigherTermFromALeaderMakesUsItsFollower(t *testing.T) {
	msgs := []*pb.Message{
		{Type: pb.MessageType_MSG_APP, From: 3, To: 1, Term: 5, Index: 1, LogTerm: 1},
		{Type: pb.MessageType_MSG_HEARTBEAT, From: 3, To: 1, Term: 5},
		{Type: pb.MessageType_MSG_SNAP, From: 3, To: 1, Term: 5, Snapshot: testSnapshot(10, 4, 1, 2, 3)},
	}
	for _, role := range allRoles {
		for _, m := range msgs {
			t.Run(fmt.Sprintf("%v gets %v", role, m.Type), func(t *testing.T) {
				r, s := soloInRole(t, role, nil)
				stepSolo(t, r, s, m)
				if r.Role() != Follower || r.Term() != 5 || r.Lead() != 3 {
					t.Fatalf("%v in term %d following %d, want follower in term 5 following 3", r.Role(), r.Term(), r.Lead())
				}
			})
		}
	}
}

func TestHigherTermFromANonLeaderMakesUsFollowerWithoutLeader(t *testing.T) {
	msgs := []*pb.Message{
		{Type: pb.MessageType_MSG_APP_RESP, From: 3, To: 1, Term: 5},
		{Type: pb.MessageType_MSG_HEARTBEAT_RESP, From: 3, To: 1, Term: 5},
		{Type: pb.MessageType_MSG_VOTE_RESP, From: 3, To: 1, Term: 5, Reject: true},
		{Type: pb.MessageType_MSG_PRE_VOTE_RESP, From: 3, To: 1, Term: 5, Reject: true},
		{Type: pb.MessageType_MSG_VOTE, From: 3, To: 1, Term: 5, Index: 0, LogTerm: 0},
	}
	for _, role := range allRoles {
		for _, m := range msgs {
			t.Run(fmt.Sprintf("%v gets %v", role, m.Type), func(t *testing.T) {
				// Without check-quorum, so no lease holds the vote back.
				r, s := soloInRole(t, role, func(c *Config) { c.DisableCheckQuorum = true })
				stepSolo(t, r, s, m)
				if r.Role() != Follower || r.Term() != 5 || r.Lead() != None {
					t.Fatalf("%v in term %d following %d, want follower in term 5 without leader", r.Role(), r.Term(), r.Lead())
				}
				if m.Type == pb.MessageType_MSG_VOTE && r.Status().Vote != None {
					t.Fatalf("voted for %d, a candidate whose log is behind ours", r.Status().Vote)
				}
			})
		}
	}
}

func TestPreVoteRequestForAHigherTermDoesNotRaiseOurTerm(t *testing.T) {
	r, s := soloInRole(t, Follower, nil)
	resp := onlyMsg(t, stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_PRE_VOTE, From: 3, To: 1, Term: 7, Index: 1, LogTerm: 1}))
	if resp.Reject || resp.Term != 7 {
		t.Fatalf("response %v, want a grant carrying term 7", resp)
	}
	if r.Term() != 2 || r.Role() != Follower {
		t.Fatalf("pre-vote request moved us to %v in term %d", r.Role(), r.Term())
	}
}

func TestGrantedPreVoteDoesNotRaiseThePreCandidatesTerm(t *testing.T) {
	// Five voters: one grant is not yet a quorum, so we can watch the term.
	r, s := newSoloRaft(t, 1, []uint64{1, 2, 3, 4, 5}, []uint64{1}, nil)
	if err := r.Campaign(); err != nil {
		t.Fatal(err)
	}
	drain(r, s)
	stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_PRE_VOTE_RESP, From: 2, To: 1, Term: 2})
	if r.Role() != PreCandidate || r.Term() != 1 {
		t.Fatalf("after one grant: %v in term %d, want pre-candidate in term 1", r.Role(), r.Term())
	}
	// A stray grant reaching a follower does nothing either.
	f, fs := soloInRole(t, Follower, nil)
	stepSolo(t, f, fs, &pb.Message{Type: pb.MessageType_MSG_PRE_VOTE_RESP, From: 2, To: 1, Term: 9})
	if f.Term() != 2 || f.Role() != Follower {
		t.Fatalf("stray pre-vote grant moved a follower to %v in term %d", f.Role(), f.Term())
	}
	// The quorum of grants starts the real campaign in term+1.
	stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_PRE_VOTE_RESP, From: 3, To: 1, Term: 2})
	if r.Role() != Candidate || r.Term() != 2 {
		t.Fatalf("after a quorum of grants: %v in term %d, want candidate in term 2", r.Role(), r.Term())
	}
}

func TestVoteRequestWithinTheLeaseOfAKnownLeaderIsIgnored(t *testing.T) {
	for _, typ := range []pb.MessageType{pb.MessageType_MSG_VOTE, pb.MessageType_MSG_PRE_VOTE} {
		t.Run(typ.String(), func(t *testing.T) {
			r, s := soloInRole(t, Follower, nil)
			stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_HEARTBEAT, From: 2, To: 1, Term: 2})
			r.Tick() // still within the election timeout
			out := stepSolo(t, r, s, &pb.Message{Type: typ, From: 3, To: 1, Term: 3, Index: 5, LogTerm: 2})
			if len(out) != 0 || r.Term() != 2 || r.Lead() != 2 {
				t.Fatalf("sent %v, term %d lead %d: a vote request within the lease must be ignored, term unchanged", out, r.Term(), r.Lead())
			}
			// Once the leader has been silent for an election timeout the
			// request is considered.
			r.electionElapsed = r.electionTimeout
			resp := onlyMsg(t, stepSolo(t, r, s, &pb.Message{Type: typ, From: 3, To: 1, Term: 3, Index: 5, LogTerm: 2}))
			if resp.Reject {
				t.Fatalf("after the lease: %v rejected", typ)
			}
		})
	}
}

func TestTransferCampaignVoteBypassesTheLease(t *testing.T) {
	for _, role := range []Role{Follower, Leader} {
		t.Run(role.String(), func(t *testing.T) {
			r, s := soloInRole(t, role, nil)
			if role == Follower {
				stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_HEARTBEAT, From: 2, To: 1, Term: 2})
			}
			resp := onlyMsg(t, stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_VOTE, From: 3, To: 1, Term: 3, Index: 5, LogTerm: 2, Context: campaignTransfer}))
			if resp.Reject || resp.Term != 3 {
				t.Fatalf("transfer vote got %v, want a grant in term 3", resp)
			}
			if r.Term() != 3 || r.Role() != Follower || r.Status().Vote != 3 {
				t.Fatalf("%v in term %d vote %d, want follower in term 3 that voted 3", r.Role(), r.Term(), r.Status().Vote)
			}
		})
	}
}

func TestLowerTermAppendOrHeartbeatIsAnsweredInOurTerm(t *testing.T) {
	for _, typ := range []pb.MessageType{pb.MessageType_MSG_APP, pb.MessageType_MSG_HEARTBEAT} {
		for _, role := range allRoles {
			t.Run(fmt.Sprintf("%v gets %v", role, typ), func(t *testing.T) {
				r, s := soloInRole(t, role, nil)
				before := r.Status()
				resp := onlyMsg(t, stepSolo(t, r, s, &pb.Message{Type: typ, From: 3, To: 1, Term: 1, Index: 1, LogTerm: 1}))
				if resp.Type != pb.MessageType_MSG_APP_RESP || resp.Term != 2 || resp.To != 3 {
					t.Fatalf("answer %v, want MsgAppResp in term 2 to the stale leader", resp)
				}
				if after := r.Status(); after.Term != before.Term || after.Role != before.Role || after.Lead != before.Lead {
					t.Fatalf("state changed from %+v to %+v", before, after)
				}
			})
		}
	}
}

func TestLowerTermAppendIsDroppedWithoutPreVoteOrCheckQuorum(t *testing.T) {
	r, s := soloInRole(t, Follower, func(c *Config) { c.DisablePreVote, c.DisableCheckQuorum = true, true })
	if out := stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_APP, From: 3, To: 1, Term: 1, Index: 1, LogTerm: 1}); len(out) != 0 {
		t.Fatalf("answered %v; without pre-vote and check-quorum a stale leader hears our term from a vote", out)
	}
}

func TestLowerTermPreVoteIsRejectedInOurTerm(t *testing.T) {
	for _, role := range allRoles {
		t.Run(role.String(), func(t *testing.T) {
			r, s := soloInRole(t, role, nil)
			// A pre-vote for term 2 from a node in term 1: lower than ours
			// only if we are past 2; use our term 2 against a request for 1.
			resp := onlyMsg(t, stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_PRE_VOTE, From: 3, To: 1, Term: 1, Index: 9, LogTerm: 9}))
			if resp.Type != pb.MessageType_MSG_PRE_VOTE_RESP || !resp.Reject || resp.Term != 2 {
				t.Fatalf("answer %v, want a pre-vote rejection in term 2", resp)
			}
			if r.Term() != 2 || r.Role() != role {
				t.Fatalf("state changed to %v in term %d", r.Role(), r.Term())
			}
		})
	}
}

func TestOtherLowerTermMessagesAreDropped(t *testing.T) {
	msgs := []*pb.Message{
		{Type: pb.MessageType_MSG_VOTE, Index: 9, LogTerm: 9},
		{Type: pb.MessageType_MSG_VOTE_RESP},
		{Type: pb.MessageType_MSG_PRE_VOTE_RESP},
		{Type: pb.MessageType_MSG_APP_RESP, Index: 1},
		{Type: pb.MessageType_MSG_HEARTBEAT_RESP},
		{Type: pb.MessageType_MSG_SNAP, Snapshot: testSnapshot(10, 1, 1, 2, 3)},
		{Type: pb.MessageType_MSG_TIMEOUT_NOW},
		{Type: pb.MessageType_MSG_READ_INDEX_RESP, Index: 1, Entries: []*pb.Entry{{Data: []byte("r")}}},
	}
	for _, role := range allRoles {
		for _, m := range msgs {
			t.Run(fmt.Sprintf("%v gets %v", role, m.Type), func(t *testing.T) {
				r, s := soloInRole(t, role, nil)
				before := r.Status()
				m := &pb.Message{Type: m.Type, From: 3, To: 1, Term: 1, Index: m.Index, LogTerm: m.LogTerm, Snapshot: m.Snapshot, Entries: m.Entries}
				if out := stepSolo(t, r, s, m); len(out) != 0 {
					t.Fatalf("answered a stale %v with %v", m.Type, out)
				}
				after := r.Status()
				after.Progress, before.Progress = nil, nil
				if fmt.Sprint(after) != fmt.Sprint(before) || len(r.readStates) != 0 {
					t.Fatalf("stale %v changed state from %+v to %+v", m.Type, before, after)
				}
			})
		}
	}
}

func TestPeerMessageWithoutATermIsDropped(t *testing.T) {
	// Only local messages and forwarded proposals and reads travel without
	// a term; a peer message without one is malformed and must not move us
	// back to term 0 or be answered.
	msgs := []*pb.Message{
		{Type: pb.MessageType_MSG_APP, Index: 1, LogTerm: 1},
		{Type: pb.MessageType_MSG_HEARTBEAT},
		{Type: pb.MessageType_MSG_SNAP, Snapshot: testSnapshot(10, 1, 1, 2, 3)},
		{Type: pb.MessageType_MSG_VOTE, Index: 9, LogTerm: 9},
		{Type: pb.MessageType_MSG_PRE_VOTE, Index: 9, LogTerm: 9},
		{Type: pb.MessageType_MSG_VOTE_RESP},
		{Type: pb.MessageType_MSG_PRE_VOTE_RESP},
		{Type: pb.MessageType_MSG_APP_RESP, Index: 1},
		{Type: pb.MessageType_MSG_HEARTBEAT_RESP},
		{Type: pb.MessageType_MSG_TIMEOUT_NOW},
	}
	for _, role := range allRoles {
		for _, m := range msgs {
			t.Run(fmt.Sprintf("%v gets %v", role, m.Type), func(t *testing.T) {
				r, s := soloInRole(t, role, nil)
				before := r.Status()
				m := &pb.Message{Type: m.Type, From: 3, To: 1, Index: m.Index, LogTerm: m.LogTerm, Snapshot: m.Snapshot}
				if out := stepSolo(t, r, s, m); len(out) != 0 {
					t.Fatalf("answered a term-0 %v with %v", m.Type, out)
				}
				after := r.Status()
				if after.Term != before.Term || after.Role != before.Role || after.Lead != before.Lead || after.Vote != before.Vote {
					t.Fatalf("term-0 %v changed state from %+v to %+v", m.Type, before, after)
				}
			})
		}
	}
}

func TestPeerMessageClaimingToComeFromOurselvesIsDropped(t *testing.T) {
	// We never send a peer message to ourselves; one that says it is from us
	// would make us our own follower and forward proposals to ourselves.
	for _, role := range allRoles {
		t.Run(role.String(), func(t *testing.T) {
			r, s := soloInRole(t, role, nil)
			before := r.Status()
			for _, m := range []*pb.Message{
				{Type: pb.MessageType_MSG_APP, From: 1, To: 1, Term: 5, Index: 1, LogTerm: 1},
				{Type: pb.MessageType_MSG_HEARTBEAT, From: 1, To: 1, Term: 5},
				{Type: pb.MessageType_MSG_VOTE_RESP, From: 1, To: 1, Term: 2},
				{Type: pb.MessageType_MSG_APP_RESP, From: 1, To: 1, Term: 2, Index: 1},
			} {
				if out := stepSolo(t, r, s, m); len(out) != 0 {
					t.Fatalf("%v from ourselves answered with %v", m.Type, out)
				}
			}
			after := r.Status()
			if after.Term != before.Term || after.Role != before.Role || after.Lead != before.Lead {
				t.Fatalf("state changed from %+v to %+v", before, after)
			}
		})
	}
}

func TestMessageWithATermAtTheEndOfTheTermSpaceIsDropped(t *testing.T) {
	// Adopting such a term would overflow at the next campaign (term+1).
	for _, typ := range []pb.MessageType{pb.MessageType_MSG_HEARTBEAT, pb.MessageType_MSG_PROP, pb.MessageType_MSG_VOTE} {
		t.Run(typ.String(), func(t *testing.T) {
			r, s := soloInRole(t, Follower, nil)
			stepSolo(t, r, s, &pb.Message{Type: typ, From: 2, To: 1, Term: ^uint64(0), Entries: []*pb.Entry{{Data: []byte("x")}}})
			if r.Term() != 2 {
				t.Fatalf("adopted term %d", r.Term())
			}
			if err := r.Campaign(); err != nil {
				t.Fatal(err)
			}
			drain(r, s)
		})
	}
}
