// A member: one raft node with the KV store, its NATS peer transport and the
// client service, on one NATS connection. Stop is the graceful path: stop
// taking requests, hand leadership to the most caught-up follower, stop the
// actors, close the log.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/nats-io/nats.go"

	"github.com/kontiki-raft/kontiki/actors"
	"github.com/kontiki-raft/kontiki/kv"
)

type MemberConfig struct {
	ID      uint64
	Cluster string
	Peers   []uint64
	// NC serves clients (the kv.* and status endpoints).
	NC *nats.Conn
	// PeerNC carries the raft traffic to and from the other members (nil:
	// NC). A member that runs its own NATS server gives it an in-process
	// connection to that server (nats.InProcessServer): the peer messages
	// then reach the server through memory, not a loopback socket, which
	// saves a socket write and read and a poller wake-up at both ends of
	// every hop between members. Client requests stay on NC: an in-process
	// connection delivers each message synchronously, which would hand the
	// leader concurrent requests one at a time (docs/BENCHMARKS.md, step 15).
	PeerNC *nats.Conn
	// LogStore persists the log (nil: in memory, not durable).
	LogStore       actors.LogStore
	TickInterval   time.Duration
	ElectionTicks  int
	HeartbeatTicks int
	MaxValueBytes  int
	// SnapshotEntries, SnapshotBytes and SnapshotKeepEntries: see
	// actors.Config.
	SnapshotEntries     uint64
	SnapshotBytes       uint64
	SnapshotKeepEntries uint64
	KV                  kv.Options
	Logger              *slog.Logger
	// System is the actor system to spawn in (nil: a new one).
	System *actor.ActorSystem
}

type Member struct {
	cfg       MemberConfig
	System    *actor.ActorSystem
	Node      *actors.Node
	Store     *kv.Store
	Transport *PeerTransport
	Service   *Service
	pid       *actor.PID
}

// StartMember starts the node, subscribes its raft inbox and serves clients.
func StartMember(cfg MemberConfig) (*Member, error) {
	if cfg.Cluster == "" {
		cfg.Cluster = "kontiki"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	logger := cfg.Logger.With("cluster", cfg.Cluster)
	m := &Member{cfg: cfg, System: cfg.System, Store: kv.New(cfg.KV)}
	if m.System == nil {
		m.System = actor.NewActorSystemWithConfig(actors.SystemConfig(logger))
	}
	clusterID := ClusterID(cfg.Cluster, cfg.Peers)
	incs := memoryIncarnations()
	if ws, ok := cfg.LogStore.(*WALStore); ok {
		clusterID = ws.ClusterID()
		var err error
		if incs, err = loadIncarnations(ws.dir); err != nil {
			return nil, fmt.Errorf("data directory %s: %w", ws.dir, err)
		}
	}
	pnc := cfg.NC
	if cfg.PeerNC != nil {
		pnc = cfg.PeerNC
	}
	m.Transport = NewPeerTransport(pnc, cfg.Cluster, clusterID, cfg.ID, cfg.Peers, logger.With("node", cfg.ID))
	m.Transport.incs = incs
	props, err := actors.NewNodeProps(actors.Config{
		ID: cfg.ID, Peers: cfg.Peers, StateMachine: m.Store, Transport: m.Transport, LogStore: cfg.LogStore,
		TickInterval: cfg.TickInterval, ElectionTicks: cfg.ElectionTicks, HeartbeatTicks: cfg.HeartbeatTicks,
		SnapshotEntries: cfg.SnapshotEntries, SnapshotBytes: cfg.SnapshotBytes, SnapshotKeepEntries: cfg.SnapshotKeepEntries,
		MaxSizePerMsg: uint64(int(pnc.MaxPayload()) / 2), Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	m.pid = m.System.Root.Spawn(props)
	m.Node = actors.NewNode(m.System.Root, m.pid)
	if err := m.Transport.Listen(m.System.Root, m.pid); err != nil {
		_ = m.System.Root.PoisonFuture(m.pid).Wait()
		return nil, err
	}
	m.Service, err = StartService(ServiceConfig{ID: cfg.ID, Cluster: cfg.Cluster, NC: cfg.NC, Node: m.Node, Store: m.Store, MaxValueBytes: cfg.MaxValueBytes, Logger: logger})
	if err != nil {
		m.Transport.Close()
		_ = m.System.Root.PoisonFuture(m.pid).Wait()
		return nil, err
	}
	return m, nil
}

// PID of the node actor.
func (m *Member) PID() *actor.PID { return m.pid }

// Stop shuts the member down gracefully within ctx: requests get 503, a
// leader hands over to the most caught-up follower, then the actors stop
// and the log is closed. The caller drains the NATS connections afterwards.
func (m *Member) Stop(ctx context.Context) error {
	m.Service.Stop()
	m.handOver(ctx)
	m.Transport.Close()
	var errs []error
	if err := m.System.Root.PoisonFuture(m.pid).Wait(); err != nil {
		errs = append(errs, fmt.Errorf("stop node: %w", err))
	}
	if c, ok := m.cfg.LogStore.(io.Closer); ok {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close log: %w", err))
		}
	}
	return errors.Join(errs...)
}

// handOver transfers leadership away if this member leads, and waits (within
// ctx) until another member leads, so clients see no election gap.
func (m *Member) handOver(ctx context.Context) {
	// A transfer finishes within an election timeout or is abandoned; do
	// not wait longer than two of them whatever ctx allows.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Duration(max(m.cfg.ElectionTicks, 10))*m.cfg.TickInterval)
	defer cancel()
	st, err := m.Node.Status(ctx)
	if err != nil || st.Lead != m.cfg.ID || len(st.Progress) < 2 {
		return
	}
	if err := m.Node.TransferLeadership(ctx, 0); err != nil {
		m.cfg.Logger.Warn("leadership transfer refused", "err", err)
		return
	}
	tick := time.NewTicker(m.cfg.TickInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st, err := m.Node.Status(ctx)
		if err != nil || st.Lead != m.cfg.ID {
			return
		}
	}
}
