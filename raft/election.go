// Elections: election-timeout ticks, campaigns (pre-vote, vote, transfer),
// granting votes, and counting them.
package raft

import (
	pb "github.com/kontiki-raft/kontiki/messages"
)

// Tick advances logical time by one tick.
func (r *Raft) Tick() {
	if r.restartQuiet > 0 {
		r.restartQuiet--
	}
	if r.role == Leader {
		r.tickHeartbeat()
	} else {
		r.tickElection()
	}
}

func (r *Raft) tickElection() {
	r.electionElapsed++
	if r.promotable() && r.electionElapsed >= r.randomizedElectionTimeout {
		r.electionElapsed = 0
		_ = r.Step(&pb.Message{From: r.id, Type: pb.MessageType_MSG_HUP})
	}
}

// Campaign starts an election now (as a MsgHup would).
func (r *Raft) Campaign() error {
	return r.Step(&pb.Message{From: r.id, Type: pb.MessageType_MSG_HUP})
}

func (r *Raft) hup(t campaignType) {
	if r.role == Leader {
		return
	}
	if !r.promotable() {
		r.logger.Debug("not promotable; no campaign", "node", r.id, "term", r.term)
		return
	}
	// A conf change that is committed but not yet applied may remove us or
	// change the quorum: campaigning under the old config could be unsafe.
	if r.hasUnappliedConfChanges() {
		r.logger.Warn("conf change pending apply; no campaign", "node", r.id, "term", r.term)
		return
	}
	r.campaign(t)
}

func (r *Raft) hasUnappliedConfChanges() bool {
	if r.log.applied >= r.log.committed {
		return false
	}
	ents, err := r.log.slice(r.log.applied+1, r.log.committed+1, noLimit)
	if err != nil {
		panic(err)
	}
	for _, e := range ents {
		if e.Type == pb.EntryType_ENTRY_CONF_CHANGE {
			return true
		}
	}
	return false
}

func (r *Raft) campaign(t campaignType) {
	var term uint64
	var voteMsg pb.MessageType
	if t == campaignPreElection {
		r.becomePreCandidate()
		voteMsg = pb.MessageType_MSG_PRE_VOTE
		// Ask for the term we would campaign in, without entering it.
		term = r.term + 1
	} else {
		r.becomeCandidate()
		voteMsg = pb.MessageType_MSG_VOTE
		term = r.term
	}
	// Our own vote counts at once; the actor persists term and vote before
	// any vote request leaves, so this vote is durable before it matters.
	if _, _, res := r.poll(r.id, voteRespType(voteMsg), true); res == VoteWon {
		if t == campaignPreElection {
			r.campaign(campaignElection)
		} else {
			r.becomeLeader()
		}
		return
	}
	var ctx []byte
	if t == campaignTransferType {
		ctx = campaignTransfer
	}
	for _, id := range r.trk.config.Voters.IDs() {
		if id == r.id {
			continue
		}
		r.send(&pb.Message{To: id, Term: term, Type: voteMsg, Index: r.log.lastIndex(), LogTerm: r.log.lastTerm(), Context: ctx})
	}
}

func voteRespType(t pb.MessageType) pb.MessageType {
	if t == pb.MessageType_MSG_PRE_VOTE {
		return pb.MessageType_MSG_PRE_VOTE_RESP
	}
	return pb.MessageType_MSG_VOTE_RESP
}

// handleVoteRequest grants a (pre-)vote when we may vote for m.From and its
// log is at least as up to date as ours (§5.4.1).
func (r *Raft) handleVoteRequest(m *pb.Message) {
	canVote := r.vote == m.From || // a repeated request: grant again
		(r.vote == None && r.lead == None) || // no vote cast, no leader known
		(m.Type == pb.MessageType_MSG_PRE_VOTE && m.Term > r.term) // a pre-vote for a future term
	if canVote && r.log.isUpToDate(m.Index, m.LogTerm) {
		// The grant carries the requested term: a pre-candidate counts it
		// toward term+1 without our term changing.
		r.send(&pb.Message{To: m.From, Term: m.Term, Type: voteRespType(m.Type)})
		if m.Type == pb.MessageType_MSG_VOTE {
			r.electionElapsed = 0
			r.vote = m.From
		}
		return
	}
	r.send(&pb.Message{To: m.From, Term: r.term, Type: voteRespType(m.Type), Reject: true})
}

func (r *Raft) handleVoteResponse(m *pb.Message) {
	_, _, res := r.poll(m.From, m.Type, !m.Reject)
	switch res {
	case VoteWon:
		if r.role == PreCandidate {
			r.campaign(campaignElection)
		} else {
			r.becomeLeader()
			r.bcastAppend()
		}
	case VoteLost:
		// A rejection in a higher term already made us follower through
		// the term rules; here the term is ours.
		r.becomeFollower(r.term, None)
	}
}

func (r *Raft) poll(id uint64, t pb.MessageType, granted bool) (int, int, VoteResult) {
	r.trk.recordVote(id, granted)
	return r.trk.tallyVotes()
}
