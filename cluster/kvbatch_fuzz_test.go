package cluster

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kontiki-raft/kontiki/kv"
	pb "github.com/kontiki-raft/kontiki/messages"
)

// FuzzBatchRequest holds decodeBatch to the edge's contract on arbitrary
// bodies: a refused request is a 400 with nothing to propose; a refused
// command is a 400 or 413 with no entry; every entry is the client's command
// with the leader's time, and the store never finds it a bad request.
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

	f.Fuzz(func(t *testing.T, body []byte) {
		entries, bad := decodeBatch(body, maxValue, leaderTime)
		if bad != nil {
			if bad.code != 400 || entries != nil {
				t.Fatalf("whole-request refusal %v with %d entries", bad, len(entries))
			}
			return
		}
		var in pb.KVBatch
		if err := proto.Unmarshal(body, &in); err != nil || len(entries) != len(in.Commands) || len(entries) == 0 || len(entries) > maxBatchCommands {
			t.Fatalf("accepted a body of %d commands (%v) as %d entries", len(in.Commands), err, len(entries))
		}
		for i, e := range entries {
			if (e.data == nil) == (e.refused == nil) {
				t.Fatalf("command %d: entry %v and refusal %v: want exactly one", i, e.data != nil, e.refused)
			}
			if e.refused != nil {
				if e.refused.code != 400 && e.refused.code != 413 {
					t.Fatalf("command %d refused %v", i, e.refused)
				}
				continue
			}
			got, err := kv.DecodeCommand(e.data)
			if err != nil {
				t.Fatalf("command %d: undecodable entry: %v", i, err)
			}
			want := in.Commands[i]
			if got.Op != want.Op || got.Key != want.Key || !bytes.Equal(got.Value, want.Value) || got.RequestId != want.RequestId ||
				got.HasExpectedRevision != want.HasExpectedRevision || got.ExpectedRevision != want.ExpectedRevision || got.LeaderTimeUnixMs != leaderTime {
				t.Fatalf("command %d: entry %v for command %v", i, got, want)
			}
			res, err := kv.DecodeResult(kv.New(kv.Options{}).Apply(1, e.data))
			if err != nil || res.Status == pb.KVStatus_KV_STATUS_BAD_REQUEST {
				t.Fatalf("command %d: the store finds the entry bad: %v %v", i, res, err)
			}
		}
	})
}
