// command_test.go holds parseCommand (through ParseCommand, the loop Apply
// decodes with) to proto.Unmarshal: the same inputs accepted, the same field
// values set.

package kv

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kontiki-raft/kontiki/messages"
)

// checkDecodeCommand fails unless ParseCommand and proto.Unmarshal agree on
// data, and so Apply's fallback (viewFromProto) gives the same view. That
// the store keeps no byte of the entry is held by
// TestStoreKeepsNoBytesOfTheEntry and FuzzApply.
func checkDecodeCommand(t *testing.T, data []byte) {
	t.Helper()
	m := &messages.KVCommand{}
	perr := proto.Unmarshal(data, m)
	v, vok := ParseCommand(data)
	if vok != (perr == nil) {
		t.Fatalf("ParseCommand(%x) ok = %v, proto.Unmarshal: %v", data, vok, perr)
	}
	if !vok {
		return
	}
	if w := viewFromProto(m); !sameView(v, w) {
		t.Fatalf("ParseCommand(%x) = %+v, proto.Unmarshal gives %v", data, v, m)
	}
}

// sameView reports whether a and b hold the same command (an empty value
// may be nil or empty).
func sameView(a, b CommandView) bool {
	return a.Op == b.Op && bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) && bytes.Equal(a.RequestID, b.RequestID) &&
		a.HasExpectedRevision == b.HasExpectedRevision && a.ExpectedRevision == b.ExpectedRevision && a.LeaderTimeUnixMs == b.LeaderTimeUnixMs
}

// commandSeeds are encoded commands as the service builds them, and
// hand-made wire data around every rule parseCommand follows.
func commandSeeds(t testing.TB) [][]byte {
	t.Helper()
	must := func(b []byte, err error) []byte {
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tag := func(num protowire.Number, typ protowire.Type) []byte { return protowire.AppendTag(nil, num, typ) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	str := func(num protowire.Number, s string) []byte {
		return protowire.AppendString(tag(num, protowire.BytesType), s)
	}
	vint := func(num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(tag(num, protowire.VarintType), v)
	}
	put := must(EncodePut("a.b", []byte("value"), WriteOptions{RequestID: "client-1/7", HasExpectedRevision: true, ExpectedRevision: 9, LeaderTimeUnixMs: 1_700_000_000_000}))
	return [][]byte{
		put,
		StampLeaderTime(put, 1_700_000_000_123), // leader_time twice: the last wins
		StampLeaderTime(must(EncodePut("k", nil, WriteOptions{})), -5),
		must(EncodeDelete("x.y", WriteOptions{RequestID: "r"})),
		must(EncodePut("k", make([]byte, 300), WriteOptions{})),
		{},
		cat(str(cmdValue, "first"), str(cmdValue, "")),  // an empty last value: nil
		cat(str(cmdValue, ""), str(cmdValue, "second")), // the last value wins
		cat(str(cmdKey, "a"), str(cmdKey, "b")),         // the last key wins
		cat(vint(cmdOp, 1), vint(cmdOp, 0)),             // the last op wins
		vint(cmdOp, 1<<40|7),                            // an enum keeps its low 32 bits
		vint(cmdOp, ^uint64(0)),                         // -1, ten bytes
		vint(cmdHasExpected, 2),                         // any non-zero is true
		vint(cmdLeaderTime, ^uint64(0)),                 // negative
		str(cmdKey, "\xff"),                             // invalid UTF-8: an error
		str(cmdRequestID, "ok\xc3"),                     // truncated rune: an error
		str(cmdValue, "\xff"),                           // bytes: no UTF-8 rule
		str(cmdKey, "\xed\xa0\x80"),                     // a surrogate: not valid UTF-8
		vint(cmdKey, 5),                                 // known field, wrong wire type: skipped
		cat(tag(cmdValue, protowire.Fixed32Type), []byte{1, 2, 3, 4}),
		cat(tag(cmdOp, protowire.Fixed64Type), make([]byte, 8)),
		cat(tag(cmdOp, protowire.BytesType), []byte{1, 0xff}),   // skipped, so no UTF-8 rule
		cat(tag(cmdOp, protowire.Fixed64Type), make([]byte, 7)), // truncated
		cat(vint(99, 1), str(100, "\xff"), str(cmdKey, "k")),    // unknown fields skipped
		cat(tag(9, protowire.StartGroupType), vint(1, 1), tag(9, protowire.EndGroupType), str(cmdKey, "g")),
		cat(tag(cmdKey, protowire.StartGroupType), tag(cmdKey, protowire.EndGroupType)), // a group on a known number
		cat(tag(9, protowire.StartGroupType), tag(8, protowire.EndGroupType)),           // mismatched end
		cat(tag(9, protowire.StartGroupType), vint(1, 1)),                               // unterminated group
		tag(9, protowire.EndGroupType),                                                  // end without start
		cat(tag(cmdKey, protowire.EndGroupType)),
		{0x0e, 0x00},                         // field 1, reserved wire type 6
		{0x0f},                               // field 1, reserved wire type 7
		{0x00, 0x01},                         // field number 0
		{0x02, 0x00},                         // field number 0, bytes
		vint(protowire.MaxValidNumber, 1),    // the highest field number
		{0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01}, // field number 2^29: too high
		{0x80},                               // truncated tag
		{0x88, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01},       // ten-byte tag
		{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},       // ten-byte value
		{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},       // overflow
		{0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, // eleven bytes
		{0x08, 0x80, 0x00},                                           // a value padded to two bytes
		{0x12, 0x05, 'a', 'b'},                                       // bytes longer than the input
		{0x12, 0xff, 0xff, 0xff, 0xff, 0x0f},                         // a huge length
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // a huge tag
	}
}

func TestDecodeCommandMatchesProtoUnmarshal(t *testing.T) {
	for _, data := range commandSeeds(t) {
		checkDecodeCommand(t, data)
		for n := range data { // and every truncation
			checkDecodeCommand(t, data[:n])
		}
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, data := range commandSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeCommand(t, data)
	})
}
