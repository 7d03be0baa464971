//go:build docker

// This file owns one run: reset the cluster, start the recorded client
// load on a fresh key prefix, let it run before / during / after one fault,
// then check the run's history (porcupine through internal/history, lost
// and twice-applied writes, replicas equal) and keep the evidence of a
// failing run under faults-out/<run>/.
package faults

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/nats-io/nats.go"

	"github.com/kontiki-raft/kontiki/client"
	"github.com/kontiki-raft/kontiki/internal/history"
)

// Phases of a run. The election timeout of the compose members is [1 s,
// 2 s) (--tick 100ms --election-ticks 10).
const (
	maxElection = 2 * time.Second
	beforeFault = 8 * time.Second // steady load before the fault
	afterHeal   = 8 * time.Second // load after every member is ready again
	// A kill, pause or partition lasts faultHold plus up to faultJitter
	// (seeded per run): always over an election timeout, sometimes below
	// and sometimes over the embedded NATS servers' stale connection limit
	// (ping 2 s × 2), so connections to the faulty member are sometimes
	// only delayed, sometimes dropped.
	faultHold   = 3 * time.Second
	faultJitter = 6 * time.Second
	// rejoinWithin bounds the time from the heal to every member ready: a
	// cluster that misses it is stuck.
	rejoinWithin = 90 * time.Second
	checkTimeout = 3 * time.Minute // porcupine
)

// result is the figures of one run.
type result struct {
	Fault string
	Run   int
	Seed  uint64
	Dir   string

	Failed      bool
	Problems    []string
	Illegal     bool // porcupine said Illegal
	CheckTO     bool // porcupine gave up (Unknown)
	Lost        int  // acknowledged writes missing
	Twice       int  // writes applied twice
	Ops         int
	Unknown     int
	Checked     int // operations porcupine checked
	CheckTime   time.Duration
	Throughput  history.Throughput
	NoLeader    time.Duration // total time, from the fault on, no member led a majority
	LongestGap  time.Duration // longest such stretch
	Rejoin      time.Duration // heal → every member ready
	Reset       time.Duration // heal + ready + converged before the run
	Wall        time.Duration // the whole run, checks included
	Leader      uint64        // leader when the fault started
	Target      string
	Hold        time.Duration // how long the fault was held
	AppliedEnd  uint64
	WatchEvents int
}

// runner is one run in progress.
type runner struct {
	t      *testing.T
	p      *compose
	name   string
	dir    string
	rng    *mrand.Rand
	h      *history.History
	wall0  time.Time
	res    *result
	prefix string

	// issuedAt: the first fault command was issued; faultAt: the fault
	// took effect (the command returned, or docker's exit time of a
	// kill); healAt: its undo was issued.
	issuedAt, faultAt, healAt int64
	samples                   *sampler
	notes                     []string
	vizWritten                bool
}

func (r *runner) logf(format string, args ...any) {
	r.t.Helper()
	msg := fmt.Sprintf(format, args...)
	r.notes = append(r.notes, fmt.Sprintf("%8.3fs %s", time.Since(r.wall0).Seconds(), msg))
	r.t.Log(msg)
}

// problem records a failed check without stopping the run's other checks.
func (r *runner) problem(format string, args ...any) {
	r.t.Helper()
	msg := fmt.Sprintf(format, args...)
	r.res.Problems = append(r.res.Problems, msg)
	r.notes = append(r.notes, "PROBLEM: "+msg)
	r.t.Errorf("%s (artifacts: %s)", msg, r.dir)
}

// fatal records a failed check and ends the run.
func (r *runner) fatal(format string, args ...any) {
	r.t.Helper()
	msg := fmt.Sprintf(format, args...)
	r.res.Problems = append(r.res.Problems, msg)
	r.notes = append(r.notes, "FATAL: "+msg)
	r.t.Fatalf("%s (artifacts: %s)", msg, r.dir)
}

// markFault and markHeal put the fault and its undo on the history's
// timeline; throughput "during" is the time between them.
func (r *runner) markFault(what string) {
	r.faultAt = r.h.Mark("fault: " + what)
	r.logf("fault: %s", what)
}

// markExited puts the fault at the latest exit of the containers ids as
// docker recorded it (a kill takes effect before docker kill returns).
func (r *runner) markExited(what string, ids ...uint64) {
	var last time.Time
	for _, id := range ids {
		at, err := exitedAt(id)
		r.must(err)
		if at.After(last) {
			last = at
		}
	}
	now := r.h.Now()
	ago := time.Since(last)
	if ago < 0 || ago > time.Minute {
		r.fatal("%s: docker's exit time %v is %v from now", what, last, ago)
	}
	r.faultAt = now - int64(ago)
	r.h.Mark(fmt.Sprintf("fault: %s (exited %v before this mark)", what, ago.Round(time.Millisecond)))
	r.logf("fault: %s, %v ago", what, ago.Round(time.Millisecond))
}

func (r *runner) markHeal(what string) {
	r.healAt = r.h.Mark("heal: " + what)
	r.logf("heal: %s", what)
}

// issue marks the issue of a fault command.
func (r *runner) issue(what string) {
	at := r.h.Mark(what)
	if r.issuedAt == 0 {
		r.issuedAt = at
	}
	r.logf("%s", what)
}

func (r *runner) mark(what string) {
	r.h.Mark(what)
	r.logf("%s", what)
}

func (r *runner) must(err error) {
	r.t.Helper()
	if err != nil {
		r.fatal("%v", err)
	}
}

// hold sleeps through a fault.
func (r *runner) hold(d time.Duration) { time.Sleep(d) }

// holdFault sleeps through a kill, pause or partition for a seeded
// duration in [faultHold, faultHold+faultJitter).
func (r *runner) holdFault() {
	d := faultHold + time.Duration(r.rng.Int64N(int64(faultJitter))).Round(100*time.Millisecond)
	r.res.Hold = d
	r.logf("holding the fault for %v", d)
	time.Sleep(d)
}

// currentLeader is the leader every member names.
func (r *runner) currentLeader() uint64 {
	r.t.Helper()
	id, term, err := leader(30 * time.Second)
	r.must(err)
	r.res.Leader = id
	r.logf("leader is member %d (term %d)", id, term)
	return id
}

// follower picks one of the members that do not lead, at random.
func (r *runner) follower(lead uint64) uint64 {
	var f []uint64
	for _, id := range members {
		if id != lead {
			f = append(f, id)
		}
	}
	return f[r.rng.IntN(len(f))]
}

// runOne runs fault f once and fills res with its figures (also when the
// run ends early: a fatal check stops the subtest's goroutine).
func runOne(t *testing.T, p *compose, f faultSpec, n int, res *result) {
	seed := mrand.Uint64()
	*res = result{Fault: f.name, Run: n, Seed: seed}
	stamp := time.Now().Format("20060102-150405")
	name := fmt.Sprintf("%s-%d", f.name, n)
	r := &runner{
		t: t, p: p, name: name,
		dir:   filepath.Join(p.root, "faults-out", name+"-"+stamp),
		rng:   mrand.New(mrand.NewPCG(seed, 1)),
		wall0: time.Now(),
		res:   res,
		// A fresh prefix per run: the run's keys start absent, and its
		// checks see only its own writes.
		prefix: fmt.Sprintf("faults.%s.r%d.%s.", strings.ReplaceAll(f.name, "-", "_"), n, strings.ToLower(stamp[9:])+fmt.Sprintf("x%04x", seed&0xffff)),
	}
	r.res.Dir = r.dir
	t.Cleanup(func() {
		r.res.Wall = time.Since(r.wall0)
		r.res.Failed = t.Failed()
		if t.Failed() || os.Getenv("KONTIKI_KEEP_ARTIFACTS") != "" {
			r.keepArtifacts()
		}
	})
	r.logf("run %s: seed %d, key prefix %s", name, seed, r.prefix)

	// Reset: heal whatever the previous run left, wait for a ready,
	// converged cluster. -fresh recreates it instead (to compare costs).
	// A cluster that does not come back from a heal fails this run (its
	// logs are kept) and is recreated, so the other faults still run.
	from, err := r.reset()
	if err != nil {
		r.problem("cluster did not recover from the previous run: %v", err)
		r.saveLogs("-before-recreate", time.Now().Add(-10*time.Minute))
		d, err := r.p.recreate()
		if err != nil {
			r.fatal("recreate: %v", err)
		}
		r.logf("recreated the cluster (down -v, up) in %v", d.Round(time.Millisecond))
		from, err = r.reset()
		r.must(err)
	}

	nc, err := connect("faults-check-" + name)
	r.must(err)
	defer nc.Close()

	r.h = history.New()
	r.samples = startSampler(r.h)
	connected := map[string]int{} // StartLoad connects the clients one by one
	load, err := history.StartLoad(history.LoadConfig{
		Connect: func(w int) (*nats.Conn, error) {
			nc, err := connect(fmt.Sprintf("faults-%s-w%d", name, w))
			if err == nil {
				connected[nc.ConnectedUrl()]++
			}
			return nc, err
		},
		Cluster: clusterName,
		Clients: *clients,
		// Puts, compare-and-swaps and linearizable gets; -lease adds lease gets.
		Mix:            mix(),
		KeyPrefix:      r.prefix,
		Duration:       10 * time.Minute, // stopped below; a bound for a stuck test
		AttemptTimeout: time.Second,
		Recorder:       history.RecorderConfig{OpTimeout: 10 * time.Second},
		Pause:          *pause,
		Seed:           seed,
	}, r.h)
	r.must(err)
	r.logf("%d clients, pause %v between operations, connected to %v", *clients, *pause, connected)
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			load.Stop()
			r.samples.stop()
		}
	}
	defer stopLoad()

	time.Sleep(beforeFault)
	if acked := countAcked(r.h, 0, r.h.Now()); acked < 50 {
		r.fatal("only %d acknowledged writes in the %v before the fault: the cluster does not serve", acked, beforeFault)
	}

	// The fault, and its undo.
	f.inject(r)
	if r.healAt == 0 {
		r.markHeal("(nothing to undo)")
	}
	healed := time.Now()
	if err := waitReady(rejoinWithin, members...); err != nil {
		r.fatal("stuck cluster: %v after the heal; /status: %s", err, describeStatuses(statuses()))
	}
	r.res.Rejoin = time.Since(healed)
	r.mark(fmt.Sprintf("every member ready (%v after the heal)", r.res.Rejoin.Round(time.Millisecond)))
	time.Sleep(afterHeal)
	if acked := countAcked(r.h, r.healAt, r.h.Now()); acked == 0 {
		r.fatal("no write acknowledged in the %v after the heal: stuck cluster; /status: %s", afterHeal, describeStatuses(statuses()))
	}
	stopLoad()
	r.logf("load stopped: %d operations", len(r.h.Ops()))

	r.check(nc, from)
}

// reset brings the cluster back to three ready, connected, unpaused,
// converged members and returns the first revision the run can write (for
// the watch of its changes).
func (r *runner) reset() (uint64, error) {
	start := time.Now()
	if *fresh {
		d, err := r.p.recreate()
		if err != nil {
			return 0, err
		}
		r.logf("reset: down -v, up, ready in %v", d.Round(time.Millisecond))
	} else {
		did, err := heal()
		if err != nil {
			return 0, err
		}
		if len(did) > 0 {
			r.logf("reset: %s", strings.Join(did, ", "))
		}
	}
	if err := waitReady(rejoinWithin, members...); err != nil {
		return 0, fmt.Errorf("reset: %v; /status: %s", err, describeStatuses(statuses()))
	}
	if _, _, err := leader(30 * time.Second); err != nil {
		return 0, fmt.Errorf("reset: %v", err)
	}
	applied, err := waitConverged(60 * time.Second)
	if err != nil {
		return 0, fmt.Errorf("reset: %v; /status: %s", err, describeStatuses(statuses()))
	}
	r.res.Reset = time.Since(start)
	r.logf("reset: cluster ready and converged at index %d in %v", applied, r.res.Reset.Round(time.Millisecond))
	return applied + 1, nil
}

// check runs the end-of-run checks.
func (r *runner) check(nc *nats.Conn, from uint64) {
	applied, err := waitConverged(60 * time.Second)
	if err != nil {
		r.fatal("after the load: %v; /status: %s", err, describeStatuses(statuses()))
	}
	r.res.AppliedEnd = applied
	keys := slices.Sorted(func(yield func(string) bool) {
		seen := map[string]bool{}
		for _, op := range r.h.Ops() {
			if !seen[op.Key] {
				seen[op.Key] = true
				if !yield(op.Key) {
					return
				}
			}
		}
	})
	rec := history.NewRecorder(r.h, client.New(nc, client.Options{Cluster: clusterName, Retries: -1, Timeout: 2 * time.Second}),
		-1, "final-"+r.name+fmt.Sprintf("-%x", r.res.Seed), history.RecorderConfig{OpTimeout: 30 * time.Second})
	final, err := history.ReadFinal(rec, keys)
	if err != nil {
		r.fatal("final reads: %v", err)
	}

	// Linearizability, per key (the model partitions by key).
	v, err := history.Check(r.h, nil, checkTimeout, r.dir)
	r.res.Checked, r.res.Unknown, r.res.CheckTime = v.Operations, v.Unknown, v.Elapsed
	if v.VisualizationFile != "" {
		r.vizWritten = true
	}
	switch {
	case errors.Is(err, history.ErrNotLinearizable):
		r.res.Illegal = true
		r.problem("porcupine: %v", err)
	case errors.Is(err, history.ErrCheckTimeout):
		r.res.CheckTO = true
		r.problem("porcupine: %v", err)
	case err != nil:
		r.problem("porcupine: %v", err)
	default:
		r.logf("porcupine %s", v)
	}

	ops := r.h.Ops()
	// No acknowledged write missing from the final state.
	if err := history.CheckAcknowledged(ops, nil, final); err != nil {
		r.problem("%v", err)
	}
	// Every change of the run, from the members' watch history: each
	// acknowledged write applied once at its revision, nothing twice.
	upTo := uint64(0)
	for _, ks := range final {
		upTo = max(upTo, ks.Revision)
	}
	wc := client.New(nc, client.Options{Cluster: clusterName, Timeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	events, werr := history.CollectWatch(ctx, wc, r.prefix, from, upTo)
	cancel()
	r.res.WatchEvents = len(events)
	lost, twice := countLostTwice(ops, final, events, werr == nil)
	r.res.Lost, r.res.Twice = lost, twice
	if werr != nil {
		r.problem("watch of the run's changes (revisions %d..%d): %v", from, upTo, werr)
	} else if err := history.CheckWatch(ops, events, r.prefix, from, upTo); err != nil {
		r.problem("%v", err)
	}

	// Replicas: every member's own copy of the run's keys, listed stale
	// through its own subject at the same applied index, is the same and
	// is the final state.
	if a2, err := waitConverged(30 * time.Second); err != nil || a2 != applied {
		r.problem("members not converged at %d before the replica lists: %d, %v", applied, a2, err)
	}
	var first *replica
	var firstID uint64
	for _, id := range members {
		rep, err := listReplica(nc, id, r.prefix)
		if err != nil {
			r.problem("%v", err)
			continue
		}
		if first == nil {
			first, firstID = &rep, id
			for _, k := range keys {
				ks, it := final[k], rep.Keys[k]
				if ks.Exists != (it != item{}) || ks.Value != it.Value || ks.Revision != it.Revision {
					r.problem("member %d holds %s = %q@%d, the final linearizable read %+v", id, k, it.Value, it.Revision, ks)
				}
			}
			continue
		}
		if rep.Digest != first.Digest || rep.Items != first.Items {
			r.problem("replicas differ at applied index %d: member %d %s (%d keys), member %d %s (%d keys)",
				applied, firstID, first.Digest, first.Items, id, rep.Digest, rep.Items)
		}
	}
	if first != nil {
		r.logf("replicas equal at applied index %d: %d keys, digest %s", applied, first.Items, first.Digest)
	}

	// Figures.
	r.res.Ops = len(ops)
	r.res.Throughput = history.Summarize(ops, r.faultAt, r.healAt)
	r.res.NoLeader, r.res.LongestGap = r.samples.noLeader(min(r.issuedAt, r.faultAt))
	r.logf("throughput %s", r.res.Throughput)
	r.logf("without a leader from the fault on: %v (longest %v); rejoin %v; %d watch events; lost %d, applied twice %d",
		r.res.NoLeader.Round(time.Millisecond), r.res.LongestGap.Round(time.Millisecond), r.res.Rejoin.Round(time.Millisecond),
		len(events), lost, twice)
}

// countLostTwice counts, for the figures, the acknowledged writes missing
// (not in the watch at their revision, or above the key's final revision)
// and the values applied more than once. The pass/fail verdicts are
// internal/history's.
func countLostTwice(ops []history.Op, final map[string]history.KeyState, events []client.Event, watched bool) (lost, twice int) {
	atRev := map[uint64]client.Event{}
	seen := map[string]int{}
	for _, ev := range events {
		if ev.Op == client.OpSynced {
			continue
		}
		atRev[ev.Revision] = ev
		if ev.Op == client.OpPut {
			seen[ev.Key+"\x00"+string(ev.Value)]++
		}
	}
	for _, c := range seen {
		if c > 1 {
			twice += c - 1
		}
	}
	for _, op := range ops {
		if !op.Acknowledged() {
			continue
		}
		if f, ok := final[op.Key]; ok && f.Exists && op.Revision > f.Revision {
			lost++
			continue
		}
		if watched {
			ev, ok := atRev[op.Revision]
			if !ok || ev.Key != op.Key || (op.Kind != history.KindDelete && string(ev.Value) != op.Value) {
				lost++
			}
		}
	}
	return lost, twice
}

// countAcked counts the acknowledged writes called in [from, to).
func countAcked(h *history.History, from, to int64) int {
	return h.Count(func(op *history.Op) bool { return op.Acknowledged() && op.Call >= from && op.Call < to })
}

func describeStatuses(sts map[uint64]memberStatus) string {
	var parts []string
	for _, id := range members {
		st, ok := sts[id]
		if !ok {
			parts = append(parts, fmt.Sprintf("%d: no answer", id))
			continue
		}
		parts = append(parts, fmt.Sprintf("%d: %s term %d leader %d commit %d applied %d last %d ready %t",
			id, st.Role, st.Term, st.Leader, st.Commit, st.Applied, st.LastIndex, st.Ready))
	}
	return strings.Join(parts, "; ")
}

// keepArtifacts writes what a failing run leaves behind: the history
// (JSON), porcupine's visualization, the members' docker logs since the
// run started, the leader timeline and the run's notes.
func (r *runner) keepArtifacts() {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		r.t.Logf("artifacts: %v", err)
		return
	}
	if r.h != nil {
		if err := r.h.WriteJSON(filepath.Join(r.dir, "history.json")); err != nil {
			r.t.Logf("artifacts: %v", err)
		}
		if !r.vizWritten {
			model := history.NewModel(nil)
			res, info := porcupine.CheckOperationsVerbose(model, history.Porcupine(r.h.Ops()), checkTimeout)
			r.notes = append(r.notes, fmt.Sprintf("porcupine (for the visualization): %s", res))
			if err := porcupine.VisualizePath(model, info, filepath.Join(r.dir, "linearizability.html")); err != nil {
				r.t.Logf("artifacts: %v", err)
			}
		}
	}
	r.saveLogs("", r.wall0.Add(-time.Second))
	if r.samples != nil {
		_ = os.WriteFile(filepath.Join(r.dir, "leaders.txt"), []byte(r.samples.timeline()), 0o644)
	}
	notes := fmt.Sprintf("run %s, seed %d, key prefix %s\nstatus now: %s\n\n%s\n",
		r.name, r.res.Seed, r.prefix, describeStatuses(statuses()), strings.Join(r.notes, "\n"))
	_ = os.WriteFile(filepath.Join(r.dir, "notes.txt"), []byte(notes), 0o644)
	r.t.Logf("artifacts of %s kept in %s", r.name, r.dir)
}

// saveLogs writes every member's docker logs since the given time into
// the run's folder.
func (r *runner) saveLogs(suffix string, since time.Time) {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		r.t.Logf("artifacts: %v", err)
		return
	}
	for _, id := range members {
		logs := dockerLogs(id, since)
		_ = os.WriteFile(filepath.Join(r.dir, container(id)+suffix+".log"), []byte(logs), 0o644)
	}
}

// --- leader timeline ---------------------------------------------------------

// sampler polls every member's /status and records, on the history's clock,
// which member leads a majority.
type sampler struct {
	h    *history.History
	halt chan struct{}
	done chan struct{}
	once sync.Once

	mu      sync.Mutex
	samples []sample
}

type sample struct {
	at     int64
	leader uint64 // 0: no member leads a majority of the answering ones
	sts    map[uint64]memberStatus
}

func startSampler(h *history.History) *sampler {
	s := &sampler{h: h, halt: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			at := h.Now()
			sts := statuses()
			s.mu.Lock()
			s.samples = append(s.samples, sample{at: at, leader: quorumLeader(sts), sts: sts})
			s.mu.Unlock()
			next := time.Duration(at) + 100*time.Millisecond - time.Duration(h.Now())
			t := time.NewTimer(max(next, 0))
			select {
			case <-s.halt:
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() {
	s.once.Do(func() { close(s.halt) })
	<-s.done
}

// noLeader sums, from time from on, the stretches between samples without
// a majority leader, and returns the total and the longest stretch.
func (s *sampler) noLeader(from int64) (total, longest time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var run time.Duration
	for i := 0; i+1 < len(s.samples); i++ {
		a, b := s.samples[i], s.samples[i+1]
		if b.at <= from {
			continue
		}
		if a.leader != 0 {
			run = 0
			continue
		}
		d := time.Duration(b.at - max(a.at, from))
		total += d
		run += d
		longest = max(longest, run)
	}
	return total, longest
}

// timeline renders the samples where the picture changed.
func (s *sampler) timeline() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	marks := s.h.Marks()
	last := ""
	for _, sm := range s.samples {
		for len(marks) > 0 && marks[0].At <= sm.at {
			fmt.Fprintf(&b, "%9.3fs === %s\n", time.Duration(marks[0].At).Seconds(), marks[0].Name)
			marks = marks[1:]
		}
		var parts []string
		for _, id := range members {
			st, ok := sm.sts[id]
			if !ok {
				parts = append(parts, fmt.Sprintf("%d:-", id))
				continue
			}
			parts = append(parts, fmt.Sprintf("%d:%s/t%d/L%d/c%d/a%d", id, st.Role, st.Term, st.Leader, st.Commit, st.Applied))
		}
		line := fmt.Sprintf("leader=%d %s", sm.leader, strings.Join(parts, " "))
		key := fmt.Sprintf("leader=%d", sm.leader)
		for _, id := range members {
			if st, ok := sm.sts[id]; ok {
				key += fmt.Sprintf(" %d:%s/%d/%d", id, st.Role, st.Term, st.Leader)
			} else {
				key += fmt.Sprintf(" %d:-", id)
			}
		}
		if key != last {
			fmt.Fprintf(&b, "%9.3fs %s\n", time.Duration(sm.at).Seconds(), line)
			last = key
		}
	}
	for _, m := range marks {
		fmt.Fprintf(&b, "%9.3fs === %s\n", time.Duration(m.At).Seconds(), m.Name)
	}
	return b.String()
}
