// Package client is the Go client of a Kontiki cluster: a leader-aware,
// retrying key-value and proposal client that speaks the NATS contract of
// DESIGN.md §3 over a caller-supplied *nats.Conn.
//
// Writes (Put, Delete, Propose) carry a Kontiki-Request-Id generated once per
// call, so every retry of one call is applied at most once. The client learns
// the leader from the Kontiki-Leader reply header and sends writes and
// leader-served reads straight to kontiki.<cluster>.member.<leader>.…; when
// that member is gone it falls back to the queue-group subjects.
//
// Errors are typed: test them with errors.Is against ErrNotFound, ErrConflict,
// ErrBadRequest, ErrTooLarge, ErrCompacted, ErrBusy, ErrNoLeader, ErrTimeout
// and ErrNoResponders, and use errors.As with *ConflictError for the key's
// current revision on a failed compare-and-swap.
package client
