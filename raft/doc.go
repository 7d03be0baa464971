// Package raft is Kontiki's protocol core: the Raft rules as pure functions of
// state and input. It starts no goroutines, reads no clock (time is Tick) and
// does no I/O: the caller feeds it messages and ticks, takes a Ready (what to
// persist, what to send, what to apply), does that work, and calls Advance.
//
// Where each rule lives:
//
//	raft.go         the node's state, the role transitions and the term rules
//	election.go     ticks, campaigns, votes and pre-votes
//	replication.go  appends, heartbeats, commit by quorum of match indexes
//	readindex.go    heartbeat rounds, ReadIndex and the lease rounds
//	transfer.go     leadership transfer (MsgTimeoutNow)
//	log.go          log matching over the stable storage and the unstable tail
//	progress.go     probe / replicate / snapshot and the inflight window
//	quorum.go       majorities and joint configurations
//	ready.go        Ready and Advance
//
// The semantics follow the Raft paper and etcd's raft; the code is our own.
package raft
