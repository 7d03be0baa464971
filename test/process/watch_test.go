// Watches held through a leader kill.
package process

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kontiki-raft/kontiki/client"
	"github.com/kontiki-raft/kontiki/internal/history"
)

// watchers is how many watches TestWatchThroughLeaderKill holds: the queue
// group picks the member that serves each one, so several make it likely
// (1 - (2/3)^8 ≈ 96%) that the killed leader served at least one.
const watchers = 8

// resumeCounter is a slog handler that counts the client's "watch resuming"
// debug lines: a watcher resumes when the member serving it is gone.
type resumeCounter struct{ n *atomic.Int64 }

func (r resumeCounter) Enabled(context.Context, slog.Level) bool { return true }
func (r resumeCounter) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message == "kontiki: watch resuming" {
		r.n.Add(1)
	}
	return nil
}
func (r resumeCounter) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r resumeCounter) WithGroup(string) slog.Handler      { return r }

// Watches held (client.Watch) through a leader SIGKILL see every
// acknowledged change of their prefix exactly once, in revision order, and
// nothing that was not written.
func TestWatchThroughLeaderKill(t *testing.T) {
	c := startCluster(t, options{})
	h := history.New()
	c.record(h)
	const prefix = "t3."
	logs := make([]*history.WatchLog, watchers)
	resumes := make([]*atomic.Int64, watchers)
	for i := range logs {
		nc, err := c.connect()
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		resumes[i] = &atomic.Int64{}
		cl := client.New(nc, client.Options{Cluster: clusterName, WatchHeartbeat: time.Second, Logger: slog.New(resumeCounter{resumes[i]})})
		wl, err := history.StartWatchLog(context.Background(), cl, prefix)
		if err != nil {
			t.Fatal(err)
		}
		logs[i] = wl
		defer func() { _ = wl.Stop() }()
	}
	for _, wl := range logs {
		if err := wl.WaitSynced(10 * time.Second); err != nil {
			c.fatalf("watch not synced: %v", err)
		}
	}

	load, err := history.StartLoad(c.loadConfig(prefix, 3*time.Minute), h)
	if err != nil {
		t.Fatal(err)
	}
	defer load.Stop()
	n := writesPerPhase()
	c.waitAcked(h, 0, n, time.Minute)
	lead, term := c.leader(10 * time.Second)
	fault := h.Mark(fmt.Sprintf("SIGKILL leader %d", lead))
	c.kill(lead)
	c.waitNewLeader(lead, term, 10*time.Second)
	c.waitAcked(h, fault, n, time.Minute)
	restart := h.Mark(fmt.Sprintf("restart member %d", lead))
	c.start(lead)
	c.waitReady(30*time.Second, lead)
	c.waitAcked(h, restart, n, time.Minute)
	load.Stop()

	final := c.finish(h, prefix)
	upTo := maxRevision(final)
	ops := h.Ops()
	acked, resumed := 0, 0
	for _, op := range ops {
		if op.Acknowledged() {
			acked++
		}
	}
	for i, wl := range logs {
		if err := wl.WaitRevision(upTo, 30*time.Second); err != nil {
			c.fatalf("watch %d: %v", i, err)
		}
		if err := history.CheckWatch(ops, wl.Events(), prefix, 1, upTo); err != nil {
			c.fatalf("watch %d: %v", i, err)
		}
		if resumes[i].Load() > 0 {
			resumed++
		}
	}
	t.Logf("%d watches each saw all %d acknowledged writes once, in order (up to revision %d); %d of them resumed after losing their member",
		watchers, acked, upTo, resumed)
	if resumed == 0 {
		t.Logf("note: no watch was served by the killed leader this time (the queue group chose); the resume path was not exercised")
	}
}
