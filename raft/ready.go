// Ready and Advance: the core's output. The caller handles a Ready in order —
// persist HardState, Snapshot and Entries; send Messages (a leader's appends,
// heartbeats and snapshots may leave before its own persist, everything else
// only after it); apply CommittedEntries — then calls Advance.
package raft

import (
	pb "github.com/kontiki-raft/kontiki/messages"
)

// SoftState is volatile state worth reporting; it needs no persistence.
type SoftState struct {
	Lead uint64
	Role Role
}

type Ready struct {
	// SoftState is set when the leader or role changed.
	SoftState *SoftState
	// HardState is set when it changed and must be persisted.
	HardState *pb.HardState
	// ReadStates are reads that may be served once applied reaches Index.
	ReadStates []ReadState
	// Entries are to be persisted (they may replace a conflicting tail).
	Entries []*pb.Entry
	// Snapshot, when set, is to be persisted and restored.
	Snapshot *pb.Snapshot
	// CommittedEntries are to be applied, in order.
	CommittedEntries []*pb.Entry
	Messages         []*pb.Message
	// MustSync: the hard state's term or vote, or the entries, must be
	// fsynced before Messages that depend on them leave.
	MustSync bool
	// HeartbeatRound is the heartbeat round this Ready starts (0 if none);
	// the caller notes the time it sends it, for the lease.
	HeartbeatRound uint64
	// QuorumRound is a round newly acknowledged by a quorum (0 if none).
	QuorumRound uint64
}

// SendsBeforePersist reports whether m may leave before the Ready's persist
// completes: only a leader's appends, heartbeats and snapshots, whose term
// and entries are its own (§10.2.1 of the Raft thesis), and its TimeoutNow,
// which vouches for nothing of its own log (the transferee campaigns on its
// own), so that a leader whose writes are held can still hand over. Acks,
// votes and vote requests wait for the fsync.
func SendsBeforePersist(m *pb.Message) bool {
	switch m.Type {
	case pb.MessageType_MSG_APP, pb.MessageType_MSG_HEARTBEAT, pb.MessageType_MSG_SNAP, pb.MessageType_MSG_TIMEOUT_NOW:
		return true
	}
	return false
}

func (r *Raft) softState() SoftState { return SoftState{Lead: r.lead, Role: r.role} }

// HasReady reports whether Ready would return anything.
func (r *Raft) HasReady() bool {
	if r.softState() != r.prevSoft {
		return true
	}
	if r.hardStateChanged() {
		return true
	}
	if r.log.unstable.snapshotToPersist() != nil || len(r.log.unstable.toPersist()) > 0 {
		return true
	}
	if len(r.msgs) > 0 || len(r.readStates) > 0 || r.log.hasNextCommittedEnts() {
		return true
	}
	if r.role == Leader && r.reads.needRound {
		return true
	}
	return r.reads.startedRound != 0 || r.reads.reportedQuorumRound != 0
}

// Ready returns what to do next. The caller owns the slices it returns and
// must call Advance with it when done.
func (r *Raft) Ready() Ready {
	if r.role == Leader && r.reads.needRound {
		// One heartbeat round confirms every read that arrived since the
		// last round started.
		r.bcastHeartbeat()
	}
	rd := Ready{
		Entries:          r.log.unstable.toPersist(),
		CommittedEntries: r.log.nextCommittedEnts(),
		Messages:         r.msgs,
		ReadStates:       r.readStates,
		Snapshot:         r.log.unstable.snapshotToPersist(),
		HeartbeatRound:   r.reads.startedRound,
		QuorumRound:      r.reads.reportedQuorumRound,
	}
	r.log.unstable.acceptInProgress()
	r.msgs = nil
	r.readStates = nil
	r.reads.startedRound, r.reads.reportedQuorumRound = 0, 0
	if ss := r.softState(); ss != r.prevSoft {
		rd.SoftState = &ss
		r.prevSoft = ss
	}
	if r.hardStateChanged() {
		hs := r.hardState()
		rd.HardState = hs
		rd.MustSync = hs.Term != r.prevHard.GetTerm() || hs.Vote != r.prevHard.GetVote()
		r.prevHard = hs
	}
	if len(rd.Entries) > 0 || rd.Snapshot != nil {
		rd.MustSync = true
	}
	return rd
}

// hardStateChanged compares field by field: HasReady runs after every
// message and must not allocate.
func (r *Raft) hardStateChanged() bool {
	p := r.prevHard
	return p.GetTerm() != r.term || p.GetVote() != r.vote || p.GetCommit() != r.log.committed
}

// Advance tells the core that rd was persisted, sent and handed for apply.
func (r *Raft) Advance(rd Ready) {
	r.MarkPersisted(rd.Snapshot, rd.Entries)
	r.AcceptReady(rd)
}

// MarkPersisted tells the core that a Ready's snapshot and entries are
// durable (AsyncStorageWrites). Calls come in Ready order; a write whose
// entries a conflict has since replaced marks nothing.
func (r *Raft) MarkPersisted(snap *pb.Snapshot, ents []*pb.Entry) {
	if snap != nil {
		r.log.stableSnapTo(snap.Metadata.Index)
		if snap.Metadata.Index > r.log.applied {
			r.log.applied = snap.Metadata.Index
		}
	}
	if n := len(ents); n > 0 {
		last := ents[n-1]
		r.log.stableTo(last.Index, last.Term)
		if r.log.matchTerm(last.Index, last.Term) {
			r.selfStable(last.Index)
		}
	}
}

// AcceptReady tells the core that rd's messages were sent (or queued behind
// its persist) and its committed entries handed for apply
// (AsyncStorageWrites); Advance does it for the synchronous mode.
func (r *Raft) AcceptReady(rd Ready) {
	if n := len(rd.CommittedEntries); n > 0 {
		r.log.appliedTo(rd.CommittedEntries[n-1].Index)
		if r.role == Leader {
			r.reduceUncommittedSize(rd.CommittedEntries)
		}
	}
}
