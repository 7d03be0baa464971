// The invariants, checked as the nodes act (every Ready, every apply, every
// write to a LogStore), so a violation stops the run at the step that caused
// it:
//
//   - election safety: at most one leader per term;
//   - log matching: two stored logs with an entry of the same index and term
//     are identical up to it (each node's stored log is mirrored as a chain
//     of hashes; the first chain hash seen for an (index, term) is the
//     reference);
//   - leader completeness: every entry committed in a term is in the log of
//     every leader of a later term, whenever in the run that leader was
//     elected (its log at election is kept);
//   - state machine safety: an applied entry is the committed entry at its
//     index, so no two nodes apply different entries at one index;
//   - commit monotonicity: a node's commit index never decreases, and after
//     a crash never falls below what it had acknowledged as durable;
//   - durable hard state: a node never persists a lower term, nor a second
//     vote in one term.
//
// The committed log is learnt from the nodes: when a node reports commit c,
// its log up to c is the committed prefix (checked against what was committed
// before, extended by what is new). An entry's commit term is the term of the
// node that first reported it committed: the leader that committed it.
package sim

import (
	"slices"

	"github.com/kontiki-raft/kontiki/actors"
	pb "github.com/kontiki-raft/kontiki/messages"
	"github.com/kontiki-raft/kontiki/raft"
)

type idxTerm struct{ index, term uint64 }

// crec is one committed entry.
type crec struct {
	term, ehash, chain uint64
	// commitTerm is the term in which the entry was first known committed.
	commitTerm uint64
}

// nodeView is what the checker knows of one node (across incarnations).
type nodeView struct {
	id  uint64
	log mirror
	// commit is the highest commit index reported, or after a crash the
	// commit the node had acknowledged as durable.
	commit uint64
	status raft.Status
	seen   bool
}

// leaderLog is a leader's log when it was elected.
type leaderLog struct {
	term, node uint64
	base       uint64
	chain      []uint64
}

func (l *leaderLog) has(i, chain uint64) bool {
	if i <= l.base {
		return true // inside its snapshot, which matched the committed log
	}
	k := i - l.base - 1
	return k < uint64(len(l.chain)) && l.chain[k] == chain
}

type checker struct {
	s          *Sim
	views      []*nodeView // by node id; [0] unused
	leaders    map[uint64]uint64
	leaderLogs []*leaderLog
	maxLeader  uint64 // highest term with a leader
	known      map[idxTerm]uint64
	committed  []crec // committed[i-1] is index i
	snapsSeen  map[*pb.Snapshot]bool
}

func newChecker(s *Sim, nodes int) *checker {
	c := &checker{s: s, leaders: map[uint64]uint64{}, known: map[idxTerm]uint64{}, snapsSeen: map[*pb.Snapshot]bool{}}
	c.views = make([]*nodeView, nodes+1)
	for id := 1; id <= nodes; id++ {
		c.views[id] = &nodeView{id: uint64(id)}
	}
	return c
}

func (c *checker) lastCommitted() uint64 { return uint64(len(c.committed)) }

// onReady: the node's Ready is durable and its messages sent.
func (c *checker) onReady(v *nodeView, st raft.Status, rd *raft.Ready) {
	s := c.s
	if ss := rd.SoftState; ss != nil {
		s.trace.event(s, "node %d is %s in term %d, leader %d", v.id, ss.Role.String(), st.Term, ss.Lead)
	}
	if st.Commit < v.commit {
		s.failf("commit monotonicity: node %d commit index went back from %d to %d", v.id, v.commit, st.Commit)
		return
	}
	c.checkCommit(v, st.Commit, st.Term)
	v.commit = st.Commit
	if st.Role == raft.Leader {
		c.checkLeader(v, st.Term)
	}
	v.status, v.seen = st, true
}

// checkCommit checks the node's log up to ci against the committed log and
// extends the committed log when ci is beyond it.
func (c *checker) checkCommit(v *nodeView, ci, term uint64) {
	s := c.s
	if ci <= v.log.base {
		return // inside the node's snapshot, matched when it was stored
	}
	ch, ok := v.log.chainAt(ci)
	if !ok {
		s.failf("node %d: commit index %d is beyond its stored log (last %d)", v.id, ci, v.log.last())
		return
	}
	last := c.lastCommitted()
	if ci <= last {
		if r := c.committed[ci-1]; r.chain != ch {
			s.failf("committed log diverged: node %d has committed entry %d of term %d where entry %d of term %d was committed before (in term %d)",
				v.id, ci, v.log.termAt(ci), ci, r.term, r.commitTerm)
		}
		return
	}
	if last < v.log.base {
		s.failf("node %d: its snapshot at %d is beyond the committed log (%d)", v.id, v.log.base, last)
		return
	}
	if last > 0 {
		if ch0, _ := v.log.chainAt(last); ch0 != c.committed[last-1].chain {
			s.failf("committed log diverged: node %d commits %d but its entry %d (term %d) is not the committed one (term %d)",
				v.id, ci, last, v.log.termAt(last), c.committed[last-1].term)
			return
		}
	}
	for i := last + 1; i <= ci; i++ {
		k := i - v.log.base - 1
		c.committed = append(c.committed, crec{term: v.log.terms[k], ehash: v.log.ehash[k], chain: v.log.chain[k], commitTerm: term})
	}
	// Leaders of later terms elected before this commit must have it too.
	if term < c.maxLeader {
		ch := c.committed[ci-1].chain
		for _, l := range c.leaderLogs {
			if l.term > term && !l.has(ci, ch) {
				s.failf("leader completeness: node %d, leader of term %d, lacks entry %d committed in term %d", l.node, l.term, ci, term)
				return
			}
		}
	}
}

// checkLeader: one leader per term, holding every entry committed in an
// earlier term.
func (c *checker) checkLeader(v *nodeView, term uint64) {
	s := c.s
	if id, ok := c.leaders[term]; ok {
		if id != v.id {
			s.failf("election safety: nodes %d and %d are both leader in term %d", id, v.id, term)
		}
		return
	}
	c.leaders[term] = v.id
	c.maxLeader = max(c.maxLeader, term)
	l := &leaderLog{term: term, node: v.id, base: v.log.base, chain: slices.Clone(v.log.chain)}
	c.leaderLogs = append(c.leaderLogs, l)
	for i := c.lastCommitted(); i > 0; i-- {
		r := c.committed[i-1]
		if r.commitTerm < term {
			if !l.has(i, r.chain) {
				s.failf("leader completeness: node %d became leader of term %d without entry %d (term %d) committed in term %d",
					v.id, term, i, r.term, r.commitTerm)
			}
			return
		}
	}
}

// onApply: the node's state machine applied e.
func (c *checker) onApply(v *nodeView, e *pb.Entry) {
	if e.Index > c.lastCommitted() {
		c.s.failf("state machine safety: node %d applied entry %d beyond the committed log (%d)", v.id, e.Index, c.lastCommitted())
		return
	}
	if r := c.committed[e.Index-1]; r.term != e.Term || r.ehash != entryHash(e) {
		c.s.failf("state machine safety: node %d applied entry %d of term %d, the committed entry there has term %d", v.id, e.Index, e.Term, r.term)
	}
}

// onEntries: the node wrote ents to its LogStore.
func (c *checker) onEntries(v *nodeView, ents []*pb.Entry) {
	s := c.s
	first := ents[0].Index
	switch {
	case first <= v.log.base:
		s.failf("node %d wrote entry %d at or below its snapshot (%d)", v.id, first, v.log.base)
		return
	case first > v.log.last()+1:
		s.failf("node %d wrote entry %d leaving a gap after %d", v.id, first, v.log.last())
		return
	case first <= v.commit:
		s.failf("node %d overwrote entry %d at or below its commit index %d", v.id, first, v.commit)
		return
	}
	v.log.truncate(first - 1)
	for _, e := range ents {
		c.checkKnown(v, e, v.log.push(e))
	}
}

// checkKnown: log matching for one stored entry.
func (c *checker) checkKnown(v *nodeView, e *pb.Entry, chain uint64) {
	k := idxTerm{e.Index, e.Term}
	if ref, ok := c.known[k]; !ok {
		c.known[k] = chain
	} else if ref != chain {
		c.s.failf("log matching: node %d stores entry %d of term %d whose log up to it differs from another node's entry %d of term %d",
			v.id, e.Index, e.Term, e.Index, e.Term)
	}
}

// onSync: the node's hard state was acknowledged durable.
func (c *checker) onSync(v *nodeView, old, cur hardState) {
	switch {
	case cur.term < old.term:
		c.s.failf("node %d persisted term %d after term %d", v.id, cur.term, old.term)
	case cur.term == old.term && old.vote != 0 && cur.vote != old.vote:
		c.s.failf("node %d changed its persisted vote in term %d from %d to %d", v.id, cur.term, old.vote, cur.vote)
	}
}

// rebuild re-reads a node's stored log (after a snapshot, a compaction or a
// crash) and checks it.
func (c *checker) rebuild(v *nodeView, ds *actors.DurableState) {
	s := c.s
	v.log.reset()
	if snap := ds.Snapshot; snap != nil && snap.Metadata != nil && snap.Metadata.Index > 0 {
		i, t := snap.Metadata.Index, snap.Metadata.Term
		if i > c.lastCommitted() {
			s.failf("node %d stores a snapshot at %d beyond the committed log (%d)", v.id, i, c.lastCommitted())
			return
		}
		r := c.committed[i-1]
		if r.term != t {
			s.failf("node %d stores a snapshot at %d of term %d; the committed entry there has term %d", v.id, i, t, r.term)
			return
		}
		if !c.snapsSeen[snap] {
			c.snapsSeen[snap] = true
			c.checkSnapshotData(v, snap)
		}
		v.log.base, v.log.baseTerm, v.log.baseChain = i, t, r.chain
	}
	for _, e := range ds.Entries {
		if e.Index <= v.log.base {
			continue
		}
		if e.Index != v.log.last()+1 {
			s.failf("node %d: stored log is not contiguous: entry %d after %d", v.id, e.Index, v.log.last())
			return
		}
		c.checkKnown(v, e, v.log.push(e))
	}
}

// checkSnapshotData: a snapshot holds exactly the committed entries up to its
// index.
func (c *checker) checkSnapshotData(v *nodeView, snap *pb.Snapshot) {
	data, err := decodeRegister(snap.Data)
	if err != nil || uint64(len(data)) != snap.Metadata.Index {
		c.s.failf("node %d: snapshot at %d does not hold %d entries (%v)", v.id, snap.Metadata.Index, snap.Metadata.Index, err)
		return
	}
	for k, d := range data {
		if entryHash(&pb.Entry{Data: d}) != c.committed[k].ehash {
			c.s.failf("node %d: snapshot at %d differs from the committed log at index %d", v.id, snap.Metadata.Index, k+1)
			return
		}
	}
}

// audit compares every node's mirror with a fresh read of its LogStore.
func (c *checker) audit() {
	for _, v := range c.views[1:] {
		h := c.s.hosts[v.id]
		if h.corrupt {
			continue // its log refuses to open; the node never ran again
		}
		saved := v.log
		v.log = mirror{}
		c.rebuild(v, h.store.mustLoad())
		if v.log.base != saved.base || !slices.Equal(v.log.chain, saved.chain) {
			c.s.failf("sim: mirror of node %d differs from its LogStore", v.id)
		}
	}
}
