package cluster

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/kontiki-raft/kontiki/messages"
)

// BenchmarkDecodeBatch decodes a client's typical batch, 16 puts of 128-byte
// values with 26-character request ids and ~10-byte keys, through the
// leader's decoder (protowire) and the proto.Unmarshal path it replaced.
func BenchmarkDecodeBatch(b *testing.B) {
	batch := &pb.KVBatch{}
	for i := range 16 {
		batch.Commands = append(batch.Commands, &pb.KVCommand{
			Op:        pb.KVOp_KV_OP_PUT,
			Key:       fmt.Sprintf("bench.k%03d", i),
			Value:     []byte(strings.Repeat("v", 128)),
			RequestId: fmt.Sprintf("01JF3Q8ZC2X7M4V9N6B5T%05d", i),
		})
	}
	body, err := proto.Marshal(batch)
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range []struct {
		name   string
		decode func([]byte, int, int64) ([]batchEntry, *serviceError)
	}{{"protowire", decodeBatch}, {"proto.Unmarshal", decodeBatchProto}} {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				entries, bad := d.decode(body, 1<<20, 1_700_000_000_000)
				if bad != nil || len(entries) != 16 || entries[15].data == nil {
					b.Fatalf("%v %d", bad, len(entries))
				}
			}
		})
	}
}
