// This file owns the recorded history: the process clock, Op (one client
// operation with its call and return time, input and output), the marks a
// test puts on the timeline (a fault, a recovery) and the JSON form.
package history

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"time"
)

// Infinity is the return time of an operation whose outcome is unknown: for
// the checker it may take effect at any time after its call, or never.
const Infinity int64 = math.MaxInt64

// Kind is the kind of an operation.
type Kind string

// Operation kinds.
const (
	KindPut      Kind = "put"       // unconditional put
	KindCAS      Kind = "cas"       // put with Kontiki-Expected-Revision
	KindGet      Kind = "get"       // linearizable get
	KindLeaseGet Kind = "lease-get" // get with Kontiki-Consistency: lease
	KindDelete   Kind = "delete"    // delete (optionally conditional)
)

// IsWrite reports whether the kind changes the store.
func (k Kind) IsWrite() bool { return k == KindPut || k == KindCAS || k == KindDelete }

// Status is the classified outcome of an operation.
type Status string

// Outcomes. See the package comment for what each promises.
const (
	StatusOK       Status = "ok"
	StatusNotFound Status = "not_found"
	StatusConflict Status = "conflict"
	StatusFailed   Status = "failed"  // definitely not applied
	StatusUnknown  Status = "unknown" // may or may not have been applied
)

// Op is one client operation as the client saw it.
type Op struct {
	// Process is the porcupine client id: a worker gets a fresh one after an
	// operation of unknown outcome (that operation never returns).
	Process int    `json:"process"`
	Worker  int    `json:"worker"`
	Kind    Kind   `json:"kind"`
	Key     string `json:"key"`
	// Value is the value written (writes) or read (successful gets).
	Value       string `json:"value,omitempty"`
	HasExpected bool   `json:"has_expected,omitempty"`
	Expected    uint64 `json:"expected,omitempty"`
	// Call and Return are nanoseconds on the history's clock; Return is
	// Infinity when Status is unknown.
	Call   int64  `json:"call"`
	Return int64  `json:"return"`
	Status Status `json:"status"`
	// Revision: a write's store revision, a get's mod revision, a conflict's
	// current revision of the key.
	Revision uint64 `json:"revision,omitempty"`
	// Err is the last error the client saw (also for settled outcomes that
	// needed retries); Attempts how many requests were sent.
	Err       string `json:"err,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	Attempts  int    `json:"attempts,omitempty"`
	// Trace lists the failed attempts ("+12ms: timed out …"), at most
	// maxTrace, for diagnosis.
	Trace []string `json:"trace,omitempty"`
	// End is when the client gave up on an unknown-outcome operation (Return
	// is Infinity for the checker); for statistics only.
	End int64 `json:"end,omitempty"`
}

// Acknowledged reports whether the op is a write the cluster confirmed.
func (o Op) Acknowledged() bool { return o.Kind.IsWrite() && o.Status == StatusOK }

// Finished is the time the client stopped waiting for the op.
func (o Op) Finished() int64 {
	if o.Return == Infinity {
		return o.End
	}
	return o.Return
}

func (o Op) String() string {
	in := string(o.Kind) + "(" + o.Key
	if o.Kind.IsWrite() && o.Kind != KindDelete {
		in += ", " + o.Value
	}
	if o.HasExpected {
		in += fmt.Sprintf(", expect %d", o.Expected)
	}
	in += ")"
	out := string(o.Status)
	switch o.Status {
	case StatusOK:
		if !o.Kind.IsWrite() {
			out = o.Value
		}
		out += fmt.Sprintf("@%d", o.Revision)
	case StatusConflict:
		out += fmt.Sprintf("@%d", o.Revision)
	}
	return fmt.Sprintf("p%d %s -> %s", o.Process, in, out)
}

// Mark is a named point on the history's timeline (a fault, a restart).
type Mark struct {
	Name string `json:"name"`
	At   int64  `json:"at"`
}

// History is a concurrent-safe record of operations on one clock.
type History struct {
	start time.Time

	mu    sync.Mutex
	ops   []Op
	marks []Mark
	procs int // porcupine process ids handed out
}

// New returns an empty history whose clock starts now.
func New() *History { return &History{start: time.Now()} }

// Now is the time on the history's clock: nanoseconds since New, monotonic.
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

// Duration converts a clock reading to the time since the start.
func Duration(t int64) time.Duration { return time.Duration(t) }

// NewProcess hands out a fresh porcupine process id.
func (h *History) NewProcess() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.procs++
	return h.procs - 1
}

// Add records an op.
func (h *History) Add(op Op) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// Mark records a named point at the current time and returns it.
func (h *History) Mark(name string) int64 {
	at := h.Now()
	h.mu.Lock()
	h.marks = append(h.marks, Mark{Name: name, At: at})
	h.mu.Unlock()
	return at
}

// Ops returns a copy of the recorded operations ordered by call time.
func (h *History) Ops() []Op {
	h.mu.Lock()
	ops := slices.Clone(h.ops)
	h.mu.Unlock()
	slices.SortStableFunc(ops, func(a, b Op) int {
		switch {
		case a.Call < b.Call:
			return -1
		case a.Call > b.Call:
			return 1
		}
		return 0
	})
	return ops
}

// Count returns how many recorded ops satisfy f, without copying them (for
// polling a running load).
func (h *History) Count(f func(*Op) bool) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for i := range h.ops {
		if f(&h.ops[i]) {
			n++
		}
	}
	return n
}

// Marks returns a copy of the marks in time order.
func (h *History) Marks() []Mark {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.marks)
}

// File is the JSON form of a history.
type File struct {
	Start time.Time `json:"start"`
	Ops   []Op      `json:"ops"`
	Marks []Mark    `json:"marks"`
}

// WriteJSON writes the history to path.
func (h *History) WriteJSON(path string) error {
	data, err := json.MarshalIndent(File{Start: h.start, Ops: h.Ops(), Marks: h.Marks()}, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// ReadJSON loads a history written by WriteJSON.
func ReadJSON(path string) (*History, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("history: %s: %w", path, err)
	}
	h := &History{start: f.Start, ops: f.Ops, marks: f.Marks}
	for _, op := range f.Ops {
		h.procs = max(h.procs, op.Process+1)
	}
	return h, nil
}
