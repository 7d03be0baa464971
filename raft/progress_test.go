package raft

import (
	"testing"
)

// The leader's view of one follower: probe / replicate / snapshot, and the
// inflight window bounded by count and by bytes.

func newProgress(match, next uint64, state ProgressState, maxMsgs int, maxBytes uint64) *Progress {
	pr := &Progress{Match: match, Next: next, Inflights: NewInflights(maxMsgs, maxBytes)}
	switch state {
	case StateReplicate:
		pr.BecomeReplicate()
		pr.Next = next
	case StateSnapshot:
		pr.BecomeSnapshot(next - 1)
	default:
		pr.State = StateProbe
	}
	return pr
}

func TestProbeSendsOneAppendThenWaits(t *testing.T) {
	pr := newProgress(2, 5, StateProbe, 10, 0)
	if pr.IsPaused() {
		t.Fatal("a fresh probe is paused")
	}
	pr.UpdateOnEntriesSend(3, 300)
	if !pr.IsPaused() {
		t.Fatal("probe not paused with an append in flight")
	}
	if pr.Next != 5 || pr.Inflights.Count() != 0 {
		t.Fatalf("probe moved Next to %d / tracked %d inflights; a probe is not optimistic", pr.Next, pr.Inflights.Count())
	}
	// A heartbeat response clears the pause so the probe is retried.
	pr.MsgAppFlowPaused = false
	if pr.IsPaused() {
		t.Fatal("still paused")
	}
}

func TestProbeAckedBecomesReplicateFromMatch(t *testing.T) {
	pr := newProgress(2, 5, StateProbe, 10, 0)
	pr.UpdateOnEntriesSend(3, 300)
	if !pr.MaybeUpdate(7) {
		t.Fatal("ack of 7 refused")
	}
	if pr.Match != 7 || pr.Next != 8 || pr.IsPaused() {
		t.Fatalf("after ack: match %d next %d paused %v", pr.Match, pr.Next, pr.IsPaused())
	}
	pr.BecomeReplicate()
	if pr.State != StateReplicate || pr.Next != 8 {
		t.Fatalf("replicate: state %v next %d", pr.State, pr.Next)
	}
}

func TestStaleAckIsIgnored(t *testing.T) {
	pr := newProgress(5, 6, StateReplicate, 10, 0)
	if pr.MaybeUpdate(5) || pr.MaybeUpdate(3) {
		t.Fatal("an ack at or below Match was taken as progress")
	}
	if pr.Match != 5 || pr.Next != 6 {
		t.Fatalf("match %d next %d", pr.Match, pr.Next)
	}
}

func TestReplicateSendsOptimisticallyUntilTheWindowIsFull(t *testing.T) {
	pr := newProgress(0, 1, StateReplicate, 3, 0)
	for i := 0; i < 3; i++ {
		if pr.IsPaused() {
			t.Fatalf("paused after %d appends with a window of 3", i)
		}
		pr.UpdateOnEntriesSend(2, 10)
	}
	if pr.Next != 7 {
		t.Fatalf("next %d, want 7: replicate advances Next as it sends", pr.Next)
	}
	if !pr.IsPaused() || !pr.Inflights.Full() {
		t.Fatal("window of 3 appends not full after 3")
	}
	// The ack of the first append (entries 1-2) frees one slot.
	pr.MaybeUpdate(2)
	pr.Inflights.FreeLE(2)
	if pr.IsPaused() || pr.Inflights.Count() != 2 {
		t.Fatalf("after an ack: paused %v, %d in flight", pr.IsPaused(), pr.Inflights.Count())
	}
	// An empty append (a heartbeat-prompted one) takes no slot.
	pr.UpdateOnEntriesSend(0, 0)
	if pr.Inflights.Count() != 2 {
		t.Fatalf("an empty append took a slot")
	}
}

func TestRejectionInReplicateRestartsAfterMatch(t *testing.T) {
	pr := newProgress(5, 6, StateReplicate, 10, 0)
	pr.UpdateOnEntriesSend(4, 40) // 6..9 in flight
	if pr.MaybeDecrTo(4, 0) || pr.MaybeDecrTo(5, 0) {
		t.Fatal("a rejection at or below Match is stale and must be ignored")
	}
	if pr.Next != 10 {
		t.Fatalf("stale rejection moved Next to %d", pr.Next)
	}
	if !pr.MaybeDecrTo(8, 3) {
		t.Fatal("rejection of 8 ignored")
	}
	if pr.Next != 6 {
		t.Fatalf("next %d, want Match+1 = 6 (the hint never lowers it below Match)", pr.Next)
	}
}

func TestRejectionInProbeFollowsTheHintButNeverBelowMatch(t *testing.T) {
	cases := []struct {
		name                 string
		match, next          uint64
		rejected, hint       uint64
		ok                   bool
		wantNext             uint64
		wantPausedAfterwards bool
	}{
		{"hint well below the probe", 0, 10, 9, 4, true, 5, false},
		{"hint beyond the probe lowers by one", 0, 10, 9, 20, true, 9, false},
		{"hint below match stops at match+1", 3, 10, 9, 1, true, 4, false},
		{"rejection of an older probe is stale", 0, 10, 7, 2, false, 10, true},
		// A follower never rejects an append at or below what it acked: such
		// a rejection changes nothing and must not trigger another append.
		{"rejection at the acked index is stale", 9, 10, 9, 8, false, 10, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pr := newProgress(tc.match, tc.next, StateProbe, 10, 0)
			pr.UpdateOnEntriesSend(1, 1)
			if got := pr.MaybeDecrTo(tc.rejected, tc.hint); got != tc.ok {
				t.Fatalf("MaybeDecrTo = %v, want %v", got, tc.ok)
			}
			if pr.Next != tc.wantNext || pr.IsPaused() != tc.wantPausedAfterwards {
				t.Fatalf("next %d paused %v, want %d %v", pr.Next, pr.IsPaused(), tc.wantNext, tc.wantPausedAfterwards)
			}
		})
	}
}

func TestSnapshotStatePausesAppendsAndProbesAfterTheSnapshot(t *testing.T) {
	pr := newProgress(3, 4, StateProbe, 10, 0)
	pr.BecomeSnapshot(20)
	if !pr.IsPaused() || pr.PendingSnapshot != 20 {
		t.Fatalf("snapshot state: paused %v pending %d", pr.IsPaused(), pr.PendingSnapshot)
	}
	pr.MsgAppFlowPaused = false // a heartbeat response does not unpause it
	if !pr.IsPaused() {
		t.Fatal("appends allowed while a snapshot is in flight")
	}
	pr.BecomeProbe()
	if pr.State != StateProbe || pr.Next != 21 || pr.PendingSnapshot != 0 {
		t.Fatalf("after the snapshot: %v next %d pending %d, want probe from 21", pr.State, pr.Next, pr.PendingSnapshot)
	}
	// A failed snapshot (pending cleared first) probes from Match.
	pr = newProgress(3, 4, StateProbe, 10, 0)
	pr.BecomeSnapshot(20)
	pr.PendingSnapshot = 0
	pr.BecomeProbe()
	if pr.Next != 4 {
		t.Fatalf("after a failed snapshot: next %d, want Match+1 = 4", pr.Next)
	}
}

func TestChangingStateEmptiesTheWindow(t *testing.T) {
	pr := newProgress(0, 1, StateReplicate, 2, 0)
	pr.UpdateOnEntriesSend(1, 1)
	pr.UpdateOnEntriesSend(1, 1)
	pr.BecomeProbe()
	if pr.Inflights.Count() != 0 || pr.IsPaused() || pr.Next != 1 {
		t.Fatalf("probe after replicate: %d in flight, paused %v, next %d", pr.Inflights.Count(), pr.IsPaused(), pr.Next)
	}
}

// --- Inflights ---

func TestInflightsFullByCount(t *testing.T) {
	in := NewInflights(4, 0)
	for i := uint64(1); i <= 4; i++ {
		if in.Full() {
			t.Fatalf("full after %d of 4", i-1)
		}
		in.Add(i, 1<<30)
	}
	if !in.Full() || in.Count() != 4 {
		t.Fatalf("full %v count %d", in.Full(), in.Count())
	}
}

func TestInflightsFullByBytes(t *testing.T) {
	in := NewInflights(100, 1000)
	in.Add(1, 400)
	in.Add(2, 500)
	if in.Full() {
		t.Fatal("full at 900 of 1000 bytes")
	}
	in.Add(3, 200) // may overshoot by one message
	if !in.Full() {
		t.Fatal("not full at 1100 of 1000 bytes")
	}
	in.FreeLE(1)
	if in.Full() {
		t.Fatal("still full at 700 bytes after freeing the first append")
	}
}

func TestInflightsFreeUpToAnIndexAcrossTheRingsWrap(t *testing.T) {
	in := NewInflights(4, 0)
	next := uint64(0)
	add := func() {
		next += 10
		in.Add(next, 1)
	}
	for i := 0; i < 4; i++ {
		add()
	}
	in.FreeLE(25) // frees 10 and 20
	add()
	add() // 50 and 60 wrap around the ring of 4
	if in.Count() != 4 || !in.Full() {
		t.Fatalf("count %d", in.Count())
	}
	in.FreeLE(5) // below the oldest: nothing
	if in.Count() != 4 {
		t.Fatalf("freeing below the oldest freed %d", 4-in.Count())
	}
	in.FreeLE(55) // 30, 40, 50
	if in.Count() != 1 {
		t.Fatalf("count %d after freeing up to 55, want 1 (60)", in.Count())
	}
	in.FreeLE(1000)
	if in.Count() != 0 || in.bytes != 0 {
		t.Fatalf("count %d bytes %d after freeing everything", in.Count(), in.bytes)
	}
}

func TestInflightsGrowOnlyAsNeeded(t *testing.T) {
	in := NewInflights(256, 0)
	if len(in.buf) != 0 {
		t.Fatalf("an idle window holds %d slots", len(in.buf))
	}
	for i := uint64(1); i <= 5; i++ {
		in.Add(i, 0)
	}
	if len(in.buf) > 8 {
		t.Fatalf("5 appends grew the ring to %d", len(in.buf))
	}
	for i := uint64(6); i <= 256; i++ {
		in.Add(i, 0)
	}
	if len(in.buf) != 256 || !in.Full() {
		t.Fatalf("ring %d full %v", len(in.buf), in.Full())
	}
}

func TestInflightsAddToAFullWindowIsAnInvariantViolation(t *testing.T) {
	in := NewInflights(1, 0)
	in.Add(1, 0)
	defer func() {
		if recover() == nil {
			t.Fatal("adding into a full window did not panic")
		}
	}()
	in.Add(2, 0)
}
