// Config of one raft node, with defaults that suit a LAN cluster.
package raft

import (
	"errors"
	"log/slog"
	"math/rand/v2"
)

// None is the id of no node.
const None uint64 = 0

// Rand is the randomness the core uses (election timeouts). The simulation
// injects a seeded source so a run replays exactly.
type Rand interface{ IntN(n int) int }

type Config struct {
	ID uint64
	// ElectionTick E: a follower that hears no leader for a randomized
	// [E, 2E) ticks campaigns. HeartbeatTick H: a leader heartbeats every H.
	// Invariant: ElectionTick > HeartbeatTick.
	ElectionTick  int
	HeartbeatTick int
	Storage       Storage
	// Applied is the last index the state machine has applied (on restart).
	Applied uint64
	// MaxSizePerMsg bounds the entries of one append (bytes); 0 = one entry.
	MaxSizePerMsg uint64
	// MaxCommittedSizePerReady bounds the committed entries of one Ready.
	MaxCommittedSizePerReady uint64
	// MaxUncommittedEntriesSize bounds the payload bytes a leader holds
	// uncommitted; proposals beyond it fail with ErrUncommittedLogFull.
	MaxUncommittedEntriesSize uint64
	// MaxInflightMsgs and MaxInflightBytes bound the appends in flight to one
	// follower in replicate state.
	MaxInflightMsgs  int
	MaxInflightBytes uint64
	// DisablePreVote and DisableCheckQuorum turn off what is on by default.
	DisablePreVote     bool
	DisableCheckQuorum bool
	// DisableProposalForwarding makes followers reject proposals instead of
	// forwarding them to the leader.
	DisableProposalForwarding bool
	// QuietAfterRestart: a node restarting with a term ignores vote
	// requests for an election timeout, as if it had just heard from a
	// leader (with check-quorum). Before it went down it may have
	// acknowledged a leader whose lease counts on its stickiness; without
	// this a reboot lets it vote at once, and a new leader can be elected
	// while the old one still serves lease reads.
	QuietAfterRestart bool
	// AsyncStorageWrites: the caller persists a Ready's HardState, Entries
	// and Snapshot in the background and calls AcceptReady at once, then
	// MarkPersisted when they are durable (in Ready order). Meanwhile it
	// may take further Readies: they hand out only what is not already in
	// progress, and their CommittedEntries never go past this node's
	// durable log. A Ready's Messages that SendsBeforePersist does not
	// allow wait for its write and every write before it, even when the
	// Ready persists nothing: an ack may cover entries of an earlier Ready
	// still being written. Without it the caller calls Advance after
	// persisting.
	AsyncStorageWrites bool
	Rand               Rand
	Logger             *slog.Logger
}

// Defaults used when a field is zero.
const (
	DefaultElectionTick              = 10
	DefaultHeartbeatTick             = 1
	DefaultMaxSizePerMsg             = 512 << 10
	DefaultMaxInflightMsgs           = 256
	DefaultMaxInflightBytes          = 32 << 20
	DefaultMaxUncommittedEntriesSize = 64 << 20
	DefaultMaxCommittedSizePerReady  = 16 << 20
)

func (c *Config) validate() error {
	if c.ID == None {
		return errors.New("raft: config: ID must not be 0")
	}
	if c.Storage == nil {
		return errors.New("raft: config: Storage is required")
	}
	if c.ElectionTick == 0 {
		c.ElectionTick = DefaultElectionTick
	}
	if c.HeartbeatTick == 0 {
		c.HeartbeatTick = DefaultHeartbeatTick
	}
	if c.HeartbeatTick < 0 || c.ElectionTick <= c.HeartbeatTick {
		return errors.New("raft: config: ElectionTick must exceed HeartbeatTick")
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = DefaultMaxSizePerMsg
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = DefaultMaxInflightMsgs
	}
	if c.MaxInflightMsgs < 0 {
		return errors.New("raft: config: MaxInflightMsgs must be positive")
	}
	if c.MaxInflightBytes == 0 {
		c.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if c.MaxUncommittedEntriesSize == 0 {
		c.MaxUncommittedEntriesSize = DefaultMaxUncommittedEntriesSize
	}
	if c.MaxCommittedSizePerReady == 0 {
		c.MaxCommittedSizePerReady = DefaultMaxCommittedSizePerReady
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(rand.Uint64(), c.ID))
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
