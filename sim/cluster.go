// The simulator: one protoactor actor system whose every actor (node,
// applier, client) runs on the simulated dispatcher, mailbox and network;
// the hosts (one per node, across incarnations, and the client's); spawning
// a node, and crash, restart, pause and injected panics.
package sim

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/kontiki-raft/kontiki/actors"
	"github.com/kontiki-raft/kontiki/raft/wal"
)

// clientHost is the host id of the client; nodes are hosts 1..n.
const clientHost = 0

// Config of one simulation.
type Config struct {
	Seed  uint64
	Nodes int
	// TickInterval and ElectionTicks as in actors.Config (HeartbeatTicks 1).
	TickInterval  time.Duration
	ElectionTicks int
	// Node tuning, 0 for the defaults of actors.Config.
	SnapshotEntries, SnapshotKeepEntries uint64
	MaxSizePerMsg                        uint64
	MaxInflightMsgs                      int
	// LyingStore makes every node's store acknowledge syncs too early (the
	// deliberately wrong build).
	LyingStore bool
	// AuditStores checks at each crash that the store kept what it
	// acknowledged (off: only the protocol invariants can notice).
	AuditStores bool
	// WAL runs every node on the real write-ahead log over a simulated
	// disk (memfs.go) that loses, keeps or tears the unsynced writes at a
	// crash, as the seed decides; SegmentBytes is its segment size, and
	// NoPreallocate makes its segments grow instead of being created
	// zero-filled at full size.
	WAL           bool
	SegmentBytes  int64
	NoPreallocate bool
	// BrokenSync (with WAL) is the deliberately wrong disk: fsync reports
	// success and makes nothing durable.
	BrokenSync bool
	// FlipBits (with WAL): up to a minority of nodes get a bit flipped in
	// their durable log at a crash; such a node must refuse to start.
	FlipBits bool
	// Trace receives the whole delivery trace, when set.
	Trace io.Writer
	// MaxSteps bounds the deliveries of a run (a livelock guard).
	MaxSteps uint64
}

// host is a machine: a node (through its incarnations) or the client.
type host struct {
	id     uint64
	inc    int
	up     bool
	paused bool
	pid    *actor.PID // the node actor of the current incarnation
	store  *Store
	sm     *register
	// corrupt: its log failed its checks at a restart (a flipped bit);
	// the node stays down for good. corruptInc is its last incarnation.
	corrupt    bool
	corruptInc int
	boxes      []*mailbox
}

// Sim is one simulated cluster.
type Sim struct {
	cfg Config
	// One seeded source, split into streams so that, e.g., the fault
	// schedule does not shift when a message is delivered in another order.
	rng, schedRng, netRng, faultRng, clientRng *rand.Rand
	// diskRng decides what a crash leaves on a simulated disk (WAL mode).
	diskRng *rand.Rand

	q         runQueue
	clock     clock
	net       *network
	trace     *trace
	chk       *checker
	world     *World
	system    *actor.ActorSystem
	transport *actors.PIDTransport
	hosts     []*host
	mailboxes map[string]*mailbox
	// mailboxList: every mailbox, in creation order.
	mailboxList []*mailbox
	client      *client

	steps, deliveries uint64
	stats             Stats
	failure           *Failure
}

// New builds a simulation in w (nil: a new World). Close releases w.
func New(w *World, cfg Config) *Sim {
	if cfg.TickInterval == 0 {
		cfg.TickInterval = 10 * time.Millisecond
	}
	if cfg.ElectionTicks == 0 {
		cfg.ElectionTicks = 10
	}
	if cfg.MaxSteps == 0 {
		cfg.MaxSteps = 20_000_000
	}
	master := rand.New(rand.NewPCG(cfg.Seed, 0x6b6f6e74696b69))
	split := func() *rand.Rand { return rand.New(rand.NewPCG(master.Uint64(), master.Uint64())) }
	s := &Sim{cfg: cfg, mailboxes: map[string]*mailbox{}}
	s.rng, s.schedRng, s.netRng, s.faultRng, s.clientRng = split(), split(), split(), split(), split()
	s.diskRng = split()
	s.trace = newTrace(cfg.Trace)
	s.net = newNetwork(s, cfg.Nodes+1)
	s.chk = newChecker(s, cfg.Nodes)
	if w == nil {
		w = NewWorld()
	}
	s.world, s.system = w, w.system
	w.begin(s)
	s.transport = actors.NewPIDTransport()
	s.hosts = make([]*host, cfg.Nodes+1)
	s.hosts[clientHost] = &host{id: clientHost, up: true}
	for id := 1; id <= cfg.Nodes; id++ {
		h := &host{id: uint64(id)}
		h.store = &Store{inner: memBackend{actors.NewMemoryLogStore()}, chk: s.chk, v: s.chk.views[id], lying: cfg.LyingStore}
		if cfg.WAL {
			h.store.inner = newWALBackend(s, uint64(id), cfg.SegmentBytes, cfg.NoPreallocate, cfg.BrokenSync)
		}
		s.hosts[id] = h
	}
	return s
}

// propsOptions put an actor of host h's incarnation inc on the simulation.
func (s *Sim) propsOptions(h *host, inc int) []actor.PropsOption {
	return []actor.PropsOption{
		actor.WithDispatcher(dispatcher{q: &s.q}),
		actor.WithMailbox(func() actor.Mailbox {
			m := &mailbox{sim: s, host: h, inc: inc}
			h.boxes = append(h.boxes, m)
			s.mailboxList = append(s.mailboxList, m)
			return m
		}),
		actor.WithSenderMiddleware(s.net.middleware),
		actor.WithReceiverMiddleware(s.receiver),
	}
}

// Close removes the simulation's actors from its World.
func (s *Sim) Close() { s.world.end(s) }

// startClient spawns the client actor.
func (s *Sim) startClient(c *client) {
	s.client = c
	props := actor.PropsFromProducer(func() actor.Actor { return c }, s.propsOptions(s.hosts[clientHost], 0)...)
	props.Configure(actor.WithGuardian(s.world.guardian))
	pid, err := s.system.Root.SpawnNamed(props, "client")
	if err != nil {
		s.failf("sim: spawn client: %v", err)
	}
	c.self = pid
}

func (s *Sim) peers() []uint64 {
	ids := make([]uint64, s.cfg.Nodes)
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	return ids
}

// spawn starts a new incarnation of node h: a fresh state machine, the same
// LogStore.
func (s *Sim) spawn(h *host) {
	if h.corrupt {
		s.failf("sim: node %d was started on a log that failed its checks", h.id)
		return
	}
	h.store.down = false
	h.inc++
	h.up = true
	h.sm = newRegister(s, h.id)
	var sm actors.StateMachine = h.sm
	if h.id%2 == 1 {
		sm = capturingRegister{h.sm}
	}
	s.chk.views[h.id].seen = false
	inc := h.inc
	cfg := actors.Config{
		ID: h.id, Peers: s.peers(), StateMachine: sm, Transport: s.transport, LogStore: h.store,
		TickInterval: s.cfg.TickInterval, ElectionTicks: s.cfg.ElectionTicks, HeartbeatTicks: 1,
		SnapshotEntries: s.cfg.SnapshotEntries, SnapshotKeepEntries: s.cfg.SnapshotKeepEntries,
		MaxSizePerMsg: s.cfg.MaxSizePerMsg, MaxInflightMsgs: s.cfg.MaxInflightMsgs,
		Logger: slog.New(&logHandler{s: s, node: h.id}),
	}
	props, err := actors.NewNodeProps(cfg,
		actors.WithClock(&s.clock),
		actors.WithTimers(timers{s}),
		actors.WithRand(rand.New(rand.NewPCG(s.rng.Uint64(), s.rng.Uint64()))),
		actors.WithObserver(observer{s: s, h: h, inc: inc}),
		actors.WithPropsOptions(s.propsOptions(h, inc)...),
	)
	if err != nil {
		s.failf("sim: node props: %v", err)
		return
	}
	props.Configure(actor.WithGuardian(s.world.guardian))
	pid, err := s.system.Root.SpawnNamed(props, fmt.Sprintf("n%d.%d", h.id, inc))
	if err != nil {
		s.failf("sim: spawn node %d: %v", h.id, err)
		return
	}
	h.pid = pid
	s.transport.SetPeer(h.id, pid)
	s.trace.event(s, "start node %d incarnation %d", h.id, inc)
}

// crash kills node h: its queued and future messages are lost, its timers
// die with it, its disk loses what was not synced, and its actors are
// stopped (only their stop runs: a dead process reads nothing).
func (s *Sim) crash(h *host) {
	if !h.up {
		return
	}
	s.trace.event(s, "crash node %d incarnation %d", h.id, h.inc)
	s.stats.Crashes++
	h.up = false
	h.paused = false
	for _, m := range h.boxes {
		m.drop()
	}
	h.boxes = h.boxes[:0]
	if wb, ok := h.store.inner.(*walBackend); ok && s.cfg.FlipBits && s.stats.BitFlips < (s.cfg.Nodes-1)/2 && s.diskRng.IntN(3) == 0 {
		wb.flip = true
	}
	if err := h.store.crash(s.cfg.AuditStores); err != nil {
		if !errors.Is(err, wal.ErrCorrupt) {
			s.failf("node %d: its log does not open after a crash: %v", h.id, err)
		}
		h.corrupt, h.corruptInc = true, h.inc
		s.stats.Corrupted++
		s.trace.event(s, "node %d refuses to start: corrupt log", h.id)
	}
	if m := s.mailboxOf(h.pid); m != nil && !m.stopped {
		s.system.Root.Stop(h.pid)
	}
}

// restart brings a crashed node back.
func (s *Sim) restart(h *host) {
	if h.up || h.corrupt {
		return
	}
	s.stats.Restarts++
	s.spawn(h)
}

// pause stops node h from running for d (SIGSTOP, a long GC pause): time
// passes, its ticks and messages queue, and it handles them all on resume.
func (s *Sim) pause(h *host, d time.Duration) {
	if !h.up || h.paused {
		return
	}
	s.trace.event(s, "pause node %d for %v", h.id, d)
	s.stats.Pauses++
	h.paused = true
	inc := h.inc
	s.clock.after(d, func() {
		if h.inc == inc {
			s.resume(h)
		}
	})
}

// resume lets a paused node run again.
func (s *Sim) resume(h *host) {
	if !h.paused {
		return
	}
	s.trace.event(s, "resume node %d", h.id)
	h.paused = false
	for _, m := range h.boxes {
		m.schedule()
	}
}

// injectPanic makes node h's actor panic; its supervisor restarts it.
func (s *Sim) injectPanic(h *host) {
	if h.up {
		s.trace.event(s, "panic node %d", h.id)
		s.stats.Panics++
		s.system.Root.Send(h.pid, panicNow{})
	}
}

// mailboxOf finds the mailbox of a simulated actor.
func (s *Sim) mailboxOf(pid *actor.PID) *mailbox {
	if pid == nil {
		return nil
	}
	return s.mailboxes[pid.Id]
}

// alive: a message to pid would reach a live actor (not dead letters).
func (s *Sim) alive(pid *actor.PID) bool {
	if m := s.mailboxOf(pid); m != nil {
		return !m.dead() && !m.stopped
	}
	_, ok := s.system.ProcessRegistry.Get(pid)
	return ok
}
