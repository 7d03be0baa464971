// This file tests the mapping of every service error code, no responders and
// missing replies to the client's typed errors.
package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestErrorMapping(t *testing.T) {
	c, _ := newTestClient(t, Options{Retries: -1})
	ctx := context.Background()
	cases := []struct {
		code int
		want error
	}{
		{400, ErrBadRequest}, {404, ErrNotFound}, {409, ErrConflict}, {410, ErrCompacted},
		{413, ErrTooLarge}, {429, ErrBusy}, {503, ErrNoLeader}, {504, ErrTimeout},
	}
	for _, tc := range cases {
		key := "err." + itoa(tc.code)
		_, _, err := c.Get(ctx, key)
		if !errors.Is(err, tc.want) {
			t.Errorf("code %d: got %v, want %v", tc.code, err, tc.want)
			continue
		}
		if tc.code != 409 && !strings.Contains(err.Error(), "asked for "+itoa(tc.code)) {
			t.Errorf("code %d: message %q lacks the service's words", tc.code, err)
		}
		var se *Error
		if tc.code != 409 && (!errors.As(err, &se) || se.Code != tc.code) {
			t.Errorf("code %d: not an *Error with the code: %#v", tc.code, err)
		}
	}
	_, _, err := c.Get(ctx, "err.500")
	var se *Error
	if !errors.As(err, &se) || se.Code != 500 || errors.Unwrap(err) != nil {
		t.Errorf("unknown code: %v", err)
	}
}

func TestErrorConflictRevision(t *testing.T) {
	c, _ := newTestClient(t, Options{Retries: -1})
	ctx := context.Background()
	if _, err := c.Put(ctx, "x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "x", []byte("2")); err != nil {
		t.Fatal(err)
	}
	_, err := c.Put(ctx, "x", []byte("3"), WithExpectedRevision(1))
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Revision != 2 || !errors.Is(err, ErrConflict) {
		t.Fatalf("conflict: %v", err)
	}
	if !strings.Contains(err.Error(), "current revision 2") {
		t.Fatalf("conflict message %q", err)
	}
}

func TestErrorNoResponders(t *testing.T) {
	s := startNATS(t)
	c := New(connect(t, s), Options{Cluster: "nobody", Retries: -1})
	_, err := c.Put(context.Background(), "a", []byte("v"))
	if !errors.Is(err, ErrNoResponders) {
		t.Fatalf("got %v", err)
	}
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrNoResponders) {
		t.Fatalf("status: %v", err)
	}
}

func TestErrorNoReply(t *testing.T) {
	s := startNATS(t)
	nc := connect(t, s)
	// A member that takes every request and never answers.
	if _, err := nc.QueueSubscribe("kontiki."+testCluster+".kv.>", "q", func(m *natsMsg) {}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	c := New(connect(t, s), Options{Cluster: testCluster, Timeout: 50 * time.Millisecond, Retries: 2})
	start := time.Now()
	_, _, err := c.Get(context.Background(), "a")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) < 150*time.Millisecond {
		t.Fatalf("gave up after %v: retries not made", time.Since(start))
	}
	// The caller's deadline ends retries early and still reads as a timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Put(ctx, "a", nil); !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ctx deadline: %v", err)
	}
	// Cancellation is not a timeout.
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := c.Put(cctx, "a", nil); !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("canceled: %v", err)
	}
}
