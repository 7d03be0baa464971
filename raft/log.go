// Log matching: the node's log as stable storage plus the unstable tail, the
// commit index, and the rules for accepting a leader's entries.
package raft

import (
	"fmt"

	pb "github.com/kontiki-raft/kontiki/messages"
)

type raftLog struct {
	storage  Storage
	unstable unstable
	// committed is the highest index known committed.
	// Invariant: applied <= committed <= lastIndex().
	committed uint64
	// applied is the highest index handed to the state machine.
	applied uint64
	// maxApplySize bounds the committed entries of one Ready.
	maxApplySize uint64
	// asyncWrites: Ready's entries are persisted after the next Ready may
	// be taken (Config.AsyncStorageWrites).
	asyncWrites bool
}

func newLog(storage Storage, maxApplySize uint64) (*raftLog, error) {
	first, err := storage.FirstIndex()
	if err != nil {
		return nil, err
	}
	last, err := storage.LastIndex()
	if err != nil {
		return nil, err
	}
	l := &raftLog{storage: storage, maxApplySize: maxApplySize}
	l.unstable.offset = last + 1
	l.committed = first - 1
	l.applied = first - 1
	return l, nil
}

func (l *raftLog) firstIndex() uint64 {
	if i, ok := l.unstable.maybeFirstIndex(); ok {
		return i
	}
	i, err := l.storage.FirstIndex()
	if err != nil {
		panic(err)
	}
	return i
}

func (l *raftLog) lastIndex() uint64 {
	if i, ok := l.unstable.maybeLastIndex(); ok {
		return i
	}
	i, err := l.storage.LastIndex()
	if err != nil {
		panic(err)
	}
	return i
}

// stableIndex is the last index known durable: what a leader may count for
// itself toward a quorum.
func (l *raftLog) stableIndex() uint64 {
	if l.unstable.snapshot != nil {
		return 0
	}
	if len(l.unstable.entries) > 0 {
		return l.unstable.offset - 1
	}
	return l.lastIndex()
}

func (l *raftLog) lastTerm() uint64 {
	t, err := l.term(l.lastIndex())
	if err != nil {
		panic(fmt.Sprintf("raft: term of last index: %v", err))
	}
	return t
}

func (l *raftLog) term(i uint64) (uint64, error) {
	if t, ok := l.unstable.maybeTerm(i); ok {
		return t, nil
	}
	// The valid range is [firstIndex-1, lastIndex]; firstIndex-1 is the
	// snapshot's index whose term storage remembers.
	if i+1 < l.firstIndex() {
		return 0, ErrCompacted
	}
	if i > l.lastIndex() {
		return 0, ErrUnavailable
	}
	t, err := l.storage.Term(i)
	if err == nil {
		return t, nil
	}
	if err == ErrCompacted || err == ErrUnavailable {
		return 0, err
	}
	panic(err)
}

// zeroTermOnOutOfBounds maps "no such entry" to term 0, which never matches.
func (l *raftLog) zeroTermOnOutOfBounds(t uint64, err error) uint64 {
	if err == nil {
		return t
	}
	if err == ErrCompacted || err == ErrUnavailable {
		return 0
	}
	panic(err)
}

func (l *raftLog) matchTerm(i, t uint64) bool {
	lt, err := l.term(i)
	return err == nil && lt == t
}

// isUpToDate: a candidate's log is at least as up to date as ours when its
// last term is higher, or equal with a last index at least ours (§5.4.1).
func (l *raftLog) isUpToDate(lastIndex, lastTerm uint64) bool {
	return lastTerm > l.lastTerm() || (lastTerm == l.lastTerm() && lastIndex >= l.lastIndex())
}

// maybeAppend accepts a leader's entries following (index, logTerm) when our
// log has that entry (log matching). It returns the new last index.
func (l *raftLog) maybeAppend(index, logTerm, committed uint64, ents []*pb.Entry) (uint64, bool) {
	if !l.matchTerm(index, logTerm) {
		return 0, false
	}
	lastNew := index + uint64(len(ents))
	ci := l.findConflict(ents)
	switch {
	case ci == 0:
	case ci <= l.committed:
		panic(fmt.Sprintf("raft: entry %d conflicts with committed entry (committed %d)", ci, l.committed))
	default:
		l.append(ents[ci-(index+1):]...)
	}
	l.commitTo(min(committed, lastNew))
	return lastNew, true
}

func (l *raftLog) append(ents ...*pb.Entry) uint64 {
	if len(ents) == 0 {
		return l.lastIndex()
	}
	if after := ents[0].Index - 1; after < l.committed {
		panic(fmt.Sprintf("raft: append after %d is below committed %d", after, l.committed))
	}
	l.unstable.truncateAndAppend(ents)
	return l.lastIndex()
}

// findConflict returns the index of the first entry that is new or whose term
// differs from ours, or 0 when all of ents are already in the log.
func (l *raftLog) findConflict(ents []*pb.Entry) uint64 {
	for _, e := range ents {
		if !l.matchTerm(e.Index, e.Term) {
			return e.Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index ≤ index whose term is ≤ term,
// with that term. A follower uses it to hint where its log may match; the
// leader to skip a whole term of conflicting entries at once.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	for ; index > 0; index-- {
		t, err := l.term(index)
		if err != nil {
			return index, 0
		}
		if t <= term {
			return index, t
		}
	}
	return 0, 0
}

func (l *raftLog) commitTo(toCommit uint64) {
	if l.committed < toCommit {
		if l.lastIndex() < toCommit {
			panic(fmt.Sprintf("raft: commit %d is out of range [lastIndex %d]", toCommit, l.lastIndex()))
		}
		l.committed = toCommit
	}
}

// maybeCommit commits maxIndex only if it is an entry of the current term:
// an entry of an earlier term is committed only by a later one (§5.4.2).
func (l *raftLog) maybeCommit(maxIndex, term uint64) bool {
	if maxIndex > l.committed && l.zeroTermOnOutOfBounds(l.term(maxIndex)) == term {
		l.commitTo(maxIndex)
		return true
	}
	return false
}

func (l *raftLog) appliedTo(i uint64) {
	if i == 0 {
		return
	}
	if l.committed < i || i < l.applied {
		panic(fmt.Sprintf("raft: applied %d is out of range [prev %d, committed %d]", i, l.applied, l.committed))
	}
	l.applied = i
}

func (l *raftLog) stableTo(i, t uint64) { l.unstable.stableTo(i, t) }

func (l *raftLog) stableSnapTo(i uint64) { l.unstable.stableSnapTo(i) }

// applyLimit is the last index that may be handed for apply: the commit
// index, and with asynchronous writes no further than this node's durable
// log (in the synchronous mode a Ready's entries are persisted before its
// committed entries are applied).
func (l *raftLog) applyLimit() uint64 {
	if l.unstable.snapshot != nil {
		return l.applied
	}
	if l.asyncWrites {
		return min(l.committed, l.stableIndex())
	}
	return l.committed
}

func (l *raftLog) hasNextCommittedEnts() bool {
	return l.applyLimit() > l.applied
}

func (l *raftLog) nextCommittedEnts() []*pb.Entry {
	if !l.hasNextCommittedEnts() {
		return nil
	}
	ents, err := l.slice(l.applied+1, l.applyLimit()+1, l.maxApplySize)
	if err != nil {
		panic(fmt.Sprintf("raft: committed entries unavailable: %v", err))
	}
	return ents
}

func (l *raftLog) snapshot() (*pb.Snapshot, error) {
	if l.unstable.snapshot != nil {
		return l.unstable.snapshot, nil
	}
	return l.storage.Snapshot()
}

func (l *raftLog) entries(i, maxSize uint64) ([]*pb.Entry, error) {
	if i > l.lastIndex() {
		return nil, nil
	}
	return l.slice(i, l.lastIndex()+1, maxSize)
}

// slice returns entries in [lo, hi) from storage and the unstable tail.
func (l *raftLog) slice(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	if lo == hi {
		return nil, nil
	}
	if lo < l.firstIndex() {
		return nil, ErrCompacted
	}
	if hi > l.lastIndex()+1 {
		panic(fmt.Sprintf("raft: slice [%d,%d) out of bound [%d,%d]", lo, hi, l.firstIndex(), l.lastIndex()))
	}
	var ents []*pb.Entry
	if lo < l.unstable.offset {
		stored, err := l.storage.Entries(lo, min(hi, l.unstable.offset), maxSize)
		if err == ErrCompacted {
			return nil, err
		} else if err != nil {
			panic(err)
		}
		// Storage returned fewer than asked: the size limit was hit.
		if uint64(len(stored)) < min(hi, l.unstable.offset)-lo {
			return stored, nil
		}
		ents = stored
	}
	if hi > l.unstable.offset {
		u := l.unstable.slice(max(lo, l.unstable.offset), hi)
		if len(ents) > 0 {
			combined := make([]*pb.Entry, 0, len(ents)+len(u))
			ents = append(append(combined, ents...), u...)
		} else {
			ents = u
		}
	}
	return limitSize(ents, maxSize), nil
}

// restore replaces the log with a snapshot received from the leader.
func (l *raftLog) restore(s *pb.Snapshot) {
	l.committed = s.Metadata.Index
	l.unstable.restore(s)
}
