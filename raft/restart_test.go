package raft

import (
	"testing"

	pb "github.com/kontiki-raft/kontiki/messages"
)

func quietAfterRestart(c *Config) { c.QuietAfterRestart = true }

func responsesTo(msgs []*pb.Message, to uint64, typ pb.MessageType) []*pb.Message {
	var out []*pb.Message
	for _, m := range msgs {
		if m.To == to && m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

// A follower that reboots right after acknowledging a leader must not vote
// before an election timeout has passed: the leader's lease (and leader
// stickiness) count on it. Found by the simulation (sim,
// TestLeaseReadAfterFollowerReboot): the rebooted node voted at once, a node
// cut off from the leader was elected with its vote, and the old leader,
// its lease still running, answered a lease read with a stale index.
func TestRestartedNodeIgnoresVotesForAnElectionTimeout(t *testing.T) {
	for _, typ := range []pb.MessageType{pb.MessageType_MSG_VOTE, pb.MessageType_MSG_PRE_VOTE} {
		t.Run(typ.String(), func(t *testing.T) {
			// Node 1 restarts in term 1 with one entry.
			r, s := newSoloRaft(t, 1, []uint64{1, 2, 3}, []uint64{1}, quietAfterRestart)
			req := &pb.Message{Type: typ, From: 3, To: 1, Term: 2, Index: 1, LogTerm: 1}
			if out := stepSolo(t, r, s, req); len(out) != 0 || r.Term() != 1 {
				t.Fatalf("just restarted: sent %d messages, term %d; want the request ignored, term 1", len(out), r.Term())
			}
			for i := 0; i < r.electionTimeout-1; i++ {
				r.Tick()
				drain(r, s)
			}
			if out := stepSolo(t, r, s, req); len(out) != 0 {
				t.Fatalf("%d ticks after restart: answered a vote request", r.electionTimeout-1)
			}
			r.Tick()
			drain(r, s)
			resp := responsesTo(stepSolo(t, r, s, req), 3, voteRespType(typ))
			if len(resp) != 1 || resp[0].Reject {
				t.Fatalf("an election timeout after restart: responses %v, want one grant", resp)
			}
		})
	}
}

// A node that never had a term (a new cluster) has nothing to keep quiet
// about; a transfer campaign is answered at once even after a restart.
func TestQuietAfterRestartSparesNewNodesAndTransfers(t *testing.T) {
	r, s := newSoloRaft(t, 1, []uint64{1, 2, 3}, nil, quietAfterRestart)
	resp := onlyMsg(t, stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_VOTE, From: 3, To: 1, Term: 1}))
	if resp.Reject {
		t.Fatal("a new node refused its first vote")
	}
	r, s = newSoloRaft(t, 1, []uint64{1, 2, 3}, []uint64{1}, quietAfterRestart)
	resp = onlyMsg(t, stepSolo(t, r, s, &pb.Message{Type: pb.MessageType_MSG_VOTE, From: 3, To: 1, Term: 2, Index: 1, LogTerm: 1, Context: campaignTransfer}))
	if resp.Reject || r.Term() != 2 {
		t.Fatal("a restarted node refused a transfer campaign's vote")
	}
}
