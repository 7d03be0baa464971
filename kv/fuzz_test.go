// fuzz_test.go feeds arbitrary bytes to Apply and Restore: neither may
// panic, and the state must stay valid and deterministic.

package kv

import (
	"bytes"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
)

// fuzzBase returns a small store with some of everything, at applied index
// 22, restored from an image built once (fast: minimization runs the target
// many thousands of times).
func fuzzBase(t testing.TB) *Store {
	baseOnce.Do(func() { baseImage = mustSnapshot(t, populated(t)) })
	s := New(Options{HistorySize: 8})
	if err := s.Restore(22, baseImage); err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	baseOnce  sync.Once
	baseImage []byte
)

// checkRoundTrip fails unless s's image restores into a fresh store with the
// same state.
func checkRoundTrip(t *testing.T, s *Store) {
	t.Helper()
	r := New(s.opts)
	if err := r.Restore(s.AppliedIndex(), mustSnapshot(t, s)); err != nil {
		t.Fatalf("own image rejected: %v", err)
	}
	sameState(t, s, r)
}

func FuzzApply(f *testing.F) {
	p, _ := EncodePut("p.01", []byte("v"), WriteOptions{RequestID: "id1"})
	f.Add(p)
	p, _ = EncodePut("new.key", []byte("v"), WriteOptions{RequestID: "n", HasExpectedRevision: true, LeaderTimeUnixMs: 1_000_000})
	f.Add(p)
	p, _ = EncodeDelete("p.02", WriteOptions{HasExpectedRevision: true, ExpectedRevision: 9})
	f.Add(p)
	f.Add([]byte{})
	f.Add([]byte("\x08\x07\x12\x01a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := fuzzBase(t)
		idx := s.AppliedIndex() + 1
		// The store keeps no byte of the entry: the first apply's buffer
		// is written over once Apply returns, and the retry must still be
		// recognized and the state equal a store's that was spared this.
		own := bytes.Clone(data)
		out1 := s.Apply(idx, own)
		for i := range own {
			own[i] ^= 0xff
		}
		out2 := s.Apply(idx+1, data)
		if len(data) == 0 {
			if out1 != nil || out2 != nil {
				t.Fatal("an empty entry returned a result")
			}
		} else {
			r1, err1 := DecodeResult(out1)
			r2, err2 := DecodeResult(out2)
			if err1 != nil || err2 != nil {
				t.Fatalf("results do not decode: %v, %v", err1, err2)
			}
			// idx itself, or an earlier write's revision for a dedupe hit.
			if r1.Status == statusOK && (r1.Revision == 0 || r1.Revision > idx) {
				t.Fatalf("OK result with revision %d at index %d", r1.Revision, idx)
			}
			// The same command again with a request id is a dedupe hit.
			if cmd, err := DecodeCommand(data); err == nil && cmd.RequestId != "" && len(cmd.RequestId) <= MaxRequestIDBytes {
				if !proto.Equal(r1, r2) {
					t.Fatalf("retry result %v differs from original %v", r2, r1)
				}
			}
		}
		if s.AppliedIndex() != idx+1 || s.Revision() > idx+1 {
			t.Fatalf("applied %d revision %d", s.AppliedIndex(), s.Revision())
		}
		checkRoundTrip(t, s)
		ref := fuzzBase(t)
		ref.Apply(idx, data)
		ref.Apply(idx+1, data)
		sameState(t, s, ref)
	})
}

func FuzzRestore(f *testing.F) {
	base := fuzzBase(f)
	img := mustSnapshot(f, base)
	f.Add(base.AppliedIndex(), img)
	f.Add(uint64(0), mustSnapshot(f, New(Options{})))
	f.Add(uint64(5), img[:len(img)/2])
	f.Add(uint64(1), []byte("\x08\x01\x10\x01"))
	f.Fuzz(func(t *testing.T, index uint64, data []byte) {
		s := fuzzBase(t)
		before, hash := mustSnapshot(t, s), s.Hash()
		if err := s.Restore(index, data); err != nil {
			if !bytes.Equal(before, mustSnapshot(t, s)) || hash != s.Hash() || s.AppliedIndex() != 22 {
				t.Fatalf("failed Restore (%v) changed the state", err)
			}
			return
		}
		if s.AppliedIndex() != index {
			t.Fatalf("applied %d after Restore at %d", s.AppliedIndex(), index)
		}
		checkRoundTrip(t, s)
		// A restored store goes on applying without trouble.
		if index < ^uint64(0) {
			p, _ := EncodePut("after.restore", []byte("v"), WriteOptions{RequestID: "id1"})
			s.Apply(index+1, p)
			checkRoundTrip(t, s)
		}
	})
}
