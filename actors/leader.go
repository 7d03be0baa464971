// The leader behavior: proposals are appended and wait for their entry to
// apply; linearizable reads take a heartbeat round (ReadIndex); lease reads
// are answered while the lease holds; leadership can be handed over.
package actors

import (
	"errors"

	"github.com/asynkron/protoactor-go/actor"
	pb "github.com/kontiki-raft/kontiki/messages"
	"github.com/kontiki-raft/kontiki/raft"
)

func (n *node) leader(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *pb.Message:
		n.stepRole(m, n.raft.StepLeader)
	case *Propose:
		n.propose(ctx, m)
	case *Read:
		if m.Mode == ReadLease {
			n.leaseRead(ctx, m)
			return
		}
		n.startRead(ctx, m.ID)
	case *TransferLeadership:
		to := m.To
		if to == raft.None {
			to = n.mostCaughtUpPeer()
		}
		if to == raft.None {
			n.reply(ctx, ctx.Sender(), &TransferResult{Err: raft.ErrNoLeader})
			return
		}
		n.reply(ctx, ctx.Sender(), &TransferResult{Err: n.raft.TransferLeader(to)})
	}
}

// propose queues m: the proposals that arrive before the next drain are
// appended together as one batch (proposePending), so each follower gets
// them in one append and acknowledges them once.
func (n *node) propose(ctx actor.Context, m *Propose) {
	n.pendingProps = append(n.pendingProps, proposalWaiter{to: ctx.Sender(), done: m.Done, id: m.ID})
	n.pendingData = append(n.pendingData, m.Data)
}

// proposePending appends the queued proposals, in arrival order. The role
// may have changed since they were queued: then they get the answer the
// follower behavior gives.
func (n *node) proposePending(ctx actor.Context) {
	if len(n.pendingProps) == 0 {
		return
	}
	props, data := n.pendingProps, n.pendingData
	n.pendingProps, n.pendingData = nil, nil
	var err error
	switch {
	case n.stopped:
		err = ErrStopped
	case n.role != raft.Leader:
		err = &NotLeaderError{Leader: n.raft.Lead()}
	case n.diskFull != nil:
		err = n.diskFull // wraps ErrNoSpace: not proposed, no effect
	default:
		err = n.raft.ProposeBatch(data)
	}
	if errors.Is(err, raft.ErrUncommittedLogFull) && len(props) > 1 {
		// The cap may still admit some of them alone: as if each had
		// been proposed as it arrived.
		for i, w := range props {
			n.proposeOne(ctx, w, data[i])
		}
		return
	}
	if err != nil {
		for _, w := range props {
			w.answer(ctx, &ProposeResult{ID: w.id, Err: err})
		}
		return
	}
	first := n.raft.LastIndex() - uint64(len(props)) + 1
	for i, w := range props {
		n.await(ctx, first+uint64(i), w)
	}
}

func (n *node) proposeOne(ctx actor.Context, w proposalWaiter, data []byte) {
	if err := n.raft.Propose(data); err != nil {
		w.answer(ctx, &ProposeResult{ID: w.id, Err: err})
		return
	}
	n.await(ctx, n.raft.LastIndex(), w)
}

// await registers w for the entry at index, of the current term.
func (n *node) await(ctx actor.Context, index uint64, w proposalWaiter) {
	if old, ok := n.proposals[index]; ok {
		// An earlier leadership's proposal at this index never committed.
		old.answer(ctx, &ProposeResult{ID: old.id, Err: ErrProposalLost})
	}
	w.term = n.raft.Term()
	n.proposals[index] = w
}

// leaseRead answers once applied reaches the commit index, if the lease holds
// and no transfer is under way (a transferee campaigns without waiting for
// our lease to run out).
func (n *node) leaseRead(ctx actor.Context, m *Read) {
	if !n.raft.CommittedInTerm() || n.raft.LeadTransferee() != raft.None || !n.lease.valid(n.opts.clock.Now()) {
		// The caller falls back to a ReadIndex round.
		n.reply(ctx, ctx.Sender(), &ReadResult{ID: m.ID, Err: ErrLeaseExpired})
		return
	}
	index := n.raft.Committed()
	ctx.Send(n.applier, &waitApplied{index: index, to: ctx.Sender(), reply: &ReadResult{ID: m.ID, Index: index}})
}

func (n *node) mostCaughtUpPeer() uint64 {
	return pickTransferee(n.cfg.ID, n.raft.Matches(), n.raft.RecentlyActive)
}

// pickTransferee picks the voter with the highest match index (ties: the
// lowest id), among those heard from lately when there are any: handing
// over to a member that is down would only wait out the caller's deadline.
func pickTransferee(self uint64, matches map[uint64]uint64, active func(uint64) bool) uint64 {
	var best, bestMatch uint64
	bestActive := false
	for id, match := range matches {
		if id == self {
			continue
		}
		a := active(id)
		better := best == raft.None ||
			(a && !bestActive) ||
			(a == bestActive && (match > bestMatch || (match == bestMatch && id < best)))
		if better {
			best, bestMatch, bestActive = id, match, a
		}
	}
	return best
}
