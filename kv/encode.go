// encode.go owns the encoding of a capture into the snapshot image, written
// straight from the captured records rather than through a KVSnapshot
// message of 100k KVItems: one sizing pass, one buffer, no per-key
// allocation. The bytes are those proto.MarshalOptions{Deterministic: true}
// gives for the same messages.KVSnapshot (fields in number order, zero
// scalars and empty strings and bytes omitted, a present sub-message always
// written), so images stay comparable across builds and Restore decodes
// them with proto.Unmarshal; TestEncodeImageMatchesProtoMarshal holds it to that.

package kv

import (
	"errors"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers, as in messages/kv.proto.
const (
	snapFormatVersion, snapRevision, snapItems, snapDedupe, snapCompacted, snapHistory = 1, 2, 3, 4, 5, 6
	itemKey, itemValue, itemCreate, itemMod                                            = 1, 2, 3, 4
	dedupeID, dedupeResult, dedupeIndex, dedupeTime                                    = 1, 2, 3, 4
	resultStatus, resultRevision, resultError                                          = 1, 2, 3
	eventOp, eventKey, eventValue, eventRevision                                       = 1, 2, 3, 4
)

// errInvalidUTF8 is what proto.Marshal refuses in a string field. Apply and
// Restore let no such key, request id or error text in: this is a bug.
var errInvalidUTF8 = errors.New("kv: encode snapshot: a string field holds invalid UTF-8")

// encodeImage returns the image of c, whose dedupe entries are sorted by
// index.
func encodeImage(c *capture, dedupe []*dedupeEntry) ([]byte, error) {
	size := varintSize(snapFormatVersion, uint64(SnapshotFormatVersion)) + varintSize(snapRevision, c.revision) +
		varintSize(snapCompacted, c.compacted)
	for _, r := range c.records {
		if !utf8.ValidString(r.key) {
			return nil, errInvalidUTF8
		}
		size += messageSize(snapItems, itemSize(r))
	}
	for _, e := range dedupe {
		if !utf8.ValidString(e.id) || !utf8.ValidString(e.result.err) {
			return nil, errInvalidUTF8
		}
		size += messageSize(snapDedupe, dedupeSize(e))
	}
	for i := range c.history {
		if !utf8.ValidString(c.history[i].Key) {
			return nil, errInvalidUTF8
		}
		size += messageSize(snapHistory, eventSize(&c.history[i]))
	}
	b := make([]byte, 0, size)
	b = appendVarint(b, snapFormatVersion, uint64(SnapshotFormatVersion))
	b = appendVarint(b, snapRevision, c.revision)
	for _, r := range c.records {
		b = appendItem(b, r)
	}
	for _, e := range dedupe {
		b = appendDedupe(b, e)
	}
	b = appendVarint(b, snapCompacted, c.compacted)
	for i := range c.history {
		b = appendEvent(b, &c.history[i])
	}
	if len(b) != size {
		return nil, errors.New("kv: encode snapshot: size mismatch (a bug)")
	}
	return b, nil
}

func itemSize(r *record) int {
	return bytesSize(itemKey, len(r.key)) + bytesSize(itemValue, len(r.value)) +
		varintSize(itemCreate, r.create) + varintSize(itemMod, r.mod)
}

func appendItem(b []byte, r *record) []byte {
	b = appendHeader(b, snapItems, itemSize(r))
	b = appendString(b, itemKey, r.key)
	b = appendBytes(b, itemValue, r.value)
	b = appendVarint(b, itemCreate, r.create)
	return appendVarint(b, itemMod, r.mod)
}

func resultSize(r *result) int {
	return varintSize(resultStatus, enum(int32(r.status))) + varintSize(resultRevision, r.revision) +
		bytesSize(resultError, len(r.err))
}

func dedupeSize(e *dedupeEntry) int {
	return bytesSize(dedupeID, len(e.id)) + messageSize(dedupeResult, resultSize(&e.result)) +
		varintSize(dedupeIndex, e.index) + varintSize(dedupeTime, uint64(e.timeMs))
}

func appendDedupe(b []byte, e *dedupeEntry) []byte {
	b = appendHeader(b, snapDedupe, dedupeSize(e))
	b = appendString(b, dedupeID, e.id)
	b = appendHeader(b, dedupeResult, resultSize(&e.result))
	b = appendVarint(b, resultStatus, enum(int32(e.result.status)))
	b = appendVarint(b, resultRevision, e.result.revision)
	b = appendString(b, resultError, e.result.err)
	b = appendVarint(b, dedupeIndex, e.index)
	return appendVarint(b, dedupeTime, uint64(e.timeMs)) // an int64: negatives take ten bytes
}

func eventSize(e *Event) int {
	return varintSize(eventOp, enum(int32(e.Op))) + bytesSize(eventKey, len(e.Key)) +
		bytesSize(eventValue, len(e.Value)) + varintSize(eventRevision, e.Revision)
}

func appendEvent(b []byte, e *Event) []byte {
	b = appendHeader(b, snapHistory, eventSize(e))
	b = appendVarint(b, eventOp, enum(int32(e.Op)))
	b = appendString(b, eventKey, e.Key)
	b = appendBytes(b, eventValue, e.Value)
	return appendVarint(b, eventRevision, e.Revision)
}

// enum is an enum's varint: its int32 sign-extended, as protobuf has it.
func enum(v int32) uint64 { return uint64(int64(v)) }

// Sizes and appenders of one field; a zero scalar or an empty string or
// bytes field is not written (proto3 without presence).

func varintSize(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func bytesSize(num protowire.Number, n int) int {
	if n == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

// messageSize: a present sub-message is written even when empty.
func messageSize(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendHeader(b []byte, num protowire.Number, n int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(n))
}
