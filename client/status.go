// This file owns MemberStatus, the admin.status reply every member sends (the
// JSON's source of truth), and Status, the scatter-gather that collects them.
package client

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
)

// Roles a member reports in MemberStatus.Role.
const (
	RoleFollower     = "follower"
	RolePreCandidate = "pre-candidate"
	RoleCandidate    = "candidate"
	RoleLeader       = "leader"
)

// MemberStatus is one member's answer on kontiki.<c>.admin.status.
type MemberStatus struct {
	ID        uint64 `json:"id"`
	Role      string `json:"role"`
	Term      uint64 `json:"term"`
	Leader    uint64 `json:"leader"` // 0 when unknown
	Commit    uint64 `json:"commit"`
	Applied   uint64 `json:"applied"`
	LastIndex uint64 `json:"last_index"`
	Durable   bool   `json:"durable"`
	// SnapshotsInstalled counts snapshots received from a leader since
	// the member started.
	SnapshotsInstalled uint64 `json:"snapshots_installed,omitempty"`
	// Progress is the leader's view of each peer, keyed by peer id (a
	// decimal string in JSON); empty on other members.
	Progress map[uint64]PeerProgress `json:"progress,omitempty"`
}

// PeerProgress is the leader's replication state of one peer.
type PeerProgress struct {
	Match uint64 `json:"match"`
	Next  uint64 `json:"next"`
	State string `json:"state"` // "probe", "replicate" or "snapshot"
}

// Status asks every member for its status (no queue group: each member
// answers) and returns the answers sorted by id. It waits up to
// Options.Timeout for the first answer, then until no answer came for
// Options.StatusQuiet, until every member the leader knows has answered, or
// until ctx is done.
func (c *Client) Status(ctx context.Context) ([]MemberStatus, error) {
	inbox := c.nc.NewInbox()
	sub, err := c.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	subject := c.subj.status()
	if err := c.nc.PublishRequest(subject, inbox, nil); err != nil {
		return nil, err
	}
	byID := map[uint64]MemberStatus{}
	var firstErr error
	deadline := time.Now().Add(c.opts.Timeout)
	for !complete(byID) {
		wctx, cancel := context.WithDeadline(ctx, deadline)
		m, err := sub.NextMsgWithContext(wctx)
		cancel()
		if errors.Is(err, nats.ErrNoResponders) {
			return nil, fmt.Errorf("%w on %s", ErrNoResponders, subject)
		}
		if err != nil {
			if len(byID) == 0 && ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, ctx.Err()
			}
			break // quiet period over, timeout or ctx done
		}
		deadline = time.Now().Add(c.opts.StatusQuiet)
		if err := replyError(m); err != nil {
			firstErr = orFirst(firstErr, err)
			continue
		}
		var st MemberStatus
		if err := json.Unmarshal(m.Data, &st); err != nil {
			firstErr = orFirst(firstErr, fmt.Errorf("kontiki: bad status reply: %w", err))
			continue
		}
		byID[st.ID] = st
		if st.Role == RoleLeader {
			c.leader.Store(st.ID)
		}
	}
	if len(byID) == 0 {
		if firstErr != nil {
			return nil, firstErr
		}
		return nil, fmt.Errorf("%w: no status reply on %s", ErrTimeout, subject)
	}
	out := make([]MemberStatus, 0, len(byID))
	for _, st := range byID {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b MemberStatus) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// complete reports whether a leader answered and every member in its progress
// has answered too.
func complete(byID map[uint64]MemberStatus) bool {
	for _, st := range byID {
		if st.Role != RoleLeader || len(st.Progress) == 0 {
			continue
		}
		for id := range st.Progress {
			if _, ok := byID[id]; !ok {
				return false
			}
		}
		return true
	}
	return false
}

func orFirst(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
