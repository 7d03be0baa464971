// The node actor: lifecycle, the rules every role follows, and draining each
// Ready — send, persist (in the background), apply. Role-specific handling lives
// in the behaviors (follower.go, precandidate.go, candidate.go, leader.go);
// the node switches behavior in the same Receive in which the core changes
// role, never through a message to itself.
package actors

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"slices"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	pb "github.com/kontiki-raft/kontiki/messages"
	"github.com/kontiki-raft/kontiki/raft"
	"google.golang.org/protobuf/proto"
)

// NewNodeProps returns the Props of a node actor. Spawn it in your own actor
// system; register its PID with the transport of its peers. A supervised
// restart rebuilds the node from its LogStore, never from memory.
func NewNodeProps(cfg Config, opts ...Option) (*actor.Props, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	o := options{clock: systemClock{}}
	for _, opt := range opts {
		opt(&o)
	}
	producer := func() actor.Actor { return newNode(cfg, o) }
	props := actor.PropsFromProducer(producer, append([]actor.PropsOption{
		// The applier's failure restarts the node, which restores the
		// state machine from durable state.
		actor.WithSupervisor(actor.NewOneForOneStrategy(0, 0, func(any) actor.Directive { return actor.EscalateDirective })),
	}, o.propsOptions...)...)
	return props, nil
}

type readWaiter struct {
	to     *actor.PID
	id     uint64
	expiry int // tick count after which the read fails
}

type node struct {
	cfg       Config
	opts      options
	logger    *slog.Logger
	raft      *raft.Raft
	storage   *raft.MemoryStorage
	applier   *actor.PID
	persister *actor.PID
	writer    *actor.PID
	// writesInFlight: logWrites sent to the writer and not yet reported.
	writesInFlight int
	// diskFull: the writer holds its writes for lack of space (the error
	// says why); proposals are refused until the next logWritten.
	diskFull error
	// snapshotNotBefore: the tick count before which no snapshot starts
	// (after one failed for lack of space).
	snapshotNotBefore int
	// observedCommit: the commit index last reported to the observer.
	observedCommit uint64
	applied        atomic.Uint64
	// snapshotsInstalled counts snapshots received from a leader.
	snapshotsInstalled atomic.Uint64

	behavior actor.Behavior
	role     raft.Role
	lead     uint64
	ticker   ticker
	ticks    int
	lease    *lease

	confState *pb.ConfState
	// proposals waiting for their entry to apply, by log index.
	proposals map[uint64]proposalWaiter
	// pendingProps and pendingData: proposals received since the last
	// drain, not yet in the log (same length, arrival order).
	pendingProps []proposalWaiter
	pendingData  [][]byte
	// reads waiting for a read index, by sequence number.
	reads   map[uint64]readWaiter
	readSeq uint64
	// incarnation tags this actor's read requests: an answer the leader
	// sends to a previous incarnation (before a restart) must not satisfy a
	// new read that happens to reuse its sequence number.
	incarnation uint64

	handedSinceSnapshot      uint64
	handedBytesSinceSnapshot uint64
	// lastSnapshotBytes: the size of the newest snapshot image (ours or
	// the leader's), which scales how often default snapshots are taken;
	// snapshotStretch: the random 0–49 % the next one waits beyond it.
	lastSnapshotBytes uint64
	snapshotStretch   int
	// rand: the injected randomness (WithRand), or a seeded source.
	rand raft.Rand
	// snapshotting: the snapshot in flight, nil when none (snapshot.go).
	snapshotting *snapshotJob
	stopped      bool
	// drainScheduled: a drainReady message is in our mailbox. Every message
	// queued before it is handled first, so a burst of proposals or acks
	// shares one Ready: one append, one fsync, one batch per peer.
	drainScheduled bool
}

// drainReady asks the node to handle its Ready now.
type drainReady struct{}

func newNode(cfg Config, o options) *node {
	n := &node{
		cfg:       cfg,
		opts:      o,
		logger:    cfg.Logger.With("node", cfg.ID),
		behavior:  actor.NewBehavior(),
		lease:     newLease(cfg.LeaseDuration),
		proposals: map[uint64]proposalWaiter{},
		reads:     map[uint64]readWaiter{},
	}
	n.behavior.Become(n.follower)
	return n
}

func (n *node) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		if err := n.start(ctx); err != nil {
			n.fatal(ctx, fmt.Errorf("start: %w", err))
		}
		return
	case *actor.Stopping:
		n.ticker.stop()
		n.failReads(ctx, ErrStopped)
		n.stopped = true
		n.proposePending(ctx)
		n.failProposalsUpTo(ctx, math.MaxUint64, ErrStopped)
		return
	case *actor.Restarting:
		n.ticker.stop()
		return
	case *actor.Stopped, actor.SystemMessage:
		return
	}
	if n.stopped || n.raft == nil {
		return
	}
	switch msg := ctx.Message().(type) {
	case tick:
		n.ticks++
		n.raft.Tick()
		n.expireReads(ctx)
		if n.ticks == n.snapshotNotBefore {
			n.maybeSnapshot(ctx) // the retry after a snapshot found no room
		}
		n.ticker.arm(ctx.Self())
	case *pb.Message:
		if !fromNetwork(msg) {
			n.logger.Warn("dropped a local-only message type from a peer", "type", msg.Type.String(), "from", msg.From)
			return
		}
		handled, err := n.raft.StepCommon(msg)
		n.syncBehavior()
		if !handled && err == nil {
			n.behavior.Receive(ctx)
		}
	case *PeerUnreachable:
		_ = n.raft.Step(&pb.Message{Type: pb.MessageType_MSG_UNREACHABLE, From: msg.ID})
	case *SnapshotStatus:
		_ = n.raft.Step(&pb.Message{Type: pb.MessageType_MSG_SNAP_STATUS, From: msg.ID, Reject: msg.Failed})
	case *snapshotCaptured:
		n.onSnapshotCaptured(ctx, msg)
		n.maybeSnapshot(ctx)
	case *snapshotSaved:
		n.onSnapshotSaved(ctx, msg)
		n.maybeSnapshot(ctx)
	case *logWritten:
		n.onWritten(ctx, msg)
	case *diskFull:
		if n.diskFull == nil {
			n.logger.Error("disk full: writes held and proposals refused until space is freed (retrying every second)", "err", msg.err)
		}
		n.diskFull = msg.err
		if n.role == raft.Leader {
			// It would refuse every write while it leads: hand over to a
			// follower that can still write (its appends and the
			// TimeoutNow leave before the held writes).
			if to := n.mostCaughtUpPeer(); to != raft.None {
				if err := n.raft.TransferLeader(to); err == nil {
					n.logger.Warn("disk full: handing leadership over", "to", to)
				}
			}
		}
	case *GetStatus:
		ctx.Respond(n.status())
	case drainReady:
		n.drainScheduled = false
		n.drain(ctx)
		return
	default:
		n.behavior.Receive(ctx)
	}
	n.syncBehavior()
	if !n.drainScheduled && (n.raft.HasReady() || len(n.pendingProps) > 0) {
		n.drainScheduled = true
		ctx.Send(ctx.Self(), drainReady{})
	}
}

// PeerUnreachable is sent by a transport that could not reach a peer.
type PeerUnreachable struct{ ID uint64 }

// SnapshotStatus is sent by a transport when a snapshot transfer to ID ended.
type SnapshotStatus struct {
	ID     uint64
	Failed bool
}

// fromNetwork: the raft message types a peer may send. Local-only types
// (MsgHup, MsgBeat, proposals...) from the wire would bypass our own checks.
func fromNetwork(m *pb.Message) bool {
	switch m.Type {
	case pb.MessageType_MSG_APP, pb.MessageType_MSG_APP_RESP,
		pb.MessageType_MSG_VOTE, pb.MessageType_MSG_VOTE_RESP,
		pb.MessageType_MSG_PRE_VOTE, pb.MessageType_MSG_PRE_VOTE_RESP,
		pb.MessageType_MSG_SNAP, pb.MessageType_MSG_HEARTBEAT, pb.MessageType_MSG_HEARTBEAT_RESP,
		pb.MessageType_MSG_TIMEOUT_NOW, pb.MessageType_MSG_READ_INDEX, pb.MessageType_MSG_READ_INDEX_RESP:
		return m.Term != 0 || m.Type == pb.MessageType_MSG_READ_INDEX
	}
	return false
}

func (n *node) start(ctx actor.Context) error {
	st, err := n.cfg.LogStore.Load()
	if err != nil {
		return err
	}
	n.storage = raft.NewMemoryStorage()
	var applied uint64
	hs := st.HardState
	if hs == nil {
		hs = &pb.HardState{}
	}
	if st.Snapshot != nil && st.Snapshot.Metadata != nil {
		if err := n.storage.ApplySnapshot(st.Snapshot); err != nil {
			return err
		}
		applied = st.Snapshot.Metadata.Index
		n.lastSnapshotBytes = uint64(len(st.Snapshot.Data))
		n.confState = st.Snapshot.Metadata.ConfState
		if hs.Commit < applied {
			hs = &pb.HardState{Term: hs.Term, Vote: hs.Vote, Commit: applied}
		}
	} else {
		n.confState = &pb.ConfState{Voters: n.cfg.Peers}
		n.storage.SetConfState(n.confState)
	}
	n.storage.SetHardState(hs)
	if err := n.storage.Append(st.Entries); err != nil {
		return err
	}
	rc := raft.Config{
		ID: n.cfg.ID, ElectionTick: n.cfg.ElectionTicks, HeartbeatTick: n.cfg.HeartbeatTicks,
		Storage: n.storage, Applied: applied,
		MaxSizePerMsg: n.cfg.MaxSizePerMsg, MaxInflightMsgs: n.cfg.MaxInflightMsgs,
		MaxInflightBytes: n.cfg.MaxInflightBytes, MaxUncommittedEntriesSize: n.cfg.MaxUncommittedBytes,
		Rand: n.opts.rand, Logger: n.cfg.Logger,
		// The read lease counts on followers not voting for an election
		// timeout after they acknowledged us, also across their reboot.
		QuietAfterRestart: true,
		// The log writer persists in the background (logwriter.go).
		AsyncStorageWrites: true,
	}
	if n.raft, err = raft.New(rc); err != nil {
		return err
	}
	n.role = n.raft.Role()
	n.incarnation = newIncarnation(n.opts.rand)
	if n.rand = n.opts.rand; n.rand == nil {
		n.rand = mrand.New(mrand.NewPCG(mrand.Uint64(), n.cfg.ID))
	}
	n.applier = ctx.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &applier{id: n.cfg.ID, sm: n.cfg.StateMachine, applied: &n.applied, observer: n.opts.observer}
	}, n.opts.propsOptions...))
	n.persister = ctx.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &persister{store: n.cfg.LogStore, logger: n.logger}
	}, n.opts.propsOptions...))
	if n.opts.timers == nil {
		n.opts.timers = newSchedulerTimers(ctx.ActorSystem())
	}
	n.writer = ctx.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &logWriter{store: n.cfg.LogStore, transport: n.cfg.Transport, timers: n.opts.timers}
	}, n.opts.propsOptions...))
	// The state machine starts from the snapshot (or empty); the committed
	// log after it is replayed as the core hands it out again.
	ctx.Send(n.applier, &restoreState{snap: st.Snapshot})
	n.ticker = ticker{timers: n.opts.timers, interval: n.cfg.TickInterval}
	n.ticker.arm(ctx.Self())
	n.logger.Info("node started", "term", hs.Term, "commit", hs.Commit, "applied", applied, "last_index", n.raft.LastIndex(), "durable", n.cfg.LogStore.Durable())
	return nil
}

// syncBehavior switches the behavior to the core's role.
func (n *node) syncBehavior() {
	role := n.raft.Role()
	if role == n.role {
		return
	}
	n.logger.Info("role changed", "term", n.raft.Term(), "role", role.String(), "from", n.role.String())
	if n.role == raft.Leader {
		n.lease.reset()
	}
	n.role = role
	switch role {
	case raft.Leader:
		n.behavior.Become(n.leader)
	case raft.Candidate:
		n.behavior.Become(n.candidate)
	case raft.PreCandidate:
		n.behavior.Become(n.preCandidate)
	default:
		n.behavior.Become(n.follower)
	}
}

// drain handles every Ready the core has: a leader's appends, heartbeats and
// snapshots leave at once; hard state, entries and an installed snapshot go
// to the log writer with the acks and votes that must wait for them;
// committed entries (durable here already) go to the applier. It runs when
// the drainReady message comes up, after the messages that were queued when
// the first of them changed the core.
func (n *node) drain(ctx actor.Context) {
	n.proposePending(ctx)
	for !n.stopped && n.raft.HasReady() {
		rd := n.raft.Ready()
		if rd.SoftState != nil {
			n.onSoftState(ctx, rd.SoftState)
		}
		var early, late []*pb.Message
		for _, m := range rd.Messages {
			if m.Type == pb.MessageType_MSG_TIMEOUT_NOW {
				// The transferee campaigns past every follower's
				// stickiness, whenever the message arrives: no lease
				// read for the rest of this leadership.
				n.lease.revoke()
			}
			if raft.SendsBeforePersist(m) {
				early = append(early, m)
			} else {
				late = append(late, m)
			}
		}
		if rd.HeartbeatRound != 0 {
			n.lease.sent(rd.HeartbeatRound, n.opts.clock.Now())
		}
		n.observeDurable(&rd)
		w := &logWrite{hardState: rd.HardState, entries: rd.Entries, snapshot: rd.Snapshot, sync: rd.MustSync, late: late}
		// Go runs the goroutine woken last first on this thread, so the
		// one someone waits for is woken last. With an fsync to do the
		// order is applier, log writer, appends: a leader's appends leave
		// first (its own write has time to spare), a follower's writer
		// (its ack waits for the fsync) starts before the apply. Without
		// one the applier comes last: a leader's clients wait for the
		// apply of a commit. The order is latency only: committed entries
		// are durable already, and appends may leave before the leader's
		// write (docs/BENCHMARKS.md, step 22).
		if w.sync {
			n.handToApplier(ctx, &rd)
		}
		if w.persists() || (n.writesInFlight > 0 && len(late) > 0) {
			// Late messages may acknowledge entries still being written
			// (a duplicate append is answered with our last index): they
			// queue behind every write before them.
			n.writesInFlight++
			ctx.Send(n.writer, w)
		} else {
			n.cfg.Transport.Send(ctx, late)
		}
		n.cfg.Transport.Send(ctx, early)
		if !w.sync {
			n.handToApplier(ctx, &rd)
		}
		if rd.QuorumRound != 0 && n.role == raft.Leader {
			n.lease.acked(rd.QuorumRound)
		}
		for _, rs := range rd.ReadStates {
			n.onReadState(ctx, rs)
		}
		n.raft.AcceptReady(rd)
		n.syncBehavior()
	}
}

// onWritten: writes are durable, in order, and the writer has sent their
// acks and votes. Mirror them into the core's storage and count them as
// stable (a leader now counts itself toward their quorum).
func (n *node) onWritten(ctx actor.Context, m *logWritten) {
	if m.err != nil {
		n.fatal(ctx, m.err)
		return
	}
	if n.diskFull != nil {
		n.diskFull = nil
		n.logger.Info("disk space is back: held writes are durable, proposals are taken again")
	}
	for _, w := range m.writes {
		n.writesInFlight--
		if err := n.mirror(w); err != nil {
			n.fatal(ctx, err)
			return
		}
		if w.snapshot != nil {
			n.installSnapshot(ctx, w.snapshot)
		}
		n.raft.MarkPersisted(w.snapshot, w.entries)
		n.observeDurable(&raft.Ready{})
	}
	n.syncBehavior()
}

// mirror applies a durable write to the in-memory copy the core reads from.
func (n *node) mirror(w *logWrite) error {
	if w.snapshot != nil {
		if err := n.storage.ApplySnapshot(w.snapshot); err != nil {
			return fmt.Errorf("apply snapshot %d: %w", w.snapshot.Metadata.Index, err)
		}
	}
	if err := n.storage.Append(w.entries); err != nil {
		return fmt.Errorf("append to memory log: %w", err)
	}
	if w.hardState != nil {
		n.storage.SetHardState(w.hardState)
	}
	return nil
}

// observeDurable tells the observer (the simulation's checker) about state
// that is now durable. The commit index it sees is capped at the durable
// log that agrees with the core's: a follower may learn of a commit before
// its write of the entries (or of the entries replacing a stale tail) lands.
func (n *node) observeDurable(rd *raft.Ready) {
	if n.opts.observer == nil {
		return
	}
	st := n.raft.Status()
	// While a snapshot is being written nothing is known stable: report
	// the last commit index seen durable.
	st.Commit = max(n.observedCommit, min(st.Commit, n.raft.StableIndex()))
	n.observedCommit = st.Commit
	n.opts.observer.ObserveReady(n.cfg.ID, st, rd)
}

// installSnapshot: a snapshot from the leader is durable; the state machine
// restores it before any entry after it.
func (n *node) installSnapshot(ctx actor.Context, snap *pb.Snapshot) {
	n.snapshotsInstalled.Add(1)
	n.logger.Info("installing snapshot from the leader", "index", snap.Metadata.Index, "term", snap.Metadata.Term, "bytes", len(snap.Data))
	n.confState = snap.Metadata.ConfState
	ctx.Send(n.applier, &restoreState{snap: snap})
	n.failProposalsUpTo(ctx, snap.Metadata.Index, ErrLeadershipLost)
	// The installed snapshot is as good as one of our own.
	n.handedSinceSnapshot, n.handedBytesSinceSnapshot = 0, 0
	n.lastSnapshotBytes = uint64(len(snap.Data))
}

func (n *node) handToApplier(ctx actor.Context, rd *raft.Ready) {
	if len(rd.CommittedEntries) == 0 {
		return
	}
	batch := &applyBatch{entries: rd.CommittedEntries}
	for _, e := range rd.CommittedEntries {
		if e.Type == pb.EntryType_ENTRY_CONF_CHANGE {
			n.applyConfChange(e)
		}
		w, ok := n.proposals[e.Index]
		if !ok {
			continue
		}
		delete(n.proposals, e.Index)
		if w.term != e.Term {
			// Another leader's entry took this index: ours never committed.
			w.answer(ctx, &ProposeResult{ID: w.id, Err: ErrProposalLost})
			continue
		}
		if batch.waiters == nil {
			batch.waiters = map[uint64]proposalWaiter{}
		}
		batch.waiters[e.Index] = w
	}
	batch.confState = n.confState
	ctx.Send(n.applier, batch)
	n.handedSinceSnapshot += uint64(len(rd.CommittedEntries))
	for _, e := range rd.CommittedEntries {
		n.handedBytesSinceSnapshot += uint64(len(e.Data))
	}
	n.maybeSnapshot(ctx)
}

func (n *node) applyConfChange(e *pb.Entry) {
	var cc pb.ConfChange
	if err := proto.Unmarshal(e.Data, &cc); err != nil {
		n.logger.Error("undecodable conf change entry", "index", e.Index, "err", err)
		return
	}
	cs, err := n.raft.ApplyConfChange(&cc)
	if err != nil {
		n.logger.Error("conf change refused", "index", e.Index, "err", err)
		return
	}
	n.confState = cs
}

// failProposalsUpTo fails proposals a snapshot jumped over: their results
// are not known here.
func (n *node) failProposalsUpTo(ctx actor.Context, index uint64, err error) {
	for _, i := range sortedKeys(n.proposals) {
		if w := n.proposals[i]; i <= index {
			delete(n.proposals, i)
			w.answer(ctx, &ProposeResult{ID: w.id, Err: err})
		}
	}
}

func (n *node) onSoftState(ctx actor.Context, ss *raft.SoftState) {
	if ss.Lead != n.lead {
		if n.lead == n.cfg.ID {
			// Our proposals may still commit under the next leader, or
			// not: the outcome is unknown, and the proposer retries with
			// its request id rather than wait for an answer that may
			// never come (this node may be partitioned away).
			n.failProposalsUpTo(ctx, math.MaxUint64, ErrLeadershipLost)
		}
		n.lead = ss.Lead
		n.logger.Info("leader changed", "term", n.raft.Term(), "leader", ss.Lead)
		// Pending ReadIndex requests belonged to the old leadership.
		n.failReads(ctx, ErrLeadershipLost)
	}
}

// read requests: the context carried through the core is this incarnation's
// nonce and the request's sequence number.
func (n *node) startRead(ctx actor.Context, id uint64) {
	n.readSeq++
	seq := n.readSeq
	rctx := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, n.incarnation), seq)
	if err := n.raft.ReadIndex(rctx); err != nil {
		n.reply(ctx, ctx.Sender(), &ReadResult{ID: id, Err: err})
		return
	}
	n.reads[seq] = readWaiter{to: ctx.Sender(), id: id, expiry: n.ticks + 2*n.cfg.ElectionTicks}
}

func (n *node) onReadState(ctx actor.Context, rs raft.ReadState) {
	if len(rs.RequestCtx) != 16 || binary.BigEndian.Uint64(rs.RequestCtx) != n.incarnation {
		return // an answer to a previous incarnation of this node
	}
	seq := binary.BigEndian.Uint64(rs.RequestCtx[8:])
	w, ok := n.reads[seq]
	if !ok {
		return
	}
	delete(n.reads, seq)
	ctx.Send(n.applier, &waitApplied{index: rs.Index, to: w.to, reply: &ReadResult{ID: w.id, Index: rs.Index}})
}

// expireReads fails reads whose answer never came (a forwarded read lost on
// the way): Raft messages may be dropped, replies must not hang.
func (n *node) expireReads(ctx actor.Context) {
	for _, seq := range sortedKeys(n.reads) {
		if w := n.reads[seq]; n.ticks >= w.expiry {
			delete(n.reads, seq)
			n.reply(ctx, w.to, &ReadResult{ID: w.id, Err: ErrLeadershipLost})
		}
	}
}

func (n *node) failReads(ctx actor.Context, err error) {
	for _, seq := range sortedKeys(n.reads) {
		w := n.reads[seq]
		delete(n.reads, seq)
		n.reply(ctx, w.to, &ReadResult{ID: w.id, Err: err})
	}
}

func (n *node) status() *Status {
	return &Status{Status: n.raft.Status(), AppliedIndex: n.applied.Load(), Durable: n.cfg.LogStore.Durable(), SnapshotsInstalled: n.snapshotsInstalled.Load()}
}

// answerProposal delivers a proposal's result to its Done callback, or to
// its sender.
func (n *node) answerProposal(ctx actor.Context, to *actor.PID, done func(*ProposeResult), res *ProposeResult) {
	proposalWaiter{to: to, done: done}.answer(ctx, res)
}

// reply sends to a requester when there is one (a request sent without a
// sender expects no answer).
func (n *node) reply(ctx actor.Context, to *actor.PID, msg any) {
	if to != nil {
		ctx.Send(to, msg)
	}
}

// fatal stops the node: a storage failure must not be retried and continued
// (an fsync error may have lost data the node already counted as durable).
func (n *node) fatal(ctx actor.Context, err error) {
	n.logger.Error("fatal: node stops", "err", err)
	n.stopped = true
	n.ticker.stop()
	ctx.Stop(ctx.Self())
}

// newIncarnation draws a nonce from the injected randomness when there is
// one (the simulation replays it), from the OS otherwise.
func newIncarnation(r raft.Rand) uint64 {
	if r != nil {
		return uint64(r.IntN(1<<62))<<2 | uint64(r.IntN(4))
	}
	var b [8]byte
	if _, err := crand.Read(b[:]); err != nil {
		panic(err)
	}
	return binary.BigEndian.Uint64(b[:])
}

// sortedKeys: waiters are answered in a fixed order, so a seeded simulation
// replays the same message trace (map iteration order is random).
func sortedKeys[V any](m map[uint64]V) []uint64 {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
