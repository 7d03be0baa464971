package cluster

import (
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/kontiki-raft/kontiki/messages"
)

// BenchmarkRaftBatchCodec decodes and encodes the two batches that dominate
// a put workload, a leader's append of 16 puts (~170 B entries) and a
// follower's ack, through the transport's codec (raftwire) and the generic
// runtime it replaced (proto): proto.Unmarshal on receipt; to send, the
// size of each message against the batch limit, then the encoding into a
// reused buffer (proto.Size per message, then MarshalAppend, as publish
// and splitBatches did).
func BenchmarkRaftBatchCodec(b *testing.B) {
	for _, c := range []struct {
		name string
		msgs []*pb.Message
	}{
		{"append16", []*pb.Message{appendMsg(putEntries(b, 1001, 16))}},
		{"ack", []*pb.Message{ackMsg(1016)}},
	} {
		h := &testHeader
		data, err := appendRaftBatch(nil, h, c.msgs)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("decode/"+c.name+"/proto", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				var batch pb.Batch
				if err := proto.Unmarshal(data, &batch); err != nil || len(batch.Messages) != 1 {
					b.Fatal(err)
				}
			}
		})
		b.Run("decode/"+c.name+"/raftwire", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				batch, err := decodeRaftBatch(data, h.cluster)
				if err != nil || len(batch.Messages) != 1 {
					b.Fatal(err)
				}
			}
		})
		buf := make([]byte, 0, 2*len(data))
		const limit = 1<<20 - batchOverhead // the default max_payload
		b.Run("encode/"+c.name+"/proto", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				size := 0
				for _, m := range c.msgs {
					size += proto.Size(m) + 8
				}
				out, err := proto.MarshalOptions{}.MarshalAppend(buf[:0], batchOf(h, c.msgs...))
				if err != nil || len(out) != len(data) || size > limit {
					b.Fatal(err)
				}
			}
		})
		b.Run("encode/"+c.name+"/raftwire", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				out, n, err := appendRaftBatchPrefix(buf[:0], &batchHeader{formatVersion: h.formatVersion, cluster: h.cluster, from: h.from,
					to: h.to, clusterID: h.clusterID, incarnation: h.incarnation}, c.msgs, limit)
				if err != nil || len(out) != len(data) || n != len(c.msgs) {
					b.Fatal(err)
				}
			}
		})
	}
}
