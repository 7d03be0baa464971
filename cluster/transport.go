// The NATS peer transport: the messages of one Ready for one peer go out in
// as few protobuf batches (encoded by raftwire.go) as max_payload allows on
// kontiki.<c>.raft.<to>.<from>; each node listens on kontiki.<c>.raft.<self>.*
// and hands what it accepts to its node actor without ever blocking the NATS
// callback.
package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/nats-io/nats.go"

	"github.com/kontiki-raft/kontiki/actors"
	pb "github.com/kontiki-raft/kontiki/messages"
)

// batchOverhead is room kept below max_payload for the batch envelope and
// the NATS headers.
const batchOverhead = 4 << 10

// TransportStats counts what the transport did; read with Load.
type TransportStats struct {
	BatchesSent, MessagesSent, SendErrors atomic.Uint64
	BatchesReceived, MessagesReceived     atomic.Uint64
	RejectedDecode, RejectedVersion       atomic.Uint64
	RejectedCluster, RejectedSender       atomic.Uint64
	RejectedMember, RejectedTooLarge      atomic.Uint64
	// RejectedIncarnation: batches from a member whose data directory was
	// replaced (see incarnation.go).
	RejectedIncarnation atomic.Uint64
}

// PeerTransport implements actors.Transport over NATS.
type PeerTransport struct {
	nc        *nats.Conn
	subj      subjects
	cluster   string
	clusterID uint64
	self      uint64
	incs      *incarnations
	logger    *slog.Logger
	Stats     TransportStats

	mu      sync.RWMutex
	members map[uint64]bool
	sub     *nats.Subscription
	snaps   *snapshotSender

	// sendMu guards the encoding buffer and the subject cache of publish,
	// which the node and the log writer both call. The buffer is reused:
	// Publish has copied the bytes into the connection's buffer when it
	// returns.
	sendMu   sync.Mutex
	sendBuf  []byte
	subjects map[uint64]string
}

// NewPeerTransport creates the transport of node self of the cluster named
// cluster with id clusterID; members are the ids allowed to talk to it
// (updated with SetMembers).
func NewPeerTransport(nc *nats.Conn, cluster string, clusterID, self uint64, members []uint64, logger *slog.Logger) *PeerTransport {
	t := &PeerTransport{nc: nc, subj: subjects{cluster}, cluster: cluster, clusterID: clusterID, self: self, logger: logger, incs: memoryIncarnations()}
	t.SetMembers(members)
	return t
}

// SetMembers replaces the set of ids whose messages are accepted.
func (t *PeerTransport) SetMembers(ids []uint64) {
	m := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	t.mu.Lock()
	t.members = m
	t.mu.Unlock()
}

func (t *PeerTransport) isMember(id uint64) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.members[id]
}

// Listen subscribes the node's inbox; accepted messages go to pid through
// root (a non-blocking Send into the node's unbounded mailbox).
func (t *PeerTransport) Listen(root *actor.RootContext, pid *actor.PID) error {
	sub, err := t.nc.Subscribe(t.subj.raftInbox(t.self), func(msg *nats.Msg) {
		msgs, err := t.accept(msg.Subject, msg.Data)
		if err != nil {
			t.logger.Debug("rejected raft batch", "subject", msg.Subject, "err", err)
			return
		}
		for _, m := range msgs {
			root.Send(pid, m)
		}
	})
	if err != nil {
		return fmt.Errorf("cluster: subscribe raft inbox: %w", err)
	}
	// Raft traffic must never be dropped by slow-consumer limits because of
	// a burst: the node's own flow control bounds it.
	_ = sub.SetPendingLimits(-1, -1)
	t.mu.Lock()
	t.sub = sub
	t.mu.Unlock()
	snaps, err := listenSnapshots(t, root, pid)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.snaps = snaps
	t.mu.Unlock()
	return nil
}

// Close unsubscribes.
func (t *PeerTransport) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sub != nil {
		_ = t.sub.Unsubscribe()
		t.sub = nil
	}
	if t.snaps != nil {
		t.snaps.close()
	}
}

var (
	errVersion = errors.New("unsupported batch format version")
	errCluster = errors.New("batch from another cluster")
	errSender  = errors.New("subject sender, batch sender and message senders differ")
	errMember  = errors.New("sender is not a member")
)

// accept decodes and validates one batch received on subject.
func (t *PeerTransport) accept(subject string, data []byte) ([]*pb.Message, error) {
	b, err := decodeRaftBatch(data, t.cluster)
	if err != nil {
		t.Stats.RejectedDecode.Add(1)
		return nil, fmt.Errorf("decode: %w", err)
	}
	if b.FormatVersion != pb.FormatVersion {
		t.Stats.RejectedVersion.Add(1)
		return nil, fmt.Errorf("%w: %d (we speak %d)", errVersion, b.FormatVersion, pb.FormatVersion)
	}
	if b.Cluster != t.cluster || b.ClusterId != t.clusterID {
		t.Stats.RejectedCluster.Add(1)
		return nil, fmt.Errorf("%w: %q (id %d)", errCluster, b.Cluster, b.ClusterId)
	}
	from, ok := parseID(lastToken(subject))
	if !ok || from != b.From || b.To != t.self {
		t.Stats.RejectedSender.Add(1)
		return nil, errSender
	}
	for _, m := range b.Messages {
		if m.From != from || m.To != t.self {
			t.Stats.RejectedSender.Add(1)
			return nil, errSender
		}
	}
	if !t.isMember(from) {
		t.Stats.RejectedMember.Add(1)
		return nil, fmt.Errorf("%w: %d", errMember, from)
	}
	if err := t.incs.check(from, b.Incarnation); err != nil {
		if t.Stats.RejectedIncarnation.Add(1)%100 == 1 {
			t.logger.Error("refusing a member", "peer", from, "err", err)
		}
		return nil, err
	}
	t.Stats.BatchesReceived.Add(1)
	t.Stats.MessagesReceived.Add(uint64(len(b.Messages)))
	return b.Messages, nil
}

// Send implements actors.Transport: group by peer, batch below max_payload,
// publish. Never blocks on a peer; a failed publish is a dropped message.
func (t *PeerTransport) Send(ctx actor.SenderContext, msgs []*pb.Message) {
	if len(msgs) == 0 {
		return
	}
	t.mu.RLock()
	snaps := t.snaps
	t.mu.RUnlock()
	byPeer := map[uint64][]*pb.Message{}
	var order []uint64
	for _, m := range msgs {
		if m.Type == pb.MessageType_MSG_SNAP {
			// Snapshots travel on their own subject in acknowledged chunks.
			if snaps != nil {
				snaps.send(ctx, m)
			} else {
				// Not listening yet: report the failure, or the leader
				// would wait for this snapshot forever.
				ctx.Send(ctx.Self(), &actors.SnapshotStatus{ID: m.To, Failed: true})
			}
			continue
		}
		if _, ok := byPeer[m.To]; !ok {
			order = append(order, m.To)
		}
		byPeer[m.To] = append(byPeer[m.To], m)
	}
	limit := int(t.nc.MaxPayload()) - batchOverhead
	for _, to := range order {
		t.publish(to, byPeer[to], limit)
	}
}

// publish sends msgs to peer to in batches whose messages' encoded sizes
// stay below limit (appendRaftBatchPrefix). A single message above the
// limit goes alone (the value-size limit keeps entries below it; raft's
// MaxSizePerMsg keeps appends below it).
func (t *PeerTransport) publish(to uint64, msgs []*pb.Message, limit int) {
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	subject, ok := t.subjects[to]
	if !ok {
		if t.subjects == nil {
			t.subjects = map[uint64]string{}
		}
		subject = t.subj.raft(to, t.self)
		t.subjects[to] = subject
	}
	h := batchHeader{formatVersion: pb.FormatVersion, cluster: t.cluster, from: t.self, to: to, clusterID: t.clusterID, incarnation: t.incs.self}
	for len(msgs) > 0 {
		data, n, err := appendRaftBatchPrefix(t.sendBuf[:0], &h, msgs, limit)
		if err != nil {
			// A cluster name that is not UTF-8: no batch can go.
			t.Stats.SendErrors.Add(1)
			t.logger.Debug("raft send failed", "to", to, "err", err)
			return
		}
		t.sendBuf, msgs = data, msgs[n:]
		if err := t.nc.Publish(subject, data); err != nil {
			t.Stats.SendErrors.Add(1)
			t.logger.Debug("raft send failed", "to", to, "err", err)
			continue
		}
		t.Stats.BatchesSent.Add(1)
		t.Stats.MessagesSent.Add(uint64(n))
	}
}

var _ actors.Transport = (*PeerTransport)(nil)
