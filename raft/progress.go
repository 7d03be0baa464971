// The leader's view of one follower: how far its log matches (Match), what to
// send next (Next), and the replication state machine
//
//	probe     one append at a time until the follower's log position is found
//	replicate appends streamed optimistically inside the inflight window
//	snapshot  the follower needs a snapshot; appends pause until it reports
package raft

import "fmt"

type ProgressState uint8

const (
	StateProbe ProgressState = iota
	StateReplicate
	StateSnapshot
)

func (s ProgressState) String() string {
	switch s {
	case StateProbe:
		return "probe"
	case StateReplicate:
		return "replicate"
	case StateSnapshot:
		return "snapshot"
	}
	return fmt.Sprintf("ProgressState(%d)", uint8(s))
}

type Progress struct {
	// Invariant: 0 <= Match < Next.
	Match, Next uint64
	State       ProgressState
	// PendingSnapshot is the index of the snapshot being sent (StateSnapshot).
	PendingSnapshot uint64
	// RecentActive: heard from since the last check-quorum round.
	RecentActive bool
	// MsgAppFlowPaused: in probe, an append is outstanding; in replicate, the
	// window is full. Cleared by a heartbeat response.
	MsgAppFlowPaused bool
	Inflights        *Inflights
	IsLearner        bool
}

func (pr *Progress) resetState(state ProgressState) {
	pr.MsgAppFlowPaused = false
	pr.PendingSnapshot = 0
	pr.State = state
	pr.Inflights.reset()
}

// BecomeProbe restarts probing from just after what the follower is known to
// have (or just after the snapshot it was sent).
func (pr *Progress) BecomeProbe() {
	if pr.State == StateSnapshot {
		pendingSnapshot := pr.PendingSnapshot
		pr.resetState(StateProbe)
		pr.Next = max(pr.Match+1, pendingSnapshot+1)
	} else {
		pr.resetState(StateProbe)
		pr.Next = pr.Match + 1
	}
}

func (pr *Progress) BecomeReplicate() {
	pr.resetState(StateReplicate)
	pr.Next = pr.Match + 1
}

func (pr *Progress) BecomeSnapshot(snapshotIndex uint64) {
	pr.resetState(StateSnapshot)
	pr.PendingSnapshot = snapshotIndex
}

// UpdateOnEntriesSend records an append of entries [Next, Next+n) carrying
// bytes of payload.
func (pr *Progress) UpdateOnEntriesSend(n int, bytes uint64) {
	switch pr.State {
	case StateReplicate:
		if n > 0 {
			last := pr.Next + uint64(n) - 1
			pr.Next = last + 1
			pr.Inflights.Add(last, bytes)
		}
		pr.MsgAppFlowPaused = pr.Inflights.Full()
	case StateProbe:
		// One probe at a time; heartbeats resume probing.
		pr.MsgAppFlowPaused = true
	default:
		panic(fmt.Sprintf("raft: sending append in state %v", pr.State))
	}
}

// MaybeUpdate records an acknowledgement of index n; false if it is stale.
func (pr *Progress) MaybeUpdate(n uint64) bool {
	if n <= pr.Match {
		return false
	}
	pr.Match = n
	pr.Next = max(pr.Next, n+1)
	pr.MsgAppFlowPaused = false
	return true
}

// MaybeDecrTo handles a rejected append at index rejected; matchHint is the
// follower's suggestion (already lowered by the leader's term search). It
// returns false for a stale rejection.
func (pr *Progress) MaybeDecrTo(rejected, matchHint uint64) bool {
	if pr.State == StateReplicate {
		// Rejections of appends at or below Match are stale.
		if rejected <= pr.Match {
			return false
		}
		pr.Next = pr.Match + 1
		return true
	}
	// In probe, only the rejection of the probe in flight (Next-1) counts,
	// and never one at or below Match: the follower acked that much, so it
	// cannot be rejecting it (answering one would loop without progress).
	if pr.Next-1 != rejected || rejected <= pr.Match {
		return false
	}
	pr.Next = max(min(rejected, matchHint+1), pr.Match+1)
	pr.MsgAppFlowPaused = false
	return true
}

// IsPaused: the leader must not send an append now.
func (pr *Progress) IsPaused() bool {
	switch pr.State {
	case StateProbe, StateReplicate:
		return pr.MsgAppFlowPaused
	case StateSnapshot:
		return true
	}
	panic("raft: unknown progress state")
}

func (pr *Progress) String() string {
	return fmt.Sprintf("%s match=%d next=%d inflight=%d", pr.State, pr.Match, pr.Next, pr.Inflights.Count())
}
