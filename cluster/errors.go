// Mapping of internal errors to the service's error codes (DESIGN.md §3).
// 429 and 503 mean "not proposed, no effect": retry freely. 504 means the
// outcome is unknown: retry with the same request id.
package cluster

import (
	"errors"
	"strconv"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/kontiki-raft/kontiki/actors"
	"github.com/kontiki-raft/kontiki/client"
	"github.com/kontiki-raft/kontiki/raft"
)

type serviceError struct {
	code    int
	message string
	headers micro.Headers
}

func (e *serviceError) Error() string { return strconv.Itoa(e.code) + " " + e.message }

func newError(code int, msg string) *serviceError { return &serviceError{code: code, message: msg} }

func (e *serviceError) with(key, value string) *serviceError {
	if e.headers == nil {
		e.headers = micro.Headers{}
	}
	e.headers[key] = []string{value}
	return e
}

// classify maps an error of the node to a service error.
func classify(err error, leader uint64) *serviceError {
	var se *serviceError
	var nl *actors.NotLeaderError
	switch {
	case errors.As(err, &se):
		return se
	case errors.As(err, &nl):
		e := newError(503, "no leader")
		if nl.Leader != raft.None {
			e = newError(503, "not leader").with(client.HeaderLeader, strconv.FormatUint(nl.Leader, 10))
		}
		return e
	case errors.Is(err, raft.ErrUncommittedLogFull):
		return newError(429, "uncommitted log full; back off and retry")
	case errors.Is(err, raft.ErrConfChangePending):
		return newError(503, err.Error())
	case errors.Is(err, raft.ErrProposalDropped):
		e := newError(503, "proposal dropped (leadership transfer or no leader); retry")
		if leader != raft.None {
			e = e.with(client.HeaderLeader, strconv.FormatUint(leader, 10))
		}
		return e
	case errors.Is(err, actors.ErrNoSpace):
		return newError(503, "disk full on the leader: writes are refused until space is freed")
	case errors.Is(err, actors.ErrStopped), errors.Is(err, actor.ErrDeadLetter):
		return newError(503, "member stopping")
	case errors.Is(err, actors.ErrTimeout), errors.Is(err, actors.ErrLeadershipLost), errors.Is(err, actors.ErrProposalLost):
		return newError(504, "outcome unknown: "+err.Error()+"; retry with the same request id")
	}
	return newError(500, err.Error())
}

// Replies are published to the request's reply subject directly rather than
// through micro.Request's Respond and Error: handlers answer from their own
// goroutine after micro's callback has returned, and micro's request
// bookkeeping is not safe for that.

func (s *Service) respondError(req micro.Request, e *serviceError) {
	h := micro.Headers{}
	for k, v := range e.headers {
		h[k] = v
	}
	h[client.HeaderServiceError] = []string{e.message}
	h[client.HeaderServiceErrorCode] = []string{strconv.Itoa(e.code)}
	s.respond(req, nil, h)
}

func (s *Service) respond(req micro.Request, data []byte, headers micro.Headers) {
	if req.Reply() == "" {
		return
	}
	msg := &nats.Msg{Subject: req.Reply(), Data: data}
	if len(headers) > 0 {
		msg.Header = nats.Header(headers)
	}
	if err := s.cfg.NC.PublishMsg(msg); err != nil {
		// The caller will see only a timeout: say why here.
		s.cfg.Logger.Warn("reply not sent", "subject", req.Subject(), "bytes", len(data), "err", err)
	}
}
