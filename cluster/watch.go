// Watch: events of a prefix streamed to the watcher's inbox (DESIGN.md §3).
// Without from_revision: the current values, a synced marker, then every
// change in revision order; with it: only changes from that revision. Flow
// control: every event whose number is a multiple of window/2, and every
// idle heartbeat, carries a reply subject the watcher answers to grant more;
// at most `window` events are sent beyond the last answered one, and a watch
// whose heartbeats go unanswered three times ends.
package cluster

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/kontiki-raft/kontiki/client"
	"github.com/kontiki-raft/kontiki/kv"
	pb "github.com/kontiki-raft/kontiki/messages"
)

const (
	defaultWatchWindow = 1024
	// WatchHeartbeatInterval is how often an idle watch sends a heartbeat.
	WatchHeartbeatInterval = 5 * time.Second
	watchMaxUnanswered     = 3
	watchBatch             = 256
)

type watchRegistry struct {
	mu     sync.Mutex
	active map[*watchStream]struct{}
}

func newWatchRegistry() *watchRegistry {
	return &watchRegistry{active: map[*watchStream]struct{}{}}
}

func (r *watchRegistry) add(w *watchStream) {
	r.mu.Lock()
	r.active[w] = struct{}{}
	r.mu.Unlock()
}

func (r *watchRegistry) remove(w *watchStream) {
	r.mu.Lock()
	delete(r.active, w)
	r.mu.Unlock()
}

func (r *watchRegistry) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for w := range r.active {
		w.stop()
	}
}

type watchStream struct {
	s        *Service
	inbox    string
	prefix   string
	window   uint64
	grantSub *nats.Subscription
	grantPfx string
	sent     uint64        // events sent (event numbers start at 1)
	granted  atomic.Uint64 // highest event number answered
	answered chan struct{} // signalled on every answer
	missed   atomic.Int32  // heartbeats unanswered in a row
	stopped  chan struct{}
	once     sync.Once
}

func (w *watchStream) stop() { w.once.Do(func() { close(w.stopped) }) }

func (s *Service) watch(req micro.Request, _ string) {
	var wr client.WatchRequest
	if len(req.Data()) > 0 {
		if err := json.Unmarshal(req.Data(), &wr); err != nil {
			s.respondError(req, newError(400, "bad watch request: "+err.Error()))
			return
		}
	}
	if wr.Prefix != "" && !validPrefix(wr.Prefix) {
		s.respondError(req, newError(400, "bad prefix "+strconv.Quote(wr.Prefix)))
		return
	}
	if req.Reply() == "" {
		return
	}
	window := uint64(defaultWatchWindow)
	if wr.Window > 0 {
		window = uint64(max(wr.Window, 2))
	}
	w := &watchStream{s: s, inbox: req.Reply(), prefix: wr.Prefix, window: window, answered: make(chan struct{}, 1), stopped: make(chan struct{})}
	w.grantPfx = s.cfg.NC.NewInbox()
	sub, err := s.cfg.NC.Subscribe(w.grantPfx+".*", func(m *nats.Msg) {
		// An answer to event n, or to a heartbeat sent after event n,
		// grants up to n: NATS keeps one publisher's order, so everything
		// up to n reached the watcher (or was lost for good) before it.
		tok := strings.TrimPrefix(lastToken(m.Subject), "h")
		if n, err := strconv.ParseUint(tok, 10, 64); err == nil {
			for {
				cur := w.granted.Load()
				if n <= cur || w.granted.CompareAndSwap(cur, n) {
					break
				}
			}
		}
		w.missed.Store(0)
		select {
		case w.answered <- struct{}{}:
		default:
		}
	})
	if err != nil {
		s.respondError(req, newError(500, err.Error()))
		return
	}
	w.grantSub = sub
	s.watches.add(w)
	defer func() {
		s.watches.remove(w)
		_ = sub.Unsubscribe()
	}()
	w.run(wr.FromRevision)
}

// validPrefix accepts a key prefix: key characters, dots allowed anywhere.
func validPrefix(p string) bool {
	if len(p) > kv.MaxKeyBytes {
		return false
	}
	for _, c := range p {
		if !(c == '.' || c == '-' || c == '/' || c == '_' || c == '=' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

func (w *watchStream) run(from uint64) {
	store := w.s.cfg.Store
	next := from
	if from == 0 {
		items, _, rev := store.List(w.prefix, "", 0)
		for _, it := range items {
			if !w.send(pb.KVOp_KV_OP_PUT, it.Key, it.Value, it.ModRevision) {
				return
			}
		}
		// The marker names the revision the values were read at: a watcher
		// that loses this member resumes from it + 1, even when the prefix
		// is empty or its newest value predates the history.
		if !w.controlAt(client.WatchSynced, rev) {
			return
		}
		next = rev + 1
	}
	heartbeat := time.NewTimer(WatchHeartbeatInterval)
	defer heartbeat.Stop()
	for {
		changed := store.Changed()
		events, nxt, err := store.EventsSince(w.prefix, next, watchBatch)
		if errors.Is(err, kv.ErrCompacted) {
			w.end(410, "revision "+strconv.FormatUint(next, 10)+" compacted away; list again")
			return
		}
		for _, ev := range events {
			if !w.send(ev.Op, ev.Key, ev.Value, ev.Revision) {
				return
			}
		}
		next = nxt
		if len(events) > 0 {
			heartbeat.Reset(WatchHeartbeatInterval)
			continue
		}
		select {
		case <-changed:
		case <-heartbeat.C:
			if w.missed.Add(1) > watchMaxUnanswered {
				w.end(0, "")
				return
			}
			if !w.s.hasLeader() {
				// A member cut off from the quorum would keep the watch
				// alive and silent: end it so the watcher resumes on a
				// member that hears the leader.
				w.end(503, "no leader")
				return
			}
			if !w.control(client.WatchHeartbeat, true) {
				return
			}
			heartbeat.Reset(WatchHeartbeatInterval)
		case <-w.stopped:
			w.end(503, "member stopping")
			return
		}
	}
}

// send publishes one event, first waiting for window to allow it.
func (w *watchStream) send(op pb.KVOp, key string, value []byte, rev uint64) bool {
	n := w.sent + 1
	if !w.waitWindow(n) {
		return false
	}
	w.sent = n
	opName := "put"
	if op == pb.KVOp_KV_OP_DELETE {
		opName = "del"
	}
	msg := &nats.Msg{Subject: w.inbox, Data: value, Header: nats.Header{
		client.HeaderKey: []string{key}, client.HeaderRevision: []string{strconv.FormatUint(rev, 10)}, client.HeaderOp: []string{opName},
	}}
	if n%(w.window/2) == 0 {
		msg.Reply = w.grantPfx + "." + strconv.FormatUint(n, 10)
	}
	return w.s.cfg.NC.PublishMsg(msg) == nil
}

// waitWindow blocks until event n is within window of the last grant.
func (w *watchStream) waitWindow(n uint64) bool {
	timer := time.NewTimer(WatchHeartbeatInterval)
	defer timer.Stop()
	for n > w.granted.Load()+w.window {
		select {
		case <-w.answered:
		case <-timer.C:
			// The watcher is not answering: send heartbeats (with a
			// reply subject) until it does or we give up on it.
			if w.missed.Add(1) > watchMaxUnanswered {
				w.end(0, "")
				return false
			}
			if !w.control(client.WatchHeartbeat, true) {
				return false
			}
			timer.Reset(WatchHeartbeatInterval)
		case <-w.stopped:
			w.end(503, "member stopping")
			return false
		}
	}
	return true
}

// control sends a heartbeat marker with a reply subject: its answer proves
// the watcher alive.
func (w *watchStream) control(kind string, reply bool) bool {
	msg := &nats.Msg{Subject: w.inbox, Header: nats.Header{client.HeaderWatch: []string{kind}}}
	if reply {
		msg.Reply = w.grantPfx + ".h" + strconv.FormatUint(w.sent, 10)
	}
	return w.s.cfg.NC.PublishMsg(msg) == nil
}

// controlAt sends a marker that carries a store revision.
func (w *watchStream) controlAt(kind string, rev uint64) bool {
	msg := &nats.Msg{Subject: w.inbox, Header: nats.Header{client.HeaderWatch: []string{kind}, client.HeaderRevision: []string{strconv.FormatUint(rev, 10)}}}
	return w.s.cfg.NC.PublishMsg(msg) == nil
}

// end sends the last message of a watch; code 410 tells the watcher its
// revision is gone and it must list again.
func (w *watchStream) end(code int, text string) {
	h := nats.Header{client.HeaderWatch: []string{client.WatchEnd}}
	if code != 0 {
		h.Set(client.HeaderServiceErrorCode, strconv.Itoa(code))
		h.Set(client.HeaderServiceError, strings.TrimSpace(text))
	}
	_ = w.s.cfg.NC.PublishMsg(&nats.Msg{Subject: w.inbox, Header: h})
}
