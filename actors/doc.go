// Package actors runs the raft core inside protoactor actors: one node actor
// whose behavior is swapped between follower, pre-candidate, candidate and
// leader; a ticker (a one-shot timer re-armed on every tick); a log writer
// that makes each Ready durable in the background (group commit) so the node
// keeps taking acks during an fsync; and an applier actor that feeds
// committed entries to the StateMachine so a slow state machine never delays
// heartbeats. A leader queues the proposals that arrive between two drains
// and appends them as one batch: one append per follower, one ack back.
// NewNodeProps is the embedding API: spawn
// the Props in your own actor system.
//
//	node.go          lifecycle, the common rules, draining a Ready in order
//	logwriter.go     background persistence; acks and votes leave once durable
//	follower.go, precandidate.go, candidate.go, leader.go   one behavior each
//	ticker.go        logical time from a re-armed one-shot timer
//	applier.go       the StateMachine's actor
//	snapshot.go      our own snapshots: captured on the applier, then encoded
//	                 and saved by the persister (persister.go) off the applier
//	requests.go      the messages users send and the replies they get
//	logstore.go      the durable-state interface and its in-memory form
//	transport.go     the Transport interface and the in-process one
package actors
