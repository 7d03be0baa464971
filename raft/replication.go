// Replication: the leader's appends and heartbeats, the follower's handling of
// them, and commit by quorum of match indexes.
package raft

import (
	"fmt"

	pb "github.com/kontiki-raft/kontiki/messages"
)

func (r *Raft) tickHeartbeat() {
	r.heartbeatElapsed++
	r.electionElapsed++
	if r.electionElapsed >= r.electionTimeout {
		r.electionElapsed = 0
		if r.checkQuorum {
			_ = r.Step(&pb.Message{From: r.id, Type: pb.MessageType_MSG_CHECK_QUORUM})
		}
		// A transfer that did not finish within an election timeout is
		// abandoned so proposals flow again.
		if r.role == Leader && r.leadTransferee != None {
			r.leadTransferee = None
		}
	}
	if r.role != Leader {
		return
	}
	if r.heartbeatElapsed >= r.heartbeatTimeout {
		r.heartbeatElapsed = 0
		_ = r.Step(&pb.Message{From: r.id, Type: pb.MessageType_MSG_BEAT})
	}
}

// Propose appends data as a normal entry on the leader, or forwards it.
func (r *Raft) Propose(data []byte) error {
	return r.Step(&pb.Message{Type: pb.MessageType_MSG_PROP, From: r.id, Entries: []*pb.Entry{{Data: data}}})
}

// ProposeBatch appends every data as one normal entry each, in order, in a
// single proposal: followers receive them in one append. It succeeds or
// fails as a whole; when it fails with ErrUncommittedLogFull, proposing the
// items one by one may still admit some (the cap admits a lone proposal
// when nothing is uncommitted).
func (r *Raft) ProposeBatch(data [][]byte) error {
	if len(data) == 0 {
		return fmt.Errorf("raft: empty proposal")
	}
	ents := make([]pb.Entry, len(data))
	ptrs := make([]*pb.Entry, len(data))
	for i := range data {
		ents[i].Data = data[i]
		ptrs[i] = &ents[i]
	}
	return r.Step(&pb.Message{Type: pb.MessageType_MSG_PROP, From: r.id, Entries: ptrs})
}

// appendEntry adds entries of the current term to the leader's log. The
// leader's own Match moves only when they are durable (Advance).
func (r *Raft) appendEntry(es ...*pb.Entry) bool {
	li := r.log.lastIndex()
	var size uint64
	for i, e := range es {
		e.Term = r.term
		e.Index = li + 1 + uint64(i)
		size += payloadSize(e)
	}
	// An empty or lone proposal is always allowed so a leader is never stuck
	// behind a single entry larger than the cap.
	if r.uncommittedSize > 0 && size > 0 && r.uncommittedSize+size > r.maxUncommittedSize {
		return false
	}
	r.uncommittedSize += size
	r.log.append(es...)
	return true
}

func (r *Raft) reduceUncommittedSize(ents []*pb.Entry) {
	var s uint64
	for _, e := range ents {
		s += payloadSize(e)
	}
	if s > r.uncommittedSize {
		r.uncommittedSize = 0
	} else {
		r.uncommittedSize -= s
	}
}

func (r *Raft) bcastAppend() { r.bcast(true) }

// bcast offers every follower what it lacks; with sendIfEmpty an empty
// append too, to carry the commit index.
func (r *Raft) bcast(sendIfEmpty bool) {
	r.trk.visit(func(id uint64, _ *Progress) {
		if id != r.id {
			r.maybeSendAppend(id, sendIfEmpty)
		}
	})
}

func (r *Raft) sendAppend(to uint64) { r.maybeSendAppend(to, true) }

// bcastNewEntries sends what each follower lacks, if anything, after the
// commit index moved. No empty append just to carry the new commit index:
// it rides on the next append or heartbeat (a heartbeat round also serves
// every ReadIndex), which halves the messages of a lone write and spares
// each follower a hard-state write per commit.
func (r *Raft) bcastNewEntries() { r.bcast(false) }

// maybeSendAppend sends the entries after pr.Next-1 (or a snapshot when they
// are compacted away). With sendIfEmpty false it sends only when there are
// entries. It reports whether a message was sent.
func (r *Raft) maybeSendAppend(to uint64, sendIfEmpty bool) bool {
	pr := r.trk.progress[to]
	if pr.IsPaused() {
		return false
	}
	prevIndex := pr.Next - 1
	prevTerm, errt := r.log.term(prevIndex)
	var ents []*pb.Entry
	var erre error
	// With the window full (a heartbeat response unpaused us) only an empty
	// append goes out: its ack or rejection frees the window even if every
	// append in it was lost, without sending beyond the window.
	if pr.State != StateReplicate || !pr.Inflights.Full() {
		ents, erre = r.log.entries(pr.Next, r.maxMsgSize)
	}
	if len(ents) == 0 && !sendIfEmpty {
		return false
	}
	if errt != nil || erre != nil {
		return r.sendSnapshot(to, pr)
	}
	var bytes uint64
	for _, e := range ents {
		bytes += payloadSize(e)
	}
	r.send(&pb.Message{To: to, Type: pb.MessageType_MSG_APP, Index: prevIndex, LogTerm: prevTerm, Entries: ents, Commit: r.log.committed})
	pr.UpdateOnEntriesSend(len(ents), bytes)
	return true
}

func (r *Raft) sendSnapshot(to uint64, pr *Progress) bool {
	if !pr.RecentActive {
		// Do not ship a snapshot to a node we have not heard from lately.
		return false
	}
	snap, err := r.log.snapshot()
	if err == ErrSnapshotTemporarilyUnavailable {
		return false
	}
	if err != nil {
		panic(err)
	}
	if snap.GetMetadata().GetIndex() == 0 {
		panic("raft: need a snapshot but storage has none")
	}
	pr.BecomeSnapshot(snap.Metadata.Index)
	r.logger.Info("sending snapshot", "node", r.id, "term", r.term, "to", to, "index", snap.Metadata.Index)
	r.send(&pb.Message{To: to, Type: pb.MessageType_MSG_SNAP, Snapshot: snap})
	return true
}

// sendHeartbeat tells a follower the commit index, capped at its match so it
// never learns a commit beyond entries it has.
func (r *Raft) sendHeartbeat(to uint64, round uint64) {
	commit := min(r.trk.progress[to].Match, r.log.committed)
	r.send(&pb.Message{To: to, Type: pb.MessageType_MSG_HEARTBEAT, Commit: commit, Context: encodeRound(round)})
}

func (r *Raft) bcastHeartbeat() {
	round := r.reads.startRound()
	r.trk.visit(func(id uint64, _ *Progress) {
		if id != r.id {
			r.sendHeartbeat(id, round)
		}
	})
	r.maybeReleaseReads()
}

// maybeCommit commits what a quorum has durably stored, if it is of this term.
func (r *Raft) maybeCommit() bool {
	return r.log.maybeCommit(r.trk.committed(), r.term)
}

// StepLeader is the leader's handler.
func (r *Raft) StepLeader(m *pb.Message) error {
	switch m.Type {
	case pb.MessageType_MSG_BEAT:
		r.bcastHeartbeat()
		return nil
	case pb.MessageType_MSG_CHECK_QUORUM:
		if !r.trk.quorumActive() {
			r.logger.Warn("stepped down: no quorum heard within the election timeout", "node", r.id, "term", r.term)
			r.becomeFollower(r.term, None)
		}
		r.trk.visit(func(id uint64, pr *Progress) {
			if id != r.id {
				pr.RecentActive = false
			}
		})
		return nil
	case pb.MessageType_MSG_PROP:
		return r.handleProposal(m)
	case pb.MessageType_MSG_READ_INDEX:
		r.handleReadIndex(m)
		return nil
	}

	pr := r.trk.progress[m.From]
	if pr == nil {
		return nil
	}
	switch m.Type {
	case pb.MessageType_MSG_APP_RESP:
		pr.RecentActive = true
		r.handleAppendResponse(m, pr)
	case pb.MessageType_MSG_HEARTBEAT_RESP:
		pr.RecentActive = true
		pr.MsgAppFlowPaused = false
		if pr.Match < r.log.lastIndex() || pr.State == StateProbe {
			r.sendAppend(m.From)
		}
		r.reads.ack(m.From, decodeRound(m.Context))
		r.maybeReleaseReads()
	case pb.MessageType_MSG_SNAP_STATUS:
		if pr.State != StateSnapshot {
			return nil
		}
		if m.Reject {
			pr.PendingSnapshot = 0
		}
		pr.BecomeProbe()
		// Wait for a heartbeat response (or the MsgAppResp the snapshot
		// install sends) before probing.
		pr.MsgAppFlowPaused = true
	case pb.MessageType_MSG_UNREACHABLE:
		if pr.State == StateReplicate {
			pr.BecomeProbe()
		}
	case pb.MessageType_MSG_TRANSFER_LEADER:
		r.handleTransferLeader(m, pr)
	}
	return nil
}

func (r *Raft) handleProposal(m *pb.Message) error {
	if len(m.Entries) == 0 {
		return fmt.Errorf("raft: empty proposal")
	}
	if r.trk.progress[r.id] == nil {
		// Removed from the configuration: it cannot lead anything.
		return ErrProposalDropped
	}
	if r.leadTransferee != None {
		return ErrProposalDropped
	}
	for _, e := range m.Entries {
		if e.Type == pb.EntryType_ENTRY_CONF_CHANGE {
			if r.pendingConfIndex > r.log.applied {
				return ErrConfChangePending
			}
		}
	}
	ents := make([]*pb.Entry, len(m.Entries))
	for i, e := range m.Entries {
		ents[i] = &pb.Entry{Type: e.Type, Data: e.Data}
	}
	if !r.appendEntry(ents...) {
		return ErrUncommittedLogFull
	}
	for _, e := range ents {
		if e.Type == pb.EntryType_ENTRY_CONF_CHANGE {
			r.pendingConfIndex = e.Index
		}
	}
	r.bcastAppend()
	return nil
}

func (r *Raft) handleAppendResponse(m *pb.Message, pr *Progress) {
	if m.Reject {
		// The follower's hint is the last index where its log may match;
		// LogTerm is the term there. Skip every leader entry of a higher
		// term in one step: at most one round trip per conflicting term.
		next := m.RejectHint
		if m.LogTerm > 0 {
			next, _ = r.log.findConflictByTerm(m.RejectHint, m.LogTerm)
		}
		if pr.MaybeDecrTo(m.Index, next) {
			if pr.State == StateReplicate {
				pr.BecomeProbe()
			}
			r.sendAppend(m.From)
		}
		return
	}
	if m.Index > r.log.lastIndex() {
		// A follower acks only entries we sent it: an ack beyond our log is
		// malformed, and taking it as Match would point Next past our log.
		r.logger.Warn("ignored append ack beyond our log", "node", r.id, "term", r.term, "from", m.From, "index", m.Index)
		return
	}
	oldPaused := pr.IsPaused()
	if !pr.MaybeUpdate(m.Index) {
		return
	}
	switch {
	case pr.State == StateProbe:
		pr.BecomeReplicate()
	case pr.State == StateSnapshot && pr.Match+1 >= r.log.firstIndex():
		// The snapshot (or appends) brought it to where the log continues.
		pr.BecomeProbe()
		pr.BecomeReplicate()
	case pr.State == StateReplicate:
		pr.Inflights.FreeLE(m.Index)
	}
	if !r.commitAndPropagate() && oldPaused {
		r.sendAppend(m.From)
	}
	// Fill the freed window: appends stream while entries remain.
	for r.maybeSendAppend(m.From, false) {
	}
	if m.From == r.leadTransferee && pr.Match == r.log.lastIndex() {
		r.sendTimeoutNow(m.From)
	}
}

// onCommitAdvanced runs when the leader's commit index moves.
func (r *Raft) onCommitAdvanced() {
	r.releaseReadsWaitingForTermCommit()
}

// selfStable records that this leader's log is durable up to index: only now
// does it count itself toward a quorum.
func (r *Raft) selfStable(index uint64) {
	if r.role != Leader {
		return
	}
	pr := r.trk.progress[r.id]
	if pr == nil || !pr.MaybeUpdate(index) {
		return
	}
	r.commitAndPropagate()
}

// commitAndPropagate commits what a quorum holds and tells the followers.
// The first commit of a term goes to every follower at once (it settles the
// new leader's log and its read index); later commit indexes ride on the
// next append or heartbeat.
func (r *Raft) commitAndPropagate() bool {
	first := !r.CommittedInTerm()
	if !r.maybeCommit() {
		return false
	}
	r.onCommitAdvanced()
	if first {
		r.bcastAppend()
	} else {
		r.bcastNewEntries()
	}
	return true
}

func (r *Raft) handleAppendEntries(m *pb.Message) {
	if m.Index < r.log.committed {
		// Already have it all up to our commit: tell the leader where we are.
		r.send(&pb.Message{To: m.From, Type: pb.MessageType_MSG_APP_RESP, Index: r.log.committed})
		return
	}
	if last, ok := r.log.maybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries); ok {
		r.send(&pb.Message{To: m.From, Type: pb.MessageType_MSG_APP_RESP, Index: last})
		return
	}
	// Reject with a hint: the largest index ≤ m.Index whose term is at most
	// the leader's term at m.Index. Everything above it cannot match.
	hintIndex := min(m.Index, r.log.lastIndex())
	hintIndex, hintTerm := r.log.findConflictByTerm(hintIndex, m.LogTerm)
	r.send(&pb.Message{To: m.From, Type: pb.MessageType_MSG_APP_RESP, Index: m.Index, Reject: true, RejectHint: hintIndex, LogTerm: hintTerm})
}

func (r *Raft) handleHeartbeat(m *pb.Message) {
	// A leader sends min(match, commit), never beyond our log. A larger
	// commit comes from a malformed message: our entries up to it are not
	// known to match the leader's, so nothing is committed on its word.
	if m.Commit <= r.log.lastIndex() {
		r.log.commitTo(m.Commit)
	}
	r.send(&pb.Message{To: m.From, Type: pb.MessageType_MSG_HEARTBEAT_RESP, Context: m.Context})
}

func (r *Raft) handleSnapshot(m *pb.Message) {
	s := m.Snapshot
	if s == nil || s.Metadata == nil {
		return
	}
	if r.restore(s) {
		r.logger.Info("restored snapshot", "node", r.id, "term", r.term, "index", s.Metadata.Index)
		r.send(&pb.Message{To: m.From, Type: pb.MessageType_MSG_APP_RESP, Index: r.log.lastIndex()})
	} else {
		r.send(&pb.Message{To: m.From, Type: pb.MessageType_MSG_APP_RESP, Index: r.log.committed})
	}
}

// restore installs a snapshot newer than our commit index. If our log already
// has the snapshot's last entry, we only fast-forward the commit index.
func (r *Raft) restore(s *pb.Snapshot) bool {
	meta := s.Metadata
	if meta.Index <= r.log.committed {
		return false
	}
	if r.role != Follower {
		r.becomeFollower(r.term+1, None)
		return false
	}
	if r.log.matchTerm(meta.Index, meta.Term) {
		r.log.commitTo(meta.Index)
		return false
	}
	r.log.restore(s)
	r.trk.restore(meta.ConfState, r.log.lastIndex()+1)
	if pr := r.trk.progress[r.id]; pr != nil {
		pr.Match = 0 // followers do not count their own progress
	}
	return true
}
