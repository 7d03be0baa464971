// command.go owns the decoding of a committed entry's KVCommand, written
// against protowire rather than through proto.Unmarshal's reflection: Apply
// decodes every entry, and this is its hot path. The service's kv.batch
// validates each command through the same loop (ParseCommand), without
// copying it.

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

// CommandView is an encoded KVCommand decoded without copying: Key, Value
// and RequestID are sub-slices of the data it was parsed from (valid only as
// long as that data is, and changed with it). Each field holds its last
// occurrence, as proto.Unmarshal would set it; an empty Value may be nil or
// empty.
type CommandView struct {
	Op                  messages.KVOp
	Key                 []byte // valid UTF-8
	Value               []byte
	HasExpectedRevision bool
	ExpectedRevision    uint64
	RequestID           []byte // valid UTF-8
	LeaderTimeUnixMs    int64
}

// ParseCommand decodes data as a KVCommand without allocating. It accepts
// exactly what the store's decoder (and proto.Unmarshal) accepts, through the
// same loop, so a command the service validates through its view is the
// command Apply will decode from the same bytes. It reports false on
// malformed data, the view is then unspecified.
func ParseCommand(data []byte) (CommandView, bool) {
	var v CommandView
	ok := parseCommand(data, &v)
	return v, ok
}

// decodeCommand decodes data into c, copying the key, value and request id
// out of data (see parseCommand for what it accepts). An empty value leaves
// value nil, as proto.Unmarshal does. It reports false on malformed data; c
// is then unspecified.
func decodeCommand(data []byte, c *command) bool {
	var v CommandView
	if !parseCommand(data, &v) {
		return false
	}
	*c = command{
		op:                  v.Op,
		key:                 string(v.Key),
		hasExpectedRevision: v.HasExpectedRevision,
		expectedRevision:    v.ExpectedRevision,
		requestID:           string(v.RequestID),
		leaderTimeUnixMs:    v.LeaderTimeUnixMs,
	}
	if len(v.Value) > 0 {
		c.value = append([]byte(nil), v.Value...)
	}
	return true
}

// parseCommand is the one decoding loop behind decodeCommand and
// ParseCommand. It accepts exactly the inputs proto.Unmarshal accepts into a
// messages.KVCommand and finds the same values (FuzzDecodeCommand holds both
// callers to that):
//   - a tag is a varint of at most ten bytes; its field number must be in
//     1..2^29-1, and its wire type not an end-group (there is no open
//     group at the top) nor one of the reserved types 6 and 7;
//   - a known field with its own wire type is decoded, the last occurrence
//     winning; key and request_id must be valid UTF-8 (proto3 strings),
//     every occurrence of them, not only the last;
//   - anything else (unknown numbers, known numbers with another wire
//     type, groups) is skipped as protowire.ConsumeFieldValue skips it, and
//     must be well formed.
//
// It reports false on malformed data; v is then unspecified.
func parseCommand(data []byte, v *CommandView) bool {
	*v = CommandView{}
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
			x, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return false
			}
			data = data[n:]
			switch num {
			case cmdOp:
				v.Op = messages.KVOp(int32(x)) // an enum is an int32 on the wire
			case cmdHasExpected:
				v.HasExpectedRevision = x != 0
			case cmdExpected:
				v.ExpectedRevision = x
			case cmdLeaderTime:
				v.LeaderTimeUnixMs = int64(x)
			}
		case protowire.BytesType:
			b, n := protowire.ConsumeBytes(data)
			if n < 0 {
				return false
			}
			data = data[n:]
			switch num {
			case cmdKey, cmdRequestID:
				if !utf8.Valid(b) {
					return false
				}
				if num == cmdKey {
					v.Key = b
				} else {
					v.RequestID = b
				}
			case cmdValue:
				v.Value = b
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
