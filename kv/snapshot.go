// snapshot.go owns the snapshot image (a messages.KVSnapshot): taking it
// deterministically and restoring it only after validating all of it.

package kv

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/kontiki-raft/kontiki/messages"
)

// SnapshotFormatVersion is the KVSnapshot format this build writes and reads.
const SnapshotFormatVersion uint32 = 1

// Snapshot returns the encoded image of everything applied so far. It
// implements the actors' StateMachine.
//
// The image is deterministic: the same state gives the same bytes (items in
// key order, dedupe entries in index order, history in revision order, no
// maps), so replicas' images can be hashed and compared.
func (s *Store) Snapshot() ([]byte, error) {
	_, data, err := s.SnapshotAt()
	return data, err
}

// SnapshotAt is Snapshot that also returns the applied index the image was
// taken at, for callers that snapshot from another goroutine than Apply's.
// Only the capture holds the lock; the encoding runs outside it.
func (s *Store) SnapshotAt() (index uint64, data []byte, err error) {
	index, c := s.capture()
	if data, err = c.encode(); err != nil {
		return 0, nil, err
	}
	return index, data, nil
}

// Restore replaces the whole state with the image data taken at applied
// index. It implements the actors' StateMachine: empty data at index 0 means
// the empty state (a node that starts without a snapshot replays its log
// from there). Otherwise the image is decoded and checked in full before
// anything changes: on error the state is as before.
func (s *Store) Restore(index uint64, data []byte) error {
	st, err := s.decodeImage(index, data)
	if err != nil {
		return fmt.Errorf("kv: restore snapshot at index %d: %w", index, err)
	}
	s.mu.Lock()
	s.data = st.data
	s.revision = st.revision
	s.applied = index
	s.dedupe = st.dedupe
	s.history = st.history
	s.mu.Unlock()
	s.notify()
	return nil
}

// image is a decoded, validated snapshot ready to be swapped in.
type image struct {
	data     ordered
	revision uint64
	dedupe   *dedupe
	history  *history
}

// emptyImage is the state of a new Store.
func (s *Store) emptyImage() *image {
	o := s.opts
	return &image{
		dedupe:  newDedupe(o.DedupeWindow, o.DedupeTTL.Milliseconds(), o.DedupeMaxEntries),
		history: newHistory(o.HistorySize),
	}
}

func (s *Store) decodeImage(index uint64, data []byte) (*image, error) {
	if len(data) == 0 && index == 0 {
		// No snapshot yet: the node restarts the store from the empty state
		// and replays the log.
		return s.emptyImage(), nil
	}
	if len(data) == 0 {
		return nil, errors.New("empty image (only index 0 may have one: the empty state)")
	}
	snap := &messages.KVSnapshot{}
	if err := proto.Unmarshal(data, snap); err != nil {
		return nil, fmt.Errorf("undecodable image (%d bytes): %w", len(data), err)
	}
	if v := snap.FormatVersion; v != SnapshotFormatVersion {
		return nil, fmt.Errorf("unsupported format version %d (this build reads %d)", v, SnapshotFormatVersion)
	}
	rev := snap.Revision
	if rev > index {
		return nil, fmt.Errorf("store revision %d is above the snapshot index %d", rev, index)
	}
	if snap.CompactedRevision > rev {
		return nil, fmt.Errorf("compacted revision %d is above the store revision %d", snap.CompactedRevision, rev)
	}
	im := &image{revision: rev}
	if err := restoreItems(&im.data, snap.Items, rev); err != nil {
		return nil, err
	}
	var err error
	if im.dedupe, err = s.restoreDedupe(snap.Dedupe, index); err != nil {
		return nil, err
	}
	if im.history, err = s.restoreHistory(snap.History, snap.CompactedRevision, rev); err != nil {
		return nil, err
	}
	return im, nil
}

func restoreItems(o *ordered, items []*messages.KVItem, rev uint64) error {
	for i, it := range items {
		if err := ValidKey(it.Key); err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
		if i > 0 && it.Key <= items[i-1].Key {
			return fmt.Errorf("item %d: key %q is not above the previous key: items must be sorted and unique", i, it.Key)
		}
		if it.CreateRevision == 0 || it.CreateRevision > it.ModRevision || it.ModRevision > rev {
			return fmt.Errorf("item %d (%q): need 0 < create revision (%d) <= mod revision (%d) <= store revision (%d)",
				i, it.Key, it.CreateRevision, it.ModRevision, rev)
		}
		// Keys arrive sorted and unique, so each insert appends.
		o.insert(&record{key: it.Key, value: it.Value, create: it.CreateRevision, mod: it.ModRevision})
	}
	return nil
}

func (s *Store) restoreDedupe(entries []*messages.KVDedupe, index uint64) (*dedupe, error) {
	d := newDedupe(s.opts.DedupeWindow, s.opts.DedupeTTL.Milliseconds(), s.opts.DedupeMaxEntries)
	for i, e := range entries {
		switch {
		case e.RequestId == "" || len(e.RequestId) > MaxRequestIDBytes:
			return nil, fmt.Errorf("dedupe entry %d: request id of %d bytes (need 1..%d)", i, len(e.RequestId), MaxRequestIDBytes)
		case e.Index == 0 || e.Index > index:
			return nil, fmt.Errorf("dedupe entry %d: index %d outside 1..%d", i, e.Index, index)
		case i > 0 && e.Index <= entries[i-1].Index:
			return nil, fmt.Errorf("dedupe entry %d: index %d is not above the previous entry's", i, e.Index)
		case e.Result == nil:
			return nil, fmt.Errorf("dedupe entry %d: no result", i)
		case messages.KVStatus_name[int32(e.Result.Status)] == "":
			return nil, fmt.Errorf("dedupe entry %d: unknown result status %d", i, e.Result.Status)
		}
		if d.find(e.RequestId) != nil {
			return nil, fmt.Errorf("dedupe entry %d: duplicate request id %q", i, e.RequestId)
		}
		d.add(e.RequestId, resultFromProto(e.Result), e.Index, e.LeaderTimeUnixMs)
	}
	// With the same Options as the snapshotting replica, this drops nothing.
	d.expire(index, 0)
	return d, nil
}

func (s *Store) restoreHistory(events []*messages.KVEvent, compacted, rev uint64) (*history, error) {
	h := newHistory(s.opts.HistorySize)
	h.compacted = compacted
	prev := compacted
	for i, e := range events {
		if e.Revision <= prev || e.Revision > rev {
			return nil, fmt.Errorf("history event %d: revision %d outside (%d, %d]: events must follow the compacted revision in order",
				i, e.Revision, prev, rev)
		}
		if err := ValidKey(e.Key); err != nil {
			return nil, fmt.Errorf("history event %d: %w", i, err)
		}
		switch e.Op {
		case messages.KVOp_KV_OP_PUT:
		case messages.KVOp_KV_OP_DELETE:
			if len(e.Value) != 0 {
				return nil, fmt.Errorf("history event %d: a delete with a %d-byte value", i, len(e.Value))
			}
		default:
			return nil, fmt.Errorf("history event %d: unknown op %d", i, int32(e.Op))
		}
		prev = e.Revision
		h.add(Event{Op: e.Op, Key: e.Key, Value: e.Value, Revision: e.Revision}) // trims to HistorySize
	}
	if prev != rev {
		return nil, fmt.Errorf("history ends at revision %d, not at the store revision %d", prev, rev)
	}
	return h, nil
}
