package actors

import (
	"encoding/binary"
	"log/slog"
	"testing"
	"time"

	"github.com/kontiki-raft/kontiki/raft"
)

func TestLeaseRunsFromTheSendTimeOfTheAcknowledgedRound(t *testing.T) {
	l := newLease(750 * time.Millisecond)
	t0 := time.Unix(1000, 0)
	l.sent(1, t0)
	l.sent(2, t0.Add(100*time.Millisecond))
	if l.valid(t0) {
		t.Fatal("lease valid before any round was acknowledged")
	}
	l.acked(1)
	if !l.valid(t0.Add(749*time.Millisecond)) || l.valid(t0.Add(750*time.Millisecond)) {
		t.Fatal("lease must run exactly from round 1's send time")
	}
	// Round 2's send time is forgotten with round 1's acknowledgement only
	// if it is older; it is not, so acking it extends the lease.
	l.acked(2)
	if !l.valid(t0.Add(849 * time.Millisecond)) {
		t.Fatal("acknowledging a later round extends the lease")
	}
}

func TestLeaseIsRevokedOnceLeadershipIsHandedOver(t *testing.T) {
	l := newLease(time.Second)
	t0 := time.Unix(1000, 0)
	l.sent(1, t0)
	l.acked(1)
	l.revoke()
	if l.valid(t0) {
		t.Fatal("lease valid after MsgTimeoutNow was sent: the transferee ignores stickiness")
	}
	l.sent(2, t0)
	l.acked(2)
	if l.valid(t0) {
		t.Fatal("a revoked lease came back within the same leadership")
	}
	l.reset()
	l.sent(3, t0)
	l.acked(3)
	if !l.valid(t0) {
		t.Fatal("a new leadership starts a new lease")
	}
}

func TestLeaseMustBeShorterThanAFollowersShortestStickiness(t *testing.T) {
	base := Config{ID: 1, StateMachine: nopSM{}, Transport: NewPIDTransport(), TickInterval: 100 * time.Millisecond, ElectionTicks: 10}
	ok := base
	if err := ok.validate(); err != nil || ok.LeaseDuration >= 900*time.Millisecond {
		t.Fatalf("default lease %v (%v), want below (E-1) ticks = 900ms", ok.LeaseDuration, err)
	}
	tooLong := base
	tooLong.LeaseDuration = 950 * time.Millisecond // below E ticks, above E-1
	if err := tooLong.validate(); err == nil {
		t.Fatal("a lease between (E-1) and E ticks was accepted")
	}
}

func TestReadAnswerForAPreviousIncarnationIsIgnored(t *testing.T) {
	n := newNode(Config{ID: 1, Logger: slog.New(slog.DiscardHandler)}, options{})
	n.incarnation = 7
	n.reads[5] = readWaiter{id: 99}
	old := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 6), 5)
	n.onReadState(nil, raft.ReadState{Index: 3, RequestCtx: old})
	if _, pending := n.reads[5]; !pending {
		t.Fatal("an answer addressed to another incarnation satisfied read 5")
	}
}

type nopSM struct{}

func (nopSM) Apply(uint64, []byte) []byte  { return nil }
func (nopSM) Snapshot() ([]byte, error)    { return nil, nil }
func (nopSM) Restore(uint64, []byte) error { return nil }
