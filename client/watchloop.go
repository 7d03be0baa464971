// This file owns the Watcher's receive loop: flow-control grants, the synced
// snapshot, silence detection and re-subscribing without gap or duplicate.
package client

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// watchState is what the loop knows about the stream.
type watchState struct {
	// lastRev is the revision of the last change delivered (or the synced
	// revision); with baseline set, a resume asks for lastRev+1.
	lastRev  uint64
	baseline bool

	// inSnapshot: the current subscription sends the current values, which
	// are held back until its synced marker so that a subscription lost
	// half-way can start over without showing a partial snapshot.
	inSnapshot bool
	snap       []Event
	snapMax    uint64
	sentSynced bool

	gen      uint64 // subscription generation; older messages are ignored
	failures int    // resumes since the last sign of life, for backoff
}

type inbound struct {
	gen uint64
	msg *nats.Msg
}

// step is what handling a message asks of the loop.
type step int

const (
	stepContinue step = iota
	stepResume        // re-subscribe after a pause
	stepEnd           // the watcher ends (err set or stopped)
)

// run is the loop goroutine: it consumes the current subscription and
// re-subscribes until the watcher ends.
func (w *Watcher) run(ctx context.Context) {
	err := w.loop(ctx)
	if w.sub != nil {
		_ = w.sub.Unsubscribe()
	}
	w.errMu.Lock()
	w.err = err
	w.errMu.Unlock()
	close(w.events)
	close(w.done)
}

func (w *Watcher) loop(ctx context.Context) error {
	for {
		s, err := w.consume(ctx)
		if s == stepEnd {
			return err
		}
		pause := backoffDelay(w.c.opts.Backoff, w.st.failures)
		w.st.failures++
		w.c.log.Debug("kontiki: watch resuming", "prefix", w.prefix, "from_revision", w.st.lastRev+1, "baseline", w.st.baseline, "pause", pause, "cause", err)
		select {
		case <-time.After(pause):
		case <-w.stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := w.subscribe(); err != nil {
			return err
		}
	}
}

// subscribe replaces the subscription with a new inbox and sends the watch
// request: a resume from lastRev+1 once there is a baseline, else a fresh
// watch with current values.
func (w *Watcher) subscribe() error {
	if w.sub != nil {
		_ = w.sub.Unsubscribe()
		w.sub = nil
	}
	w.st.gen++
	gen := w.st.gen
	inbox := w.c.nc.NewInbox()
	sub, err := w.c.nc.Subscribe(inbox, func(m *nats.Msg) { w.receive(gen, m) })
	if err != nil {
		return err
	}
	w.sub = sub
	req := WatchRequest{Prefix: w.prefix, Window: w.window}
	if w.st.baseline {
		req.FromRevision = w.st.lastRev + 1
	} else {
		w.st.inSnapshot, w.st.snap, w.st.snapMax = true, nil, 0
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	return w.c.nc.PublishRequest(w.c.subj.watch(), inbox, body)
}

// receive is the NATS callback: it never blocks. Heartbeats are answered at
// once (the watcher is alive even when its consumer is slow); everything is
// queued for the loop.
func (w *Watcher) receive(gen uint64, m *nats.Msg) {
	if m.Reply != "" && m.Header.Get(HeaderWatch) == WatchHeartbeat {
		_ = m.Respond(nil)
	}
	w.inMu.Lock()
	w.in = append(w.in, inbound{gen: gen, msg: m})
	w.inMu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// consume handles the current subscription's messages until it must be
// replaced or the watcher ends. Silence of three heartbeat intervals while
// waiting means the serving member is gone.
func (w *Watcher) consume(ctx context.Context) (step, error) {
	silence := 3 * w.c.opts.WatchHeartbeat
	timer := time.NewTimer(silence)
	defer timer.Stop()
	for {
		select {
		case <-w.stop:
			return stepEnd, nil
		case <-ctx.Done():
			return stepEnd, ctx.Err()
		case <-timer.C:
			if !w.pending() {
				return stepResume, fmt.Errorf("no watch message for %v", silence)
			}
		case <-w.notify:
		}
		w.inMu.Lock()
		batch := w.in
		w.in = nil
		w.inMu.Unlock()
		for _, in := range batch {
			if in.gen != w.st.gen {
				continue
			}
			if s, err := w.handle(ctx, in.msg); s != stepContinue {
				return s, err
			}
		}
		timer.Reset(silence)
	}
}

// pending reports whether messages wait in the queue: the loop was slow,
// the member was not silent.
func (w *Watcher) pending() bool {
	w.inMu.Lock()
	defer w.inMu.Unlock()
	return len(w.in) > 0
}

// handle processes one message of the current subscription.
func (w *Watcher) handle(ctx context.Context, m *nats.Msg) (step, error) {
	if len(m.Data) == 0 && m.Header.Get(natsStatusHeader) == natsNoResponders {
		return stepResume, fmt.Errorf("%w on %s", ErrNoResponders, w.c.subj.watch())
	}
	if err := replyError(m); err != nil {
		switch errorCode(err) {
		case 429, 503, 504:
			return stepResume, err
		}
		return stepEnd, err // 410 compacted, 400, …: resuming cannot help
	}
	kind := m.Header.Get(HeaderWatch)
	switch kind {
	case WatchHeartbeat:
		w.st.failures = 0
		return stepContinue, nil // answered on receipt
	case WatchEnd:
		return stepResume, fmt.Errorf("watch ended by member")
	case WatchSynced:
		w.st.failures = 0
		if !w.synced(ctx, m) {
			return w.ended(ctx)
		}
	case "":
		w.st.failures = 0
		ev, err := parseEvent(m)
		if err != nil {
			return stepEnd, err
		}
		if !w.event(ctx, ev) {
			return w.ended(ctx)
		}
	default:
		// An unknown control message from a newer member: skip it.
	}
	if m.Reply != "" {
		_ = m.Respond(nil) // grant the window
	}
	return stepContinue, nil
}

// event delivers (or holds back, or drops as a duplicate) one change.
func (w *Watcher) event(ctx context.Context, ev Event) bool {
	if w.st.inSnapshot {
		w.st.snap = append(w.st.snap, ev)
		w.st.snapMax = max(w.st.snapMax, ev.Revision)
		return true
	}
	if ev.Revision <= w.st.lastRev {
		return true // already delivered before a resume
	}
	if !w.deliver(ctx, ev) {
		return false
	}
	w.st.lastRev = ev.Revision
	return true
}

// synced releases the held-back current values and the marker (once per
// Watcher).
func (w *Watcher) synced(ctx context.Context, m *nats.Msg) bool {
	rev, _ := strconv.ParseUint(m.Header.Get(HeaderRevision), 10, 64)
	if w.st.inSnapshot {
		for _, ev := range w.st.snap {
			if !w.deliver(ctx, ev) {
				return false
			}
		}
		w.st.lastRev = max(w.st.lastRev, w.st.snapMax, rev)
		w.st.baseline, w.st.inSnapshot, w.st.snap = true, false, nil
	}
	if w.st.sentSynced {
		return true
	}
	w.st.sentSynced = true
	return w.deliver(ctx, Event{Op: OpSynced, Revision: w.st.lastRev})
}

func (w *Watcher) deliver(ctx context.Context, ev Event) bool {
	select {
	case w.events <- ev:
		return true
	case <-w.stop:
		return false
	case <-ctx.Done():
		return false
	}
}

// ended reports why a delivery was abandoned.
func (w *Watcher) ended(ctx context.Context) (step, error) {
	select {
	case <-w.stop:
		return stepEnd, nil
	default:
		return stepEnd, ctx.Err()
	}
}

// parseEvent reads a change from its headers and body.
func parseEvent(m *nats.Msg) (Event, error) {
	key := m.Header.Get(HeaderKey)
	rev, err := strconv.ParseUint(m.Header.Get(HeaderRevision), 10, 64)
	if key == "" || err != nil {
		return Event{}, fmt.Errorf("kontiki: malformed watch event (key %q, revision %q)", key, m.Header.Get(HeaderRevision))
	}
	ev := Event{Key: key, Value: m.Data, Revision: rev}
	switch op := m.Header.Get(HeaderOp); op {
	case OpNamePut:
		ev.Op = OpPut
	case OpNameDelete:
		ev.Op = OpDelete
		ev.Value = nil
	default:
		return Event{}, fmt.Errorf("kontiki: watch event with unknown op %q", op)
	}
	return ev, nil
}
