// history.go owns the watch history: the most recent writes as events in
// revision order, the compacted revision below which resumes fail, and
// EventsSince.

package kv

import (
	"errors"
	"sort"
	"strings"

	"github.com/kontiki-raft/kontiki/messages"
)

// ErrCompacted is returned by EventsSince when the requested revision is no
// longer in the retained history (the service answers 410).
var ErrCompacted = errors.New("kv: watch revision compacted away")

// Event is one write in the history. Value is empty for a delete. Value
// shares memory with the store and must not be modified.
type Event struct {
	Op       messages.KVOp
	Key      string
	Value    []byte
	Revision uint64
}

// Proto returns e as its wire type.
func (e Event) Proto() *messages.KVEvent {
	return &messages.KVEvent{Op: e.Op, Key: e.Key, Value: e.Value, Revision: e.Revision}
}

// history is a ring of the last size events.
//
// Invariants: the retained events are exactly the writes with revision in
// (compacted, last], in increasing revision order, where last is the store
// revision; when nothing is retained, compacted is the store revision.
// Every write is one event, so a gap-free resume from any revision above
// compacted is possible.
type history struct {
	ring      []Event // capacity size, used as a circular buffer
	head      int     // position of the oldest retained event
	n         int     // number of retained events
	compacted uint64
	// imageBytes is the length of the retained events in the snapshot
	// image (the sum of eventImageSize), so that a capture knows it
	// without reading the events.
	imageBytes int
}

func newHistory(size int) *history {
	return &history{ring: make([]Event, size)}
}

// at returns the i-th oldest retained event.
func (h *history) at(i int) *Event {
	return &h.ring[(h.head+i)%len(h.ring)]
}

// last returns the revision of the newest event, or compacted when empty.
func (h *history) last() uint64 {
	if h.n == 0 {
		return h.compacted
	}
	return h.at(h.n - 1).Revision
}

// add appends e, whose revision is above every retained one, dropping the
// oldest event (and raising compacted to its revision) when full.
func (h *history) add(e Event) {
	if h.n == len(h.ring) {
		h.compacted = h.ring[h.head].Revision
		h.imageBytes -= eventImageSize(&h.ring[h.head])
		h.ring[h.head] = Event{} // release the value
		h.head = (h.head + 1) % len(h.ring)
		h.n--
	}
	h.ring[(h.head+h.n)%len(h.ring)] = e
	h.n++
	h.imageBytes += eventImageSize(&e)
}

// since implements Store.EventsSince; the caller holds the store's lock.
func (h *history) since(prefix string, from uint64, limit int) ([]Event, uint64, error) {
	if from == 0 {
		from = 1 // revisions start at 1: "from 0" means "everything"
	}
	if from <= h.compacted {
		return nil, 0, ErrCompacted
	}
	i := sort.Search(h.n, func(j int) bool { return h.at(j).Revision >= from })
	var out []Event
	for ; i < h.n; i++ {
		e := h.at(i)
		if !strings.HasPrefix(e.Key, prefix) {
			continue
		}
		out = append(out, *e)
		if limit > 0 && len(out) == limit {
			return out, e.Revision + 1, nil
		}
	}
	// Everything up to the store revision was scanned.
	return out, max(from, h.last()+1), nil
}

// copyEvents returns the retained events, oldest first, in a slice of its
// own: add overwrites the ring's slots, never the value bytes they share.
func (h *history) copyEvents() []Event {
	out := make([]Event, h.n)
	first := copy(out, h.ring[h.head:min(h.head+h.n, len(h.ring))])
	copy(out[first:], h.ring[:h.n-first])
	return out
}
