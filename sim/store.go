// The LogStore of a simulated node: actors.MemoryLogStore underneath (its
// Crash drops what was written since the last sync) or the real WAL on a
// simulated disk (walstore.go), with the checker told of
// every write so it can mirror each node's stored log. The lying variant is
// the deliberately wrong build: it acknowledges Save(sync=true) having synced
// only the writes before this one, so a crash loses the last acknowledged
// write — an fsync acknowledged too early.
package sim

import (
	"github.com/kontiki-raft/kontiki/actors"
	pb "github.com/kontiki-raft/kontiki/messages"
)

type Store struct {
	inner backend
	chk   *checker
	v     *nodeView
	lying bool
	// pending is the last hard state written; durable the last one a
	// Save(sync=true) acknowledged as on disk.
	pending, durable hardState
	// synced is the last entry of the log when a sync was last
	// acknowledged (or a snapshot stored): a crash must not lose it.
	synced      idxTerm
	syncedChain uint64
	// down: the node crashed and has not started again; nothing may write.
	down bool
}

// hardState is pb.HardState as a plain value.
type hardState struct{ term, vote, commit uint64 }

func hardStateOf(hs *pb.HardState) hardState {
	return hardState{term: hs.GetTerm(), vote: hs.GetVote(), commit: hs.GetCommit()}
}

var _ actors.LogStore = (*Store)(nil)

func (st *Store) Load() (*actors.DurableState, error) { return st.inner.Load() }

// writable fails the run when a node that crashed still writes.
func (st *Store) writable() {
	if st.down {
		st.chk.s.failf("node %d wrote to its store after it crashed", st.v.id)
	}
}

func (st *Store) Save(hs *pb.HardState, ents []*pb.Entry, sync bool) error {
	st.writable()
	var err error
	if st.lying && sync {
		// Sync what came before, then leave this write unsynced.
		if err = st.inner.Save(nil, nil, true); err == nil {
			err = st.inner.Save(hs, ents, false)
		}
	} else {
		err = st.inner.Save(hs, ents, sync)
	}
	if err != nil {
		return err
	}
	if hs != nil {
		st.pending = hardStateOf(hs)
	}
	if len(ents) > 0 {
		st.chk.onEntries(st.v, ents)
	}
	if sync {
		st.chk.onSync(st.v, st.durable, st.pending)
		st.durable = st.pending
		st.markSynced()
	}
	return nil
}

func (st *Store) markSynced() {
	last := st.v.log.last()
	st.synced = idxTerm{index: last, term: st.v.log.termAt(last)}
	st.syncedChain, _ = st.v.log.chainAt(last)
}

func (st *Store) SaveSnapshot(snap *pb.Snapshot) error {
	st.writable()
	if err := st.inner.SaveSnapshot(snap); err != nil {
		return err
	}
	st.chk.s.stats.Snapshots++
	st.chk.rebuild(st.v, st.mustLoad())
	st.markSynced()
	return nil
}

func (st *Store) Compact(index uint64) error {
	st.writable()
	if err := st.inner.Compact(index); err != nil {
		return err
	}
	st.chk.rebuild(st.v, st.mustLoad())
	return nil
}

func (st *Store) Durable() bool { return st.inner.Durable() }

func (st *Store) mustLoad() *actors.DurableState {
	ds, err := st.inner.view()
	if err != nil {
		st.chk.s.failf("node %d: load: %v", st.v.id, err)
		return &actors.DurableState{HardState: &pb.HardState{}}
	}
	return ds
}

// crash loses what was not synced and records what survived: the node's
// commit index may not fall below what it had acknowledged as durable. An
// error means the store refuses to open again (a corrupt log): the node
// stays down for good.
func (st *Store) crash(audit bool) error {
	st.down = true
	ds, err := st.inner.crash()
	if err != nil {
		return err
	}
	hs := hardStateOf(ds.HardState)
	if d := st.durable; audit && (hs.term < d.term || (hs.term == d.term && d.vote != 0 && hs.vote != d.vote) || hs.commit < d.commit) {
		st.chk.s.failf("store audit: node %d lost acknowledged hard state at crash: acknowledged term=%d vote=%d commit=%d, recovered term=%d vote=%d commit=%d",
			st.v.id, d.term, d.vote, d.commit, hs.term, hs.vote, hs.commit)
	}
	st.chk.rebuild(st.v, ds)
	if c, ok := st.v.log.chainAt(st.synced.index); audit && st.synced.index > st.v.log.base && (!ok || c != st.syncedChain) {
		st.chk.s.failf("store audit: node %d lost acknowledged entries at crash: entry %d of term %d was synced, the recovered log ends at %d",
			st.v.id, st.synced.index, st.synced.term, st.v.log.last())
	}
	st.markSynced()
	st.v.commit = st.durable.commit
	st.pending, st.durable = hs, hs
	return nil
}
