// This file owns one running member: its NATS connections, its log store,
// the cluster.Member on top, the watch that counts leader changes, and the
// graceful stop (requests refused, leadership handed over, actors stopped,
// connection drained).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/kontiki-raft/kontiki/actors"
	"github.com/kontiki-raft/kontiki/cluster"
)

// handOverBudget is the part of the stop deadline Member.Stop may spend
// handing leadership over; the rest is for stopping the actors, draining
// NATS and shutting the embedded server down.
const handOverBudget = 7 * time.Second

type runningMember struct {
	cfg    *Config
	logger *slog.Logger
	probe  *probe
	nc     *conn
	// peers: the raft transport's in-process connection to the embedded
	// server (nil: the transport uses nc).
	peers *conn
	m     *cluster.Member

	stopWatch context.CancelFunc
	watchDone chan struct{}
	// nodeStopped is closed when the node actor stops: at the graceful stop,
	// or on its own after a fatal storage error.
	nodeStopped chan struct{}
}

// startMember connects to NATS at url (and, with an embedded server ns, to
// ns in-process for the raft traffic), opens the log and starts the member;
// p reports it from then on.
func startMember(ctx context.Context, c *Config, url string, ns *server.Server, p *probe, logger *slog.Logger) (*runningMember, error) {
	nc, err := connectNATS(ctx, c, url, c.ID, logger)
	if err != nil {
		return nil, err
	}
	var peers *conn
	peerNC := nc.Conn
	if ns != nil {
		if peers, err = connectInProcess(ctx, c, ns, c.ID, logger); err != nil {
			nc.Close()
			return nil, err
		}
		peerNC = peers.Conn
	}
	closeConns := func() {
		if peers != nil {
			peers.Close()
		}
		nc.Close()
	}
	store, err := openLog(c, logger)
	if err != nil {
		closeConns()
		return nil, err
	}
	durable := store.Durable()
	if !durable {
		logger.Warn("the log is NOT durable: it lives in memory and a restart loses it; /status shows \"durable\": false", "data_dir", c.DataDir)
	}
	m, err := cluster.StartMember(cluster.MemberConfig{
		ID: c.ID, Cluster: c.Cluster, Peers: c.Peers, NC: nc.Conn, PeerNC: peerNC, LogStore: store,
		TickInterval: c.Tick, ElectionTicks: c.ElectionTicks, HeartbeatTicks: c.HeartbeatTicks,
		MaxValueBytes: c.MaxValueBytes, SnapshotEntries: c.SnapshotEntries, SnapshotBytes: c.SnapshotBytes, SnapshotKeepEntries: c.SnapshotKeepEntries,
		Logger: logger,
	})
	if err != nil {
		if cl, ok := store.(io.Closer); ok {
			_ = cl.Close()
		}
		closeConns()
		return nil, fmt.Errorf("start member %d: %w", c.ID, err)
	}
	logger.Info("member started", "peers", joinIDs(c.Peers), "data_dir", c.DataDir, "durable", durable,
		"tick", c.Tick, "election_ticks", c.ElectionTicks, "heartbeat_ticks", c.HeartbeatTicks)
	r := &runningMember{cfg: c, logger: logger, probe: p, nc: nc, peers: peers, m: m, watchDone: make(chan struct{}), nodeStopped: make(chan struct{})}
	m.System.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &nodeWatcher{node: m.PID(), stopped: r.nodeStopped} }))
	p.attach(m, nc, peers, durable)
	wctx, cancel := context.WithCancel(context.Background())
	r.stopWatch = cancel
	go r.watchLeader(wctx)
	return r, nil
}

// openLog opens the member's log store in its data directory (a variable:
// tests swap in an in-memory store).
var openLog = func(c *Config, logger *slog.Logger) (actors.LogStore, error) {
	store, err := cluster.OpenLogStore(c.DataDir, c.Cluster, c.Peers, c.ID, logger)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	return store, nil
}

// stop is the graceful stop, within ctx: readiness off, Member.Stop (503 to
// new requests, leadership handed to the most caught-up follower within
// handOver, actors stopped, log closed), then the NATS connections drained.
// A zero handOver skips the hand-over (the rest of the cluster is gone).
func (r *runningMember) stop(ctx context.Context, handOver time.Duration) error {
	r.probe.stopping.Store(true)
	r.stopWatch()
	<-r.watchDone
	mctx, cancel := context.WithTimeout(ctx, handOver)
	defer cancel()
	var errs []error
	if err := r.m.Stop(mctx); err != nil {
		errs = append(errs, fmt.Errorf("stop member %d: %w", r.cfg.ID, err))
	}
	if r.peers != nil {
		if err := r.peers.drain(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := r.nc.drain(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// watchLeader polls the node's status every tick and counts the leaders it
// sees elected (a new leader, or the same one in a new term) for
// kontiki_server_leader_changes_seen_total. The node logs the changes.
func (r *runningMember) watchLeader(ctx context.Context) {
	defer close(r.watchDone)
	t := time.NewTicker(r.cfg.Tick)
	defer t.Stop()
	var lead, term uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := r.m.Node.Status(sctx)
		cancel()
		if err != nil || st.Lead == lead && (st.Lead == 0 || st.Term == term) {
			continue
		}
		if st.Lead != 0 {
			r.probe.leaderChanges.Add(1)
		}
		lead, term = st.Lead, st.Term
	}
}

// nodeWatcher closes stopped when the node actor terminates.
type nodeWatcher struct {
	node    *actor.PID
	stopped chan struct{}
}

func (w *nodeWatcher) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Watch(w.node)
	case *actor.Terminated:
		if m.Who.Equal(w.node) {
			close(w.stopped)
			ctx.Stop(ctx.Self())
		}
	}
}
