// Writes: put, del and raw proposals. Validated at the edge (key syntax,
// value size, headers), proposed on the leader, forwarded by a follower to
// the leader's own subject, answered 503 at once when there is no leader.
package cluster

import (
	"errors"
	"strconv"
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
	if err := kv.ValidKey(key); err != nil {
		s.respondError(req, newError(400, err.Error()))
		return
	}
	var cmd []byte
	var encErr error
	if op == pb.KVOp_KV_OP_PUT {
		if len(req.Data()) > s.maxValue {
			s.respondError(req, newError(413, "value of "+strconv.Itoa(len(req.Data()))+" bytes exceeds the limit of "+strconv.Itoa(s.maxValue)))
			return
		}
		cmd, encErr = kv.EncodePut(key, req.Data(), opts)
	} else {
		if len(req.Data()) > 0 {
			s.respondError(req, newError(400, "del takes no body"))
			return
		}
		cmd, encErr = kv.EncodeDelete(key, opts)
	}
	if encErr != nil {
		s.respondError(req, newError(400, encErr.Error()))
		return
	}
	result, ok := s.proposeOrForward(req, cmd, memberSuffix)
	if !ok {
		return
	}
	res, err := kv.DecodeResult(result)
	if err != nil {
		s.respondError(req, newError(500, "undecodable state machine result: "+err.Error()))
		return
	}
	leader := micro.Headers{client.HeaderLeader: []string{strconv.FormatUint(s.cfg.ID, 10)}}
	switch res.Status {
	case pb.KVStatus_KV_STATUS_OK:
		s.respondJSON(req, client.WriteResponse{Revision: res.Revision}, leader)
	case pb.KVStatus_KV_STATUS_NOT_FOUND:
		s.respondError(req, newError(404, "key not found"))
	case pb.KVStatus_KV_STATUS_CONFLICT:
		s.respondError(req, newError(409, "revision conflict").with(client.HeaderRevision, strconv.FormatUint(res.Revision, 10)))
	default:
		s.respondError(req, newError(400, res.Error))
	}
}

// writeOptions reads the CAS and request-id headers.
func writeOptions(h micro.Headers) (kv.WriteOptions, *serviceError) {
	var o kv.WriteOptions
	if v := h.Get(client.HeaderExpectedRevision); v != "" {
		rev, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return o, newError(400, "bad "+client.HeaderExpectedRevision+": "+v)
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
	if result, ok := s.proposeOrForward(req, req.Data(), "propose"); ok {
		s.respond(req, result, micro.Headers{client.HeaderLeader: []string{strconv.FormatUint(s.cfg.ID, 10)}})
	}
}

// proposeOrForward proposes cmd when this member leads, or forwards the
// request to the leader. It returns the result when this member must answer
// it; false when the request was answered (an error) or forwarded.
func (s *Service) proposeOrForward(req micro.Request, cmd []byte, memberSuffix string) ([]byte, bool) {
	ctx, cancel := s.ctx()
	defer cancel()
	if s.cfg.Store != nil {
		cmd = kv.StampLeaderTime(cmd, time.Now().UnixMilli())
	}
	res, err := s.cfg.Node.Propose(ctx, cmd)
	if err == nil {
		return res.Result, true
	}
	var nl *actors.NotLeaderError
	if errors.As(err, &nl) && s.forward(req, nl.Leader, memberSuffix) {
		return nil, false
	}
	s.respondError(req, classify(err, 0))
	return nil, false
}
