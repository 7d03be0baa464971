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
)

// counter is a tiny StateMachine: each entry adds its 8-byte value.
type counter struct {
	mu  sync.Mutex
	sum uint64
}

func (c *counter) Apply(_ uint64, data []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(data) == 8 {
		c.sum += binary.BigEndian.Uint64(data)
	}
	return binary.BigEndian.AppendUint64(nil, c.sum)
}

func (c *counter) Snapshot() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return binary.BigEndian.AppendUint64(nil, c.sum), nil
}

func (c *counter) Restore(_ uint64, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sum = 0
	if len(data) == 8 {
		c.sum = binary.BigEndian.Uint64(data)
	}
	return nil
}

func (c *counter) value() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sum
}

// spawnGroup spawns a 3-node group inside a plain protoactor system.
func spawnGroup(t *testing.T, system *actor.ActorSystem) (map[uint64]*actors.Node, map[uint64]*counter) {
	return spawnGroupWith(t, system, nil)
}

// spawnGroupWith is spawnGroup with the given log stores (nil: in memory).
func spawnGroupWith(t *testing.T, system *actor.ActorSystem, stores map[uint64]actors.LogStore) (map[uint64]*actors.Node, map[uint64]*counter) {
	t.Helper()
	transport := actors.NewPIDTransport()
	nodes := map[uint64]*actors.Node{}
	sms := map[uint64]*counter{}
	for _, id := range []uint64{1, 2, 3} {
		sms[id] = &counter{}
		props, err := actors.NewNodeProps(actors.Config{
			ID: id, Peers: []uint64{1, 2, 3}, StateMachine: sms[id], Transport: transport,
			LogStore: stores[id], TickInterval: 10 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		pid := system.Root.Spawn(props)
		transport.SetPeer(id, pid)
		nodes[id] = actors.NewNode(system.Root, pid)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			_ = system.Root.PoisonFuture(n.PID()).Wait()
		}
	})
	return nodes, sms
}

// waitLeader polls status until one node reports itself leader.
func waitLeader(t *testing.T, nodes map[uint64]*actors.Node) uint64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for id, n := range nodes {
			st, err := n.Status(context.Background())
			if err == nil && st.Lead == id {
				return id
			}
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronization
	}
	t.Fatal("no leader within 10s")
	return 0
}

func TestEmbeddedGroupProposesAndAppliesEverywhere(t *testing.T) {
	system := actor.NewActorSystemWithConfig(actors.SystemConfig(nil))
	nodes, sms := spawnGroup(t, system)
	leader := waitLeader(t, nodes)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var last []byte
	for i := uint64(1); i <= 10; i++ {
		res, err := nodes[leader].Propose(ctx, binary.BigEndian.AppendUint64(nil, i))
		if err != nil {
			t.Fatalf("propose %d: %v", i, err)
		}
		last = res.Result
	}
	if got := binary.BigEndian.Uint64(last); got != 55 {
		t.Fatalf("result of the last proposal = %d, want 55", got)
	}
	// A follower refuses writes with the leader's id.
	for id, n := range nodes {
		if id == leader {
			continue
		}
		_, err := n.Propose(ctx, binary.BigEndian.AppendUint64(nil, 1))
		var nl *actors.NotLeaderError
		if !errors.As(err, &nl) || nl.Leader != leader {
			t.Fatalf("follower %d propose error = %v, want NotLeaderError{%d}", id, err, leader)
		}
		// A linearizable read on a follower returns once it has applied
		// everything committed before the read.
		if _, err := n.Read(ctx, actors.ReadLinearizable); err != nil {
			t.Fatalf("follower %d read: %v", id, err)
		}
		if got := sms[id].value(); got != 55 {
			t.Fatalf("follower %d after a linearizable read sees %d, want 55", id, got)
		}
	}
	if _, err := nodes[leader].Read(ctx, actors.ReadLease); err != nil {
		t.Fatalf("lease read on the leader: %v", err)
	}
}

func ExampleNewNodeProps() {
	system := actor.NewActorSystemWithConfig(actors.SystemConfig(nil))
	transport := actors.NewPIDTransport()
	sm := &counter{}
	props, _ := actors.NewNodeProps(actors.Config{ID: 1, Peers: []uint64{1}, StateMachine: sm, Transport: transport, TickInterval: 10 * time.Millisecond})
	pid := system.Root.Spawn(props)
	transport.SetPeer(1, pid)
	node := actors.NewNode(system.Root, pid)
	ctx := context.Background()
	for {
		if st, err := node.Status(ctx); err == nil && st.Lead == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	res, err := node.Propose(ctx, binary.BigEndian.AppendUint64(nil, 42))
	fmt.Println(binary.BigEndian.Uint64(res.Result), err)
	_ = system.Root.PoisonFuture(pid).Wait()
	// Output: 42 <nil>
}
