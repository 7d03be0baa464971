// Leadership transfer: the leader brings the transferee up to date, then
// tells it to campaign at once (MsgTimeoutNow). Proposals are refused while
// a transfer is in progress; it is abandoned after an election timeout.
package raft

import pb "github.com/kontiki-raft/kontiki/messages"

// TransferLeader asks the leader (forwarded from a follower) to hand
// leadership to transferee.
func (r *Raft) TransferLeader(transferee uint64) error {
	return r.Step(&pb.Message{Type: pb.MessageType_MSG_TRANSFER_LEADER, From: transferee})
}

// LeadTransferee is the node leadership is being handed to, or None.
func (r *Raft) LeadTransferee() uint64 { return r.leadTransferee }

func (r *Raft) handleTransferLeader(m *pb.Message, pr *Progress) {
	if pr.IsLearner {
		return
	}
	transferee := m.From
	if r.leadTransferee == transferee || transferee == r.id {
		return
	}
	r.electionElapsed = 0
	r.leadTransferee = transferee
	r.logger.Info("transferring leadership", "node", r.id, "term", r.term, "to", transferee)
	if pr.Match == r.log.lastIndex() {
		r.sendTimeoutNow(transferee)
	} else {
		r.sendAppend(transferee)
	}
}

func (r *Raft) sendTimeoutNow(to uint64) {
	r.send(&pb.Message{To: to, Type: pb.MessageType_MSG_TIMEOUT_NOW})
}
