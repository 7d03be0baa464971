package client

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/kontiki-raft/kontiki/messages"
)

func TestAppendBatchIsWhatProtoMarshalWrites(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 500 {
		var batch []*batchedWrite
		msg := &pb.KVBatch{}
		for i := range 1 + rng.IntN(20) {
			w := &batchedWrite{
				op:  pb.KVOp(rng.IntN(3)),
				key: fmt.Sprintf("k.%d", rng.IntN(1000)),
			}
			if rng.IntN(4) > 0 {
				w.value = bytes.Repeat([]byte{byte(i)}, rng.IntN(300))
			}
			if rng.IntN(2) == 0 {
				w.requestID = fmt.Sprintf("id-%d-%d", round, i)
			}
			w.hasExpected = rng.IntN(3) == 0
			if rng.IntN(3) == 0 {
				w.expected = rng.Uint64() >> rng.IntN(64)
			}
			w.size = commandSize(w)
			batch = append(batch, w)
			msg.Commands = append(msg.Commands, &pb.KVCommand{Op: w.op, Key: w.key, Value: w.value,
				RequestId: w.requestID, HasExpectedRevision: w.hasExpected, ExpectedRevision: w.expected})
		}
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendBatch(nil, batch); !bytes.Equal(got, want) {
			t.Fatalf("round %d:\n got %x\nwant %x", round, got, want)
		}
	}
}

// decodeBatchReply accepts exactly what proto.Unmarshal accepts into a
// KVBatchReply and reads the same values.
func FuzzDecodeBatchReply(f *testing.F) {
	for _, r := range []*pb.KVBatchReply{
		{},
		{Leader: 2, Results: []*pb.KVBatchResult{{Code: 200, Revision: 7}, {Code: 409, Revision: 3, Description: "revision conflict"}}},
		{Results: []*pb.KVBatchResult{{Code: 503, Description: "not leader"}, {}}},
	} {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x12, 0x03, 0x1a, 0x01, 0xff}) // a description that is not UTF-8
	f.Add([]byte{0x08})                         // a truncated varint
	f.Fuzz(func(t *testing.T, data []byte) {
		var want pb.KVBatchReply
		wantErr := proto.Unmarshal(data, &want)
		leader, got, err := decodeBatchReply(data, nil)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%x: decodeBatchReply err %v, proto.Unmarshal err %v", data, err, wantErr)
		}
		if err != nil {
			return
		}
		if leader != want.Leader || len(got) != len(want.Results) {
			t.Fatalf("%x: leader %d results %d, want %d and %d", data, leader, len(got), want.Leader, len(want.Results))
		}
		for i, r := range want.Results {
			if g := got[i]; g.code != r.Code || g.revision != r.Revision || g.description != r.Description {
				t.Fatalf("%x: result %d %+v, want %v", data, i, g, r)
			}
		}
	})
}
