// store.go owns the Store type, its configuration and its read API. The
// write path is in apply.go, the snapshot image in snapshot.go.

package kv

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/kontiki-raft/kontiki/messages"
)

// Defaults for the zero Options.
const (
	DefaultDedupeWindow     = 100_000
	DefaultDedupeTTL        = 10 * time.Minute
	DefaultDedupeMaxEntries = 100_000
	DefaultHistorySize      = 10_000
)

// Options configure a Store. Zero fields take the defaults. Every replica of
// a cluster must use the same Options: dedupe expiry and history trimming
// are part of the replicated state transition.
type Options struct {
	// DedupeWindow: a request id is forgotten once the applied index is this
	// many entries past the entry that carried it.
	DedupeWindow uint64
	// DedupeTTL: a request id is forgotten when a command whose leader time
	// is more than DedupeTTL after the id's own leader time is applied.
	// Millisecond resolution.
	DedupeTTL time.Duration
	// DedupeMaxEntries bounds the request-id table; the oldest (lowest
	// index) entries go first.
	DedupeMaxEntries int
	// HistorySize is the number of most recent writes kept for watch resumes.
	HistorySize int
}

func (o Options) withDefaults() Options {
	if o.DedupeWindow == 0 {
		o.DedupeWindow = DefaultDedupeWindow
	}
	if o.DedupeTTL < time.Millisecond {
		o.DedupeTTL = DefaultDedupeTTL
	}
	if o.DedupeMaxEntries <= 0 {
		o.DedupeMaxEntries = DefaultDedupeMaxEntries
	}
	if o.HistorySize <= 0 {
		o.HistorySize = DefaultHistorySize
	}
	return o
}

// Item is one key as read from the store. Value shares memory with the store
// and must not be modified.
type Item struct {
	Key            string
	Value          []byte
	CreateRevision uint64 // revision of the write that created the key
	ModRevision    uint64 // revision of the write that produced Value
}

// Proto returns it as its wire type.
func (it Item) Proto() *messages.KVItem {
	return &messages.KVItem{Key: it.Key, Value: it.Value, CreateRevision: it.CreateRevision, ModRevision: it.ModRevision}
}

func (r *record) item() Item {
	return Item{Key: r.key, Value: r.value, CreateRevision: r.create, ModRevision: r.mod}
}

// Store is the replicated key-value state machine. Apply, Snapshot and
// Restore implement the actors' StateMachine; Apply and Restore are meant to
// be called from one goroutine, the reads from any goroutine concurrently.
//
// Invariants (between calls, under mu): revision <= applied; every record's
// create <= mod <= revision; the history ends at revision (see history).
type Store struct {
	opts Options

	mu       sync.RWMutex
	data     ordered
	revision uint64 // raft index of the last write
	applied  uint64 // raft index of the last applied entry, write or not
	dedupe   *dedupe
	history  *history
	// captures counts the snapshot captures taken: a record made before
	// the last one may be held by it (copy-on-write, see record). Atomic
	// because captures run under the read lock.
	captures atomic.Uint64

	// notifyMu guards changed, separately from mu so that Changed never
	// waits for a long Snapshot or Apply.
	notifyMu sync.Mutex
	changed  chan struct{} // nil until someone asks; closed on change
}

// New returns an empty Store.
func New(opts Options) *Store {
	s := &Store{opts: opts.withDefaults()}
	empty := s.emptyImage()
	s.dedupe, s.history = empty.dedupe, empty.history
	return s
}

// Get returns the item at key.
func (s *Store) Get(key string) (Item, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.data.get(key)
	if r == nil {
		return Item{}, false
	}
	return r.item(), true
}

// List returns, in key order, up to limit items whose key starts with prefix
// and is above after (limit <= 0: no limit). more reports that further items
// match; revision is the store revision the listing was taken at.
func (s *Store) List(prefix, after string, limit int) (items []Item, more bool, revision uint64) {
	if limit > 0 {
		items = make([]Item, 0, min(limit+1, 1024))
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.data.ascend(prefix, after, func(r *record) bool {
		if limit > 0 && len(items) == limit {
			more = true
			return false
		}
		items = append(items, r.item())
		return true
	})
	return items, more, s.revision
}

// Revision returns the store revision: the raft index of the last write.
func (s *Store) Revision() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.revision
}

// AppliedIndex returns the raft index of the last applied entry.
func (s *Store) AppliedIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied
}

// Len returns the number of keys.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.data.len()
}

// CompactedRevision returns the highest revision no longer in the watch
// history: EventsSince accepts fromRevision > CompactedRevision.
func (s *Store) CompactedRevision() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.history.compacted
}

// EventsSince returns up to limit (<= 0: no limit) events with revision >=
// fromRevision whose key starts with prefix, in revision order, and next,
// the revision to pass on the following call: it is past every revision
// examined, matching or not, so a watcher of a quiet prefix keeps up with
// the store and does not fall behind the compaction because of other keys'
// writes. fromRevision 0 means 1. When fromRevision <= CompactedRevision
// the history no longer covers it and the error is ErrCompacted.
//
// To wait without polling: take ch := Changed() first, then call
// EventsSince; if it returned nothing, wait for ch and repeat.
func (s *Store) EventsSince(prefix string, fromRevision uint64, limit int) (events []Event, next uint64, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.history.since(prefix, fromRevision, limit)
}

// Changed returns a channel that is closed at the next write or Restore.
// Take it before reading the state the wait depends on, so that no change
// can fall between the read and the wait.
func (s *Store) Changed() <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// notify wakes everyone waiting on Changed. Called after the state changed.
func (s *Store) notify() {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}
