package raft

import (
	"fmt"
	"math/rand/v2"
	"testing"

	pb "github.com/kontiki-raft/kontiki/messages"
	"google.golang.org/protobuf/proto"
)

// fuzzCluster is a 3-node cluster in a state with something to lose: node 1
// leads term 2 with entries, node 2 is caught up, node 3 lags behind a
// compacted log and is in replicate with appends in flight.
func fuzzCluster(t *testing.T) *testCluster {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.MaxSizePerMsg = 64; cfg.MaxInflightMsgs = 4 })
	c.campaign(1)
	_ = c.nodes[1].r.TransferLeader(2)
	c.deliverAll()
	_ = c.nodes[2].r.TransferLeader(1)
	c.deliverAll()
	_ = c.propose(1, "a")
	c.isolate(3)
	for _, d := range []string{"b", "c", "d"} {
		_ = c.propose(1, d)
	}
	lead := c.nodes[1]
	if _, err := lead.storage.CreateSnapshot(lead.r.log.applied, lead.r.ConfState(), []byte("snap")); err != nil {
		t.Fatal(err)
	}
	_ = lead.storage.Compact(lead.r.log.applied)
	_ = c.propose(1, "e")
	c.heal()
	return c
}

// checkLocalInvariants are the properties no input may break on any node.
func checkLocalInvariants(t *testing.T, c *testCluster) {
	t.Helper()
	for _, id := range c.ids {
		r := c.nodes[id].r
		l := r.log
		if l.applied > l.committed || l.committed > l.lastIndex() {
			t.Fatalf("node %d: applied %d, committed %d, last %d", id, l.applied, l.committed, l.lastIndex())
		}
		if r.role == Leader && r.lead != r.id {
			t.Fatalf("node %d leads but follows %d", id, r.lead)
		}
		prev := uint64(0)
		for i := l.firstIndex(); i <= l.lastIndex(); i++ {
			term, err := l.term(i)
			if err != nil {
				t.Fatalf("node %d: term(%d): %v", id, i, err)
			}
			if term < prev || term > r.term {
				t.Fatalf("node %d: entry %d has term %d after %d (node term %d)", id, i, term, prev, r.term)
			}
			prev = term
		}
	}
}

// FuzzStepWireMessage decodes arbitrary bytes as a message from the wire and
// steps it into every node of a running cluster: whatever it says, no node
// may panic or corrupt its log, and the cluster keeps running afterwards.
func FuzzStepWireMessage(f *testing.F) {
	seeds := []*pb.Message{
		{Type: pb.MessageType_MSG_APP, From: 1, Term: 2, Index: 3, LogTerm: 2, Commit: 4, Entries: []*pb.Entry{{Index: 4, Term: 2, Data: []byte("x")}}},
		{Type: pb.MessageType_MSG_APP, From: 1, Term: 2, Index: 1, LogTerm: 1, Entries: []*pb.Entry{{Index: 5, Term: 2}}},
		{Type: pb.MessageType_MSG_APP, From: 2, Term: 9, Index: 0, Entries: []*pb.Entry{{Index: 1, Term: 9}}},
		{Type: pb.MessageType_MSG_APP_RESP, From: 2, Term: 3, Index: 1000},
		{Type: pb.MessageType_MSG_APP_RESP, From: 3, Term: 3, Index: 2, Reject: true, RejectHint: 1, LogTerm: 1},
		{Type: pb.MessageType_MSG_HEARTBEAT, From: 1, Term: 3, Commit: 1000, Context: []byte{0, 0, 0, 0, 0, 0, 0, 9}},
		{Type: pb.MessageType_MSG_HEARTBEAT_RESP, From: 3, Term: 3, Context: []byte{0xff, 0, 0, 0, 0, 0, 0, 0}},
		{Type: pb.MessageType_MSG_SNAP, From: 1, Term: 3, Snapshot: testSnapshot(50, 3, 1, 2, 3)},
		{Type: pb.MessageType_MSG_SNAP, From: 1, Term: 3, Snapshot: &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: 4, Term: 1}}},
		{Type: pb.MessageType_MSG_SNAP, From: 1, Term: 3, Snapshot: testSnapshot(^uint64(0), 3, 1, 2, 3)},
		{Type: pb.MessageType_MSG_HEARTBEAT, From: 1, Term: ^uint64(0)},
		{Type: pb.MessageType_MSG_VOTE, From: 3, Term: 0},
		{Type: pb.MessageType_MSG_PRE_VOTE, From: 3, Term: 4, Index: 100, LogTerm: 3},
		{Type: pb.MessageType_MSG_VOTE_RESP, From: 2, Term: 3},
		{Type: pb.MessageType_MSG_PROP, From: 2, Term: 3, Entries: []*pb.Entry{{Data: []byte("p")}}},
		{Type: pb.MessageType_MSG_PROP, From: 2},
		{Type: pb.MessageType_MSG_READ_INDEX, From: 2, Term: 3, Entries: []*pb.Entry{{Data: []byte("r")}}},
		{Type: pb.MessageType_MSG_READ_INDEX_RESP, From: 1, Term: 3, Index: 1000},
		{Type: pb.MessageType_MSG_TIMEOUT_NOW, From: 1, Term: 3},
		{Type: pb.MessageType_MSG_TRANSFER_LEADER, From: 3, Term: 3},
		{Type: pb.MessageType_MSG_SNAP_STATUS, From: 3, Reject: true},
		{Type: pb.MessageType_MSG_APP, From: 2, Term: 3, Index: 5, LogTerm: 3},
		{Type: pb.MessageType(99), From: 2, Term: 3},
	}
	for _, m := range seeds {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m pb.Message
		if err := proto.Unmarshal(data, &m); err != nil {
			return
		}
		c := fuzzCluster(t)
		for _, id := range c.ids {
			mm := proto.Clone(&m).(*pb.Message)
			mm.To = id
			_ = c.nodes[id].r.Step(mm)
			c.flushReady(id)
			checkLocalInvariants(t, c)
		}
		c.deliverAll()
		checkLocalInvariants(t, c)
		// Life goes on: time passes, everyone proposes (followers forward).
		c.tickAll(25)
		for _, id := range c.ids {
			_ = c.propose(id, fmt.Sprint("after", id))
		}
		c.tickAll(5)
		checkLocalInvariants(t, c)
	})
}

// safety tracks the Raft safety properties over a run (§5.2-§5.4): one
// leader per term, committed entries never change, commit never goes back,
// every node applies the same sequence.
type safety struct {
	leaders   map[uint64]uint64 // term → leader
	committed map[uint64]uint64 // index → term of the committed entry
	data      map[uint64]string // index → data of the committed entry
	// seenIn: index → the term of the node that first reported it committed,
	// at least the term in which it was committed.
	seenIn map[uint64]uint64
	commit map[uint64]uint64 // node → commit index seen last
}

func newSafety() *safety {
	return &safety{leaders: map[uint64]uint64{}, committed: map[uint64]uint64{}, data: map[uint64]string{}, seenIn: map[uint64]uint64{}, commit: map[uint64]uint64{}}
}

func (s *safety) check(t *testing.T, c *testCluster, step int) {
	t.Helper()
	for _, id := range c.ids {
		r := c.nodes[id].r
		if r.Role() == Leader {
			if other, ok := s.leaders[r.Term()]; ok && other != id {
				t.Fatalf("step %d: two leaders in term %d: %d and %d", step, r.Term(), other, id)
			}
			s.leaders[r.Term()] = id
			// Leader completeness: it holds every entry committed in an
			// earlier term.
			for i, term := range s.committed {
				if s.seenIn[i] >= r.Term() {
					continue
				}
				if got, err := r.log.term(i); err == nil && got != term {
					t.Fatalf("step %d: leader %d of term %d has term %d at committed index %d (committed in term %d)", step, id, r.Term(), got, i, term)
				} else if err == ErrUnavailable {
					t.Fatalf("step %d: leader %d of term %d lacks committed index %d", step, id, r.Term(), i)
				}
			}
		}
		if r.log.committed < s.commit[id] {
			// A restart may forget a commit index that was never persisted,
			// but never one that was: the harness persists every Ready.
			t.Fatalf("step %d: node %d commit went back from %d to %d", step, id, s.commit[id], r.log.committed)
		}
		s.commit[id] = r.log.committed
		for i := r.log.firstIndex(); i <= r.log.committed; i++ {
			term, err := r.log.term(i)
			if err != nil {
				continue
			}
			ents, err := r.log.slice(i, i+1, noLimit)
			if err != nil {
				continue
			}
			if prev, ok := s.committed[i]; ok && (prev != term || s.data[i] != string(ents[0].Data)) {
				t.Fatalf("step %d: node %d committed index %d as term %d %q, earlier as term %d %q", step, id, i, term, ents[0].Data, prev, s.data[i])
			}
			if _, ok := s.committed[i]; !ok {
				s.seenIn[i] = r.Term()
			}
			s.committed[i], s.data[i] = term, string(ents[0].Data)
		}
		for _, e := range c.nodes[id].applied {
			if term, ok := s.committed[e.Index]; ok && (term != e.Term || s.data[e.Index] != string(e.Data)) {
				t.Fatalf("step %d: node %d applied index %d term %d %q, committed was term %d %q", step, id, e.Index, e.Term, e.Data, term, s.data[e.Index])
			}
		}
	}
}

// restart rebuilds a node from what it persisted, as after a crash.
func (c *testCluster) restart(id uint64) {
	n := c.nodes[id]
	applied := uint64(0)
	if len(n.applied) > 0 {
		applied = n.applied[len(n.applied)-1].Index
	}
	if snap, _ := n.storage.Snapshot(); snap.Metadata.Index > applied {
		applied = snap.Metadata.Index
	}
	cfg := newTestConfig(id, n.storage)
	cfg.Rand = rand.New(rand.NewPCG(id, uint64(len(c.trace))))
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	cfg.Applied = applied
	r, err := New(cfg)
	if err != nil {
		c.t.Fatalf("restart node %d: %v", id, err)
	}
	n.r = r
}

// FuzzClusterSchedule lets the fuzzer pick the schedule of a 3-node cluster:
// which node ticks, which message is delivered, dropped, duplicated or
// reordered, who proposes or reads, partitions, crashes and restarts,
// compactions. The Raft safety properties must hold after every step.
func FuzzClusterSchedule(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 0, 1, 7, 4, 0, 7, 4, 1, 7})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 4, 0, 5, 0, 0, 1, 0, 1, 0, 1, 7, 4, 1, 7, 5, 0, 7})
	f.Add([]byte("\x00\x01\x02\x07\x04\x00\x04\x01\x03\x05\x02\x07\x08\x00\x07\x09\x01\x07\x06\x02\x07"))
	f.Fuzz(runSchedule)
}

// runSchedule plays one schedule (see FuzzClusterSchedule).
func runSchedule(t *testing.T, ops []byte) {
	if len(ops) > 600 {
		ops = ops[:600]
	}
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.ElectionTick = 4; cfg.MaxSizePerMsg = 64; cfg.MaxInflightMsgs = 3 })
	s := newSafety()
	down := map[uint64]bool{}
	proposals := 0
	arg := func(i *int) int {
		*i++
		if *i < len(ops) {
			return int(ops[*i])
		}
		return 0
	}
	for i := 0; i < len(ops); i++ {
		node := uint64(1 + int(ops[i]>>4)%3)
		switch ops[i] & 0x0f {
		case 0: // tick
			if !down[node] {
				c.tick(node, 1)
			}
		case 1: // deliver the k-th message
			if len(c.queue) > 0 {
				k := arg(&i) % len(c.queue)
				m := c.queue[k]
				c.queue = append(c.queue[:k], c.queue[k+1:]...)
				if !down[m.To] {
					c.deliver(m)
				}
			}
		case 2: // drop the k-th message
			if len(c.queue) > 0 {
				k := arg(&i) % len(c.queue)
				c.queue = append(c.queue[:k], c.queue[k+1:]...)
			}
		case 3: // duplicate the k-th message
			if len(c.queue) > 0 && len(c.queue) < 200 {
				k := arg(&i) % len(c.queue)
				c.queue = append(c.queue, proto.Clone(c.queue[k]).(*pb.Message))
			}
		case 4: // propose
			if !down[node] {
				proposals++
				_ = c.nodes[node].r.Propose([]byte(fmt.Sprintf("p%d", proposals)))
				c.flushReady(node)
			}
		case 5: // isolate a node, or heal everything
			if arg(&i)%2 == 0 {
				c.isolate(node)
			} else {
				c.heal()
			}
		case 6: // read
			if !down[node] {
				_ = c.nodes[node].r.ReadIndex([]byte{byte(i)})
				c.flushReady(node)
			}
		case 7: // deliver everything (to the nodes that are up)
			for steps := 0; len(c.queue) > 0 && steps < 1000; steps++ {
				m := c.queue[0]
				c.queue = c.queue[1:]
				if !down[m.To] {
					c.deliver(m)
				}
			}
		case 8: // crash: messages to it are lost until it restarts
			down[node] = true
		case 9: // restart from durable state
			if down[node] {
				c.restart(node)
				down[node] = false
			}
		case 10: // compact the log up to what is applied
			n := c.nodes[node]
			if a := n.r.log.applied; a > 0 {
				if _, err := n.storage.CreateSnapshot(a, n.r.ConfState(), nil); err == nil {
					_ = n.storage.Compact(a)
				}
			}
		case 11: // transfer leadership
			if lead := c.leader(); lead != 0 && !down[lead] {
				_ = c.nodes[lead].r.TransferLeader(node)
				c.flushReady(lead)
			}
		default: // ticks for everyone
			for _, id := range c.ids {
				if !down[id] {
					c.tick(id, 1)
				}
			}
		}
		s.check(t, c, i)
		checkLocalInvariants(t, c)
	}
}
