// Node is a handle for Go callers: request/response over the node actor with
// context deadlines, so embedding takes a few lines.
package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// ErrTimeout: no answer before the context's deadline; the outcome of a write
// is unknown.
var ErrTimeout = errors.New("actors: request timed out")

// DefaultRequestTimeout applies when a context has no deadline.
const DefaultRequestTimeout = 5 * time.Second

type Node struct {
	root *actor.RootContext
	pid  *actor.PID
}

// NewNode wraps a spawned node actor.
func NewNode(root *actor.RootContext, pid *actor.PID) *Node { return &Node{root: root, pid: pid} }

// PID of the node actor.
func (n *Node) PID() *actor.PID { return n.pid }

func (n *Node) request(ctx context.Context, msg any) (any, error) {
	timeout := DefaultRequestTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return nil, ErrTimeout
		}
	}
	res, err := n.root.RequestFuture(n.pid, msg, timeout).Result()
	if err != nil {
		if errors.Is(err, actor.ErrTimeout) {
			return nil, ErrTimeout
		}
		return nil, err
	}
	return res, nil
}

// Propose replicates data and returns the StateMachine's result for it.
func (n *Node) Propose(ctx context.Context, data []byte) (*ProposeResult, error) {
	res, err := n.request(ctx, &Propose{Data: data})
	if err != nil {
		return nil, err
	}
	pr, ok := res.(*ProposeResult)
	if !ok {
		return nil, fmt.Errorf("actors: unexpected reply %T", res)
	}
	return pr, pr.Err
}

// ProposeAsync proposes data without waiting: done receives the result on
// the node's or the applier's goroutine and must not block. done is not
// called if the node stops before it takes the proposal, so pair it with a
// deadline of your own.
func (n *Node) ProposeAsync(data []byte, done func(*ProposeResult)) {
	n.root.Send(n.pid, &Propose{Data: data, Done: done})
}

// Read waits until this node may serve a read of the given mode; the state
// machine has then applied at least the returned index.
func (n *Node) Read(ctx context.Context, mode ReadMode) (uint64, error) {
	res, err := n.request(ctx, &Read{Mode: mode})
	if err != nil {
		return 0, err
	}
	rr, ok := res.(*ReadResult)
	if !ok {
		return 0, fmt.Errorf("actors: unexpected reply %T", res)
	}
	return rr.Index, rr.Err
}

// Status of the node.
func (n *Node) Status(ctx context.Context) (*Status, error) {
	res, err := n.request(ctx, &GetStatus{})
	if err != nil {
		return nil, err
	}
	st, ok := res.(*Status)
	if !ok {
		return nil, fmt.Errorf("actors: unexpected reply %T", res)
	}
	return st, nil
}

// TransferLeadership asks the leader to hand over to `to` (0: the most
// caught-up voter). It returns once the transfer has started.
func (n *Node) TransferLeadership(ctx context.Context, to uint64) error {
	res, err := n.request(ctx, &TransferLeadership{To: to})
	if err != nil {
		return err
	}
	tr, ok := res.(*TransferResult)
	if !ok {
		return fmt.Errorf("actors: unexpected reply %T", res)
	}
	return tr.Err
}
