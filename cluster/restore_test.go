package cluster

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kontiki-raft/kontiki/client"
)

func TestRestoredClusterServesTheSnapshotUnderANewClusterID(t *testing.T) {
	src := startCluster(t, 3)
	src.leader()
	cl := client.New(connect(t, src.ns), client.Options{})
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		if _, err := cl.Put(ctx, "r.k"+strconv.Itoa(i), []byte("v"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	var file bytes.Buffer
	if _, err := cl.SnapshotSave(ctx, &file, nil); err != nil {
		t.Fatal(err)
	}

	peers := []uint64{1, 2, 3}
	ns := startNATS(t)
	restored := &testCluster{t: t, ns: ns, members: map[uint64]*Member{}, cluster: "kontiki"}
	base := t.TempDir()
	var ids []uint64
	for _, id := range peers {
		dir := filepath.Join(base, strconv.FormatUint(id, 10))
		cid, err := RestoreDataDir(file.Bytes(), dir, "kontiki", peers, id)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, cid)
		store, err := OpenLogStore(dir, "kontiki", peers, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := StartMember(MemberConfig{ID: id, Peers: peers, NC: connect(t, ns), LogStore: store, TickInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		restored.members[id] = m
	}
	t.Cleanup(func() {
		for _, m := range restored.members {
			_ = m.Stop(ctx)
		}
	})
	if ids[0] != ids[1] || ids[1] != ids[2] || ids[0] == ClusterID("kontiki", peers) {
		t.Fatalf("restored cluster ids %v; original %d", ids, ClusterID("kontiki", peers))
	}
	restored.leader()
	rc := client.New(connect(t, ns), client.Options{})
	for i := 0; i < 20; i++ {
		v, _, err := rc.Get(ctx, "r.k"+strconv.Itoa(i))
		if err != nil || string(v) != "v"+strconv.Itoa(i) {
			t.Fatalf("restored r.k%d = %q, %v", i, v, err)
		}
	}
	if _, err := rc.Put(ctx, "r.new", []byte("x")); err != nil {
		t.Fatalf("the restored cluster takes writes: %v", err)
	}
	// A restore never reuses a data directory.
	if _, err := RestoreDataDir(file.Bytes(), filepath.Join(base, "1"), "kontiki", peers, 1); err == nil {
		t.Fatal("restore into a used data directory succeeded")
	}
	if _, err := RestoreDataDir([]byte("not a snapshot"), t.TempDir(), "kontiki", peers, 1); err == nil {
		t.Fatal("restore of garbage succeeded")
	}
}
