// command.go owns the decoding of a committed entry's KVCommand, written
// against protowire rather than through proto.Unmarshal's reflection: Apply
// decodes every entry, and this is its hot path.

package kv

import (
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/kontiki-raft/kontiki/messages"
)

// KVCommand field numbers, as in messages/kv.proto.
const (
	cmdOp, cmdKey, cmdValue, cmdHasExpected, cmdExpected, cmdRequestID, cmdLeaderTime = 1, 2, 3, 4, 5, 6, 7
)

// command is a decoded KVCommand: the fields of messages.KVCommand, holding
// the values proto.Unmarshal would have set.
type command struct {
	op                  messages.KVOp
	key                 string
	value               []byte // a copy: the store keeps it, the entry's buffer is not ours
	hasExpectedRevision bool
	expectedRevision    uint64
	requestID           string
	leaderTimeUnixMs    int64
}

// decodeCommand decodes data into c. It accepts exactly the inputs
// proto.Unmarshal accepts into a messages.KVCommand and sets the same
// values (FuzzDecodeCommand holds it to that):
//   - a tag is a varint of at most ten bytes; its field number must be in
//     1..2^29-1, and its wire type not an end-group (there is no open
//     group at the top) nor one of the reserved types 6 and 7;
//   - a known field with its own wire type is decoded, the last occurrence
//     winning; key and request_id must be valid UTF-8 (proto3 strings); an
//     empty value leaves value nil, as proto.Unmarshal does;
//   - anything else (unknown numbers, known numbers with another wire
//     type, groups) is skipped as protowire.ConsumeFieldValue skips it, and
//     must be well formed.
//
// It reports false on malformed data; c is then unspecified.
func decodeCommand(data []byte, c *command) bool {
	*c = command{}
	for len(data) > 0 {
		tag, n := protowire.ConsumeVarint(data)
		if n < 0 {
			return false
		}
		data = data[n:]
		if tag>>3 < uint64(protowire.MinValidNumber) || tag>>3 > uint64(protowire.MaxValidNumber) {
			return false
		}
		num, typ := protowire.Number(tag>>3), protowire.Type(tag&7)
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return false
			}
			data = data[n:]
			switch num {
			case cmdOp:
				c.op = messages.KVOp(int32(v)) // an enum is an int32 on the wire
			case cmdHasExpected:
				c.hasExpectedRevision = v != 0
			case cmdExpected:
				c.expectedRevision = v
			case cmdLeaderTime:
				c.leaderTimeUnixMs = int64(v)
			}
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(data)
			if n < 0 {
				return false
			}
			data = data[n:]
			switch num {
			case cmdKey, cmdRequestID:
				if !utf8.Valid(v) {
					return false
				}
				if num == cmdKey {
					c.key = string(v)
				} else {
					c.requestID = string(v)
				}
			case cmdValue:
				c.value = append([]byte(nil), v...)
			}
		case protowire.EndGroupType:
			return false
		default:
			n := protowire.ConsumeFieldValue(num, typ, data)
			if n < 0 {
				return false
			}
			data = data[n:]
		}
	}
	return true
}

// commandFromProto is decodeCommand's result from a decoded message.
func commandFromProto(m *messages.KVCommand) command {
	return command{
		op:                  m.Op,
		key:                 m.Key,
		value:               m.Value,
		hasExpectedRevision: m.HasExpectedRevision,
		expectedRevision:    m.ExpectedRevision,
		requestID:           m.RequestId,
		leaderTimeUnixMs:    m.LeaderTimeUnixMs,
	}
}
