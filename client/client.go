// This file owns the Client value and its knowledge of the current leader.
package client

import (
	"crypto/rand"
	"log/slog"
	"strconv"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// Client talks to one Kontiki cluster over a NATS connection. It is safe for
// concurrent use. The connection stays the caller's: Client never closes it.
type Client struct {
	nc     *nats.Conn
	opts   Options
	subj   subjects
	log    *slog.Logger
	leader atomic.Uint64 // the leader's id as last heard; 0 = unknown
	batch  batcher
}

// New returns a client of the cluster opts.Cluster over nc.
func New(nc *nats.Conn, opts Options) *Client {
	opts = opts.withDefaults()
	return &Client{nc: nc, opts: opts, subj: newSubjects(opts.Cluster), log: opts.Logger}
}

// Leader returns the id of the leader as last named by a reply, 0 when
// unknown. Writes and leader-served reads go to its member subject.
func (c *Client) Leader() uint64 { return c.leader.Load() }

// learnLeader remembers the leader a reply names in Kontiki-Leader.
func (c *Client) learnLeader(m *nats.Msg) {
	if m.Header == nil {
		return
	}
	id, err := strconv.ParseUint(m.Header.Get(HeaderLeader), 10, 64)
	if err != nil || id == 0 {
		return
	}
	if old := c.leader.Swap(id); old != id {
		c.log.Debug("kontiki: leader learned", "leader", id, "previous", old)
	}
}

// forgetLeader drops the remembered leader if it is still id.
func (c *Client) forgetLeader(id uint64) {
	if id != 0 && c.leader.CompareAndSwap(id, 0) {
		c.log.Debug("kontiki: leader forgotten", "leader", id)
	}
}

// maxValue is the largest value a member accepts on this connection.
func (c *Client) maxValue() int64 { return c.nc.MaxPayload() - ValueRoom }

// newRequestID returns a random id for one logical write.
func newRequestID() string { return rand.Text() }
