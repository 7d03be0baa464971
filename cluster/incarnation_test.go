package cluster

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kontiki-raft/kontiki/client"
)

// A member whose data directory is wiped comes back as a stranger: the
// others refuse it (it may have voted in a term it no longer remembers),
// and say so, rather than let it vote and ack under its old id.
func TestMemberWithAWipedDataDirIsRefusedByItsPeers(t *testing.T) {
	ns := startNATS(t)
	peers := []uint64{1, 2, 3}
	base := t.TempDir()
	dirOf := func(id uint64) string { return filepath.Join(base, strconv.FormatUint(id, 10)) }
	ctx := context.Background()
	start := func(id uint64) *Member {
		store, err := OpenLogStore(dirOf(id), "kontiki", peers, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := StartMember(MemberConfig{ID: id, Peers: peers, NC: connect(t, ns), LogStore: store, TickInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	c := &testCluster{t: t, ns: ns, members: map[uint64]*Member{}, cluster: "kontiki"}
	for _, id := range peers {
		c.members[id] = start(id)
	}
	t.Cleanup(func() {
		for _, m := range c.members {
			_ = m.Stop(ctx)
		}
	})
	leader := c.leader()
	cl := client.New(connect(t, ns), client.Options{})
	if _, err := cl.Put(ctx, "w.k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	var victim uint64
	for _, id := range peers {
		if id != leader {
			victim = id
		}
	}
	// A restart on the same directory is welcome.
	if err := c.members[victim].Stop(ctx); err != nil {
		t.Fatal(err)
	}
	c.members[victim] = start(victim)
	waitFor(t, 10*time.Second, "the restarted member to catch up", func() bool {
		return c.members[victim].Store.Revision() == c.members[leader].Store.Revision()
	})
	// The same member on a wiped directory is not.
	if err := c.members[victim].Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dirOf(victim)); err != nil {
		t.Fatal(err)
	}
	c.members[victim] = start(victim)
	tr := c.members[leader].Transport
	waitFor(t, 10*time.Second, "the leader to refuse the wiped member", func() bool {
		return tr.Stats.RejectedIncarnation.Load() > 0
	})
	if _, err := cl.Put(ctx, "w.k2", []byte("v2")); err != nil {
		t.Fatalf("the two intact members keep serving: %v", err)
	}
	if got := c.members[victim].Store.Revision(); got != 0 {
		t.Fatalf("the wiped member was given the log (revision %d)", got)
	}
	// The record survives a restart of the members that keep it.
	if err := c.members[leader].Stop(ctx); err != nil {
		t.Fatal(err)
	}
	incs, err := loadIncarnations(dirOf(leader))
	if err != nil {
		t.Fatal(err)
	}
	if err := incs.check(victim, c.members[victim].Transport.incs.self); err == nil {
		t.Fatal("after a restart the leader's record no longer knows the wiped member's old incarnation")
	}
	delete(c.members, leader)
}
