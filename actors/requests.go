// The messages a user (or the cluster layer) sends the node actor, and the
// replies. Replies go to the request's sender: a future, or an actor that
// correlates by ID.
package actors

import (
	"errors"
	"fmt"

	"github.com/kontiki-raft/kontiki/raft"
)

// Propose asks the leader to replicate Data and apply it. The result goes to
// Done when it is set, else to the sender.
type Propose struct {
	ID   uint64
	Data []byte
	// Done, when set, receives the result instead of the sender, on the
	// node's or the applier's goroutine: it must not block. It is called at
	// most once, and not at all if the node stops before taking the
	// proposal (a caller pairs it with a deadline).
	Done func(*ProposeResult)
}

// ProposeResult: Result is the StateMachine's answer for the entry at Index.
type ProposeResult struct {
	ID     uint64
	Index  uint64
	Result []byte
	Err    error
}

type ReadMode uint8

const (
	// ReadLinearizable confirms leadership with a heartbeat round (ReadIndex).
	ReadLinearizable ReadMode = iota
	// ReadLease answers on the leader while its lease holds.
	ReadLease
)

// Read asks for a read barrier: the reply arrives once this node's state
// machine has applied everything committed before the read was received.
type Read struct {
	ID   uint64
	Mode ReadMode
}

type ReadResult struct {
	ID    uint64
	Index uint64
	Err   error
}

// GetStatus asks for a Status.
type GetStatus struct{}

// Status of a node.
type Status struct {
	raft.Status
	// AppliedIndex is what the state machine has applied.
	AppliedIndex uint64
	// Durable is false when the log store does not fsync.
	Durable bool
	// SnapshotsInstalled counts snapshots this node received from a leader
	// since it started (a follower that fell behind the compacted log).
	SnapshotsInstalled uint64
}

// TransferLeadership asks the leader to hand leadership to To (0: the most
// caught-up voter).
type TransferLeadership struct{ To uint64 }

type TransferResult struct{ Err error }

var (
	// ErrProposalLost: the entry was appended but overwritten by another
	// leader, or leadership was lost before it committed. Its outcome is
	// unknown to the proposer only when ErrLeadershipLost; retry with the
	// same request id.
	ErrProposalLost = errors.New("actors: proposal lost: overwritten by a new leader")
	// ErrLeadershipLost: this node stopped being leader with the request
	// pending; the outcome of a write is unknown.
	ErrLeadershipLost = errors.New("actors: leadership lost with the request pending")
	// ErrLeaseExpired: a lease read found no valid lease.
	ErrLeaseExpired = errors.New("actors: leader lease not held")
	// ErrStopped: the node is stopping.
	ErrStopped = errors.New("actors: node stopped")
)

// NotLeaderError is returned for a request only a leader can serve.
type NotLeaderError struct{ Leader uint64 }

func (e *NotLeaderError) Error() string {
	if e.Leader == raft.None {
		return "actors: not leader; no leader known"
	}
	return fmt.Sprintf("actors: not leader; leader is %d", e.Leader)
}

// Is makes errors.Is(err, raft.ErrNoLeader) true when no leader is known.
func (e *NotLeaderError) Is(target error) bool {
	return target == raft.ErrNoLeader && e.Leader == raft.None
}
