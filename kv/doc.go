// Package kv is Kontiki's replicated key-value state machine. The raft layer
// applies committed entries to a Store in index order on one goroutine
// (Apply, Snapshot, Restore: the actors' StateMachine, satisfied
// structurally; CaptureSnapshot, its SnapshotCapturer, lets the image be
// encoded on another goroutine while Apply goes on); the service layer
// reads it from any goroutine (Get, List, EventsSince, Changed).
//
// Every replica must reach the same state from the same entries, so the
// transition depends only on the entry and the replicated state: the store
// revision is the raft index of the last write; dedupe expiry uses log
// indexes and leader-stamped times carried in the commands, never a local
// clock; invalid commands are deterministic BAD_REQUEST results; snapshots
// are byte-for-byte deterministic. Replicas must share Options.
//
// The package imports nothing of Kontiki's but messages, so it can be
// tested, benchmarked and reused without an actor system.
package kv
