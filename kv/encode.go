// encode.go owns the encoding of a capture into the snapshot image, written
// straight from the captured records rather than through a KVSnapshot
// message of 100k KVItems: one pass, one buffer of the exact size, no
// per-key allocation. The bytes are those
// proto.MarshalOptions{Deterministic: true} gives for the same
// messages.KVSnapshot (fields in number order, zero scalars and empty
// strings and bytes omitted, a present sub-message always written), so
// images stay comparable across builds and Restore decodes them with
// proto.Unmarshal; TestEncodeImageMatchesProtoMarshal holds it to that, and
// TestImageBytesAreStable to the bytes of earlier builds.

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

// Every field number above is below 16, so every tag is one byte (the
// helpers below write it as one): this fails to compile otherwise.
const _ uint = 15 - max(snapHistory, itemMod, dedupeTime, resultError, eventRevision)

// errInvalidUTF8 is what proto.Marshal refuses in a string field. Apply and
// Restore let no such key, request id or error text in: this is a bug.
var errInvalidUTF8 = errors.New("kv: encode snapshot: a string field holds invalid UTF-8")

// encodeImage returns the image of c in one pass over the records, the
// dedupe entries and the history, each written with the size of its
// message computed from its own fields, into a buffer of the image's size:
// the store keeps the total up (imageBytes), so no pass reads every record
// (and misses the cache on it) only to size the buffer. The bytes do not
// depend on that total: were it off (a bug; the tests' mustSnapshot
// checks it is exact), append would grow the buffer. Each string is checked
// for UTF-8 as it is written, so its bytes are read while in cache for the
// copy.
func encodeImage(c *capture) ([]byte, error) {
	size := varintSize(uint64(SnapshotFormatVersion)) + varintSize(c.revision) + varintSize(c.compacted) + c.bodyBytes
	b := make([]byte, 0, max(size, 0))
	b = appendVarint(b, snapFormatVersion, uint64(SnapshotFormatVersion))
	b = appendVarint(b, snapRevision, c.revision)
	for _, r := range c.records {
		if !utf8.ValidString(r.key) {
			return nil, errInvalidUTF8
		}
		b = appendItem(b, r)
	}
	var prev uint64
	for _, e := range c.dedupe {
		if e.index <= prev {
			return nil, errors.New("kv: encode snapshot: dedupe entries out of index order (a bug)")
		}
		prev = e.index
		if !utf8.ValidString(e.id) || !utf8.ValidString(e.result.err) {
			return nil, errInvalidUTF8
		}
		b = appendDedupe(b, e)
	}
	b = appendVarint(b, snapCompacted, c.compacted)
	for i := range c.history {
		if !utf8.ValidString(c.history[i].Key) {
			return nil, errInvalidUTF8
		}
		b = appendEvent(b, &c.history[i])
	}
	return b, nil
}

// The lengths that a record, a dedupe entry and an event take in the
// image, their field's tag and length included.

func itemImageSize(r *record) int        { return messageSize(itemSize(r)) }
func dedupeImageSize(e *dedupeEntry) int { return messageSize(dedupeSize(e)) }
func eventImageSize(e *Event) int        { return messageSize(eventSize(e)) }

func itemSize(r *record) int {
	return bytesSize(len(r.key)) + bytesSize(len(r.value)) + varintSize(r.create) + varintSize(r.mod)
}

func appendItem(b []byte, r *record) []byte {
	b = appendHeader(b, snapItems, itemSize(r))
	b = appendString(b, itemKey, r.key)
	b = appendBytes(b, itemValue, r.value)
	b = appendVarint(b, itemCreate, r.create)
	return appendVarint(b, itemMod, r.mod)
}

func resultSize(r *result) int {
	return varintSize(enum(int32(r.status))) + varintSize(r.revision) + bytesSize(len(r.err))
}

func dedupeSize(e *dedupeEntry) int {
	return bytesSize(len(e.id)) + messageSize(resultSize(&e.result)) + varintSize(e.index) + varintSize(uint64(e.timeMs))
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
	return varintSize(enum(int32(e.Op))) + bytesSize(len(e.Key)) + bytesSize(len(e.Value)) + varintSize(e.Revision)
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

// Sizes and appenders of one field, its tag one byte; a zero scalar or an
// empty string or bytes field is not written (proto3 without presence).

func varintSize(v uint64) int {
	if v == 0 {
		return 0
	}
	return 1 + protowire.SizeVarint(v)
}

func bytesSize(n int) int {
	if n == 0 {
		return 0
	}
	return messageSize(n)
}

// messageSize: a present sub-message is written even when empty.
func messageSize(n int) int {
	return 1 + protowire.SizeVarint(uint64(n)) + n
}

func appendTag(b []byte, num protowire.Number, typ protowire.Type) []byte {
	return append(b, byte(num)<<3|byte(typ))
}

// appendUvarint is protowire.AppendVarint with the one-byte case inline.
func appendUvarint(b []byte, v uint64) []byte {
	if v < 0x80 {
		return append(b, byte(v))
	}
	return protowire.AppendVarint(b, v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return appendUvarint(appendTag(b, num, protowire.VarintType), v)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = appendHeader(b, num, len(s))
	return append(b, s...)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = appendHeader(b, num, len(v))
	return append(b, v...)
}

func appendHeader(b []byte, num protowire.Number, n int) []byte {
	return appendUvarint(appendTag(b, num, protowire.BytesType), uint64(n))
}
