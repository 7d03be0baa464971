// codec.go owns the small encode/decode helpers the service and client
// layers use to build commands and read results.

package kv

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kontiki-raft/kontiki/messages"
)

// WriteOptions are the optional parts of a put or delete command.
type WriteOptions struct {
	// HasExpectedRevision makes the write conditional on the key's mod
	// revision being ExpectedRevision (0: the key must not exist).
	HasExpectedRevision bool
	ExpectedRevision    uint64
	// RequestID makes a retried write apply once (at most MaxRequestIDBytes).
	RequestID string
	// LeaderTimeUnixMs is normally stamped by the leader: see StampLeaderTime.
	LeaderTimeUnixMs int64
}

// EncodePut returns the command that sets key to value.
func EncodePut(key string, value []byte, opts WriteOptions) ([]byte, error) {
	return encode(messages.KVOp_KV_OP_PUT, key, value, opts)
}

// EncodeDelete returns the command that deletes key.
func EncodeDelete(key string, opts WriteOptions) ([]byte, error) {
	return encode(messages.KVOp_KV_OP_DELETE, key, nil, opts)
}

func encode(op messages.KVOp, key string, value []byte, opts WriteOptions) ([]byte, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	if len(opts.RequestID) > MaxRequestIDBytes {
		return nil, fmt.Errorf("request id is %d bytes, the limit is %d", len(opts.RequestID), MaxRequestIDBytes)
	}
	b, err := proto.Marshal(&messages.KVCommand{
		Op:                  op,
		Key:                 key,
		Value:               value,
		HasExpectedRevision: opts.HasExpectedRevision,
		ExpectedRevision:    opts.ExpectedRevision,
		RequestId:           opts.RequestID,
		LeaderTimeUnixMs:    opts.LeaderTimeUnixMs,
	})
	if err != nil {
		return nil, fmt.Errorf("encode KV command: %w", err) // e.g. a request id that is not UTF-8
	}
	return b, nil
}

// DecodeCommand decodes an encoded KVCommand.
func DecodeCommand(data []byte) (*messages.KVCommand, error) {
	cmd := &messages.KVCommand{}
	if err := proto.Unmarshal(data, cmd); err != nil {
		return nil, fmt.Errorf("decode KV command: %w", err)
	}
	return cmd, nil
}

// DecodeResult decodes the bytes Apply returned. Empty data is an error:
// every result Apply returns to a proposer encodes to at least one byte.
func DecodeResult(data []byte) (*messages.KVResult, error) {
	if len(data) == 0 {
		return nil, errors.New("decode KV result: empty")
	}
	res := &messages.KVResult{}
	if err := proto.Unmarshal(data, res); err != nil {
		return nil, fmt.Errorf("decode KV result: %w", err)
	}
	return res, nil
}

// StampLeaderTime returns a copy of the encoded command cmd with its
// leader_time_unix_ms set to unixMs, without decoding it: a later occurrence
// of a scalar field wins in protobuf, so appending the field overrides any
// stamp the proposer put there. The leader calls it before proposing.
func StampLeaderTime(cmd []byte, unixMs int64) []byte {
	out := make([]byte, len(cmd), len(cmd)+11)
	copy(out, cmd)
	out = protowire.AppendTag(out, leaderTimeField, protowire.VarintType)
	return protowire.AppendVarint(out, uint64(unixMs))
}

// leaderTimeField is the field number of KVCommand.leader_time_unix_ms,
// taken from the generated descriptor so a renumbering cannot go unnoticed.
var leaderTimeField = func() protowire.Number {
	f := (&messages.KVCommand{}).ProtoReflect().Descriptor().Fields().ByName("leader_time_unix_ms")
	if f == nil || f.Kind() != protoreflect.Int64Kind {
		panic("kv: KVCommand.leader_time_unix_ms is missing or not an int64")
	}
	return f.Number()
}()

// validUTF8 makes s safe for a proto3 string field.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
