// apply.go owns the write path: decoding a committed entry's KVCommand and
// applying it (put, delete, compare-and-swap, dedupe) deterministically.

package kv

import (
	"bytes"
	"fmt"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/kontiki-raft/kontiki/messages"
)

// MaxRequestIDBytes is the longest request id Apply accepts; the dedupe
// table keeps every id for a while, so ids must stay small.
const MaxRequestIDBytes = 256

// result is the outcome of one command; its wire form is a KVResult.
type result struct {
	status   messages.KVStatus
	revision uint64
	err      string
}

func (r result) proto() *messages.KVResult {
	return &messages.KVResult{Status: r.status, Revision: r.revision, Error: r.err}
}

// marshal returns r encoded as a KVResult, written directly with the
// image's field writers (encode.go): the bytes proto.Marshal gives for
// r.proto(), without building the message. TestResultMarshalMatchesProto
// holds it to that.
func (r result) marshal() []byte {
	if !utf8.ValidString(r.err) {
		// proto.Marshal would refuse it, and strings.ToValidUTF8 in
		// badRequest rules it out: this is a bug.
		panic(fmt.Sprintf("kv: marshal result: error text %q is not valid UTF-8", r.err))
	}
	b := make([]byte, 0, resultSize(&r))
	b = appendVarint(b, resultStatus, enum(int32(r.status)))
	b = appendVarint(b, resultRevision, r.revision)
	return appendString(b, resultError, r.err)
}

func resultFromProto(p *messages.KVResult) result {
	return result{status: p.GetStatus(), revision: p.GetRevision(), err: p.GetError()}
}

func badRequest(format string, args ...any) result {
	return result{status: messages.KVStatus_KV_STATUS_BAD_REQUEST, err: validUTF8(fmt.Sprintf(format, args...))}
}

// Apply applies the entry at index and returns the encoded KVResult for the
// proposer. It implements the actors' StateMachine.
//
// Every replica computes the same transition from the same entry, so a
// command that cannot be applied (undecodable, bad key, unknown op) is a
// BAD_REQUEST result that leaves the data unchanged; the applied index still
// advances. An empty entry (nil or zero-length data: a new leader's no-op)
// advances the applied index, writes nothing and returns nil. An index at or
// below the applied index is a replay: it changes nothing and returns a
// BAD_REQUEST result saying so.
func (s *Store) Apply(index uint64, data []byte) []byte {
	s.mu.Lock()
	res, wrote, ok := s.applyLocked(index, data)
	s.mu.Unlock()
	if wrote {
		s.notify()
	}
	if !ok {
		return nil
	}
	return res.marshal()
}

// applyLocked is Apply under s.mu. ok is false when there is no result to
// return (an empty entry); wrote reports a put or delete.
func (s *Store) applyLocked(index uint64, data []byte) (res result, wrote, ok bool) {
	if index <= s.applied {
		return badRequest("entry %d is at or below the applied index %d: not applied again", index, s.applied), false, true
	}
	s.applied = index
	if len(data) == 0 {
		s.dedupe.expire(index, 0)
		return result{}, false, false
	}
	var cmd CommandView
	if !parseCommand(data, &cmd) {
		// The result carries proto.Unmarshal's error, as it always has;
		// parseCommand rejects exactly what proto.Unmarshal rejects, so
		// the second branch is only a safety net.
		m := &messages.KVCommand{}
		if err := proto.Unmarshal(data, m); err != nil {
			s.dedupe.expire(index, 0)
			return badRequest("undecodable KV command (%d bytes): %v", len(data), err), false, true
		}
		cmd = viewFromProto(m)
	}
	// cmd's key, value and request id are views into data, which is not
	// ours: whatever the store keeps of them it copies (execute, and
	// dedupe.add).
	// Expire before the lookup: the table is what is valid at this index.
	s.dedupe.expire(index, cmd.LeaderTimeUnixMs)
	if n := len(cmd.RequestID); n > MaxRequestIDBytes {
		return badRequest("request id is %d bytes, the limit is %d", n, MaxRequestIDBytes), false, true
	}
	// The request id as a string over data's bytes, without a copy: lookup
	// and add read it only during this call (add copies what it keeps),
	// and data does not change while Apply runs.
	id := unsafe.String(unsafe.SliceData(cmd.RequestID), len(cmd.RequestID))
	if id != "" {
		if orig, seen := s.dedupe.lookup(id); seen {
			return orig, false, true // a retry: the original outcome, no change
		}
	}
	res, wrote = s.execute(index, &cmd)
	if id != "" {
		s.dedupe.add(id, res, index, cmd.LeaderTimeUnixMs)
	}
	return res, wrote, true
}

// execute validates and performs cmd as the entry at index. cmd's slices
// are views into the entry: what the store keeps, it copies. A put copies
// the value (one allocation, nil when empty, as proto.Unmarshal leaves an
// empty bytes field) and, only when it creates the key, the key; a put to
// an existing key and a delete use the record's key string, which the
// index and the history already share.
func (s *Store) execute(index uint64, cmd *CommandView) (res result, wrote bool) {
	if cmd.Op != messages.KVOp_KV_OP_PUT && cmd.Op != messages.KVOp_KV_OP_DELETE {
		return badRequest("unknown KV op %d", int32(cmd.Op)), false
	}
	if err := ValidKeyBytes(cmd.Key); err != nil {
		return badRequest("%v", err), false
	}
	cur := s.data.getBytes(cmd.Key)
	var curMod uint64 // 0: the key does not exist
	if cur != nil {
		curMod = cur.mod
	}
	// The CAS check comes first; a check that passes on a missing key
	// (expected 0) leaves a delete with nothing to delete: NOT_FOUND.
	if cmd.HasExpectedRevision && cmd.ExpectedRevision != curMod {
		return result{
			status:   messages.KVStatus_KV_STATUS_CONFLICT,
			revision: curMod,
			err:      fmt.Sprintf("revision conflict on %q: expected %d, current %d", string(cmd.Key), cmd.ExpectedRevision, curMod),
		}, false
	}
	if cmd.Op == messages.KVOp_KV_OP_DELETE {
		if cur == nil {
			return result{status: messages.KVStatus_KV_STATUS_NOT_FOUND, err: fmt.Sprintf("key %q not found", string(cmd.Key))}, false
		}
		s.data.delete(cur.key)
		s.history.add(Event{Op: messages.KVOp_KV_OP_DELETE, Key: cur.key, Revision: index})
	} else {
		// The store owns the copy; nothing writes to its bytes from now on.
		var value []byte
		if len(cmd.Value) > 0 {
			value = bytes.Clone(cmd.Value)
		}
		// Copy-on-write (see record): a capture may still read cur. A
		// new record shares cur's key string, which the index holds.
		epoch := s.captures.Load()
		var key string
		switch {
		case cur == nil:
			key = string(cmd.Key)
			s.data.insert(&record{key: key, value: value, create: index, mod: index, epoch: epoch})
		case cur.epoch == epoch:
			key = cur.key
			s.data.setValue(cur, value, index)
		default:
			key = cur.key
			s.data.replace(cur, &record{key: key, value: value, create: cur.create, mod: index, epoch: epoch})
		}
		s.history.add(Event{Op: messages.KVOp_KV_OP_PUT, Key: key, Value: value, Revision: index})
	}
	s.revision = index
	return result{status: messages.KVStatus_KV_STATUS_OK, revision: index}, true
}
