// Writes: put, del and raw proposals. Validated at the edge (key syntax,
// value size, headers), proposed on the leader, forwarded by a follower to
// the leader's own subject, answered 503 at once when there is no leader.
package cluster

import (
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/kontiki-raft/kontiki/actors"
	"github.com/kontiki-raft/kontiki/client"
	"github.com/kontiki-raft/kontiki/kv"
	pb "github.com/kontiki-raft/kontiki/messages"
)

func (s *Service) put(req micro.Request, key string) {
	s.write(req, pb.KVOp_KV_OP_PUT, key, "kv.put."+key)
}

func (s *Service) del(req micro.Request, key string) {
	s.write(req, pb.KVOp_KV_OP_DELETE, key, "kv.del."+key)
}

func (s *Service) write(req micro.Request, op pb.KVOp, key, memberSuffix string) {
	opts, badHeader := writeOptions(req.Headers())
	if badHeader != nil {
		s.respondError(req, badHeader)
		return
	}
	cmd, bad := encodeWrite(op, key, req.Data(), opts, s.maxValue)
	if bad != nil {
		s.respondError(req, bad)
		return
	}
	s.proposeOrForward(req, cmd, memberSuffix, func(result []byte) { s.answerWrite(req, result) })
}

// encodeWrite validates one put or del as the edge does (checkWrite) and
// encodes it.
func encodeWrite(op pb.KVOp, key string, value []byte, opts kv.WriteOptions, maxValue int) ([]byte, *serviceError) {
	if e := checkWrite(op, kv.ValidKey(key), len(value), maxValue); e != nil {
		return nil, e
	}
	var cmd []byte
	var err error
	if op == pb.KVOp_KV_OP_PUT {
		cmd, err = kv.EncodePut(key, value, opts)
	} else {
		cmd, err = kv.EncodeDelete(key, opts)
	}
	if err != nil {
		return nil, newError(400, err.Error())
	}
	return cmd, nil
}

// checkWrite is the edge's validation of one put or del, given the key's
// kv.ValidKey error and the value's length: key syntax, value size, no body
// on a del, a known op. kv.batch validates each of its commands through it
// too, so both endpoints refuse the same writes with the same codes.
func checkWrite(op pb.KVOp, keyErr error, valueLen, maxValue int) *serviceError {
	if keyErr != nil {
		return newError(400, keyErr.Error())
	}
	switch op {
	case pb.KVOp_KV_OP_PUT:
		if valueLen > maxValue {
			return newError(413, "value of "+strconv.Itoa(valueLen)+" bytes exceeds the limit of "+strconv.Itoa(maxValue))
		}
	case pb.KVOp_KV_OP_DELETE:
		if valueLen > 0 {
			return newError(400, "del takes no body")
		}
	default:
		return newError(400, "unknown op "+op.String())
	}
	return nil
}

// answerWrite turns the store's result into the reply; it runs on the
// applier's goroutine, so it only encodes and publishes.
func (s *Service) answerWrite(req micro.Request, result []byte) {
	rev, e := writeOutcome(result)
	if e != nil {
		s.respondError(req, e)
		return
	}
	leader := micro.Headers{client.HeaderLeader: []string{strconv.FormatUint(s.cfg.ID, 10)}}
	s.respondJSON(req, client.WriteResponse{Revision: rev}, leader)
}

// writeOutcome reads the store's result for a put or del: the write's
// revision, or the service error it is answered with (on 409 rev is the
// key's current mod revision, also in the error's Kontiki-Revision).
func writeOutcome(result []byte) (rev uint64, e *serviceError) {
	res, err := kv.DecodeResult(result)
	if err != nil {
		return 0, newError(500, "undecodable state machine result: "+err.Error())
	}
	switch res.Status {
	case pb.KVStatus_KV_STATUS_OK:
		return res.Revision, nil
	case pb.KVStatus_KV_STATUS_NOT_FOUND:
		return 0, newError(404, "key not found")
	case pb.KVStatus_KV_STATUS_CONFLICT:
		return res.Revision, newError(409, "revision conflict").with(client.HeaderRevision, strconv.FormatUint(res.Revision, 10))
	default:
		return 0, newError(400, res.Error)
	}
}

// writeOptions reads the CAS and request-id headers.
func writeOptions(h micro.Headers) (kv.WriteOptions, *serviceError) {
	var o kv.WriteOptions
	// Present but empty is a bad value, not an absent header: a CAS the
	// caller meant must never turn into an unconditional write.
	if vs := h.Values(client.HeaderExpectedRevision); len(vs) > 0 {
		v := vs[0]
		rev, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return o, newError(400, "bad "+client.HeaderExpectedRevision+": "+strconv.Quote(v))
		}
		o.HasExpectedRevision, o.ExpectedRevision = true, rev
	}
	o.RequestID = h.Get(client.HeaderRequestID)
	if len(o.RequestID) > kv.MaxRequestIDBytes {
		return o, newError(400, client.HeaderRequestID+" longer than "+strconv.Itoa(kv.MaxRequestIDBytes)+" bytes")
	}
	return o, nil
}

// proposeRaw serves kontiki.<c>.propose: raw command bytes for the embedded
// StateMachine, its raw result back.
func (s *Service) proposeRaw(req micro.Request, _ string) {
	if len(req.Data()) > s.maxValue {
		s.respondError(req, newError(413, "command exceeds the size limit"))
		return
	}
	s.proposeOrForward(req, req.Data(), "propose", func(result []byte) {
		s.respond(req, result, micro.Headers{client.HeaderLeader: []string{strconv.FormatUint(s.cfg.ID, 10)}})
	})
}

// proposeOrForward proposes cmd when this member leads and calls onResult
// with the state machine's result (on the applier's goroutine), or forwards
// the request to the leader, or answers it with an error. Nothing waits: the
// request is answered exactly once, by whichever comes first of the result,
// the error and the request timeout (504, outcome unknown).
func (s *Service) proposeOrForward(req micro.Request, cmd []byte, memberSuffix string, onResult func([]byte)) {
	if s.cfg.Store != nil {
		cmd = kv.StampLeaderTime(cmd, time.Now().UnixMilli())
	}
	var answered atomic.Bool
	timer := time.AfterFunc(s.cfg.RequestTimeout, func() {
		if answered.CompareAndSwap(false, true) {
			s.respondError(req, classify(actors.ErrTimeout, 0))
		}
	})
	s.cfg.Node.ProposeAsync(cmd, func(res *actors.ProposeResult) {
		if !answered.CompareAndSwap(false, true) {
			return
		}
		timer.Stop()
		if res.Err == nil {
			onResult(res.Result)
			return
		}
		var nl *actors.NotLeaderError
		if errors.As(res.Err, &nl) && nl.Leader != 0 {
			// Forwarding waits for the leader's answer: not on the
			// node's goroutine.
			go func() {
				if !s.forward(req, nl.Leader, memberSuffix) {
					s.respondError(req, classify(res.Err, 0))
				}
			}()
			return
		}
		s.respondError(req, classify(res.Err, 0))
	})
}
