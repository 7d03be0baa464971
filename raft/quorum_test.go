package raft

import (
	"fmt"
	"testing"
)

func majority(ids ...uint64) MajorityConfig {
	c := MajorityConfig{}
	for _, id := range ids {
		c[id] = struct{}{}
	}
	return c
}

func ackedFrom(m map[uint64]uint64) func(uint64) (uint64, bool) {
	return func(id uint64) (uint64, bool) {
		v, ok := m[id]
		return v, ok
	}
}

func TestMajorityCommitIndexIsTheHighestIndexAMajorityHolds(t *testing.T) {
	cases := []struct {
		voters []uint64
		acked  map[uint64]uint64
		want   uint64
	}{
		{[]uint64{1}, map[uint64]uint64{1: 7}, 7},
		{[]uint64{1, 2}, map[uint64]uint64{1: 7, 2: 5}, 5},
		{[]uint64{1, 2, 3}, map[uint64]uint64{1: 7, 2: 5, 3: 2}, 5},
		{[]uint64{1, 2, 3}, map[uint64]uint64{1: 7}, 0}, // missing acks count as 0
		{[]uint64{1, 2, 3}, map[uint64]uint64{1: 7, 3: 9}, 7},
		{[]uint64{1, 2, 3, 4}, map[uint64]uint64{1: 9, 2: 8, 3: 2, 4: 1}, 2}, // 3 of 4 needed
		{[]uint64{1, 2, 3, 4, 5}, map[uint64]uint64{1: 9, 2: 8, 3: 7, 4: 1, 5: 1}, 7},
		{[]uint64{1, 2, 3, 4, 5, 6, 7, 8, 9}, map[uint64]uint64{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8, 9: 9}, 5},
		{[]uint64{1, 2, 3}, map[uint64]uint64{1: 4, 2: 4, 3: 4, 99: 100}, 4}, // non-voters do not count
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.voters, tc.acked), func(t *testing.T) {
			if got := majority(tc.voters...).committedIndex(ackedFrom(tc.acked)); got != tc.want {
				t.Fatalf("committed index %d, want %d", got, tc.want)
			}
		})
	}
}

func TestMajorityVoteResult(t *testing.T) {
	cases := []struct {
		voters []uint64
		votes  map[uint64]bool
		want   VoteResult
	}{
		{[]uint64{1}, map[uint64]bool{1: true}, VoteWon},
		{[]uint64{1}, map[uint64]bool{}, VotePending},
		{[]uint64{1}, map[uint64]bool{1: false}, VoteLost},
		{[]uint64{1, 2, 3}, map[uint64]bool{1: true}, VotePending},
		{[]uint64{1, 2, 3}, map[uint64]bool{1: true, 2: true}, VoteWon},
		{[]uint64{1, 2, 3}, map[uint64]bool{1: true, 2: false}, VotePending},
		{[]uint64{1, 2, 3}, map[uint64]bool{1: true, 2: false, 3: false}, VoteLost},
		{[]uint64{1, 2, 3, 4}, map[uint64]bool{1: true, 2: true}, VotePending}, // 2 of 4 is no majority
		{[]uint64{1, 2, 3, 4}, map[uint64]bool{1: true, 2: true, 3: false, 4: false}, VoteLost},
		{[]uint64{1, 2, 3}, map[uint64]bool{1: true, 7: true, 8: true}, VotePending}, // non-voters do not count
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.voters, tc.votes), func(t *testing.T) {
			if got := majority(tc.voters...).voteResult(tc.votes); got != tc.want {
				t.Fatalf("vote result %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEmptyMajorityCommitsEverythingAndWinsEveryVote(t *testing.T) {
	// An empty half of a joint configuration must not constrain the other.
	if got := majority().committedIndex(ackedFrom(nil)); got != ^uint64(0) {
		t.Fatalf("empty config committed index %d, want the maximum", got)
	}
	if got := majority().voteResult(nil); got != VoteWon {
		t.Fatalf("empty config vote %v, want won", got)
	}
}

func TestJointCommitIndexIsTheLowerOfBothHalves(t *testing.T) {
	acked := ackedFrom(map[uint64]uint64{1: 9, 2: 8, 3: 3, 4: 2, 5: 1})
	c := JointConfig{majority(1, 2, 3), majority(3, 4, 5)}
	// Incoming {1,2,3}: 8. Outgoing {3,4,5}: 2.
	if got := c.committedIndex(acked); got != 2 {
		t.Fatalf("joint committed index %d, want 2 (both majorities must hold it)", got)
	}
}

func TestJointConfigWithAnEmptyHalfIsAPlainMajority(t *testing.T) {
	acked := ackedFrom(map[uint64]uint64{1: 9, 2: 8, 3: 3})
	votes := map[uint64]bool{1: true, 2: true}
	for _, c := range []JointConfig{{majority(1, 2, 3), nil}, {majority(1, 2, 3), majority()}} {
		if got := c.committedIndex(acked); got != 8 {
			t.Fatalf("%v committed index %d, want 8", c, got)
		}
		if got := c.voteResult(votes); got != VoteWon {
			t.Fatalf("%v vote %v, want won", c, got)
		}
	}
}

func TestJointVoteNeedsBothHalves(t *testing.T) {
	c := JointConfig{majority(1, 2, 3), majority(3, 4, 5)}
	cases := []struct {
		votes map[uint64]bool
		want  VoteResult
	}{
		{map[uint64]bool{1: true, 2: true}, VotePending},                           // incoming won, outgoing pending
		{map[uint64]bool{1: true, 2: true, 3: true}, VotePending},                  // outgoing needs one more
		{map[uint64]bool{1: true, 3: true, 4: true}, VoteWon},                      // 3 is in both
		{map[uint64]bool{1: true, 2: true, 4: false, 5: false}, VoteLost},          // outgoing lost
		{map[uint64]bool{1: false, 2: false, 3: true, 4: true}, VoteLost},          // incoming lost
		{map[uint64]bool{1: true, 2: false, 3: false, 4: true, 5: true}, VoteLost}, // incoming lost
	}
	for _, tc := range cases {
		if got := c.voteResult(tc.votes); got != tc.want {
			t.Fatalf("votes %v: %v, want %v", tc.votes, got, tc.want)
		}
	}
	if ids := c.IDs(); fmt.Sprint(ids) != "[1 2 3 4 5]" {
		t.Fatalf("joint ids %v", ids)
	}
}

func TestLeaderCommitsByJointQuorumInAJointConfiguration(t *testing.T) {
	// The tracker commits by both halves while a joint config is in force.
	trk := newTracker(10, 0)
	trk.config.Voters = JointConfig{majority(1, 2, 3), majority(1, 4, 5)}
	for id, match := range map[uint64]uint64{1: 10, 2: 10, 3: 10, 4: 3, 5: 2} {
		pr := trk.newProgress(match+1, false)
		pr.Match = match
		trk.progress[id] = pr
	}
	if got := trk.committed(); got != 3 {
		t.Fatalf("committed %d, want 3 (outgoing {1,4,5} holds only 3)", got)
	}
}

func TestLearnersDoNotCountTowardVotesOrCheckQuorum(t *testing.T) {
	trk := newTracker(10, 0)
	trk.config.Voters = JointConfig{majority(1, 2, 3), nil}
	trk.config.Learners = map[uint64]struct{}{4: {}, 5: {}}
	for _, id := range []uint64{1, 2, 3} {
		trk.progress[id] = trk.newProgress(1, false)
	}
	for _, id := range []uint64{4, 5} {
		pr := trk.newProgress(1, true)
		pr.RecentActive = true
		trk.progress[id] = pr
	}
	trk.progress[1].RecentActive = true
	if trk.quorumActive() {
		t.Fatal("quorum active with one voter and two learners heard from")
	}
	trk.recordVote(1, true)
	trk.recordVote(4, true)
	trk.recordVote(5, true)
	if granted, _, res := trk.tallyVotes(); granted != 1 || res != VotePending {
		t.Fatalf("tally: %d granted, %v; learners' votes must not count", granted, res)
	}
}
