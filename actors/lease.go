// The read lease. A leader may answer a lease read while the monotonic time
// since it sent the last heartbeat round that a quorum acknowledged is below
// LeaseDuration: every follower that acknowledged that round heard from us no
// earlier than its send time, and ignores vote requests for an election
// timeout after that (leader stickiness), so no other leader can exist before
// sendTime + (E-1) ticks (a tick may already be pending when a follower
// resets its election timer). Process pauses (SIGSTOP, GC) only make this
// safer: a paused leader's lease runs out on the wall clock while it is
// stopped. Not covered: the monotonic clock stops during a host or VM
// suspend, and every member must run with the same tick and election ticks.
// Two more cases break stickiness and are closed elsewhere: a leader that
// sent MsgTimeoutNow (revoke) and a follower that restarted (the core's
// QuietAfterRestart).
package actors

import "time"

type lease struct {
	duration time.Duration
	// revoked: this leader told a transferee to campaign (MsgTimeoutNow);
	// that campaign ignores stickiness, so no lease holds until the next
	// leadership.
	revoked bool
	// sentAt maps a heartbeat round to when it was sent; rounds are few in
	// flight, older ones are dropped when a newer one is acknowledged.
	sentAt map[uint64]time.Time
	// validUntil is the end of the current lease (zero: none).
	validUntil time.Time
}

func newLease(d time.Duration) *lease { return &lease{duration: d, sentAt: map[uint64]time.Time{}} }

func (l *lease) sent(round uint64, at time.Time) { l.sentAt[round] = at }

func (l *lease) acked(round uint64) {
	if at, ok := l.sentAt[round]; ok {
		if until := at.Add(l.duration); until.After(l.validUntil) {
			l.validUntil = until
		}
	}
	for r := range l.sentAt {
		if r <= round {
			delete(l.sentAt, r)
		}
	}
}

func (l *lease) valid(now time.Time) bool { return !l.revoked && now.Before(l.validUntil) }

func (l *lease) revoke() { l.revoked = true }

// reset forgets everything: a new term, or leadership lost.
func (l *lease) reset() {
	l.validUntil = time.Time{}
	l.revoked = false
	clear(l.sentAt)
}
