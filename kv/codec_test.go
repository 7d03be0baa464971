// codec_test.go covers the encode/decode helpers.

package kv

import (
	"strings"
	"testing"

	"github.com/kontiki-raft/kontiki/messages"
)

func TestEncodeDecode(t *testing.T) {
	opts := WriteOptions{HasExpectedRevision: true, ExpectedRevision: 0, RequestID: "id", LeaderTimeUnixMs: 5}
	b, err := EncodePut("a.b", []byte("v"), opts)
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := DecodeCommand(b)
	if err != nil || cmd.Op != messages.KVOp_KV_OP_PUT || cmd.Key != "a.b" || string(cmd.Value) != "v" ||
		!cmd.HasExpectedRevision || cmd.RequestId != "id" || cmd.LeaderTimeUnixMs != 5 {
		t.Fatalf("DecodeCommand = %v, %v", cmd, err)
	}
	b, _ = EncodeDelete("a.b", WriteOptions{})
	if cmd, _ := DecodeCommand(b); cmd.Op != messages.KVOp_KV_OP_DELETE || cmd.Key != "a.b" {
		t.Fatalf("delete = %v", cmd)
	}
	if _, err := EncodePut("a..b", nil, WriteOptions{}); err == nil {
		t.Fatal("EncodePut accepted a bad key")
	}
	if _, err := EncodeDelete("a", WriteOptions{RequestID: strings.Repeat("x", MaxRequestIDBytes+1)}); err == nil {
		t.Fatal("EncodeDelete accepted a long request id")
	}
	if _, err := EncodePut("a", nil, WriteOptions{RequestID: "\xff"}); err == nil {
		t.Fatal("EncodePut accepted a request id that is not UTF-8")
	}
	if _, err := DecodeCommand([]byte{0xff}); err == nil {
		t.Fatal("DecodeCommand accepted garbage")
	}
	if _, err := DecodeResult(nil); err == nil {
		t.Fatal("DecodeResult accepted an empty result")
	}
	if _, err := DecodeResult([]byte{0xff}); err == nil {
		t.Fatal("DecodeResult accepted garbage")
	}
}

func TestStampLeaderTime(t *testing.T) {
	orig, _ := EncodePut("k", []byte("v"), WriteOptions{RequestID: "r", LeaderTimeUnixMs: 1})
	stamped := StampLeaderTime(orig, 1_700_000_000_123)
	cmd, err := DecodeCommand(stamped)
	if err != nil || cmd.LeaderTimeUnixMs != 1_700_000_000_123 || cmd.Key != "k" || cmd.RequestId != "r" {
		t.Fatalf("stamped = %v, %v", cmd, err)
	}
	if c, _ := DecodeCommand(orig); c.LeaderTimeUnixMs != 1 {
		t.Fatal("StampLeaderTime modified its input")
	}
	// Stamping garbage keeps it garbage: Apply still says BAD_REQUEST.
	s := New(Options{})
	wantStatus(t, applyCmd(t, s, 1, StampLeaderTime([]byte{0xff}, 1)), statusBad, 0)
}
