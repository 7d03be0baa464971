// The safety invariants the asynchronous-storage simulation (async_sim_test.go)
// checks after every step.
package raft

import pb "github.com/kontiki-raft/kontiki/messages"

// check verifies the safety invariants across the cluster.
func (s *asyncSim) check() {
	for _, id := range s.c.ids {
		if s.down[id] {
			continue
		}
		r := s.c.nodes[id].r
		if r.Role() == Leader {
			if other, ok := s.leaders[r.Term()]; ok && other != id {
				s.fatalf("two leaders in term %d: %d and %d", r.Term(), other, id)
			} else if !ok {
				s.leaders[r.Term()] = id
				s.stats.leaders++
			}
		}
		s.checkCommitted(id)
		s.checkStable(id)
	}
	s.checkDurable()
}

// checkStable: no write still in flight rewrites an entry up to the stable
// index with another term; if one did, that entry was not durable.
func (s *asyncSim) checkStable(id uint64) {
	n := s.c.nodes[id]
	stable := n.r.StableIndex()
	for _, w := range s.writes[id] {
		for _, e := range w.rd.Entries {
			if e.Index > stable {
				break
			}
			if term, err := n.storage.Term(e.Index); err == nil && term != e.Term {
				s.fatalf("node %d: stable index %d, but a write in flight rewrites %d@%d to term %d", id, stable, e.Index, term, e.Term)
			}
		}
	}
}

func (s *asyncSim) committedAt(i uint64) *pb.Entry {
	if i < uint64(len(s.committed)) {
		return s.committed[i].e
	}
	return nil
}

// checkCommitted: what node id holds as committed never differs from what
// any node held committed there; entries up to its stable index are on its
// disk; a leader holds every entry committed before its term.
func (s *asyncSim) checkCommitted(id uint64) {
	n := s.c.nodes[id]
	r := n.r
	if r.log.committed < s.commitSeen[id] {
		s.fatalf("node %d commit went back from %d to %d", id, s.commitSeen[id], r.log.committed)
	}
	first, stable := r.log.firstIndex(), r.StableIndex()
	for i := first; i <= r.log.committed; i++ {
		term := r.log.zeroTermOnOutOfBounds(r.log.term(i))
		c := s.committedAt(i)
		if c == nil {
			ents, err := r.log.slice(i, i+1, noLimit)
			if err != nil {
				s.fatalf("node %d: committed entry %d: %v", id, i, err)
			}
			for uint64(len(s.committed)) <= i {
				s.committed = append(s.committed, simCommitted{})
			}
			c = ents[0]
			s.committed[i] = simCommitted{e: c, seenIn: r.Term()}
			s.stats.committed++
		}
		if term != c.Term {
			s.fatalf("node %d holds committed index %d as term %d, it was committed as term %d", id, i, term, c.Term)
		}
		if i <= stable {
			if dt, err := n.storage.Term(i); err == nil && dt != c.Term {
				s.fatalf("node %d: index %d is within stable index %d but its disk has term %d, committed term %d", id, i, stable, dt, c.Term)
			}
		}
	}
	s.commitSeen[id] = r.log.committed
	if r.Role() != Leader {
		return
	}
	for i := first; i < uint64(len(s.committed)); i++ {
		c := s.committed[i]
		if c.e == nil || c.seenIn >= r.Term() {
			continue
		}
		if term := r.log.zeroTermOnOutOfBounds(r.log.term(i)); term != c.e.Term {
			s.fatalf("leader %d of term %d has term %d at index %d, committed as term %d", id, r.Term(), term, i, c.e.Term)
		}
	}
}

// checkDurable: every committed entry is on the disks of a quorum (crashed
// nodes included): a leader counts only durable copies, its own too, and a
// crash loses no committed entry.
func (s *asyncSim) checkDurable() {
	held := make([]int, len(s.committed))
	for _, id := range s.c.ids {
		st := s.c.nodes[id].storage
		snap, _ := st.Snapshot()
		for i := 1; i < len(s.committed); i++ {
			c := s.committed[i].e
			if c == nil {
				continue
			}
			// A compacted entry is in the snapshot: only committed
			// (applied) entries are compacted.
			if uint64(i) < snap.Metadata.Index {
				held[i]++
			} else if term, err := st.Term(uint64(i)); err == nil && term == c.Term {
				held[i]++
			}
		}
	}
	for i := 1; i < len(s.committed); i++ {
		if c := s.committed[i].e; c != nil && held[i] < s.quorum {
			s.fatalf("committed entry %d@%d is durable on %d nodes, quorum %d", i, c.Term, held[i], s.quorum)
		}
	}
}
