// Scenario tests of the asynchronous-storage contract (AsyncStorageWrites):
// Ready hands out what is not in progress, AcceptReady comes at once and
// MarkPersisted later, in Ready order. Here the caller's durable storage is
// the MemoryStorage, written only when a write is declared durable, as the
// node mirrors its log writer (actors/node.go).
package raft

import (
	"slices"
	"testing"

	pb "github.com/kontiki-raft/kontiki/messages"
)

func asyncWrites(c *Config) { c.AsyncStorageWrites = true }

// persistReady makes rd's snapshot, entries and hard state durable in s.
func persistReady(t testing.TB, s *MemoryStorage, rd Ready) {
	t.Helper()
	if rd.Snapshot != nil {
		if err := s.ApplySnapshot(rd.Snapshot); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append(rd.Entries); err != nil {
		t.Fatal(err)
	}
	if rd.HardState != nil {
		s.SetHardState(rd.HardState)
	}
}

// finishWrite: rd's write landed; tell the core.
func finishWrite(t testing.TB, r *Raft, s *MemoryStorage, rd Ready) {
	t.Helper()
	persistReady(t, s, rd)
	r.MarkPersisted(rd.Snapshot, rd.Entries)
}

// takeReady takes one Ready and accepts it at once, checking that nothing it
// hands for apply lies beyond the durable log.
func takeReady(t testing.TB, r *Raft) Ready {
	t.Helper()
	rd := r.Ready()
	if n := len(rd.CommittedEntries); n > 0 && rd.CommittedEntries[n-1].Index > r.StableIndex() {
		t.Fatalf("Ready hands entry %d for apply; stable index is %d", rd.CommittedEntries[n-1].Index, r.StableIndex())
	}
	r.AcceptReady(rd)
	return rd
}

// takeAll takes Readies until the core is quiet; it returns what they hand
// out to persist and to apply.
func takeAll(t testing.TB, r *Raft) (persist, apply []*pb.Entry, msgs []*pb.Message) {
	t.Helper()
	for i := 0; r.HasReady(); i++ {
		if i > 100 {
			t.Fatal("HasReady never turns false")
		}
		rd := takeReady(t, r)
		if rd.Snapshot != nil {
			t.Fatalf("unexpected snapshot %d", rd.Snapshot.Metadata.Index)
		}
		persist = append(persist, rd.Entries...)
		apply = append(apply, rd.CommittedEntries...)
		msgs = append(msgs, rd.Messages...)
	}
	return persist, apply, msgs
}

func entryIDs(ents []*pb.Entry) [][2]uint64 {
	var out [][2]uint64
	for _, e := range ents {
		out = append(out, [2]uint64{e.Index, e.Term})
	}
	return out
}

func wantEntries(t testing.TB, what string, got []*pb.Entry, want ...[2]uint64) {
	t.Helper()
	if g := entryIDs(got); !slices.Equal(g, want) {
		t.Fatalf("%s: got (index, term) %v, want %v", what, g, want)
	}
}

// Entries in flight are not handed out again; entries appended meanwhile are
// handed out alone; StableIndex follows the writes as they land.
func TestAsyncReadyHandsOutEntriesOnce(t *testing.T) {
	c := newTestCluster(t, 3, asyncWrites)
	c.campaign(1)
	n := c.nodes[1]
	if err := n.r.Propose([]byte("a")); err != nil {
		t.Fatal(err)
	}
	rd1 := takeReady(t, n.r)
	wantEntries(t, "first Ready", rd1.Entries, [2]uint64{2, 1})
	// The write of entry 2 is in flight: it must not be handed out again.
	if ents, _, _ := takeAll(t, n.r); len(ents) != 0 {
		t.Fatalf("in-progress entries handed out again: %v", entryIDs(ents))
	}
	for _, d := range []string{"b", "c"} {
		if err := n.r.Propose([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	rd2 := takeReady(t, n.r)
	wantEntries(t, "Ready after new proposals", rd2.Entries, [2]uint64{3, 1}, [2]uint64{4, 1})
	if got := n.r.StableIndex(); got != 1 {
		t.Fatalf("stable index %d before any write landed, want 1", got)
	}
	finishWrite(t, n.r, n.storage, rd1)
	if got := n.r.StableIndex(); got != 2 {
		t.Fatalf("stable index %d after the first write, want 2", got)
	}
	finishWrite(t, n.r, n.storage, rd2)
	if got := n.r.StableIndex(); got != 4 {
		t.Fatalf("stable index %d after both writes, want 4", got)
	}
	if ents, _, _ := takeAll(t, n.r); len(ents) != 0 {
		t.Fatalf("durable entries handed out again: %v", entryIDs(ents))
	}
}

// proposeAsync proposes on the leader, accepts its Ready (the write is in
// flight) and queues the appends, which may leave before the write lands.
func proposeAsync(t *testing.T, c *testCluster, lead uint64, data string) Ready {
	t.Helper()
	r := c.nodes[lead].r
	if err := r.Propose([]byte(data)); err != nil {
		t.Fatal(err)
	}
	rd := takeReady(t, r)
	if len(rd.Entries) != 1 {
		t.Fatalf("Ready hands out %d entries, want 1", len(rd.Entries))
	}
	c.send(rd.Messages)
	return rd
}

// deliverAppendsAndAcks delivers the leader's appends to the followers in
// to (the others' stay queued) and steps their acks into the leader, whose
// Readies are accepted but whose writes do not land.
func deliverAppendsAndAcks(t *testing.T, c *testCluster, lead uint64, to ...uint64) []*pb.Entry {
	t.Helper()
	for _, m := range c.take(func(m *pb.Message) bool { return slices.Contains(to, m.To) }) {
		c.deliver(m)
	}
	var applied []*pb.Entry
	for _, m := range c.take(func(m *pb.Message) bool { return m.To == lead }) {
		_ = c.nodes[lead].r.Step(m)
		ents, apply, msgs := takeAll(t, c.nodes[lead].r)
		if len(ents) != 0 {
			t.Fatalf("leader hands out entries %v again", entryIDs(ents))
		}
		applied = append(applied, apply...)
		c.send(msgs)
	}
	return applied
}

// A leader counts itself toward a quorum only for entries MarkPersisted, and
// applies nothing beyond them even when the followers alone make a quorum.
func TestAsyncLeaderCountsItselfOnlyWhenDurable(t *testing.T) {
	c := newTestCluster(t, 3, asyncWrites)
	c.campaign(1)
	r := c.nodes[1].r

	// One follower's ack plus the leader's in-flight write is no quorum.
	rd := proposeAsync(t, c, 1, "x")
	if applied := deliverAppendsAndAcks(t, c, 1, 2); len(applied) != 0 {
		t.Fatalf("leader applied %v before a quorum stored them", entryIDs(applied))
	}
	if got := r.Committed(); got != 1 {
		t.Fatalf("commit %d with only node 2 durable, want 1", got)
	}
	finishWrite(t, r, c.nodes[1].storage, rd)
	if got := r.Committed(); got != 2 {
		t.Fatalf("commit %d once the leader's write landed, want 2 (leader + node 2)", got)
	}
	_, apply, _ := takeAll(t, r)
	wantEntries(t, "leader applies after its write", apply, [2]uint64{2, 1})

	// Two follower acks are a quorum without the leader: the entry commits,
	// but the leader applies it only once its own copy is durable.
	rd = proposeAsync(t, c, 1, "y")
	if applied := deliverAppendsAndAcks(t, c, 1, 2, 3); len(applied) != 0 {
		t.Fatalf("leader applied %v beyond its durable log", entryIDs(applied))
	}
	if got := r.Committed(); got != 3 {
		t.Fatalf("commit %d with both followers durable, want 3", got)
	}
	finishWrite(t, r, c.nodes[1].storage, rd)
	_, apply, _ = takeAll(t, r)
	wantEntries(t, "leader applies after its write", apply, [2]uint64{3, 1})
}

func appendMsg(from, to, term, index, logTerm, commit uint64, ents ...[2]uint64) *pb.Message {
	m := &pb.Message{Type: pb.MessageType_MSG_APP, From: from, To: to, Term: term, Index: index, LogTerm: logTerm, Commit: commit}
	for _, e := range ents {
		m.Entries = append(m.Entries, &pb.Entry{Index: e[0], Term: e[1]})
	}
	return m
}

func mustStep(t testing.TB, r *Raft, m *pb.Message) {
	t.Helper()
	if err := r.Step(m); err != nil {
		t.Fatalf("step %v: %v", m.Type, err)
	}
}

// A follower told entries are committed together with the entries
// themselves applies them only once their write lands.
func TestAsyncFollowerAppliesOnlyDurableEntries(t *testing.T) {
	r, s := newSoloRaft(t, 2, []uint64{1, 2, 3}, nil, asyncWrites)
	mustStep(t, r, appendMsg(1, 2, 1, 0, 0, 2, [2]uint64{1, 1}, [2]uint64{2, 1}))
	rd := takeReady(t, r)
	wantEntries(t, "append", rd.Entries, [2]uint64{1, 1}, [2]uint64{2, 1})
	if len(rd.CommittedEntries) != 0 {
		t.Fatalf("committed entries %v handed out with the write in flight", entryIDs(rd.CommittedEntries))
	}
	for _, m := range rd.Messages {
		if SendsBeforePersist(m) {
			t.Fatalf("follower's %v may not leave before its write", m.Type)
		}
	}
	// A heartbeat repeating the commit index changes nothing.
	mustStep(t, r, &pb.Message{Type: pb.MessageType_MSG_HEARTBEAT, From: 1, To: 2, Term: 1, Commit: 2})
	if _, apply, _ := takeAll(t, r); len(apply) != 0 {
		t.Fatalf("applied %v before the write landed", entryIDs(apply))
	}
	if got := r.StableIndex(); got != 0 {
		t.Fatalf("stable index %d, want 0", got)
	}
	finishWrite(t, r, s, rd)
	_, apply, _ := takeAll(t, r)
	wantEntries(t, "after the write", apply, [2]uint64{1, 1}, [2]uint64{2, 1})
}

// A follower's write of entries 2-4 (term 2) is in flight when a term-3
// leader replaces 3-4. The stale write landing must not make the replacing
// entries stable, though its last index is still in the log; the write of
// the replacing entries does.
func TestAsyncConflictWhileWriteInFlight(t *testing.T) {
	r, s := newSoloRaft(t, 2, []uint64{1, 2, 3}, []uint64{1}, asyncWrites)
	mustStep(t, r, appendMsg(1, 2, 2, 1, 1, 1, [2]uint64{2, 2}, [2]uint64{3, 2}, [2]uint64{4, 2}))
	rdA := takeReady(t, r)
	wantEntries(t, "first append", rdA.Entries, [2]uint64{2, 2}, [2]uint64{3, 2}, [2]uint64{4, 2})
	applied := rdA.CommittedEntries

	mustStep(t, r, appendMsg(3, 2, 3, 2, 2, 4, [2]uint64{3, 3}, [2]uint64{4, 3}))
	rdB := takeReady(t, r)
	wantEntries(t, "conflicting append", rdB.Entries, [2]uint64{3, 3}, [2]uint64{4, 3})
	applied = append(applied, rdB.CommittedEntries...)

	finishWrite(t, r, s, rdA)
	if got := r.StableIndex(); got >= 3 {
		t.Fatalf("stable index %d after the stale write: entries 3-4 on disk are still term 2", got)
	}
	if got := logTerms(r); !slices.Equal(got, []uint64{1, 2, 3, 3}) {
		t.Fatalf("log terms %v after the stale write landed, want [1 2 3 3]", got)
	}
	_, apply, _ := takeAll(t, r)
	applied = append(applied, apply...)

	finishWrite(t, r, s, rdB)
	if got := r.StableIndex(); got != 4 {
		t.Fatalf("stable index %d after the replacing write, want 4", got)
	}
	_, apply, _ = takeAll(t, r)
	applied = append(applied, apply...)
	wantEntries(t, "applied", applied, [2]uint64{1, 1}, [2]uint64{2, 2}, [2]uint64{3, 3}, [2]uint64{4, 3})
}

// A snapshot in flight is handed out once; nothing after it is applied, and
// the applied index moves to it, only when its write lands.
func TestAsyncSnapshotInProgress(t *testing.T) {
	r, s := newSoloRaft(t, 2, []uint64{1, 2, 3}, nil, asyncWrites)
	mustStep(t, r, &pb.Message{Type: pb.MessageType_MSG_SNAP, From: 1, To: 2, Term: 2, Snapshot: testSnapshot(10, 2, 1, 2, 3)})
	rdS := takeReady(t, r)
	if rdS.Snapshot == nil || rdS.Snapshot.Metadata.Index != 10 {
		t.Fatalf("Ready snapshot %v, want index 10", rdS.Snapshot)
	}
	mustStep(t, r, appendMsg(1, 2, 2, 10, 2, 11, [2]uint64{11, 2}))
	rdE := takeReady(t, r)
	if rdE.Snapshot != nil {
		t.Fatal("the snapshot in progress was handed out again")
	}
	wantEntries(t, "append after the snapshot", rdE.Entries, [2]uint64{11, 2})
	if ents, apply, _ := takeAll(t, r); len(ents)+len(apply) != 0 {
		t.Fatalf("handed out %v to persist, %v to apply with the snapshot in flight", entryIDs(ents), entryIDs(apply))
	}
	if r.StableIndex() != 0 || r.Status().Applied != 0 {
		t.Fatalf("stable %d, applied %d with the snapshot in flight; want 0, 0", r.StableIndex(), r.Status().Applied)
	}
	finishWrite(t, r, s, rdS)
	if got := r.Status().Applied; got != 10 {
		t.Fatalf("applied %d after the snapshot landed, want 10", got)
	}
	if _, apply, _ := takeAll(t, r); len(apply) != 0 {
		t.Fatalf("applied %v before its write landed", entryIDs(apply))
	}
	finishWrite(t, r, s, rdE)
	_, apply, _ := takeAll(t, r)
	wantEntries(t, "after the entries landed", apply, [2]uint64{11, 2})
}
