// This file tests leader awareness: learning the leader from replies, routing
// writes and leader reads to its member subject, retries that reuse the
// request id, and the fallback to the queue group when the leader is gone.
package client

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestLeaderLearning(t *testing.T) {
	c, fc := newTestClient(t, Options{})
	fc.setLeader(2)
	ctx := context.Background()
	if c.Leader() != 0 {
		t.Fatal("leader known before any reply")
	}
	if _, err := c.Put(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if c.Leader() != 2 {
		t.Fatalf("leader %d, want 2", c.Leader())
	}
	if _, err := c.Put(ctx, "a", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, "a", WithConsistency(Lease)); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := c.Propose(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	rs := fc.requests()
	if strings.Contains(rs[0].subject, ".member.") {
		t.Fatalf("first put went to %s before the leader was known", rs[0].subject)
	}
	for _, r := range rs[1:] {
		if !strings.HasPrefix(r.subject, "kontiki.t.member.2.") || r.member != 2 {
			t.Fatalf("%s went to %s (member %d), want the leader's subject", r.endpoint, r.subject, r.member)
		}
	}
	if rs[3].header.Get(HeaderConsistency) != "lease" {
		t.Fatalf("lease header %q", rs[3].header.Get(HeaderConsistency))
	}
	// Stale reads go to the queue group.
	if _, _, err := c.Get(ctx, "a", WithConsistency(Stale)); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	rs = fc.requests()
	if last := rs[len(rs)-1]; last.subject != "kontiki.t.kv.get.a" || last.header.Get(HeaderConsistency) != "stale" {
		t.Fatalf("stale read %+v", last)
	}
}

func TestRetryAfter503ReusesRequestID(t *testing.T) {
	c, fc := newTestClient(t, Options{Backoff: time.Millisecond})
	fc.failNext(fakeFailure{code: 503}, fakeFailure{code: 429}, fakeFailure{code: 504})
	rev, err := c.Put(context.Background(), "a", []byte("v"))
	if err != nil || rev != 1 {
		t.Fatalf("put: %d %v", rev, err)
	}
	rs := fc.requests()
	if len(rs) != 4 {
		t.Fatalf("%d attempts, want 4", len(rs))
	}
	for _, r := range rs {
		if r.requestID == "" || r.requestID != rs[0].requestID {
			t.Fatalf("attempt ids differ: %q vs %q", r.requestID, rs[0].requestID)
		}
	}
	// Another logical call gets a new id.
	if _, err := c.Put(context.Background(), "a", []byte("w")); err != nil {
		t.Fatal(err)
	}
	if rs2 := fc.requests(); rs2[len(rs2)-1].requestID == rs[0].requestID {
		t.Fatal("a new call reused the old request id")
	}
}

func TestRetriesExhausted(t *testing.T) {
	c, fc := newTestClient(t, Options{Backoff: time.Millisecond, Retries: 2})
	fc.failNext(fakeFailure{code: 503}, fakeFailure{code: 503}, fakeFailure{code: 503}, fakeFailure{code: 503})
	_, err := c.Put(context.Background(), "a", []byte("v"))
	if !errors.Is(err, ErrNoLeader) {
		t.Fatalf("got %v", err)
	}
	if n := len(fc.requests()); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
}

func TestNoRetryOnRejection(t *testing.T) {
	c, fc := newTestClient(t, Options{})
	for _, code := range []int{400, 404, 409, 410, 413} {
		fc.failNext(fakeFailure{code: code})
		before := len(fc.requests())
		if _, err := c.Put(context.Background(), "a", nil); err == nil {
			t.Fatalf("code %d: no error", code)
		}
		if n := len(fc.requests()) - before; n != 1 {
			t.Fatalf("code %d: %d attempts, want 1", code, n)
		}
	}
}

func Test503NamingLeaderRedirects(t *testing.T) {
	c, fc := newTestClient(t, Options{Backoff: time.Hour}) // any pause would hang the test
	fc.failNext(fakeFailure{code: 503, leader: 3})
	if _, err := c.Put(context.Background(), "a", []byte("v")); err != nil {
		t.Fatal(err)
	}
	rs := fc.requests()
	if len(rs) != 2 || !strings.HasPrefix(rs[1].subject, "kontiki.t.member.3.") || rs[0].requestID != rs[1].requestID {
		t.Fatalf("requests %+v", rs)
	}
}

func TestFallbackWhenLeaderSilent(t *testing.T) {
	c, fc := newTestClient(t, Options{Timeout: 100 * time.Millisecond, Backoff: time.Millisecond})
	fc.setLeader(2)
	ctx := context.Background()
	if _, err := c.Put(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if c.Leader() != 2 {
		t.Fatalf("leader %d", c.Leader())
	}
	// Member 2 freezes; member 3 takes over.
	fc.freeze(2)
	fc.setLeader(3)
	rev, err := c.Put(ctx, "a", []byte("2"))
	if err != nil || rev != 2 {
		t.Fatalf("put after freeze: %d %v", rev, err)
	}
	if c.Leader() != 3 {
		t.Fatalf("leader %d, want 3", c.Leader())
	}
	rs := fc.requests()
	last := rs[len(rs)-1]
	if last.subject != "kontiki.t.kv.put.a" || last.member == 2 {
		t.Fatalf("fallback went to %s (member %d)", last.subject, last.member)
	}
	if _, err := c.Put(ctx, "a", []byte("3")); err != nil {
		t.Fatal(err)
	}
	rs = fc.requests()
	if last := rs[len(rs)-1]; last.subject != "kontiki.t.member.3.kv.batch" {
		t.Fatalf("after learning 3: %s", last.subject)
	}
}

func TestFallbackWhenLeaderGone(t *testing.T) {
	c, fc := newTestClient(t, Options{Backoff: time.Hour}) // falls back without pausing
	fc.setLeader(2)
	ctx := context.Background()
	if _, err := c.Put(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	fc.stop(2)
	fc.setLeader(1)
	if _, err := c.Put(ctx, "a", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if c.Leader() != 1 {
		t.Fatalf("leader %d, want 1", c.Leader())
	}
	rs := fc.requests()
	if last := rs[len(rs)-1]; last.subject != "kontiki.t.kv.put.a" {
		t.Fatalf("fallback subject %s", last.subject)
	}
}

// Members that keep naming each other as leader (stale views mid-election)
// get redirects at once, but not in a tight loop: a caller with many
// retries pauses every few redirects and is still bounded by its context.
func TestRedirectPingPongPauses(t *testing.T) {
	nc := connect(t, startNATS(t))
	var attempts atomic.Int64
	sub, err := nc.Subscribe("kontiki.t.>", func(m *nats.Msg) {
		attempts.Add(1)
		named := "1"
		if strings.HasPrefix(m.Subject, "kontiki.t.member.1.") {
			named = "2"
		}
		h := nats.Header{}
		h.Set(HeaderServiceErrorCode, "503")
		h.Set(HeaderServiceError, "not the leader")
		h.Set(HeaderLeader, named)
		_ = m.RespondMsg(&nats.Msg{Header: h})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	c := New(nc, Options{Cluster: "t", Retries: math.MaxInt, Backoff: 20 * time.Millisecond, NoBatching: true})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// The deadline usually ends a pause (ErrNoLeader), rarely an attempt.
	if _, err := c.Put(ctx, "a", []byte("v")); !errors.Is(err, ErrNoLeader) && !errors.Is(err, ErrTimeout) {
		t.Fatalf("put: %v, want ErrNoLeader or ErrTimeout", err)
	}
	// Pauses of 10–20 ms, doubling, every third redirect: a few dozen
	// attempts at most in 300 ms; a tight loop makes thousands.
	if n := attempts.Load(); n < 3 || n > 60 {
		t.Fatalf("%d attempts in 300 ms", n)
	}
}
