package cluster

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kontiki-raft/kontiki/actors"
	"github.com/kontiki-raft/kontiki/client"
	pb "github.com/kontiki-raft/kontiki/messages"
)

func put(key, value string) *pb.KVCommand {
	return &pb.KVCommand{Op: pb.KVOp_KV_OP_PUT, Key: key, Value: []byte(value)}
}

func del(key string) *pb.KVCommand { return &pb.KVCommand{Op: pb.KVOp_KV_OP_DELETE, Key: key} }

// sendBatch sends commands as one kv.batch request and decodes the reply,
// failing on a whole-request error.
func sendBatch(t *testing.T, nc *nats.Conn, subject string, cmds ...*pb.KVCommand) (*nats.Msg, *pb.KVBatchReply) {
	t.Helper()
	data, err := proto.Marshal(&pb.KVBatch{Commands: cmds})
	if err != nil {
		t.Fatal(err)
	}
	resp := request(t, nc, subject, data, nil)
	if c := code(resp); c != 0 {
		t.Fatalf("batch: error %d: %s", c, resp.Header.Get(client.HeaderServiceError))
	}
	var reply pb.KVBatchReply
	if err := proto.Unmarshal(resp.Data, &reply); err != nil {
		t.Fatalf("batch reply: %v", err)
	}
	if len(reply.Results) != len(cmds) {
		t.Fatalf("%d results for %d commands", len(reply.Results), len(cmds))
	}
	return resp, &reply
}

// getValue reads key through the get endpoint: its value and revision, or
// the error code.
func getValue(t *testing.T, c *testCluster, nc *nats.Conn, key string) (value string, rev uint64, errCode int) {
	t.Helper()
	resp := request(t, nc, c.subject("kv.get.%s", key), nil, nil)
	if errCode = code(resp); errCode != 0 {
		return "", 0, errCode
	}
	rev, _ = strconv.ParseUint(resp.Header.Get(client.HeaderRevision), 10, 64)
	return string(resp.Data), rev, 0
}

func TestBatchOfPutsDeletesAndCASAppliesInOrderWithIncreasingRevisions(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.leader()
	nc := connect(t, c.ns)
	r0 := revision(t, request(t, nc, c.subject("kv.put.a"), []byte("1"), nil))

	casA := put("a", "2")
	casA.HasExpectedRevision, casA.ExpectedRevision = true, r0
	createC := put("c", "new")
	createC.HasExpectedRevision = true // expected 0: must not exist
	resp, reply := sendBatch(t, nc, c.subject("member.%d.kv.batch", leader),
		casA, put("b", "x"), del("b"), createC, put("a", "3"))

	last := r0
	for i, r := range reply.Results {
		if r.Code != 200 || r.Revision <= last {
			t.Fatalf("command %d: code %d revision %d (%s), want 200 and a revision above %d", i, r.Code, r.Revision, r.Description, last)
		}
		last = r.Revision
	}
	if reply.Leader != leader || resp.Header.Get(client.HeaderLeader) != strconv.FormatUint(leader, 10) {
		t.Fatalf("leader %d, header %q; want %d", reply.Leader, resp.Header.Get(client.HeaderLeader), leader)
	}
	if v, rev, _ := getValue(t, c, nc, "a"); v != "3" || rev != reply.Results[4].Revision {
		t.Fatalf("a = %q at %d, want \"3\" at %d", v, rev, reply.Results[4].Revision)
	}
	if v, rev, _ := getValue(t, c, nc, "c"); v != "new" || rev != reply.Results[3].Revision {
		t.Fatalf("c = %q at %d, want \"new\" at %d", v, rev, reply.Results[3].Revision)
	}
	if _, _, status := getValue(t, c, nc, "b"); status != 404 {
		t.Fatalf("b after put then del: code %d, want 404", status)
	}
}

func TestBatchRefusesInvalidCommandsAndStillAppliesTheValidOnes(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.leader()
	nc := connect(t, c.ns)
	existing := revision(t, request(t, nc, c.subject("kv.put.exists"), []byte("v"), nil))

	create := put("exists", "again")
	create.HasExpectedRevision = true
	delWithBody := del("k")
	delWithBody.Value = []byte("x")
	longID := put("k", "v")
	longID.RequestId = strings.Repeat("r", 257)
	cmds := []*pb.KVCommand{
		put("ok1", "1"),
		put("bad key!", "v"),
		put("big", strings.Repeat("x", int(nc.MaxPayload())-ValueOverhead+1)),
		delWithBody,
		create,
		del("missing"),
		put("ok2", "2"),
		longID,
		{Op: pb.KVOp(7), Key: "k"},
	}
	_, reply := sendBatch(t, nc, c.subject("member.%d.kv.batch", leader), cmds...)

	want := []uint32{200, 400, 413, 400, 409, 404, 200, 400, 400}
	for i, r := range reply.Results {
		if r.Code != want[i] {
			t.Fatalf("command %d: code %d (%s), want %d", i, r.Code, r.Description, want[i])
		}
		if r.Code != 200 && r.Description == "" {
			t.Fatalf("command %d: code %d without a description", i, r.Code)
		}
	}
	if reply.Results[4].Revision != existing {
		t.Fatalf("conflict revision %d, want the key's %d", reply.Results[4].Revision, existing)
	}
	if got := reply.Results[2].Description; got != "value of "+strconv.Itoa(int(nc.MaxPayload())-ValueOverhead+1)+" bytes exceeds the limit of "+strconv.Itoa(int(nc.MaxPayload())-ValueOverhead) {
		t.Fatalf("413 wording differs from the put endpoint's: %q", got)
	}
	ok1, ok2 := reply.Results[0].Revision, reply.Results[6].Revision
	if ok1 == 0 || ok2 <= ok1 {
		t.Fatalf("valid commands' revisions %d, %d", ok1, ok2)
	}
	if v, _, _ := getValue(t, c, nc, "ok2"); v != "2" {
		t.Fatalf("ok2 = %q", v)
	}
	if v, _, _ := getValue(t, c, nc, "exists"); v != "v" {
		t.Fatalf("a conflicting create overwrote the key: %q", v)
	}
	for _, key := range []string{"big", "k"} {
		if _, _, status := getValue(t, c, nc, key); status != 404 {
			t.Fatalf("refused command applied: %s exists (code %d)", key, status)
		}
	}
	if rev := c.members[leader].Store.Revision(); rev != ok2 {
		t.Fatalf("store revision %d, want ok2's %d: a refused command wrote", rev, ok2)
	}
}

func TestMalformedEmptyOrOversizedBatchIsRefusedWhole(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.leader()
	nc := connect(t, c.ns)
	before := c.members[leader].Store.Revision()

	tooMany := &pb.KVBatch{}
	for i := 0; i <= maxBatchCommands; i++ {
		tooMany.Commands = append(tooMany.Commands, put("many."+strconv.Itoa(i), "v"))
	}
	tooManyData, err := proto.Marshal(tooMany)
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{
		"malformed": {0xff, 0xff, 0xff},
		"empty":     nil,
		"too many":  tooManyData,
	} {
		// The shared subject: whichever member answers refuses it whole.
		resp := request(t, nc, c.subject("kv.batch"), body, nil)
		if code(resp) != 400 || resp.Header.Get(client.HeaderServiceError) == "" {
			t.Fatalf("%s batch: code %d error %q, want 400 with a reason", name, code(resp), resp.Header.Get(client.HeaderServiceError))
		}
		if name == "empty" && resp.Header.Get(client.HeaderServiceError) != "empty batch" {
			t.Fatalf("empty batch: %q", resp.Header.Get(client.HeaderServiceError))
		}
	}
	if _, _, status := getValue(t, c, nc, "many.0"); status != 404 {
		t.Fatalf("a command of a refused batch applied (code %d)", status)
	}
	if after := c.members[leader].Store.Revision(); after != before {
		t.Fatalf("store revision moved from %d to %d", before, after)
	}
}

func TestBatchSentToAFollowerIsRefused503WithTheLeader(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.leader()
	nc := connect(t, c.ns)
	follower := leader%3 + 1
	resp, reply := sendBatch(t, nc, c.subject("member.%d.kv.batch", follower), put("f1", "v"), del("f2"))
	for i, r := range reply.Results {
		if r.Code != 503 {
			t.Fatalf("command %d through follower %d: code %d (%s), want 503", i, follower, r.Code, r.Description)
		}
	}
	if reply.Leader != leader || resp.Header.Get(client.HeaderLeader) != strconv.FormatUint(leader, 10) {
		t.Fatalf("follower named leader %d (header %q), want %d", reply.Leader, resp.Header.Get(client.HeaderLeader), leader)
	}
	if _, _, status := getValue(t, c, nc, "f1"); status != 404 {
		t.Fatalf("a batch refused by a follower applied (code %d)", status)
	}
}

func TestRetriedBatchWithTheSameRequestIDsAppliesOnce(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.leader()
	nc := connect(t, c.ns)
	cmds := []*pb.KVCommand{put("r.a", "1"), put("r.b", "2"), del("r.a")}
	for i, cmd := range cmds {
		cmd.RequestId = "batch-1-" + strconv.Itoa(i)
	}
	subject := c.subject("member.%d.kv.batch", leader)
	_, first := sendBatch(t, nc, subject, cmds...)
	_, retry := sendBatch(t, nc, subject, cmds...)
	for i := range cmds {
		f, r := first.Results[i], retry.Results[i]
		if f.Code != 200 || r.Code != f.Code || r.Revision != f.Revision {
			t.Fatalf("command %d: first %d@%d, retry %d@%d; want the same 200 result", i, f.Code, f.Revision, r.Code, r.Revision)
		}
	}
	// Applied again, the retry's del would be 404 and its put would
	// recreate r.a.
	if _, _, status := getValue(t, c, nc, "r.a"); status != 404 {
		t.Fatalf("r.a after the retry: code %d, want 404", status)
	}
	if _, rev, _ := getValue(t, c, nc, "r.b"); rev != first.Results[1].Revision {
		t.Fatalf("r.b at revision %d, want %d: the retry applied again", rev, first.Results[1].Revision)
	}
}

// replyTo is a request whose reply subject is an inbox of the test's.
type replyTo struct {
	micro.Request
	inbox string
}

func (r replyTo) Reply() string { return r.inbox }

func TestBatchTimerAnswersTheRestWith504OnceAndDropsLateResults(t *testing.T) {
	ns := startNATS(t)
	nc := connect(t, ns)
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{cfg: ServiceConfig{ID: 1, NC: nc}}
	b := &pendingBatch{s: s, req: replyTo{inbox: inbox}, results: make([]pb.KVBatchResult, 3), pending: 3}
	for i := range b.results {
		b.reply.Results = append(b.reply.Results, &b.results[i])
	}
	b.timer = time.AfterFunc(time.Hour, b.expire)
	defer b.timer.Stop()
	ok, _ := proto.Marshal(&pb.KVResult{Status: pb.KVStatus_KV_STATUS_OK, Revision: 7})

	b.answer(0, &actors.ProposeResult{Result: ok})
	b.expire() // as if the request timeout passed
	b.answer(1, &actors.ProposeResult{Result: ok})
	b.expire()

	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var reply pb.KVBatchReply
	if err := proto.Unmarshal(msg.Data, &reply); err != nil {
		t.Fatal(err)
	}
	got := []uint32{reply.Results[0].Code, reply.Results[1].Code, reply.Results[2].Code}
	if got[0] != 200 || reply.Results[0].Revision != 7 || got[1] != 504 || got[2] != 504 || reply.Results[1].Description != batchTimeoutMessage {
		t.Fatalf("results %v (%v), want 200@7 then 504, 504", got, reply.Results)
	}
	if reply.Leader != 1 {
		t.Fatalf("leader %d, want this member (it applied a command)", reply.Leader)
	}
	// One reply only: flush, then nothing more is pending.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := sub.Pending(); n != 0 {
		t.Fatalf("%d more replies after the first", n)
	}
}

// The leader proposes a command's own bytes, so a command padded with
// fields a re-encoding would drop is bounded like a re-encoded one: every
// entry must fit in one peer message.
func TestDecodeBatchRefusesAPaddedCommand(t *testing.T) {
	const maxValue = 100
	good, err := proto.Marshal(put("k", "v"))
	if err != nil {
		t.Fatal(err)
	}
	padded := protowire.AppendTag(append([]byte(nil), good...), 99, protowire.BytesType)
	padded = protowire.AppendBytes(padded, make([]byte, maxCommandBytes(maxValue)))
	var body []byte
	for _, c := range [][]byte{good, padded} {
		body = protowire.AppendTag(body, 1, protowire.BytesType)
		body = protowire.AppendBytes(body, c)
	}
	entries, bad := decodeBatch(body, maxValue, 1)
	if bad != nil || len(entries) != 2 {
		t.Fatalf("entries %v, whole-request error %v", entries, bad)
	}
	if entries[0].data == nil || entries[0].refused != nil {
		t.Fatalf("the plain command: %+v", entries[0])
	}
	if entries[1].data != nil || entries[1].refused == nil || entries[1].refused.code != 413 {
		t.Fatalf("the padded command: %+v", entries[1])
	}
}
