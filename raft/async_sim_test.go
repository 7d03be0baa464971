// A seeded random simulation of a cluster in AsyncStorageWrites mode. Each
// node's writes land in order after a random delay; only then are they
// mirrored into its MemoryStorage (its disk) and MarkPersisted. Messages are
// delayed, dropped, duplicated and reordered; nodes crash, losing the writes
// still in flight, and restart from their disk; logs are compacted, so
// snapshots are sent. The safety invariants are checked after every step.
package raft

import (
	"fmt"
	"math/rand/v2"
	"testing"

	pb "github.com/kontiki-raft/kontiki/messages"
	"google.golang.org/protobuf/proto"
)

// simMaxMsgDelay: messages arrive within this many steps. A node's writes
// land within its disk's delay, one of simDiskDelays: a slow disk keeps many
// writes in flight, which conflicting appends then overtake.
const simMaxMsgDelay = 4

var simDiskDelays = []int{2, 6, 25}

// simWrite is one Ready's durable work on its way to disk.
type simWrite struct {
	rd Ready
	// late: messages that depend on the write (acks, votes) leave when it lands.
	late []*pb.Message
	due  int
}

type simCommitted struct {
	e      *pb.Entry
	seenIn uint64
}

type simMsg struct {
	m   *pb.Message
	due int
}

type simStats struct {
	committed, crashes, lostWrites, staleWrites, snapshots, leaders int
}

type asyncSim struct {
	t      *testing.T
	seed   uint64
	rng    *rand.Rand
	c      *testCluster
	quorum int
	now    int
	writes map[uint64][]*simWrite
	net    []simMsg
	down   map[uint64]bool
	disk   map[uint64]int // node → its disk's longest write delay
	// stall: node → the step until which its disk completes nothing.
	stall map[uint64]int
	// cut: links (both ways) on which every message is lost.
	cut    map[[2]uint64]bool
	starts int
	// committed[i]: the entry any node reported committed at index i, with
	// the reporter's term then (at least the term it was committed in).
	committed []simCommitted
	// applied: index → the entry a node applied there.
	applied map[uint64]*pb.Entry
	// commitSeen: per node, the commit index checked so far.
	commitSeen map[uint64]uint64
	leaders    map[uint64]uint64 // term → leader
	stats      simStats
}

func newAsyncSim(t *testing.T, seed uint64, nodes int) *asyncSim {
	s := &asyncSim{
		t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x5eed)), quorum: nodes/2 + 1,
		writes: map[uint64][]*simWrite{}, down: map[uint64]bool{}, cut: map[[2]uint64]bool{},
		committed: make([]simCommitted, 1), applied: map[uint64]*pb.Entry{},
		commitSeen: map[uint64]uint64{}, leaders: map[uint64]uint64{},
	}
	s.c = newTestCluster(t, nodes, s.config)
	s.disk, s.stall = map[uint64]int{}, map[uint64]int{}
	for _, id := range s.c.ids {
		s.disk[id] = simDiskDelays[s.rng.IntN(len(simDiskDelays))]
	}
	return s
}

func (s *asyncSim) config(c *Config) {
	c.AsyncStorageWrites = true
	c.ElectionTick, c.HeartbeatTick = 10, 2
	c.MaxSizePerMsg, c.MaxInflightMsgs = 64, 4
	s.starts++
	c.Rand = rand.New(rand.NewPCG(s.seed, uint64(s.starts)))
}

func (s *asyncSim) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("seed %d, step %d: %s", s.seed, s.now, fmt.Sprintf(format, args...))
}

// send puts m on the network: lost, delayed, sometimes duplicated.
func (s *asyncSim) send(m *pb.Message) {
	if s.cut[[2]uint64{min(m.From, m.To), max(m.From, m.To)}] || s.rng.IntN(20) == 0 {
		return
	}
	s.net = append(s.net, simMsg{m: m, due: s.now + s.rng.IntN(simMaxMsgDelay+1)})
	if s.rng.IntN(50) == 0 {
		s.net = append(s.net, simMsg{m: proto.Clone(m).(*pb.Message), due: s.now + s.rng.IntN(simMaxMsgDelay+1)})
	}
}

// drain handles every Ready of node id as the node actor does: a leader's
// appends leave at once; everything else waits for the Ready's write, queued
// behind the writes in flight, and so does a Ready that persists nothing
// while writes are in flight (sending its messages at once lets the ack of
// a duplicate append cover entries not yet durable, and this simulation then
// loses committed entries). Committed entries are applied and the Ready
// accepted at once.
func (s *asyncSim) drain(id uint64) {
	n := s.c.nodes[id]
	for i := 0; n.r.HasReady(); i++ {
		if i > 1000 {
			s.fatalf("node %d: HasReady never turns false", id)
		}
		rd := n.r.Ready()
		w := &simWrite{rd: rd}
		for _, m := range rd.Messages {
			if SendsBeforePersist(m) {
				s.send(m)
			} else {
				w.late = append(w.late, m)
			}
		}
		q := s.writes[id]
		if rd.HardState != nil || rd.Snapshot != nil || len(rd.Entries) > 0 || (len(q) > 0 && len(w.late) > 0) {
			w.due = max(s.now+s.rng.IntN(s.disk[id]+1), s.stall[id])
			if len(q) > 0 {
				w.due = max(w.due, q[len(q)-1].due)
			}
			s.writes[id] = append(q, w)
		} else {
			for _, m := range w.late {
				s.send(m)
			}
		}
		s.apply(id, rd.CommittedEntries)
		n.r.AcceptReady(rd)
	}
}

// apply checks entries handed for apply: next in order, on this node's disk
// (CommittedEntries never pass StableIndex), and the same everywhere.
func (s *asyncSim) apply(id uint64, ents []*pb.Entry) {
	n := s.c.nodes[id]
	next := n.r.log.applied + 1
	for _, e := range ents {
		if e.Index != next {
			s.fatalf("node %d applies index %d, want %d", id, e.Index, next)
		}
		next++
		if e.Index > n.r.StableIndex() {
			s.fatalf("node %d applies index %d above its stable index %d", id, e.Index, n.r.StableIndex())
		}
		if term, err := n.storage.Term(e.Index); err != nil || term != e.Term {
			s.fatalf("node %d applies %d@%d, its disk has term %d (%v)", id, e.Index, e.Term, term, err)
		}
		if prev, ok := s.applied[e.Index]; ok && !sameEntry(prev, e) {
			s.fatalf("node %d applies %d@%d %q, another node applied %d@%d %q", id, e.Index, e.Term, e.Data, prev.Index, prev.Term, prev.Data)
		}
		if c := s.committedAt(e.Index); c != nil && !sameEntry(c, e) {
			s.fatalf("node %d applies %d@%d %q, committed was %d@%d %q", id, e.Index, e.Term, e.Data, c.Index, c.Term, c.Data)
		}
		s.applied[e.Index] = e
	}
	n.applied = append(n.applied, ents...)
}

func sameEntry(a, b *pb.Entry) bool {
	return a.Index == b.Index && a.Term == b.Term && string(a.Data) == string(b.Data)
}

// land completes node id's writes that are due, in order: mirror to disk,
// release the messages that waited, MarkPersisted.
func (s *asyncSim) land(id uint64) {
	n := s.c.nodes[id]
	for len(s.writes[id]) > 0 && s.writes[id][0].due <= s.now {
		w := s.writes[id][0]
		s.writes[id] = s.writes[id][1:]
		persistReady(s.t, n.storage, w.rd)
		for _, m := range w.late {
			s.send(m)
		}
		n.r.MarkPersisted(w.rd.Snapshot, w.rd.Entries)
		if k := len(w.rd.Entries); k > 0 && n.r.StableIndex() < w.rd.Entries[k-1].Index {
			s.stats.staleWrites++
		}
		s.drain(id)
	}
}

func (s *asyncSim) crash(id uint64) {
	s.down[id] = true
	s.stats.crashes++
	s.stats.lostWrites += len(s.writes[id])
	s.writes[id] = nil
}

// restart rebuilds node id from its disk; its state machine starts from the
// disk's snapshot, as the node's does.
func (s *asyncSim) restart(id uint64) {
	n := s.c.nodes[id]
	snap, _ := n.storage.Snapshot()
	hs, _, _ := n.storage.InitialState()
	if hs.Commit < snap.Metadata.Index {
		// A snapshot holds only committed state (the node does the same on
		// load: its applied index may run ahead of the durable commit).
		hs.Commit = snap.Metadata.Index
		n.storage.SetHardState(hs)
	}
	cfg := newTestConfig(id, n.storage)
	s.config(&cfg)
	r, err := New(cfg)
	if err != nil {
		s.fatalf("restart node %d: %v", id, err)
	}
	n.r, n.applied = r, nil
	// A commit index not yet durable is forgotten; one that was is not.
	if r.log.committed < hs.Commit {
		s.fatalf("node %d restarted with commit %d, its disk says %d", id, r.log.committed, hs.Commit)
	}
	s.commitSeen[id] = min(s.commitSeen[id], r.log.committed)
	s.down[id] = false
	s.drain(id)
}

// compact snapshots node id's applied state and drops the log below it.
func (s *asyncSim) compact(id uint64) {
	n := s.c.nodes[id]
	a := n.r.log.applied
	if snap, _ := n.storage.Snapshot(); a <= snap.Metadata.Index {
		return
	}
	if _, err := n.storage.CreateSnapshot(a, n.r.ConfState(), nil); err != nil {
		s.fatalf("node %d: snapshot at applied %d: %v", id, a, err)
	}
	if err := n.storage.Compact(a); err != nil {
		s.fatalf("node %d: compact %d: %v", id, a, err)
	}
}

func (s *asyncSim) step() {
	s.now++
	ids := s.c.ids
	id := ids[s.rng.IntN(len(ids))]
	switch p := s.rng.IntN(100); {
	case p < 30:
		if !s.down[id] {
			_ = s.c.nodes[id].r.Propose(fmt.Appendf(nil, "%d/%d", s.seed, s.now))
			s.drain(id)
		}
	case p < 32:
		if lead := s.c.leader(); lead != 0 && s.rng.IntN(2) == 0 {
			id = lead // leaders crash more often: more elections
		}
		if !s.down[id] {
			s.crash(id)
		}
	case p < 35:
		if !s.down[id] {
			s.compact(id)
		}
	case p < 36:
		// A stalled disk holds writes while leaders come and go.
		s.stall[id] = s.now + 30 + s.rng.IntN(50)
	case p < 40:
		// Partial partitions make leaders come and go with diverging
		// tails: conflicts reach followers with writes in flight.
		if other := ids[s.rng.IntN(len(ids))]; other != id {
			s.cut[[2]uint64{min(id, other), max(id, other)}] = true
		}
	case p < 43:
		clear(s.cut)
	}
	for _, id := range ids {
		if s.down[id] && s.rng.IntN(10) == 0 {
			s.restart(id)
		}
		if !s.down[id] && s.rng.IntN(2) == 0 {
			s.c.nodes[id].r.Tick()
			s.drain(id)
		}
	}
	for _, id := range ids {
		if !s.down[id] {
			s.land(id)
		}
	}
	// Deliver what is due, in random order.
	var due []*pb.Message
	kept := s.net[:0]
	for _, sm := range s.net {
		if sm.due <= s.now {
			due = append(due, sm.m)
		} else {
			kept = append(kept, sm)
		}
	}
	s.net = kept
	s.rng.Shuffle(len(due), func(i, j int) { due[i], due[j] = due[j], due[i] })
	for _, m := range due {
		if s.down[m.To] {
			continue
		}
		if m.Type == pb.MessageType_MSG_SNAP {
			s.stats.snapshots++
		}
		_ = s.c.nodes[m.To].r.Step(m)
		s.drain(m.To)
	}
}

func TestAsyncSimulation(t *testing.T) {
	const seeds, steps = 200, 300
	var total simStats
	for seed := uint64(1); seed <= seeds; seed++ {
		nodes := 3
		if seed%2 == 0 {
			nodes = 5
		}
		s := newAsyncSim(t, seed, nodes)
		for range steps {
			s.step()
			s.check()
		}
		total.committed += s.stats.committed
		total.crashes += s.stats.crashes
		total.lostWrites += s.stats.lostWrites
		total.staleWrites += s.stats.staleWrites
		total.snapshots += s.stats.snapshots
		total.leaders += s.stats.leaders
	}
	t.Logf("%+v", total)
	// The run must exercise what it is about, or it proves nothing.
	if total.committed < seeds*20 || total.lostWrites < seeds/4 || total.staleWrites == 0 || total.snapshots == 0 || total.leaders < seeds {
		t.Fatalf("too little exercised: %+v", total)
	}
}
