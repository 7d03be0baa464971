// This file owns WatchLog: a watch held for a whole run whose events are
// kept for CheckWatch.
package history

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kontiki-raft/kontiki/client"
)

// WatchLog collects the events of one client.Watcher.
type WatchLog struct {
	w *client.Watcher

	mu     sync.Mutex
	events []client.Event
	synced bool
	done   chan struct{}
}

// StartWatchLog starts watching prefix through c and collecting events.
func StartWatchLog(ctx context.Context, c *client.Client, prefix string, opts ...client.WatchOption) (*WatchLog, error) {
	w, err := c.Watch(ctx, prefix, opts...)
	if err != nil {
		return nil, err
	}
	l := &WatchLog{w: w, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for ev := range w.Events() {
			l.mu.Lock()
			if ev.Op == client.OpSynced {
				l.synced = true
			}
			l.events = append(l.events, ev)
			l.mu.Unlock()
		}
	}()
	return l, nil
}

// Events returns a copy of the events so far (the Synced marker included).
func (l *WatchLog) Events() []client.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// Synced reports whether the Synced marker arrived.
func (l *WatchLog) Synced() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.synced
}

// LastRevision is the revision of the latest change received.
func (l *WatchLog) LastRevision() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var last uint64
	for _, ev := range l.events {
		if ev.Op != client.OpSynced {
			last = max(last, ev.Revision)
		}
	}
	return last
}

// WaitRevision polls until a change with revision ≥ rev arrived, the
// watcher ended, or timeout passed.
func (l *WatchLog) WaitRevision(rev uint64, timeout time.Duration) error {
	return poll(timeout, func() (bool, error) {
		if l.LastRevision() >= rev {
			return true, nil
		}
		select {
		case <-l.done:
			return false, fmt.Errorf("watch ended at revision %d before %d: %v", l.LastRevision(), rev, l.w.Err())
		default:
		}
		return false, nil
	})
}

// WaitSynced polls until the Synced marker arrived.
func (l *WatchLog) WaitSynced(timeout time.Duration) error {
	return poll(timeout, func() (bool, error) { return l.Synced(), nil })
}

// Stop ends the watcher and returns the error that ended it early, if any.
func (l *WatchLog) Stop() error {
	l.w.Stop()
	<-l.done
	return l.w.Err()
}

// poll calls cond every few milliseconds until it holds, fails or timeout
// passes.
func poll(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", timeout)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not synchronization
	}
}
