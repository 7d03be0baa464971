// This file owns the classification of one request attempt's result, the
// one place that decides what an error means for the history: a settled
// answer, no effect (safe to retry, nothing happened), or an unknown
// outcome (the request may have been proposed).
package history

import (
	"errors"

	"github.com/kontiki-raft/kontiki/client"
)

// attemptClass is what one attempt tells about the operation.
type attemptClass int

const (
	// settled: the cluster answered for good (success, 404, 409, 400, 413).
	settled attemptClass = iota
	// noEffect: the request was not proposed (503, 429) or reached nobody
	// (no responders). Retry.
	noEffect
	// maybe: the request may have been proposed and its outcome is unknown
	// (504, no reply in time, connection trouble, anything unexpected).
	// Retry with the same request id.
	maybe
)

// classify maps the client's error of one attempt to its class.
func classify(err error) attemptClass {
	switch {
	case err == nil:
		return settled
	case errors.Is(err, client.ErrConflict), errors.Is(err, client.ErrNotFound),
		errors.Is(err, client.ErrBadRequest), errors.Is(err, client.ErrTooLarge),
		errors.Is(err, client.ErrCompacted):
		return settled
	case errors.Is(err, client.ErrNoLeader), errors.Is(err, client.ErrBusy),
		errors.Is(err, client.ErrNoResponders):
		return noEffect
	}
	// ErrTimeout (a 504 or no reply), a closed or reconnecting connection,
	// a 500: the request may have been proposed.
	return maybe
}

// settledStatus is the status of a settled attempt's error.
func settledStatus(err error) Status {
	switch {
	case err == nil:
		return StatusOK
	case errors.Is(err, client.ErrConflict):
		return StatusConflict
	case errors.Is(err, client.ErrNotFound):
		return StatusNotFound
	}
	return StatusFailed // 400, 413: refused at the edge, no effect
}

// conflictRevision is the current revision a 409 reported.
func conflictRevision(err error) uint64 {
	var ce *client.ConflictError
	if errors.As(err, &ce) {
		return ce.Revision
	}
	return 0
}
