// This file owns the request engine: leader routing, per-attempt timeouts,
// the retry policy and the mapping of NATS transport failures to typed errors.
package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
)

// request is one logical call; its attempts reuse data and header (and so the
// request id of a write).
type request struct {
	op       string // for logs: "put", "get", …
	endpoint string // subject suffix after kontiki.<c>[.member.<id>]: "kv.put.a.b"
	data     []byte
	header   nats.Header
	toLeader bool // send to the known leader's member subject
	// atMostOnce: the target cannot dedupe a retry (a raw proposal to a
	// state machine we know nothing of), so only failures that mean "not
	// proposed" (429, 503, no responders) are retried; a timeout or 504
	// goes back to the caller.
	atMostOnce bool
	// firstAttempt: attempts already spent elsewhere (a batch), counted
	// against Options.Retries.
	firstAttempt int
	firstPauses  int // pauses already taken, for the backoff's doubling
}

// do runs r until it succeeds, fails for good, runs out of retries or ctx is
// done. It returns the successful reply.
func (c *Client) do(ctx context.Context, r request) (*nats.Msg, error) {
	pauses, redirects := r.firstPauses, 0
	for attempt := r.firstAttempt; ; attempt++ {
		target := uint64(0)
		subject := c.subj.any(r.endpoint)
		if r.toLeader {
			if id := c.leader.Load(); id != 0 {
				target, subject = id, c.subj.member(id, r.endpoint)
			}
		}
		msg, err := c.attempt(ctx, subject, r)
		if err == nil {
			c.learnLeader(msg)
			if err = replyError(msg); err == nil {
				return msg, nil
			}
		}
		retry, pause := c.classify(err, target)
		if r.atMostOnce && outcomeUnknown(err) {
			retry = false
		}
		if !retry || attempt >= c.opts.Retries || ctx.Err() != nil {
			return nil, err
		}
		c.log.Debug("kontiki: retrying", "op", r.op, "subject", subject, "attempt", attempt+1, "err", err)
		// Redirects to a named leader go at once, but members that keep
		// naming each other (stale views mid-election) must not make a
		// caller with many retries spin: every third redirect in a row
		// pauses too.
		if pause {
			redirects = 0
		} else if redirects++; redirects%3 == 0 {
			pause = true
		}
		if pause {
			if !sleepCtx(ctx, backoffDelay(c.opts.Backoff, pauses)) {
				return nil, err
			}
			pauses++
		}
	}
}

// attempt sends one request and waits for its reply at most Timeout.
func (c *Client) attempt(ctx context.Context, subject string, r request) (*nats.Msg, error) {
	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	reply, err := c.nc.RequestMsgWithContext(actx, &nats.Msg{Subject: subject, Data: r.data, Header: r.header})
	if err == nil {
		return reply, nil
	}
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: no reply on %s: %w", ErrTimeout, subject, cerr)
		}
		return nil, cerr
	}
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("%w on %s", ErrNoResponders, subject)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return nil, fmt.Errorf("%w: no reply on %s within %v", ErrTimeout, subject, c.opts.Timeout)
	case errors.Is(err, nats.ErrMaxPayload):
		return nil, fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return nil, err
}

// classify decides whether err is worth another attempt and whether to pause
// first; it also updates the remembered leader. target is the member the
// attempt was addressed to (0: the queue group).
func (c *Client) classify(err error, target uint64) (retry, pause bool) {
	var se *Error
	if errors.As(err, &se) {
		switch se.Code {
		case 503:
			if se.Leader != 0 && se.Leader != target {
				return true, false // a member named the leader: go there now
			}
			c.forgetLeader(target)
			return true, true
		case 429:
			return true, true
		case 504:
			return true, true
		}
		return false, false
	}
	switch {
	case errors.Is(err, ErrNoResponders), errors.Is(err, ErrTimeout):
		if target != 0 {
			c.forgetLeader(target) // the member is gone: fall back to the queue group
			return true, false
		}
		return true, true
	}
	return false, false
}

// outcomeUnknown: the request may have been applied.
func outcomeUnknown(err error) bool {
	var se *Error
	if errors.As(err, &se) {
		return se.Code == 504
	}
	return errors.Is(err, ErrTimeout)
}
