// This file tests "kontiki status" in table and json form.
package main

import (
	"encoding/json"
	"testing"

	"github.com/kontiki-raft/kontiki/client"
)

func TestStatusTable(t *testing.T) {
	f := newFake(t)
	f.cli("", "status").expect(t, 0, "ID  ROLE      TERM  LEADER  COMMIT  APPLIED  LAG\n"+
		"1   leader    4     1       12      12       0\n"+
		"2   follower  4     1       12      9        3\n")
}

func TestStatusJSON(t *testing.T) {
	f := newFake(t)
	r := f.cli("", "status", "-o", "json")
	var sts []client.MemberStatus
	if err := json.Unmarshal([]byte(r.stdout), &sts); err != nil || r.code != 0 {
		t.Fatalf("status json: %v %+v", err, r)
	}
	if len(sts) != 2 || sts[0].ID != 1 || sts[0].Progress[2].State != "replicate" || sts[1].Applied != 9 || !sts[1].Durable {
		t.Fatalf("status %s", r.stdout)
	}
}
