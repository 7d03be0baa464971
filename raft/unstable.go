// The unstable tail: entries and a snapshot the core holds that are not yet
// durable. The caller persists them from a Ready and Advance (or, with
// AsyncStorageWrites, MarkPersisted) marks them stable. What a Ready has
// handed out is "in progress": not handed out again, not yet stable.
package raft

import pb "github.com/kontiki-raft/kontiki/messages"

type unstable struct {
	// snapshot, when set, precedes entries: offset == snapshot index + 1.
	snapshot *pb.Snapshot
	entries  []*pb.Entry
	// offset is the index of entries[0] (or where it would be).
	offset uint64
	// offsetInProgress: entries before it were handed out by a Ready and
	// are being persisted. Invariant: offset <= offsetInProgress <=
	// offset+len(entries).
	offsetInProgress uint64
	// snapshotInProgress: snapshot was handed out by a Ready.
	snapshotInProgress bool
}

// toPersist is what the next Ready hands out: entries not yet in progress.
func (u *unstable) toPersist() []*pb.Entry {
	if u.offsetInProgress < u.offset {
		u.offsetInProgress = u.offset
	}
	return u.entries[u.offsetInProgress-u.offset:]
}

// snapshotToPersist is the snapshot the next Ready hands out, if any.
func (u *unstable) snapshotToPersist() *pb.Snapshot {
	if u.snapshotInProgress {
		return nil
	}
	return u.snapshot
}

// acceptInProgress marks everything unstable as handed out.
func (u *unstable) acceptInProgress() {
	u.offsetInProgress = u.offset + uint64(len(u.entries))
	if u.snapshot != nil {
		u.snapshotInProgress = true
	}
}

func (u *unstable) maybeFirstIndex() (uint64, bool) {
	if u.snapshot != nil {
		return u.snapshot.Metadata.Index + 1, true
	}
	return 0, false
}

func (u *unstable) maybeLastIndex() (uint64, bool) {
	if l := len(u.entries); l != 0 {
		return u.offset + uint64(l) - 1, true
	}
	if u.snapshot != nil {
		return u.snapshot.Metadata.Index, true
	}
	return 0, false
}

func (u *unstable) maybeTerm(i uint64) (uint64, bool) {
	if i < u.offset {
		if u.snapshot != nil && u.snapshot.Metadata.Index == i {
			return u.snapshot.Metadata.Term, true
		}
		return 0, false
	}
	last, ok := u.maybeLastIndex()
	if !ok || i > last {
		return 0, false
	}
	return u.entries[i-u.offset].Term, true
}

// stableTo drops entries up to i once they are durable, but only if the
// entry at i still has term t: a conflict may have replaced it meanwhile.
// A write is known by its last entry alone. That suffices because a
// replaced entry never comes back while the write that replaced it is in
// flight (A, then B, then A again would mark A stable before B lands and
// overwrites it on disk): a leader whose log holds A differs from ours from
// that index on, so it rewrites our tail only once our rejection has lowered
// its Next, and that rejection waits for every earlier write
// (Config.AsyncStorageWrites).
func (u *unstable) stableTo(i, t uint64) {
	gt, ok := u.maybeTerm(i)
	if !ok || gt != t || i < u.offset {
		return
	}
	n := int(i + 1 - u.offset)
	u.entries = u.entries[n:]
	u.offset = i + 1
	if u.offsetInProgress < u.offset {
		u.offsetInProgress = u.offset
	}
	if len(u.entries) == 0 {
		u.entries = nil
	}
}

func (u *unstable) stableSnapTo(i uint64) {
	if u.snapshot != nil && u.snapshot.Metadata.Index == i {
		u.snapshot = nil
		u.snapshotInProgress = false
	}
}

func (u *unstable) restore(s *pb.Snapshot) {
	u.offset = s.Metadata.Index + 1
	u.offsetInProgress = u.offset
	u.entries = nil
	u.snapshot = s
	u.snapshotInProgress = false
}

// truncateAndAppend adds ents, replacing any conflicting suffix.
func (u *unstable) truncateAndAppend(ents []*pb.Entry) {
	fromIndex := ents[0].Index
	switch {
	case fromIndex == u.offset+uint64(len(u.entries)):
		u.entries = append(u.entries, ents...)
	case fromIndex <= u.offset:
		// The whole unstable tail is replaced; the caller will persist the
		// new entries, overwriting storage from fromIndex.
		u.offset = fromIndex
		u.entries = append([]*pb.Entry(nil), ents...)
	default:
		keep := u.entries[:fromIndex-u.offset]
		u.entries = append(append([]*pb.Entry(nil), keep...), ents...)
	}
	// Replaced entries that were in progress are handed out again; the
	// caller's writes land in order, so the new ones overwrite the old.
	u.offsetInProgress = min(u.offsetInProgress, fromIndex)
	if u.offsetInProgress < u.offset {
		u.offsetInProgress = u.offset
	}
}

func (u *unstable) slice(lo, hi uint64) []*pb.Entry {
	return u.entries[lo-u.offset : hi-u.offset]
}
