// Membership changes, one node at a time. A change takes effect when its
// entry is applied (ApplyConfChange); one change is pending at most. Joint
// consensus (several changes at once) is represented in the tracker's
// JointConfig and will arrive as an addition here.
package raft

import (
	"errors"
	"fmt"

	pb "github.com/kontiki-raft/kontiki/messages"
	"google.golang.org/protobuf/proto"
)

// ProposeConfChange proposes a membership change entry.
func (r *Raft) ProposeConfChange(cc *pb.ConfChange) error {
	data, err := proto.Marshal(cc)
	if err != nil {
		return err
	}
	return r.Step(&pb.Message{Type: pb.MessageType_MSG_PROP, From: r.id, Entries: []*pb.Entry{{Type: pb.EntryType_ENTRY_CONF_CHANGE, Data: data}}})
}

// ApplyConfChange applies a committed change and returns the new membership.
func (r *Raft) ApplyConfChange(cc *pb.ConfChange) (*pb.ConfState, error) {
	if len(cc.Changes) != 1 {
		return nil, errors.New("raft: only single-node membership changes are supported")
	}
	ch := cc.Changes[0]
	if ch.NodeId == None {
		return nil, errors.New("raft: conf change names node 0")
	}
	cfg := &r.trk.config
	switch ch.Type {
	case pb.ConfChangeType_CONF_CHANGE_ADD_NODE:
		delete(cfg.Learners, ch.NodeId)
		cfg.Voters[0][ch.NodeId] = struct{}{}
		r.ensureProgress(ch.NodeId, false)
	case pb.ConfChangeType_CONF_CHANGE_ADD_LEARNER:
		if _, voter := cfg.Voters[0][ch.NodeId]; voter {
			return nil, fmt.Errorf("raft: node %d is a voter; demotion needs joint consensus", ch.NodeId)
		}
		cfg.Learners[ch.NodeId] = struct{}{}
		r.ensureProgress(ch.NodeId, true)
	case pb.ConfChangeType_CONF_CHANGE_REMOVE_NODE:
		delete(cfg.Voters[0], ch.NodeId)
		delete(cfg.Learners, ch.NodeId)
		delete(r.trk.progress, ch.NodeId)
		delete(r.reads.acked, ch.NodeId)
	default:
		return nil, fmt.Errorf("raft: unknown conf change type %v", ch.Type)
	}
	if r.role == Leader {
		if r.trk.progress[r.id] == nil || !r.trk.isVoter(r.id) {
			// A removed leader steps down; the rest elect a new one.
			r.becomeFollower(r.term, None)
		} else if r.maybeCommit() {
			r.onCommitAdvanced()
			r.bcastAppend()
		} else {
			r.maybeReleaseReads()
		}
	}
	if r.leadTransferee != None && !r.trk.isVoter(r.leadTransferee) {
		r.leadTransferee = None
	}
	return r.trk.confState(), nil
}

func (r *Raft) ensureProgress(id uint64, learner bool) {
	if pr, ok := r.trk.progress[id]; ok {
		pr.IsLearner = learner
		return
	}
	pr := r.trk.newProgress(r.log.lastIndex()+1, learner)
	// A new member is presumed active so check-quorum does not depose the
	// leader before it has had a chance to respond.
	pr.RecentActive = true
	r.trk.progress[id] = pr
}

// ConfState is the membership in force.
func (r *Raft) ConfState() *pb.ConfState { return r.trk.confState() }
