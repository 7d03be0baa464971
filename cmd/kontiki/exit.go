// This file owns the exit codes and the one-line error report on stderr.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/kontiki-raft/kontiki/client"
	"github.com/nats-io/nats.go"
)

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1 // anything else
	exitUsage       = 2 // usage error, or the request was rejected (400, 413)
	exitNotFound    = 3 // 404, 410
	exitConflict    = 4 // 409
	exitUnavailable = 5 // 503, 504, 429, no responders, no NATS server
)

// usageError is a command line the CLI cannot run.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitCode maps an error to the documented exit code.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, client.ErrBadRequest), errors.Is(err, client.ErrTooLarge):
		return exitUsage
	case errors.Is(err, client.ErrNotFound), errors.Is(err, client.ErrCompacted):
		return exitNotFound
	case errors.Is(err, client.ErrConflict):
		return exitConflict
	case errors.Is(err, client.ErrNoLeader), errors.Is(err, client.ErrTimeout),
		errors.Is(err, client.ErrBusy), errors.Is(err, client.ErrNoResponders),
		errors.Is(err, nats.ErrNoServers), unreachable(err):
		return exitUnavailable
	}
	return exitError
}

// unreachable: the network failed us (a connect or read timed out, no route
// to the host, an unknown host, a server that accepted the connection and
// never spoke NATS): "no NATS server" to the caller. Only network operation
// errors count: a bare errno also satisfies net.Error, and a missing creds
// file or an unwritable output file is "other error", as are authentication
// and TLS failures: retrying will not help them.
func unreachable(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &op) || errors.As(err, &dns) || errors.Is(err, nats.ErrTimeout)
}

// report prints err as one line, "kontiki: <what>: <err>", and returns its
// exit code.
func report(stderr io.Writer, what string, err error) int {
	if what != "" {
		fmt.Fprintf(stderr, "kontiki: %s: %v\n", what, err)
	} else {
		fmt.Fprintf(stderr, "kontiki: %v\n", err)
	}
	return exitCode(err)
}
