package actors_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/kontiki-raft/kontiki/actors"
	pb "github.com/kontiki-raft/kontiki/messages"
)

// gatedSM is a counter whose snapshots are captured at once and encoded
// only when the test opens the gate. Its image is (index, sum).
type gatedSM struct {
	mu         sync.Mutex
	index, sum uint64
	captures   []image // every capture, in order
	encoding   chan uint64
	gate       chan struct{} // closed: encodes finish
}

type image struct{ index, sum uint64 }

func newGatedSM() *gatedSM {
	return &gatedSM{encoding: make(chan uint64, 64), gate: make(chan struct{})}
}

func (s *gatedSM) Apply(index uint64, data []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index = index
	if len(data) == 8 {
		s.sum += binary.BigEndian.Uint64(data)
	}
	return binary.BigEndian.AppendUint64(nil, s.sum)
}

func (s *gatedSM) Snapshot() ([]byte, error) {
	return nil, errors.New("gatedSM: the applier must use CaptureSnapshot")
}

func (s *gatedSM) CaptureSnapshot() (func() ([]byte, error), error) {
	s.mu.Lock()
	im := image{s.index, s.sum}
	s.captures = append(s.captures, im)
	s.mu.Unlock()
	return func() ([]byte, error) {
		select {
		case s.encoding <- im.index:
		default:
		}
		<-s.gate
		return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, im.index), im.sum), nil
	}, nil
}

func (s *gatedSM) Restore(index uint64, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index, s.sum = index, 0
	if len(data) == 0 {
		return nil
	}
	if len(data) != 16 || binary.BigEndian.Uint64(data) != index {
		return fmt.Errorf("gatedSM: bad image for index %d", index)
	}
	s.sum = binary.BigEndian.Uint64(data[8:])
	return nil
}

func (s *gatedSM) state() (captures []image, sum uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]image(nil), s.captures...), s.sum
}

// hookStore is a MemoryLogStore that reports snapshots saved, can fail
// them, and checks that the log is never compacted past a durable snapshot.
type hookStore struct {
	*actors.MemoryLogStore
	mu       sync.Mutex
	fail     func(index uint64) error // nil: save
	durable  uint64                   // index of the last snapshot saved
	saved    chan *pb.Snapshot
	compacts chan uint64
	bad      error
	// compactGate, when set, holds every Compact until it is closed.
	compactGate chan struct{}
}

func newHookStore() *hookStore {
	return &hookStore{MemoryLogStore: actors.NewMemoryLogStore(), saved: make(chan *pb.Snapshot, 64), compacts: make(chan uint64, 64)}
}

func (h *hookStore) SaveSnapshot(snap *pb.Snapshot) error {
	h.mu.Lock()
	fail := h.fail
	h.mu.Unlock()
	if fail != nil {
		if err := fail(snap.Metadata.Index); err != nil {
			return err
		}
	}
	if err := h.MemoryLogStore.SaveSnapshot(snap); err != nil {
		return err
	}
	h.mu.Lock()
	h.durable = max(h.durable, snap.Metadata.Index)
	h.mu.Unlock()
	h.saved <- snap
	return nil
}

func (h *hookStore) Compact(index uint64) error {
	h.mu.Lock()
	if index > h.durable && h.bad == nil {
		h.bad = fmt.Errorf("log compacted to %d past the durable snapshot at %d", index, h.durable)
	}
	gate := h.compactGate
	h.mu.Unlock()
	h.compacts <- index
	if gate != nil {
		<-gate
	}
	return h.MemoryLogStore.Compact(index)
}

func (h *hookStore) check(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bad != nil {
		t.Fatal(h.bad)
	}
}

// spawnSingle starts a one-node group snapshotting every few entries and
// returns its handle and a channel closed when the node actor stops.
func spawnSingle(t *testing.T, system *actor.ActorSystem, sm actors.StateMachine, store actors.LogStore) (*actors.Node, <-chan struct{}) {
	t.Helper()
	transport := actors.NewPIDTransport()
	props, err := actors.NewNodeProps(actors.Config{
		ID: 1, Peers: []uint64{1}, StateMachine: sm, Transport: transport, LogStore: store,
		TickInterval: 10 * time.Millisecond, SnapshotEntries: 8, SnapshotKeepEntries: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	pid := system.Root.Spawn(props)
	transport.SetPeer(1, pid)
	stopped := make(chan struct{})
	system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch c.Message().(type) {
		case *actor.Started:
			c.Watch(pid)
		case *actor.Terminated:
			close(stopped)
		}
	}))
	t.Cleanup(func() {
		select {
		case <-stopped:
		default:
			_ = system.Root.PoisonFuture(pid).Wait()
		}
	})
	node := actors.NewNode(system.Root, pid)
	waitLeader(t, map[uint64]*actors.Node{1: node})
	return node, stopped
}

// proposer proposes 1, 2, 3... and checks each result is the running sum.
type proposer struct {
	t    *testing.T
	node *actors.Node
	next uint64
	sum  uint64
}

func (p *proposer) propose() {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.next++
	p.sum += p.next
	res, err := p.node.Propose(ctx, binary.BigEndian.AppendUint64(nil, p.next))
	if err != nil {
		p.t.Fatalf("propose %d: %v", p.next, err)
	}
	if got := binary.BigEndian.Uint64(res.Result); got != p.sum {
		p.t.Fatalf("propose %d: sum %d, want %d", p.next, got, p.sum)
	}
}

func TestApplierKeepsApplyingWhileASnapshotEncodes(t *testing.T) {
	system := actor.NewActorSystemWithConfig(actors.SystemConfig(nil))
	sm, store := newGatedSM(), newHookStore()
	node, stopped := spawnSingle(t, system, sm, store)
	p := &proposer{t: t, node: node}
	var at uint64 // index of the capture being encoded
	for at == 0 {
		if p.next > 100 {
			t.Fatal("no snapshot encode began after 100 entries (SnapshotEntries is 8)")
		}
		p.propose()
		select {
		case at = <-sm.encoding:
		default:
		}
	}
	// The encode is stuck: every proposal is still applied and answered,
	// no second snapshot starts, nothing is compacted.
	for range 50 {
		p.propose()
	}
	st, err := node.Status(context.Background())
	if err != nil || st.AppliedIndex < at+50 {
		t.Fatalf("applied %d while the snapshot at %d encodes (%v)", st.AppliedIndex, at, err)
	}
	if captures, _ := sm.state(); len(captures) != 1 || captures[0].index != at {
		t.Fatalf("captures %v while one snapshot was in flight", captures)
	}
	if ds, _ := store.Load(); ds.Snapshot != nil || st.FirstIndex != 1 {
		t.Fatalf("snapshot %v stored / log compacted to %d before the encode finished", ds.Snapshot, st.FirstIndex)
	}
	select {
	case i := <-store.compacts:
		t.Fatalf("log compacted to %d before any snapshot was durable", i)
	default:
	}

	close(sm.gate)
	snap := <-store.saved
	captures, _ := sm.state()
	want := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, at), captures[0].sum)
	if snap.Metadata.Index != at || string(snap.Data) != string(want) {
		t.Fatalf("saved snapshot at %d (%x), want the capture at %d (%x)", snap.Metadata.Index, snap.Data, at, want)
	}
	if i := <-store.compacts; i != at-2 {
		t.Fatalf("compacted to %d, want %d (the snapshot minus SnapshotKeepEntries)", i, at-2)
	}
	// The next snapshot comes once more entries apply; the log keeps up.
	for range 10 {
		p.propose()
	}
	if snap := <-store.saved; snap.Metadata.Index <= at {
		t.Fatalf("second snapshot at %d, not after %d", snap.Metadata.Index, at)
	}
	store.check(t)

	// A restart restores the latest snapshot and replays the log after it.
	if err := system.Root.PoisonFuture(node.PID()).Wait(); err != nil {
		t.Fatal(err)
	}
	<-stopped
	again := newGatedSM()
	close(again.gate)
	node, _ = spawnSingle(t, system, again, store)
	if _, err := node.Read(context.Background(), actors.ReadLinearizable); err != nil {
		t.Fatal(err)
	}
	if _, sum := again.state(); sum != p.sum {
		t.Fatalf("after a restart the sum is %d, want %d", sum, p.sum)
	}
}

// Compacting the durable log removes files and fsyncs a directory: slow on
// a busy disk. It must not hold up the node: proposals keep committing
// while a compaction is stuck.
func TestProposalsCommitWhileTheLogCompacts(t *testing.T) {
	system := actor.NewActorSystemWithConfig(actors.SystemConfig(nil))
	sm, store := newGatedSM(), newHookStore()
	close(sm.gate)
	gate := make(chan struct{})
	store.compactGate = gate
	node, _ := spawnSingle(t, system, sm, store)
	var release sync.Once
	// Registered after spawnSingle's cleanup, so it runs first: a failing
	// run does not leave the node stuck while it is stopped.
	t.Cleanup(func() { release.Do(func() { close(gate) }) })
	p := &proposer{t: t, node: node}
	var compacted uint64
	for compacted == 0 {
		if p.next > 100 {
			t.Fatal("no compaction began after 100 entries (SnapshotEntries is 8)")
		}
		p.propose()
		select {
		case compacted = <-store.compacts:
		default:
		}
	}
	for range 50 {
		p.propose() // each waits for its commit: would time out if the node were stuck
	}
	release.Do(func() { close(gate) })
	t.Logf("50 proposals committed while the compaction to %d was stuck", compacted)
}

func TestSnapshotOverwrittenInTheStoreIsNotAnError(t *testing.T) {
	system := actor.NewActorSystemWithConfig(actors.SystemConfig(nil))
	sm, store := newGatedSM(), newHookStore()
	close(sm.gate)
	var refused uint64
	store.fail = func(index uint64) error {
		if refused == 0 {
			refused = index
			// As if a snapshot installed from the leader had overtaken it.
			return fmt.Errorf("store: %w", actors.ErrSnapshotOutOfDate)
		}
		return nil
	}
	node, stopped := spawnSingle(t, system, sm, store)
	p := &proposer{t: t, node: node}
	for range 10 {
		p.propose()
	}
	select {
	case i := <-store.compacts:
		t.Fatalf("compacted to %d after a refused snapshot", i)
	default:
	}
	for range 10 {
		p.propose()
	}
	var snap *pb.Snapshot
	select {
	case snap = <-store.saved:
	case <-time.After(10 * time.Second):
		t.Fatalf("no snapshot saved after the one refused at %d", refused)
	}
	if refused == 0 || snap.Metadata.Index <= refused {
		t.Fatalf("saved %d after refusing %d", snap.Metadata.Index, refused)
	}
	<-store.compacts
	store.check(t)
	select {
	case <-stopped:
		t.Fatal("the node stopped")
	default:
	}
}

func TestSnapshotStorageErrorStopsTheNode(t *testing.T) {
	system := actor.NewActorSystemWithConfig(actors.SystemConfig(nil))
	sm, store := newGatedSM(), newHookStore()
	close(sm.gate)
	store.fail = func(uint64) error { return errors.New("disk on fire") }
	node, stopped := spawnSingle(t, system, sm, store)
	deadline := time.Now().Add(10 * time.Second)
	for i := uint64(1); ; i++ {
		select {
		case <-stopped:
			store.check(t)
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the node kept running after failing to save a snapshot")
		}
		// Proposals fail once the node has stopped; that is expected.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_, _ = node.Propose(ctx, binary.BigEndian.AppendUint64(nil, i))
		cancel()
	}
}
