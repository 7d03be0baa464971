// snapshot_test.go covers Snapshot/Restore: determinism, round trips, and
// the rejection of bad images with the state left unchanged.

package kv

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kontiki-raft/kontiki/messages"
)

// populated returns a store with items, deletes, dedupe entries and history.
func populated(t testing.TB) *Store {
	s := New(Options{HistorySize: 8})
	idx := uint64(0)
	for i := range 20 {
		idx++
		put(t, s, idx, fmt.Sprintf("p.%02d", (i*7)%13), fmt.Sprint("v", i), WriteOptions{RequestID: fmt.Sprint("id", i), LeaderTimeUnixMs: int64(1000 + i)})
	}
	idx++
	del(t, s, idx, "p.03", WriteOptions{})
	idx++
	s.Apply(idx, nil)
	return s
}

func TestSnapshotRoundTripIsDeterministic(t *testing.T) {
	s := populated(t)
	img := mustSnapshot(t, s)
	if again := mustSnapshot(t, s); !bytes.Equal(img, again) {
		t.Fatal("two snapshots of one state differ")
	}
	// The same state built by another insertion order gives the same bytes.
	r := New(Options{HistorySize: 8})
	if err := r.Restore(s.AppliedIndex(), img); err != nil {
		t.Fatal(err)
	}
	sameState(t, s, r)
	idx, img2, err := r.SnapshotAt()
	if err != nil || idx != s.AppliedIndex() || !bytes.Equal(img, img2) {
		t.Fatalf("SnapshotAt = %d, equal=%v, %v", idx, bytes.Equal(img, img2), err)
	}
	// Both keep going identically.
	for _, st := range []*Store{s, r} {
		put(t, st, 100, "p.03", "back", WriteOptions{RequestID: "id3"}) // dedupe hit
		put(t, st, 101, "q", "new", WriteOptions{})
	}
	sameState(t, s, r)
	// Empty data at index 0 is the empty state (the actors' contract); at
	// any other index it is an error.
	if err := r.Restore(0, nil); err != nil || r.Len() != 0 || r.AppliedIndex() != 0 || r.Revision() != 0 {
		t.Fatalf("Restore(0, nil) = %v, len %d applied %d", err, r.Len(), r.AppliedIndex())
	}
	sameState(t, r, New(Options{HistorySize: 8}))
	if err := r.Restore(5, nil); err == nil {
		t.Fatal("Restore(5, nil) accepted")
	}
	// An empty store round-trips too.
	e := New(Options{})
	if err := e.Restore(0, mustSnapshot(t, New(Options{}))); err != nil {
		t.Fatal(err)
	}
}

func TestHash(t *testing.T) {
	a, b := New(Options{}), New(Options{})
	put(t, a, 1, "x", "1", WriteOptions{})
	put(t, a, 2, "y", "2", WriteOptions{})
	put(t, b, 1, "x", "1", WriteOptions{})
	put(t, b, 2, "y", "2", WriteOptions{})
	if a.Hash() != b.Hash() {
		t.Fatal("same data, different Hash")
	}
	put(t, b, 3, "y", "2", WriteOptions{}) // same value, new mod revision
	if a.Hash() == b.Hash() {
		t.Fatal("different revisions, same Hash")
	}
	c, d := New(Options{}), New(Options{})
	put(t, c, 1, "ab", "c", WriteOptions{})
	put(t, d, 1, "a", "bc", WriteOptions{})
	if c.Hash() == d.Hash() {
		t.Fatal("key/value boundary not in the Hash")
	}
}

// imageWith returns the populated store's image after edit.
func imageWith(t *testing.T, edit func(*messages.KVSnapshot)) []byte {
	s := populated(t)
	snap := &messages.KVSnapshot{}
	if err := proto.Unmarshal(mustSnapshot(t, s), snap); err != nil {
		t.Fatal(err)
	}
	edit(snap)
	b, err := proto.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRestoreRejectsBadImages(t *testing.T) {
	const at = 22 // populated's applied index
	cases := map[string][]byte{
		"empty":           {},
		"garbage":         []byte("this is not a snapshot"),
		"truncated":       mustSnapshot(t, populated(t))[:40],
		"unknown version": imageWith(t, func(s *messages.KVSnapshot) { s.FormatVersion = 2 }),
		"no version":      imageWith(t, func(s *messages.KVSnapshot) { s.FormatVersion = 0 }),
		"revision > index": imageWith(t, func(s *messages.KVSnapshot) {
			s.Revision = at + 1
		}),
		"compacted > revision": imageWith(t, func(s *messages.KVSnapshot) { s.CompactedRevision = s.Revision + 1 }),
		"unsorted items": imageWith(t, func(s *messages.KVSnapshot) {
			s.Items[0], s.Items[1] = s.Items[1], s.Items[0]
		}),
		"duplicate item": imageWith(t, func(s *messages.KVSnapshot) { s.Items[1].Key = s.Items[0].Key }),
		"bad item key":   imageWith(t, func(s *messages.KVSnapshot) { s.Items[0].Key = "a..b" }),
		"zero create":    imageWith(t, func(s *messages.KVSnapshot) { s.Items[0].CreateRevision = 0 }),
		"create > mod": imageWith(t, func(s *messages.KVSnapshot) {
			s.Items[0].CreateRevision = s.Items[0].ModRevision + 1
		}),
		"mod > revision":  imageWith(t, func(s *messages.KVSnapshot) { s.Items[0].ModRevision = s.Revision + 1 }),
		"dedupe no id":    imageWith(t, func(s *messages.KVSnapshot) { s.Dedupe[0].RequestId = "" }),
		"dedupe dup id":   imageWith(t, func(s *messages.KVSnapshot) { s.Dedupe[1].RequestId = s.Dedupe[0].RequestId }),
		"dedupe long id":  imageWith(t, func(s *messages.KVSnapshot) { s.Dedupe[0].RequestId = strings.Repeat("i", 300) }),
		"dedupe index 0":  imageWith(t, func(s *messages.KVSnapshot) { s.Dedupe[0].Index = 0 }),
		"dedupe > index":  imageWith(t, func(s *messages.KVSnapshot) { s.Dedupe[len(s.Dedupe)-1].Index = at + 1 }),
		"dedupe unsorted": imageWith(t, func(s *messages.KVSnapshot) { s.Dedupe[0], s.Dedupe[1] = s.Dedupe[1], s.Dedupe[0] }),
		"dedupe no result": imageWith(t, func(s *messages.KVSnapshot) {
			s.Dedupe[0].Result = nil
		}),
		"dedupe bad status": imageWith(t, func(s *messages.KVSnapshot) { s.Dedupe[0].Result.Status = 9 }),
		"history unsorted": imageWith(t, func(s *messages.KVSnapshot) {
			s.History[0], s.History[1] = s.History[1], s.History[0]
		}),
		"history at compacted": imageWith(t, func(s *messages.KVSnapshot) { s.History[0].Revision = s.CompactedRevision }),
		"history short":        imageWith(t, func(s *messages.KVSnapshot) { s.History = s.History[:len(s.History)-1] }),
		"history none":         imageWith(t, func(s *messages.KVSnapshot) { s.History = nil }),
		"history bad key":      imageWith(t, func(s *messages.KVSnapshot) { s.History[0].Key = "" }),
		"history bad op":       imageWith(t, func(s *messages.KVSnapshot) { s.History[0].Op = 5 }),
		"delete with value": imageWith(t, func(s *messages.KVSnapshot) {
			s.History[len(s.History)-1].Value = []byte("x") // populated's last write is a delete
		}),
	}
	for name, img := range cases {
		t.Run(name, func(t *testing.T) {
			s := New(Options{})
			put(t, s, 1, "mine", "v", WriteOptions{RequestID: "r"})
			before, hash := mustSnapshot(t, s), s.Hash()
			err := s.Restore(at, img)
			if err == nil {
				t.Fatal("Restore accepted a bad image")
			}
			t.Logf("error: %v", err)
			if !bytes.Equal(before, mustSnapshot(t, s)) || hash != s.Hash() || s.AppliedIndex() != 1 {
				t.Fatal("a failed Restore changed the state")
			}
		})
	}
	// The unedited image is accepted, so each case fails for its edit.
	if err := New(Options{}).Restore(at, imageWith(t, func(*messages.KVSnapshot) {})); err != nil {
		t.Fatalf("control image rejected: %v", err)
	}
}
