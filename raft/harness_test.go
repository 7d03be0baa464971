// A deterministic in-memory cluster of cores for scenario tests: every node's
// Ready is persisted to its MemoryStorage, its messages queued, and delivery
// is explicit, so each test states exactly which messages arrive.
package raft

import (
	"math/rand/v2"
	"testing"

	pb "github.com/kontiki-raft/kontiki/messages"
)

type testNode struct {
	r       *Raft
	storage *MemoryStorage
	applied []*pb.Entry
	reads   []ReadState
}

type testCluster struct {
	t     *testing.T
	nodes map[uint64]*testNode
	ids   []uint64
	// queue of messages in flight, in send order.
	queue []*pb.Message
	// cut[a][b]: messages from a to b are dropped.
	cut  map[[2]uint64]bool
	sent map[pb.MessageType]int
}

func newTestConfig(id uint64, s *MemoryStorage) Config {
	return Config{ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: s, MaxInflightMsgs: 256, Rand: rand.New(rand.NewPCG(id, 7))}
}

func newTestCluster(t *testing.T, n int, tweak func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, nodes: map[uint64]*testNode{}, cut: map[[2]uint64]bool{}, sent: map[pb.MessageType]int{}}
	var voters []uint64
	for i := 1; i <= n; i++ {
		voters = append(voters, uint64(i))
	}
	for _, id := range voters {
		s := NewMemoryStorage()
		s.SetConfState(&pb.ConfState{Voters: voters})
		cfg := newTestConfig(id, s)
		if tweak != nil {
			tweak(&cfg)
		}
		r, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes[id] = &testNode{r: r, storage: s}
		c.ids = append(c.ids, id)
	}
	return c
}

// flushReady persists and collects the output of one node until it is quiet.
func (c *testCluster) flushReady(id uint64) {
	n := c.nodes[id]
	for n.r.HasReady() {
		rd := n.r.Ready()
		if rd.HardState != nil {
			n.storage.SetHardState(rd.HardState)
		}
		if rd.Snapshot != nil {
			if err := n.storage.ApplySnapshot(rd.Snapshot); err != nil {
				c.t.Fatalf("node %d: apply snapshot: %v", id, err)
			}
		}
		if err := n.storage.Append(rd.Entries); err != nil {
			c.t.Fatalf("node %d: append: %v", id, err)
		}
		for _, m := range rd.Messages {
			c.sent[m.Type]++
			if !c.cut[[2]uint64{m.From, m.To}] {
				c.queue = append(c.queue, m)
			}
		}
		n.applied = append(n.applied, rd.CommittedEntries...)
		n.reads = append(n.reads, rd.ReadStates...)
		n.r.Advance(rd)
	}
}

func (c *testCluster) flushAll() {
	for _, id := range c.ids {
		c.flushReady(id)
	}
}

// deliverAll delivers queued messages (and what they cause) until none remain.
func (c *testCluster) deliverAll() {
	c.flushAll()
	for steps := 0; len(c.queue) > 0; steps++ {
		if steps > 100000 {
			c.t.Fatal("messages never quiesce")
		}
		m := c.queue[0]
		c.queue = c.queue[1:]
		if c.cut[[2]uint64{m.From, m.To}] {
			continue
		}
		n, ok := c.nodes[m.To]
		if !ok {
			continue
		}
		_ = n.r.Step(m)
		c.flushReady(m.To)
	}
}

func (c *testCluster) tick(id uint64, n int) {
	for i := 0; i < n; i++ {
		c.nodes[id].r.Tick()
		c.flushReady(id)
	}
}

func (c *testCluster) campaign(id uint64) {
	if err := c.nodes[id].r.Campaign(); err != nil {
		c.t.Fatal(err)
	}
	c.deliverAll()
}

func (c *testCluster) isolate(id uint64) {
	for _, o := range c.ids {
		if o != id {
			c.cut[[2]uint64{id, o}] = true
			c.cut[[2]uint64{o, id}] = true
		}
	}
}

func (c *testCluster) heal() { c.cut = map[[2]uint64]bool{} }

func (c *testCluster) leader() uint64 {
	var lead uint64
	for _, id := range c.ids {
		if c.nodes[id].r.Role() == Leader {
			if lead != 0 && c.nodes[lead].r.Term() == c.nodes[id].r.Term() {
				c.t.Fatalf("two leaders in term %d: %d and %d", c.nodes[id].r.Term(), lead, id)
			}
			if lead == 0 || c.nodes[id].r.Term() > c.nodes[lead].r.Term() {
				lead = id
			}
		}
	}
	return lead
}

func (c *testCluster) propose(id uint64, data string) error {
	err := c.nodes[id].r.Propose([]byte(data))
	c.deliverAll()
	return err
}

func appliedData(n *testNode) []string {
	var out []string
	for _, e := range n.applied {
		if len(e.Data) > 0 {
			out = append(out, string(e.Data))
		}
	}
	return out
}
