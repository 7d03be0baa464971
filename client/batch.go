// This file owns write coalescing: the puts and deletes that callers issue
// concurrently on one Client travel to the leader together, as one kv.batch
// request, instead of one request each.
//
// Why: at 64 concurrent writers most of a write's CPU went to carrying it
// (two NATS messages through up to four server hops, headers, JSON, a timer
// on the member). A batch pays that once.
//
// No write waits for a timer or for a batch to fill. A write that finds no
// launch pending starts one; the launch yields once, so that the writes
// issued in the same instant join it (a landing batch wakes all its callers
// at once, and they issue their next writes within microseconds), then
// takes the queue and flies. Only while maxBatchesInFlight batches fly do
// writes wait, for the next landing. An earlier design let writes wait for
// one of two flights to land: half the callers were always queued, and
// ops/s at 64 writers was a third lower (docs/BENCHMARKS.md).
//
// Correctness rests on the single-write path: every command keeps its own
// request id, and any outcome that may be retried (503, 429, 504, no reply,
// no responders) sends that one write through do(), which forwards, learns
// the leader and retries with the same id, so a write applies at most once.
package client

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/kontiki-raft/kontiki/messages"
)

const (
	// maxBatchesInFlight bounds the batches in flight (and the goroutines
	// flying them); beyond it, writes wait for a landing.
	maxBatchesInFlight = 8
	// MaxBatchCommands is the most commands the client puts in one
	// kv.batch request (members accept up to 4096).
	MaxBatchCommands = 1024
	// batchOverhead is the room kept below max_payload for the envelope.
	batchOverhead = 4 << 10
)

// batchedWrite is one caller's write on its way through a batch.
type batchedWrite struct {
	// The command (a KVCommand on the wire, batchwire.go).
	op          pb.KVOp
	key         string
	value       []byte
	requestID   string
	hasExpected bool
	expected    uint64

	// size is the command's encoded length (commandSize), computed once:
	// the batch limit and the encoder both need it.
	size int
	done chan struct{} // closed once the fields below are set
	rev  uint64
	err  error
	// retry: err may be retried (the single-write path's rules); target is
	// the member the batch went to (0: the queue group).
	retry  bool
	target uint64
}

// batcher holds the writes waiting for a batch.
//
// Invariants (under mu): inflight counts the flights and the pending
// launch, at most max; launching is set from the write that starts a launch
// until the launch takes the queue, and while it is set no landing takes
// the queue (the launch would find it empty); whoever takes from the queue
// and leaves writes behind (a batch is full at MaxBatchCommands or the byte
// limit) starts another launch if it may, so a non-empty queue always has a
// launch pending or max flights that will take it on landing; flying is the
// number of commands in flight.
type batcher struct {
	mu        sync.Mutex
	queue     []*batchedWrite
	inflight  int
	launching bool
	flying    int
	max       int // maxBatchesInFlight; tests lower it

	// offUntil (unix ns): a kv.batch request found no responders (a member
	// without the endpoint, or a leader that just went away); writes go
	// alone until then.
	offUntil atomic.Int64
}

// batchOffAfterNoResponders is how long writes go alone after a kv.batch
// request found no responders.
const batchOffAfterNoResponders = 30 * time.Second

// writeBatched sends w with the writes of other callers and returns its
// outcome; single is the same write as a request of its own, for retries.
func (c *Client) writeBatched(ctx context.Context, w *batchedWrite, single func() request) (uint64, error) {
	b := &c.batch
	b.mu.Lock()
	b.queue = append(b.queue, w)
	start := b.startLaunchLocked()
	b.mu.Unlock()
	if start {
		go c.launch()
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		select {
		case <-w.done: // settled meanwhile: report what happened
		default:
			if b.unqueue(w) {
				return 0, fmt.Errorf("%w (the write was not sent)", ctx.Err())
			}
			// In a batch already: it may apply (its value was copied).
			return 0, ctxError(ctx, "write")
		}
	}
	if w.err == nil {
		return w.rev, nil
	}
	if !w.retry {
		return 0, w.err
	}
	// The batch was this write's first attempt.
	retry, pause := c.classify(w.err, w.target)
	if !retry || c.opts.Retries == 0 {
		return 0, w.err
	}
	r := single()
	r.firstAttempt = 1
	if pause {
		if !sleepCtx(ctx, backoffDelay(c.opts.Backoff, 0)) {
			return 0, w.err
		}
		r.firstPauses = 1
	}
	return c.write(ctx, r)
}

// startLaunchLocked reports whether the caller must start a launch (and
// counts it): writes wait and none is pending, and a flight is free.
func (b *batcher) startLaunchLocked() bool {
	if b.max == 0 {
		b.max = maxBatchesInFlight
	}
	if len(b.queue) == 0 || b.launching || b.inflight >= b.max {
		return false
	}
	b.launching = true
	b.inflight++
	return true
}

// unqueue removes w if it still waits for a batch.
func (b *batcher) unqueue(w *batchedWrite) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, q := range b.queue {
		if q == w {
			n := len(b.queue)
			copy(b.queue[i:], b.queue[i+1:])
			b.queue[n-1] = nil // the backing array keeps no withdrawn write
			b.queue = b.queue[:n-1]
			return true
		}
	}
	return false
}

// launch takes the queue once the goroutines made runnable with the one
// that started it have had their turn, and flies it.
func (c *Client) launch() {
	runtime.Gosched()
	f := flightPool.Get().(*flightBuffers)
	b := &c.batch
	b.mu.Lock()
	batch := b.takeLocked(f.batch[:0], c.batchBytes())
	b.launching = false
	if batch == nil { // every queued write was withdrawn by its caller
		b.inflight--
	}
	more := b.startLaunchLocked()
	b.mu.Unlock()
	if more {
		go c.launch()
	}
	c.fly(batch, f)
}

// fly sends batch and then every batch that queued meanwhile; it ends the
// flight (inflight) when nothing waits. Its buffers serve each batch in turn
// and then the next flight (flightPool).
func (c *Client) fly(batch []*batchedWrite, f *flightBuffers) {
	for batch != nil {
		f.batch = batch
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
		c.sendBatch(ctx, batch, f)
		cancel()
		clear(batch) // settled: the buffers keep no caller's write
		batch = c.land(len(batch), batch[:0])
	}
	// A pooled flight keeps no result descriptions, and a request body
	// (callers' values) only up to pooledBodyBytes.
	clear(f.results[:cap(f.results)])
	if cap(f.body) > pooledBodyBytes {
		f.body = nil
	}
	flightPool.Put(f)
}

// pooledBodyBytes is the largest request body a pooled flight keeps.
const pooledBodyBytes = 64 << 10

// flightBuffers are reused by the batches of a flight and by later flights:
// the writes of the batch, the request body (the connection has copied it
// when the request returns) and the decoded results.
type flightBuffers struct {
	batch   []*batchedWrite
	body    []byte
	results []batchResult
}

var flightPool = sync.Pool{New: func() any { return new(flightBuffers) }}

// land accounts for a landed batch of n commands and returns the next one,
// or nil when nothing waits or a pending launch will take the queue.
func (c *Client) land(n int, dst []*batchedWrite) []*batchedWrite {
	b := &c.batch
	b.mu.Lock()
	b.flying -= n
	if len(b.queue) == 0 || b.launching {
		b.inflight--
		b.mu.Unlock()
		return nil
	}
	batch := b.takeLocked(dst, c.batchBytes())
	more := b.startLaunchLocked()
	b.mu.Unlock()
	if more {
		go c.launch()
	}
	return batch
}

// takeLocked moves from the queue to dst (appended to) the writes of the
// next batch: in order, up to MaxBatchCommands and maxBytes (always at
// least one). It returns nil when the queue is empty.
func (b *batcher) takeLocked(dst []*batchedWrite, maxBytes int) []*batchedWrite {
	n, size := 0, 0
	for n < len(b.queue) && n < MaxBatchCommands {
		framed := framedSize(b.queue[n].size)
		if n > 0 && size+framed > maxBytes {
			break
		}
		size += framed
		n++
	}
	if n == 0 {
		return nil
	}
	batch := append(dst, b.queue[:n]...)
	b.flying += n
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return batch
}

func (c *Client) batchBytes() int { return int(c.nc.MaxPayload()) - batchOverhead }

// sendBatch sends one kv.batch request and settles every write in it.
func (c *Client) sendBatch(ctx context.Context, batch []*batchedWrite, f *flightBuffers) {
	f.body = appendBatch(f.body[:0], batch)
	data := f.body
	target := c.leader.Load()
	subject := c.subj.any("kv.batch")
	if target != 0 {
		subject = c.subj.member(target, "kv.batch")
	}
	msg, err := c.attempt(ctx, subject, request{op: "batch", data: data})
	if err == nil {
		c.learnLeader(msg)
		err = replyError(msg)
	}
	if errors.Is(err, ErrNoResponders) {
		c.batch.offUntil.Store(time.Now().Add(batchOffAfterNoResponders).UnixNano())
	}
	if err != nil {
		// The whole request failed: each write decides on its own, by the
		// single-write path's rules, whether and where to retry.
		settleAll(batch, err, target, true)
		return
	}
	leader, results, err := decodeBatchReply(msg.Data, f.results)
	f.results = results
	if err == nil && len(results) != len(batch) {
		err = fmt.Errorf("%d results for %d commands", len(results), len(batch))
	}
	if err != nil {
		// Outcome unknown: a retry with the same request id settles it.
		settleAll(batch, fmt.Errorf("%w: bad batch reply: %w", ErrTimeout, err), target, true)
		return
	}
	if leader != 0 {
		c.leader.Store(leader)
	}
	for i, w := range batch {
		w.target = target
		settle(w, &results[i], leader)
	}
}

// settle records one command's result.
func settle(w *batchedWrite, r *batchResult, leader uint64) {
	switch code := int(r.code); code {
	case 200:
		w.rev = r.revision
	case 409:
		w.err = &ConflictError{Revision: r.revision, Message: r.description}
	default:
		w.err = &Error{Code: code, Message: r.description, Leader: leader}
		w.retry = code == 429 || code == 503 || code == 504
	}
	close(w.done)
}

func settleAll(batch []*batchedWrite, err error, target uint64, retry bool) {
	for _, w := range batch {
		w.err, w.target, w.retry = err, target, retry
		close(w.done)
	}
}

// ctxError is the error of a call whose context ended first.
func ctxError(ctx context.Context, op string) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: no %s reply in time: %w", ErrTimeout, op, err)
	}
	return err
}
