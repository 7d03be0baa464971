// This file owns Recorder: one logical client process that performs
// operations through client.Client, retries them itself (every attempt of a
// write carries the same request id) and records each as one Op.
package history

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kontiki-raft/kontiki/client"
)

// maxTrace bounds the failed attempts an Op keeps in its Trace.
const maxTrace = 16

// RecorderConfig bounds one operation.
type RecorderConfig struct {
	// OpTimeout bounds a whole operation, retries included (default 10s).
	OpTimeout time.Duration
	// Backoff is the first pause after a 503/429/no-responders answer
	// (default 10ms, doubling up to 200ms).
	Backoff time.Duration
}

func (c RecorderConfig) withDefaults() RecorderConfig {
	if c.OpTimeout <= 0 {
		c.OpTimeout = 10 * time.Second
	}
	if c.Backoff <= 0 {
		c.Backoff = 10 * time.Millisecond
	}
	return c
}

// Recorder performs and records the operations of one worker. The client
// must be built with retries disabled (Options.Retries < 0): the Recorder
// sees every attempt, which is what the classification needs. A Recorder is
// not safe for concurrent use.
type Recorder struct {
	h       *History
	c       *client.Client
	cfg     RecorderConfig
	worker  int
	process int
	idBase  string
	seq     int
}

// NewRecorder returns the recorder of worker over c. idBase makes its
// request ids unique (include something random: the cluster's dedupe table
// outlives a run).
func NewRecorder(h *History, c *client.Client, worker int, idBase string, cfg RecorderConfig) *Recorder {
	return &Recorder{h: h, c: c, cfg: cfg.withDefaults(), worker: worker, process: h.NewProcess(), idBase: idBase}
}

// Put records an unconditional put.
func (r *Recorder) Put(key, value string) Op {
	return r.write(Op{Kind: KindPut, Key: key, Value: value})
}

// CAS records a put conditional on the key's mod revision (0: absent).
func (r *Recorder) CAS(key, value string, expected uint64) Op {
	return r.write(Op{Kind: KindCAS, Key: key, Value: value, HasExpected: true, Expected: expected})
}

// Delete records an unconditional delete.
func (r *Recorder) Delete(key string) Op {
	return r.write(Op{Kind: KindDelete, Key: key})
}

// Get records a linearizable get, or a lease get when lease is set.
func (r *Recorder) Get(key string, lease bool) Op {
	op := Op{Kind: KindGet, Key: key}
	level := client.Linearizable
	if lease {
		op.Kind, level = KindLeaseGet, client.Lease
	}
	return r.run(op, func(ctx context.Context) (string, uint64, error) {
		v, rev, err := r.c.Get(ctx, key, client.WithConsistency(level))
		return string(v), rev, err
	})
}

func (r *Recorder) write(op Op) Op {
	r.seq++
	op.RequestID = r.idBase + "-" + strconv.Itoa(r.seq)
	return r.run(op, func(ctx context.Context) (string, uint64, error) {
		id := client.WithRequestID(op.RequestID)
		var rev uint64
		var err error
		switch op.Kind {
		case KindPut:
			rev, err = r.c.Put(ctx, op.Key, []byte(op.Value), id)
		case KindCAS:
			rev, err = r.c.Put(ctx, op.Key, []byte(op.Value), id, client.WithExpectedRevision(op.Expected))
		case KindDelete:
			if op.HasExpected {
				rev, err = r.c.Delete(ctx, op.Key, id, client.WithExpectedRevision(op.Expected))
			} else {
				rev, err = r.c.Delete(ctx, op.Key, id)
			}
		}
		return "", rev, err
	})
}

// run performs op's attempts until one settles it or OpTimeout passes, and
// records the op. attempt returns a read's value, the revision and the
// error of one request.
//
// A settled answer is the truth even after ambiguous attempts: every
// attempt carries the same request id and the dedupe check runs when an
// entry is applied, so if an earlier attempt's entry is applied at all it is
// applied before the settling one (an entry of an older term after it in
// the log cannot commit), and the settling attempt reports its result. A
// 503/429 after an ambiguous attempt settles nothing: that earlier entry may
// still commit, so running out of time then leaves the outcome unknown.
func (r *Recorder) run(op Op, attempt func(ctx context.Context) (string, uint64, error)) Op {
	op.Worker, op.Process = r.worker, r.process
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.OpTimeout)
	defer cancel()
	op.Call = r.h.Now()
	ambiguous := false
	pauses := 0
	var last error
	for {
		op.Attempts++
		value, rev, err := attempt(ctx)
		class := classify(err)
		if err != nil {
			last = err
			if class != settled && len(op.Trace) < maxTrace {
				op.Trace = append(op.Trace, fmt.Sprintf("+%dms: %v", (r.h.Now()-op.Call)/int64(time.Millisecond), err))
			}
		}
		if class == settled {
			op.Return = r.h.Now()
			op.Status = settledStatus(err)
			switch op.Status {
			case StatusOK:
				op.Revision = rev
				if !op.Kind.IsWrite() {
					op.Value = value
				}
			case StatusConflict:
				op.Revision = conflictRevision(err)
			}
			break
		}
		if class == maybe {
			ambiguous = true
		}
		if ctx.Err() != nil {
			op.Return = r.h.Now()
			op.Status = StatusFailed
			if ambiguous && op.Kind.IsWrite() {
				op.Status, op.End, op.Return = StatusUnknown, op.Return, Infinity
			}
			break
		}
		if class == noEffect {
			d := min(r.cfg.Backoff<<min(pauses, 5), 200*time.Millisecond)
			pauses++
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
	}
	if last != nil {
		op.Err = last.Error()
	}
	if op.Status == StatusUnknown {
		// The op never returns: the worker goes on as a new process.
		r.process = r.h.NewProcess()
	}
	r.h.Add(op)
	return op
}

// RawGet records a get sent on a subject of the caller's choice (e.g. one
// member's own kontiki.<c>.member.<id>.kv.get.<key>) with the given
// consistency: one attempt, no retry, no leader routing. It is for probes the
// Go client cannot aim, such as lease reads at a resumed old leader. sent, if
// not nil, is called once the request is published.
func (r *Recorder) RawGet(nc *nats.Conn, subject, key string, consistency client.Consistency, timeout time.Duration, sent func()) Op {
	op := Op{Kind: KindGet, Key: key, Worker: r.worker, Process: r.process, Attempts: 1}
	if consistency == client.Lease {
		op.Kind = KindLeaseGet
	}
	op.Call = r.h.Now()
	reply, err := rawRequest(nc, subject, consistency, timeout, sent)
	op.Return = r.h.Now()
	switch {
	case err != nil:
		op.Status, op.Err = StatusFailed, err.Error()
	case reply.Header.Get(client.HeaderServiceErrorCode) == "404":
		op.Status = StatusNotFound
	case reply.Header.Get(client.HeaderServiceErrorCode) != "":
		op.Status = StatusFailed
		op.Err = reply.Header.Get(client.HeaderServiceErrorCode) + " " + reply.Header.Get(client.HeaderServiceError)
	default:
		rev, perr := strconv.ParseUint(reply.Header.Get(client.HeaderRevision), 10, 64)
		if perr != nil {
			op.Status, op.Err = StatusFailed, fmt.Sprintf("bad %s header: %v", client.HeaderRevision, perr)
			break
		}
		op.Status, op.Value, op.Revision = StatusOK, string(reply.Data), rev
	}
	r.h.Add(op)
	return op
}

// rawRequest sends one request with its own inbox so that sent can be told
// when it is published.
func rawRequest(nc *nats.Conn, subject string, consistency client.Consistency, timeout time.Duration, sent func()) (*nats.Msg, error) {
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	msg := &nats.Msg{Subject: subject, Reply: inbox, Header: nats.Header{}}
	msg.Header.Set(client.HeaderConsistency, string(consistency))
	if err := nc.PublishMsg(msg); err != nil {
		return nil, err
	}
	if sent != nil {
		sent()
	}
	reply, err := sub.NextMsg(timeout)
	if err != nil {
		return nil, err
	}
	if len(reply.Data) == 0 && reply.Header.Get("Status") == "503" {
		return nil, nats.ErrNoResponders
	}
	return reply, nil
}
