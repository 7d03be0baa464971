// command.go owns the decoding of a committed entry's KVCommand, written
// against protowire rather than through proto.Unmarshal's reflection: Apply
// decodes every entry, and this is its hot path. Apply decodes into a view
// without copying (it copies only what the store keeps), and the service's
// kv.batch validates each command through the same loop (ParseCommand).

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
// exactly what Apply (and proto.Unmarshal) accepts, through the same loop,
// so a command the service validates through its view is the command Apply
// will decode from the same bytes. It reports false on malformed data, the
// view is then unspecified.
func ParseCommand(data []byte) (CommandView, bool) {
	var v CommandView
	ok := parseCommand(data, &v)
	return v, ok
}

// parseCommand is the one decoding loop behind Apply and ParseCommand. It
// accepts exactly the inputs proto.Unmarshal accepts into a
// messages.KVCommand and finds the same values (FuzzDecodeCommand holds it
// to that):
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

// viewFromProto is the view parseCommand gives, from a decoded message.
func viewFromProto(m *messages.KVCommand) CommandView {
	return CommandView{
		Op:                  m.Op,
		Key:                 []byte(m.Key),
		Value:               m.Value,
		HasExpectedRevision: m.HasExpectedRevision,
		ExpectedRevision:    m.ExpectedRevision,
		RequestID:           []byte(m.RequestId),
		LeaderTimeUnixMs:    m.LeaderTimeUnixMs,
	}
}
