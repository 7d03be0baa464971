// A deterministic in-memory cluster of cores for scenario tests: every node's
// Ready is persisted to its MemoryStorage, its messages queued, and delivery
// is explicit, so each test states exactly which messages arrive.
package raft

import (
	"math/rand/v2"
	"testing"

	pb "github.com/kontiki-raft/kontiki/messages"
	"google.golang.org/protobuf/proto"
)

type testNode struct {
	r       *Raft
	storage *MemoryStorage
	applied []*pb.Entry
	reads   []ReadState
	// heartbeatRounds and quorumRounds are the non-zero HeartbeatRound and
	// QuorumRound of every Ready, in order (the lease bookkeeping).
	heartbeatRounds []uint64
	quorumRounds    []uint64
}

type testCluster struct {
	t     testing.TB
	nodes map[uint64]*testNode
	ids   []uint64
	// queue of messages in flight, in send order.
	queue []*pb.Message
	// cut[a][b]: messages from a to b are dropped.
	cut map[[2]uint64]bool
	// drop, when set, drops the sent messages it matches (finer than cut).
	drop func(m *pb.Message) bool
	sent map[pb.MessageType]int
	// trace is every message sent, dropped or not, in send order.
	trace []*pb.Message
	// tweak is applied to the config of every node, also of added ones.
	tweak func(*Config)
}

func newTestConfig(id uint64, s *MemoryStorage) Config {
	return Config{ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: s, MaxInflightMsgs: 256, Rand: rand.New(rand.NewPCG(id, 7))}
}

func newTestCluster(t testing.TB, n int, tweak func(*Config)) *testCluster {
	t.Helper()
	return newTestClusterWithLogs(t, make([][]uint64, n), 0, tweak)
}

// newTestClusterWithLogs builds len(logs) voters; node i+1 starts with the
// entries whose terms are logs[i] (indexes 1, 2, ...), a term of at least
// its last entry's and of term, and commit index commit.
func newTestClusterWithLogs(t testing.TB, logs [][]uint64, commit uint64, tweak func(*Config)) *testCluster {
	t.Helper()
	entries := make([][]*pb.Entry, len(logs))
	for i, terms := range logs {
		for j, term := range terms {
			entries[i] = append(entries[i], &pb.Entry{Index: uint64(j + 1), Term: term})
		}
	}
	return newTestClusterWithEntries(t, entries, commit, tweak)
}

// newTestClusterWithEntries is newTestClusterWithLogs with whole entries.
func newTestClusterWithEntries(t testing.TB, logs [][]*pb.Entry, commit uint64, tweak func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, nodes: map[uint64]*testNode{}, cut: map[[2]uint64]bool{}, sent: map[pb.MessageType]int{}, tweak: tweak}
	var voters []uint64
	for i := range logs {
		voters = append(voters, uint64(i+1))
	}
	for i, ents := range logs {
		id := uint64(i + 1)
		s := NewMemoryStorage()
		s.SetConfState(&pb.ConfState{Voters: voters})
		if len(ents) > 0 {
			if err := s.Append(ents); err != nil {
				t.Fatal(err)
			}
			s.SetHardState(&pb.HardState{Term: ents[len(ents)-1].Term, Commit: min(commit, uint64(len(ents)))})
		}
		c.addNodeWithStorage(id, s)
	}
	return c
}

// setTerm gives node id term, as if it had seen that term before (no vote).
func (c *testCluster) setTerm(id, term uint64) {
	n := c.nodes[id]
	n.r.becomeFollower(term, None)
	c.flushReady(id)
}

// addNode starts a node with an empty log that believes the membership is cs
// (as a node joining a running cluster is configured).
func (c *testCluster) addNode(id uint64, cs *pb.ConfState) {
	s := NewMemoryStorage()
	s.SetConfState(cs)
	c.addNodeWithStorage(id, s)
}

func (c *testCluster) addNodeWithStorage(id uint64, s *MemoryStorage) {
	cfg := newTestConfig(id, s)
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.nodes[id] = &testNode{r: r, storage: s}
	c.ids = append(c.ids, id)
}

// flushReady persists and collects the output of one node until it is quiet.
// Committed conf changes are applied, as the node's applier would.
func (c *testCluster) flushReady(id uint64) {
	n := c.nodes[id]
	for n.r.HasReady() {
		rd := n.r.Ready()
		c.persist(id, rd)
		c.send(rd.Messages)
		c.apply(id, rd)
		n.r.Advance(rd)
	}
}

func (c *testCluster) persist(id uint64, rd Ready) {
	n := c.nodes[id]
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
}

func (c *testCluster) send(msgs []*pb.Message) {
	for _, m := range msgs {
		c.sent[m.Type]++
		c.trace = append(c.trace, m)
		if !c.cut[[2]uint64{m.From, m.To}] && (c.drop == nil || !c.drop(m)) {
			c.queue = append(c.queue, m)
		}
	}
}

func (c *testCluster) apply(id uint64, rd Ready) {
	n := c.nodes[id]
	for _, e := range rd.CommittedEntries {
		if e.Type == pb.EntryType_ENTRY_CONF_CHANGE {
			var cc pb.ConfChange
			if err := proto.Unmarshal(e.Data, &cc); err != nil {
				c.t.Fatalf("node %d: conf change at %d: %v", id, e.Index, err)
			}
			if _, err := n.r.ApplyConfChange(&cc); err != nil {
				c.t.Fatalf("node %d: apply conf change at %d: %v", id, e.Index, err)
			}
		}
	}
	n.applied = append(n.applied, rd.CommittedEntries...)
	n.reads = append(n.reads, rd.ReadStates...)
	if rd.HeartbeatRound != 0 {
		n.heartbeatRounds = append(n.heartbeatRounds, rd.HeartbeatRound)
	}
	if rd.QuorumRound != 0 {
		n.quorumRounds = append(n.quorumRounds, rd.QuorumRound)
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
		c.deliver(m)
	}
}

// deliver steps one message into its recipient and flushes the recipient's
// Ready; what it sends is queued, not delivered.
func (c *testCluster) deliver(m *pb.Message) {
	if c.cut[[2]uint64{m.From, m.To}] {
		return
	}
	n, ok := c.nodes[m.To]
	if !ok {
		return
	}
	_ = n.r.Step(m)
	c.flushReady(m.To)
}

// take removes the queued messages that match and returns them in order.
func (c *testCluster) take(match func(m *pb.Message) bool) []*pb.Message {
	var taken, kept []*pb.Message
	for _, m := range c.queue {
		if match(m) {
			taken = append(taken, m)
		} else {
			kept = append(kept, m)
		}
	}
	c.queue = kept
	return taken
}

func (c *testCluster) tick(id uint64, n int) {
	for i := 0; i < n; i++ {
		c.nodes[id].r.Tick()
		c.flushReady(id)
	}
}

// tickAll ticks every node once and delivers everything, n times.
func (c *testCluster) tickAll(n int) {
	for i := 0; i < n; i++ {
		for _, id := range c.ids {
			c.nodes[id].r.Tick()
		}
		c.deliverAll()
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

// count is the number of traced messages that match.
func (c *testCluster) count(match func(m *pb.Message) bool) int {
	n := 0
	for _, m := range c.trace {
		if match(m) {
			n++
		}
	}
	return n
}

// resetTrace forgets the messages sent so far (for budgets).
func (c *testCluster) resetTrace() {
	c.trace = nil
	c.sent = map[pb.MessageType]int{}
}

func (c *testCluster) status(id uint64) Status { return c.nodes[id].r.Status() }

func isType(t pb.MessageType) func(m *pb.Message) bool {
	return func(m *pb.Message) bool { return m.Type == t }
}

func isTypeTo(t pb.MessageType, to uint64) func(m *pb.Message) bool {
	return func(m *pb.Message) bool { return m.Type == t && m.To == to }
}

func appliedData(n *testNode) []string {
	var out []string
	for _, e := range n.applied {
		if len(e.Data) > 0 && e.Type == pb.EntryType_ENTRY_NORMAL {
			out = append(out, string(e.Data))
		}
	}
	return out
}

// logTerms lists the terms of a node's whole log (stable and unstable),
// index 1 first; compacted entries are reported as 0.
func logTerms(r *Raft) []uint64 {
	var out []uint64
	for i := uint64(1); i <= r.log.lastIndex(); i++ {
		out = append(out, r.log.zeroTermOnOutOfBounds(r.log.term(i)))
	}
	return out
}

func confChangeData(t testing.TB, typ pb.ConfChangeType, id uint64) *pb.ConfChange {
	t.Helper()
	return &pb.ConfChange{Changes: []*pb.ConfChangeSingle{{Type: typ, NodeId: id}}}
}

// newSoloRaft is a single Raft with the given voters and log terms, for tests
// that step messages into one node by hand.
func newSoloRaft(t testing.TB, id uint64, voters []uint64, terms []uint64, tweak func(*Config)) (*Raft, *MemoryStorage) {
	t.Helper()
	s := NewMemoryStorage()
	s.SetConfState(&pb.ConfState{Voters: voters})
	if len(terms) > 0 {
		var ents []*pb.Entry
		for j, term := range terms {
			ents = append(ents, &pb.Entry{Index: uint64(j + 1), Term: term})
		}
		if err := s.Append(ents); err != nil {
			t.Fatal(err)
		}
		s.SetHardState(&pb.HardState{Term: terms[len(terms)-1]})
	}
	cfg := newTestConfig(id, s)
	if tweak != nil {
		tweak(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, s
}

// drain takes a solo node's Ready, persists it, and returns its messages.
func drain(r *Raft, s *MemoryStorage) []*pb.Message {
	var out []*pb.Message
	for r.HasReady() {
		rd := r.Ready()
		if rd.HardState != nil {
			s.SetHardState(rd.HardState)
		}
		if rd.Snapshot != nil {
			_ = s.ApplySnapshot(rd.Snapshot)
		}
		_ = s.Append(rd.Entries)
		out = append(out, rd.Messages...)
		r.Advance(rd)
	}
	return out
}
