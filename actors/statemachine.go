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
