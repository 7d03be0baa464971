// Node configuration and the options that swap in test doubles.
package actors

import (
	"errors"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pb "github.com/kontiki-raft/kontiki/messages"
	"github.com/kontiki-raft/kontiki/raft"
)

type Config struct {
	ID uint64
	// Peers are the initial voters of a new cluster (this node included).
	// Ignored once the node has a snapshot: membership then comes from it.
	Peers        []uint64
	StateMachine StateMachine
	Transport    Transport
	// LogStore defaults to an in-memory store (not durable).
	LogStore LogStore

	// TickInterval is one logical tick (default 100ms). ElectionTicks E
	// (default 10): followers campaign after [E, 2E) ticks without a leader.
	// HeartbeatTicks (default 1).
	TickInterval   time.Duration
	ElectionTicks  int
	HeartbeatTicks int
	// LeaseDuration bounds lease reads after a quorum-acknowledged heartbeat
	// round was sent. It must be shorter than a follower's shortest
	// stickiness, (E-1) × TickInterval; default 3/4 of that.
	LeaseDuration time.Duration

	// SnapshotEntries: take a snapshot after this many applied entries
	// (default 10000), or SnapshotBytes of applied entry data (default 64
	// MiB), whichever comes first. Left at 0, SnapshotEntries is also
	// scaled to the state: after 10000 entries a snapshot waits until the
	// entry data applied since the last one is as large as that snapshot,
	// stretched by a random 0–49 % drawn at each snapshot so members do not
	// all encode at once (or SnapshotBytes), so encoding images costs no
	// more than writing the log once more, however large the state.
	// SnapshotKeepEntries: entries
	// kept behind a snapshot for slow followers (default 5000).
	SnapshotEntries     uint64
	SnapshotBytes       uint64
	SnapshotKeepEntries uint64
	// snapshotsScaled: SnapshotEntries was left to its default.
	snapshotsScaled bool

	MaxSizePerMsg       uint64
	MaxInflightMsgs     int
	MaxInflightBytes    uint64
	MaxUncommittedBytes uint64

	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.ID == raft.None {
		return errors.New("actors: config: ID must not be 0")
	}
	if c.StateMachine == nil {
		return errors.New("actors: config: StateMachine is required")
	}
	if c.Transport == nil {
		return errors.New("actors: config: Transport is required")
	}
	if c.LogStore == nil {
		c.LogStore = NewMemoryLogStore()
	}
	if c.TickInterval <= 0 {
		c.TickInterval = 100 * time.Millisecond
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = raft.DefaultElectionTick
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = raft.DefaultHeartbeatTick
	}
	if c.ElectionTicks < 2 {
		return errors.New("actors: config: ElectionTicks must be at least 2")
	}
	// After a heartbeat a follower ignores vote requests for at least E-1
	// ticks: a tick may already be pending when it resets its timer.
	stickiness := time.Duration(c.ElectionTicks-1) * c.TickInterval
	if c.LeaseDuration == 0 {
		c.LeaseDuration = stickiness * 3 / 4
	}
	if c.LeaseDuration >= stickiness {
		return errors.New("actors: config: LeaseDuration must be shorter than (ElectionTicks-1) × TickInterval")
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = 10000
		c.snapshotsScaled = true
	}
	if c.SnapshotBytes == 0 {
		c.SnapshotBytes = 64 << 20
	}
	if c.SnapshotKeepEntries == 0 {
		c.SnapshotKeepEntries = 5000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Observer sees what a node does, for tests and the simulation's invariant
// checks. Calls happen on the node's and the applier's goroutines.
type Observer interface {
	// ObserveReady is called as each Ready is taken, before its committed
	// entries are applied, and again as each background write becomes
	// durable; st.Commit is capped at this node's durable log.
	ObserveReady(node uint64, st raft.Status, rd *raft.Ready)
	// ObserveApply is called as the state machine applies an entry.
	ObserveApply(node uint64, e *pb.Entry)
}

type options struct {
	clock        Clock
	timers       Timers
	rand         raft.Rand
	propsOptions []actor.PropsOption
	observer     Observer
}

// Option replaces a part of the node's environment.
type Option func(*options)

// WithClock injects the monotonic clock used for the read lease.
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithTimers injects the one-shot timers that drive ticks.
func WithTimers(t Timers) Option { return func(o *options) { o.timers = t } }

// WithRand injects the core's randomness (election timeouts).
func WithRand(r raft.Rand) Option { return func(o *options) { o.rand = r } }

// WithPropsOptions adds protoactor Props options (dispatcher, mailbox,
// middleware) to the node and its applier.
func WithPropsOptions(po ...actor.PropsOption) Option {
	return func(o *options) { o.propsOptions = append(o.propsOptions, po...) }
}

// WithObserver installs an Observer.
func WithObserver(obs Observer) Option { return func(o *options) { o.observer = obs } }
