// This file owns the per-call options of Put, Delete, Propose, Get, List and
// Watch, and the read Consistency levels.
package client

// Consistency is a read's consistency level, sent as Kontiki-Consistency.
type Consistency string

// Consistency levels (DESIGN.md §3).
const (
	// Linearizable reads go through the leader's ReadIndex (the default).
	Linearizable Consistency = "linearizable"
	// Lease reads are answered by the leader under its read lease.
	Lease Consistency = "lease"
	// Stale reads are answered by any member from its local replica.
	Stale Consistency = "stale"
)

// PutOption configures a Put.
type PutOption interface{ applyPut(*writeConfig) }

// DeleteOption configures a Delete.
type DeleteOption interface{ applyDelete(*writeConfig) }

// ProposeOption configures a Propose.
type ProposeOption interface{ applyPropose(*writeConfig) }

// GetOption configures a Get.
type GetOption interface{ applyGet(*readConfig) }

// ListOption configures a List.
type ListOption interface{ applyList(*listConfig) }

// WatchOption configures a Watch.
type WatchOption interface{ applyWatch(*watchConfig) }

// ConditionOption is an option of both Put and Delete.
type ConditionOption interface {
	PutOption
	DeleteOption
}

// WriteOption is an option of every write: Put, Delete and Propose.
type WriteOption interface {
	PutOption
	DeleteOption
	ProposeOption
}

// ReadOption is an option of both Get and List.
type ReadOption interface {
	GetOption
	ListOption
}

type writeConfig struct {
	expected    uint64
	hasExpected bool
	requestID   string
}

type readConfig struct {
	consistency Consistency
}

type listConfig struct {
	readConfig
	after string
	limit int
}

type watchConfig struct {
	fromRevision uint64
	window       int
}

// WithExpectedRevision makes a Put or Delete conditional on the key's mod
// revision being rev; 0 means the key must not exist. A mismatch fails with a
// *ConflictError.
func WithExpectedRevision(rev uint64) ConditionOption {
	return expectedRevision(rev)
}

type expectedRevision uint64

func (o expectedRevision) applyPut(c *writeConfig)    { c.expected, c.hasExpected = uint64(o), true }
func (o expectedRevision) applyDelete(c *writeConfig) { c.expected, c.hasExpected = uint64(o), true }

// WithRequestID sets the write's Kontiki-Request-Id instead of a random one,
// so that a call repeated by the application (e.g. after a crash) applies
// once too. The id must be unique per logical write.
func WithRequestID(id string) WriteOption {
	return requestID(id)
}

type requestID string

func (o requestID) applyPut(c *writeConfig)     { c.requestID = string(o) }
func (o requestID) applyDelete(c *writeConfig)  { c.requestID = string(o) }
func (o requestID) applyPropose(c *writeConfig) { c.requestID = string(o) }

// WithConsistency sets a Get's or List's consistency (default Linearizable).
func WithConsistency(level Consistency) ReadOption {
	return consistency(level)
}

type consistency Consistency

func (o consistency) applyGet(c *readConfig)  { c.consistency = Consistency(o) }
func (o consistency) applyList(c *listConfig) { c.consistency = Consistency(o) }

// After makes a List start after key (exclusive): pass the last key of the
// previous page to get the next one.
func After(key string) ListOption { return after(key) }

type after string

func (o after) applyList(c *listConfig) { c.after = string(o) }

// Limit caps the items of one List page; 0 leaves the member's default.
func Limit(n int) ListOption { return limit(n) }

type limit int

func (o limit) applyList(c *listConfig) { c.limit = int(o) }

// FromRevision resumes a watch: only changes with revision ≥ rev are sent, and
// no current values. 0 (the default) starts with the current values, then a
// Synced marker.
func FromRevision(rev uint64) WatchOption { return fromRevision(rev) }

type fromRevision uint64

func (o fromRevision) applyWatch(c *watchConfig) { c.fromRevision = uint64(o) }

// WithWindow sets the watch's flow-control window (default
// Options.WatchWindow).
func WithWindow(events int) WatchOption { return window(events) }

type window int

func (o window) applyWatch(c *watchConfig) { c.window = int(o) }
