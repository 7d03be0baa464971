// This file owns the client's typed errors and the mapping from the
// Nats-Service-Error / Nats-Service-Error-Code reply headers to them.
package client

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
)

// Sentinel errors. Every error the client returns for a service reply wraps
// exactly one of these (or none for an unknown code); test with errors.Is.
var (
	ErrBadRequest   = errors.New("bad request")        // 400
	ErrNotFound     = errors.New("not found")          // 404
	ErrConflict     = errors.New("revision conflict")  // 409
	ErrCompacted    = errors.New("revision compacted") // 410
	ErrTooLarge     = errors.New("too large")          // 413
	ErrBusy         = errors.New("busy")               // 429
	ErrNoLeader     = errors.New("no leader")          // 503
	ErrTimeout      = errors.New("timed out")          // 504, or no reply in time
	ErrNoResponders = errors.New("no responders")      // no member listens
)

// Error is a service error reply: the code and message the member put in the
// Nats-Service-Error-Code and Nats-Service-Error headers. It unwraps to the
// sentinel of its code.
type Error struct {
	Code    int    // HTTP-like status code from Nats-Service-Error-Code
	Message string // Nats-Service-Error, the member's own words
	Leader  uint64 // Kontiki-Leader of the reply, 0 when unknown
}

func (e *Error) Error() string {
	return joinMessage(codeText(e.Code), e.Message)
}

// Unwrap returns the sentinel error of the code (nil for an unknown code).
func (e *Error) Unwrap() error { return sentinelFor(e.Code) }

// ConflictError is a 409 reply: the compare-and-swap expectation did not hold.
// Revision is the key's current mod revision (0 when the key does not exist).
type ConflictError struct {
	Revision uint64
	Message  string
}

func (e *ConflictError) Error() string {
	s := fmt.Sprintf("%s (current revision %d)", ErrConflict.Error(), e.Revision)
	return joinMessage(s, e.Message)
}

// Unwrap makes errors.Is(err, ErrConflict) hold.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// sentinelFor maps a service error code to its sentinel.
func sentinelFor(code int) error {
	switch code {
	case 400:
		return ErrBadRequest
	case 404:
		return ErrNotFound
	case 409:
		return ErrConflict
	case 410:
		return ErrCompacted
	case 413:
		return ErrTooLarge
	case 429:
		return ErrBusy
	case 503:
		return ErrNoLeader
	case 504:
		return ErrTimeout
	}
	return nil
}

func codeText(code int) string {
	if s := sentinelFor(code); s != nil {
		return s.Error()
	}
	return fmt.Sprintf("service error %d", code)
}

// joinMessage appends the service's message unless it adds nothing.
func joinMessage(base, msg string) string {
	if msg == "" || msg == base {
		return base
	}
	return base + ": " + msg
}

// replyError returns the typed error a reply carries, or nil for a success.
func replyError(m *nats.Msg) error {
	if m.Header == nil {
		return nil
	}
	raw := m.Header.Get(HeaderServiceErrorCode)
	desc := m.Header.Get(HeaderServiceError)
	if raw == "" && desc == "" {
		return nil
	}
	code, err := strconv.Atoi(raw)
	if err != nil {
		code = 500
	}
	if code == 409 {
		rev, _ := strconv.ParseUint(m.Header.Get(HeaderRevision), 10, 64)
		return &ConflictError{Revision: rev, Message: desc}
	}
	leader, _ := strconv.ParseUint(m.Header.Get(HeaderLeader), 10, 64)
	return &Error{Code: code, Message: desc, Leader: leader}
}

// errorCode returns the service code of err, or 0 when it is not a reply.
func errorCode(err error) int {
	var se *Error
	if errors.As(err, &se) {
		return se.Code
	}
	var ce *ConflictError
	if errors.As(err, &ce) {
		return 409
	}
	return 0
}
