package cluster

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/kontiki-raft/kontiki/client"
)

func TestFollowerBehindTheCompactedLogCatchesUpBySnapshot(t *testing.T) {
	ns := startNATS(t)
	peers := []uint64{1, 2, 3}
	c := &testCluster{t: t, ns: ns, members: map[uint64]*Member{}, cluster: "kontiki"}
	for _, id := range peers {
		m, err := StartMember(MemberConfig{ID: id, Peers: peers, NC: connect(t, ns), TickInterval: 20 * time.Millisecond,
			SnapshotEntries: 50, SnapshotKeepEntries: 10})
		if err != nil {
			t.Fatal(err)
		}
		c.members[id] = m
	}
	ctx := context.Background()
	t.Cleanup(func() {
		for _, m := range c.members {
			_ = m.Stop(ctx)
		}
	})
	leader := c.leader()
	var lagging uint64
	for _, id := range peers {
		if id != leader {
			lagging = id
			break
		}
	}
	// Cut the follower off: it neither hears nor answers raft traffic.
	c.members[lagging].Transport.Close()
	cl := client.New(connect(t, ns), client.Options{})
	for i := 0; i < 300; i++ {
		if _, err := cl.Put(ctx, "snap.k"+strconv.Itoa(i%40), []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the leader to compact past the follower", func() bool {
		st, err := c.members[leader].Node.Status(ctx)
		return err == nil && st.FirstIndex > 100
	})
	if err := c.members[lagging].Transport.Listen(c.members[lagging].System.Root, c.members[lagging].PID()); err != nil {
		t.Fatal(err)
	}
	want := c.members[leader].Store
	waitFor(t, 15*time.Second, "the follower to catch up", func() bool {
		return c.members[lagging].Store.Hash() == want.Hash() && c.members[lagging].Store.Revision() == want.Revision()
	})
	st, err := c.members[lagging].Node.Status(ctx)
	if err != nil || st.SnapshotsInstalled == 0 {
		t.Fatalf("follower caught up without installing a snapshot (installed %d, %v)", st.SnapshotsInstalled, err)
	}
}

func TestSnapshotIsTakenAfterSnapshotBytesOfEntries(t *testing.T) {
	ns := startNATS(t)
	// Entries alone would not trigger one (10000 default); 20 values of
	// 16 KiB pass the 256 KiB byte threshold.
	m, err := StartMember(MemberConfig{ID: 1, Peers: []uint64{1}, NC: connect(t, ns), TickInterval: 20 * time.Millisecond,
		SnapshotBytes: 256 << 10, SnapshotKeepEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t.Cleanup(func() { _ = m.Stop(ctx) })
	c := &testCluster{t: t, ns: ns, members: map[uint64]*Member{1: m}, cluster: "kontiki"}
	c.leader()
	cl := client.New(connect(t, ns), client.Options{})
	value := make([]byte, 16<<10)
	for i := 0; i < 20; i++ {
		if _, err := cl.Put(ctx, "bytes.k"+strconv.Itoa(i), value); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "a snapshot and compaction", func() bool {
		st, err := m.Node.Status(ctx)
		return err == nil && st.FirstIndex > 10
	})
}
