// helpers_test.go owns the small helpers the tests share.

package kv

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kontiki-raft/kontiki/messages"
)

// applyCmd applies data at index and decodes the result.
func applyCmd(t testing.TB, s *Store, index uint64, data []byte) *messages.KVResult {
	t.Helper()
	out := s.Apply(index, data)
	res, err := DecodeResult(out)
	if err != nil {
		t.Fatalf("Apply(%d): result %x: %v", index, out, err)
	}
	return res
}

func put(t testing.TB, s *Store, index uint64, key, value string, opts WriteOptions) *messages.KVResult {
	t.Helper()
	cmd, err := EncodePut(key, []byte(value), opts)
	if err != nil {
		t.Fatalf("EncodePut(%q): %v", key, err)
	}
	return applyCmd(t, s, index, cmd)
}

func del(t testing.TB, s *Store, index uint64, key string, opts WriteOptions) *messages.KVResult {
	t.Helper()
	cmd, err := EncodeDelete(key, opts)
	if err != nil {
		t.Fatalf("EncodeDelete(%q): %v", key, err)
	}
	return applyCmd(t, s, index, cmd)
}

// rawCmd encodes a command without EncodePut's checks, to build bad ones.
func rawCmd(t testing.TB, cmd *messages.KVCommand) []byte {
	t.Helper()
	b, err := proto.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantStatus(t testing.TB, res *messages.KVResult, status messages.KVStatus, revision uint64) {
	t.Helper()
	if res.Status != status || res.Revision != revision {
		t.Fatalf("result = %v rev %d (%q), want %v rev %d", res.Status, res.Revision, res.Error, status, revision)
	}
}

// mustSnapshot returns s's image, and fails unless the encoder's buffer was
// of the image's exact size: the size the store keeps up through every
// change (imageBytes) is right.
func mustSnapshot(t testing.TB, s *Store) []byte {
	t.Helper()
	b, err := s.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if cap(b) != len(b) {
		t.Fatalf("Snapshot: a %d-byte image in a buffer of %d: the kept image size is wrong", len(b), cap(b))
	}
	return b
}

// sameState fails unless a and b have equal Hash and Snapshot bytes.
func sameState(t testing.TB, a, b *Store) {
	t.Helper()
	if a.Hash() != b.Hash() {
		t.Fatalf("Hash differs")
	}
	if !bytes.Equal(mustSnapshot(t, a), mustSnapshot(t, b)) {
		t.Fatalf("Snapshot bytes differ")
	}
	if a.AppliedIndex() != b.AppliedIndex() || a.Revision() != b.Revision() {
		t.Fatalf("applied/revision differ: %d/%d vs %d/%d", a.AppliedIndex(), a.Revision(), b.AppliedIndex(), b.Revision())
	}
}

func keysOf(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Key
	}
	return out
}

// stateMachine mirrors the actors' StateMachine (kv must not import actors):
// Store satisfies it structurally.
type stateMachine interface {
	Apply(index uint64, data []byte) []byte
	Snapshot() ([]byte, error)
	Restore(index uint64, data []byte) error
}

var _ stateMachine = (*Store)(nil)
