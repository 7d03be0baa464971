// This file owns what the HTTP endpoints and the metrics read about a
// member: the probe (set once the member runs, flagged when it stops), the
// readiness rule, and the /status document.
package main

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/kontiki-raft/kontiki/actors"
	"github.com/kontiki-raft/kontiki/client"
	"github.com/kontiki-raft/kontiki/cluster"
)

// readyMaxApplyLag is how far the applied index may trail the commit index
// for a member to count as ready.
const readyMaxApplyLag = 100

// statusTimeout bounds one Node.Status request made for HTTP or metrics.
const statusTimeout = time.Second

var (
	errStarting = errors.New("member starting")
	errStopping = errors.New("member stopping")
)

// probe is one member as HTTP and metrics see it.
type probe struct {
	id      uint64
	cluster string
	dataDir string
	started time.Time

	mu      sync.Mutex
	member  *cluster.Member
	nc      *conn
	peers   *conn // the raft transport's own connection; nil: it uses nc
	durable bool
	server  *server.Server // the embedded NATS server, if any

	stopping      atomic.Bool
	leaderChanges atomic.Uint64
}

func newProbe(c *Config) *probe {
	return &probe{id: c.ID, cluster: c.Cluster, dataDir: c.DataDir, started: time.Now()}
}

func (p *probe) attach(m *cluster.Member, nc, peers *conn, durable bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.member, p.nc, p.peers, p.durable = m, nc, peers, durable
}

// connected: the member's connections to NATS are up.
func (p *probe) connected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nc != nil && p.nc.IsConnected() && (p.peers == nil || p.peers.IsConnected())
}

// attachServer records the embedded NATS server the member uses.
func (p *probe) attachServer(s *server.Server) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.server = s
}

func (p *probe) peersConn() *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peers
}

func (p *probe) embeddedServer() *server.Server {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.server
}

func (p *probe) running() (*cluster.Member, *conn, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.member, p.nc, p.durable
}

// nodeStatus asks the node for its status.
func (p *probe) nodeStatus(ctx context.Context) (*actors.Status, error) {
	m, _, _ := p.running()
	if m == nil {
		return nil, errStarting
	}
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	return m.Node.Status(ctx)
}

// ready applies the readiness rule: not stopping, connected to NATS, a
// leader known, and the applied index within readyMaxApplyLag of commit.
// The reason says what is missing.
func (p *probe) ready(ctx context.Context) (bool, string) {
	if p.stopping.Load() {
		return false, errStopping.Error()
	}
	st, err := p.nodeStatus(ctx)
	if err != nil {
		return false, err.Error()
	}
	return readiness(st, p.connected())
}

func readiness(st *actors.Status, connected bool) (bool, string) {
	switch {
	case !connected:
		return false, "not connected to NATS"
	case st.Lead == 0:
		return false, "no leader known"
	case st.Commit > st.AppliedIndex+readyMaxApplyLag:
		return false, "applied index " + strconv.FormatUint(st.AppliedIndex, 10) + " trails commit index " + strconv.FormatUint(st.Commit, 10)
	}
	return true, ""
}

// statusDoc is the /status document: the admin.status JSON every member
// answers on NATS (client.MemberStatus) plus what only this process knows.
type statusDoc struct {
	client.MemberStatus
	Cluster        string `json:"cluster"`
	Vote           uint64 `json:"vote"`
	FirstIndex     uint64 `json:"first_index"`
	LeadTransferee uint64 `json:"lead_transferee,omitempty"`
	Ready          bool   `json:"ready"`
	NotReady       string `json:"not_ready,omitempty"`
	Stopping       bool   `json:"stopping"`
	// LeaderChangesSeen counts the leaders this member has seen elected.
	LeaderChangesSeen uint64          `json:"leader_changes_seen"`
	DataDir           string          `json:"data_dir"`
	Started           time.Time       `json:"started"`
	NATS              natsStatus      `json:"nats"`
	Transport         transportStatus `json:"transport"`
}

type natsStatus struct {
	Connected  bool   `json:"connected"`
	URL        string `json:"url,omitempty"`
	MaxPayload int64  `json:"max_payload"`
	Reconnects uint64 `json:"reconnects"`
	// Peers: the raft transport's in-process connection to the embedded
	// server (absent with an external server: the transport uses this one).
	Peers    *peersConnStatus    `json:"peers,omitempty"`
	Embedded *embeddedNATSStatus `json:"embedded,omitempty"`
}

type peersConnStatus struct {
	Connected  bool   `json:"connected"`
	Reconnects uint64 `json:"reconnects"`
	// InMsgs and OutMsgs: NATS messages received and published on it
	// (raft batches and snapshot chunks).
	InMsgs  uint64 `json:"in_msgs"`
	OutMsgs uint64 `json:"out_msgs"`
}

// embeddedNATSStatus describes the embedded server: Remotes counts the
// other servers it has routes to (a full mesh of N members: N-1).
type embeddedNATSStatus struct {
	Name        string `json:"name"`
	ClientURL   string `json:"client_url"`
	ClusterAddr string `json:"cluster_addr,omitempty"`
	Remotes     int    `json:"remotes"`
	Routes      int    `json:"routes"`
	Clients     int    `json:"clients"`
}

type transportStatus struct {
	BatchesSent      uint64            `json:"batches_sent"`
	MessagesSent     uint64            `json:"messages_sent"`
	SendErrors       uint64            `json:"send_errors"`
	BatchesReceived  uint64            `json:"batches_received"`
	MessagesReceived uint64            `json:"messages_received"`
	Rejected         map[string]uint64 `json:"rejected"`
}

// status builds the /status document.
func (p *probe) status(ctx context.Context) (*statusDoc, error) {
	m, nc, _ := p.running()
	st, err := p.nodeStatus(ctx)
	if err != nil {
		return nil, err
	}
	ready, why := p.ready(ctx)
	d := &statusDoc{
		MemberStatus: memberStatus(st),
		Cluster:      p.cluster, Vote: st.Vote, FirstIndex: st.FirstIndex, LeadTransferee: st.LeadTransferee,
		Ready: ready, NotReady: why, Stopping: p.stopping.Load(),
		LeaderChangesSeen: p.leaderChanges.Load(),
		DataDir:           p.dataDir, Started: p.started,
		Transport: transportStats(&m.Transport.Stats),
	}
	if nc != nil {
		d.NATS = natsStatus{Connected: nc.IsConnected(), URL: nc.ConnectedUrlRedacted(), MaxPayload: nc.MaxPayload(), Reconnects: nc.Stats().Reconnects}
	}
	if peers := p.peersConn(); peers != nil {
		ps := peers.Stats()
		d.NATS.Peers = &peersConnStatus{Connected: peers.IsConnected(), Reconnects: ps.Reconnects, InMsgs: ps.InMsgs, OutMsgs: ps.OutMsgs}
	}
	if s := p.embeddedServer(); s != nil {
		e := &embeddedNATSStatus{Name: s.Name(), ClientURL: s.ClientURL(), Remotes: s.NumRemotes(), Routes: s.NumRoutes(), Clients: s.NumClients()}
		if a := s.ClusterAddr(); a != nil {
			e.ClusterAddr = a.String()
		}
		d.NATS.Embedded = e
	}
	return d, nil
}

// memberStatus is the admin.status JSON of a node's status.
func memberStatus(st *actors.Status) client.MemberStatus {
	ms := client.MemberStatus{
		ID: st.ID, Role: st.Role.String(), Term: st.Term, Leader: st.Lead,
		Commit: st.Commit, Applied: st.AppliedIndex, LastIndex: st.LastIndex, Durable: st.Durable,
	}
	if len(st.Progress) > 0 {
		ms.Progress = make(map[uint64]client.PeerProgress, len(st.Progress))
		for id, pr := range st.Progress {
			ms.Progress[id] = client.PeerProgress{Match: pr.Match, Next: pr.Next, State: pr.State}
		}
	}
	return ms
}

// rejectReasons names the transport's rejection counters, for /status and
// kontiki_transport_rejected_total{reason}.
func rejectReasons(s *cluster.TransportStats) map[string]uint64 {
	return map[string]uint64{
		"decode":      s.RejectedDecode.Load(),
		"version":     s.RejectedVersion.Load(),
		"cluster":     s.RejectedCluster.Load(),
		"sender":      s.RejectedSender.Load(),
		"member":      s.RejectedMember.Load(),
		"too_large":   s.RejectedTooLarge.Load(),
		"incarnation": s.RejectedIncarnation.Load(),
	}
}

func transportStats(s *cluster.TransportStats) transportStatus {
	return transportStatus{
		BatchesSent: s.BatchesSent.Load(), MessagesSent: s.MessagesSent.Load(), SendErrors: s.SendErrors.Load(),
		BatchesReceived: s.BatchesReceived.Load(), MessagesReceived: s.MessagesReceived.Load(),
		Rejected: rejectReasons(s),
	}
}
