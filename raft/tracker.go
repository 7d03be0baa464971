// The tracker: the membership in force, every member's Progress, and the
// votes of the current election.
package raft

import pb "github.com/kontiki-raft/kontiki/messages"

type trackerConfig struct {
	Voters   JointConfig
	Learners map[uint64]struct{}
	// LearnersNext are voters of the outgoing half that become learners when
	// the joint configuration is left.
	LearnersNext map[uint64]struct{}
	AutoLeave    bool
}

type tracker struct {
	config           trackerConfig
	progress         map[uint64]*Progress
	votes            map[uint64]bool
	maxInflight      int
	maxInflightBytes uint64
}

func newTracker(maxInflight int, maxInflightBytes uint64) *tracker {
	return &tracker{
		config:           trackerConfig{Voters: JointConfig{MajorityConfig{}, nil}, Learners: map[uint64]struct{}{}, LearnersNext: map[uint64]struct{}{}},
		progress:         map[uint64]*Progress{},
		votes:            map[uint64]bool{},
		maxInflight:      maxInflight,
		maxInflightBytes: maxInflightBytes,
	}
}

// confState reports the configuration in the wire form, sorted for stable
// comparison.
func (t *tracker) confState() *pb.ConfState {
	return &pb.ConfState{
		Voters:         t.config.Voters[0].IDs(),
		VotersOutgoing: t.config.Voters[1].IDs(),
		Learners:       MajorityConfig(t.config.Learners).IDs(),
		LearnersNext:   MajorityConfig(t.config.LearnersNext).IDs(),
		AutoLeave:      t.config.AutoLeave,
	}
}

// isSingleton: this config has exactly one voter, so it needs nobody else.
func (t *tracker) isSingleton() bool {
	return len(t.config.Voters[0]) == 1 && len(t.config.Voters[1]) == 0
}

func (t *tracker) committed() uint64 {
	return t.config.Voters.committedIndex(func(id uint64) (uint64, bool) {
		pr, ok := t.progress[id]
		if !ok {
			return 0, false
		}
		return pr.Match, true
	})
}

func (t *tracker) visit(f func(id uint64, pr *Progress)) {
	for _, id := range MajorityConfig(t.allIDs()).IDs() {
		f(id, t.progress[id])
	}
}

func (t *tracker) allIDs() map[uint64]struct{} {
	ids := make(map[uint64]struct{}, len(t.progress))
	for id := range t.progress {
		ids[id] = struct{}{}
	}
	return ids
}

// quorumActive: a quorum of voters was heard from recently (check-quorum).
func (t *tracker) quorumActive() bool {
	votes := map[uint64]bool{}
	for id, pr := range t.progress {
		if !pr.IsLearner {
			votes[id] = pr.RecentActive
		}
	}
	return t.config.Voters.voteResult(votes) == VoteWon
}

func (t *tracker) isVoter(id uint64) bool { return t.config.Voters.contains(id) }

func (t *tracker) resetVotes() { t.votes = map[uint64]bool{} }

func (t *tracker) recordVote(id uint64, granted bool) {
	if _, ok := t.votes[id]; !ok {
		t.votes[id] = granted
	}
}

func (t *tracker) tallyVotes() (granted, rejected int, result VoteResult) {
	for id, pr := range t.progress {
		if pr.IsLearner {
			continue
		}
		if v, voted := t.votes[id]; voted {
			if v {
				granted++
			} else {
				rejected++
			}
		}
	}
	return granted, rejected, t.config.Voters.voteResult(t.votes)
}

func (t *tracker) newProgress(next uint64, learner bool) *Progress {
	return &Progress{Next: next, Inflights: NewInflights(t.maxInflight, t.maxInflightBytes), IsLearner: learner}
}

// restore replaces the configuration with cs (from storage or a snapshot),
// giving every member a fresh Progress starting at next.
func (t *tracker) restore(cs *pb.ConfState, next uint64) {
	t.config = trackerConfig{
		Voters:       JointConfig{toSet(cs.GetVoters()), toSet(cs.GetVotersOutgoing())},
		Learners:     toSet(cs.GetLearners()),
		LearnersNext: toSet(cs.GetLearnersNext()),
		AutoLeave:    cs.GetAutoLeave(),
	}
	if len(t.config.Voters[1]) == 0 {
		t.config.Voters[1] = nil
	}
	t.progress = map[uint64]*Progress{}
	for _, id := range t.config.Voters.IDs() {
		t.progress[id] = t.newProgress(next, false)
	}
	for id := range t.config.Learners {
		t.progress[id] = t.newProgress(next, true)
	}
}

func toSet(ids []uint64) MajorityConfig {
	s := MajorityConfig{}
	for _, id := range ids {
		s[id] = struct{}{}
	}
	return s
}
