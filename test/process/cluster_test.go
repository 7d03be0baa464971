// The harness: one embedded NATS server and three member processes, their
// lifecycle (start, SIGKILL, SIGSTOP/SIGCONT), their /status, convergence
// and replica digests, artifacts kept on failure, and the common end of a
// load test.
package process

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/kontiki-raft/kontiki/client"
	"github.com/kontiki-raft/kontiki/internal/history"
)

// Raft timing of the members: short ticks keep the tests fast.
const (
	tick          = 20 * time.Millisecond
	electionTicks = 10
	clusterName   = "kontiki"
)

// maxElection is the longest randomized election timeout, 2E ticks; the
// bounds below are counted in it.
const maxElection = 2 * electionTicks * tick

// options of a process cluster.
type options struct {
	snapshotEntries int      // --snapshot-entries (0: the member's default)
	extraArgs       []string // more member flags
}

// procCluster is three member processes on one embedded NATS server.
type procCluster struct {
	t     *testing.T
	ns    *server.Server
	url   string
	dir   string // artifacts: logs, history, visualization
	peers []uint64
	opts  options
	nc    *nats.Conn // the test's own connection
	http  *http.Client

	mu      sync.Mutex
	members map[uint64]*member
	hist    *history.History // written to dir when the test fails
}

// member is one member process (across restarts).
type member struct {
	id       uint64
	dataDir  string
	httpAddr string
	logPath  string

	cmd    *exec.Cmd
	done   chan struct{} // closed when the current process exited
	paused bool
	starts int
}

// startCluster starts the NATS server and members 1, 2 and 3, and waits
// until they agree on a leader and are ready.
func startCluster(t *testing.T, opts options) *procCluster {
	t.Helper()
	needMember(t)
	base := os.Getenv("KONTIKI_TEST_ARTIFACTS")
	if base == "" {
		base = filepath.Join(os.TempDir(), "kontiki-process-tests")
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(base, strings.ReplaceAll(t.Name(), "/", "_")+"-")
	if err != nil {
		t.Fatal(err)
	}
	// A short ping interval drops a frozen (SIGSTOPped) member's connection
	// in seconds, as the members' own embedded servers do (DESIGN.md §2).
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		PingInterval: time.Second, MaxPingsOut: 2})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	c := &procCluster{t: t, ns: ns, url: ns.ClientURL(), dir: dir, peers: []uint64{1, 2, 3}, opts: opts,
		members: map[uint64]*member{}, http: &http.Client{Timeout: 500 * time.Millisecond}}
	t.Cleanup(c.cleanup)
	c.nc, err = c.connect()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range c.peers {
		c.members[id] = &member{id: id, dataDir: filepath.Join(t.TempDir(), "data-"+strconv.FormatUint(id, 10)),
			httpAddr: freeAddr(t), logPath: filepath.Join(dir, fmt.Sprintf("member-%d.log", id))}
		c.start(id)
	}
	c.leader(30 * time.Second)
	c.waitReady(30*time.Second, c.peers...)
	return c
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// cleanup ends every member process and keeps the artifacts of a failed
// test.
func (c *procCluster) cleanup() {
	for _, id := range c.peers {
		m := c.members[id]
		if m == nil || m.cmd == nil {
			continue
		}
		select {
		case <-m.done:
		default:
			_ = m.cmd.Process.Signal(syscall.SIGCONT)
			_ = m.cmd.Process.Kill()
			<-m.done
		}
	}
	if c.nc != nil {
		c.nc.Close()
	}
	c.ns.Shutdown()
	if c.t.Failed() || os.Getenv("KONTIKI_KEEP_ARTIFACTS") != "" {
		if h := c.history(); h != nil {
			_ = h.WriteJSON(filepath.Join(c.dir, "history.json"))
		}
		c.t.Logf("artifacts kept in %s", c.dir)
		return
	}
	_ = os.RemoveAll(c.dir)
}

// fatalf fails the test naming the artifacts folder.
func (c *procCluster) fatalf(format string, args ...any) {
	c.t.Helper()
	c.t.Fatalf("%s (artifacts: %s)", fmt.Sprintf(format, args...), c.dir)
}

func (c *procCluster) errorf(format string, args ...any) {
	c.t.Helper()
	c.t.Errorf("%s (artifacts: %s)", fmt.Sprintf(format, args...), c.dir)
}

// record makes h the history kept on failure.
func (c *procCluster) record(h *history.History) {
	c.mu.Lock()
	c.hist = h
	c.mu.Unlock()
}

func (c *procCluster) history() *history.History {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hist
}

func (c *procCluster) connect() (*nats.Conn, error) {
	return nats.Connect(c.url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
}

// start starts (or restarts) member id's process.
func (c *procCluster) start(id uint64) {
	c.t.Helper()
	m := c.members[id]
	if m.cmd != nil {
		select {
		case <-m.done:
		default:
			c.fatalf("member %d started while running", id)
		}
	}
	peers := make([]string, len(c.peers))
	for i, p := range c.peers {
		peers[i] = strconv.FormatUint(p, 10)
	}
	args := []string{
		"--id", strconv.FormatUint(id, 10), "--cluster", clusterName, "--peers", strings.Join(peers, ","),
		"--data-dir", m.dataDir, "--nats-url", c.url, "--http-addr", m.httpAddr,
		"--tick", tick.String(), "--election-ticks", strconv.Itoa(electionTicks), "--log-level", "info",
	}
	if c.opts.snapshotEntries > 0 {
		args = append(args, "--snapshot-entries", strconv.Itoa(c.opts.snapshotEntries))
	}
	args = append(args, c.opts.extraArgs...)
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	m.starts++
	fmt.Fprintf(logf, "=== start %d of member %d at %s: %s %s\n", m.starts, id, time.Now().Format(time.RFC3339Nano), memberBin, strings.Join(args, " "))
	cmd := exec.Command(memberBin, args...)
	cmd.Env = []string{"GOTRACEBACK=all"} // nothing of the test's environment (NATS_URL, KONTIKI_*)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		c.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(logf, "=== member %d exited at %s: %v\n", id, time.Now().Format(time.RFC3339Nano), err)
		logf.Close()
		close(done)
	}()
	m.cmd, m.done, m.paused = cmd, done, false
}

// kill SIGKILLs member id and waits until the process is gone.
func (c *procCluster) kill(id uint64) {
	c.t.Helper()
	m := c.members[id]
	if err := m.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.fatalf("kill member %d: %v", id, err)
	}
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		c.fatalf("member %d did not exit after SIGKILL", id)
	}
	m.paused = false
}

// killAll SIGKILLs every running member at once, then waits for them.
func (c *procCluster) killAll() {
	c.t.Helper()
	for _, id := range c.peers {
		if m := c.members[id]; m.cmd != nil {
			_ = m.cmd.Process.Kill()
		}
	}
	for _, id := range c.peers {
		c.kill(id) // waits; a second SIGKILL of an exiting process is harmless
	}
}

// pause SIGSTOPs member id; resume SIGCONTs it.
func (c *procCluster) pause(id uint64) {
	c.t.Helper()
	m := c.members[id]
	if err := m.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		c.fatalf("SIGSTOP member %d: %v", id, err)
	}
	m.paused = true
	// The signal is delivered asynchronously: callers reason about what the
	// member could still have done, so wait until the kernel reports it
	// stopped (state T in /proc/<pid>/stat).
	deadline := time.Now().Add(10 * time.Second)
	for !processStopped(m.cmd.Process.Pid) {
		if time.Now().After(deadline) {
			c.fatalf("member %d not stopped 10s after SIGSTOP", id)
		}
		time.Sleep(time.Millisecond) // poll interval inside the deadline
	}
}

// processStopped reports whether /proc says pid is stopped by a signal.
func processStopped(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain spaces or parentheses.
	i := strings.LastIndexByte(string(data), ')')
	return i >= 0 && i+2 < len(data) && (data[i+2] == 'T' || data[i+2] == 't')
}

func (c *procCluster) resume(id uint64) {
	c.t.Helper()
	m := c.members[id]
	if err := m.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		c.fatalf("SIGCONT member %d: %v", id, err)
	}
	m.paused = false
}

// up reports whether member id's process runs and is not paused.
func (c *procCluster) up(id uint64) bool {
	m := c.members[id]
	if m.cmd == nil || m.paused {
		return false
	}
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

func (c *procCluster) upMembers() []uint64 {
	var ids []uint64
	for _, id := range c.peers {
		if c.up(id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// memberStatus is the part of the member's /status document the tests
// read: the admin.status fields plus first_index and readiness.
type memberStatus struct {
	client.MemberStatus
	FirstIndex uint64 `json:"first_index"`
	Ready      bool   `json:"ready"`
}

// status reads member id's /status.
func (c *procCluster) status(id uint64) (memberStatus, error) {
	var st memberStatus
	resp, err := c.http.Get("http://" + c.members[id].httpAddr + "/status")
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

func (c *procCluster) ready(id uint64) bool {
	resp, err := c.http.Get("http://" + c.members[id].httpAddr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitFor polls cond (every 5ms) until it holds or timeout passes; it
// returns how long it took.
func (c *procCluster) waitFor(timeout time.Duration, what string, cond func() bool) time.Duration {
	c.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			c.fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, not synchronization
	}
	return time.Since(start)
}

func (c *procCluster) waitReady(timeout time.Duration, ids ...uint64) {
	c.t.Helper()
	c.waitFor(timeout, fmt.Sprintf("members %v ready", ids), func() bool {
		for _, id := range ids {
			if !c.ready(id) {
				return false
			}
		}
		return true
	})
}

// leader waits until every running member names the same leader, which
// says it leads, and returns it with its term.
func (c *procCluster) leader(timeout time.Duration) (id, term uint64) {
	c.t.Helper()
	c.waitFor(timeout, "a leader every running member agrees on", func() bool {
		id, term = 0, 0
		for _, m := range c.upMembers() {
			st, err := c.status(m)
			if err != nil || st.Leader == 0 || (id != 0 && st.Leader != id) {
				return false
			}
			id = st.Leader
			if st.ID == st.Leader {
				if st.Role != client.RoleLeader {
					return false
				}
				term = st.Term
			}
		}
		return id != 0 && term != 0
	})
	return id, term
}

// waitNewLeader waits until a running member other than old leads in a term
// above oldTerm; it returns that member and the time it took.
func (c *procCluster) waitNewLeader(old, oldTerm uint64, timeout time.Duration) (uint64, time.Duration) {
	c.t.Helper()
	var lead uint64
	d := c.waitFor(timeout, fmt.Sprintf("a leader other than %d after term %d", old, oldTerm), func() bool {
		for _, id := range c.upMembers() {
			if id == old {
				continue
			}
			if st, err := c.status(id); err == nil && st.Role == client.RoleLeader && st.Term > oldTerm {
				lead = id
				return true
			}
		}
		return false
	})
	return lead, d
}

// waitConverged waits until the leader has nothing uncommitted and every
// running member applied everything it committed.
func (c *procCluster) waitConverged(timeout time.Duration) (applied uint64) {
	c.t.Helper()
	var prev uint64
	c.waitFor(timeout, "all members converged (applied = commit = last index)", func() bool {
		lead, _ := c.leader(timeout)
		ls, err := c.status(lead)
		if err != nil || ls.Commit != ls.LastIndex || ls.Applied != ls.Commit {
			return false
		}
		for _, id := range c.upMembers() {
			st, err := c.status(id)
			if err != nil || st.Applied != ls.Commit || st.Commit != ls.Commit {
				return false
			}
		}
		// Twice the same: nothing was still arriving.
		stable := prev == ls.Commit
		prev, applied = ls.Commit, ls.Commit
		return stable
	})
	return applied
}

// kvDigest lists member id's whole replica through its own subject with
// Kontiki-Consistency: stale and returns a digest of every key, value and
// mod revision, the item count and the list's store revision.
func (c *procCluster) kvDigest(id uint64) (digest string, items int, revision uint64, err error) {
	h := sha256.New()
	after := ""
	subject := fmt.Sprintf("kontiki.%s.member.%d.kv.list", clusterName, id)
	for {
		body, _ := json.Marshal(client.ListRequest{Prefix: "", Limit: 1000, After: after})
		msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
		msg.Header.Set(client.HeaderConsistency, string(client.Stale))
		reply, err := c.nc.RequestMsg(msg, 5*time.Second)
		if err != nil {
			return "", 0, 0, fmt.Errorf("list member %d: %w", id, err)
		}
		if code := reply.Header.Get(client.HeaderServiceErrorCode); code != "" {
			return "", 0, 0, fmt.Errorf("list member %d: %s %s", id, code, reply.Header.Get(client.HeaderServiceError))
		}
		var page client.ListResponse
		if err := json.Unmarshal(reply.Data, &page); err != nil {
			return "", 0, 0, fmt.Errorf("list member %d: %w", id, err)
		}
		if after == "" {
			revision = page.Revision
		}
		for _, it := range page.Items {
			fmt.Fprintf(h, "%d:%s|%d:%x|%d\n", len(it.Key), it.Key, len(it.Value), it.Value, it.Revision)
			items++
			after = it.Key
		}
		if !page.More || len(page.Items) == 0 {
			break
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], items, revision, nil
}

// checkReplicasEqual waits for convergence and compares every member's
// applied index and KV digest.
func (c *procCluster) checkReplicasEqual() {
	c.t.Helper()
	applied := c.waitConverged(30 * time.Second)
	type view struct {
		digest   string
		items    int
		revision uint64
	}
	views := map[uint64]view{}
	for _, id := range c.peers {
		d, n, rev, err := c.kvDigest(id)
		if err != nil {
			c.fatalf("%v", err)
		}
		views[id] = view{d, n, rev}
	}
	first := views[c.peers[0]]
	for _, id := range c.peers {
		if views[id] != first {
			c.fatalf("replicas differ at applied index %d: %+v", applied, views)
		}
	}
	c.t.Logf("replicas equal at applied index %d: %d keys, store revision %d, digest %s", applied, first.items, first.revision, first.digest)
}

// logLines returns the lines of member id's log that match re.
func (c *procCluster) logLines(id uint64, re *regexp.Regexp) []string {
	data, err := os.ReadFile(c.members[id].logPath)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if re.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// loadConfig is the default load of a test: 8 clients on keys under prefix,
// deletes in the mix.
func (c *procCluster) loadConfig(prefix string, d time.Duration) history.LoadConfig {
	return history.LoadConfig{
		Connect:        func(int) (*nats.Conn, error) { return c.connect() },
		Cluster:        clusterName,
		Clients:        8,
		KeyPrefix:      prefix,
		Duration:       d,
		Mix:            history.Mix{Put: 32, CAS: 15, Get: 28, LeaseGet: 20, Delete: 5},
		AttemptTimeout: time.Second,
		Recorder:       history.RecorderConfig{OpTimeout: 10 * time.Second},
	}
}

// newRecorder is a recorder on the test's own connection (final reads,
// probes).
func (c *procCluster) newRecorder(h *history.History, name string) *history.Recorder {
	cl := client.New(c.nc, client.Options{Cluster: clusterName, Retries: -1, Timeout: time.Second})
	return history.NewRecorder(h, cl, -1, name+"-"+strconv.FormatInt(time.Now().UnixNano(), 36), history.RecorderConfig{OpTimeout: 20 * time.Second})
}

// waitAcked polls until n more acknowledged writes than at the start of the
// wait returned, and returns how long it took.
func (c *procCluster) waitAcked(h *history.History, after int64, n int, timeout time.Duration) time.Duration {
	c.t.Helper()
	return c.waitFor(timeout, fmt.Sprintf("%d acknowledged writes", n), func() bool {
		return countAcked(h, after) >= n
	})
}

// countAcked counts the acknowledged writes called at or after time after.
func countAcked(h *history.History, after int64) int {
	return h.Count(func(op *history.Op) bool { return op.Acknowledged() && op.Call >= after })
}

// finish runs the common end of a load test whose keys are all under
// prefix: wait for convergence, read the final state, check
// linearizability, that no acknowledged write is lost, and (when the
// members' watch history still reaches revision 1) that a watch from
// revision 1 sees every acknowledged write once, in order; then compare the
// replicas. It returns the final state.
func (c *procCluster) finish(h *history.History, prefix string) map[string]history.KeyState {
	c.t.Helper()
	c.waitConverged(30 * time.Second)
	final, err := history.ReadFinal(c.newRecorder(h, "final"), historyKeys(h))
	if err != nil {
		c.fatalf("final reads: %v", err)
	}
	v, err := history.Check(h, nil, 2*time.Minute, c.dir)
	if err != nil {
		c.fatalf("linearizability: %v", err)
	}
	c.t.Logf("porcupine %s", v)
	ops := h.Ops()
	if err := history.CheckAcknowledged(ops, nil, final); err != nil {
		c.fatalf("%v", err)
	}
	upTo := maxRevision(final)
	ctx, cancel := ctxTimeout(30 * time.Second)
	defer cancel()
	events, err := history.CollectWatch(ctx, client.New(c.nc, client.Options{Cluster: clusterName}), prefix, 1, upTo)
	switch {
	case errors.Is(err, client.ErrCompacted):
		c.t.Logf("watch from revision 1 not checked: %v", err)
	case err != nil:
		c.fatalf("watch from revision 1: %v", err)
	default:
		if err := history.CheckWatch(ops, events, prefix, 1, upTo); err != nil {
			c.fatalf("%v", err)
		}
		c.t.Logf("a watch from revision 1 saw every acknowledged write once, in order (%d events up to revision %d)", len(events), upTo)
	}
	c.checkReplicasEqual()
	return final
}

// historyKeys returns every key the history touched.
func historyKeys(h *history.History) []string {
	keys := map[string]bool{}
	for _, op := range h.Ops() {
		keys[op.Key] = true
	}
	return sortedKeys(keys)
}

// maxRevision is the largest revision among the final states.
func maxRevision(final map[string]history.KeyState) uint64 {
	var m uint64
	for _, ks := range final {
		m = max(m, ks.Revision)
	}
	return m
}

// summary logs the figures of a run.
func summary(t *testing.T, what string, ops []history.Op, fault, recovered int64) history.Throughput {
	t.Helper()
	s := history.Summarize(ops, fault, recovered)
	t.Logf("%s: %s", what, s)
	return s
}

// ctxTimeout is a context with a timeout for one-off calls.
func ctxTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// sortedKeys returns the keys of a map in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// fastRecorder is a recorder on its own connection whose requests time out
// after 100ms, so a request lost in a dead or frozen member costs little.
func (c *procCluster) fastRecorder(h *history.History, name string) (*history.Recorder, func(), error) {
	nc, err := c.connect()
	if err != nil {
		return nil, nil, err
	}
	cl := client.New(nc, client.Options{Cluster: clusterName, Retries: -1, Timeout: 100 * time.Millisecond})
	rec := history.NewRecorder(h, cl, -2, name+"-"+strconv.FormatInt(time.Now().UnixNano(), 36),
		history.RecorderConfig{OpTimeout: 5 * time.Second, Backoff: 5 * time.Millisecond})
	return rec, nc.Close, nil
}

// availabilityProbe writes key through a fast recorder until one write is
// acknowledged, and reports the time from the history instant from to that
// acknowledgement (-1: none within about a minute). It runs on its own
// goroutine; the writes are recorded in h like any other.
func (c *procCluster) availabilityProbe(h *history.History, from int64, key string) <-chan time.Duration {
	out := make(chan time.Duration, 1)
	rec, done, err := c.fastRecorder(h, "probe")
	if err != nil {
		out <- -1
		return out
	}
	go func() {
		defer done()
		for i := 0; i < 10; i++ {
			op := rec.Put(key, fmt.Sprintf("probe-%d-%d", from, i))
			if op.Status == history.StatusOK {
				out <- time.Duration(op.Return - from)
				return
			}
		}
		out <- -1
	}()
	return out
}
