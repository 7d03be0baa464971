// This file owns the kv.batch wire format on the client: a KVBatch encoded
// straight from the queued writes into one buffer, and a KVBatchReply read
// without building messages. Both are held to the generated code by tests
// (byte-equal to deterministic proto.Marshal; the same values and errors as
// proto.Unmarshal, FuzzDecodeBatchReply): this is the path of every
// coalesced write, and proto's reflection and per-command messages cost a
// few allocations per write that the garbage collector then pays for.
package client

import (
	"errors"
	"slices"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of messages/kontiki/v1/kv.proto.
const (
	batchCommands                                                      = 1
	cmdOp, cmdKey, cmdValue, cmdHasExpected, cmdExpected, cmdRequestID = 1, 2, 3, 4, 5, 6
	replyLeader, replyResults                                          = 1, 2
	resultCode, resultRevision, resultDescription                      = 1, 2, 3
)

// appendBatch appends the KVBatch of batch to b, fields in number order and
// proto3 defaults left out, as proto.Marshal writes them.
func appendBatch(b []byte, batch []*batchedWrite) []byte {
	need := 0
	for _, w := range batch {
		need += framedSize(w.size)
	}
	b = slices.Grow(b, need)
	for _, w := range batch {
		b = protowire.AppendTag(b, batchCommands, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(w.size))
		b = appendCommand(b, w)
	}
	return b
}

// framedSize is the bytes a command of size n takes in a KVBatch: its tag,
// its length and itself.
func framedSize(n int) int { return 1 + protowire.SizeBytes(n) }

// commandSize is the encoded length of w's command (appendCommand).
func commandSize(w *batchedWrite) int {
	n := 0
	if w.op != 0 {
		n += 1 + protowire.SizeVarint(uint64(w.op))
	}
	if w.key != "" {
		n += 1 + protowire.SizeBytes(len(w.key))
	}
	if len(w.value) > 0 {
		n += 1 + protowire.SizeBytes(len(w.value))
	}
	if w.hasExpected {
		n += 2
	}
	if w.expected != 0 {
		n += 1 + protowire.SizeVarint(w.expected)
	}
	if w.requestID != "" {
		n += 1 + protowire.SizeBytes(len(w.requestID))
	}
	return n
}

func appendCommand(b []byte, w *batchedWrite) []byte {
	if w.op != 0 {
		b = protowire.AppendTag(b, cmdOp, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(w.op))
	}
	if w.key != "" {
		b = protowire.AppendTag(b, cmdKey, protowire.BytesType)
		b = protowire.AppendString(b, w.key)
	}
	if len(w.value) > 0 {
		b = protowire.AppendTag(b, cmdValue, protowire.BytesType)
		b = protowire.AppendBytes(b, w.value)
	}
	if w.hasExpected {
		b = protowire.AppendTag(b, cmdHasExpected, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	if w.expected != 0 {
		b = protowire.AppendTag(b, cmdExpected, protowire.VarintType)
		b = protowire.AppendVarint(b, w.expected)
	}
	if w.requestID != "" {
		b = protowire.AppendTag(b, cmdRequestID, protowire.BytesType)
		b = protowire.AppendString(b, w.requestID)
	}
	return b
}

// batchResult is one KVBatchResult.
type batchResult struct {
	code        uint32
	revision    uint64
	description string
}

var errBadReply = errors.New("malformed KVBatchReply")

// decodeBatchReply reads a KVBatchReply into leader and results (appended
// to results[:0]). It accepts what proto.Unmarshal accepts and yields the
// same values: the last occurrence of a scalar wins, unknown fields are
// skipped, strings must be UTF-8.
func decodeBatchReply(data []byte, results []batchResult) (leader uint64, _ []batchResult, _ error) {
	results = results[:0]
	err := walkFields(data, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
		switch {
		case num == replyLeader && typ == protowire.VarintType:
			leader = v
		case num == replyResults && typ == protowire.BytesType:
			var r batchResult
			if err := walkFields(raw, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
				switch {
				case num == resultCode && typ == protowire.VarintType:
					r.code = uint32(v)
				case num == resultRevision && typ == protowire.VarintType:
					r.revision = v
				case num == resultDescription && typ == protowire.BytesType:
					if !utf8.Valid(raw) {
						return errBadReply
					}
					r.description = string(raw)
				}
				return nil
			}); err != nil {
				return err
			}
			results = append(results, r)
		}
		return nil
	})
	return leader, results, err
}

// walkFields calls f for every field of a message: v is a varint field's
// value, raw a length-delimited field's bytes; other wire types are checked
// and skipped. Malformed data is errBadReply.
func walkFields(data []byte, f func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error) error {
	for len(data) > 0 {
		tag, n := protowire.ConsumeVarint(data)
		// proto.Unmarshal refuses field numbers outside 1..2^29-1.
		if n < 0 || tag>>3 < uint64(protowire.MinValidNumber) || tag>>3 > uint64(protowire.MaxValidNumber) {
			return errBadReply
		}
		data = data[n:]
		num, typ := protowire.Number(tag>>3), protowire.Type(tag&7)
		var v uint64
		var raw []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(data)
		case protowire.BytesType:
			raw, n = protowire.ConsumeBytes(data)
		case protowire.EndGroupType:
			return errBadReply
		default:
			n = protowire.ConsumeFieldValue(num, typ, data)
		}
		if n < 0 {
			return errBadReply
		}
		data = data[n:]
		if err := f(num, typ, v, raw); err != nil {
			return err
		}
	}
	return nil
}
