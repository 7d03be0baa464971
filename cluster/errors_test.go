package cluster

import (
	"fmt"
	"testing"

	"github.com/kontiki-raft/kontiki/actors"
	"github.com/kontiki-raft/kontiki/raft"
)

// The codes DESIGN.md §3 promises for the node's refusals: 429 and 503 mean
// "not proposed, no effect", 504 "outcome unknown".
func TestClassifyMapsRefusalsToTheirCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("persist: %w", actors.ErrNoSpace), 503},
		{raft.ErrUncommittedLogFull, 429},
		{&actors.NotLeaderError{Leader: 2}, 503},
		{actors.ErrStopped, 503},
		{actors.ErrLeadershipLost, 504},
		{actors.ErrTimeout, 504},
	} {
		if got := classify(c.err, 0); got.code != c.code {
			t.Errorf("classify(%v) = %d %s, want %d", c.err, got.code, got.message, c.code)
		}
	}
}
