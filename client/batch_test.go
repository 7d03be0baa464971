package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// learnLeader makes c know the fake's leader (the first write goes through
// the queue group and reads Kontiki-Leader).
func learnLeader(t *testing.T, c *Client) {
	t.Helper()
	if _, err := c.Put(context.Background(), "warm", []byte("up")); err != nil {
		t.Fatal(err)
	}
	if c.Leader() == 0 {
		t.Fatal("no leader learned")
	}
}

func TestConcurrentWritesShareABatch(t *testing.T) {
	c, fc := newTestClient(t, Options{})
	learnLeader(t, c)
	fc.gate = make(chan struct{})
	const writers = 64
	var wg sync.WaitGroup
	revs := make([]uint64, writers)
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			revs[i], errs[i] = c.Put(context.Background(), fmt.Sprintf("k.%d", i), []byte("v"))
		}()
	}
	// Every write is in a held flight or queued, and no launch is pending:
	// at most maxBatchesInFlight batches have left, and the first landing
	// takes the whole queue.
	waitFor(t, "every write in a flight or queued", func() bool {
		c.batch.mu.Lock()
		defer c.batch.mu.Unlock()
		return c.batch.flying+len(c.batch.queue) == writers && !c.batch.launching
	})
	close(fc.gate)
	wg.Wait()
	seen := map[uint64]bool{}
	for i := range writers {
		if errs[i] != nil || revs[i] == 0 || seen[revs[i]] {
			t.Fatalf("writer %d: revision %d, err %v", i, revs[i], errs[i])
		}
		seen[revs[i]] = true
	}
	ids := map[string]bool{}
	batches := map[int]int{}
	for _, r := range fc.requests()[1:] {
		if r.endpoint != "kv.batch" || r.subject != "kontiki.t.member.1.kv.batch" || ids[r.requestID] {
			t.Fatalf("request %+v", r)
		}
		ids[r.requestID] = true
		batches[r.batchSeq]++
	}
	if len(ids) != writers || len(batches) > maxBatchesInFlight+1 {
		t.Fatalf("%d commands in %d batches (%v)", len(ids), len(batches), batches)
	}
	// The last flight lands just after settling its writes.
	waitFor(t, "the batcher idle", func() bool {
		c.batch.mu.Lock()
		defer c.batch.mu.Unlock()
		return c.batch.inflight == 0 && c.batch.flying == 0 && len(c.batch.queue) == 0
	})
}

func TestBatchedWritesKeepTheirOptionsAndErrors(t *testing.T) {
	c, fc := newTestClient(t, Options{})
	learnLeader(t, c)
	ctx := context.Background()
	rev, err := c.Put(ctx, "k", []byte("1"), WithExpectedRevision(0), WithRequestID("id-1"))
	if err != nil {
		t.Fatal(err)
	}
	last := fc.requests()[len(fc.requests())-1]
	if last.cmd == nil || !last.cmd.HasExpectedRevision || last.cmd.ExpectedRevision != 0 || last.requestID != "id-1" || string(last.cmd.Value) != "1" {
		t.Fatalf("command %+v", last.cmd)
	}
	var ce *ConflictError
	if _, err := c.Put(ctx, "k", []byte("2"), WithExpectedRevision(0)); !errors.As(err, &ce) || ce.Revision != rev {
		t.Fatalf("want a conflict at revision %d, got %v", rev, err)
	}
	if _, err := c.Delete(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete of a missing key: %v", err)
	}
	before := len(fc.requests())
	if _, err := c.Put(ctx, "err.400", []byte("x")); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("want bad request, got %v", err)
	}
	if n := len(fc.requests()) - before; n != 1 {
		t.Fatalf("a 400 was sent %d times", n)
	}
	if rev, err := c.Delete(ctx, "k", WithExpectedRevision(rev)); err != nil || rev == 0 {
		t.Fatalf("delete: %d %v", rev, err)
	}
}

func TestFailedBatchRetriesEachWriteAloneWithItsRequestID(t *testing.T) {
	for _, code := range []int{503, 504} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			c, fc := newTestClient(t, Options{})
			learnLeader(t, c)
			fc.failNext(fakeFailure{code: code, leader: 1})
			rev, err := c.Put(context.Background(), "k", []byte("v"))
			if err != nil {
				t.Fatal(err)
			}
			rs := fc.requests()[1:]
			if len(rs) != 2 || rs[0].endpoint != "kv.batch" || rs[1].endpoint != "kv.put.k" || rs[0].requestID == "" || rs[1].requestID != rs[0].requestID {
				t.Fatalf("requests %+v", rs)
			}
			if v, got, err := c.Get(context.Background(), "k"); err != nil || got != rev || string(v) != "v" {
				t.Fatalf("get: %q %d %v", v, got, err)
			}
		})
	}
}

func TestBatchAnsweredByAFollowerGoesToTheLeader(t *testing.T) {
	c, fc := newTestClient(t, Options{})
	learnLeader(t, c)
	fc.setLeader(3)
	if _, err := c.Put(context.Background(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	rs := fc.requests()[1:]
	if len(rs) != 2 || rs[0].subject != "kontiki.t.member.1.kv.batch" || rs[1].subject != "kontiki.t.member.3.kv.put.k" || rs[1].requestID != rs[0].requestID {
		t.Fatalf("requests %+v", rs)
	}
	if c.Leader() != 3 {
		t.Fatalf("leader %d, want 3", c.Leader())
	}
}

func TestBatchedWriteWithoutRetriesReturnsTheFirstError(t *testing.T) {
	c, fc := newTestClient(t, Options{Retries: -1})
	learnLeader(t, c)
	fc.failNext(fakeFailure{code: 504})
	if _, err := c.Put(context.Background(), "k", []byte("v")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("want the batch's 504, got %v", err)
	}
	if n := len(fc.requests()); n != 2 {
		t.Fatalf("%d requests, want the warm-up and one batch", n)
	}
}
