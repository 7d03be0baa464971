package history

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/kontiki-raft/kontiki/client"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		err   error
		class attemptClass
	}{
		{nil, settled},
		{&client.ConflictError{Revision: 4}, settled},
		{&client.Error{Code: 404}, settled},
		{&client.Error{Code: 400}, settled},
		{&client.Error{Code: 413}, settled},
		{&client.Error{Code: 503}, noEffect},
		{&client.Error{Code: 429}, noEffect},
		{fmt.Errorf("%w on kontiki.kontiki.kv.put.a", client.ErrNoResponders), noEffect},
		{&client.Error{Code: 504}, maybe},
		{&client.Error{Code: 500}, maybe},
		{fmt.Errorf("%w: no reply", client.ErrTimeout), maybe},
		{nats.ErrConnectionClosed, maybe},
		{context.Canceled, maybe},
		{errors.New("something else"), maybe},
	}
	for _, tc := range cases {
		if got := classify(tc.err); got != tc.class {
			t.Errorf("classify(%v) = %d, want %d", tc.err, got, tc.class)
		}
	}
	if s := settledStatus(&client.ConflictError{Revision: 4}); s != StatusConflict {
		t.Errorf("409 → %s", s)
	}
	if rev := conflictRevision(fmt.Errorf("wrapped: %w", &client.ConflictError{Revision: 4})); rev != 4 {
		t.Errorf("conflict revision %d", rev)
	}
	if s := settledStatus(&client.Error{Code: 400}); s != StatusFailed {
		t.Errorf("400 → %s", s)
	}
}
