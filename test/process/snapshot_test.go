// A follower left behind past the leader's compaction rejoins by snapshot.
package process

import (
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kontiki-raft/kontiki/client"
	"github.com/kontiki-raft/kontiki/internal/history"
)

// snapshotEntries is the members' --snapshot-entries in the snapshot test.
// The entries kept behind a snapshot for slow followers are the member's
// default (5000): cmd/member has no flag for the keep window.
const (
	snapshotEntries = 200
	keepEntries     = 5000
)

// A follower stopped long enough that the leader compacts its log past the
// follower's last entry rejoins by snapshot: its data ends equal to the
// others', and it demonstrably installed a snapshot (its log now starts
// past where it stopped; the leader logged "snapshot sent" to it). A
// recorded load runs throughout and stays linearizable.
func TestFollowerRejoinsBySnapshot(t *testing.T) {
	for _, fault := range []string{"SIGSTOP", "SIGKILL"} {
		t.Run(fault, func(t *testing.T) { followerRejoinsBySnapshot(t, fault) })
	}
}

func followerRejoinsBySnapshot(t *testing.T, fault string) {
	c := startCluster(t, options{snapshotEntries: snapshotEntries})
	h := history.New()
	c.record(h)
	prefix := "t6" + fault[3:4] + "."
	load, err := history.StartLoad(c.loadConfig(prefix, 3*time.Minute), h)
	if err != nil {
		t.Fatal(err)
	}
	defer load.Stop()
	c.waitAcked(h, 0, 100, time.Minute)

	lead, _ := c.leader(10 * time.Second)
	follower := c.peers[0]
	if follower == lead {
		follower = c.peers[1]
	}
	before, err := c.status(follower)
	if err != nil {
		t.Fatal(err)
	}
	h.Mark(fmt.Sprintf("%s follower %d", fault, follower))
	if fault == "SIGSTOP" {
		c.pause(follower)
	} else {
		c.kill(follower)
	}
	// The follower kept appending between its status and the signal, and
	// appends the leader sends while it is stopped wait in its sockets'
	// kernel buffers, to be read when it resumes: what it can get without
	// a snapshot is everything the leader has sent it, up to its progress's
	// Next-1 (at most the leader's last index). Next stops once the
	// inflight window is full.
	ls0, err := c.status(lead)
	if err != nil {
		t.Fatal(err)
	}
	held := max(before.LastIndex, ls0.LastIndex)

	// Write until the leader's log starts past the follower's last entry.
	start := time.Now()
	bulk := startBulkWriters(c, prefix+"bulk.", 32)
	sawSnapshotState := false
	c.waitFor(3*time.Minute, "the leader to compact past every entry it sent the follower", func() bool {
		st, err := c.status(lead)
		if err != nil {
			return false
		}
		p, ok := st.Progress[follower]
		if ok && p.State == "snapshot" {
			sawSnapshotState = true
		}
		if ok && p.Next > 0 {
			held = max(held, p.Next-1)
		}
		return st.FirstIndex > held+1
	})
	written := bulk.stop()
	compacted := time.Since(start)
	ls, _ := c.status(lead)

	h.Mark(fmt.Sprintf("restore follower %d", follower))
	if fault == "SIGSTOP" {
		c.resume(follower)
	} else {
		c.start(follower)
	}
	rejoin := time.Now()
	c.waitFor(time.Minute, "the follower to catch up", func() bool {
		st, err := c.status(follower)
		if err != nil {
			return false
		}
		if p, ok := c.leaderProgress(lead, follower); ok && p.State == "snapshot" {
			sawSnapshotState = true
		}
		return st.Applied >= ls.Commit
	})
	caughtUp := time.Since(rejoin)
	c.waitAcked(h, h.Now(), 100, time.Minute)
	load.Stop()
	c.finish(h, prefix)

	after, err := c.status(follower)
	if err != nil {
		t.Fatal(err)
	}
	// Leadership may have moved during the bulk load on a busy machine: any
	// other member may be the one that sent the snapshot.
	var sent []string
	for _, id := range c.peers {
		if id != follower {
			sent = append(sent, c.logLines(id, regexp.MustCompile(`msg="snapshot sent".* to=`+strconv.FormatUint(follower, 10)+`\b`))...)
		}
	}
	t.Logf("%s follower %d at last index %d (at most %d sent to it while stopped); %d bulk writes in %v until the leader's log started at %d (commit %d); follower caught up %v after rejoining; its log now starts at %d; members logged %d \"snapshot sent\" to it; progress state \"snapshot\" seen: %v",
		fault, follower, before.LastIndex, held, written, compacted.Round(time.Millisecond), ls.FirstIndex, ls.Commit,
		caughtUp.Round(time.Millisecond), after.FirstIndex, len(sent), sawSnapshotState)
	if after.FirstIndex <= held+1 {
		c.errorf("follower's log starts at %d, not past index %d it could hold before the fault: no snapshot installed", after.FirstIndex, held)
	}
	if len(sent) == 0 {
		c.errorf("no member logged \"snapshot sent\" to member %d", follower)
	}
}

// leaderProgress is the leader's view of peer.
func (c *procCluster) leaderProgress(lead, peer uint64) (client.PeerProgress, bool) {
	st, err := c.status(lead)
	if err != nil {
		return client.PeerProgress{}, false
	}
	p, ok := st.Progress[peer]
	return p, ok
}

// bulkWriters put as fast as they can on their own keys (not recorded: they
// only fill the log).
type bulkWriters struct {
	halt chan struct{}
	wg   sync.WaitGroup
	n    atomic.Int64
}

func startBulkWriters(c *procCluster, prefix string, writers int) *bulkWriters {
	b := &bulkWriters{halt: make(chan struct{})}
	for i := range writers {
		nc, err := c.connect()
		if err != nil {
			c.t.Fatal(err)
		}
		cl := client.New(nc, client.Options{Cluster: clusterName, Timeout: time.Second})
		b.wg.Add(1)
		go func(nc *nats.Conn) {
			defer b.wg.Done()
			defer nc.Close()
			value := make([]byte, 64)
			for j := 0; ; j++ {
				select {
				case <-b.halt:
					return
				default:
				}
				ctx, cancel := ctxTimeout(5 * time.Second)
				_, err := cl.Put(ctx, fmt.Sprintf("%s%d", prefix, (i*1000+j)%512), value)
				cancel()
				if err == nil {
					b.n.Add(1)
				}
			}
		}(nc)
	}
	return b
}

func (b *bulkWriters) stop() int64 {
	close(b.halt)
	b.wg.Wait()
	return b.n.Load()
}
