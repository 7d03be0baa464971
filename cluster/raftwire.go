// The peer transport's codec for pb.Batch, written with protowire because
// the generic proto runtime was a visible share of the put path's CPU and
// garbage: proto.Unmarshal allocates every Message and Entry and copies every
// entry's data, proto.Marshal and proto.Size walk each message by
// reflection. Here a batch decodes into one slab of messages (held with the
// batch itself when there is one message, the common case) and one of
// entries whose data (and messages' context) alias the received payload,
// and encodes with each message's size computed once, from the fields,
// for the batch limit and the length prefix both.
//
// Both sides are held to the generic runtime, byte for byte
// (FuzzDecodeRaftBatch, TestAppendRaftBatchMatchesProtoMarshal):
//
//   - decodeRaftBatch finds what proto.Unmarshal finds, except that the bytes
//     alias data. Whatever it does not plainly know (an unknown field, a known
//     field with another wire type, a snapshot, anything malformed) is handed
//     to proto.Unmarshal whole, so unknown fields are kept and every error is
//     proto.Unmarshal's.
//   - appendRaftBatch (and appendRaftBatchPrefix, which publish uses) writes
//     what proto.MarshalOptions{Deterministic: true} writes: fields in
//     number order, proto3 zero values left out, unknown fields last.
//     raftMessageSize is proto.Size of a message.
package cluster

import (
	"errors"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/kontiki-raft/kontiki/messages"
)

// Tags, (field number << 3) | wire type, of the fields of
// messages/kontiki/v1/raft.proto that the codec reads and writes. Every field
// number is below 16, so every tag is one byte.
const (
	wireVarint = 0 // protowire.VarintType
	wireBytes  = 2 // protowire.BytesType

	batchFormatVersion = 1<<3 | wireVarint
	batchCluster       = 2<<3 | wireBytes
	batchFrom          = 3<<3 | wireVarint
	batchTo            = 4<<3 | wireVarint
	batchMessages      = 5<<3 | wireBytes
	batchClusterID     = 6<<3 | wireVarint
	batchIncarnation   = 7<<3 | wireVarint

	messageType       = 1<<3 | wireVarint
	messageTo         = 2<<3 | wireVarint
	messageFrom       = 3<<3 | wireVarint
	messageTerm       = 4<<3 | wireVarint
	messageLogTerm    = 5<<3 | wireVarint
	messageIndex      = 6<<3 | wireVarint
	messageEntries    = 7<<3 | wireBytes
	messageCommit     = 8<<3 | wireVarint
	messageSnapshot   = 9<<3 | wireBytes
	messageReject     = 10<<3 | wireVarint
	messageRejectHint = 11<<3 | wireVarint
	messageContext    = 12<<3 | wireBytes

	entryTerm  = 1<<3 | wireVarint
	entryIndex = 2<<3 | wireVarint
	entryType  = 3<<3 | wireVarint
	entryData  = 4<<3 | wireBytes
)

// decodeRaftBatch decodes a Batch as proto.Unmarshal does, except that every
// Entry.Data and Message.Context is a sub-slice of data (capacity trimmed to
// its length, so an append to one cannot write over its neighbour), and
// that Batch.Cluster is the string cluster, not a copy, when they are equal
// (pass the name the receiver expects).
//
// Invariant: data is never written after it is received, by anyone, for as
// long as a decoded message is alive. The transport passes nats.Msg.Data,
// which nats.go (v1.55.0, Conn.processMsg) hands out as a fresh allocation
// per message: the payload is copied out of the read buffer, or is the
// buffer made for that message alone when it arrived split (msgCopied), and
// the library keeps no reference to it once the handler runs. Downstream,
// the raft log, the write-ahead log and the store only read entry data
// (kv.Store.Apply copies out what it keeps).
func decodeRaftBatch(data []byte, cluster string) (*pb.Batch, error) {
	if b := decodeRaftBatchFast(data, cluster); b != nil {
		return b, nil
	}
	b := new(pb.Batch)
	if err := proto.Unmarshal(data, b); err != nil {
		return nil, err
	}
	return b, nil
}

// singleMessageBatch is a batch of one message in one allocation: the
// common batch (one append, or one ack) and the one whose allocations
// weigh most against its size.
type singleMessageBatch struct {
	batch pb.Batch
	msg   [1]pb.Message
	ptr   [1]*pb.Message
}

// decodeRaftBatchFast is decodeRaftBatch's own path: nil when data holds
// anything it leaves to proto.Unmarshal. A first walk counts the messages
// and entries so that each kind takes one allocation; the second fills them.
func decodeRaftBatchFast(data []byte, cluster string) *pb.Batch {
	nmsg, nent, ok := countRaftBatch(data)
	if !ok {
		return nil
	}
	d := raftDecoder{cluster: cluster}
	var b *pb.Batch
	if nmsg == 1 {
		one := new(singleMessageBatch)
		b, d.msgs, d.msgPtrs = &one.batch, one.msg[:], one.ptr[:]
	} else {
		b, d.msgs, d.msgPtrs = new(pb.Batch), make([]pb.Message, nmsg), make([]*pb.Message, nmsg)
	}
	if nent > 0 {
		d.ents, d.entPtrs = make([]pb.Entry, nent), make([]*pb.Entry, nent)
	}
	if !d.batch(data, b) {
		return nil
	}
	if d.nmsg > 0 {
		b.Messages = d.msgPtrs[:d.nmsg:d.nmsg]
	}
	return b
}

// countRaftBatch counts the messages of a batch and the entries of all its
// messages, the fields the decoder will fill from. ok is false when the
// walk meets a field it cannot step over (the decoder would refuse it too).
func countRaftBatch(data []byte) (nmsg, nent int, ok bool) {
	for len(data) > 0 {
		tag, _, s, n := consumeRaftField(data)
		if n < 0 {
			return 0, 0, false
		}
		data = data[n:]
		if tag != batchMessages {
			continue
		}
		nmsg++
		for len(s) > 0 {
			tag, _, _, n := consumeRaftField(s)
			if n < 0 {
				return 0, 0, false
			}
			s = s[n:]
			if tag == messageEntries {
				nent++
			}
		}
	}
	return nmsg, nent, true
}

// consumeRaftField consumes the first field of b: its tag, its value (v for
// a varint, s for bytes) and its length, negative when it is malformed or
// of neither wire type (this codec's fields are all of one or the other).
// Tags are compared by value, so an overlong encoding of a known tag is that
// tag, as for proto.Unmarshal, and a tag whose field number is out of range
// is no tag this codec knows: proto.Unmarshal judges it.
//
// One-byte varints (most tags, lengths and values here) are read inline,
// as the proto runtime does.
func consumeRaftField(b []byte) (tag, v uint64, s []byte, n int) {
	tn := 1
	if len(b) > 0 && b[0] < 0x80 {
		tag = uint64(b[0])
	} else if tag, tn = protowire.ConsumeVarint(b); tn < 0 {
		return 0, 0, nil, -1
	}
	b = b[tn:]
	n = 1
	switch tag & 7 {
	case wireVarint:
		if len(b) > 0 && b[0] < 0x80 {
			v = uint64(b[0])
		} else if v, n = protowire.ConsumeVarint(b); n < 0 {
			return 0, 0, nil, -1
		}
	case wireBytes:
		var l uint64
		if len(b) > 0 && b[0] < 0x80 {
			l = uint64(b[0])
		} else if l, n = protowire.ConsumeVarint(b); n < 0 {
			return 0, 0, nil, -1
		}
		if l > uint64(len(b)-n) {
			return 0, 0, nil, -1
		}
		s, n = b[n:n+int(l)], n+int(l)
	default:
		return 0, 0, nil, -1
	}
	return tag, v, s, tn + n
}

// raftDecoder fills a batch from slabs sized by countRaftBatch. The slabs'
// elements are never copied: only pointers to them are handed out.
type raftDecoder struct {
	cluster string // Batch.Cluster when equal, see decodeRaftBatch
	msgs    []pb.Message
	msgPtrs []*pb.Message
	ents    []pb.Entry
	entPtrs []*pb.Entry
	// nmsg and nent count the elements handed out so far.
	nmsg, nent int
}

// batch fills b from data; false hands the batch to proto.Unmarshal.
func (d *raftDecoder) batch(data []byte, b *pb.Batch) bool {
	for len(data) > 0 {
		tag, v, s, n := consumeRaftField(data)
		if n < 0 {
			return false
		}
		data = data[n:]
		switch tag {
		case batchFormatVersion:
			b.FormatVersion = uint32(v)
		case batchCluster:
			if !utf8.Valid(s) {
				return false
			}
			if string(s) == d.cluster { // compared without a copy
				b.Cluster = d.cluster
			} else {
				b.Cluster = string(s)
			}
		case batchFrom:
			b.From = v
		case batchTo:
			b.To = v
		case batchClusterID:
			b.ClusterId = v
		case batchIncarnation:
			b.Incarnation = v
		case batchMessages:
			if d.nmsg == len(d.msgs) {
				return false // countRaftBatch disagrees: never, but no panic
			}
			m := &d.msgs[d.nmsg]
			d.msgPtrs[d.nmsg] = m
			d.nmsg++
			if !d.message(s, m) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// message fills m from its encoding s.
func (d *raftDecoder) message(s []byte, m *pb.Message) bool {
	first := d.nent
	for len(s) > 0 {
		tag, v, f, n := consumeRaftField(s)
		if n < 0 {
			return false
		}
		s = s[n:]
		switch tag {
		case messageType:
			m.Type = pb.MessageType(int32(v))
		case messageTo:
			m.To = v
		case messageFrom:
			m.From = v
		case messageTerm:
			m.Term = v
		case messageLogTerm:
			m.LogTerm = v
		case messageIndex:
			m.Index = v
		case messageCommit:
			m.Commit = v
		case messageReject:
			m.Reject = v != 0
		case messageRejectHint:
			m.RejectHint = v
		case messageContext:
			m.Context = alias(f)
		case messageEntries:
			if d.nent == len(d.ents) {
				return false
			}
			e := &d.ents[d.nent]
			d.entPtrs[d.nent] = e
			d.nent++
			if !entry(f, e) {
				return false
			}
		default:
			// messageSnapshot included: rare (snapshots travel on their own
			// subject), nested deeper, and left to proto.Unmarshal.
			return false
		}
	}
	if d.nent > first {
		m.Entries = d.entPtrs[first:d.nent:d.nent]
	}
	return true
}

// entry fills e from its encoding s.
func entry(s []byte, e *pb.Entry) bool {
	for len(s) > 0 {
		tag, v, f, n := consumeRaftField(s)
		if n < 0 {
			return false
		}
		s = s[n:]
		switch tag {
		case entryTerm:
			e.Term = v
		case entryIndex:
			e.Index = v
		case entryType:
			e.Type = pb.EntryType(int32(v))
		case entryData:
			e.Data = alias(f)
		default:
			return false
		}
	}
	return true
}

// alias is a bytes field's value as proto.Unmarshal sets it (nil when
// empty), sharing s's memory but not its spare capacity.
func alias(s []byte) []byte {
	if len(s) == 0 {
		return nil
	}
	return s[:len(s):len(s)]
}

// batchHeader is a Batch without its messages: what publish stamps on
// every batch it sends.
type batchHeader struct {
	formatVersion          uint32
	cluster                string
	from, to               uint64
	clusterID, incarnation uint64
}

// errClusterUTF8 is proto.Marshal's refusal of a string field that is not
// UTF-8, for the batch's cluster name.
var errClusterUTF8 = errors.New("cluster name is not valid UTF-8")

// appendRaftBatch appends the Batch of header h and messages msgs (none
// nil) to b, byte for byte as proto.MarshalOptions{Deterministic: true}
// encodes it, and refuses, as it does, a cluster name that is not UTF-8.
func appendRaftBatch(b []byte, h *batchHeader, msgs []*pb.Message) ([]byte, error) {
	b, _, err := appendRaftBatchPrefix(b, h, msgs, math.MaxInt)
	return b, err
}

// appendRaftBatchPrefix is appendRaftBatch of the longest prefix of msgs,
// one message at least, whose messages' sizes stay within limit, each
// counted with messageFraming bytes; n is the prefix's length. Each
// message's size is computed once, for the limit and the encoding both.
func appendRaftBatchPrefix(b []byte, h *batchHeader, msgs []*pb.Message, limit int) (_ []byte, n int, err error) {
	if !utf8.ValidString(h.cluster) {
		return b, 0, errClusterUTF8
	}
	b = appendVarintField(b, batchFormatVersion, uint64(h.formatVersion))
	if h.cluster != "" {
		b = append(b, batchCluster)
		b = protowire.AppendString(b, h.cluster)
	}
	b = appendVarintField(b, batchFrom, h.from)
	b = appendVarintField(b, batchTo, h.to)
	total := 0
	for _, m := range msgs {
		size := raftMessageSize(m)
		if n > 0 && total+size+messageFraming > limit {
			break
		}
		total += size + messageFraming
		b = append(b, batchMessages)
		b = protowire.AppendVarint(b, uint64(size))
		b = appendRaftMessage(b, m)
		n++
	}
	b = appendVarintField(b, batchClusterID, h.clusterID)
	b = appendVarintField(b, batchIncarnation, h.incarnation)
	return b, n, nil
}

// messageFraming bounds a message's tag and length in a batch (six bytes
// for any message below 4 GiB), rounded up.
const messageFraming = 8

// raftMessageSize is proto.Size(m).
func raftMessageSize(m *pb.Message) int {
	n := varintFieldSize(uint64(m.Type)) + varintFieldSize(m.To) + varintFieldSize(m.From) +
		varintFieldSize(m.Term) + varintFieldSize(m.LogTerm) + varintFieldSize(m.Index)
	for _, e := range m.Entries {
		n += 1 + lengthPrefixedSize(raftEntrySize(e))
	}
	n += varintFieldSize(m.Commit)
	if m.Snapshot != nil {
		n += 1 + lengthPrefixedSize(proto.Size(m.Snapshot))
	}
	if m.Reject {
		n += 2
	}
	n += varintFieldSize(m.RejectHint) + bytesFieldSize(m.Context)
	return n + len(m.ProtoReflect().GetUnknown())
}

func appendRaftMessage(b []byte, m *pb.Message) []byte {
	// A message's type is an int32 enum: a negative one is sign-extended to
	// ten bytes, as proto does.
	b = appendVarintField(b, messageType, uint64(m.Type))
	b = appendVarintField(b, messageTo, m.To)
	b = appendVarintField(b, messageFrom, m.From)
	b = appendVarintField(b, messageTerm, m.Term)
	b = appendVarintField(b, messageLogTerm, m.LogTerm)
	b = appendVarintField(b, messageIndex, m.Index)
	for _, e := range m.Entries {
		unknown := e.ProtoReflect().GetUnknown()
		b = append(b, messageEntries)
		b = protowire.AppendVarint(b, uint64(entryFieldsSize(e)+len(unknown)))
		b = appendVarintField(b, entryTerm, e.Term)
		b = appendVarintField(b, entryIndex, e.Index)
		b = appendVarintField(b, entryType, uint64(e.Type))
		b = appendBytesField(b, entryData, e.Data)
		b = append(b, unknown...)
	}
	b = appendVarintField(b, messageCommit, m.Commit)
	if m.Snapshot != nil {
		b = append(b, messageSnapshot)
		b = protowire.AppendVarint(b, uint64(proto.Size(m.Snapshot)))
		// A Snapshot has no string field: it cannot fail.
		b, _ = proto.MarshalOptions{Deterministic: true}.MarshalAppend(b, m.Snapshot)
	}
	if m.Reject {
		b = append(b, messageReject, 1)
	}
	b = appendVarintField(b, messageRejectHint, m.RejectHint)
	b = appendBytesField(b, messageContext, m.Context)
	return append(b, m.ProtoReflect().GetUnknown()...)
}

// raftEntrySize is proto.Size(e).
func raftEntrySize(e *pb.Entry) int {
	return entryFieldsSize(e) + len(e.ProtoReflect().GetUnknown())
}

// entryFieldsSize is the size of e's known fields.
func entryFieldsSize(e *pb.Entry) int {
	return varintFieldSize(e.Term) + varintFieldSize(e.Index) + varintFieldSize(uint64(e.Type)) + bytesFieldSize(e.Data)
}

// The encoding of a proto3 scalar or bytes field: nothing for the zero value,
// else its one-byte tag and its value.

func varintFieldSize(v uint64) int {
	if v == 0 {
		return 0
	}
	return 1 + protowire.SizeVarint(v)
}

func appendVarintField(b []byte, tag byte, v uint64) []byte {
	switch {
	case v == 0:
		return b
	case v < 0x80:
		return append(b, tag, byte(v))
	}
	return protowire.AppendVarint(append(b, tag), v)
}

func bytesFieldSize(s []byte) int {
	if len(s) == 0 {
		return 0
	}
	return 1 + lengthPrefixedSize(len(s))
}

func appendBytesField(b []byte, tag byte, s []byte) []byte {
	if len(s) == 0 {
		return b
	}
	return protowire.AppendBytes(append(b, tag), s)
}

// lengthPrefixedSize is the size of n bytes behind their length.
func lengthPrefixedSize(n int) int { return protowire.SizeVarint(uint64(n)) + n }
