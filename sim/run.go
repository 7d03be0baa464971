// One seed end to end: the seed picks the cluster size, the node tuning, the
// network and the fault plan; the fault phase runs with the client proposing;
// then everything heals (partitions gone, every node up, no loss) and within
// LivenessBound a leader must lead everyone and every acknowledged proposal
// must be applied on every node, at the index it was acknowledged at.
package sim

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	pb "github.com/kontiki-raft/kontiki/messages"
)

// RunOptions change what a seed would choose.
type RunOptions struct {
	Nodes      int  // 0: from the seed (NodesFor)
	LyingStore bool // the deliberately wrong build
	// NoStoreAudit leaves lost writes for the protocol invariants to find.
	NoStoreAudit bool
	// WAL: every node on the real write-ahead log over a simulated disk;
	// BrokenSync: that disk's fsync does nothing (the wrong build);
	// FlipBits: a minority of nodes may get a bit flipped at a crash.
	WAL, BrokenSync, FlipBits bool
	Trace                     io.Writer
}

// Result of one seed.
type Result struct {
	Seed              uint64
	Nodes             int
	Steps, Deliveries uint64
	VirtualTime       time.Duration
	TraceHash         [32]byte
	Stats             Stats
	Failure           *Failure
}

// Stats count what a run went through.
type Stats struct {
	Crashes, Restarts, Panics, Partitions, Cuts int
	Transfers, Pauses                           int // leadership transfers asked for, pauses
	Snapshots                                   int // snapshots stored
	Leaders                                     int // terms that had a leader
	Acked                                       int // acknowledged proposals
	Reads                                       int // reads answered
	// WAL mode: crashes of the simulated disk by what they kept of the
	// unsynced writes (keep, drop, tear), torn tails the WAL cut off at
	// Open, bits flipped, nodes that refused to start on a corrupt log.
	DiskCrashes                    [crashModes]int
	TornTails, BitFlips, Corrupted int
}

func (a *Stats) add(b Stats) {
	a.Crashes += b.Crashes
	a.Restarts += b.Restarts
	a.Panics += b.Panics
	a.Partitions += b.Partitions
	a.Cuts += b.Cuts
	a.Transfers += b.Transfers
	a.Pauses += b.Pauses
	a.Reads += b.Reads
	a.Snapshots += b.Snapshots
	a.Leaders += b.Leaders
	a.Acked += b.Acked
	for i := range a.DiskCrashes {
		a.DiskCrashes[i] += b.DiskCrashes[i]
	}
	a.TornTails += b.TornTails
	a.BitFlips += b.BitFlips
	a.Corrupted += b.Corrupted
}

// NodesFor spreads seeds over cluster sizes: half 3 nodes, 30% 5, 20% 7.
func NodesFor(seed uint64) int {
	switch seed % 10 {
	case 0, 1, 2, 3, 4:
		return 3
	case 5, 6, 7:
		return 5
	}
	return 7
}

// finalProposals must all be acknowledged after the faults heal.
const finalProposals = 3

// LivenessBound is how long after healing the cluster may take to settle:
// 20 maximal election timeouts (20 × 2E ticks).
func (s *Sim) LivenessBound() time.Duration {
	return 20 * 2 * time.Duration(s.cfg.ElectionTicks) * s.cfg.TickInterval
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// Run simulates one seed in a new World.
func Run(seed uint64, o RunOptions) *Result { return RunIn(nil, seed, o) }

// RunIn simulates one seed in w (nil: a new World).
func RunIn(w *World, seed uint64, o RunOptions) *Result {
	pr := rand.New(rand.NewPCG(seed, 0x706c616e))
	nodes := o.Nodes
	if nodes == 0 {
		nodes = NodesFor(seed)
	}
	cfg := Config{Seed: seed, Nodes: nodes, LyingStore: o.LyingStore, AuditStores: !o.NoStoreAudit, Trace: o.Trace,
		WAL: o.WAL, BrokenSync: o.BrokenSync, FlipBits: o.FlipBits}
	if o.WAL {
		// Small segments, so that logs roll and compaction removes them;
		// mostly preallocated, as in production, some growing.
		wr := rand.New(rand.NewPCG(seed, 0x77616c))
		cfg.SegmentBytes = int64(pick(wr, 1024, 4096, 16384))
		cfg.NoPreallocate = wr.IntN(4) == 0
	}
	switch pr.IntN(3) {
	case 1:
		cfg.SnapshotEntries, cfg.SnapshotKeepEntries = 8, 2
	case 2:
		cfg.SnapshotEntries, cfg.SnapshotKeepEntries = 30, 10
	}
	if pr.IntN(3) == 0 {
		cfg.MaxSizePerMsg = 40 // a few entries per append
	}
	if pr.IntN(3) == 0 {
		cfg.MaxInflightMsgs = 2
	}
	s := New(w, cfg)
	defer s.Close()
	tick := s.cfg.TickInterval
	s.net.minLat = time.Millisecond
	s.net.maxLat = pick[time.Duration](pr, 3, 8, 20) * time.Millisecond
	quorum := nodes/2 + 1
	plan := &faultPlan{
		until:    time.Duration(50+pr.IntN(70)) * tick,
		meanGap:  time.Duration(pick(pr, 6, 12, 24)) * tick,
		maxDown:  pick(pr, quorum-1, nodes),
		dropMax:  pick(pr, 0.05, 0.2),
		dupMax:   pick(pr, 0.0, 0.1),
		slowMax:  pick(pr, 0.0, 0.05),
		crashPct: pick(pr, 5, 10, 15),
	}
	s.net.drop = pr.Float64() * plan.dropMax
	s.net.dup = pr.Float64() * plan.dupMax
	s.net.slow = pr.Float64() * plan.slowMax

	for _, h := range s.hosts[1:] {
		s.clock.at(time.Duration(pr.Int64N(int64(tick))), func() { s.spawn(h) })
	}
	c := newClient(s, 1+pr.IntN(3), pick[time.Duration](pr, 5, 20)*time.Millisecond, 2*time.Duration(s.cfg.ElectionTicks)*tick)
	c.proposing = true
	s.startClient(c)
	timers{s}.SendOnce(tick, c.self, clientWake{})
	// Faults start once every node has been spawned.
	s.clock.at(tick, func() { s.scheduleFault(plan) })

	s.RunUntil(plan.until, nil)
	if s.failure == nil {
		s.heal()
		if !s.RunUntil(plan.until+s.LivenessBound(), s.settled) && s.failure == nil {
			s.failf("liveness: not settled within %v (20 election timeouts) after the faults healed: %s", s.LivenessBound(), s.describe())
		}
	}
	if s.failure == nil {
		s.finalChecks()
	}
	s.stats.Acked, s.stats.Leaders, s.stats.Reads = len(c.acks), len(s.chk.leaders), c.reads
	return &Result{
		Seed: seed, Nodes: nodes, Steps: s.steps, Deliveries: s.deliveries, VirtualTime: s.clock.now,
		TraceHash: s.trace.sum(), Stats: s.stats, Failure: s.failure,
	}
}

// heal ends the fault phase: no partition, no loss, every node up and
// running, and the client's final proposals.
func (s *Sim) heal() {
	s.trace.event(s, "heal: all links up, no loss, all nodes up")
	s.net.heal()
	s.net.drop, s.net.dup, s.net.slow = 0, 0, 0
	for _, h := range s.hosts[1:] {
		s.resume(h)
		s.restart(h)
	}
	s.client.startFinal(finalProposals)
}

// settled: the final proposals are acknowledged, one leader leads every
// node in its term, and every node has applied every acknowledged proposal.
func (s *Sim) settled() bool {
	if s.client.finalLeft > 0 {
		return false
	}
	lead := s.leader()
	if lead == 0 {
		return false
	}
	term := s.chk.views[lead].status.Term
	maxAck := s.client.maxAckIndex()
	for _, h := range s.hosts[1:] {
		if h.corrupt {
			continue
		}
		v := s.chk.views[h.id]
		if !h.up || !v.seen || v.status.Term != term || v.status.Lead != lead || h.sm.applied() < maxAck {
			return false
		}
	}
	return true
}

func (s *Sim) describe() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "final proposals left %d;", s.client.finalLeft)
	for _, h := range s.hosts[1:] {
		v := s.chk.views[h.id]
		if h.corrupt {
			fmt.Fprintf(&b, " node %d: corrupt log, down for good;", h.id)
			continue
		}
		fmt.Fprintf(&b, " node %d: up=%v role=%s term=%d lead=%d commit=%d applied=%d last=%d;",
			h.id, h.up, v.status.Role.String(), v.status.Term, v.status.Lead, v.status.Commit, h.sm.applied(), v.log.last())
	}
	return b.String()
}

// finalChecks: every acknowledged proposal is at its index on every node,
// every state machine holds only committed entries, every store matches its
// mirror.
func (s *Sim) finalChecks() {
	for _, h := range s.hosts[1:] {
		if h.corrupt && (h.up || h.inc != h.corruptInc) {
			s.failf("node %d started again on a corrupt log (incarnation %d, up=%v)", h.id, h.inc, h.up)
			return
		}
	}
	for _, a := range s.client.acks {
		for _, h := range s.hosts[1:] {
			if h.corrupt {
				continue
			}
			got, ok := h.sm.at(a.index)
			if !ok || !bytes.Equal(got, a.data) {
				s.failf("acknowledged proposal %d (%q at index %d) lost: node %d has %q there (applied %d)",
					a.id, a.data, a.index, h.id, got, h.sm.applied())
				return
			}
		}
	}
	for _, h := range s.hosts[1:] {
		for i := uint64(1); i <= h.sm.applied(); i++ {
			d, _ := h.sm.at(i)
			if i > s.chk.lastCommitted() || entryHash(&pb.Entry{Data: d}) != s.chk.committed[i-1].ehash {
				s.failf("state machine safety: node %d holds at index %d an entry that is not the committed one", h.id, i)
				return
			}
		}
	}
	s.chk.audit()
}
