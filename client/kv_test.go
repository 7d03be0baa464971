// This file tests the key-value calls end to end against the fake cluster:
// put/get/delete, compare-and-swap, paging, stale reads, propose and the
// local key checks.
package client

import (
	"context"
	"errors"
	"testing"
	"time"
)

func newTestClient(t *testing.T, opts Options) (*Client, *fakeCluster) {
	t.Helper()
	s := startNATS(t)
	fc := newFakeCluster(t, connect(t, s), 1, 1, 2, 3)
	opts.Cluster = testCluster
	return New(connect(t, s), opts), fc
}

func TestPutGetDelete(t *testing.T) {
	c, _ := newTestClient(t, Options{})
	ctx := context.Background()
	rev, err := c.Put(ctx, "a.b", []byte("v1"))
	if err != nil || rev != 1 {
		t.Fatalf("put: rev %d err %v", rev, err)
	}
	val, got, err := c.Get(ctx, "a.b")
	if err != nil || string(val) != "v1" || got != 1 {
		t.Fatalf("get: %q rev %d err %v", val, got, err)
	}
	if _, err := c.Put(ctx, "empty", nil); err != nil {
		t.Fatal(err)
	}
	if val, _, err := c.Get(ctx, "empty"); err != nil || len(val) != 0 {
		t.Fatalf("empty value: %q %v", val, err)
	}
	drev, err := c.Delete(ctx, "a.b")
	if err != nil || drev != 3 {
		t.Fatalf("delete: rev %d err %v", drev, err)
	}
	if _, _, err := c.Get(ctx, "a.b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := c.Delete(ctx, "a.b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete missing: %v", err)
	}
}

func TestCompareAndSwap(t *testing.T) {
	c, fc := newTestClient(t, Options{NoBatching: true}) // the kv.put header; batched: TestBatchedWritesKeepTheirOptionsAndErrors
	ctx := context.Background()
	rev, err := c.Put(ctx, "k", []byte("1"), WithExpectedRevision(0))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Put(ctx, "k", []byte("2"), WithExpectedRevision(0))
	var ce *ConflictError
	if !errors.Is(err, ErrConflict) || !errors.As(err, &ce) || ce.Revision != rev {
		t.Fatalf("want conflict at revision %d, got %v", rev, err)
	}
	if _, err := c.Put(ctx, "k", []byte("2"), WithExpectedRevision(rev)); err != nil {
		t.Fatal(err)
	}
	last := fc.requests()[len(fc.requests())-1]
	if last.header.Get(HeaderExpectedRevision) != "1" {
		t.Fatalf("expected-revision header %q", last.header.Get(HeaderExpectedRevision))
	}
	if _, err := c.Delete(ctx, "k", WithExpectedRevision(1)); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete CAS: %v", err)
	}
}

func TestRequestIDOption(t *testing.T) {
	c, fc := newTestClient(t, Options{})
	ctx := context.Background()
	r1, err := c.Put(ctx, "k", []byte("1"), WithRequestID("same"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.Put(ctx, "k", []byte("1"), WithRequestID("same"))
	if err != nil || r1 != r2 {
		t.Fatalf("same request id applied twice: %d %d %v", r1, r2, err)
	}
	for _, r := range fc.requests() {
		if r.requestID != "same" {
			t.Fatalf("request id %q", r.requestID)
		}
	}
	// Without the option every call gets its own id.
	if _, err := c.Put(ctx, "k", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "k", []byte("3")); err != nil {
		t.Fatal(err)
	}
	rs := fc.requests()
	a, b := rs[len(rs)-2].requestID, rs[len(rs)-1].requestID
	if a == "" || a == b {
		t.Fatalf("request ids %q %q", a, b)
	}
}

func TestListPaging(t *testing.T) {
	c, fc := newTestClient(t, Options{})
	ctx := context.Background()
	for _, k := range []string{"a.1", "a.2", "a.3", "b.1"} {
		if _, err := c.Put(ctx, k, []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	items, rev, more, err := c.List(ctx, "a.", Limit(2))
	if err != nil || len(items) != 2 || !more || rev != 4 {
		t.Fatalf("page 1: %+v rev %d more %v err %v", items, rev, more, err)
	}
	if items[0].Key != "a.1" || string(items[0].Value) != "va.1" || items[0].Revision != 1 {
		t.Fatalf("item %+v", items[0])
	}
	items, _, more, err = c.List(ctx, "a.", Limit(2), After(items[1].Key), WithConsistency(Stale))
	if err != nil || len(items) != 1 || more || items[0].Key != "a.3" {
		t.Fatalf("page 2: %+v more %v err %v", items, more, err)
	}
	last := fc.requests()[len(fc.requests())-1]
	if last.header.Get(HeaderConsistency) != "stale" || last.endpoint != "kv.list" {
		t.Fatalf("list request %+v", last)
	}
}

func TestPropose(t *testing.T) {
	c, fc := newTestClient(t, Options{})
	out, err := c.Propose(context.Background(), []byte("cmd"))
	if err != nil || string(out) != "ok:cmd" {
		t.Fatalf("propose: %q %v", out, err)
	}
	if r := fc.requests()[0]; r.endpoint != "propose" || r.requestID == "" {
		t.Fatalf("propose request %+v", r)
	}
}

func TestLocalValidation(t *testing.T) {
	c, fc := newTestClient(t, Options{})
	ctx := context.Background()
	for _, key := range []string{"", "a..b", ".a", "a.", "a b", "a.*", "a.>", string(make([]byte, MaxKeyLen+1))} {
		if _, err := c.Put(ctx, key, nil); !errors.Is(err, ErrBadRequest) {
			t.Errorf("put %q: %v", key, err)
		}
	}
	if _, _, _, err := c.List(ctx, "a..", Limit(1)); !errors.Is(err, ErrBadRequest) {
		t.Errorf("list bad prefix: %v", err)
	}
	if _, _, err := c.Get(ctx, "a", WithConsistency("sometimes")); !errors.Is(err, ErrBadRequest) {
		t.Errorf("bad consistency: %v", err)
	}
	big := make([]byte, c.maxValue()+1)
	if _, err := c.Put(ctx, "a", big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("big value: %v", err)
	}
	if n := len(fc.requests()); n != 0 {
		t.Errorf("%d invalid requests reached the cluster", n)
	}
	for _, key := range []string{"a", "a.b-c/d_e=f.G9"} {
		if err := ValidateKey(key); err != nil {
			t.Errorf("valid key %q: %v", key, err)
		}
	}
}

func TestProposeRetriesOnlyWhenTheCommandWasNotProposed(t *testing.T) {
	c, fc := newTestClient(t, Options{Backoff: time.Millisecond})
	ctx := context.Background()
	// 503 and 429 mean "not proposed": retried until it goes through.
	fc.failNext(fakeFailure{code: 503}, fakeFailure{code: 429})
	if out, err := c.Propose(ctx, []byte("a")); err != nil || string(out) != "ok:a" {
		t.Fatalf("propose after 503, 429: %q %v", out, err)
	}
	if n := len(fc.requests()); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
	// 504: the command may have been applied; a state machine we know
	// nothing of cannot drop a duplicate, so the caller decides.
	fc.failNext(fakeFailure{code: 504})
	if _, err := c.Propose(ctx, []byte("b")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("propose after 504: %v, want ErrTimeout", err)
	}
	if n := len(fc.requests()); n != 4 {
		t.Fatalf("a 504 was retried: %d attempts in all, want 4", n)
	}
}
