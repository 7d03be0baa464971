// This file owns Propose: a raw state-machine command through the log.
package client

import "context"

// Propose sends cmd through the raft log to the state machine and returns the
// state machine's raw result. It goes to the leader. It is retried only when
// the member says it was not proposed (429, 503) or nobody answered the
// subject: a state machine we know nothing of cannot drop a duplicate, so a
// timeout or 504 (outcome unknown) is returned to the caller to decide.
func (c *Client) Propose(ctx context.Context, cmd []byte, opts ...ProposeOption) ([]byte, error) {
	var cfg writeConfig
	for _, o := range opts {
		o.applyPropose(&cfg)
	}
	cfg.fillRequestID()
	msg, err := c.do(ctx, request{op: "propose", endpoint: "propose", data: cmd, header: cfg.header(), toLeader: true, atMostOnce: true})
	if err != nil {
		return nil, err
	}
	return msg.Data, nil
}
