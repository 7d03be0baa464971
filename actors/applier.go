// The applier: the one actor that touches the StateMachine. Committed entries
// arrive in log order; each proposal's result goes straight to its proposer,
// and reads waiting for an applied index are released as it is reached.
package actors

import (
	"sort"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	pb "github.com/kontiki-raft/kontiki/messages"
)

type proposalWaiter struct {
	to   *actor.PID
	done func(*ProposeResult)
	id   uint64
	term uint64
}

// answer delivers res to the waiter's callback or its PID (none: nobody
// asked for an answer).
func (w proposalWaiter) answer(ctx actor.Context, res *ProposeResult) {
	switch {
	case w.done != nil:
		w.done(res)
	case w.to != nil:
		ctx.Send(w.to, res)
	}
}

// applyBatch is the committed entries of one Ready.
type applyBatch struct {
	entries []*pb.Entry
	waiters map[uint64]proposalWaiter
	// confState is the membership after these entries.
	confState *pb.ConfState
}

// restoreState replaces the state machine's state with a snapshot (nil: the
// empty state).
type restoreState struct{ snap *pb.Snapshot }

// waitApplied asks for reply to be sent to `to` once applied >= index.
type waitApplied struct {
	index uint64
	to    *actor.PID
	reply *ReadResult
}

type applier struct {
	id        uint64
	sm        StateMachine
	applied   *atomic.Uint64 // shared with the node for Status
	confState *pb.ConfState
	// reads waiting for applied to reach their index, sorted by index.
	reads    []waitApplied
	observer Observer
}

func (a *applier) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *restoreState:
		var index uint64
		var data []byte
		if m.snap != nil {
			index, data = m.snap.Metadata.Index, m.snap.Data
			a.confState = m.snap.Metadata.ConfState
		}
		if err := a.sm.Restore(index, data); err != nil {
			// A snapshot this node accepted cannot be restored: continuing
			// would serve a state that matches no replica.
			panic(err)
		}
		a.applied.Store(index)
		a.releaseReads(ctx)
	case *applyBatch:
		for _, e := range m.entries {
			if e.Index <= a.applied.Load() {
				continue // already covered by a restored snapshot
			}
			// A membership entry reaches the state machine as an empty
			// entry: its applied index then follows the log exactly, so
			// readers can wait for "applied >= read index" on it.
			data := e.Data
			if e.Type != pb.EntryType_ENTRY_NORMAL {
				data = nil
			}
			result := a.sm.Apply(e.Index, data)
			a.applied.Store(e.Index)
			if a.observer != nil {
				a.observer.ObserveApply(a.id, e)
			}
			if w, ok := m.waiters[e.Index]; ok {
				w.answer(ctx, &ProposeResult{ID: w.id, Index: e.Index, Result: result})
			}
		}
		if m.confState != nil {
			a.confState = m.confState
		}
		a.releaseReads(ctx)
	case *waitApplied:
		i := sort.Search(len(a.reads), func(i int) bool { return a.reads[i].index > m.index })
		a.reads = append(a.reads, waitApplied{})
		copy(a.reads[i+1:], a.reads[i:])
		a.reads[i] = *m
		a.releaseReads(ctx)
	case *takeSnapshot:
		ctx.Send(ctx.Parent(), a.capture(m))
	}
}

func (a *applier) releaseReads(ctx actor.Context) {
	applied := a.applied.Load()
	i := 0
	for ; i < len(a.reads) && a.reads[i].index <= applied; i++ {
		if a.reads[i].to != nil {
			ctx.Send(a.reads[i].to, a.reads[i].reply)
		}
	}
	a.reads = a.reads[i:]
}
