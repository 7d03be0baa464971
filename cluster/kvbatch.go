// kv.batch: several puts and deletes in one request, so that the writes a
// client's callers issue concurrently cost the leader one NATS message, one
// timer and one reply instead of one of each per write. Each command is
// validated as a single put or del is (checkWrite), proposed as its own
// entry, in order, and answered on its own in the one KVBatchReply.
//
// The leader decodes a batch without proto.Unmarshal: it walks the body with
// protowire, reads each command through a kv.CommandView (sub-slices of the
// body, no copies) and proposes the command's own bytes with its time
// appended (kv.StampLeaderTime), so a valid command costs one allocation.
//
// A batch is never forwarded: a follower answers every command 503 (with the
// leader it knows in KVBatchReply.leader), and the client falls back to the
// single-write path, which forwards.
package cluster

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/micro"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kontiki-raft/kontiki/actors"
	"github.com/kontiki-raft/kontiki/client"
	"github.com/kontiki-raft/kontiki/kv"
	pb "github.com/kontiki-raft/kontiki/messages"
)

// maxBatchCommands bounds one batch (more: 400 for the whole request). The
// commands of a batch share one timer and one reply: the bound keeps a reply
// whose results carry only codes and revisions (see marshalBatchReply) near
// 64 KiB, and caps how many entries one request adds to the leader's
// uncommitted log at once. A client coalescing concurrent writes needs far
// fewer.
const maxBatchCommands = 4096

// batchTimeoutMessage answers the commands a batch's timer finds unanswered:
// proposed, outcome unknown.
const batchTimeoutMessage = "outcome unknown; retry with the same request id"

// batchEntry is one command of a batch after validation: the log entry to
// propose, or the error a single put or del of it would have got.
type batchEntry struct {
	data    []byte
	refused *serviceError
}

// decodeBatch validates a kv.batch body and turns each valid command into a
// log entry: the command's bytes as received, copied, with leaderTimeMs
// appended (a later occurrence wins, so the client's stamp is overridden). A
// whole-request error (not a KVBatch, no commands, too many) is a 400; a
// command a put or del would refuse gets that refusal and no entry, and so
// does a command that is not a KVCommand (malformed, or a key or request_id
// that is not UTF-8). It only computes, so it can be fuzzed without a
// cluster.
//
// The body is read as proto.Unmarshal reads a KVBatch: field 1 with the
// bytes wire type is a command; any other field, field 1 with another wire
// type included, is skipped as an unknown field, and must be well formed.
func decodeBatch(body []byte, maxValue int, leaderTimeMs int64) ([]batchEntry, *serviceError) {
	n := 0
	for off := 0; off < len(body); {
		_, isCmd, l := nextBatchField(body[off:])
		if l < 0 {
			return nil, newError(400, "body is not a KVBatch: malformed field at byte "+strconv.Itoa(off))
		}
		if isCmd {
			n++
		}
		off += l
	}
	switch {
	case n == 0:
		return nil, newError(400, "empty batch")
	case n > maxBatchCommands:
		return nil, newError(400, "batch of "+strconv.Itoa(n)+" commands exceeds the limit of "+strconv.Itoa(maxBatchCommands))
	}
	entries := make([]batchEntry, 0, n)
	for b := body; len(b) > 0; {
		cmd, isCmd, l := nextBatchField(b) // well formed: checked above
		b = b[l:]
		if isCmd {
			entries = append(entries, batchCommand(cmd, maxValue, leaderTimeMs))
		}
	}
	return entries, nil
}

// maxCommandBytes bounds a command's encoding: a value of maxValue, the
// longest key and request id, and the framing of every KVCommand field.
func maxCommandBytes(maxValue int) int { return maxValue + kv.MaxKeyBytes + kv.MaxRequestIDBytes + 64 }

// nextBatchField consumes the first field of a KVBatch body b: its length
// (negative when the field is malformed), and, when it is a
// command, the command's bytes (a sub-slice of b). The tag rules are
// proto.Unmarshal's: a field number in 1..2^29-1, no end-group without its
// group, no reserved wire type.
func nextBatchField(b []byte) (cmd []byte, isCmd bool, n int) {
	tag, tn := protowire.ConsumeVarint(b)
	if tn < 0 {
		return nil, false, tn
	}
	if tag>>3 < uint64(protowire.MinValidNumber) || tag>>3 > uint64(protowire.MaxValidNumber) {
		return nil, false, -1
	}
	num, typ := protowire.Number(tag>>3), protowire.Type(tag&7)
	if typ == protowire.EndGroupType {
		return nil, false, -1
	}
	if num == batchCommandsField && typ == protowire.BytesType {
		v, vn := protowire.ConsumeBytes(b[tn:])
		if vn < 0 {
			return nil, false, vn
		}
		return v, true, tn + vn
	}
	vn := protowire.ConsumeFieldValue(num, typ, b[tn:])
	if vn < 0 {
		return nil, false, vn
	}
	return nil, false, tn + vn
}

// batchCommandsField is KVBatch.commands' field number.
const batchCommandsField = 1

// batchCommand validates one command of a batch, in the order of the
// single-write endpoints' checks, and stamps the entry to propose.
func batchCommand(cmd []byte, maxValue int, leaderTimeMs int64) batchEntry {
	v, ok := kv.ParseCommand(cmd)
	if !ok {
		return batchEntry{refused: newError(400, "command is not a KVCommand (malformed, or a key or request_id that is not UTF-8)")}
	}
	if len(v.RequestID) > kv.MaxRequestIDBytes {
		return batchEntry{refused: newError(400, "request_id longer than "+strconv.Itoa(kv.MaxRequestIDBytes)+" bytes")}
	}
	if e := checkWrite(v.Op, kv.ValidKeyBytes(v.Key), len(v.Value), maxValue); e != nil {
		return batchEntry{refused: e}
	}
	// The entry is the command as sent, unknown fields included: bound it
	// as a re-encoded one would be, so that every entry fits in one peer
	// message (ValueOverhead).
	if limit := maxCommandBytes(maxValue); len(cmd) > limit {
		return batchEntry{refused: newError(413, "command of "+strconv.Itoa(len(cmd))+" bytes exceeds the limit of "+strconv.Itoa(limit)+" (the value limit plus room for the key, request id and framing)")}
	}
	// A copy: the entry outlives the request's buffer.
	return batchEntry{data: kv.StampLeaderTime(cmd, leaderTimeMs)}
}

// batch serves kontiki.<c>.kv.batch and …member.<id>.kv.batch. It proposes
// and returns; the reply goes out when the last proposed command is
// answered or the request timeout passes, whichever is first.
func (s *Service) batch(req micro.Request, _ string) {
	entries, bad := decodeBatch(req.Data(), s.maxValue, time.Now().UnixMilli())
	if bad != nil {
		s.respondError(req, bad)
		return
	}
	b := &pendingBatch{s: s, req: req, results: make([]pb.KVBatchResult, len(entries))}
	b.reply.Results = make([]*pb.KVBatchResult, len(entries))
	for i := range entries {
		b.reply.Results[i] = &b.results[i]
		if e := entries[i].refused; e != nil {
			b.results[i].Code, b.results[i].Description = uint32(e.code), e.message
		} else {
			b.pending++
		}
	}
	if b.pending == 0 {
		b.sent = true
		b.send()
		return
	}
	// Set before the first proposal: its answer may come at once, and
	// reads timer only after the last one.
	b.timer = time.AfterFunc(s.cfg.RequestTimeout, b.expire)
	for i := range entries {
		if entries[i].data != nil {
			s.cfg.Node.ProposeAsync(entries[i].data, func(r *actors.ProposeResult) { b.answer(i, r) })
		}
	}
}

// pendingBatch collects a batch's results until it is sent. Its answers
// arrive on the node's and the applier's goroutines, its expiry on a timer's:
// each only records under mu and, the one that completes it, encodes and
// publishes.
type pendingBatch struct {
	s       *Service
	req     micro.Request
	timer   *time.Timer
	results []pb.KVBatchResult // backing array of reply.Results

	mu    sync.Mutex
	reply pb.KVBatchReply
	// pending counts the proposed commands not yet answered; sent is set
	// once, by whoever answers the last one or by expire. Invariant: once
	// sent, results and reply are no longer written, so send reads them
	// without mu. A command not yet answered has code 0 (never a real code).
	pending int
	sent    bool
	// servedAsLeader: a command was applied through this member.
	// namedLeader: the leader a NotLeaderError named.
	servedAsLeader bool
	namedLeader    uint64
}

// answer records command i's outcome; late answers (after expire) are
// dropped.
func (b *pendingBatch) answer(i int, r *actors.ProposeResult) {
	var code uint32 = 200
	var rev, named uint64
	var desc string
	if r.Err == nil {
		var e *serviceError
		if rev, e = writeOutcome(r.Result); e != nil {
			code, desc = uint32(e.code), e.message
		}
	} else {
		e := classify(r.Err, 0)
		code, desc = uint32(e.code), e.message
		var nl *actors.NotLeaderError
		if errors.As(r.Err, &nl) {
			named = nl.Leader
		}
	}
	b.mu.Lock()
	res := &b.results[i]
	if b.sent || res.Code != 0 { // late, or a second answer for the command
		b.mu.Unlock()
		return
	}
	res.Code, res.Revision, res.Description = code, rev, desc
	if r.Err == nil {
		b.servedAsLeader = true
	} else if named != 0 {
		b.namedLeader = named
	}
	b.pending--
	done := b.pending == 0
	b.sent = done
	b.mu.Unlock()
	if done {
		b.timer.Stop()
		b.send()
	}
}

// expire answers every command still waiting 504 and sends the reply.
func (b *pendingBatch) expire() {
	b.mu.Lock()
	if b.sent {
		b.mu.Unlock()
		return
	}
	b.sent = true
	for i := range b.results {
		if b.results[i].Code == 0 {
			b.results[i].Code, b.results[i].Description = 504, batchTimeoutMessage
		}
	}
	b.mu.Unlock()
	b.send()
}

// send publishes the reply, once (the caller set sent). Kontiki-Leader is
// set too when the leader is known, as on the other writes' replies.
func (b *pendingBatch) send() {
	// A named leader is newer news than our own leadership: leadership
	// may have moved while the batch was being answered.
	switch {
	case b.namedLeader != 0:
		b.reply.Leader = b.namedLeader
	case b.servedAsLeader:
		b.reply.Leader = b.s.cfg.ID
	}
	data, err := marshalBatchReply(&b.reply, int(b.s.cfg.NC.MaxPayload()))
	if err != nil {
		b.s.respondError(b.req, newError(500, "encode batch reply: "+err.Error()))
		return
	}
	var h micro.Headers
	if b.reply.Leader != 0 {
		h = micro.Headers{client.HeaderLeader: []string{strconv.FormatUint(b.reply.Leader, 10)}}
	}
	b.s.respond(b.req, data, h)
}

// marshalBatchReply encodes the reply. The codes and revisions are the
// contract and the descriptions only explain them: when the descriptions
// would push the reply past max_payload (less room for the headers), they
// are dropped rather than the reply lost.
func marshalBatchReply(r *pb.KVBatchReply, maxPayload int) ([]byte, error) {
	data, err := proto.Marshal(r)
	if err != nil || len(data) <= maxPayload-1024 {
		return data, err
	}
	for _, res := range r.Results {
		res.Description = ""
	}
	return proto.Marshal(r)
}
