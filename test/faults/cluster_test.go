//go:build docker

// This file owns what the suite reads of the members: /readyz and /status
// over the published HTTP ports, the leader, convergence (every member
// applied the same index), a member's replica of a prefix listed through
// its own subject with Kontiki-Consistency: stale, and the NATS
// connections the clients use.
package faults

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kontiki-raft/kontiki/client"
)

// httpc answers fast or not at all: a paused or cut-off member's port
// hangs, which must not hold up a poll of the others.
var httpc = &http.Client{Timeout: 400 * time.Millisecond}

// memberStatus is the part of /status the suite reads.
type memberStatus struct {
	client.MemberStatus
	Ready bool `json:"ready"`
}

func status(id uint64) (memberStatus, error) {
	var st memberStatus
	resp, err := httpc.Get(httpBase(id) + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return st, err
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("/status of member %d: %s: %s", id, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("/status of member %d: %w", id, err)
	}
	return st, nil
}

// statuses reads every member's /status in parallel; a member that did not
// answer is missing from the map.
func statuses() map[uint64]memberStatus {
	type res struct {
		id uint64
		st memberStatus
		ok bool
	}
	ch := make(chan res, len(members))
	for _, id := range members {
		go func() {
			st, err := status(id)
			ch <- res{id, st, err == nil}
		}()
	}
	out := map[uint64]memberStatus{}
	for range members {
		if r := <-ch; r.ok {
			out[r.id] = r.st
		}
	}
	return out
}

func ready(id uint64) bool {
	resp, err := httpc.Get(httpBase(id) + "/readyz")
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitFor polls cond every 50ms until it holds or timeout passes.
func waitFor(timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	return nil
}

func waitReady(timeout time.Duration, ids ...uint64) error {
	return waitFor(timeout, fmt.Sprintf("members %v ready (/readyz)", ids), func() bool {
		for _, id := range ids {
			if !ready(id) {
				return false
			}
		}
		return true
	})
}

// agreedLeader is the leader that every member of sts names, which says
// it leads; 0 when they do not agree.
func agreedLeader(sts map[uint64]memberStatus) (id, term uint64) {
	for _, st := range sts {
		if st.Leader == 0 || (id != 0 && st.Leader != id) {
			return 0, 0
		}
		id = st.Leader
	}
	lead, ok := sts[id]
	if !ok || lead.Role != client.RoleLeader {
		return 0, 0
	}
	return id, lead.Term
}

// leader waits until every member answers and all name the same leader.
func leader(timeout time.Duration) (id, term uint64, err error) {
	err = waitFor(timeout, "one leader every member names", func() bool {
		sts := statuses()
		if len(sts) != len(members) {
			return false
		}
		id, term = agreedLeader(sts)
		return id != 0
	})
	return id, term, err
}

// quorumLeader is the leader seen by a majority of sts (the leader itself
// included), or 0. A cut-off or paused old leader does not answer, so it
// is never counted.
func quorumLeader(sts map[uint64]memberStatus) uint64 {
	for id, st := range sts {
		if st.Role != client.RoleLeader {
			continue
		}
		n := 0
		for _, o := range sts {
			if o.Leader == id && o.Term == st.Term {
				n++
			}
		}
		if n > len(members)/2 {
			return id
		}
	}
	return 0
}

// waitConverged waits until every member answers, the leader has nothing
// uncommitted, and every member applied exactly the leader's commit index,
// the same in two consecutive polls. It returns that index.
func waitConverged(timeout time.Duration) (uint64, error) {
	var prev, applied uint64
	err := waitFor(timeout, "all members converged (applied = commit = last index on every member)", func() bool {
		sts := statuses()
		if len(sts) != len(members) {
			return false
		}
		lead, _ := agreedLeader(sts)
		if lead == 0 {
			return false
		}
		ls := sts[lead]
		if ls.Commit != ls.LastIndex || ls.Applied != ls.Commit {
			return false
		}
		for _, st := range sts {
			if st.Applied != ls.Commit || st.Commit != ls.Commit {
				return false
			}
		}
		stable := prev == ls.Commit
		prev, applied = ls.Commit, ls.Commit
		return stable
	})
	return applied, err
}

// connect opens a NATS connection to all three members' published ports.
// The servers would advertise container addresses: ignored. A short ping
// interval notices a paused or cut-off member's server within ~2-3 s (the
// default is minutes), and the client moves to another URL.
func connect(name string) (*nats.Conn, error) {
	urls := make([]string, len(members))
	for i, id := range members {
		urls[i] = natsURL(id)
	}
	return nats.Connect(strings.Join(urls, ","),
		nats.Name(name),
		nats.IgnoreDiscoveredServers(),
		nats.Timeout(2*time.Second),
		nats.PingInterval(time.Second),
		nats.MaxPingsOutstanding(2),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, 100*time.Millisecond),
		nats.RetryOnFailedConnect(false),
	)
}

// replica is one member's own copy of a prefix.
type replica struct {
	Digest   string
	Items    int
	Revision uint64 // the list's store revision
	Keys     map[string]item
}

type item struct {
	Value    string
	Revision uint64
}

// listReplica lists prefix on member id through its own subject with
// Kontiki-Consistency: stale: that member's local state, no leader
// involved.
func listReplica(nc *nats.Conn, id uint64, prefix string) (replica, error) {
	r := replica{Keys: map[string]item{}}
	h := sha256.New()
	after := ""
	subject := fmt.Sprintf("kontiki.%s.member.%d.kv.list", clusterName, id)
	for {
		body, _ := json.Marshal(client.ListRequest{Prefix: prefix, Limit: 1000, After: after})
		msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
		msg.Header.Set(client.HeaderConsistency, string(client.Stale))
		reply, err := nc.RequestMsg(msg, 5*time.Second)
		if err != nil {
			return r, fmt.Errorf("list %s on member %d: %w", prefix, id, err)
		}
		if code := reply.Header.Get(client.HeaderServiceErrorCode); code != "" {
			return r, fmt.Errorf("list %s on member %d: %s %s", prefix, id, code, reply.Header.Get(client.HeaderServiceError))
		}
		var page client.ListResponse
		if err := json.Unmarshal(reply.Data, &page); err != nil {
			return r, fmt.Errorf("list %s on member %d: %w", prefix, id, err)
		}
		if after == "" {
			r.Revision = page.Revision
		}
		for _, it := range page.Items {
			fmt.Fprintf(h, "%d:%s|%d:%x|%d\n", len(it.Key), it.Key, len(it.Value), it.Value, it.Revision)
			r.Items++
			r.Keys[it.Key] = item{string(it.Value), it.Revision}
			after = it.Key
		}
		if !page.More || len(page.Items) == 0 {
			break
		}
	}
	r.Digest = hex.EncodeToString(h.Sum(nil))[:16]
	return r, nil
}
