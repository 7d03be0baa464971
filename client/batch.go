// This file owns write coalescing: the puts and deletes that callers issue
// concurrently on one Client travel to the leader together, as one kv.batch
// request, instead of one request each.
//
// Why: at 64 concurrent writers most of a write's CPU went to carrying it
// (two NATS messages through up to four server hops, headers, JSON, a timer
// on the member). A batch pays that once. Nothing waits to fill a batch: a
// write goes out at once when fewer than maxBatchesInFlight batches are in
// flight, and only the writes that arrive while they fly are coalesced, so a
// lone writer sees no added latency.
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
	"sync"

	"google.golang.org/protobuf/proto"

	pb "github.com/kontiki-raft/kontiki/messages"
)

const (
	// maxBatchesInFlight: while this many batches fly, new writes queue and
	// leave together with the next one. Two keeps the leader busy while one
	// batch's results travel back.
	maxBatchesInFlight = 2
	// MaxBatchCommands is the most commands one kv.batch request carries
	// (members refuse more).
	MaxBatchCommands = 1024
	// batchOverhead is the room kept below max_payload for the envelope.
	batchOverhead = 4 << 10
	// commandOverhead bounds a command's protobuf framing beyond its key,
	// value and request id (tags, lengths, op, expected revision).
	commandOverhead = 40
)

// batchedWrite is one caller's write on its way through a batch.
type batchedWrite struct {
	cmd  pb.KVCommand
	size int
	done chan struct{} // closed once the fields below are set
	rev  uint64
	err  error
	// retry: err may be retried (the single-write path's rules); target is
	// the member the batch went to (0: the queue group).
	retry  bool
	target uint64
}

// batcher holds the writes waiting for a batch and counts batches in flight.
type batcher struct {
	mu       sync.Mutex
	queue    []*batchedWrite
	inflight int
}

// writeBatched sends w with the writes of other callers and returns its
// outcome; single is the same write as a request of its own, for retries.
func (c *Client) writeBatched(ctx context.Context, w *batchedWrite, single func() request) (uint64, error) {
	b := &c.batch
	b.mu.Lock()
	b.queue = append(b.queue, w)
	var batch []*batchedWrite
	if b.inflight < maxBatchesInFlight {
		b.inflight++
		batch = b.takeLocked(c.batchBytes())
	}
	b.mu.Unlock()
	switch {
	case len(batch) == 1 && batch[0] == w:
		// Alone: fly on the caller's goroutine, bounded by its context
		// (nobody else's write is at stake).
		c.sendBatch(ctx, batch)
		c.nextBatch()
	case batch != nil:
		go c.fly(batch)
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		return 0, ctxError(ctx, "write")
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
	if pause && !sleepCtx(ctx, backoffDelay(c.opts.Backoff, 0)) {
		return 0, w.err
	}
	r := single()
	r.firstAttempt = 1
	return c.write(ctx, r)
}

// fly sends batch and then every batch that queued meanwhile.
func (c *Client) fly(batch []*batchedWrite) {
	for batch != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
		c.sendBatch(ctx, batch)
		cancel()
		batch = c.takeOrLand()
	}
}

// nextBatch hands the queue to a new flight after an inline batch landed.
func (c *Client) nextBatch() {
	if batch := c.takeOrLand(); batch != nil {
		go c.fly(batch)
	}
}

// takeOrLand returns the next batch, or ends a flight when none waits.
func (c *Client) takeOrLand() []*batchedWrite {
	b := &c.batch
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		b.inflight--
		return nil
	}
	return b.takeLocked(c.batchBytes())
}

// takeLocked removes from the queue the writes of the next batch: in order,
// up to MaxBatchCommands and maxBytes (always at least one).
func (b *batcher) takeLocked(maxBytes int) []*batchedWrite {
	n, size := 0, 0
	for n < len(b.queue) && n < MaxBatchCommands {
		if n > 0 && size+b.queue[n].size > maxBytes {
			break
		}
		size += b.queue[n].size
		n++
	}
	batch := make([]*batchedWrite, n)
	copy(batch, b.queue)
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return batch
}

func (c *Client) batchBytes() int { return int(c.nc.MaxPayload()) - batchOverhead }

// sendBatch sends one kv.batch request and settles every write in it.
func (c *Client) sendBatch(ctx context.Context, batch []*batchedWrite) {
	req := &pb.KVBatch{Commands: make([]*pb.KVCommand, len(batch))}
	for i, w := range batch {
		req.Commands[i] = &w.cmd
	}
	data, err := proto.Marshal(req)
	if err != nil {
		settleAll(batch, fmt.Errorf("kontiki: encode batch: %w", err), 0, false)
		return
	}
	target := c.leader.Load()
	subject := c.subj.any("kv.batch")
	if target != 0 {
		subject = c.subj.member(target, "kv.batch")
	}
	msg, err := c.attempt(ctx, subject, request{op: "batch", data: data})
	if err == nil {
		err = replyError(msg)
	}
	if err != nil {
		// The whole request failed: each write decides on its own, by the
		// single-write path's rules, whether and where to retry.
		settleAll(batch, err, target, true)
		return
	}
	var reply pb.KVBatchReply
	if err := proto.Unmarshal(msg.Data, &reply); err != nil || len(reply.Results) != len(batch) {
		if err == nil {
			err = fmt.Errorf("%d results for %d commands", len(reply.Results), len(batch))
		}
		// Outcome unknown: a retry with the same request id settles it.
		settleAll(batch, fmt.Errorf("%w: bad batch reply: %w", ErrTimeout, err), target, true)
		return
	}
	if reply.Leader != 0 {
		c.leader.Store(reply.Leader)
	}
	for i, w := range batch {
		w.target = target
		settle(w, reply.Results[i], reply.Leader)
	}
}

// settle records one command's result.
func settle(w *batchedWrite, r *pb.KVBatchResult, leader uint64) {
	switch code := int(r.Code); code {
	case 200:
		w.rev = r.Revision
	case 409:
		w.err = &ConflictError{Revision: r.Revision, Message: r.Description}
	default:
		w.err = &Error{Code: code, Message: r.Description, Leader: leader}
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
