// Reads: get and list at the consistency the request asks for —
// linearizable (default: ReadIndex, on any member), lease (the leader only;
// a follower forwards it), stale (the local replica, with its applied
// revision in Kontiki-Applied).
package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/kontiki-raft/kontiki/actors"
	"github.com/kontiki-raft/kontiki/client"
	"github.com/kontiki-raft/kontiki/kv"
)

const (
	defaultListLimit = 100
	maxListLimit     = 10000
)

// checkConsistencyHeader refuses a Kontiki-Consistency value no endpoint
// knows, on every endpoint (DESIGN.md §3: an unknown header value is a bad
// request), so a typo on a write or a watch is not silently ignored. Writes
// and watches accept the known values: a write is always linearizable.
func checkConsistencyHeader(h micro.Headers) *serviceError {
	switch mode := h.Get(client.HeaderConsistency); mode {
	case "", "linearizable", "lease", "stale":
		return nil
	default:
		return newError(400, "unknown "+client.HeaderConsistency+" "+strconv.Quote(mode)+" (linearizable, lease or stale)")
	}
}

// readBarrier waits until the local store may serve a read at the requested
// consistency. It returns false when the request was answered or forwarded.
func (s *Service) readBarrier(req micro.Request, memberSuffix string) (headers micro.Headers, ok bool) {
	// Unknown modes were refused before any handler ran (addEndpoints).
	mode := req.Headers().Get(client.HeaderConsistency)
	if mode == "stale" {
		return micro.Headers{client.HeaderApplied: []string{strconv.FormatUint(s.cfg.Store.Revision(), 10)}}, true
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if mode == "lease" {
		index, err := s.cfg.Node.Read(ctx, actors.ReadLease)
		if err == nil {
			return s.awaitStore(ctx, req, index)
		}
		var nl *actors.NotLeaderError
		if errors.As(err, &nl) {
			if s.forward(req, nl.Leader, memberSuffix) {
				return nil, false
			}
			s.respondError(req, classify(err, 0))
			return nil, false
		}
		// The leader holds no lease right now (just elected, transferring):
		// a ReadIndex round gives the same guarantee.
	}
	index, err := s.cfg.Node.Read(ctx, actors.ReadLinearizable)
	if err != nil {
		s.respondError(req, classify(err, 0))
		return nil, false
	}
	return s.awaitStore(ctx, req, index)
}

// awaitStore waits until the store has applied index. The node answers a
// read once its applier got there, but the store outlives a restart of the
// node actor, which restores it to a snapshot and replays: a read that
// passed its barrier just before must not see the rolled-back state.
func (s *Service) awaitStore(ctx context.Context, req micro.Request, index uint64) (micro.Headers, bool) {
	if s.cfg.Store.AppliedIndex() >= index {
		return micro.Headers{}, true // the normal case: no wait at all
	}
	// Changed fires on writes and restores, not on empty entries: poll too.
	poll := time.NewTicker(2 * time.Millisecond)
	defer poll.Stop()
	for {
		changed := s.cfg.Store.Changed()
		if s.cfg.Store.AppliedIndex() >= index {
			return micro.Headers{}, true
		}
		select {
		case <-changed:
		case <-poll.C:
		case <-ctx.Done():
			s.respondError(req, newError(504, "timed out waiting for the local replica to apply the read index"))
			return nil, false
		}
	}
}

func (s *Service) get(req micro.Request, key string) {
	if err := kv.ValidKey(key); err != nil {
		s.respondError(req, newError(400, err.Error()))
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
		s.respondError(req, e)
		return
	}
	headers[client.HeaderRevision] = []string{strconv.FormatUint(item.ModRevision, 10)}
	s.respond(req, item.Value, headers)
}

func (s *Service) list(req micro.Request, _ string) {
	var lr client.ListRequest
	if len(req.Data()) > 0 {
		if err := json.Unmarshal(req.Data(), &lr); err != nil {
			s.respondError(req, newError(400, "bad list request: "+err.Error()))
			return
		}
	}
	if lr.Prefix != "" && !validPrefix(lr.Prefix) {
		s.respondError(req, newError(400, "bad prefix "+strconv.Quote(lr.Prefix)))
		return
	}
	if lr.Limit < 0 || lr.Limit > maxListLimit {
		s.respondError(req, newError(400, "limit must be between 0 and "+strconv.Itoa(maxListLimit)))
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
	resp := client.ListResponse{Revision: rev, More: more, Items: make([]client.Item, 0, len(items))}
	// A page must fit in one reply: values travel base64 (4/3 of their
	// size), so a page of accepted values can outgrow max_payload, and a
	// reply NATS refuses would leave the caller waiting for nothing. The
	// page ends early (more: true) instead; a value too large for any page
	// goes without its value (value_omitted), to be read with kv.get.
	budget := int(s.cfg.NC.MaxPayload()) - listReplyRoom
	size := 0
	for _, it := range items {
		item := client.Item{Key: it.Key, Value: it.Value, Revision: it.ModRevision}
		n := listItemBytes(item)
		if size+n > budget {
			if len(resp.Items) > 0 {
				resp.More = true
				break
			}
			item.Value, item.ValueOmitted = nil, true
			n = listItemBytes(item)
		}
		size += n
		resp.Items = append(resp.Items, item)
	}
	s.respondJSON(req, resp, headers)
}

// listReplyRoom is kept free in a list reply for its headers and the
// envelope around the items.
const listReplyRoom = 4 << 10

// listItemBytes bounds an item's size in a list reply's JSON: keys need no
// escaping (their characters are plain ASCII), the value is base64, and 64
// bytes cover the field names, quotes, the revision and a comma.
func listItemBytes(it client.Item) int {
	return len(it.Key) + base64.StdEncoding.EncodedLen(len(it.Value)) + 64
}
