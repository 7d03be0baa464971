// This file owns Propose: a raw state-machine command through the log.
package client

import "context"

// Propose sends cmd through the raft log to the state machine and returns the
// state machine's raw result. Like every write it goes to the leader and its
// retries reuse one Kontiki-Request-Id.
func (c *Client) Propose(ctx context.Context, cmd []byte, opts ...ProposeOption) ([]byte, error) {
	var cfg writeConfig
	for _, o := range opts {
		o.applyPropose(&cfg)
	}
	msg, err := c.do(ctx, request{op: "propose", endpoint: "propose", data: cmd, header: cfg.header(), toLeader: true})
	if err != nil {
		return nil, err
	}
	return msg.Data, nil
}
