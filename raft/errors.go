// Sentinel errors of the core; callers test them with errors.Is.
package raft

import (
	"errors"
	"fmt"
)

var (
	// ErrProposalDropped: the proposal was not appended anywhere (no leader
	// known, a transfer in progress, or this node was removed). It had no
	// effect, so the caller may retry it.
	ErrProposalDropped = errors.New("raft: proposal dropped")
	// ErrUncommittedLogFull: the leader holds more uncommitted bytes than
	// MaxUncommittedEntriesSize allows. Back off and retry.
	ErrUncommittedLogFull = fmt.Errorf("%w: uncommitted log full", ErrProposalDropped)
	// ErrNoLeader: a request that needs a leader found none.
	ErrNoLeader = fmt.Errorf("%w: no leader", ErrProposalDropped)
	// ErrConfChangePending: a membership change is proposed while an earlier
	// one is not yet applied.
	ErrConfChangePending = fmt.Errorf("%w: a membership change is already pending", ErrProposalDropped)

	// ErrCompacted: the requested index precedes the first index of storage.
	ErrCompacted = errors.New("raft: requested index is unavailable due to compaction")
	// ErrSnapOutOfDate: a snapshot older than the one storage holds.
	ErrSnapOutOfDate = errors.New("raft: requested index is older than the existing snapshot")
	// ErrUnavailable: the requested entry is not in storage.
	ErrUnavailable = errors.New("raft: requested entry at index is unavailable")
	// ErrSnapshotTemporarilyUnavailable: storage cannot produce a snapshot now.
	ErrSnapshotTemporarilyUnavailable = errors.New("raft: snapshot is temporarily unavailable")
)
