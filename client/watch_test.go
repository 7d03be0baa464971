// This file tests the Watcher against a scripted watch server: snapshot and
// synced marker, flow-control grants, resume after silence or an end
// without a gap or a duplicate, the 410 end and no responders.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// watchReq is one watch request the scripted server received.
type watchReq struct {
	WatchRequest
	raw   string
	inbox string
}

// watchEnv is a client plus a scripted watch server on its own connection.
type watchEnv struct {
	t    *testing.T
	c    *Client
	nc   *nats.Conn // the server side
	reqs chan watchReq
}

func newWatchEnv(t *testing.T, opts Options) *watchEnv {
	t.Helper()
	s := startNATS(t)
	opts.Cluster = testCluster
	e := &watchEnv{t: t, c: New(connect(t, s), opts), nc: connect(t, s), reqs: make(chan watchReq, 256)}
	return e
}

// serve makes the scripted server listen for watch requests.
func (e *watchEnv) serve() { e.serveScript(nil) }

// serveScript makes the scripted server answer each request at once with
// script (from the subscription's goroutine), so that the answers do not
// depend on the test's timing.
func (e *watchEnv) serveScript(script func(r watchReq)) {
	_, err := e.nc.QueueSubscribe("kontiki."+testCluster+".kv.watch", "q", func(m *nats.Msg) {
		var r watchReq
		if err := json.Unmarshal(m.Data, &r.WatchRequest); err != nil {
			e.t.Errorf("bad watch request %q: %v", m.Data, err)
		}
		r.raw, r.inbox = string(m.Data), m.Reply
		if script != nil {
			script(r)
		}
		select {
		case e.reqs <- r:
		default:
			e.t.Errorf("too many watch requests")
		}
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.nc.Flush(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *watchEnv) request() watchReq { e.t.Helper(); return recv(e.t, "a watch request", e.reqs) }

// send publishes one message to a watcher's inbox; kv are header pairs.
func (e *watchEnv) send(inbox, reply string, body []byte, kv ...string) {
	e.t.Helper()
	h := nats.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	if err := e.nc.PublishMsg(&nats.Msg{Subject: inbox, Reply: reply, Data: body, Header: h}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *watchEnv) put(inbox, key string, rev uint64, value string) {
	e.t.Helper()
	e.send(inbox, "", []byte(value), HeaderKey, key, HeaderRevision, strconv.FormatUint(rev, 10), HeaderOp, "put")
}

// grantInbox subscribes a reply subject for flow-control answers.
func (e *watchEnv) grantInbox() (string, *nats.Subscription) {
	e.t.Helper()
	inbox := e.nc.NewInbox()
	sub, err := e.nc.SubscribeSync(inbox)
	if err != nil {
		e.t.Fatal(err)
	}
	return inbox, sub
}

func waitGrant(t *testing.T, sub *nats.Subscription, what string) {
	t.Helper()
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no grant for %s: %v", what, err)
	}
	if len(m.Data) != 0 {
		t.Fatalf("grant for %s has a body %q", what, m.Data)
	}
}

func next(t *testing.T, w *Watcher) Event {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatalf("events closed: %v", w.Err())
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for an event")
	}
	return Event{}
}

func expect(t *testing.T, w *Watcher, op Op, key string, rev uint64) Event {
	t.Helper()
	ev := next(t, w)
	if ev.Op != op || ev.Key != key || ev.Revision != rev {
		t.Fatalf("event %v %q @%d, want %v %q @%d", ev.Op, ev.Key, ev.Revision, op, key, rev)
	}
	return ev
}

func waitEnded(t *testing.T, w *Watcher) error {
	t.Helper()
	recv(t, "the watcher to end", w.Done())
	if _, ok := <-w.Events(); ok {
		t.Fatal("events not closed after the end")
	}
	return w.Err()
}

func TestWatchSnapshotSyncedThenChanges(t *testing.T) {
	e := newWatchEnv(t, Options{WatchHeartbeat: time.Minute})
	e.serve()
	w, err := e.c.Watch(context.Background(), "a.")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	r := e.request()
	if r.Prefix != "a." || r.FromRevision != 0 || r.Window != DefaultWatchWindow {
		t.Fatalf("request %s", r.raw)
	}
	if r.raw != `{"prefix":"a.","window":1024}` {
		t.Fatalf("request JSON %s", r.raw)
	}
	grant, gsub := e.grantInbox()
	e.send(r.inbox, grant, []byte("1"), HeaderKey, "a.x", HeaderRevision, "5", HeaderOp, "put")
	waitGrant(t, gsub, "a snapshot value")
	e.put(r.inbox, "a.y", 7, "2")
	e.send(r.inbox, "", nil, HeaderWatch, WatchSynced, HeaderRevision, "9")
	e.send(r.inbox, "", nil, HeaderKey, "a.x", HeaderRevision, "10", HeaderOp, "del")
	if ev := expect(t, w, OpPut, "a.x", 5); string(ev.Value) != "1" {
		t.Fatalf("value %q", ev.Value)
	}
	expect(t, w, OpPut, "a.y", 7)
	expect(t, w, OpSynced, "", 9)
	if ev := expect(t, w, OpDelete, "a.x", 10); ev.Value != nil {
		t.Fatalf("delete with value %q", ev.Value)
	}
}

func TestWatchResumesAfterSilence(t *testing.T) {
	e := newWatchEnv(t, Options{WatchHeartbeat: 100 * time.Millisecond, Backoff: time.Millisecond})
	var firstInbox string
	e.serveScript(func(r watchReq) {
		// Each "member" serves a little and then dies silently.
		switch r.FromRevision {
		case 0:
			firstInbox = r.inbox
			e.put(r.inbox, "a.x", 3, "x")
			e.send(r.inbox, "", nil, HeaderWatch, WatchSynced)
			e.put(r.inbox, "a.y", 4, "y")
		case 5:
			e.put(firstInbox, "a.late", 5, "from the dead member") // its inbox is gone
			e.put(r.inbox, "a.y", 4, "y")                          // a duplicate: dropped
			e.put(r.inbox, "a.z", 5, "z")
			e.put(r.inbox, "a.y", 6, "y2")
		case 7:
			e.send(r.inbox, "", nil, HeaderWatch, WatchSynced) // no second marker
			e.put(r.inbox, "a.q", 7, "q")
		}
	})
	w, err := e.c.Watch(context.Background(), "a.")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	expect(t, w, OpPut, "a.x", 3)
	expect(t, w, OpSynced, "", 3)
	expect(t, w, OpPut, "a.y", 4)
	expect(t, w, OpPut, "a.z", 5)
	expect(t, w, OpPut, "a.y", 6)
	expect(t, w, OpPut, "a.q", 7)
	// The requests went 0 (maybe repeated), then 5, then 7, then 8 onwards:
	// each resume asks for the revision after the last one delivered.
	var froms []uint64
	for len(froms) == 0 || froms[len(froms)-1] < 8 {
		r := e.request()
		if r.Prefix != "a." {
			t.Fatalf("request %s", r.raw)
		}
		if len(froms) == 0 || froms[len(froms)-1] != r.FromRevision {
			froms = append(froms, r.FromRevision)
		}
	}
	if fmt.Sprint(froms) != "[0 5 7 8]" {
		t.Fatalf("from revisions %v", froms)
	}
}

func TestWatchHeartbeatsKeepItAlive(t *testing.T) {
	e := newWatchEnv(t, Options{WatchHeartbeat: 400 * time.Millisecond})
	e.serve()
	w, err := e.c.Watch(context.Background(), "", FromRevision(1))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	r := e.request()
	grant, gsub := e.grantInbox()
	// Heartbeats for well over three intervals: no resume, each answered.
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		e.send(r.inbox, grant, nil, HeaderWatch, WatchHeartbeat)
		waitGrant(t, gsub, "a heartbeat")
		select {
		case extra := <-e.reqs:
			t.Fatalf("resubscribed despite heartbeats: %s", extra.raw)
		case <-time.After(50 * time.Millisecond): // the heartbeat pace of the scripted member
		}
	}
}

func TestWatchSnapshotLostStartsOver(t *testing.T) {
	e := newWatchEnv(t, Options{WatchHeartbeat: 100 * time.Millisecond, Backoff: time.Millisecond})
	var n atomic.Int32
	e.serveScript(func(r watchReq) {
		if r.FromRevision != 0 {
			return // after synced: nothing more happens
		}
		e.put(r.inbox, "a.x", 3, "x")
		if n.Add(1) == 1 {
			return // the first member dies before synced
		}
		e.put(r.inbox, "a.y", 5, "y")
		e.send(r.inbox, "", nil, HeaderWatch, WatchSynced)
	})
	w, err := e.c.Watch(context.Background(), "a.")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	expect(t, w, OpPut, "a.x", 3)
	expect(t, w, OpPut, "a.y", 5)
	expect(t, w, OpSynced, "", 5)
	if r := e.request(); r.FromRevision != 0 {
		t.Fatalf("first request %s", r.raw)
	}
	for r := e.request(); r.FromRevision != 6; r = e.request() {
		if r.FromRevision != 0 {
			t.Fatalf("a lost snapshot must restart fresh, then resume from 6: %s", r.raw)
		}
	}
}

func TestWatchEndResumes(t *testing.T) {
	e := newWatchEnv(t, Options{WatchHeartbeat: time.Minute, Backoff: time.Millisecond})
	e.serve()
	w, err := e.c.Watch(context.Background(), "a.", FromRevision(10), WithWindow(4))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	r1 := e.request()
	if r1.raw != `{"prefix":"a.","from_revision":10,"window":4}` {
		t.Fatalf("request JSON %s", r1.raw)
	}
	e.put(r1.inbox, "a.x", 10, "a")
	e.put(r1.inbox, "a.x", 11, "b")
	e.send(r1.inbox, "", nil, HeaderWatch, WatchEnd) // e.g. the member lost leadership
	expect(t, w, OpPut, "a.x", 10)
	expect(t, w, OpPut, "a.x", 11)
	r2 := e.request()
	if r2.FromRevision != 12 || r2.Window != 4 {
		t.Fatalf("resume %s", r2.raw)
	}
	e.put(r2.inbox, "a.x", 12, "c")
	expect(t, w, OpPut, "a.x", 12)
	// Retryable service errors resume too.
	e.send(r2.inbox, "", nil, HeaderWatch, WatchEnd, HeaderServiceErrorCode, "503", HeaderServiceError, "no leader")
	if r3 := e.request(); r3.FromRevision != 13 {
		t.Fatalf("resume after 503 %s", r3.raw)
	}
}

func TestWatchCompactedEnds(t *testing.T) {
	for _, withEnd := range []bool{true, false} {
		e := newWatchEnv(t, Options{WatchHeartbeat: time.Minute})
		e.serve()
		w, err := e.c.Watch(context.Background(), "a.", FromRevision(3))
		if err != nil {
			t.Fatal(err)
		}
		r := e.request()
		kv := []string{HeaderServiceErrorCode, "410", HeaderServiceError, "revision 3 compacted"}
		if withEnd {
			kv = append(kv, HeaderWatch, WatchEnd)
		}
		e.send(r.inbox, "", nil, kv...)
		err = waitEnded(t, w)
		if !errors.Is(err, ErrCompacted) {
			t.Fatalf("end with 410 (end header %v): %v", withEnd, err)
		}
		w.Stop()
		if !errors.Is(w.Err(), ErrCompacted) {
			t.Fatal("Stop after the end changed Err")
		}
	}
}

func TestWatchWindowGrants(t *testing.T) {
	e := newWatchEnv(t, Options{WatchHeartbeat: time.Minute})
	e.serve()
	w, err := e.c.Watch(context.Background(), "a.", FromRevision(1), WithWindow(2))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	r := e.request()
	grant, gsub := e.grantInbox()
	// Every event that asks for it is answered once the consumer has it.
	for rev := uint64(1); rev <= 4; rev++ {
		e.send(r.inbox, grant, []byte("v"), HeaderKey, "a.k", HeaderRevision, strconv.FormatUint(rev, 10), HeaderOp, "put")
		expect(t, w, OpPut, "a.k", rev)
		waitGrant(t, gsub, "event "+strconv.FormatUint(rev, 10))
	}
	// A heartbeat is answered even while the consumer does not read.
	e.put(r.inbox, "a.k", 5, "unread")
	e.send(r.inbox, grant, nil, HeaderWatch, WatchHeartbeat)
	waitGrant(t, gsub, "a heartbeat")
	expect(t, w, OpPut, "a.k", 5)
}

func TestWatchNoRespondersThenMember(t *testing.T) {
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newWatchEnv(t, Options{WatchHeartbeat: time.Minute, Backoff: time.Millisecond, Logger: logger})
	w, err := e.c.Watch(context.Background(), "a.", FromRevision(2))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := e.c.nc.Flush(); err != nil { // the request met no responders
		t.Fatal(err)
	}
	e.serve()
	r := e.request()
	if r.FromRevision != 2 {
		t.Fatalf("request %s", r.raw)
	}
	e.put(r.inbox, "a.b", 2, "v")
	expect(t, w, OpPut, "a.b", 2)
	if !strings.Contains(logs.String(), "no responders") {
		t.Fatalf("the first request did not meet no responders; log:\n%s", logs.String())
	}
}

// lockedBuffer is a log sink safe for the watcher's goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestWatchStopAndContext(t *testing.T) {
	e := newWatchEnv(t, Options{WatchHeartbeat: time.Minute})
	e.serve()
	w, err := e.c.Watch(context.Background(), "a.")
	if err != nil {
		t.Fatal(err)
	}
	e.request()
	w.Stop()
	if err := waitEnded(t, w); err != nil {
		t.Fatalf("Err after Stop: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err = e.c.Watch(ctx, "a.")
	if err != nil {
		t.Fatal(err)
	}
	e.request()
	cancel()
	if err := waitEnded(t, w); !errors.Is(err, context.Canceled) {
		t.Fatalf("Err after cancel: %v", err)
	}
	if _, err := e.c.Watch(ctx, "a..b"); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("bad prefix: %v", err)
	}
}
