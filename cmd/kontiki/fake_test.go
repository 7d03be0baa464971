// This file owns the CLI tests' harness: an embedded nats-server and a small
// fake Kontiki cluster (two members sharing one store) answering the
// contract's subjects, and a helper that runs the CLI in-process.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kontiki-raft/kontiki/client"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// fake is a two-member cluster "t"; member 1 leads.
type fake struct {
	t      *testing.T
	url    string
	nc     *nats.Conn
	mu     sync.Mutex
	store  map[string]client.Item
	rev    uint64
	paged  int             // list page requests served
	watchs chan watchStart // watch requests
}

type watchStart struct {
	req   client.WatchRequest
	inbox string
}

func newFake(t *testing.T) *fake {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(s.Shutdown)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	f := &fake{t: t, url: s.ClientURL(), nc: nc, store: map[string]client.Item{}, watchs: make(chan watchStart, 8)}
	for _, sub := range []struct {
		subj, queue string
	}{
		{"kontiki.t.kv.>", "q"}, {"kontiki.t.member.1.>", ""},
	} {
		if _, err := nc.QueueSubscribe(sub.subj, sub.queue, f.serve); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []uint64{1, 2} {
		if _, err := nc.Subscribe("kontiki.t.admin.status", func(m *nats.Msg) { f.status(id, m) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fake) serve(m *nats.Msg) {
	endpoint := strings.TrimPrefix(strings.TrimPrefix(m.Subject, "kontiki.t.member.1."), "kontiki.t.")
	f.mu.Lock()
	defer f.mu.Unlock()
	if endpoint == "kv.watch" {
		var req client.WatchRequest
		_ = json.Unmarshal(m.Data, &req)
		f.watchs <- watchStart{req: req, inbox: m.Reply}
		return
	}
	op, key, _ := strings.Cut(strings.TrimPrefix(endpoint, "kv."), ".")
	if code, ok := strings.CutPrefix(key, "err."); ok {
		n, _ := strconv.Atoi(code)
		f.fail(m, n, "asked for "+code)
		return
	}
	cur, exists := f.store[key]
	if exp := m.Header.Get(client.HeaderExpectedRevision); exp != "" && exp != strconv.FormatUint(cur.Revision, 10) {
		h := nats.Header{}
		h.Set(client.HeaderServiceErrorCode, "409")
		h.Set(client.HeaderServiceError, "revision mismatch")
		h.Set(client.HeaderRevision, strconv.FormatUint(cur.Revision, 10))
		_ = m.RespondMsg(&nats.Msg{Header: h})
		return
	}
	switch op {
	case "put":
		f.rev++
		f.store[key] = client.Item{Key: key, Value: slices.Clone(m.Data), Revision: f.rev}
		f.reply(m, f.revision())
	case "del":
		if !exists {
			f.fail(m, 404, "")
			return
		}
		f.rev++
		delete(f.store, key)
		f.reply(m, f.revision())
	case "get":
		if !exists {
			f.fail(m, 404, "")
			return
		}
		h := nats.Header{}
		h.Set(client.HeaderRevision, strconv.FormatUint(cur.Revision, 10))
		h.Set(client.HeaderLeader, "1")
		_ = m.RespondMsg(&nats.Msg{Data: cur.Value, Header: h})
	case "list":
		var req client.ListRequest
		_ = json.Unmarshal(m.Data, &req)
		f.paged++
		limit := min(req.Limit, 2) // small pages: the CLI must follow them
		if limit == 0 {
			limit = 2
		}
		var keys []string
		for k := range f.store {
			if strings.HasPrefix(k, req.Prefix) && k > req.After {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		resp := client.ListResponse{Revision: f.rev, Items: []client.Item{}}
		for i, k := range keys {
			if i == limit {
				resp.More = true
				break
			}
			it := f.store[k]
			if strings.HasPrefix(k, "omit.") { // as a member leaves out a value no page can carry
				it.Value, it.ValueOmitted = nil, true
			}
			resp.Items = append(resp.Items, it)
		}
		body, _ := json.Marshal(resp)
		f.reply(m, body)
	default:
		f.fail(m, 400, "unknown endpoint")
	}
}

func (f *fake) revision() []byte {
	body, _ := json.Marshal(client.WriteResponse{Revision: f.rev})
	return body
}

func (f *fake) reply(m *nats.Msg, body []byte) {
	h := nats.Header{}
	h.Set(client.HeaderLeader, "1")
	_ = m.RespondMsg(&nats.Msg{Data: body, Header: h})
}

func (f *fake) fail(m *nats.Msg, code int, desc string) {
	h := nats.Header{}
	h.Set(client.HeaderServiceErrorCode, strconv.Itoa(code))
	h.Set(client.HeaderServiceError, desc)
	_ = m.RespondMsg(&nats.Msg{Header: h})
}

func (f *fake) status(id uint64, m *nats.Msg) {
	st := client.MemberStatus{ID: id, Role: client.RoleFollower, Term: 4, Leader: 1, Commit: 12, Applied: 9, LastIndex: 12, Durable: true}
	if id == 1 {
		st.Role, st.Applied = client.RoleLeader, 12
		st.Progress = map[uint64]client.PeerProgress{2: {Match: 12, Next: 13, State: "replicate"}}
	}
	body, _ := json.Marshal(st)
	_ = m.Respond(body)
}

// result is one CLI run.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs the CLI against the fake with NATS_URL and KONTIKI_CLUSTER set.
func (f *fake) cli(stdin string, args ...string) result {
	f.t.Helper()
	return f.cliContext(context.Background(), strings.NewReader(stdin), new(bytes.Buffer), args...)
}

func (f *fake) cliContext(ctx context.Context, stdin io.Reader, stdout io.Writer, args ...string) result {
	var stderr bytes.Buffer
	env := map[string]string{"NATS_URL": f.url, "KONTIKI_CLUSTER": "t"}
	code := runContext(ctx, args, stdin, stdout, &stderr, func(k string) string { return env[k] })
	r := result{code: code, stderr: stderr.String()}
	if b, ok := stdout.(*bytes.Buffer); ok {
		r.stdout = b.String()
	}
	return r
}

func (r result) expect(t *testing.T, code int, stdout string) {
	t.Helper()
	if r.code != code || r.stdout != stdout {
		t.Fatalf("exit %d stdout %q (stderr %q), want exit %d stdout %q", r.code, r.stdout, r.stderr, code, stdout)
	}
}
