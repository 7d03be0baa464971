// Status: a snapshot of the node's protocol state for operators.
package raft

type ProgressStatus struct {
	Match, Next uint64
	State       string
	Learner     bool
	Inflight    int
}

type Status struct {
	ID, Term, Vote, Lead       uint64
	Role                       Role
	Commit, Applied, LastIndex uint64
	FirstIndex                 uint64
	LeadTransferee             uint64
	// Progress is set on the leader only.
	Progress map[uint64]ProgressStatus
}

func (r *Raft) Status() Status {
	s := Status{
		ID: r.id, Term: r.term, Vote: r.vote, Lead: r.lead, Role: r.role,
		Commit: r.log.committed, Applied: r.log.applied, LastIndex: r.log.lastIndex(),
		FirstIndex: r.log.firstIndex(), LeadTransferee: r.leadTransferee,
	}
	if r.role == Leader {
		s.Progress = make(map[uint64]ProgressStatus, len(r.trk.progress))
		for id, pr := range r.trk.progress {
			s.Progress[id] = ProgressStatus{Match: pr.Match, Next: pr.Next, State: pr.State.String(), Learner: pr.IsLearner, Inflight: pr.Inflights.Count()}
		}
	}
	return s
}

// Committed is the commit index.
func (r *Raft) Committed() uint64 { return r.log.committed }

// LastIndex is the index of the last entry in the log (durable or not).
func (r *Raft) LastIndex() uint64 { return r.log.lastIndex() }

// RecentlyActive reports whether this leader has heard from id since its
// last check-quorum round (false on a follower).
func (r *Raft) RecentlyActive(id uint64) bool {
	if r.role != Leader {
		return false
	}
	pr := r.trk.progress[id]
	return pr != nil && pr.RecentActive
}

// StableIndex is the last index of this node's log known durable: entries
// up to it are persisted and agree with the core's log (0 while a snapshot
// is being persisted).
func (r *Raft) StableIndex() uint64 { return r.log.stableIndex() }

// Matches returns the match index of every member as the leader tracks it
// (nil on a follower).
func (r *Raft) Matches() map[uint64]uint64 {
	if r.role != Leader {
		return nil
	}
	out := make(map[uint64]uint64, len(r.trk.progress))
	for id, pr := range r.trk.progress {
		if !pr.IsLearner {
			out[id] = pr.Match
		}
	}
	return out
}
