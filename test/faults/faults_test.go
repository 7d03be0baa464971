//go:build docker

// Package faults runs the docker-compose cluster (docker-compose.yml: three
// members, each with its embedded NATS server) under real faults — docker
// kill, pause, network disconnect, restarts — while 8 clients connected to
// all three members' published ports put, compare-and-swap and read
// linearizably over a small key set. Every fault is its own run (a
// subtest) on its own key prefix; after each run the history is checked
// (porcupine, through internal/history: Ok or the run fails), no
// acknowledged write may be missing, none applied twice, every member must
// hold the same state at the same applied index, and the throughput before,
// during and after the fault is printed with the time from the fault to the
// first acknowledged write.
//
// Run from the repository root:
//
//	go test -tags docker -run TestFaults -timeout 30m ./test/faults/
//	go test -tags docker -run TestFaults -timeout 3h ./test/faults/ -soak 10   # every fault 10 times (or KONTIKI_SOAK=10)
//	go test -tags docker -run 'TestFaults/leader-pause' ./test/faults/           # one fault
//
// It builds the images with deploy/build.sh (nothing is pulled), brings the
// project up as compose project "kontiki-faults", and takes it down with its
// volumes on every exit (also on SIGINT/SIGTERM). It refuses to run while
// another compose project holds the container names kontiki-member1..3.
// A failing run keeps its history (history.json), porcupine's view
// (linearizability.html), the members' docker logs, the leader timeline and
// its notes in faults-out/<run>-<time>/, named in the failure message.
package faults

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kontiki-raft/kontiki/internal/history"
)

var (
	soak    = flag.Int("soak", envInt("KONTIKI_SOAK", 1), "run every fault N times (also $KONTIKI_SOAK)")
	fresh   = flag.Bool("fresh", os.Getenv("KONTIKI_FAULTS_FRESH") != "", "recreate the cluster (down -v, up) before every run instead of healing it (also $KONTIKI_FAULTS_FRESH)")
	lease   = flag.Bool("lease", os.Getenv("KONTIKI_FAULTS_LEASE") != "", "add lease gets to the load's mix (also $KONTIKI_FAULTS_LEASE)")
	clients = flag.Int("clients", envInt("KONTIKI_FAULTS_CLIENTS", 8), "concurrent clients of the load (also $KONTIKI_FAULTS_CLIENTS)")
	// pause keeps a run's writes below the members' watch history (the
	// last 10,000 writes), from which the run's changes are read back to
	// check that none was lost or applied twice: unthrottled, 8 clients
	// make ~1000 ops/s here.
	pause = flag.Duration("pause", 15*time.Millisecond, "pause of each client between operations")
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// mix is the load's operation mix: puts, compare-and-swaps, linearizable
// gets (and lease gets with -lease).
func mix() history.Mix {
	if *lease {
		return history.Mix{Put: 35, CAS: 20, Get: 30, LeaseGet: 15}
	}
	return history.Mix{Put: 35, CAS: 20, Get: 45}
}

// faultSpec is one fault: inject performs it and its undo, marking both
// (markFault, markHeal) on the run's timeline.
type faultSpec struct {
	name   string
	doc    string
	inject func(r *runner)
}

// crash, freeze and cut: the three single-member faults, on a target
// chosen by pick (the leader or a follower).
func crash(r *runner, id uint64, role string) {
	r.res.Target = fmt.Sprintf("%s %d", role, id)
	r.issue(fmt.Sprintf("docker kill %s (%s)", container(id), role))
	r.must(dockerKill(id))
	r.markExited(container(id)+" killed", id)
	r.holdFault()
	r.markHeal("docker start " + container(id))
	r.must(dockerStart(id))
}

func freeze(r *runner, id uint64, role string) {
	r.res.Target = fmt.Sprintf("%s %d", role, id)
	r.issue(fmt.Sprintf("docker pause %s (%s)", container(id), role))
	t0 := time.Now()
	r.must(dockerPause(id))
	r.markFault(fmt.Sprintf("%s paused (docker pause returned after %v)", container(id), time.Since(t0).Round(time.Millisecond)))
	r.holdFault()
	r.markHeal("docker unpause " + container(id))
	r.must(dockerUnpause(id))
}

func cut(r *runner, id uint64, role string) {
	r.res.Target = fmt.Sprintf("%s %d", role, id)
	r.issue(fmt.Sprintf("docker network disconnect %s %s (%s)", network, container(id), role))
	t0 := time.Now()
	r.must(dockerDisconnect(id))
	r.markFault(fmt.Sprintf("%s disconnected (docker network disconnect returned after %v)", container(id), time.Since(t0).Round(time.Millisecond)))
	r.holdFault()
	r.markHeal(fmt.Sprintf("docker network connect %s %s", network, container(id)))
	r.must(dockerConnect(id))
}

// everyMember runs do on every member at once and waits for all.
func everyMember(do func(id uint64) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(members))
	for i, id := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = do(id)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

var faultList = []faultSpec{
	{"leader-kill", "SIGKILL the leader (docker kill), docker start it 3-9 s later", func(r *runner) {
		crash(r, r.currentLeader(), "leader")
	}},
	{"leader-pause", "docker pause the leader for 3-9 s (over 1.5 election timeouts), unpause", func(r *runner) {
		freeze(r, r.currentLeader(), "leader")
	}},
	{"leader-partition", "docker network disconnect the leader (minority partition) for 3-9 s, reconnect", func(r *runner) {
		cut(r, r.currentLeader(), "leader")
	}},
	{"follower-kill", "SIGKILL a follower, docker start it 3-9 s later", func(r *runner) {
		crash(r, r.follower(r.currentLeader()), "follower")
	}},
	{"follower-pause", "docker pause a follower for 3-9 s, unpause", func(r *runner) {
		freeze(r, r.follower(r.currentLeader()), "follower")
	}},
	{"follower-partition", "docker network disconnect a follower for 3-9 s, reconnect", func(r *runner) {
		cut(r, r.follower(r.currentLeader()), "follower")
	}},
	{"restart-all", "restart all three members at once: docker stop -t 15 (graceful) of the three together, then docker start of the three together", func(r *runner) {
		r.currentLeader()
		r.res.Target = "all"
		// docker restart is stop then start; split, so that the fault is
		// on the timeline when the last member is down, not when the
		// graceful stops begin (the members serve until then).
		r.issue("docker stop -t 15 of all three at once")
		r.must(everyMember(dockerStop))
		r.markExited("all three stopped", members...)
		r.markHeal("docker start of all three")
		r.must(everyMember(dockerStart))
	}},
	{"kill-all", "SIGKILL all three members at once, docker start all three 2 s later", func(r *runner) {
		r.currentLeader()
		r.res.Target = "all"
		r.issue("docker kill of all three at once")
		r.must(everyMember(dockerKill))
		r.markExited("all three killed", members...)
		r.hold(2 * time.Second)
		r.markHeal("docker start of all three")
		r.must(everyMember(dockerStart))
	}},
	{"pause-then-kill", "docker pause the leader; once the other two elect a leader and serve for 3 s, docker kill the paused one, start it 2 s later: it rejoins a majority formed without it", func(r *runner) {
		id := r.currentLeader()
		r.res.Target = fmt.Sprintf("leader %d", id)
		r.issue(fmt.Sprintf("docker pause %s (leader)", container(id)))
		r.must(dockerPause(id))
		r.markFault(container(id) + " paused")
		var newLead uint64
		r.must(waitFor(30*time.Second, "a leader among the other two", func() bool {
			newLead = quorumLeader(statuses())
			return newLead != 0 && newLead != id
		}))
		r.mark(fmt.Sprintf("member %d leads without member %d", newLead, id))
		r.hold(3 * time.Second)
		r.mark(fmt.Sprintf("docker kill %s (paused)", container(id)))
		r.must(dockerKill(id))
		r.hold(2 * time.Second)
		r.markHeal("docker start " + container(id))
		r.must(dockerStart(id))
	}},
	{"rolling-restart", "docker restart (graceful stop) member 1, 2, 3 one by one, each once the previous one is ready", func(r *runner) {
		r.currentLeader()
		r.res.Target = "1,2,3"
		r.markFault("rolling restart")
		for _, id := range members {
			r.issue("docker restart -t 15 " + container(id))
			r.must(dockerRestart(id))
			r.must(waitReady(rejoinWithin, members...))
			_, _, err := leader(30 * time.Second)
			r.must(err)
			r.mark(container(id) + " ready again")
		}
		r.markHeal("rolling restart done")
	}},
}

// TestFaults runs every fault -soak times, each run on a cluster healed
// from the run before, and prints the figures per fault.
func TestFaults(t *testing.T) {
	suiteStart := time.Now()
	p, upTime := up(t)
	t.Logf("compose project %s: build done; down (leftovers) + up + all ready in %v", project, upTime.Round(time.Millisecond))

	var mu sync.Mutex
	results := map[string][]*result{}
	for _, f := range faultList {
		t.Run(f.name, func(t *testing.T) {
			for n := 1; n <= *soak; n++ {
				if dl, ok := t.Deadline(); ok && time.Until(dl) < 4*time.Minute {
					t.Skipf("skipping the remaining runs: %v left before the test deadline (raise -timeout)", time.Until(dl).Round(time.Second))
				}
				res := &result{Fault: f.name, Run: n}
				t.Run(strconv.Itoa(n), func(t *testing.T) {
					t.Logf("%s: %s", f.name, f.doc)
					runOne(t, p, f, n, res)
				})
				mu.Lock()
				results[f.name] = append(results[f.name], res)
				mu.Unlock()
			}
		})
	}
	table := figures(results)
	t.Logf("figures (%d runs per fault, suite %v):\n%s", *soak, time.Since(suiteStart).Round(time.Second), table)
	out := filepath.Join(p.root, "faults-out")
	if err := os.MkdirAll(out, 0o755); err == nil {
		path := filepath.Join(out, "summary-"+time.Now().Format("20060102-150405")+".md")
		if os.WriteFile(path, []byte(table+"\n"+details(results)), 0o644) == nil {
			t.Logf("figures written to %s", path)
		}
	}
}

// figures renders the per-fault table of docs/COMPOSE.md.
func figures(results map[string][]*result) string {
	var b strings.Builder
	b.WriteString("| fault | runs | failed | illegal | lost writes | applied twice | s without leader (median / max) | throughput during / before (median) | first write after fault (median / max) | ops/s before (median) | unknown-outcome writes | rejoin after heal (median) | reset (median) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, f := range faultList {
		rs := results[f.name]
		if len(rs) == 0 {
			continue
		}
		var failed, illegal, lost, twice, unknown int
		var noLead, first, rejoin, reset []time.Duration
		var share, before []float64
		for _, r := range rs {
			if r.Failed {
				failed++
			}
			if r.Illegal || r.CheckTO {
				illegal++
			}
			lost += r.Lost
			twice += r.Twice
			unknown += r.Unknown
			noLead = append(noLead, r.NoLeader)
			if r.Throughput.FirstWrite >= 0 {
				first = append(first, r.Throughput.FirstWrite)
			}
			rejoin = append(rejoin, r.Rejoin)
			reset = append(reset, r.Reset)
			before = append(before, r.Throughput.Before)
			if r.Throughput.Before > 0 {
				share = append(share, r.Throughput.During/r.Throughput.Before)
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %.1f / %.1f | %.0f%% | %.2f s / %.2f s | %.0f | %d | %.1f s | %.1f s |\n",
			f.name, len(rs), failed, illegal, lost, twice,
			history.Median(noLead).Seconds(), history.Max(noLead).Seconds(),
			100*medianF(share),
			history.Median(first).Seconds(), history.Max(first).Seconds(),
			medianF(before), unknown,
			history.Median(rejoin).Seconds(), history.Median(reset).Seconds())
	}
	return b.String()
}

// details lists every run.
func details(results map[string][]*result) string {
	var b strings.Builder
	b.WriteString("| run | seed | target | hold | ok | ops | checked | unknown | check | before / during / after ops/s | first write | no leader | rejoin | wall | artifacts |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, f := range faultList {
		for _, r := range results[f.name] {
			dir := "-"
			if r.Failed {
				dir = r.Dir
			}
			fmt.Fprintf(&b, "| %s-%d | %d | %s | %v | %t | %d | %d | %d | %v | %.0f / %.0f / %.0f | %v | %v | %v | %v | %s |\n",
				r.Fault, r.Run, r.Seed, r.Target, r.Hold, !r.Failed, r.Ops, r.Checked, r.Unknown, r.CheckTime.Round(time.Millisecond),
				r.Throughput.Before, r.Throughput.During, r.Throughput.After, r.Throughput.FirstWrite.Round(time.Millisecond),
				r.NoLeader.Round(time.Millisecond), r.Rejoin.Round(time.Millisecond), r.Wall.Round(time.Second), dir)
		}
	}
	return b.String()
}

func medianF(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
