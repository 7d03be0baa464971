// The delivery trace: one line per delivered message (and per fault or lost
// message), rendered without protobuf String() and without anything random
// (no system ids, no addresses), so one seed gives the same bytes every run.
// The trace is hashed as it grows; its last lines are kept for failure
// reports; the whole of it can be streamed to a writer.
package sim

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"reflect"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/kontiki-raft/kontiki/actors"
	pb "github.com/kontiki-raft/kontiki/messages"
)

const traceTail = 120

type trace struct {
	h    hash.Hash
	buf  []byte
	tail [traceTail][]byte
	pos  int
	n    uint64
	full io.Writer
	// names caches Go type names (per trace: parallel simulations share
	// nothing).
	names map[reflect.Type]string
}

func newTrace(full io.Writer) *trace {
	return &trace{h: sha256.New(), full: full, names: map[reflect.Type]string{}}
}

// deliver records that msg was handed to actor `to`.
func (t *trace) deliver(s *Sim, to string, msg any) {
	b := t.begin(s)
	b = append(b, to...)
	b = append(b, " <- "...)
	b = t.appendMsg(b, msg)
	t.end(b)
}

// note records something that happened to a message: lost, dropped, cut...
func (t *trace) note(s *Sim, what, who string, msg any) {
	b := t.begin(s)
	b = append(b, what...)
	b = append(b, ' ')
	b = append(b, who...)
	b = append(b, ' ')
	b = t.appendMsg(b, msg)
	t.end(b)
}

// event records a fault or a phase change.
func (t *trace) event(s *Sim, format string, args ...any) {
	b := t.begin(s)
	b = append(b, "** "...)
	b = fmt.Appendf(b, format, args...)
	t.end(b)
}

func (t *trace) begin(s *Sim) []byte {
	b := t.buf[:0]
	b = strconv.AppendUint(b, s.steps, 10)
	b = append(b, ' ')
	b = appendTime(b, s.clock.now)
	b = append(b, ' ')
	return b
}

func (t *trace) end(b []byte) {
	b = append(b, '\n')
	t.buf = b
	t.n++
	t.h.Write(b)
	t.tail[t.pos] = append(t.tail[t.pos][:0], b...)
	t.pos = (t.pos + 1) % traceTail
	if t.full != nil {
		_, _ = t.full.Write(b)
	}
}

// sum is the hash of the whole trace so far.
func (t *trace) sum() [32]byte {
	var out [32]byte
	copy(out[:], t.h.Sum(nil))
	return out
}

// last returns up to n of the most recent lines, oldest first.
func (t *trace) last(n int) []string {
	n = min(n, traceTail, int(t.n))
	out := make([]string, 0, n)
	for i := n; i > 0; i-- {
		line := t.tail[(t.pos-i+traceTail)%traceTail]
		out = append(out, string(line[:len(line)-1]))
	}
	return out
}

// appendTime renders virtual time as seconds with microseconds.
func appendTime(b []byte, d time.Duration) []byte {
	us := d.Microseconds()
	b = strconv.AppendInt(b, us/1e6, 10)
	b = append(b, '.')
	frac := us % 1e6
	for p := int64(100000); p > 0; p /= 10 {
		b = append(b, byte('0'+frac/p%10))
	}
	return append(b, 's')
}

var msgTypeNames = map[pb.MessageType]string{
	pb.MessageType_MSG_HUP: "Hup", pb.MessageType_MSG_BEAT: "Beat", pb.MessageType_MSG_PROP: "Prop",
	pb.MessageType_MSG_APP: "App", pb.MessageType_MSG_APP_RESP: "AppResp",
	pb.MessageType_MSG_VOTE: "Vote", pb.MessageType_MSG_VOTE_RESP: "VoteResp",
	pb.MessageType_MSG_SNAP: "Snap", pb.MessageType_MSG_HEARTBEAT: "Heartbeat",
	pb.MessageType_MSG_HEARTBEAT_RESP: "HeartbeatResp", pb.MessageType_MSG_UNREACHABLE: "Unreachable",
	pb.MessageType_MSG_SNAP_STATUS: "SnapStatus", pb.MessageType_MSG_CHECK_QUORUM: "CheckQuorum",
	pb.MessageType_MSG_TRANSFER_LEADER: "TransferLeader", pb.MessageType_MSG_TIMEOUT_NOW: "TimeoutNow",
	pb.MessageType_MSG_READ_INDEX: "ReadIndex", pb.MessageType_MSG_READ_INDEX_RESP: "ReadIndexResp",
	pb.MessageType_MSG_PRE_VOTE: "PreVote", pb.MessageType_MSG_PRE_VOTE_RESP: "PreVoteResp",
}

func msgTypeName(t pb.MessageType) string {
	if s, ok := msgTypeNames[t]; ok {
		return s
	}
	return "Type" + strconv.Itoa(int(t))
}

func appendU(b []byte, key string, v uint64) []byte {
	b = append(b, ' ')
	b = append(b, key...)
	return strconv.AppendUint(b, v, 10)
}

// appendMsg renders a message: our own fields for the messages we know, the
// Go type name for the rest.
func (t *trace) appendMsg(b []byte, msg any) []byte {
	if env, ok := msg.(*actor.MessageEnvelope); ok {
		if env.Sender != nil {
			b = append(b, '[')
			b = append(b, env.Sender.Id...)
			b = append(b, "] "...)
		}
		msg = env.Message
	}
	switch m := msg.(type) {
	case *pb.Message:
		b = append(b, msgTypeName(m.Type)...)
		b = appendU(b, "", m.From)
		b = append(b, "->"...)
		b = strconv.AppendUint(b, m.To, 10)
		b = appendU(b, "t", m.Term)
		b = appendU(b, "i", m.Index)
		b = appendU(b, "lt", m.LogTerm)
		b = appendU(b, "c", m.Commit)
		if len(m.Entries) > 0 {
			b = appendU(b, "n", uint64(len(m.Entries)))
		}
		if m.Reject {
			b = appendU(b, "rej", m.RejectHint)
		}
		if m.Snapshot != nil && m.Snapshot.Metadata != nil {
			b = appendU(b, "snap", m.Snapshot.Metadata.Index)
		}
	case *actors.Propose:
		b = append(b, "Propose"...)
		b = appendU(b, "id", m.ID)
	case *actors.ProposeResult:
		b = append(b, "ProposeResult"...)
		b = appendU(b, "id", m.ID)
		b = appendU(b, "idx", m.Index)
		if m.Err != nil {
			b = append(b, " err="...)
			b = append(b, errName(m.Err)...)
		}
	case *actor.Terminated:
		b = append(b, "Terminated "...)
		if m.Who != nil {
			b = append(b, m.Who.Id...)
		}
	case *actor.Failure:
		b = append(b, "Failure "...)
		if m.Who != nil {
			b = append(b, m.Who.Id...)
		}
		b = fmt.Appendf(b, " %v", m.Reason)
	case clientTimeout:
		b = append(b, "clientTimeout"...)
		b = appendU(b, "id", m.id)
	default:
		b = append(b, t.typeName(msg)...)
	}
	return b
}

func errName(err error) string {
	var nl *actors.NotLeaderError
	if errors.As(err, &nl) {
		return "NotLeader(" + strconv.FormatUint(nl.Leader, 10) + ")"
	}
	return err.Error()
}

func (t *trace) typeName(v any) string {
	rt := reflect.TypeOf(v)
	if rt == nil {
		return "<nil>"
	}
	if s, ok := t.names[rt]; ok {
		return s
	}
	s := rt.String()
	t.names[rt] = s
	return s
}
