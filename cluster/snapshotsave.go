// admin.snapshot: stream this member's state to an operator as a file. The
// file is a marshaled messages.Snapshot (the KV image with its index, term
// and membership): `member restore` seeds a new cluster from it. The image
// is taken after a linearizable read barrier, so it holds every write
// acknowledged before the request.
//
// Streaming: chunks go to the requester's inbox with headers Kontiki-Offset,
// Kontiki-Size (the whole file) and a reply subject; the requester answers
// each chunk (empty body) and the member keeps at most snapshotSaveWindow
// chunks unanswered. The last chunk carries Kontiki-Snapshot: end and
// Kontiki-Sha256 (hex of the whole file). An error is a single message with Nats-Service-Error headers.
package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"google.golang.org/protobuf/proto"

	"github.com/kontiki-raft/kontiki/actors"
	pb "github.com/kontiki-raft/kontiki/messages"
)

// Headers of the snapshot stream.
const (
	HeaderOffset   = "Kontiki-Offset"
	HeaderSnapshot = "Kontiki-Snapshot"
	HeaderSize     = "Kontiki-Size"
	HeaderSha256   = "Kontiki-Sha256"
)

const (
	snapshotSaveWindow  = 8
	snapshotSaveTimeout = 30 * time.Second
)

func (s *Service) snapshotSave(req micro.Request, _ string) {
	if req.Reply() == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), snapshotSaveTimeout)
	defer cancel()
	if _, err := s.cfg.Node.Read(ctx, actors.ReadLinearizable); err != nil {
		s.respondError(req, classify(err, 0))
		return
	}
	index, image, err := s.cfg.Store.SnapshotAt()
	if err != nil {
		s.respondError(req, newError(500, "snapshot: "+err.Error()))
		return
	}
	st, err := s.cfg.Node.Status(ctx)
	if err != nil {
		s.respondError(req, classify(err, 0))
		return
	}
	file, err := proto.Marshal(&pb.Snapshot{Data: image, Metadata: &pb.SnapshotMetadata{Index: index, Term: st.Term}})
	if err != nil {
		s.respondError(req, newError(500, err.Error()))
		return
	}
	sum := sha256.Sum256(file)
	s.streamFile(ctx, req.Reply(), file, hex.EncodeToString(sum[:]))
}

// streamFile sends file in acknowledged chunks, at most a window ahead.
func (s *Service) streamFile(ctx context.Context, inbox string, file []byte, sha string) {
	nc := s.cfg.NC
	chunk := int(nc.MaxPayload()) - batchOverhead
	acks := make(chan struct{}, snapshotSaveWindow+1)
	ackInbox := nc.NewInbox()
	sub, err := nc.Subscribe(ackInbox, func(*nats.Msg) {
		select {
		case acks <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return
	}
	defer func() { _ = sub.Unsubscribe() }()
	unacked := 0
	for offset := 0; ; {
		end := min(offset+chunk, len(file))
		msg := &nats.Msg{Subject: inbox, Reply: ackInbox, Data: file[offset:end], Header: nats.Header{
			HeaderOffset: []string{strconv.Itoa(offset)}, HeaderSize: []string{strconv.Itoa(len(file))},
		}}
		last := end == len(file)
		if last {
			msg.Header.Set(HeaderSnapshot, "end")
			msg.Header.Set(HeaderSha256, sha)
		}
		for unacked >= snapshotSaveWindow {
			select {
			case <-acks:
				unacked--
			case <-ctx.Done():
				return
			}
		}
		if nc.PublishMsg(msg) != nil {
			return
		}
		unacked++
		if last {
			return
		}
		offset = end
	}
}
