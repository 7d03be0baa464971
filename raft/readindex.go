// Heartbeat rounds, ReadIndex and the lease. Every heartbeat broadcast starts
// a numbered round; followers echo the number. A read received at commit
// index c is answered once a quorum acknowledges a round started after it:
// at that moment we were still leader, so c is at least every write committed
// before the read arrived (ReadIndex, thesis §6.4, with no log write). The
// same rounds give the lease: the caller notes when each round was sent and,
// when a quorum acknowledges it, may serve reads until that send time plus a
// lease shorter than the election timeout.
package raft

import (
	"encoding/binary"

	pb "github.com/kontiki-raft/kontiki/messages"
)

// ReadState is a read that may be served once the state machine has applied
// Index. RequestCtx is the caller's id of the read.
type ReadState struct {
	Index      uint64
	RequestCtx []byte
}

type readRequest struct {
	index uint64
	ctx   []byte
	from  uint64
	// round is the first heartbeat round started after the request.
	round uint64
}

type readIndex struct {
	// round is the number of the last heartbeat round started. It never
	// decreases, across terms too, so a round number names one broadcast.
	round uint64
	acked map[uint64]uint64
	// pending reads in the order received (so rounds ascend).
	pending []readRequest
	// waitingTermCommit holds reads received before this leader committed an
	// entry of its term: its commit index may lag until then.
	waitingTermCommit []*pb.Message
	needRound         bool
	// quorumRound is the highest round acknowledged by a quorum.
	quorumRound uint64
	// Reported once in a Ready: the round started and the round newly
	// acknowledged by a quorum since the last Ready.
	startedRound, reportedQuorumRound uint64
}

func (ri *readIndex) reset() {
	ri.acked = map[uint64]uint64{}
	ri.pending = nil
	ri.waitingTermCommit = nil
	ri.needRound = false
	ri.quorumRound = 0
	ri.startedRound, ri.reportedQuorumRound = 0, 0
}

func (ri *readIndex) startRound() uint64 {
	ri.round++
	ri.needRound = false
	ri.startedRound = ri.round
	return ri.round
}

func (ri *readIndex) ack(from, round uint64) {
	if round > ri.acked[from] {
		ri.acked[from] = round
	}
}

func encodeRound(round uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], round)
	return b[:]
}

func decodeRound(ctx []byte) uint64 {
	if len(ctx) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(ctx)
}

// ReadIndex asks for a read index; the answer arrives as a ReadState with
// the same ctx in a later Ready (on this node, also a follower).
func (r *Raft) ReadIndex(ctx []byte) error {
	return r.Step(&pb.Message{Type: pb.MessageType_MSG_READ_INDEX, From: r.id, Entries: []*pb.Entry{{Data: ctx}}})
}

func (r *Raft) committedEntryInCurrentTerm() bool {
	return r.log.zeroTermOnOutOfBounds(r.log.term(r.log.committed)) == r.term
}

// CommittedInTerm reports whether this leader has committed an entry of its
// own term: before that, its commit index may lag, so no read may be served.
func (r *Raft) CommittedInTerm() bool { return r.role == Leader && r.committedEntryInCurrentTerm() }

func (r *Raft) handleReadIndex(m *pb.Message) {
	if len(m.Entries) != 1 {
		return
	}
	if !r.committedEntryInCurrentTerm() {
		r.reads.waitingTermCommit = append(r.reads.waitingTermCommit, m)
		return
	}
	req := readRequest{index: r.log.committed, ctx: m.Entries[0].Data, from: m.From, round: r.reads.round + 1}
	if r.trk.isSingleton() {
		r.answerRead(req)
		return
	}
	r.reads.pending = append(r.reads.pending, req)
	r.reads.needRound = true
}

func (r *Raft) releaseReadsWaitingForTermCommit() {
	if len(r.reads.waitingTermCommit) == 0 || !r.committedEntryInCurrentTerm() {
		return
	}
	waiting := r.reads.waitingTermCommit
	r.reads.waitingTermCommit = nil
	for _, m := range waiting {
		r.handleReadIndex(m)
	}
}

// maybeReleaseReads answers every pending read whose round a quorum has
// acknowledged.
func (r *Raft) maybeReleaseReads() {
	self := r.reads.round
	q := r.trk.config.Voters.committedIndex(func(id uint64) (uint64, bool) {
		if id == r.id {
			return self, true
		}
		v, ok := r.reads.acked[id]
		return v, ok
	})
	if q <= r.reads.quorumRound {
		return
	}
	r.reads.quorumRound = q
	r.reads.reportedQuorumRound = q
	i := 0
	for ; i < len(r.reads.pending) && r.reads.pending[i].round <= q; i++ {
		r.answerRead(r.reads.pending[i])
	}
	r.reads.pending = r.reads.pending[i:]
}

func (r *Raft) answerRead(req readRequest) {
	if req.from == None || req.from == r.id {
		r.readStates = append(r.readStates, ReadState{Index: req.index, RequestCtx: req.ctx})
		return
	}
	r.send(&pb.Message{To: req.from, Type: pb.MessageType_MSG_READ_INDEX_RESP, Index: req.index, Entries: []*pb.Entry{{Data: req.ctx}}})
}
