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
	gate := make(chan struct{})
	fc.setGate(gate)
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
	close(gate)
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

func TestQueuedWriteIsWithdrawnWhenItsContextEnds(t *testing.T) {
	c, fc := newTestClient(t, Options{})
	learnLeader(t, c)
	c.batch.max = 1
	gate := make(chan struct{})
	fc.setGate(gate)
	first := make(chan error, 1)
	go func() {
		_, err := c.Put(context.Background(), "held", []byte("1"))
		first <- err
	}()
	waitFor(t, "the first write in flight", func() bool {
		c.batch.mu.Lock()
		defer c.batch.mu.Unlock()
		return c.batch.flying == 1 && !c.batch.launching
	})
	ctx, cancel := context.WithCancel(context.Background())
	value := []byte("2")
	second := make(chan error, 1)
	go func() {
		_, err := c.Put(ctx, "queued", value, WithRequestID("withdrawn"))
		second <- err
	}()
	waitFor(t, "the second write queued", func() bool {
		c.batch.mu.Lock()
		defer c.batch.mu.Unlock()
		return len(c.batch.queue) == 1
	})
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Fatalf("withdrawn write: %v", err)
	}
	close(gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for _, r := range fc.requests() {
		if r.requestID == "withdrawn" {
			t.Fatalf("the withdrawn write was sent: %+v", r)
		}
	}
	if _, _, err := c.Get(context.Background(), "queued"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the withdrawn write applied: %v", err)
	}
}

// A batch full at the byte limit leaves writes queued; another launch takes
// them while flights are free, rather than waiting for a landing.
func TestFullBatchLeavesTheRestToAnotherLaunch(t *testing.T) {
	c, fc := newTestClient(t, Options{})
	learnLeader(t, c)
	gate := make(chan struct{})
	fc.setGate(gate)
	const writers = 12
	value := make([]byte, c.batchBytes()/3) // two per batch
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Put(context.Background(), fmt.Sprintf("big.%d", i), value)
		}()
	}
	waitFor(t, "every write in a flight or queued", func() bool {
		c.batch.mu.Lock()
		defer c.batch.mu.Unlock()
		return c.batch.flying+len(c.batch.queue) == writers && !c.batch.launching
	})
	c.batch.mu.Lock()
	queued, inflight := len(c.batch.queue), c.batch.inflight
	c.batch.mu.Unlock()
	if queued > 0 && inflight < maxBatchesInFlight {
		t.Fatalf("%d writes queued with only %d of %d flights busy", queued, inflight, maxBatchesInFlight)
	}
	close(gate)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
}

func TestRetryableCommandInABatchIsRetriedAlone(t *testing.T) {
	for _, code := range []int{429, 503, 504} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			c, fc := newTestClient(t, Options{})
			learnLeader(t, c)
			fc.failNextCommands(fakeFailure{code: code})
			rev, err := c.Put(context.Background(), "k", []byte("v"))
			if err != nil || rev == 0 {
				t.Fatalf("put: %d %v", rev, err)
			}
			rs := fc.requests()[1:]
			if len(rs) != 2 || rs[0].endpoint != "kv.batch" || rs[1].endpoint != "kv.put.k" || rs[1].requestID != rs[0].requestID {
				t.Fatalf("requests %+v", rs)
			}
		})
	}
	t.Run("no retries", func(t *testing.T) {
		c, fc := newTestClient(t, Options{Retries: -1})
		learnLeader(t, c)
		fc.failNextCommands(fakeFailure{code: 503})
		if _, err := c.Put(context.Background(), "k", []byte("v")); !errors.Is(err, ErrNoLeader) {
			t.Fatalf("want the command's 503, got %v", err)
		}
		if n := len(fc.requests()); n != 2 {
			t.Fatalf("%d requests, want the warm-up and one batch", n)
		}
	})
}

// A kv.batch request nobody answers (a member without the endpoint, or a
// leader gone) sends the write alone, and the next writes too for a while.
func TestBatchWithoutRespondersTurnsBatchingOff(t *testing.T) {
	c, fc := newTestClient(t, Options{})
	learnLeader(t, c)
	c.leader.Store(9) // no such member: member.9.kv.batch has no responders
	for _, key := range []string{"a", "b"} {
		if _, err := c.Put(context.Background(), key, []byte("v")); err != nil {
			t.Fatal(err)
		}
		rs := fc.requests()
		if last := rs[len(rs)-1]; last.endpoint != "kv.put."+key {
			t.Fatalf("%s went as %s", key, last.endpoint)
		}
	}
	if c.batching() {
		t.Fatal("batching still on")
	}
}

func TestRequestIDMustBeUTF8(t *testing.T) {
	c, fc := newTestClient(t, Options{})
	learnLeader(t, c)
	before := len(fc.requests())
	if _, err := c.Put(context.Background(), "k", []byte("v"), WithRequestID("\xff")); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("want bad request, got %v", err)
	}
	if n := len(fc.requests()) - before; n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}
