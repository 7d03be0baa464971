// Reads: get and list at the consistency the request asks for —
// linearizable (default: ReadIndex, on any member), lease (the leader only;
// a follower forwards it), stale (the local replica, with its applied
// revision in Kontiki-Applied).
package cluster

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go/micro"

	"github.com/kontiki-raft/kontiki/actors"
	"github.com/kontiki-raft/kontiki/client"
	"github.com/kontiki-raft/kontiki/kv"
)

const (
	defaultListLimit = 100
	maxListLimit     = 10000
)

// readBarrier waits until the local store may serve a read at the requested
// consistency. It returns false when the request was answered or forwarded.
func (s *Service) readBarrier(req micro.Request, memberSuffix string) (headers micro.Headers, ok bool) {
	mode := req.Headers().Get(client.HeaderConsistency)
	switch mode {
	case "stale":
		return micro.Headers{client.HeaderApplied: []string{strconv.FormatUint(s.cfg.Store.Revision(), 10)}}, true
	case "", "linearizable", "lease":
	default:
		respondError(req, newError(400, "unknown "+client.HeaderConsistency+" "+strconv.Quote(mode)+" (linearizable, lease or stale)"))
		return nil, false
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if mode == "lease" {
		_, err := s.cfg.Node.Read(ctx, actors.ReadLease)
		if err == nil {
			return micro.Headers{}, true
		}
		var nl *actors.NotLeaderError
		if errors.As(err, &nl) {
			if s.forward(req, nl.Leader, memberSuffix) {
				return nil, false
			}
			respondError(req, classify(err, 0))
			return nil, false
		}
		// The leader holds no lease right now (just elected, transferring):
		// a ReadIndex round gives the same guarantee.
	}
	if _, err := s.cfg.Node.Read(ctx, actors.ReadLinearizable); err != nil {
		respondError(req, classify(err, 0))
		return nil, false
	}
	return micro.Headers{}, true
}

func (s *Service) get(req micro.Request, key string) {
	if err := kv.ValidKey(key); err != nil {
		respondError(req, newError(400, err.Error()))
		return
	}
	headers, ok := s.readBarrier(req, "kv.get."+key)
	if !ok {
		return
	}
	item, found := s.cfg.Store.Get(key)
	if !found {
		e := newError(404, "key not found")
		for k, v := range headers {
			e = e.with(k, v[0])
		}
		respondError(req, e)
		return
	}
	headers[client.HeaderRevision] = []string{strconv.FormatUint(item.ModRevision, 10)}
	_ = req.Respond(item.Value, micro.WithHeaders(headers))
}

func (s *Service) list(req micro.Request, _ string) {
	var lr client.ListRequest
	if len(req.Data()) > 0 {
		if err := json.Unmarshal(req.Data(), &lr); err != nil {
			respondError(req, newError(400, "bad list request: "+err.Error()))
			return
		}
	}
	if lr.Limit < 0 || lr.Limit > maxListLimit {
		respondError(req, newError(400, "limit must be between 0 and "+strconv.Itoa(maxListLimit)))
		return
	}
	if lr.Limit == 0 {
		lr.Limit = defaultListLimit
	}
	headers, ok := s.readBarrier(req, "kv.list")
	if !ok {
		return
	}
	items, more, rev := s.cfg.Store.List(lr.Prefix, lr.After, lr.Limit)
	resp := client.ListResponse{Revision: rev, More: more, Items: make([]client.Item, len(items))}
	for i, it := range items {
		resp.Items[i] = client.Item{Key: it.Key, Value: it.Value, Revision: it.ModRevision}
	}
	respondJSON(req, resp, headers)
}
