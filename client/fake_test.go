// This file owns the fake Kontiki cluster the client tests talk to: members
// answering the contract's subjects (queue group, member subjects, status)
// from one shared in-memory store, with error injection and a request log.
package client

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	pb "github.com/kontiki-raft/kontiki/messages"
)

type fakeEntry struct {
	value []byte
	rev   uint64
}

// seenRequest is one request a fake member received.
type seenRequest struct {
	member    uint64
	subject   string
	endpoint  string // subject after kontiki.<c>[.member.<id>]
	requestID string
	header    nats.Header
	cmd       *pb.KVCommand // the command, for one of a kv.batch request
	batchSize int           // the commands in its kv.batch request
	batchSeq  int           // which kv.batch request (1, 2, …)
}

// fakeFailure is an error the cluster answers instead of serving.
type fakeFailure struct {
	code   int
	leader uint64
}

type fakeCluster struct {
	t    *testing.T
	nc   *nats.Conn
	base string

	mu       sync.Mutex
	store    map[string]fakeEntry
	rev      uint64
	leader   uint64
	dedupe   map[string]uint64 // request id → revision of its write
	seen     []seenRequest
	failures []fakeFailure // answered in order, one per request
	members  map[uint64]*fakeMember
	batches  int // kv.batch requests seen
	// gate, when set (setGate), holds every kv.batch request until it is
	// closed.
	gate chan struct{}
	// cmdFailures: the next commands of kv.batch requests are answered with
	// these codes, in order, instead of being applied.
	cmdFailures []fakeFailure
}

type fakeMember struct {
	id       uint64
	queue    []*nats.Subscription
	direct   *nats.Subscription
	silent   bool // receives but never answers (a frozen process)
	applied  uint64
	statusOf func() MemberStatus
}

func newFakeCluster(t *testing.T, nc *nats.Conn, leader uint64, ids ...uint64) *fakeCluster {
	f := &fakeCluster{
		t: t, nc: nc, base: "kontiki." + testCluster + ".",
		store: map[string]fakeEntry{}, dedupe: map[string]uint64{},
		leader: leader, members: map[uint64]*fakeMember{},
	}
	for _, id := range ids {
		f.start(id)
	}
	return f
}

// start subscribes member id to its queue-group, member and status subjects.
func (f *fakeCluster) start(id uint64) {
	f.t.Helper()
	m := &fakeMember{id: id}
	h := func(msg *nats.Msg) { f.serve(m, msg) }
	for _, subj := range []string{"kv.put.>", "kv.get.>", "kv.del.>", "kv.list", "kv.batch", "propose"} {
		s, err := f.nc.QueueSubscribe(f.base+subj, "q", h)
		if err != nil {
			f.t.Fatal(err)
		}
		m.queue = append(m.queue, s)
	}
	var err error
	if m.direct, err = f.nc.Subscribe(f.base+"member."+strconv.FormatUint(id, 10)+".>", h); err != nil {
		f.t.Fatal(err)
	}
	s, err := f.nc.Subscribe(f.base+"admin.status", h)
	if err != nil {
		f.t.Fatal(err)
	}
	m.queue = append(m.queue, s)
	if err := f.nc.Flush(); err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	f.members[id] = m
	f.mu.Unlock()
}

// stop removes every subscription of member id (a dead process).
func (f *fakeCluster) stop(id uint64) {
	f.mu.Lock()
	m := f.members[id]
	delete(f.members, id)
	f.mu.Unlock()
	for _, s := range append(m.queue, m.direct) {
		_ = s.Unsubscribe()
	}
	_ = f.nc.Flush()
}

// freeze leaves only member id's member subject, which never answers: the
// member is frozen and NATS has dropped it from the queue groups.
func (f *fakeCluster) freeze(id uint64) {
	f.mu.Lock()
	m := f.members[id]
	m.silent = true
	f.mu.Unlock()
	for _, s := range m.queue {
		_ = s.Unsubscribe()
	}
	_ = f.nc.Flush()
}

func (f *fakeCluster) setGate(g chan struct{}) {
	f.mu.Lock()
	f.gate = g
	f.mu.Unlock()
}

// failNextCommands makes the next batched commands fail with these codes.
func (f *fakeCluster) failNextCommands(fs ...fakeFailure) {
	f.mu.Lock()
	f.cmdFailures = append(f.cmdFailures, fs...)
	f.mu.Unlock()
}

func (f *fakeCluster) setLeader(id uint64) {
	f.mu.Lock()
	f.leader = id
	f.mu.Unlock()
}

// failNext makes the next requests fail with these errors, in order.
func (f *fakeCluster) failNext(fs ...fakeFailure) {
	f.mu.Lock()
	f.failures = append(f.failures, fs...)
	f.mu.Unlock()
}

func (f *fakeCluster) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.seen)
}

func (f *fakeCluster) serve(m *fakeMember, msg *nats.Msg) {
	endpoint := strings.TrimPrefix(msg.Subject, f.base)
	if rest, ok := strings.CutPrefix(endpoint, "member."); ok {
		_, endpoint, _ = strings.Cut(rest, ".")
	}
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil && endpoint == "kv.batch" {
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if m.silent {
		return
	}
	if endpoint == "admin.status" {
		f.respondStatus(m, msg)
		return
	}
	f.see(m, msg, endpoint)
	if len(f.failures) > 0 {
		fl := f.failures[0]
		f.failures = f.failures[1:]
		f.fail(msg, fl.code, "injected", fl.leader)
		return
	}
	op, key, _ := strings.Cut(strings.TrimPrefix(endpoint, "kv."), ".")
	if code, ok := strings.CutPrefix(key, "err."); ok && op != "put" && op != "del" {
		n, _ := strconv.Atoi(code)
		f.fail(msg, n, "asked for "+code, f.leader)
		return
	}
	switch op {
	case "batch":
		f.batch(m, msg)
	case "put", "del":
		f.write(msg, op, key)
	case "get":
		e, ok := f.store[key]
		if !ok {
			f.fail(msg, 404, "key not found", f.leader)
			return
		}
		f.reply(msg, e.value, HeaderRevision, strconv.FormatUint(e.rev, 10))
	case "list":
		f.list(msg)
	case "propose":
		f.reply(msg, append([]byte("ok:"), msg.Data...))
	default:
		f.fail(msg, 400, "unknown endpoint "+endpoint, f.leader)
	}
}

// see records a request; a kv.batch request is recorded once per command,
// with the command's request id.
func (f *fakeCluster) see(m *fakeMember, msg *nats.Msg, endpoint string) {
	r := seenRequest{member: m.id, subject: msg.Subject, endpoint: endpoint, requestID: msg.Header.Get(HeaderRequestID), header: msg.Header}
	var batch pb.KVBatch
	if endpoint != "kv.batch" || proto.Unmarshal(msg.Data, &batch) != nil {
		f.seen = append(f.seen, r)
		return
	}
	f.batches++
	for _, cmd := range batch.Commands {
		r.requestID, r.cmd, r.batchSize, r.batchSeq = cmd.RequestId, cmd, len(batch.Commands), f.batches
		f.seen = append(f.seen, r)
	}
}

func (f *fakeCluster) write(msg *nats.Msg, op, key string) {
	var expected *uint64
	if exp := msg.Header.Get(HeaderExpectedRevision); exp != "" {
		n, _ := strconv.ParseUint(exp, 10, 64)
		expected = &n
	}
	code, rev, desc := f.apply(op, key, msg.Data, msg.Header.Get(HeaderRequestID), expected)
	switch code {
	case 200:
		body, _ := json.Marshal(WriteResponse{Revision: rev})
		f.reply(msg, body)
	case 409:
		h := nats.Header{}
		h.Set(HeaderServiceErrorCode, "409")
		h.Set(HeaderServiceError, desc)
		h.Set(HeaderRevision, strconv.FormatUint(rev, 10))
		_ = msg.RespondMsg(&nats.Msg{Header: h})
	default:
		f.fail(msg, code, desc, f.leader)
	}
}

// apply runs one write on the store: the code, revision and reason of its
// answer. A request id seen before answers its first outcome again.
func (f *fakeCluster) apply(op, key string, value []byte, id string, expected *uint64) (code int, rev uint64, desc string) {
	if c, ok := strings.CutPrefix(key, "err."); ok { // key err.<code>: answer that code
		n, _ := strconv.Atoi(c)
		return n, 0, "asked for " + c
	}
	if r, ok := f.dedupe[id]; ok && id != "" {
		return 200, r, ""
	}
	cur, exists := f.store[key]
	if expected != nil && *expected != cur.rev {
		return 409, cur.rev, "revision mismatch"
	}
	if op == "del" && !exists {
		return 404, 0, "key not found"
	}
	f.rev++
	if op == "put" {
		f.store[key] = fakeEntry{value: slices.Clone(value), rev: f.rev}
	} else {
		delete(f.store, key)
	}
	f.dedupe[id] = f.rev
	return 200, f.rev, ""
}

// batch serves kv.batch: each command as a single write would be, and
// answers 503 with the leader on a member that does not lead.
func (f *fakeCluster) batch(m *fakeMember, msg *nats.Msg) {
	var req pb.KVBatch
	if err := proto.Unmarshal(msg.Data, &req); err != nil || len(req.Commands) == 0 {
		f.fail(msg, 400, "bad batch", f.leader)
		return
	}
	reply := &pb.KVBatchReply{Leader: f.leader}
	for _, cmd := range req.Commands {
		r := &pb.KVBatchResult{}
		reply.Results = append(reply.Results, r)
		if m.id != f.leader {
			r.Code, r.Description = 503, "not leader"
			continue
		}
		if len(f.cmdFailures) > 0 {
			r.Code, r.Description = uint32(f.cmdFailures[0].code), "injected"
			f.cmdFailures = f.cmdFailures[1:]
			continue
		}
		op := "put"
		if cmd.Op == pb.KVOp_KV_OP_DELETE {
			op = "del"
		}
		var expected *uint64
		if cmd.HasExpectedRevision {
			expected = &cmd.ExpectedRevision
		}
		code, rev, desc := f.apply(op, cmd.Key, cmd.Value, cmd.RequestId, expected)
		r.Code, r.Revision, r.Description = uint32(code), rev, desc
	}
	body, _ := proto.Marshal(reply)
	_ = msg.Respond(body)
}

func (f *fakeCluster) list(msg *nats.Msg) {
	var req ListRequest
	if err := json.Unmarshal(msg.Data, &req); err != nil {
		f.fail(msg, 400, err.Error(), f.leader)
		return
	}
	if req.Limit == 0 {
		req.Limit = 100
	}
	var keys []string
	for k := range f.store {
		if strings.HasPrefix(k, req.Prefix) && k > req.After {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	resp := ListResponse{Revision: f.rev, Items: []Item{}}
	for i, k := range keys {
		if i == req.Limit {
			resp.More = true
			break
		}
		resp.Items = append(resp.Items, Item{Key: k, Value: f.store[k].value, Revision: f.store[k].rev})
	}
	body, _ := json.Marshal(resp)
	f.reply(msg, body)
}

func (f *fakeCluster) respondStatus(m *fakeMember, msg *nats.Msg) {
	st := MemberStatus{ID: m.id, Role: RoleFollower, Term: 3, Leader: f.leader, Commit: f.rev, Applied: f.rev, LastIndex: f.rev, Durable: true}
	if m.id == f.leader {
		st.Role = RoleLeader
		st.Progress = map[uint64]PeerProgress{}
		for id := range f.members {
			if id != m.id {
				st.Progress[id] = PeerProgress{Match: f.rev, Next: f.rev + 1, State: "replicate"}
			}
		}
	}
	body, _ := json.Marshal(st)
	_ = msg.Respond(body)
}

// reply answers with body, the leader header and extra header pairs.
func (f *fakeCluster) reply(msg *nats.Msg, body []byte, kv ...string) {
	h := nats.Header{}
	if f.leader != 0 {
		h.Set(HeaderLeader, strconv.FormatUint(f.leader, 10))
	}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	_ = msg.RespondMsg(&nats.Msg{Data: body, Header: h})
}

// fail answers with a service error the way nats micro does.
func (f *fakeCluster) fail(msg *nats.Msg, code int, desc string, leader uint64) {
	h := nats.Header{}
	h.Set(HeaderServiceErrorCode, strconv.Itoa(code))
	h.Set(HeaderServiceError, desc)
	if leader != 0 {
		h.Set(HeaderLeader, strconv.FormatUint(leader, 10))
	}
	if err := msg.RespondMsg(&nats.Msg{Header: h}); err != nil {
		panic(fmt.Sprint("fake respond: ", err))
	}
}
