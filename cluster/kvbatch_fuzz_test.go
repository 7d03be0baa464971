package cluster

import (
	"bytes"
	"strconv"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kontiki-raft/kontiki/kv"
	pb "github.com/kontiki-raft/kontiki/messages"
)

// decodeBatchProto is decodeBatch as it was before it walked the body with
// protowire: proto.Unmarshal into a KVBatch, then each command validated and
// re-encoded through encodeWrite. It is FuzzBatchRequest's oracle and
// BenchmarkDecodeBatch's baseline.
func decodeBatchProto(body []byte, maxValue int, leaderTimeMs int64) ([]batchEntry, *serviceError) {
	var b pb.KVBatch
	if err := proto.Unmarshal(body, &b); err != nil {
		return nil, newError(400, "body is not a KVBatch: "+err.Error())
	}
	switch {
	case len(b.Commands) == 0:
		return nil, newError(400, "empty batch")
	case len(b.Commands) > maxBatchCommands:
		return nil, newError(400, "batch of "+strconv.Itoa(len(b.Commands))+" commands exceeds the limit of "+strconv.Itoa(maxBatchCommands))
	}
	entries := make([]batchEntry, len(b.Commands))
	for i, c := range b.Commands {
		if len(c.RequestId) > kv.MaxRequestIDBytes {
			entries[i].refused = newError(400, "request_id longer than "+strconv.Itoa(kv.MaxRequestIDBytes)+" bytes")
			continue
		}
		opts := kv.WriteOptions{
			RequestID:           c.RequestId,
			HasExpectedRevision: c.HasExpectedRevision,
			ExpectedRevision:    c.ExpectedRevision,
			LeaderTimeUnixMs:    leaderTimeMs,
		}
		entries[i].data, entries[i].refused = encodeWrite(c.Op, c.Key, c.Value, opts, maxValue)
	}
	return entries, nil
}

// batchCommandBytes returns the commands of a well-formed KVBatch body as
// sub-slices of it, walking it apart from decodeBatch's own walk.
func batchCommandBytes(t *testing.T, body []byte) [][]byte {
	t.Helper()
	var cmds [][]byte
	for len(body) > 0 {
		num, typ, n := protowire.ConsumeField(body)
		if n < 0 {
			t.Fatalf("decodeBatch accepted a body whose field does not parse: %v", protowire.ParseError(n))
		}
		if num == 1 && typ == protowire.BytesType {
			_, _, tn := protowire.ConsumeTag(body)
			v, _ := protowire.ConsumeBytes(body[tn:])
			cmds = append(cmds, v)
		}
		body = body[n:]
	}
	return cmds
}

// FuzzBatchRequest holds decodeBatch to the edge's contract on arbitrary
// bodies: a refused request is a 400 with nothing to propose; a refused
// command is a 400 or 413 with no entry; every entry is the client's command
// as received with the leader's time appended, not sharing the body's
// memory, and the store never finds it a bad request. And differentially,
// against the proto.Unmarshal path it replaced (decodeBatchProto): every
// body that path accepts is accepted, each command proposed (the same
// command) or refused (the same code and words) as that path does; the only
// difference allowed is that a command that is not a KVCommand (malformed,
// non-UTF-8 key or request id) is refused alone with 400 where the old path
// refused the whole body.
func FuzzBatchRequest(f *testing.F) {
	const maxValue, leaderTime = 16, 1234
	seed := func(cmds ...*pb.KVCommand) []byte {
		b, err := proto.Marshal(&pb.KVBatch{Commands: cmds})
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	cas := put("a", "v")
	cas.HasExpectedRevision, cas.ExpectedRevision, cas.RequestId, cas.LeaderTimeUnixMs = true, 3, "id", 99
	delBody := del("a")
	delBody.Value = []byte("x")
	f.Add(seed(put("a", "1"), del("b"), cas))
	f.Add(seed(put("bad key", "v"), put("big", "0123456789abcdefg"), delBody, &pb.KVCommand{Op: 5, Key: "k"}))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff})
	ok := seed(put("a", "1"))
	cmd := func(b []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), b)
	}
	f.Add(append(bytes.Clone(ok), cmd([]byte{0x12, 0x01, 0xff})...))               // a non-UTF-8 key beside a valid command
	f.Add(append(bytes.Clone(ok), cmd([]byte{0x12, 0x05, 'a'})...))                // a truncated command beside a valid one
	f.Add(append(bytes.Clone(ok), 0x08, 0x01, 0x10, 0x02, 0x1b, 0x08, 0x01, 0x1c)) // field 1 as a varint, an unknown field, a group
	f.Add(append(bytes.Clone(ok), 0x0c))                                           // an end-group at the top
	f.Add(append(cmd([]byte{0x12, 0x01, 'k', 0x12, 0x01, '!', 0x98, 0x06, 0x01}), ok...))

	f.Fuzz(func(t *testing.T, body []byte) {
		own := bytes.Clone(body)
		entries, bad := decodeBatch(own, maxValue, leaderTime)
		oldEntries, oldBad := decodeBatchProto(body, maxValue, leaderTime)
		if bad != nil {
			if bad.code != 400 || entries != nil {
				t.Fatalf("whole-request refusal %v with %d entries", bad, len(entries))
			}
			if oldBad == nil {
				t.Fatalf("refused whole (%v) a body the old path accepted", bad)
			}
			return
		}
		for i := range own {
			own[i] ^= 0xff // the entries must not alias the body
		}
		cmds := batchCommandBytes(t, body)
		if len(entries) != len(cmds) || len(entries) == 0 || len(entries) > maxBatchCommands {
			t.Fatalf("accepted a body of %d commands as %d entries", len(cmds), len(entries))
		}
		if oldBad == nil && len(oldEntries) != len(entries) {
			t.Fatalf("%d entries, the old path %d", len(entries), len(oldEntries))
		}
		undecodable := 0
		for i, e := range entries {
			if (e.data == nil) == (e.refused == nil) {
				t.Fatalf("command %d: entry %v and refusal %v: want exactly one", i, e.data != nil, e.refused)
			}
			if e.refused != nil && e.refused.code != 400 && e.refused.code != 413 {
				t.Fatalf("command %d refused %v", i, e.refused)
			}
			// What the old path made of this command: in the whole body
			// when it accepted it, else in a batch of this command alone.
			var want batchEntry
			if oldBad == nil {
				want = oldEntries[i]
			} else {
				alone, aloneBad := decodeBatchProto(cmd(cmds[i]), maxValue, leaderTime)
				if aloneBad != nil {
					if proto.Unmarshal(cmds[i], &pb.KVCommand{}) == nil {
						t.Fatalf("command %d: the old path refuses a decodable command alone: %v", i, aloneBad)
					}
					if e.refused == nil || e.refused.code != 400 {
						t.Fatalf("command %d is not a KVCommand, yet %v", i, e.refused)
					}
					undecodable++
					continue
				}
				want = alone[0]
			}
			if e.refused != nil && e.refused.code == 413 && len(cmds[i]) > maxCommandBytes(maxValue) && want.refused == nil {
				continue // padded with fields a re-encoding would drop: refused, not replicated
			}
			if e.refused != nil || want.refused != nil {
				if e.refused == nil || want.refused == nil || e.refused.code != want.refused.code || e.refused.message != want.refused.message {
					t.Fatalf("command %d: refused %v, the old path %v", i, e.refused, want.refused)
				}
				continue
			}
			if !bytes.Equal(e.data, kv.StampLeaderTime(cmds[i], leaderTime)) {
				t.Fatalf("command %d: entry %x is not the command %x stamped", i, e.data, cmds[i])
			}
			got, err := kv.DecodeCommand(e.data)
			if err != nil {
				t.Fatalf("command %d: undecodable entry: %v", i, err)
			}
			old, err := kv.DecodeCommand(want.data)
			if err != nil {
				t.Fatal(err)
			}
			if got.Op != old.Op || got.Key != old.Key || !bytes.Equal(got.Value, old.Value) || got.RequestId != old.RequestId ||
				got.HasExpectedRevision != old.HasExpectedRevision || got.ExpectedRevision != old.ExpectedRevision || got.LeaderTimeUnixMs != leaderTime || old.LeaderTimeUnixMs != leaderTime {
				t.Fatalf("command %d: entry %v, the old path's %v", i, got, old)
			}
			res, err := kv.DecodeResult(kv.New(kv.Options{}).Apply(1, e.data))
			if err != nil || res.Status == pb.KVStatus_KV_STATUS_BAD_REQUEST {
				t.Fatalf("command %d: the store finds the entry bad: %v %v", i, res, err)
			}
		}
		if oldBad != nil && undecodable == 0 {
			t.Fatalf("accepted a body the old path refused (%v) with every command decodable", oldBad)
		}
	})
}

// TestDecodeBatchRefusesAnUndecodableCommandAlone: a command with a key that
// is not UTF-8, or cut short inside a well-framed body, is refused 400 on its
// own; the commands around it are proposed.
func TestDecodeBatchRefusesAnUndecodableCommandAlone(t *testing.T) {
	cmd := func(b []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), b)
	}
	good, err := proto.Marshal(put("a", "1"))
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Join([][]byte{cmd(good), cmd([]byte{0x12, 0x01, 0xff}), cmd([]byte{0x12, 0x05, 'a'}), cmd(good)}, nil)
	entries, bad := decodeBatch(body, 16, 1234)
	if bad != nil || len(entries) != 4 {
		t.Fatalf("%v, %d entries", bad, len(entries))
	}
	for i, e := range entries {
		if undecodable := i == 1 || i == 2; undecodable != (e.refused != nil) || undecodable && e.refused.code != 400 {
			t.Fatalf("command %d: refused %v", i, e.refused)
		}
	}
	if _, oldBad := decodeBatchProto(body, 16, 1234); oldBad == nil {
		t.Fatal("the old path accepted the body: the test no longer shows the difference")
	}
}
