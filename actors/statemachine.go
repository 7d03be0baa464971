// The StateMachine a user plugs in.
package actors

// StateMachine is fed committed entries in log order, one at a time, on one
// goroutine (the applier's); Apply's result is returned to the proposer.
type StateMachine interface {
	// Apply applies the entry at index and returns the proposer's result.
	// data is nil for the empty entry a new leader appends and for
	// membership entries: every index reaches Apply, in order.
	Apply(index uint64, data []byte) []byte
	// Snapshot returns a consistent image of everything applied so far.
	Snapshot() ([]byte, error)
	// Restore replaces the whole state with an image taken at index; empty
	// data at index 0 means the empty state.
	Restore(index uint64, data []byte) error
}

// SnapshotCapturer is an optional interface of a StateMachine whose snapshot
// comes in two steps, so that applying never waits for an image to be
// encoded. CaptureSnapshot runs on the applier between two Applies and must
// be cheap: it may keep only what later Applies and Restores leave
// untouched (immutable or copy-on-write data). encode runs later on another
// goroutine, concurrently with Apply and Restore, and returns the image of
// the state at the capture, which Restore must accept, as it accepts
// Snapshot's. A StateMachine without it is snapshotted by Snapshot, on the
// applier.
type SnapshotCapturer interface {
	CaptureSnapshot() (encode func() ([]byte, error), err error)
}
