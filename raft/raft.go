// The node's protocol state, the role transitions, and the term rules every
// server applies before its role sees a message (Step / StepCommon).
package raft

import (
	"bytes"
	"fmt"
	"log/slog"

	pb "github.com/kontiki-raft/kontiki/messages"
)

type Role uint8

const (
	Follower Role = iota
	PreCandidate
	Candidate
	Leader
)

func (r Role) String() string {
	switch r {
	case Follower:
		return "follower"
	case PreCandidate:
		return "pre-candidate"
	case Candidate:
		return "candidate"
	case Leader:
		return "leader"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// campaignTransfer marks the vote requests of a campaign started by
// MsgTimeoutNow: they bypass leader stickiness.
var campaignTransfer = []byte("CampaignTransfer")

type campaignType uint8

const (
	campaignPreElection campaignType = iota
	campaignElection
	campaignTransferType
)

// Raft is one node's protocol state. Not safe for concurrent use: the node
// actor owns it.
type Raft struct {
	id     uint64
	term   uint64
	vote   uint64
	lead   uint64
	role   Role
	log    *raftLog
	trk    *tracker
	logger *slog.Logger

	maxMsgSize         uint64
	maxUncommittedSize uint64
	// uncommittedSize is the payload of entries appended by this leader and
	// not yet committed (an estimate: it is reset on leadership change).
	uncommittedSize uint64

	checkQuorum       bool
	preVote           bool
	disableForwarding bool

	// electionElapsed: ticks since the last election timeout (followers:
	// since the leader was last heard from; leaders: since the last
	// check-quorum round). heartbeatElapsed: leader ticks since the last
	// heartbeat.
	electionElapsed  int
	heartbeatElapsed int
	electionTimeout  int
	heartbeatTimeout int
	// randomizedElectionTimeout in [electionTimeout, 2*electionTimeout).
	randomizedElectionTimeout int
	rand                      Rand
	// restartQuiet counts down the ticks after a restart during which vote
	// requests are ignored as if a leader had just been heard from: before
	// it went down this node may have acknowledged a leader whose lease (and
	// leader stickiness) counts on it not voting for an election timeout.
	// A reboot must not let it break that promise.
	restartQuiet int

	// leadTransferee is the target of an ongoing leadership transfer.
	leadTransferee uint64
	// pendingConfIndex: a conf change proposal must wait until the index of
	// the last one is applied.
	pendingConfIndex uint64

	reads readIndex

	msgs       []*pb.Message
	readStates []ReadState

	// What the last Ready reported, to report only changes.
	prevSoft SoftState
	prevHard *pb.HardState
}

// New restores a node from cfg.Storage.
func New(cfg Config) (*Raft, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log, err := newLog(cfg.Storage, cfg.MaxCommittedSizePerReady)
	if err == nil {
		log.asyncWrites = cfg.AsyncStorageWrites
	}
	if err != nil {
		return nil, err
	}
	hs, cs, err := cfg.Storage.InitialState()
	if err != nil {
		return nil, err
	}
	r := &Raft{
		id:                 cfg.ID,
		log:                log,
		trk:                newTracker(cfg.MaxInflightMsgs, cfg.MaxInflightBytes),
		logger:             cfg.Logger,
		maxMsgSize:         cfg.MaxSizePerMsg,
		maxUncommittedSize: cfg.MaxUncommittedEntriesSize,
		checkQuorum:        !cfg.DisableCheckQuorum,
		preVote:            !cfg.DisablePreVote,
		disableForwarding:  cfg.DisableProposalForwarding,
		electionTimeout:    cfg.ElectionTick,
		heartbeatTimeout:   cfg.HeartbeatTick,
		rand:               cfg.Rand,
	}
	r.trk.restore(cs, r.log.lastIndex()+1)
	if hs != nil && (hs.Term != 0 || hs.Vote != 0 || hs.Commit != 0) {
		if hs.Commit < r.log.committed || hs.Commit > r.log.lastIndex() {
			return nil, fmt.Errorf("raft: hard state commit %d out of range [%d, %d]", hs.Commit, r.log.committed, r.log.lastIndex())
		}
		r.log.committed = hs.Commit
		r.term, r.vote = hs.Term, hs.Vote
	}
	if cfg.QuietAfterRestart && r.term > 0 {
		// It may have acknowledged a leader just before: see restartQuiet.
		r.restartQuiet = r.electionTimeout
	}
	if cfg.Applied > 0 {
		if cfg.Applied > r.log.committed {
			return nil, fmt.Errorf("raft: applied %d is above commit %d", cfg.Applied, r.log.committed)
		}
		r.log.appliedTo(cfg.Applied)
	}
	r.becomeFollower(r.term, None)
	r.prevSoft = r.softState()
	r.prevHard = r.hardState()
	return r, nil
}

func (r *Raft) ID() uint64   { return r.id }
func (r *Raft) Role() Role   { return r.role }
func (r *Raft) Term() uint64 { return r.term }
func (r *Raft) Lead() uint64 { return r.lead }

func (r *Raft) hardState() *pb.HardState {
	return &pb.HardState{Term: r.term, Vote: r.vote, Commit: r.log.committed}
}

// promotable: a voter of the current configuration that is not a learner.
func (r *Raft) promotable() bool {
	pr := r.trk.progress[r.id]
	return pr != nil && !pr.IsLearner && r.log.unstable.snapshot == nil
}

func (r *Raft) send(m *pb.Message) {
	if m.From == None {
		m.From = r.id
	}
	switch m.Type {
	case pb.MessageType_MSG_VOTE, pb.MessageType_MSG_VOTE_RESP, pb.MessageType_MSG_PRE_VOTE, pb.MessageType_MSG_PRE_VOTE_RESP:
		// Vote traffic states its term explicitly (a pre-vote's is term+1).
		if m.Term == 0 {
			panic(fmt.Sprintf("raft: %v sent without a term", m.Type))
		}
	default:
		if m.Term != 0 {
			panic(fmt.Sprintf("raft: term set on %v", m.Type))
		}
		// A proposal or read forwarded to the leader keeps term 0 so it is
		// treated as local there.
		if m.Type != pb.MessageType_MSG_PROP && m.Type != pb.MessageType_MSG_READ_INDEX {
			m.Term = r.term
		}
	}
	r.msgs = append(r.msgs, m)
}

// reset enters term, clearing everything that belonged to the previous role.
func (r *Raft) reset(term uint64) {
	if r.term != term {
		r.term = term
		r.vote = None
	}
	r.lead = None
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.resetRandomizedElectionTimeout()
	r.leadTransferee = None
	r.trk.resetVotes()
	last := r.log.lastIndex()
	stable := r.log.stableIndex()
	for id, pr := range r.trk.progress {
		*pr = Progress{Next: last + 1, Inflights: pr.Inflights, IsLearner: pr.IsLearner}
		pr.Inflights.reset()
		if id == r.id {
			// Only what is durable here counts toward a quorum.
			pr.Match = stable
		}
	}
	r.pendingConfIndex = 0
	r.uncommittedSize = 0
	r.reads.reset()
}

func (r *Raft) resetRandomizedElectionTimeout() {
	r.randomizedElectionTimeout = r.electionTimeout + r.rand.IntN(r.electionTimeout)
}

func (r *Raft) becomeFollower(term, lead uint64) {
	r.reset(term)
	r.lead = lead
	r.role = Follower
	r.logger.Debug("became follower", "node", r.id, "term", r.term, "leader", lead)
}

func (r *Raft) becomePreCandidate() {
	if r.role == Leader {
		panic("raft: leader cannot become pre-candidate")
	}
	// A pre-candidate changes neither term nor vote: a failed pre-vote must
	// leave no trace in anyone's durable state.
	r.trk.resetVotes()
	r.lead = None
	r.role = PreCandidate
	r.logger.Debug("became pre-candidate", "node", r.id, "term", r.term)
}

func (r *Raft) becomeCandidate() {
	if r.role == Leader {
		panic("raft: leader cannot become candidate")
	}
	r.reset(r.term + 1)
	r.vote = r.id
	r.role = Candidate
	r.logger.Debug("became candidate", "node", r.id, "term", r.term)
}

func (r *Raft) becomeLeader() {
	if r.role == Follower {
		panic("raft: follower cannot become leader")
	}
	r.reset(r.term)
	r.lead = r.id
	r.role = Leader
	self := r.trk.progress[r.id]
	self.BecomeReplicate()
	// The leader is always active to itself: check-quorum counts it toward
	// the quorum it must hear from (MsgCheckQuorum clears only the others).
	self.RecentActive = true
	// Entries already in the log may carry a conf change not yet applied;
	// a new one must wait for them.
	r.pendingConfIndex = r.log.lastIndex()
	// The empty entry of the new term lets the leader commit the entries of
	// earlier terms (§5.4.2) and marks when ReadIndex becomes safe.
	if !r.appendEntry(&pb.Entry{}) {
		panic("raft: empty entry dropped")
	}
	r.logger.Info("became leader", "node", r.id, "term", r.term)
}

// Step applies the term rules and then the current role's handler: the same
// path the node actor takes through StepCommon and a behavior.
func (r *Raft) Step(m *pb.Message) error {
	handled, err := r.StepCommon(m)
	if handled || err != nil {
		return err
	}
	return r.StepRole(m)
}

// StepRole hands m to the handler of the current role.
func (r *Raft) StepRole(m *pb.Message) error {
	switch r.role {
	case Leader:
		return r.StepLeader(m)
	case Candidate, PreCandidate:
		return r.StepCandidate(m)
	default:
		return r.StepFollower(m)
	}
}

// StepCommon applies the rules every server follows whatever its role. It
// reports handled when nothing is left for the role's handler. It may change
// the role; the caller switches behavior before calling the role's handler.
func (r *Raft) StepCommon(m *pb.Message) (handled bool, err error) {
	if why := malformed(m, r.id); why != "" {
		// No correct node sends this: acting on it could corrupt the log
		// or crash us, so it is dropped before any rule applies.
		r.logger.Warn("dropped malformed message", "node", r.id, "term", r.term, "from", m.From, "type", m.Type.String(), "reason", why)
		return true, nil
	}
	switch {
	case m.Term == 0:
		// Local message, or a proposal or read forwarded to the leader.
	case m.Term > r.term:
		if m.Type == pb.MessageType_MSG_VOTE || m.Type == pb.MessageType_MSG_PRE_VOTE {
			force := bytes.Equal(m.Context, campaignTransfer)
			inLease := r.checkQuorum && ((r.lead != None && r.electionElapsed < r.electionTimeout) || r.restartQuiet > 0)
			if !force && inLease {
				// Leader stickiness: we heard from a leader within the
				// election timeout (or restarted within it, and may have),
				// so this campaign is not needed. Not even the term is
				// raised, so a rejoining node cannot depose a healthy
				// leader.
				r.logger.Debug("ignored vote request within lease", "node", r.id, "term", r.term, "from", m.From, "msg_term", m.Term)
				return true, nil
			}
		}
		switch {
		case m.Type == pb.MessageType_MSG_PRE_VOTE:
			// A pre-vote never raises our term.
		case m.Type == pb.MessageType_MSG_PRE_VOTE_RESP && !m.Reject:
			// A granted pre-vote carries term+1 of our future campaign;
			// our term rises only when that campaign starts.
		default:
			if m.Type == pb.MessageType_MSG_APP || m.Type == pb.MessageType_MSG_HEARTBEAT || m.Type == pb.MessageType_MSG_SNAP {
				r.becomeFollower(m.Term, m.From)
			} else {
				r.becomeFollower(m.Term, None)
			}
		}
	case m.Term < r.term:
		if (r.checkQuorum || r.preVote) && (m.Type == pb.MessageType_MSG_HEARTBEAT || m.Type == pb.MessageType_MSG_APP) {
			// A stale leader (e.g. back from a partition) learns our term
			// from this reply and steps down. Without it, a node that
			// pre-voted its way back would never be told, and with
			// check-quorum the stale leader's followers would ignore it.
			r.send(&pb.Message{To: m.From, Type: pb.MessageType_MSG_APP_RESP})
		} else if m.Type == pb.MessageType_MSG_PRE_VOTE {
			// Reject in our term so the pre-candidate learns it is behind.
			r.send(&pb.Message{To: m.From, Term: r.term, Type: pb.MessageType_MSG_PRE_VOTE_RESP, Reject: true})
		}
		// Everything else from an old term is dropped.
		return true, nil
	}

	switch m.Type {
	case pb.MessageType_MSG_HUP:
		if r.preVote {
			r.hup(campaignPreElection)
		} else {
			r.hup(campaignElection)
		}
		return true, nil
	case pb.MessageType_MSG_VOTE, pb.MessageType_MSG_PRE_VOTE:
		r.handleVoteRequest(m)
		return true, nil
	}
	return false, nil
}

// maxTermOrIndex bounds the terms and log indexes a message may carry. No
// cluster gets near it (2^62 entries at a million a second take 146,000
// years), and below it term+1, index+1 and index+len cannot overflow.
const maxTermOrIndex = 1 << 62

// malformed says why no correct node could have sent m to node self ("" if
// one could).
func malformed(m *pb.Message, self uint64) string {
	if m.Term >= maxTermOrIndex {
		return "term out of range"
	}
	switch m.Type {
	case pb.MessageType_MSG_HUP, pb.MessageType_MSG_BEAT, pb.MessageType_MSG_PROP,
		pb.MessageType_MSG_UNREACHABLE, pb.MessageType_MSG_SNAP_STATUS, pb.MessageType_MSG_CHECK_QUORUM,
		pb.MessageType_MSG_TRANSFER_LEADER, pb.MessageType_MSG_READ_INDEX:
		// Local, or a request forwarded to the leader: term 0 is normal.
		return ""
	}
	// A peer message always carries its sender's term; treated as local it
	// could be answered in term 0 or move us back to term 0.
	if m.Term == 0 {
		return "peer message without a term"
	}
	// We never send a peer message to ourselves: taking one as ours would
	// make us our own follower and forward requests to ourselves.
	if m.From == self {
		return "peer message from ourselves"
	}
	switch m.Type {
	case pb.MessageType_MSG_APP:
		// Log matching assumes the entries follow m.Index one by one, with
		// terms never decreasing from m.LogTerm and none above the leader's.
		if m.LogTerm > m.Term || m.Index >= maxTermOrIndex || m.Index+uint64(len(m.Entries)) >= maxTermOrIndex {
			return "append position out of range"
		}
		prevTerm := m.LogTerm
		for i, e := range m.Entries {
			if e.Index != m.Index+1+uint64(i) {
				return "append entries not contiguous after its index"
			}
			if e.Term == 0 || e.Term < prevTerm || e.Term > m.Term {
				return "append entry terms out of order"
			}
			prevTerm = e.Term
		}
	case pb.MessageType_MSG_SNAP:
		meta := m.GetSnapshot().GetMetadata()
		cs := meta.GetConfState()
		if meta.GetIndex() == 0 || meta.GetIndex() >= maxTermOrIndex || meta.GetTerm() == 0 || meta.GetTerm() > m.Term || len(cs.GetVoters())+len(cs.GetVotersOutgoing()) == 0 {
			return "snapshot without a valid index, term or voters"
		}
	}
	return ""
}

// StepFollower is the follower's handler.
func (r *Raft) StepFollower(m *pb.Message) error {
	switch m.Type {
	case pb.MessageType_MSG_PROP:
		if r.lead == None {
			return ErrNoLeader
		}
		if r.disableForwarding {
			return ErrProposalDropped
		}
		r.forwardToLeader(m)
	case pb.MessageType_MSG_APP:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleAppendEntries(m)
	case pb.MessageType_MSG_HEARTBEAT:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleHeartbeat(m)
	case pb.MessageType_MSG_SNAP:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleSnapshot(m)
	case pb.MessageType_MSG_TRANSFER_LEADER:
		if r.lead == None {
			return ErrNoLeader
		}
		r.forwardToLeader(m)
	case pb.MessageType_MSG_TIMEOUT_NOW:
		// The leader hands over: campaign now, skipping pre-vote and the
		// stickiness of other followers.
		r.hup(campaignTransferType)
	case pb.MessageType_MSG_READ_INDEX:
		if r.lead == None {
			return ErrNoLeader
		}
		r.forwardToLeader(m)
	case pb.MessageType_MSG_READ_INDEX_RESP:
		if len(m.Entries) != 1 {
			return fmt.Errorf("raft: read index response with %d entries", len(m.Entries))
		}
		r.readStates = append(r.readStates, ReadState{Index: m.Index, RequestCtx: m.Entries[0].Data})
	}
	return nil
}

// forwardToLeader hands a request to the leader. It leaves without a term
// (send stamps a transfer request with ours), also when it reached us from
// the wire carrying one.
func (r *Raft) forwardToLeader(m *pb.Message) {
	m.To = r.lead
	m.Term = 0
	r.send(m)
}

// StepCandidate is the handler of candidates and pre-candidates.
func (r *Raft) StepCandidate(m *pb.Message) error {
	respType := pb.MessageType_MSG_VOTE_RESP
	if r.role == PreCandidate {
		respType = pb.MessageType_MSG_PRE_VOTE_RESP
	}
	switch m.Type {
	case pb.MessageType_MSG_PROP, pb.MessageType_MSG_READ_INDEX, pb.MessageType_MSG_TRANSFER_LEADER:
		return ErrNoLeader
	case pb.MessageType_MSG_APP:
		r.becomeFollower(m.Term, m.From)
		r.handleAppendEntries(m)
	case pb.MessageType_MSG_HEARTBEAT:
		r.becomeFollower(m.Term, m.From)
		r.handleHeartbeat(m)
	case pb.MessageType_MSG_SNAP:
		r.becomeFollower(m.Term, m.From)
		r.handleSnapshot(m)
	case respType:
		r.handleVoteResponse(m)
	}
	return nil
}
