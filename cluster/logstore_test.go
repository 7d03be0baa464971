package cluster

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"fmt"
	"github.com/kontiki-raft/kontiki/actors"
	"github.com/kontiki-raft/kontiki/raft/wal"
	"syscall"
)

func TestMemberRestartedFromItsDataDirKeepsAcknowledgedWrites(t *testing.T) {
	ns := startNATS(t)
	dir := t.TempDir()
	start := func() *Member {
		store, err := OpenLogStore(dir, "kontiki", []uint64{1}, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := StartMember(MemberConfig{ID: 1, Peers: []uint64{1}, NC: connect(t, ns), LogStore: store, TickInterval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := start()
	c := &testCluster{t: t, ns: ns, members: map[uint64]*Member{1: m}, cluster: "kontiki"}
	c.leader()
	nc := connect(t, ns)
	var revs []uint64
	for _, v := range []string{"a", "b", "c"} {
		revs = append(revs, revision(t, request(t, nc, c.subject("kv.put.k.%s", v), []byte(v), nil)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// A second open of a locked directory must fail while the first holds
	// it; after Stop it is free again.
	m = start()
	defer func() { _ = m.Stop(ctx) }()
	c.members[1] = m
	c.leader()
	for i, v := range []string{"a", "b", "c"} {
		resp := request(t, nc, c.subject("kv.get.k.%s", v), nil, nil)
		if string(resp.Data) != v || resp.Header.Get("Kontiki-Revision") != strconv.FormatUint(revs[i], 10) {
			t.Fatalf("after restart k.%s = %q rev %s, want %q rev %d", v, resp.Data, resp.Header.Get("Kontiki-Revision"), v, revs[i])
		}
	}
	if _, err := OpenLogStore(dir, "kontiki", []uint64{1}, 1, nil); !errors.Is(err, wal.ErrLocked) {
		t.Fatalf("second open of a live data dir: %v, want ErrLocked", err)
	}
}

func TestDataDirOfAnotherNodeOrClusterIsRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenLogStore(dir, "kontiki", []uint64{1, 2, 3}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if _, err := OpenLogStore(dir, "kontiki", []uint64{1, 2, 3}, 2, nil); !errors.Is(err, wal.ErrIdentityMismatch) {
		t.Fatalf("other node id: %v", err)
	}
	if _, err := OpenLogStore(dir, "other", []uint64{1, 2, 3}, 1, nil); !errors.Is(err, wal.ErrIdentityMismatch) {
		t.Fatalf("other cluster: %v", err)
	}
	// The stamped cluster id is kept even if the initial peers flag changes.
	s, err = OpenLogStore(dir, "kontiki", []uint64{1, 2, 3, 4}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.ClusterID() != ClusterID("kontiki", []uint64{1, 2, 3}) {
		t.Fatal("reopen did not keep the stamped cluster id")
	}
	_ = s.Close()
}

// A full disk that the WAL rolled back is actors.ErrNoSpace (the node holds
// its writes); a failed fsync stays fatal even when the disk was full.
func TestWALStoreMarksAFullDiskButNotAFailedFsync(t *testing.T) {
	store, err := OpenLogStore(t.TempDir(), "kontiki", []uint64{1}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	full := fmt.Errorf("wal: write seg at offset 9: %w: %w", wal.ErrNoSpace, syscall.ENOSPC)
	if err := store.noSpace(full); !errors.Is(err, actors.ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("rolled-back write on a full disk: %v, want actors.ErrNoSpace keeping the cause", err)
	}
	quota := fmt.Errorf("wal: create snapshot x.part: %w: %w", wal.ErrNoSpace, syscall.EDQUOT)
	if err := store.noSpace(quota); !errors.Is(err, actors.ErrNoSpace) {
		t.Errorf("quota exceeded: %v, want actors.ErrNoSpace", err)
	}
	fsync := fmt.Errorf("%w: seg: %w", wal.ErrSyncFailed, syscall.ENOSPC)
	if err := store.noSpace(fsync); errors.Is(err, actors.ErrNoSpace) {
		t.Errorf("failed fsync: %v, must stay fatal", err)
	}
	if err := store.noSpace(nil); err != nil {
		t.Errorf("noSpace(nil) = %v", err)
	}
}
