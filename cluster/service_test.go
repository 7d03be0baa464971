package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kontiki-raft/kontiki/client"
	pb "github.com/kontiki-raft/kontiki/messages"
	"google.golang.org/protobuf/proto"
)

func request(t *testing.T, nc *nats.Conn, subject string, data []byte, headers map[string]string) *nats.Msg {
	t.Helper()
	msg := nats.NewMsg(subject)
	msg.Data = data
	for k, v := range headers {
		msg.Header.Set(k, v)
	}
	resp, err := nc.RequestMsg(msg, 5*time.Second)
	if err != nil {
		t.Fatalf("request %s: %v", subject, err)
	}
	return resp
}

func code(m *nats.Msg) int {
	c, _ := strconv.Atoi(m.Header.Get(client.HeaderServiceErrorCode))
	return c
}

func revision(t *testing.T, m *nats.Msg) uint64 {
	t.Helper()
	if c := code(m); c != 0 {
		t.Fatalf("error %d: %s", c, m.Header.Get(client.HeaderServiceError))
	}
	var wr client.WriteResponse
	if err := json.Unmarshal(m.Data, &wr); err != nil {
		t.Fatalf("reply %q: %v", m.Data, err)
	}
	return wr.Revision
}

func TestThreeMembersServeWritesAndReadsThroughEveryMember(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.leader()
	nc := connect(t, c.ns)

	var lastRev uint64
	for id := range c.members {
		// Each member's own subject: followers forward to the leader, which
		// answers the client directly.
		resp := request(t, nc, c.subject("member.%d.kv.put.cfg.m%d", id, id), []byte("v"+strconv.FormatUint(id, 10)), nil)
		rev := revision(t, resp)
		if rev <= lastRev {
			t.Fatalf("revision %d after %d", rev, lastRev)
		}
		lastRev = rev
		if got := resp.Header.Get(client.HeaderLeader); got != strconv.FormatUint(leader, 10) {
			t.Fatalf("write through member %d answered with leader %q, want %d", id, got, leader)
		}
	}
	for id := range c.members {
		for _, mode := range []string{"", "linearizable", "lease", "stale"} {
			h := map[string]string{}
			if mode != "" {
				h[client.HeaderConsistency] = mode
			}
			if mode == "stale" {
				waitFor(t, 5*time.Second, "replica catch-up", func() bool { return c.members[id].Store.Revision() >= lastRev })
			}
			resp := request(t, nc, c.subject("member.%d.kv.get.cfg.m1", id), nil, h)
			if code(resp) != 0 || string(resp.Data) != "v1" {
				t.Fatalf("get via member %d (%q): code %d data %q", id, mode, code(resp), resp.Data)
			}
			if resp.Header.Get(client.HeaderRevision) == "" {
				t.Fatalf("get via member %d (%q) has no %s", id, mode, client.HeaderRevision)
			}
			if mode == "stale" && resp.Header.Get(client.HeaderApplied) == "" {
				t.Fatalf("stale get has no %s", client.HeaderApplied)
			}
		}
	}
	// The shared subject, queue group.
	if resp := request(t, nc, c.subject("kv.get.cfg.m2"), nil, nil); string(resp.Data) != "v2" {
		t.Fatalf("shared get: %q", resp.Data)
	}
	resp := request(t, nc, c.subject("kv.list"), []byte(`{"prefix":"cfg."}`), nil)
	var lr client.ListResponse
	if err := json.Unmarshal(resp.Data, &lr); err != nil || len(lr.Items) != 3 || lr.Items[0].Key != "cfg.m1" {
		t.Fatalf("list: %s (%v)", resp.Data, err)
	}
}

func TestCASConflictNotFoundOversizeAndBadKey(t *testing.T) {
	c := startCluster(t, 3)
	c.leader()
	nc := connect(t, c.ns)
	rev := revision(t, request(t, nc, c.subject("kv.put.k"), []byte("1"), map[string]string{client.HeaderExpectedRevision: "0"}))
	// Create-only again: conflict with the current revision.
	resp := request(t, nc, c.subject("kv.put.k"), []byte("2"), map[string]string{client.HeaderExpectedRevision: "0"})
	if code(resp) != 409 || resp.Header.Get(client.HeaderRevision) != strconv.FormatUint(rev, 10) {
		t.Fatalf("create-only on existing key: code %d revision %q, want 409 and %d", code(resp), resp.Header.Get(client.HeaderRevision), rev)
	}
	revision(t, request(t, nc, c.subject("kv.put.k"), []byte("2"), map[string]string{client.HeaderExpectedRevision: strconv.FormatUint(rev, 10)}))
	if resp := request(t, nc, c.subject("kv.get.missing"), nil, nil); code(resp) != 404 {
		t.Fatalf("get missing: code %d", code(resp))
	}
	if resp := request(t, nc, c.subject("kv.del.missing"), nil, nil); code(resp) != 404 {
		t.Fatalf("del missing: code %d", code(resp))
	}
	big := make([]byte, int(nc.MaxPayload())-ValueOverhead+1)
	if resp := request(t, nc, c.subject("kv.put.big"), big, nil); code(resp) != 413 {
		t.Fatalf("oversize put: code %d", code(resp))
	}
	// Keys that are valid NATS subjects but not valid keys.
	for _, key := range []string{"a!b", "a#b", "caf\u00e9", strings.Repeat("k", 513)} {
		if resp := request(t, nc, c.subject("kv.get.%s", key), nil, nil); code(resp) != 400 {
			t.Fatalf("get %q: code %d, want 400", key, code(resp))
		}
	}
	if resp := request(t, nc, c.subject("kv.get.k"), nil, map[string]string{client.HeaderConsistency: "sometimes"}); code(resp) != 400 {
		t.Fatalf("unknown consistency: code %d", code(resp))
	}
}

func TestRetriedWriteWithSameRequestIDAppliesOnce(t *testing.T) {
	c := startCluster(t, 3)
	c.leader()
	nc := connect(t, c.ns)
	h := map[string]string{client.HeaderRequestID: "req-1"}
	r1 := revision(t, request(t, nc, c.subject("kv.put.once"), []byte("a"), h))
	r2 := revision(t, request(t, nc, c.subject("kv.put.once"), []byte("a"), h))
	if r1 != r2 {
		t.Fatalf("retry returned revision %d, original %d", r2, r1)
	}
	resp := request(t, nc, c.subject("kv.get.once"), nil, nil)
	if resp.Header.Get(client.HeaderRevision) != strconv.FormatUint(r1, 10) {
		t.Fatalf("key revision %s, want %d: the retry applied again", resp.Header.Get(client.HeaderRevision), r1)
	}
}

func TestRaftBatchesFromWrongClusterOrSpoofedSenderAreRejected(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.leader()
	nc := connect(t, c.ns)
	var target uint64 = 1
	if leader == 1 {
		target = 2
	}
	tr := c.members[target].Transport
	vote := &pb.Message{Type: pb.MessageType_MSG_VOTE, To: target, From: 3, Term: 100, Index: 1 << 40, LogTerm: 100}
	send := func(subject string, b *pb.Batch) {
		data, _ := proto.Marshal(b)
		if err := nc.Publish(subject, data); err != nil {
			t.Fatal(err)
		}
	}
	id := ClusterID(c.cluster, []uint64{1, 2, 3})
	s0 := snapshotStats(tr)
	// Another cluster's name; our name with another cluster's id (a cluster
	// restored from a snapshot of this one).
	send(c.subject("raft.%d.3", target), &pb.Batch{FormatVersion: pb.FormatVersion, Cluster: "other", ClusterId: id, From: 3, To: target, Messages: []*pb.Message{vote}})
	send(c.subject("raft.%d.3", target), &pb.Batch{FormatVersion: pb.FormatVersion, Cluster: c.cluster, ClusterId: id + 1, From: 3, To: target, Messages: []*pb.Message{vote}})
	// Subject says 2, message says 3.
	send(c.subject("raft.%d.2", target), &pb.Batch{FormatVersion: pb.FormatVersion, Cluster: c.cluster, ClusterId: id, From: 2, To: target, Messages: []*pb.Message{vote}})
	// Not a member.
	stranger := &pb.Message{Type: pb.MessageType_MSG_VOTE, To: target, From: 9, Term: 100, Index: 1 << 40, LogTerm: 100}
	send(c.subject("raft.%d.9", target), &pb.Batch{FormatVersion: pb.FormatVersion, Cluster: c.cluster, ClusterId: id, From: 9, To: target, Messages: []*pb.Message{stranger}})
	// Unknown format version, and garbage.
	send(c.subject("raft.%d.3", target), &pb.Batch{FormatVersion: 99, Cluster: c.cluster, ClusterId: id, From: 3, To: target, Messages: []*pb.Message{vote}})
	if err := nc.Publish(c.subject("raft.%d.3", target), []byte{0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	want := rejections{cluster: 2, sender: 1, member: 1, version: 1, decode: 1}
	waitFor(t, 5*time.Second, "each forged batch rejected by its own check", func() bool {
		return snapshotStats(tr).minus(s0) == want
	})
	st, err := c.members[target].Node.Status(context.Background())
	if err != nil || st.Term >= 100 {
		t.Fatalf("a rejected batch changed the term: %d (%v)", st.Term, err)
	}
}

type rejections struct{ cluster, sender, member, version, decode uint64 }

func snapshotStats(tr *PeerTransport) rejections {
	return rejections{tr.Stats.RejectedCluster.Load(), tr.Stats.RejectedSender.Load(), tr.Stats.RejectedMember.Load(), tr.Stats.RejectedVersion.Load(), tr.Stats.RejectedDecode.Load()}
}

func (a rejections) minus(b rejections) rejections {
	return rejections{a.cluster - b.cluster, a.sender - b.sender, a.member - b.member, a.version - b.version, a.decode - b.decode}
}

func TestWriteForwardedToAnUnreachableLeaderGets503NotATimeout(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.leader()
	var follower uint64
	for id := range c.members {
		if id != leader {
			follower = id
		}
	}
	// The leader's node still leads, but nothing answers on its subjects
	// (its service stopped, as in the first moments of a SIGTERM).
	c.members[leader].Service.Stop()
	nc := connect(t, c.ns)
	msg := nats.NewMsg(c.subject("member.%d.kv.put.fwd", follower))
	msg.Data = []byte("x")
	start := time.Now()
	resp, err := nc.RequestMsg(msg, 3*time.Second)
	if err != nil {
		t.Fatalf("forwarded write got no answer (%v after %v): the client would wait out its timeout", err, time.Since(start))
	}
	if code(resp) != 503 {
		t.Fatalf("forwarded write to an unreachable leader: code %d, want 503", code(resp))
	}
}

// DESIGN.md §3: an unknown header value is a bad request on every endpoint,
// and a refused request changes nothing.
func TestUnknownOrEmptyHeaderValuesAreRefusedAndChangeNothing(t *testing.T) {
	c := startCluster(t, 3)
	c.leader()
	nc := connect(t, c.ns)
	sometimes := map[string]string{client.HeaderConsistency: "sometimes"}
	for _, r := range []struct {
		subject string
		body    []byte
	}{
		{c.subject("kv.put.hc"), []byte("v")},
		{c.subject("kv.del.hc"), nil},
		{c.subject("kv.list"), nil},
		{c.subject("kv.watch"), []byte("{}")},
		{c.subject("propose"), []byte("cmd")},
		{c.subject("admin.status"), nil},
	} {
		if resp := request(t, nc, r.subject, r.body, sometimes); code(resp) != 400 {
			t.Errorf("%s with Kontiki-Consistency: sometimes: code %d (%s), want 400", r.subject, code(resp), resp.Data)
		}
	}
	// The known values pass on a write: writes are always linearizable.
	for _, mode := range []string{"linearizable", "lease", "stale"} {
		revision(t, request(t, nc, c.subject("kv.put.known"), []byte(mode), map[string]string{client.HeaderConsistency: mode}))
	}
	// A present but empty CAS header must not become an unconditional write.
	if resp := request(t, nc, c.subject("kv.put.hc"), []byte("v"), map[string]string{client.HeaderExpectedRevision: ""}); code(resp) != 400 {
		t.Errorf("put with an empty %s: code %d (%s), want 400", client.HeaderExpectedRevision, code(resp), resp.Data)
	}
	if resp := request(t, nc, c.subject("kv.get.hc"), nil, nil); code(resp) != 404 {
		t.Errorf("after refused writes, get hc: code %d value %q, want 404", code(resp), resp.Data)
	}
	// list refuses a prefix that no key could start with, as watch does.
	for _, subj := range []string{"kv.list", "kv.watch"} {
		if resp := request(t, nc, c.subject("%s", subj), []byte(`{"prefix":"a*"}`), nil); code(resp) != 400 {
			t.Errorf("%s with prefix a*: code %d (%s), want 400", subj, code(resp), resp.Data)
		}
	}
}

// A list reply must fit in one NATS message: pages of large values end early
// with more, and a value no page can carry comes without it.
func TestListPagesFitInOneMessage(t *testing.T) {
	c := startCluster(t, 3)
	c.leader()
	nc := connect(t, c.ns)
	mid := bytes.Repeat([]byte("m"), 300<<10) // 400 KiB in base64: two per page
	for i := 0; i < 5; i++ {
		revision(t, request(t, nc, c.subject("kv.put.big.a%d", i), mid, nil))
	}
	huge := bytes.Repeat([]byte("h"), int(nc.MaxPayload())-ValueOverhead) // the largest accepted value
	hugeRev := revision(t, request(t, nc, c.subject("kv.put.big.b"), huge, nil))
	var keys []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatalf("more than 10 pages: %v", keys)
		}
		body, _ := json.Marshal(client.ListRequest{Prefix: "big.", After: after})
		resp := request(t, nc, c.subject("kv.list"), body, nil)
		if code(resp) != 0 || len(resp.Data) > int(nc.MaxPayload()) {
			t.Fatalf("list page: code %d, %d bytes", code(resp), len(resp.Data))
		}
		var lr client.ListResponse
		if err := json.Unmarshal(resp.Data, &lr); err != nil {
			t.Fatal(err)
		}
		for _, it := range lr.Items {
			keys = append(keys, it.Key)
			switch {
			case it.Key == "big.b":
				if !it.ValueOmitted || it.Value != nil || it.Revision != hugeRev {
					t.Errorf("big.b: omitted %v, %d value bytes, revision %d; want the value omitted at %d", it.ValueOmitted, len(it.Value), it.Revision, hugeRev)
				}
			case it.ValueOmitted || !bytes.Equal(it.Value, mid):
				t.Errorf("%s: omitted %v, %d value bytes; want the whole value", it.Key, it.ValueOmitted, len(it.Value))
			}
		}
		if len(lr.Items) == 0 || !lr.More {
			break
		}
		after = lr.Items[len(lr.Items)-1].Key
	}
	if want := []string{"big.a0", "big.a1", "big.a2", "big.a3", "big.a4", "big.b"}; !slices.Equal(keys, want) {
		t.Fatalf("listed %v, want %v", keys, want)
	}
}
