// This file owns /metrics: our own prometheus.Registry (never protoactor's
// default provider, which opens :2222) with the Go and process collectors
// and a collector that reads the node's status and the transport's counters
// at scrape time. Names follow etcd's where etcd has one.
package main

import (
	"context"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// newRegistry returns the registry /metrics serves for member p.
func newRegistry(p *probe) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newMemberCollector(p),
	)
	return reg
}

type memberCollector struct {
	p *probe

	info, hasLeader, isLeader, leaderChanges, durable, ready *prometheus.Desc
	term, commit, applied, lastIndex, firstIndex, role       *prometheus.Desc
	peerMatch, snapshotsInstalled                            *prometheus.Desc
	sentBatches, sentMessages, sendErrors                    *prometheus.Desc
	receivedBatches, receivedMessages, rejected              *prometheus.Desc
	natsConnected, natsReconnects, natsRemotes               *prometheus.Desc
	peersConnected, peersReconnects                          *prometheus.Desc
}

func newMemberCollector(p *probe) *memberCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("kontiki_"+name, help, labels, nil)
	}
	return &memberCollector{
		p:                  p,
		info:               d("server_info", "Always 1; the labels name this member.", "cluster", "id"),
		hasLeader:          d("server_has_leader", "1 if this member knows a leader, else 0."),
		isLeader:           d("server_is_leader", "1 if this member is the leader, else 0."),
		leaderChanges:      d("server_leader_changes_seen_total", "Leaders this member has seen elected."),
		durable:            d("server_durable", "1 if the log store fsyncs, 0 if it lives in memory."),
		ready:              d("server_ready", "1 if /readyz answers 200, else 0."),
		term:               d("raft_term", "The current raft term."),
		commit:             d("raft_commit_index", "The highest log index known committed."),
		applied:            d("raft_applied_index", "The highest log index applied to the state machine."),
		lastIndex:          d("raft_last_index", "The index of the last log entry."),
		firstIndex:         d("raft_first_index", "The index of the first log entry kept (after compaction)."),
		role:               d("raft_role", "1 for the member's current role, 0 for the others.", "role"),
		peerMatch:          d("raft_peer_match_index", "On the leader: the highest index known replicated on each peer.", "peer"),
		snapshotsInstalled: d("raft_snapshots_installed_total", "Snapshots received from a leader and installed since start."),
		sentBatches:        d("transport_sent_batches_total", "Raft batches published to peers."),
		sentMessages:       d("transport_sent_messages_total", "Raft messages published to peers."),
		sendErrors:         d("transport_send_errors_total", "Raft batches that failed to publish."),
		receivedBatches:    d("transport_received_batches_total", "Raft batches accepted from peers."),
		receivedMessages:   d("transport_received_messages_total", "Raft messages accepted from peers."),
		rejected:           d("transport_rejected_total", "Raft batches rejected, by reason.", "reason"),
		natsConnected:      d("nats_connected", "1 if the NATS connection is up, else 0."),
		natsReconnects:     d("nats_reconnects_total", "Reconnections of the NATS connection."),
		natsRemotes:        d("nats_embedded_remotes", "The other NATS servers the embedded server has routes to."),
		peersConnected:     d("nats_peers_connected", "With an embedded server: 1 if the raft transport's in-process connection is up, else 0."),
		peersReconnects:    d("nats_peers_reconnects_total", "With an embedded server: reconnections of the raft transport's in-process connection."),
	}
}

func (c *memberCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.info, c.hasLeader, c.isLeader, c.leaderChanges, c.durable, c.ready,
		c.term, c.commit, c.applied, c.lastIndex, c.firstIndex, c.role, c.peerMatch, c.snapshotsInstalled,
		c.sentBatches, c.sentMessages, c.sendErrors, c.receivedBatches, c.receivedMessages, c.rejected,
		c.natsConnected, c.natsReconnects, c.natsRemotes, c.peersConnected, c.peersReconnects,
	} {
		ch <- d
	}
}

func (c *memberCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	ctx := context.Background()
	m, nc, durable := c.p.running()
	gauge(c.info, 1, c.p.cluster, strconv.FormatUint(c.p.id, 10))
	counter(c.leaderChanges, c.p.leaderChanges.Load())
	ready, _ := c.p.ready(ctx)
	gauge(c.ready, bool01(ready))
	if nc != nil {
		gauge(c.natsConnected, bool01(nc.IsConnected()))
		counter(c.natsReconnects, nc.Stats().Reconnects)
	}
	if peers := c.p.peersConn(); peers != nil {
		gauge(c.peersConnected, bool01(peers.IsConnected()))
		counter(c.peersReconnects, peers.Stats().Reconnects)
	}
	if s := c.p.embeddedServer(); s != nil {
		gauge(c.natsRemotes, float64(s.NumRemotes()))
	}
	if m == nil {
		gauge(c.hasLeader, 0)
		gauge(c.isLeader, 0)
		return
	}
	gauge(c.durable, bool01(durable))
	s := &m.Transport.Stats
	counter(c.sentBatches, s.BatchesSent.Load())
	counter(c.sentMessages, s.MessagesSent.Load())
	counter(c.sendErrors, s.SendErrors.Load())
	counter(c.receivedBatches, s.BatchesReceived.Load())
	counter(c.receivedMessages, s.MessagesReceived.Load())
	for reason, n := range rejectReasons(s) {
		counter(c.rejected, n, reason)
	}
	st, err := c.p.nodeStatus(ctx)
	if err != nil {
		// A stopped or stuck node: no raft numbers rather than stale ones.
		gauge(c.hasLeader, 0)
		gauge(c.isLeader, 0)
		return
	}
	gauge(c.hasLeader, bool01(st.Lead != 0))
	gauge(c.isLeader, bool01(st.Lead == st.ID && st.ID != 0))
	gauge(c.term, float64(st.Term))
	gauge(c.commit, float64(st.Commit))
	gauge(c.applied, float64(st.AppliedIndex))
	gauge(c.lastIndex, float64(st.LastIndex))
	gauge(c.firstIndex, float64(st.FirstIndex))
	counter(c.snapshotsInstalled, st.SnapshotsInstalled)
	for _, r := range []string{"follower", "pre-candidate", "candidate", "leader"} {
		gauge(c.role, bool01(st.Role.String() == r), r)
	}
	for peer, pr := range st.Progress {
		gauge(c.peerMatch, float64(pr.Match), strconv.FormatUint(peer, 10))
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
