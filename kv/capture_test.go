// capture_test.go covers CaptureSnapshot and the image encoder: an image
// encoded after further applies is the image of the captured state, and the
// encoder writes the bytes proto.Marshal would.

package kv

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kontiki-raft/kontiki/messages"
)

// referenceImage is the image built the way Snapshot built it before the
// capture and the encoder: a whole KVSnapshot message from the live state,
// marshaled deterministically.
func referenceImage(t testing.TB, s *Store) []byte {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	snap := &messages.KVSnapshot{FormatVersion: SnapshotFormatVersion, Revision: s.revision, CompactedRevision: s.history.compacted}
	s.data.each(func(r *record) { snap.Items = append(snap.Items, r.item().Proto()) })
	var dedupe []*dedupeEntry
	s.dedupe.table.each(func(e *dedupeEntry) { dedupe = append(dedupe, e) })
	sort.Slice(dedupe, func(i, j int) bool { return dedupe[i].index < dedupe[j].index })
	for _, e := range dedupe {
		snap.Dedupe = append(snap.Dedupe, &messages.KVDedupe{RequestId: e.id, Result: e.result.proto(), Index: e.index, LeaderTimeUnixMs: e.timeMs})
	}
	for i := range s.history.n {
		snap.History = append(snap.History, s.history.at(i).Proto())
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// churn applies n random commands from index from on: puts (some empty,
// some large), deletes, conflicting CAS, undecodable entries, empty
// entries, retries, request ids, and leader times (some negative).
func churn(t testing.TB, s *Store, rng *rand.Rand, from uint64, n int) uint64 {
	t.Helper()
	idx := from
	for range n {
		idx++
		key := fmt.Sprintf("c.%03d", rng.IntN(60))
		opts := WriteOptions{LeaderTimeUnixMs: int64(rng.IntN(5000)) - 100}
		if rng.IntN(3) > 0 {
			opts.RequestID = fmt.Sprint("r", rng.IntN(400))
		}
		switch k := rng.IntN(20); {
		case k < 10:
			put(t, s, idx, key, string(bytes.Repeat([]byte{'v'}, rng.IntN(3)*rng.IntN(300))), opts)
		case k < 14:
			del(t, s, idx, key, opts)
		case k < 16:
			opts.HasExpectedRevision, opts.ExpectedRevision = true, uint64(rng.IntN(int(idx)))
			put(t, s, idx, key, "cas", opts)
		case k < 17:
			s.Apply(idx, []byte{0xff, 0xff}) // undecodable: a BAD_REQUEST
		case k < 18:
			s.Apply(idx, rawCmd(t, &messages.KVCommand{Op: 7, Key: key, RequestId: opts.RequestID}))
		default:
			s.Apply(idx, nil)
		}
	}
	return idx
}

func TestEncodeImageMatchesProtoMarshal(t *testing.T) {
	check := func(name string, s *Store) {
		t.Helper()
		if got, want := mustSnapshot(t, s), referenceImage(t, s); !bytes.Equal(got, want) {
			t.Fatalf("%s: image (%d bytes) differs from proto.Marshal (%d bytes)", name, len(got), len(want))
		}
	}
	check("empty", New(Options{}))
	check("populated", populated(t))
	rng := rand.New(rand.NewPCG(7, 7))
	for _, opts := range []Options{{}, {HistorySize: 16, DedupeMaxEntries: 50, DedupeWindow: 300, DedupeTTL: 2000_000_000}} {
		s := New(opts)
		idx := uint64(0)
		for round := range 10 {
			idx = churn(t, s, rng, idx, 150)
			check(fmt.Sprint("churn round ", round), s)
		}
		r := New(opts)
		if err := r.Restore(idx, mustSnapshot(t, s)); err != nil {
			t.Fatal(err)
		}
		check("restored", r)
	}
}

func TestCaptureEncodedLaterIsTheStateAtCapture(t *testing.T) {
	opts := Options{HistorySize: 32, DedupeMaxEntries: 100, DedupeWindow: 500}
	s := New(opts)
	rng := rand.New(rand.NewPCG(3, 9))
	at := churn(t, s, rng, 0, 700)
	wantHash, wantImage := s.Hash(), referenceImage(t, s)
	encode, err := s.CaptureSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite, delete and create keys, roll the history and the dedupe
	// table over, then restore an older state: none of it may reach the
	// capture.
	churn(t, s, rng, at, 1500)
	if s.Hash() == wantHash {
		t.Fatal("the churn did not change the state")
	}
	img, err := encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img, wantImage) {
		t.Fatal("an image encoded after further applies differs from the image at the capture")
	}
	if err := s.Restore(at, wantImage); err != nil {
		t.Fatal(err)
	}
	churn(t, s, rng, at, 10)
	if again, _ := encode(); !bytes.Equal(again, wantImage) {
		t.Fatal("a second encoding after a Restore differs")
	}
	r := New(opts)
	if err := r.Restore(at, img); err != nil {
		t.Fatal(err)
	}
	if r.Hash() != wantHash || r.AppliedIndex() != at || !bytes.Equal(mustSnapshot(t, r), wantImage) {
		t.Fatalf("restored capture: hash equal %v, applied %d (want %d)", r.Hash() == wantHash, r.AppliedIndex(), at)
	}
}

// TestEncodeWhileApplying encodes captures on other goroutines while Apply
// goes on, so -race checks that a capture shares nothing Apply writes.
func TestEncodeWhileApplying(t *testing.T) {
	s := New(Options{HistorySize: 64, DedupeMaxEntries: 64})
	rng := rand.New(rand.NewPCG(5, 5))
	idx := churn(t, s, rng, 0, 200)
	var wg sync.WaitGroup
	for range 5 {
		want := mustSnapshot(t, s)
		encode, err := s.CaptureSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := encode(); err != nil || !bytes.Equal(got, want) {
				t.Errorf("concurrent encode: %v, equal %v", err, bytes.Equal(got, want))
			}
		}()
		idx = churn(t, s, rng, idx, 300)
	}
	wg.Wait()
}

// TestImageBytesAreStable pins the images of a fixed command stream to the
// digests that the encoder before the single-pass one (commit a252dac)
// gave: the image format is replicated state, so an encoder change must
// not change a byte. The stream has every kind of command churn makes, and
// limits that roll the history and the request-id table over.
func TestImageBytesAreStable(t *testing.T) {
	want := []string{
		"19138886bea25dd764367340c8c3c89768d57574649316704e07f5b926ceb332",
		"962e2cfa9374bf1d8b90fe94f291489e802d3b0c117a6ea4c7ecb280b8e183d9",
		"a8f248707c3a36a7fbc9173083749b99790c464f43e23e1aa600f1998ec19dea",
	}
	opts := Options{HistorySize: 64, DedupeMaxEntries: 200, DedupeWindow: 700, DedupeTTL: 2 * time.Second}
	s := New(opts)
	rng := rand.New(rand.NewPCG(11, 13))
	var idx uint64
	for _, w := range want {
		idx = churn(t, s, rng, idx, 1000)
		if got := fmt.Sprintf("%x", sha256.Sum256(mustSnapshot(t, s))); got != w {
			t.Errorf("image after %d commands: sha256 %s, want %s", idx, got, w)
		}
	}
}
