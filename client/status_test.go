// This file tests Status: every member answers, answers are sorted, the
// gather ends early once the leader's peers have all answered, and the
// MemberStatus JSON matches the contract.
package client

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func TestStatusGathersEveryMember(t *testing.T) {
	// A long quiet period: the gather must end because every peer the leader
	// lists has answered, not because it went quiet.
	c, fc := newTestClient(t, Options{StatusQuiet: time.Hour})
	fc.setLeader(2)
	start := time.Now()
	sts, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("status took %v", time.Since(start))
	}
	if len(sts) != 3 || sts[0].ID != 1 || sts[1].ID != 2 || sts[2].ID != 3 {
		t.Fatalf("statuses %+v", sts)
	}
	if sts[1].Role != RoleLeader || len(sts[1].Progress) != 2 || sts[0].Leader != 2 {
		t.Fatalf("leader status %+v", sts[1])
	}
	if c.Leader() != 2 {
		t.Fatalf("status did not teach the leader: %d", c.Leader())
	}
}

func TestStatusQuietPeriod(t *testing.T) {
	c, fc := newTestClient(t, Options{StatusQuiet: 50 * time.Millisecond})
	fc.setLeader(0) // no leader: no member list to wait for
	sts, err := c.Status(context.Background())
	if err != nil || len(sts) != 3 {
		t.Fatalf("statuses %+v err %v", sts, err)
	}
}

func TestMemberStatusJSON(t *testing.T) {
	const doc = `{"id":1,"role":"leader","term":3,"leader":1,"commit":120,"applied":120,"last_index":120,"durable":true,"progress":{"2":{"match":120,"next":121,"state":"replicate"}}}`
	var st MemberStatus
	if err := json.Unmarshal([]byte(doc), &st); err != nil {
		t.Fatal(err)
	}
	want := MemberStatus{ID: 1, Role: "leader", Term: 3, Leader: 1, Commit: 120, Applied: 120, LastIndex: 120, Durable: true,
		Progress: map[uint64]PeerProgress{2: {Match: 120, Next: 121, State: "replicate"}}}
	if st.ID != want.ID || st.Role != want.Role || st.LastIndex != want.LastIndex || !st.Durable || st.Progress[2] != want.Progress[2] {
		t.Fatalf("decoded %+v", st)
	}
	out, err := json.Marshal(want)
	if err != nil || string(out) != doc {
		t.Fatalf("encoded %s, want %s", out, doc)
	}
}
