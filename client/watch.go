// This file owns the Watch API: Event, Op, Watcher and its public methods.
// The resuming receive loop lives in watchloop.go.
package client

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
)

// Op is the kind of a watch Event.
type Op uint8

// Event kinds.
const (
	OpPut    Op = iota + 1 // the key was set to Value
	OpDelete               // the key was deleted
	OpSynced               // marker: the current values have all been sent
)

func (o Op) String() string {
	switch o {
	case OpPut:
		return OpNamePut
	case OpDelete:
		return OpNameDelete
	case OpSynced:
		return WatchSynced
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Event is one change (or the Synced marker) seen by a Watcher. Revision is
// the store revision of the change; on the marker, the revision the current
// values reflect (0 when the member did not say).
type Event struct {
	Op       Op
	Key      string
	Value    []byte
	Revision uint64
}

// Watcher receives the changes under a prefix. It survives the death of the
// member serving it and leader changes: it re-subscribes from the revision
// after the last one it delivered, so no change is lost or repeated.
type Watcher struct {
	c      *Client
	prefix string
	window int

	events   chan Event
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	errMu    sync.Mutex
	err      error

	// inbound messages, filled by the NATS callback, drained by the loop
	inMu   sync.Mutex
	in     []inbound
	notify chan struct{}

	st  watchState // owned by the loop goroutine (and Watch before it starts)
	sub *nats.Subscription
}

// Watch starts watching the keys under prefix (all keys when empty). Without
// FromRevision the Watcher first sends the current values, then an OpSynced
// marker, then every later change in revision order. The Watcher runs until
// Stop, ctx is done or the cluster ends it for good (ErrCompacted: the
// resume revision was compacted away).
func (c *Client) Watch(ctx context.Context, prefix string, opts ...WatchOption) (*Watcher, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	cfg := watchConfig{window: c.opts.WatchWindow}
	for _, o := range opts {
		o.applyWatch(&cfg)
	}
	if cfg.window <= 0 {
		return nil, fmt.Errorf("%w: watch window %d", ErrBadRequest, cfg.window)
	}
	w := &Watcher{
		c:      c,
		prefix: prefix,
		window: cfg.window,
		events: make(chan Event, 64),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		notify: make(chan struct{}, 1),
	}
	if cfg.fromRevision > 0 {
		w.st.baseline, w.st.lastRev = true, cfg.fromRevision-1
	}
	if err := w.subscribe(); err != nil {
		if w.sub != nil {
			_ = w.sub.Unsubscribe()
		}
		return nil, err
	}
	go w.run(ctx)
	return w, nil
}

// Events delivers the events in order. It is closed when the Watcher ends;
// then Err tells why.
func (w *Watcher) Events() <-chan Event { return w.events }

// Err returns what ended the Watcher: nil while it runs and after Stop,
// ctx.Err() after its context ended, or the error that ended it
// (errors.Is(err, ErrCompacted) when the resume point was compacted away).
func (w *Watcher) Err() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

// Stop ends the Watcher and waits for it to release its subscription. Events
// is closed afterwards. Stop may be called more than once and from any
// goroutine.
func (w *Watcher) Stop() {
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
}

// Done is closed when the Watcher has ended.
func (w *Watcher) Done() <-chan struct{} { return w.done }
