// apply_test.go covers the write path: put, get, delete, list, CAS, bad
// commands and the applied-index bookkeeping.

package kv

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kontiki-raft/kontiki/messages"
)

const (
	statusOK  = messages.KVStatus_KV_STATUS_OK
	notFound  = messages.KVStatus_KV_STATUS_NOT_FOUND
	conflict  = messages.KVStatus_KV_STATUS_CONFLICT
	statusBad = messages.KVStatus_KV_STATUS_BAD_REQUEST
)

func TestPutGetDelete(t *testing.T) {
	s := New(Options{})
	wantStatus(t, put(t, s, 1, "a", "v1", WriteOptions{}), statusOK, 1)
	wantStatus(t, put(t, s, 2, "a", "v2", WriteOptions{}), statusOK, 2)
	it, found := s.Get("a")
	if !found || string(it.Value) != "v2" || it.CreateRevision != 1 || it.ModRevision != 2 {
		t.Fatalf("Get(a) = %+v, %v", it, found)
	}
	if _, found := s.Get("b"); found {
		t.Fatal("Get(b) found a missing key")
	}
	wantStatus(t, del(t, s, 3, "a", WriteOptions{}), statusOK, 3)
	if _, found := s.Get("a"); found {
		t.Fatal("Get(a) after delete")
	}
	// Recreating a key starts a new create revision.
	wantStatus(t, put(t, s, 4, "a", "v3", WriteOptions{}), statusOK, 4)
	if it, _ := s.Get("a"); it.CreateRevision != 4 || it.ModRevision != 4 {
		t.Fatalf("recreated: %+v", it)
	}
	if s.Revision() != 4 || s.AppliedIndex() != 4 || s.Len() != 1 {
		t.Fatalf("revision %d applied %d len %d", s.Revision(), s.AppliedIndex(), s.Len())
	}
}

func TestDeleteMissingIsNotFound(t *testing.T) {
	s := New(Options{})
	res := del(t, s, 1, "nope", WriteOptions{})
	wantStatus(t, res, notFound, 0)
	if res.Error == "" {
		t.Error("NOT_FOUND without an error text")
	}
	if s.Revision() != 0 || s.AppliedIndex() != 1 {
		t.Fatalf("revision %d applied %d: a failed write must not move the revision", s.Revision(), s.AppliedIndex())
	}
}

func TestCAS(t *testing.T) {
	s := New(Options{})
	create := WriteOptions{HasExpectedRevision: true, ExpectedRevision: 0}
	wantStatus(t, put(t, s, 1, "k", "a", create), statusOK, 1)
	// Create-only on an existing key: conflict carrying its current revision.
	wantStatus(t, put(t, s, 2, "k", "b", create), conflict, 1)
	wantStatus(t, put(t, s, 3, "k", "b", WriteOptions{HasExpectedRevision: true, ExpectedRevision: 7}), conflict, 1)
	wantStatus(t, put(t, s, 4, "k", "b", WriteOptions{HasExpectedRevision: true, ExpectedRevision: 1}), statusOK, 4)
	// ExpectedRevision without HasExpectedRevision is no condition.
	wantStatus(t, put(t, s, 5, "k", "c", WriteOptions{ExpectedRevision: 99}), statusOK, 5)
	// Conditional delete.
	wantStatus(t, del(t, s, 6, "k", WriteOptions{HasExpectedRevision: true, ExpectedRevision: 4}), conflict, 5)
	wantStatus(t, del(t, s, 7, "k", WriteOptions{HasExpectedRevision: true, ExpectedRevision: 5}), statusOK, 7)
	// On a missing key: a non-zero expectation conflicts with revision 0;
	// expectation 0 passes, and there is nothing to delete.
	wantStatus(t, put(t, s, 8, "k", "d", WriteOptions{HasExpectedRevision: true, ExpectedRevision: 5}), conflict, 0)
	wantStatus(t, del(t, s, 9, "k", WriteOptions{HasExpectedRevision: true, ExpectedRevision: 5}), conflict, 0)
	wantStatus(t, del(t, s, 10, "k", create), notFound, 0)
	if it, found := s.Get("k"); found {
		t.Fatalf("k = %+v after failed writes", it)
	}
	if s.Revision() != 7 || s.AppliedIndex() != 10 {
		t.Fatalf("revision %d applied %d", s.Revision(), s.AppliedIndex())
	}
}

func TestListOrderAndPagination(t *testing.T) {
	s := New(Options{})
	keys := []string{"b.2", "a.k2", "a.k10", "a", "a.k1", "ab", "a.k1.x", "c"}
	for i, k := range keys {
		put(t, s, uint64(i+1), k, "v"+k, WriteOptions{})
	}
	items, more, rev := s.List("", "", 0)
	want := slices.Sorted(slices.Values(keys))
	if !slices.Equal(keysOf(items), want) || more || rev != uint64(len(keys)) {
		t.Fatalf("List all = %v more=%v rev=%d", keysOf(items), more, rev)
	}
	// Plain string prefix: "a." matches a.k1, a.k1.x, a.k10, a.k2 but not a or ab.
	var got []string
	after := ""
	for {
		page, more, _ := s.List("a.", after, 3)
		got = append(got, keysOf(page)...)
		if !more {
			break
		}
		if len(page) != 3 {
			t.Fatalf("a full page has %d items", len(page))
		}
		after = page[len(page)-1].Key
	}
	if w := []string{"a.k1", "a.k1.x", "a.k10", "a.k2"}; !slices.Equal(got, w) {
		t.Fatalf("paged List(a.) = %v, want %v", got, w)
	}
	// A page that ends exactly at the last match reports no more.
	if page, more, _ := s.List("a.", "a.k1.x", 2); !slices.Equal(keysOf(page), []string{"a.k10", "a.k2"}) || more {
		t.Fatalf("last page = %v more=%v", keysOf(page), more)
	}
	// after beyond the prefix range, and a prefix with no keys.
	if page, _, _ := s.List("a.", "b", 0); len(page) != 0 {
		t.Fatalf("after beyond prefix = %v", keysOf(page))
	}
	if page, _, _ := s.List("zz", "", 0); len(page) != 0 {
		t.Fatalf("List(zz) = %v", keysOf(page))
	}
	if it := items[0]; string(it.Value) != "va" || it.Proto().Key != "a" {
		t.Fatalf("item = %+v", it)
	}
}

func TestBadCommands(t *testing.T) {
	for name, data := range map[string][]byte{
		"garbage":        []byte("\xff\xff\xff\xff"),
		"truncated":      {0x12, 0x05, 'a'},
		"empty key":      rawCmd(t, &messages.KVCommand{Value: []byte("v")}),
		"bad key":        rawCmd(t, &messages.KVCommand{Key: "a..b"}),
		"long key":       rawCmd(t, &messages.KVCommand{Key: strings.Repeat("x", MaxKeyBytes+1)}),
		"wildcard key":   rawCmd(t, &messages.KVCommand{Key: "a.*"}),
		"unknown op":     rawCmd(t, &messages.KVCommand{Op: 7, Key: "a"}),
		"long request":   rawCmd(t, &messages.KVCommand{Key: "a", RequestId: strings.Repeat("r", MaxRequestIDBytes+1)}),
		"not utf-8 key":  {0x12, 0x02, 0xc3, 0x28},
		"wrong wiretype": {0x08 | 0x02, 0x01, 0x00},
	} {
		t.Run(name, func(t *testing.T) {
			s := New(Options{})
			put(t, s, 1, "keep", "v", WriteOptions{})
			before := mustSnapshot(t, s)
			res := applyCmd(t, s, 2, data)
			wantStatus(t, res, statusBad, 0)
			if res.Error == "" {
				t.Fatal("BAD_REQUEST without an error text")
			}
			t.Logf("error: %s", res.Error)
			if s.AppliedIndex() != 2 || s.Revision() != 1 {
				t.Fatalf("applied %d revision %d", s.AppliedIndex(), s.Revision())
			}
			if string(before) != string(mustSnapshot(t, s)) {
				t.Fatal("a bad command changed the state")
			}
		})
	}
}

func TestEmptyEntryAndReplay(t *testing.T) {
	s := New(Options{})
	put(t, s, 1, "a", "v", WriteOptions{})
	// A new leader's no-op entry: applied index moves, no write, no result.
	if out := s.Apply(2, nil); out != nil {
		t.Fatalf("Apply(nil) = %x", out)
	}
	if out := s.Apply(3, []byte{}); out != nil {
		t.Fatalf("Apply(empty) = %x", out)
	}
	if s.AppliedIndex() != 3 || s.Revision() != 1 {
		t.Fatalf("applied %d revision %d", s.AppliedIndex(), s.Revision())
	}
	// Gaps are fine (conf-change entries never reach the store).
	wantStatus(t, put(t, s, 7, "b", "v", WriteOptions{}), statusOK, 7)
	// A replayed index changes nothing.
	before := mustSnapshot(t, s)
	wantStatus(t, put(t, s, 7, "c", "v", WriteOptions{}), statusBad, 0)
	wantStatus(t, put(t, s, 5, "c", "v", WriteOptions{}), statusBad, 0)
	if string(before) != string(mustSnapshot(t, s)) || s.AppliedIndex() != 7 {
		t.Fatal("a replayed index changed the state")
	}
}

// TestStoreKeepsNoBytesOfTheEntry: Apply decodes an entry without copying
// it and copies what it keeps (a value, a new key, a request id), so
// writing over the entry's buffer once Apply returns changes nothing: the
// store stays equal to one that applied the same entries left intact, in
// its data, history and request-id table.
func TestStoreKeepsNoBytesOfTheEntry(t *testing.T) {
	a, b := New(Options{}), New(Options{})
	var idx uint64
	var retries [][]byte
	apply := func(cmd []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		idx++
		own := bytes.Clone(cmd)
		ra := a.Apply(idx, own)
		for i := range own {
			own[i] = 'X'
		}
		if rb := b.Apply(idx, cmd); !bytes.Equal(ra, rb) {
			t.Fatalf("index %d: results differ", idx)
		}
		if c, _ := DecodeCommand(cmd); c.RequestId != "" {
			retries = append(retries, cmd)
		}
	}
	apply(EncodePut("a", []byte("value"), WriteOptions{}))
	apply(EncodePut("b.new", []byte("v1"), WriteOptions{RequestID: "req-1", LeaderTimeUnixMs: 5}))
	apply(EncodePut("b.new", []byte("v2"), WriteOptions{RequestID: "req-2"})) // edited in place
	for _, s := range []*Store{a, b} {
		if _, err := s.CaptureSnapshot(); err != nil {
			t.Fatal(err)
		}
	}
	apply(EncodePut("b.new", []byte("v3"), WriteOptions{RequestID: "req-3"})) // a new record
	apply(EncodeDelete("a", WriteOptions{RequestID: "req-4"}))
	apply(EncodePut("a", nil, WriteOptions{RequestID: "req-5"}))
	apply(EncodePut("c", []byte("cas"), WriteOptions{RequestID: "req-6", HasExpectedRevision: true, ExpectedRevision: 3})) // a conflict
	apply(EncodeDelete("c", WriteOptions{RequestID: "req-7"}))                                                             // not found
	apply(EncodePut("c", []byte("new"), WriteOptions{RequestID: "req-8", HasExpectedRevision: true}))                      // create-only
	sameState(t, a, b)
	if it, _ := a.Get("b.new"); string(it.Value) != "v3" {
		t.Fatalf("b.new = %q", it.Value)
	}
	// Every retry is a dedupe hit with the original outcome on both.
	for _, cmd := range retries {
		idx++
		if ra, rb := a.Apply(idx, bytes.Clone(cmd)), b.Apply(idx, cmd); !bytes.Equal(ra, rb) {
			t.Fatalf("retry at %d: results differ", idx)
		}
	}
	sameState(t, a, b)
	if a.Revision() != 9 {
		t.Fatalf("revision %d after the retries, want 9", a.Revision())
	}
}

// TestResultMarshalMatchesProto: result.marshal writes the bytes
// proto.Marshal gives for the same KVResult.
func TestResultMarshalMatchesProto(t *testing.T) {
	statuses := []messages.KVStatus{statusOK, notFound, conflict, statusBad, 4, 127, 128, -1, math.MinInt32, math.MaxInt32}
	revisions := []uint64{0, 1, 127, 128, 1 << 35, math.MaxUint64}
	errs := []string{"", "x", "key \"a\" not found", strings.Repeat("long ", 40), "caf\u00e9 \U0001F600"}
	for _, st := range statuses {
		for _, rev := range revisions {
			for _, e := range errs {
				r := result{status: st, revision: rev, err: e}
				want, err := proto.Marshal(r.proto())
				if err != nil {
					t.Fatal(err)
				}
				if got := r.marshal(); !bytes.Equal(got, want) || (got == nil) != (want == nil) {
					t.Fatalf("%+v: marshal = %x, proto.Marshal = %x", r, got, want)
				}
			}
		}
	}
}
