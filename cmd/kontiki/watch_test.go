// This file tests "kontiki watch": the request it sends, the lines it prints
// and how it ends (interrupt: 0, compacted: 3).
package main

import (
	"bufio"
	"context"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kontiki-raft/kontiki/client"
	"github.com/nats-io/nats.go"
)

func (f *fake) sendWatch(inbox string, body string, kv ...string) {
	f.t.Helper()
	h := nats.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	if err := f.nc.PublishMsg(&nats.Msg{Subject: inbox, Data: []byte(body), Header: h}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fake) nextWatch() watchStart {
	f.t.Helper()
	select {
	case w := <-f.watchs:
		return w
	case <-time.After(10 * time.Second):
		f.t.Fatal("no watch request")
	}
	return watchStart{}
}

// startWatch runs the CLI's watch in the background; lines yields its
// output, wait waits for the command to end by itself, stop interrupts it.
func startWatch(t *testing.T, f *fake, args ...string) (lines *bufio.Scanner, wait, stop func() result) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan result, 1)
	go func() {
		r := f.cliContext(ctx, strings.NewReader(""), pw, args...)
		pw.Close()
		done <- r
	}()
	var once sync.Once
	var res result
	wait = func() result {
		once.Do(func() {
			go func() { _, _ = io.Copy(io.Discard, pr) }()
			select {
			case res = <-done:
			case <-time.After(10 * time.Second):
				t.Error("watch did not end")
			}
		})
		return res
	}
	stop = func() result {
		cancel()
		return wait()
	}
	t.Cleanup(func() { stop() })
	return bufio.NewScanner(pr), wait, stop
}

func expectLine(t *testing.T, s *bufio.Scanner, want string) {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		if s.Scan() {
			got <- s.Text()
		}
		close(got)
	}()
	select {
	case line := <-got:
		if line != want {
			t.Fatalf("line %q, want %q", line, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no line %q", want)
	}
}

func TestWatchTable(t *testing.T) {
	f := newFake(t)
	lines, _, stop := startWatch(t, f, "watch", "a.")
	w := f.nextWatch()
	if w.req.Prefix != "a." || w.req.FromRevision != 0 {
		t.Fatalf("request %+v", w.req)
	}
	f.sendWatch(w.inbox, "v1", client.HeaderKey, "a.x", client.HeaderRevision, "4", client.HeaderOp, "put")
	f.sendWatch(w.inbox, "", client.HeaderWatch, client.WatchSynced, client.HeaderRevision, "6")
	f.sendWatch(w.inbox, "", client.HeaderKey, "a.x", client.HeaderRevision, "7", client.HeaderOp, "del")
	expectLine(t, lines, "4 put a.x v1")
	expectLine(t, lines, "6 synced")
	expectLine(t, lines, "7 del a.x")
	if r := stop(); r.code != 0 || r.stderr != "" {
		t.Fatalf("interrupted watch: %+v", r)
	}
}

func TestWatchJSONFromRevisionCompacted(t *testing.T) {
	f := newFake(t)
	lines, wait, _ := startWatch(t, f, "watch", "a.", "--rev", "9", "-o", "json")
	w := f.nextWatch()
	if w.req.FromRevision != 9 {
		t.Fatalf("request %+v", w.req)
	}
	f.sendWatch(w.inbox, "v", client.HeaderKey, "a.y", client.HeaderRevision, "9", client.HeaderOp, "put")
	expectLine(t, lines, `{"op":"put","key":"a.y","revision":9,"value":"v"}`)
	f.sendWatch(w.inbox, "", client.HeaderWatch, client.WatchEnd, client.HeaderServiceErrorCode, "410", client.HeaderServiceError, "revision 10 compacted")
	r := wait()
	if r.code != 3 || r.stderr != "kontiki: watch a.: revision compacted: revision 10 compacted\n" {
		t.Fatalf("compacted watch: %+v", r)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
