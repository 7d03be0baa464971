package cluster

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kontiki-raft/kontiki/kv"
	pb "github.com/kontiki-raft/kontiki/messages"
)

// testHeader is the envelope of the batches the tests build: node 1 of
// cluster "kontiki" writing to node 2.
var testHeader = batchHeader{formatVersion: pb.FormatVersion, cluster: "kontiki", from: 1, to: 2,
	clusterID: 0x9e3779b97f4a7c15, incarnation: 0xc2b2ae3d27d4eb4f}

func batchOf(h *batchHeader, msgs ...*pb.Message) *pb.Batch {
	return &pb.Batch{FormatVersion: h.formatVersion, Cluster: h.cluster, From: h.from, To: h.to,
		ClusterId: h.clusterID, Incarnation: h.incarnation, Messages: msgs}
}

// putEntries are n log entries from index first as the leader proposes a
// client's puts: 128-byte values under ~10-byte keys, with a request id and
// the leader's time (about 170 bytes each).
func putEntries(tb testing.TB, first uint64, n int) []*pb.Entry {
	return putEntriesOf(tb, first, n, 128)
}

// putEntriesOf is putEntries with values of valueLen bytes.
func putEntriesOf(tb testing.TB, first uint64, n, valueLen int) []*pb.Entry {
	tb.Helper()
	ents := make([]*pb.Entry, n)
	for i := range ents {
		data, err := kv.EncodePut(fmt.Sprintf("bench.k%03d", i), []byte(strings.Repeat("v", valueLen)),
			kv.WriteOptions{RequestID: fmt.Sprintf("01JF3Q8ZC2X7M4V9N6B5T%05d", i), LeaderTimeUnixMs: 1_700_000_000_000 + int64(i)})
		if err != nil {
			tb.Fatal(err)
		}
		ents[i] = &pb.Entry{Term: 7, Index: first + uint64(i), Data: data}
	}
	return ents
}

// appendMsg is the leader's append of ents; ackMsg a follower's answer.
func appendMsg(ents []*pb.Entry) *pb.Message {
	return &pb.Message{Type: pb.MessageType_MSG_APP, To: 2, From: 1, Term: 7, LogTerm: 7,
		Index: ents[0].Index - 1, Entries: ents, Commit: ents[0].Index - 3}
}

func ackMsg(index uint64) *pb.Message {
	return &pb.Message{Type: pb.MessageType_MSG_APP_RESP, To: 1, From: 2, Term: 7, Index: index}
}

// withUnknown sets field 100 (a varint) as an unknown field of m.
func withUnknown[M proto.Message](m M) M {
	m.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 100, protowire.VarintType), 42))
	return m
}

// raftBatchSeeds are batches as peers send them, plus the shapes the codec
// leaves to proto.Unmarshal (a snapshot, unknown fields) and a few it must
// refuse. fast tells whether decodeRaftBatchFast decodes the seed itself.
// The main append carries `puts` puts of valueLen-byte values; the fuzzer
// is seeded with few and short ones (see FuzzDecodeRaftBatch).
func raftBatchSeeds(tb testing.TB, puts, valueLen int) []struct {
	name string
	data []byte
	fast bool
} {
	tb.Helper()
	marshal := func(b *pb.Batch) []byte {
		data, err := proto.MarshalOptions{Deterministic: true}.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		return data
	}
	h := &testHeader
	ents := putEntriesOf(tb, 1001, puts, valueLen)
	readCtx := []byte("\x00\x00\x00\x00\x00\x00\x00\x09\x00\x00\x00\x00\x00\x00\x00\x2a")
	appendWithUnknown := appendMsg(putEntriesOf(tb, 2001, 2, valueLen))
	appendWithUnknown.Entries[1] = withUnknown(appendWithUnknown.Entries[1])
	wrongWireType := protowire.AppendTag(nil, 3, protowire.Fixed64Type) // from as a fixed64
	wrongWireType = protowire.AppendFixed64(wrongWireType, 7)
	badCluster := protowire.AppendTag(nil, 2, protowire.BytesType)
	badCluster = protowire.AppendBytes(badCluster, []byte("k\xffntiki"))
	full := marshal(batchOf(h, appendMsg(ents)))
	return []struct {
		name string
		data []byte
		fast bool
	}{
		{"empty", nil, true},
		{fmt.Sprintf("append of %d puts", puts), full, true},
		{"append with a conf change and an empty entry", marshal(batchOf(h, &pb.Message{Type: pb.MessageType_MSG_APP, To: 2, From: 1, Term: 8, LogTerm: 7, Index: 1016,
			Entries: []*pb.Entry{{Term: 8, Index: 1017}, {Term: 8, Index: 1018, Type: pb.EntryType_ENTRY_CONF_CHANGE, Data: []byte{0x0a, 0x02, 0x10, 0x04}}}, Commit: 1016})), true},
		{"acks", marshal(batchOf(&batchHeader{formatVersion: 1, cluster: "kontiki", from: 2, to: 1, clusterID: 3, incarnation: 4},
			ackMsg(1016), &pb.Message{Type: pb.MessageType_MSG_APP_RESP, To: 1, From: 2, Term: 7, Index: 900, Reject: true, RejectHint: 950, LogTerm: 6})), true},
		{"votes", marshal(batchOf(h, &pb.Message{Type: pb.MessageType_MSG_PRE_VOTE, To: 2, From: 1, Term: 9, LogTerm: 7, Index: 1016},
			&pb.Message{Type: pb.MessageType_MSG_VOTE, To: 2, From: 1, Term: 9, LogTerm: 7, Index: 1016, Context: []byte("CampaignTransfer")},
			&pb.Message{Type: pb.MessageType_MSG_VOTE_RESP, To: 2, From: 1, Term: 9, Reject: true})), true},
		{"heartbeats", marshal(batchOf(h, &pb.Message{Type: pb.MessageType_MSG_HEARTBEAT, To: 2, From: 1, Term: 7, Commit: 1016, Context: []byte{0, 0, 0, 0, 0, 0, 0, 5}},
			&pb.Message{Type: pb.MessageType_MSG_HEARTBEAT_RESP, To: 2, From: 1, Term: 7, Context: []byte{0, 0, 0, 0, 0, 0, 0, 5}})), true},
		{"read index", marshal(batchOf(h, &pb.Message{Type: pb.MessageType_MSG_READ_INDEX, To: 2, From: 1, Term: 7, Entries: []*pb.Entry{{Data: readCtx}}})), true},
		{"negative enums and huge values", marshal(batchOf(&batchHeader{formatVersion: 1<<32 - 1, cluster: "ü", from: 1<<64 - 1},
			&pb.Message{Type: -1, To: 1 << 63, Entries: []*pb.Entry{{Type: -5, Term: 1<<64 - 1}}})), true},
		{"overlong tag and repeated scalars (last wins)", append(protowire.AppendVarint(append(full, 0x98, 0x80, 0x00), 5), 0x18, 0x03), true},
		{"snapshot", marshal(batchOf(h, &pb.Message{Type: pb.MessageType_MSG_SNAP, To: 2, From: 1, Term: 7, Snapshot: &pb.Snapshot{Data: []byte("image"),
			Metadata: &pb.SnapshotMetadata{Index: 900, Term: 6, ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}}}})), false},
		{"unknown fields", marshal(withUnknown(batchOf(h, withUnknown(ackMsg(5)), appendWithUnknown))), false},
		{"known field with another wire type", append(marshal(batchOf(h, ackMsg(5))), wrongWireType...), false},
		{"cluster not UTF-8", badCluster, false},
		{"truncated append", full[:len(full)-40], false},
		{"field number 0", []byte{0x00, 0x01}, false},
	}
}

// FuzzDecodeRaftBatch holds decodeRaftBatch to proto.Unmarshal on arbitrary
// input: it fails exactly when proto.Unmarshal fails and otherwise finds an
// equal batch; what its own path decodes aliases the input without spare
// capacity. Whatever proto.Unmarshal decodes re-encodes through
// appendRaftBatch to proto.Marshal's bytes, each message to proto.Size.
//
// In this package's test binary (nats-server included) one execution costs
// about a millisecond under coverage, and the fuzzer minimizes each input
// it finds interesting by trying a number of candidates that grows with the
// square of its length: a long one can take the whole -fuzzminimizetime
// (60 s by default) with no new input tried meanwhile. Hence the short
// seeds; add -fuzzminimizetime 100x to keep the fuzzer exploring.
func FuzzDecodeRaftBatch(f *testing.F) {
	for _, s := range raftBatchSeeds(f, 3, 4) {
		f.Add(s.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want := new(pb.Batch)
		wantErr := proto.Unmarshal(data, want)
		got, err := decodeRaftBatch(data, "kontiki")
		switch {
		case err != nil && wantErr == nil:
			t.Fatalf("refused what proto.Unmarshal accepts: %v", err)
		case err == nil && wantErr != nil:
			t.Fatalf("accepted what proto.Unmarshal refuses (%v): %v", wantErr, got)
		case err != nil:
			return
		}
		if !proto.Equal(got, want) {
			t.Fatalf("decoded\n%v\nproto.Unmarshal finds\n%v", got, want)
		}
		if fast := decodeRaftBatchFast(data, "kontiki"); fast != nil {
			checkAliases(t, data, fast)
		}
		h := &batchHeader{formatVersion: want.FormatVersion, cluster: want.Cluster, from: want.From, to: want.To,
			clusterID: want.ClusterId, incarnation: want.Incarnation}
		checkEncoding(t, h, want.Messages)
	})
}

// checkAliases fails unless every entry's data and message's context in b
// lies within data, with no capacity beyond its length.
func checkAliases(t *testing.T, data []byte, b *pb.Batch) {
	t.Helper()
	within := func(what string, s []byte) {
		if len(s) == 0 {
			return
		}
		base, p := uintptr(unsafe.Pointer(unsafe.SliceData(data))), uintptr(unsafe.Pointer(unsafe.SliceData(s)))
		if p < base || p+uintptr(len(s)) > base+uintptr(len(data)) {
			t.Fatalf("%s is a copy, not a sub-slice of the payload", what)
		}
		if cap(s) != len(s) {
			t.Fatalf("%s has spare capacity %d over the payload", what, cap(s)-len(s))
		}
	}
	for i, m := range b.Messages {
		within(fmt.Sprintf("message %d's context", i), m.Context)
		for j, e := range m.Entries {
			within(fmt.Sprintf("message %d's entry %d's data", i, j), e.Data)
		}
		if cap(m.Entries) != len(m.Entries) {
			t.Fatalf("message %d's entries have spare capacity", i)
		}
	}
	if cap(b.Messages) != len(b.Messages) {
		t.Fatal("the batch's messages have spare capacity")
	}
}

// checkEncoding fails unless appendRaftBatch writes what proto.Marshal
// writes for the batch, after what the buffer held, and the batch decodes
// back to an equal one; and raftMessageSize is proto.Size.
func checkEncoding(t *testing.T, h *batchHeader, msgs []*pb.Message) {
	t.Helper()
	want, err := proto.MarshalOptions{Deterministic: true}.Marshal(batchOf(h, msgs...))
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("prefix")
	got, err := appendRaftBatch(prefix, h, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], want) {
		t.Fatalf("appendRaftBatch wrote\n%x\nproto.Marshal writes\n%x", got[len(prefix):], want)
	}
	for i, m := range msgs {
		if got, want := raftMessageSize(m), proto.Size(m); got != want {
			t.Fatalf("message %d: raftMessageSize %d, proto.Size %d", i, got, want)
		}
	}
	back, err := decodeRaftBatch(got[len(prefix):], h.cluster)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(back, batchOf(h, msgs...)) {
		t.Fatalf("decoded back\n%v\nfrom\n%v", back, batchOf(h, msgs...))
	}
}

func TestRaftBatchSeedsDecodeAsProtoUnmarshalDoes(t *testing.T) {
	for _, s := range raftBatchSeeds(t, 16, 128) {
		t.Run(s.name, func(t *testing.T) {
			want := new(pb.Batch)
			wantErr := proto.Unmarshal(s.data, want)
			got, err := decodeRaftBatch(s.data, "kontiki")
			if (err == nil) != (wantErr == nil) || err == nil && !proto.Equal(got, want) {
				t.Fatalf("decoded %v (%v), proto.Unmarshal %v (%v)", got, err, want, wantErr)
			}
			fast := decodeRaftBatchFast(s.data, "kontiki")
			if (fast != nil) != s.fast {
				t.Fatalf("own path decoded it: %v, want %v", fast != nil, s.fast)
			}
			if fast != nil {
				checkAliases(t, s.data, fast)
			}
		})
	}
}

func TestAppendRaftBatchRefusesAClusterNameThatIsNotUTF8(t *testing.T) {
	h := testHeader
	h.cluster = "k\xff"
	if _, err := appendRaftBatch(nil, &h, []*pb.Message{ackMsg(1)}); err == nil {
		t.Fatal("encoded a cluster name proto.Marshal refuses")
	}
	if _, err := proto.Marshal(batchOf(&h, ackMsg(1))); err == nil {
		t.Fatal("proto.Marshal no longer refuses it: appendRaftBatch should not either")
	}
}

// TestAppendRaftBatchMatchesProtoMarshal encodes generated batches, every
// field zero or not, small or at its widest, with snapshots, unknown fields
// and empty versus absent bytes.
func TestAppendRaftBatchMatchesProtoMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	num := func() uint64 {
		switch rng.IntN(4) {
		case 0:
			return 0
		case 1:
			return rng.Uint64N(200)
		case 2:
			return 1<<64 - 1
		}
		return rng.Uint64() >> rng.IntN(64)
	}
	bs := func() []byte {
		switch rng.IntN(3) {
		case 0:
			return nil
		case 1:
			return []byte{}
		}
		b := make([]byte, rng.IntN(300))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	enum := func() int32 { return []int32{0, 3, 18, 127, 128, -1, -1 << 31}[rng.IntN(7)] }
	for i := range 2000 {
		h := &batchHeader{formatVersion: uint32(num()), from: num(), to: num(), clusterID: num(), incarnation: num()}
		if rng.IntN(4) > 0 {
			h.cluster = []string{"kontiki", "ü-cluster", strings.Repeat("c", 200)}[rng.IntN(3)]
		}
		msgs := make([]*pb.Message, rng.IntN(4))
		for j := range msgs {
			m := &pb.Message{Type: pb.MessageType(enum()), To: num(), From: num(), Term: num(), LogTerm: num(), Index: num(),
				Commit: num(), Reject: rng.IntN(2) == 0, RejectHint: num(), Context: bs()}
			for range rng.IntN(5) {
				e := &pb.Entry{Term: num(), Index: num(), Type: pb.EntryType(enum()), Data: bs()}
				if rng.IntN(20) == 0 {
					e = withUnknown(e)
				}
				m.Entries = append(m.Entries, e)
			}
			if rng.IntN(20) == 0 {
				m.Snapshot = &pb.Snapshot{Data: bs(), Metadata: &pb.SnapshotMetadata{Index: num(), ConfState: &pb.ConfState{Voters: []uint64{num(), num()}}}}
			}
			if rng.IntN(20) == 0 {
				m = withUnknown(m)
			}
			msgs[j] = m
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkEncoding(t, h, msgs) })
	}
}

// TestBatchesStayBelowTheLimitAndCarryEveryMessageInOrder: publish's split
// of a peer's messages into batches (appendRaftBatchPrefix), with a message
// above the limit going alone.
func TestBatchesStayBelowTheLimitAndCarryEveryMessageInOrder(t *testing.T) {
	var msgs []*pb.Message
	for i := range 40 {
		msgs = append(msgs, appendMsg(putEntries(t, uint64(1000+16*i), 16)), ackMsg(uint64(i)))
	}
	huge := appendMsg(putEntries(t, 5000, 64))
	msgs = append(msgs[:7:7], append([]*pb.Message{huge}, msgs[7:]...)...)
	const limit = 8 << 10
	var sent []*pb.Message
	batches := 0
	for rest := msgs; len(rest) > 0; batches++ {
		data, n, err := appendRaftBatchPrefix(nil, &testHeader, rest, limit)
		if err != nil || n == 0 {
			t.Fatalf("took %d messages: %v", n, err)
		}
		want, _ := proto.MarshalOptions{Deterministic: true}.Marshal(batchOf(&testHeader, rest[:n]...))
		if !bytes.Equal(data, want) {
			t.Fatalf("batch %d is not proto.Marshal's encoding of its %d messages", batches, n)
		}
		if len(data) > limit+64 && n > 1 {
			t.Fatalf("a batch of %d messages encodes to %d bytes, above the limit %d", n, len(data), limit)
		}
		if rest[0] == huge && n != 1 {
			t.Fatalf("the message above the limit went with %d others", n-1)
		}
		sent, rest = append(sent, rest[:n]...), rest[n:]
	}
	if len(sent) != len(msgs) || batches < 10 {
		t.Fatalf("sent %d of %d messages in %d batches", len(sent), len(msgs), batches)
	}
	for i := range msgs {
		if sent[i] != msgs[i] {
			t.Fatalf("message %d sent out of order", i)
		}
	}
}
