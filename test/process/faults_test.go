// Leader faults under load: SIGKILL, SIGSTOP/SIGCONT (with lease probes at
// the resumed old leader), and twenty kills in a row.
package process

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kontiki-raft/kontiki/client"
	"github.com/kontiki-raft/kontiki/internal/history"
)

// writesPerPhase is how many acknowledged writes each phase of a load test
// waits for (before a fault, after it, after the repair).
func writesPerPhase() int {
	if *long {
		return 3000
	}
	return 300
}

// The leader is SIGKILLed while 8 clients write and read: a new leader
// serves within 3 election timeouts, the history (linearizable and lease
// reads in the mix) is linearizable, no acknowledged write is lost, and
// once the killed member is back all three replicas are equal.
func TestLeaderKilledUnderLoad(t *testing.T) {
	c := startCluster(t, options{})
	h := history.New()
	c.record(h)
	load, err := history.StartLoad(c.loadConfig("t1.", 3*time.Minute), h)
	if err != nil {
		t.Fatal(err)
	}
	defer load.Stop()
	n := writesPerPhase()
	c.waitAcked(h, 0, n, time.Minute)

	lead, term := c.leader(10 * time.Second)
	fault := h.Mark(fmt.Sprintf("SIGKILL leader %d", lead))
	c.kill(lead)
	probe := c.availabilityProbe(h, fault, "t1.probe")
	newLead, elected := c.waitNewLeader(lead, term, 10*time.Second)
	h.Mark(fmt.Sprintf("member %d leads", newLead))
	served := <-probe
	c.waitAcked(h, fault, n, time.Minute)

	restart := h.Mark(fmt.Sprintf("restart member %d", lead))
	c.start(lead)
	c.waitReady(30*time.Second, lead)
	c.waitAcked(h, restart, n, time.Minute)
	load.Stop()

	c.finish(h, "t1.")
	s := summary(t, "leader SIGKILL (during = until the restart)", h.Ops(), fault, restart)
	t.Logf("leader %d killed: member %d leads after %v (status poll); the probe's first write acknowledged %v after the kill; the load's first write called after the kill acknowledged after %v",
		lead, newLead, elected.Round(time.Millisecond), served.Round(time.Millisecond), s.FirstWrite.Round(time.Millisecond))
	bound := 3 * maxElection
	if elected > bound {
		c.errorf("new leader after %v, want within 3 election timeouts (%v)", elected, bound)
	}
	if served < 0 || served > bound {
		c.errorf("first acknowledged probe write %v after the kill, want within 3 election timeouts (%v)", served, bound)
	}
}

// The leader is SIGSTOPped for longer than an election timeout while the
// load runs, then SIGCONTed. The others elect a new leader and serve; the
// resumed old leader gets lease reads aimed at it (queued while it was
// frozen, issued after writes it never saw were acknowledged): it must not
// answer them from its stale lease. The whole history, probes included, is
// linearizable.
func TestLeaderPausedUnderLoad(t *testing.T) {
	c := startCluster(t, options{})
	h := history.New()
	c.record(h)
	load, err := history.StartLoad(c.loadConfig("t2.", 3*time.Minute), h)
	if err != nil {
		t.Fatal(err)
	}
	defer load.Stop()
	n := writesPerPhase()
	c.waitAcked(h, 0, n, time.Minute)

	lead, term := c.leader(10 * time.Second)
	fault := h.Mark(fmt.Sprintf("SIGSTOP leader %d", lead))
	c.pause(lead)
	probe := c.availabilityProbe(h, fault, "t2.probe")
	newLead, elected := c.waitNewLeader(lead, term, 10*time.Second)
	h.Mark(fmt.Sprintf("member %d leads", newLead))
	served := <-probe
	// A write on every key that the frozen leader never saw, acknowledged
	// before the probes below are sent.
	w, closeW, err := c.fastRecorder(h, "t2-writer")
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range load.Keys() {
		if op := w.Put(k, fmt.Sprintf("t2-writer-%d", i)); op.Status != history.StatusOK {
			c.fatalf("write of %s during the pause: %s %s", k, op.Status, op.Err)
		}
	}
	closeW()
	c.waitFor(time.Minute, "the pause to last 3 election timeouts", func() bool {
		return time.Duration(h.Now()-fault) >= 3*maxElection
	})

	// Lease reads at the old leader's own subject, sent while it is frozen:
	// they wait in its connection and are among the first things it
	// handles once resumed (the pause stays below the NATS server's
	// 2-3 s stale-connection limit, so the connection survives).
	probes := startLeaseProbes(c, h, lead, load.Keys())
	c.waitFor(10*time.Second, "every lease probe sent", probes.allSent)
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	resumed := h.Mark(fmt.Sprintf("SIGCONT member %d", lead))
	c.resume(lead)
	pauseLen := time.Duration(resumed - fault)
	c.waitFor(30*time.Second, "the old leader to follow", func() bool {
		st, err := c.status(lead)
		return err == nil && st.Role == client.RoleFollower && st.Leader != 0 && st.Leader != lead
	})
	c.waitAcked(h, resumed, n, time.Minute)
	probes.stop()
	load.Stop()

	c.finish(h, "t2.")
	s := summary(t, "leader SIGSTOP (during = until SIGCONT)", h.Ops(), fault, resumed)
	t.Logf("leader %d paused for %v: member %d leads after %v; the probe's first write acknowledged %v after the pause; the load's first write called after the pause acknowledged after %v; lease probes at the resumed leader: %s",
		lead, pauseLen.Round(time.Millisecond), newLead, elected.Round(time.Millisecond), served.Round(time.Millisecond), s.FirstWrite.Round(time.Millisecond), probes.result())
	if bound := 3 * maxElection; elected > bound || served < 0 || served > bound {
		c.errorf("new leader after %v, first probe write after %v; want both within 3 election timeouts (%v)", elected, served, bound)
	}
	if probes.answered() == 0 {
		c.errorf("no lease probe was answered: %s", probes.result())
	}
}

// leaseProbes sends lease reads to one member's own subject from several
// goroutines and records them in the history.
type leaseProbes struct {
	wg    sync.WaitGroup
	halt  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	ops   []history.Op
	first int // probes that sent their first request
	n     int
}

func (p *leaseProbes) allSent() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first == p.n
}

func startLeaseProbes(c *procCluster, h *history.History, target uint64, keys []string) *leaseProbes {
	p := &leaseProbes{halt: make(chan struct{}), n: len(keys)}
	for i, key := range keys {
		rec := c.newRecorder(h, fmt.Sprintf("probe%d", i))
		subject := fmt.Sprintf("kontiki.%s.member.%d.kv.get.%s", clusterName, target, key)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			first := true
			sent := func() {
				p.mu.Lock()
				if first {
					p.first++
					first = false
				}
				p.mu.Unlock()
			}
			for {
				select {
				case <-p.halt:
					return
				default:
				}
				op := rec.RawGet(c.nc, subject, key, client.Lease, 2*time.Second, sent)
				p.mu.Lock()
				p.ops = append(p.ops, op)
				p.mu.Unlock()
			}
		}()
	}
	return p
}

func (p *leaseProbes) stop() {
	p.once.Do(func() { close(p.halt) })
	p.wg.Wait()
}

func (p *leaseProbes) answered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, op := range p.ops {
		if op.Status == history.StatusOK || op.Status == history.StatusNotFound {
			n++
		}
	}
	return n
}

func (p *leaseProbes) result() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	errs := map[string]int{}
	ok := 0
	for _, op := range p.ops {
		if op.Status == history.StatusOK || op.Status == history.StatusNotFound {
			ok++
			continue
		}
		errs[op.Err]++
	}
	return fmt.Sprintf("%d sent, %d answered (checked by porcupine), failures %v", len(p.ops), ok, errs)
}

// The leader is killed again and again (20 times; 100 with -long), each
// time after a new leader served some writes and the previous victim was
// back: no acknowledged write is lost and the history is linearizable.
func TestLeaderKilledRepeatedly(t *testing.T) {
	c := startCluster(t, options{})
	h := history.New()
	c.record(h)
	rounds := 20
	if *long {
		rounds = 100
	}
	load, err := history.StartLoad(c.loadConfig("t5.", 10*time.Minute), h)
	if err != nil {
		t.Fatal(err)
	}
	defer load.Stop()
	c.waitAcked(h, 0, 100, time.Minute)
	var elections, firstWrites []time.Duration
	var faults, restarts []int64
	for i := range rounds {
		lead, term := c.leader(30 * time.Second)
		fault := h.Mark(fmt.Sprintf("round %d: SIGKILL leader %d", i, lead))
		faults = append(faults, fault)
		c.kill(lead)
		probe := c.availabilityProbe(h, fault, "t5.probe")
		_, elected := c.waitNewLeader(lead, term, 10*time.Second)
		elections = append(elections, elected)
		firstWrites = append(firstWrites, <-probe)
		c.waitAcked(h, fault, 20, time.Minute)
		restarts = append(restarts, h.Mark(fmt.Sprintf("round %d: restart member %d", i, lead)))
		c.start(lead)
		c.waitReady(30*time.Second, lead)
	}
	load.Stop()
	c.finish(h, "t5.")
	ops := h.Ops()
	// Throughput with a member down (kill to restart) and with all three
	// up (restart to the next kill), over all rounds.
	var down, up time.Duration
	var downOps, upOps float64
	for i := range faults {
		end := h.Now()
		if i+1 < len(faults) {
			end = faults[i+1]
		}
		d, u := time.Duration(restarts[i]-faults[i]), time.Duration(end-restarts[i])
		down, up = down+d, up+u
		downOps += history.Rate(ops, faults[i], restarts[i]) * d.Seconds()
		upOps += history.Rate(ops, restarts[i], end) * u.Seconds()
	}
	t.Logf("%d leader kills: ops/s before the first %.0f, with the leader down (until its restart) %.0f, with all three up again %.0f",
		rounds, history.Rate(ops, 0, faults[0]), downOps/down.Seconds(), upOps/up.Seconds())
	t.Logf("%d leader kills: new leader after median %v, max %v; first acknowledged write after median %v, max %v",
		rounds, history.Median(elections).Round(time.Millisecond), history.Max(elections).Round(time.Millisecond),
		history.Median(firstWrites).Round(time.Millisecond), history.Max(firstWrites).Round(time.Millisecond))
	if m := history.Max(firstWrites); m > 3*maxElection {
		t.Logf("note: slowest recovery %v exceeds 3 election timeouts (%v); asserted only in TestLeaderKilledUnderLoad", m, 3*maxElection)
	}
}

// The leader gets SIGTERM under load: it hands leadership over (no
// election timeout to wait for), exits 0 within the member's 10 s stop
// deadline, and the history stays linearizable with nothing lost.
func TestLeaderTerminatedUnderLoad(t *testing.T) {
	c := startCluster(t, options{})
	h := history.New()
	c.record(h)
	load, err := history.StartLoad(c.loadConfig("t8.", 3*time.Minute), h)
	if err != nil {
		t.Fatal(err)
	}
	defer load.Stop()
	n := writesPerPhase()
	c.waitAcked(h, 0, n, time.Minute)

	lead, term := c.leader(10 * time.Second)
	fault := h.Mark(fmt.Sprintf("SIGTERM leader %d", lead))
	start := time.Now()
	exited := make(chan error, 1)
	go func() {
		m := c.members[lead]
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		<-m.done
		if code := m.cmd.ProcessState.ExitCode(); code != 0 {
			exited <- fmt.Errorf("member %d exited with code %d after SIGTERM", lead, code)
			return
		}
		exited <- nil
	}()
	probe := c.availabilityProbe(h, fault, "t8.probe")
	newLead, elected := c.waitNewLeader(lead, term, 10*time.Second)
	served := <-probe
	var exitErr error
	select {
	case exitErr = <-exited:
	case <-time.After(15 * time.Second):
		c.fatalf("member %d still running 15s after SIGTERM", lead)
	}
	stopped := time.Since(start)
	h.Mark(fmt.Sprintf("member %d exited", lead))
	c.waitAcked(h, fault, n, time.Minute)
	restart := h.Mark(fmt.Sprintf("restart member %d", lead))
	c.start(lead)
	c.waitReady(30*time.Second, lead)
	c.waitAcked(h, restart, n, time.Minute)
	load.Stop()

	c.finish(h, "t8.")
	summary(t, "leader SIGTERM (during = until the restart)", h.Ops(), fault, restart)
	t.Logf("leader %d got SIGTERM: member %d leads after %v; the probe's first write acknowledged %v after the signal; the process exited after %v (%v)",
		lead, newLead, elected.Round(time.Millisecond), served.Round(time.Millisecond), stopped.Round(time.Millisecond), exitErr)
	if exitErr != nil {
		c.errorf("%v", exitErr)
	}
	if bound := 3 * maxElection; served < 0 || served > bound {
		c.errorf("first acknowledged probe write %v after SIGTERM, want within 3 election timeouts (%v)", served, bound)
	}
}
