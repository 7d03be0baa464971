// This file owns the key-value calls: Put, Get, Delete and List.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	pb "github.com/kontiki-raft/kontiki/messages"
)

// Put sets key to value and returns the store revision of the write. Every
// attempt carries the same Kontiki-Request-Id, so a retried Put applies once.
func (c *Client) Put(ctx context.Context, key string, value []byte, opts ...PutOption) (revision uint64, err error) {
	if err := ValidateKey(key); err != nil {
		return 0, err
	}
	if n, max := int64(len(value)), c.maxValue(); n > max {
		return 0, fmt.Errorf("%w: value is %d bytes, at most %d allowed", ErrTooLarge, n, max)
	}
	var cfg writeConfig
	for _, o := range opts {
		o.applyPut(&cfg)
	}
	cfg.fillRequestID()
	if err := cfg.validRequestID(); err != nil {
		return 0, err
	}
	single := func() request {
		return request{op: "put", endpoint: "kv.put." + key, data: value, header: cfg.header()}
	}
	if c.batching() {
		return c.writeBatched(ctx, cfg.batchedWrite(pb.KVOp_KV_OP_PUT, key, value), single)
	}
	return c.write(ctx, single())
}

// Delete removes key and returns the store revision of the delete. A missing
// key fails with ErrNotFound.
func (c *Client) Delete(ctx context.Context, key string, opts ...DeleteOption) (revision uint64, err error) {
	if err := ValidateKey(key); err != nil {
		return 0, err
	}
	var cfg writeConfig
	for _, o := range opts {
		o.applyDelete(&cfg)
	}
	cfg.fillRequestID()
	if err := cfg.validRequestID(); err != nil {
		return 0, err
	}
	single := func() request { return request{op: "del", endpoint: "kv.del." + key, header: cfg.header()} }
	if c.batching() {
		return c.writeBatched(ctx, cfg.batchedWrite(pb.KVOp_KV_OP_DELETE, key, nil), single)
	}
	return c.write(ctx, single())
}

// write sends a put or del to the leader and decodes {"revision":N}.
func (c *Client) write(ctx context.Context, r request) (uint64, error) {
	r.toLeader = true
	msg, err := c.do(ctx, r)
	if err != nil {
		return 0, err
	}
	var resp WriteResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return 0, fmt.Errorf("kontiki: bad %s reply: %w", r.op, err)
	}
	return resp.Revision, nil
}

// fillRequestID gives the write a random request id unless one was given.
func (w *writeConfig) fillRequestID() {
	if w.requestID == "" {
		w.requestID = newRequestID()
	}
}

// validRequestID: a request id is a protobuf string on the wire, so UTF-8
// (a member would refuse another with 400; in a batch it would spoil the
// other writes' request).
func (w *writeConfig) validRequestID() error {
	if !utf8.ValidString(w.requestID) {
		return fmt.Errorf("%w: request id %q is not valid UTF-8", ErrBadRequest, w.requestID)
	}
	return nil
}

// batching: writes go through kv.batch when batching is on and a leader is
// known (until one is, the single-write path finds it).
func (c *Client) batching() bool {
	return !c.opts.NoBatching && c.leader.Load() != 0 && time.Now().UnixNano() >= c.batch.offUntil.Load()
}

// batchedWrite is the write as a command of a kv.batch request.
func (w writeConfig) batchedWrite(op pb.KVOp, key string, value []byte) *batchedWrite {
	bw := &batchedWrite{done: make(chan struct{})}
	// The value is copied: a queued write may be marshalled after its
	// caller gave up and reused the buffer.
	bw.op, bw.key, bw.value, bw.requestID = op, key, bytes.Clone(value), w.requestID
	bw.hasExpected, bw.expected = w.hasExpected, w.expected
	bw.size = commandSize(bw)
	return bw
}

// header builds the headers of a write: its request id and the
// compare-and-swap expectation.
func (w writeConfig) header() nats.Header {
	h := nats.Header{}
	h.Set(HeaderRequestID, w.requestID)
	if w.hasExpected {
		h.Set(HeaderExpectedRevision, strconv.FormatUint(w.expected, 10))
	}
	return h
}

// Get returns key's value and mod revision. A missing key fails with
// ErrNotFound. Linearizable (default) and Lease reads go to the leader, Stale
// reads to any member.
func (c *Client) Get(ctx context.Context, key string, opts ...GetOption) (value []byte, revision uint64, err error) {
	if err := ValidateKey(key); err != nil {
		return nil, 0, err
	}
	var cfg readConfig
	for _, o := range opts {
		o.applyGet(&cfg)
	}
	r, err := cfg.request("get", "kv.get."+key, nil)
	if err != nil {
		return nil, 0, err
	}
	msg, err := c.do(ctx, r)
	if err != nil {
		return nil, 0, err
	}
	if h := msg.Header.Get(HeaderRevision); h != "" {
		if revision, err = strconv.ParseUint(h, 10, 64); err != nil {
			return nil, 0, fmt.Errorf("kontiki: bad get reply: %s %q", HeaderRevision, h)
		}
	}
	return msg.Data, revision, nil
}

// List returns one page of the keys under prefix in key order, the store
// revision it reflects and whether more keys follow; page on with
// After(last key of the page).
func (c *Client) List(ctx context.Context, prefix string, opts ...ListOption) (items []Item, revision uint64, more bool, err error) {
	if err := ValidatePrefix(prefix); err != nil {
		return nil, 0, false, err
	}
	var cfg listConfig
	for _, o := range opts {
		o.applyList(&cfg)
	}
	if cfg.limit < 0 {
		return nil, 0, false, fmt.Errorf("%w: negative limit %d", ErrBadRequest, cfg.limit)
	}
	body, err := json.Marshal(ListRequest{Prefix: prefix, Limit: cfg.limit, After: cfg.after})
	if err != nil {
		return nil, 0, false, err
	}
	r, err := cfg.request("list", "kv.list", body)
	if err != nil {
		return nil, 0, false, err
	}
	msg, err := c.do(ctx, r)
	if err != nil {
		return nil, 0, false, err
	}
	var resp ListResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, 0, false, fmt.Errorf("kontiki: bad list reply: %w", err)
	}
	return resp.Items, resp.Revision, resp.More, nil
}

// request builds a read: the consistency header, and leader routing unless
// the read is stale.
func (rc readConfig) request(op, endpoint string, body []byte) (request, error) {
	r := request{op: op, endpoint: endpoint, data: body, toLeader: true}
	switch rc.consistency {
	case "":
	case Linearizable, Lease:
		r.header = nats.Header{HeaderConsistency: []string{string(rc.consistency)}}
	case Stale:
		r.header = nats.Header{HeaderConsistency: []string{string(rc.consistency)}}
		r.toLeader = false
	default:
		return r, fmt.Errorf("%w: unknown consistency %q", ErrBadRequest, rc.consistency)
	}
	return r, nil
}
