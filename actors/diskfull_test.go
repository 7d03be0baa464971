package actors_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/kontiki-raft/kontiki/actors"
	pb "github.com/kontiki-raft/kontiki/messages"
)

// fullDisk is a MemoryLogStore whose disk can run full: then Save and
// SaveSnapshot write nothing and say ErrNoSpace, as the WAL does.
type fullDisk struct {
	*actors.MemoryLogStore
	mu       sync.Mutex
	full     bool
	refusals int
}

func (d *fullDisk) setFull(full bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.full = full
}

func (d *fullDisk) refuse() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.full {
		return nil
	}
	d.refusals++
	return fmt.Errorf("%w: test disk is full", actors.ErrNoSpace)
}

func (d *fullDisk) Save(hs *pb.HardState, ents []*pb.Entry, sync bool) error {
	if err := d.refuse(); err != nil && (hs != nil || len(ents) > 0 || sync) {
		return err
	}
	return d.MemoryLogStore.Save(hs, ents, sync)
}

func (d *fullDisk) SaveSnapshot(snap *pb.Snapshot) error {
	if err := d.refuse(); err != nil {
		return err
	}
	return d.MemoryLogStore.SaveSnapshot(snap)
}

// DESIGN.md §4: a full disk refuses writes with a clear error and corrupts
// nothing. The node holds the write it could not persist (never answering
// it before it is durable), refuses new proposals with ErrNoSpace, and
// carries on once space is freed.
func TestAFullDiskHoldsWritesRefusesProposalsAndRecovers(t *testing.T) {
	system := actor.NewActorSystemWithConfig(actors.SystemConfig(nil))
	disk := &fullDisk{MemoryLogStore: actors.NewMemoryLogStore()}
	sm := &counter{}
	transport := actors.NewPIDTransport()
	props, err := actors.NewNodeProps(actors.Config{
		ID: 1, Peers: []uint64{1}, StateMachine: sm, LogStore: disk, Transport: transport, TickInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	pid := system.Root.Spawn(props)
	transport.SetPeer(1, pid)
	node := actors.NewNode(system.Root, pid)
	t.Cleanup(func() { _ = system.Root.PoisonFuture(node.PID()).Wait() })
	waitLeader(t, map[uint64]*actors.Node{1: node})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	value := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	if _, err := node.Propose(ctx, value(1)); err != nil {
		t.Fatal(err)
	}

	disk.setFull(true)
	held := make(chan error, 1)
	go func() {
		res, err := node.Propose(ctx, value(2))
		if err == nil && binary.BigEndian.Uint64(res.Result) != 3 {
			err = fmt.Errorf("result %d, want 3", binary.BigEndian.Uint64(res.Result))
		}
		held <- err
	}()
	// Proposals of 0 change nothing, whether refused or held.
	eventually(t, "a proposal refused with ErrNoSpace while the disk is full", func() bool {
		// One accepted before the node heard of the full disk is held:
		// give up on it and ask again.
		pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer pcancel()
		_, err := node.Propose(pctx, value(0))
		return errors.Is(err, actors.ErrNoSpace)
	})
	// The write of 2 is held, or refused if a write before it (the commit
	// of 1) had already met the full disk; never answered with success.
	refused := false
	select {
	case err := <-held:
		if !errors.Is(err, actors.ErrNoSpace) {
			t.Fatalf("a write was answered while it could not be durable: %v", err)
		}
		refused = true
	default:
	}
	if sm.value() != 1 {
		t.Fatalf("applied %d while the disk is full, want 1", sm.value())
	}

	disk.setFull(false)
	if !refused {
		// Held, or refused with an answer still on its way.
		switch err := <-held; {
		case errors.Is(err, actors.ErrNoSpace):
			refused = true
		case err != nil:
			t.Fatalf("held write after space came back: %v", err)
		}
	}
	want := uint64(7)
	if refused {
		want = 5
	}
	// Refusals go on until the writer's next retry (within a second)
	// finds room again.
	var res *actors.ProposeResult
	eventually(t, "a proposal taken after space came back", func() bool {
		res, err = node.Propose(ctx, value(4))
		return !errors.Is(err, actors.ErrNoSpace)
	})
	if err != nil || binary.BigEndian.Uint64(res.Result) != want {
		t.Fatalf("propose after space came back: %v %v, want the sum %d", res, err, want)
	}
	st, err := disk.Load()
	if err != nil {
		t.Fatal(err)
	}
	// The retried writes landed once each, in order, with no gap.
	var values []uint64
	for i, e := range st.Entries {
		if i > 0 && e.Index != st.Entries[i-1].Index+1 {
			t.Fatalf("durable log jumps from %d to %d", st.Entries[i-1].Index, e.Index)
		}
		if len(e.Data) == 8 && binary.BigEndian.Uint64(e.Data) != 0 {
			values = append(values, binary.BigEndian.Uint64(e.Data))
		}
	}
	wantValues := []uint64{1, 2, 4}
	if refused {
		wantValues = []uint64{1, 4}
	}
	if !slices.Equal(values, wantValues) {
		t.Fatalf("durable proposals %v, want %v", values, wantValues)
	}
}

// A leader whose disk fills would refuse every write while it leads: it
// hands leadership to a follower, and the group takes writes again.
func TestALeaderWithAFullDiskHandsOver(t *testing.T) {
	system := actor.NewActorSystemWithConfig(actors.SystemConfig(nil))
	disks := map[uint64]*fullDisk{}
	stores := map[uint64]actors.LogStore{}
	for _, id := range []uint64{1, 2, 3} {
		disks[id] = &fullDisk{MemoryLogStore: actors.NewMemoryLogStore()}
		stores[id] = disks[id]
	}
	nodes, sms := spawnGroupWith(t, system, stores)
	old := waitLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	value := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	if _, err := nodes[old].Propose(ctx, value(1)); err != nil {
		t.Fatal(err)
	}

	disks[old].setFull(true)
	// A write to the full leader is held or refused; either way the group
	// must move on to a leader that can write.
	go func() {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		defer pcancel()
		_, _ = nodes[old].Propose(pctx, value(0))
	}()
	var lead uint64
	eventually(t, "leadership moving off the member whose disk is full", func() bool {
		for id, n := range nodes {
			if st, err := n.Status(ctx); err == nil && id != old && st.Lead == id {
				lead = id
			}
		}
		return lead != 0
	})
	res, err := nodes[lead].Propose(ctx, value(2))
	if err != nil || binary.BigEndian.Uint64(res.Result) != 3 {
		t.Fatalf("write to the new leader %d: %v %v, want the sum 3", lead, res, err)
	}
	// Once space is back the old leader catches up.
	disks[old].setFull(false)
	eventually(t, "the old leader applying the sum 3 once its disk had room again", func() bool {
		return sms[old].value() == 3
	})
}

// eventually polls cond until it holds, failing the test after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronization
	}
}
