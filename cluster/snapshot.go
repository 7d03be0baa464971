// Snapshot transfer on kontiki.<c>.snap.<to>.<from>. The raft MsgSnap travels
// here instead of in a batch: its data is cut into chunks below max_payload,
// each sent as a request and acknowledged with the next offset the receiver
// expects, so a lost chunk or ack is resent and a transfer resumes where it
// stopped. One transfer per peer at a time, paced so it never starves the
// heartbeats that share the connection. The receiver hands the assembled
// snapshot to its node as an ordinary MsgSnap; the sender reports the outcome
// to its node (actors.SnapshotStatus) so raft probes again.
package cluster

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/kontiki-raft/kontiki/actors"
	pb "github.com/kontiki-raft/kontiki/messages"
)

const (
	snapshotChunkAckTimeout = 2 * time.Second
	snapshotChunkRetries    = 5
	// snapshotBytesPerSecond paces a transfer (0: unpaced).
	snapshotBytesPerSecond = 64 << 20
	// maxSnapshotBytes refuses absurd announced sizes before buffering.
	maxSnapshotBytes = 8 << 30
)

type snapshotSender struct {
	t      *PeerTransport
	mu     sync.Mutex
	active map[uint64]bool
	sub    *nats.Subscription
	done   chan struct{}
	once   sync.Once

	// receiving side: one assembly per sender.
	rmu      sync.Mutex
	incoming map[uint64]*snapshotAssembly
}

type snapshotAssembly struct {
	index uint64
	term  uint64
	meta  *pb.SnapshotMetadata
	buf   []byte
}

func listenSnapshots(t *PeerTransport, root *actor.RootContext, pid *actor.PID) (*snapshotSender, error) {
	s := &snapshotSender{t: t, active: map[uint64]bool{}, done: make(chan struct{}), incoming: map[uint64]*snapshotAssembly{}}
	sub, err := t.nc.Subscribe(t.subj.snapInbox(t.self), func(msg *nats.Msg) {
		ack, m := s.receive(msg.Subject, msg.Data)
		if data, err := proto.Marshal(ack); err == nil {
			_ = msg.Respond(data)
		}
		if m != nil {
			root.Send(pid, m)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: subscribe snapshot inbox: %w", err)
	}
	s.sub = sub
	return s, nil
}

func (s *snapshotSender) close() {
	s.once.Do(func() {
		close(s.done)
		_ = s.sub.Unsubscribe()
	})
}

// send starts the transfer of m's snapshot unless one to m.To is running.
func (s *snapshotSender) send(ctx actor.SenderContext, m *pb.Message) {
	s.mu.Lock()
	if s.active[m.To] {
		s.mu.Unlock()
		return
	}
	s.active[m.To] = true
	s.mu.Unlock()
	root, self := ctx.ActorSystem().Root, ctx.Self()
	go func() {
		err := s.transfer(m)
		s.mu.Lock()
		delete(s.active, m.To)
		s.mu.Unlock()
		if err != nil {
			s.t.logger.Warn("snapshot transfer failed", "to", m.To, "index", m.Snapshot.GetMetadata().GetIndex(), "err", err)
		} else {
			s.t.logger.Info("snapshot sent", "to", m.To, "index", m.Snapshot.GetMetadata().GetIndex(), "bytes", len(m.Snapshot.GetData()))
		}
		root.Send(self, &actors.SnapshotStatus{ID: m.To, Failed: err != nil})
	}()
}

func (s *snapshotSender) transfer(m *pb.Message) error {
	snap := m.Snapshot
	data := snap.GetData()
	chunk := int(s.t.nc.MaxPayload()) - batchOverhead
	if chunk > 512<<10 {
		chunk = 512 << 10
	}
	subject := s.t.subj.snap(m.To, s.t.self)
	var offset uint64
	for {
		end := min(offset+uint64(chunk), uint64(len(data)))
		c := &pb.SnapshotChunk{
			FormatVersion: pb.FormatVersion, Cluster: s.t.cluster, ClusterId: s.t.clusterID, From: s.t.self, Term: m.Term,
			Metadata: snap.Metadata, Offset: offset, Data: data[offset:end],
			Last: end == uint64(len(data)), TotalSize: uint64(len(data)),
		}
		ack, err := s.sendChunk(subject, c)
		if err != nil {
			return err
		}
		if ack.Error != "" {
			return fmt.Errorf("receiver refused: %s", ack.Error)
		}
		if ack.Done {
			return nil
		}
		if ack.NextOffset > uint64(len(data)) {
			return fmt.Errorf("receiver asks for offset %d beyond %d", ack.NextOffset, len(data))
		}
		// The receiver says where to continue: after a lost chunk it asks
		// for it again rather than for the one we would send next.
		offset = ack.NextOffset
		if snapshotBytesPerSecond > 0 {
			pause := time.Duration(float64(end-c.Offset) / snapshotBytesPerSecond * float64(time.Second))
			select {
			case <-time.After(pause):
			case <-s.done:
				return errors.New("transport closed")
			}
		}
	}
}

func (s *snapshotSender) sendChunk(subject string, c *pb.SnapshotChunk) (*pb.SnapshotAck, error) {
	data, err := proto.Marshal(c)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < snapshotChunkRetries; attempt++ {
		select {
		case <-s.done:
			return nil, errors.New("transport closed")
		default:
		}
		reply, err := s.t.nc.Request(subject, data, snapshotChunkAckTimeout)
		if err != nil {
			lastErr = err
			continue
		}
		var ack pb.SnapshotAck
		if err := proto.Unmarshal(reply.Data, &ack); err != nil {
			lastErr = err
			continue
		}
		return &ack, nil
	}
	return nil, fmt.Errorf("chunk at %d: %w", c.Offset, lastErr)
}

// receive validates and stores one chunk; it returns the ack and, when the
// snapshot is complete, the MsgSnap for the node.
func (s *snapshotSender) receive(subject string, data []byte) (*pb.SnapshotAck, *pb.Message) {
	ack := &pb.SnapshotAck{From: s.t.self}
	var c pb.SnapshotChunk
	if err := proto.Unmarshal(data, &c); err != nil {
		s.t.Stats.RejectedDecode.Add(1)
		ack.Error = "undecodable chunk"
		return ack, nil
	}
	from, ok := parseID(lastToken(subject))
	switch {
	case c.FormatVersion != pb.FormatVersion:
		s.t.Stats.RejectedVersion.Add(1)
		ack.Error = fmt.Sprintf("format version %d unsupported", c.FormatVersion)
	case c.Cluster != s.t.cluster || c.ClusterId != s.t.clusterID:
		s.t.Stats.RejectedCluster.Add(1)
		ack.Error = "wrong cluster"
	case !ok || from != c.From:
		s.t.Stats.RejectedSender.Add(1)
		ack.Error = "sender mismatch"
	case !s.t.isMember(from):
		s.t.Stats.RejectedMember.Add(1)
		ack.Error = "not a member"
	case c.Metadata == nil || c.TotalSize > maxSnapshotBytes || c.Term == 0:
		ack.Error = "bad snapshot metadata"
	}
	if ack.Error != "" {
		return ack, nil
	}
	ack.Index = c.Metadata.Index
	s.rmu.Lock()
	defer s.rmu.Unlock()
	a := s.incoming[from]
	if a == nil || a.index != c.Metadata.Index || a.term != c.Term || c.Offset == 0 {
		if c.Offset != 0 {
			// We hold nothing of this snapshot: start over.
			delete(s.incoming, from)
			ack.NextOffset = 0
			return ack, nil
		}
		a = &snapshotAssembly{index: c.Metadata.Index, term: c.Term, meta: c.Metadata, buf: make([]byte, 0, c.TotalSize)}
		s.incoming[from] = a
	}
	if c.Offset != uint64(len(a.buf)) {
		ack.NextOffset = uint64(len(a.buf))
		return ack, nil
	}
	a.buf = append(a.buf, c.Data...)
	ack.NextOffset = uint64(len(a.buf))
	if !c.Last {
		return ack, nil
	}
	delete(s.incoming, from)
	if uint64(len(a.buf)) != c.TotalSize {
		ack.Error = fmt.Sprintf("assembled %d bytes, announced %d", len(a.buf), c.TotalSize)
		return ack, nil
	}
	ack.Done = true
	return ack, &pb.Message{
		Type: pb.MessageType_MSG_SNAP, From: from, To: s.t.self, Term: a.term,
		Snapshot: &pb.Snapshot{Data: a.buf, Metadata: a.meta},
	}
}
