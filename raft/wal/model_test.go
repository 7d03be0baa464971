// Random histories against a model: whatever mix of appends, conflict
// rewrites, hard states, local and installed snapshots, compactions, segment
// rolls and restarts, Open returns what a plain in-memory log says.
package wal

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/kontiki-raft/kontiki/messages"
)

type logModel struct {
	hs      hardState
	snap    logPos
	ents    []*messages.Entry // entries after snap
	curTerm uint64
}

func (m *logModel) last() uint64 { return m.snap.Index + uint64(len(m.ents)) }

func (m *logModel) term(i uint64) uint64 {
	if i == m.snap.Index {
		return m.snap.Term
	}
	return m.ents[i-m.snap.Index-1].Term
}

func TestRandomHistoriesReplayLikeTheModel(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { runRandomHistory(t, seed) })
	}
}

func runRandomHistory(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x6b6f6e74))
	dir := t.TempDir()
	opts := Options{SegmentBytes: int64(300 + rng.IntN(3000)), NoSync: true}
	w, _ := openT(t, dir, opts)
	defer func() { w.Close() }()
	m := &logModel{curTerm: 1}
	var snapData = map[logPos]string{}

	for op := 0; op < 400; op++ {
		switch r := rng.IntN(100); {
		case r < 55: // append, sometimes rewriting an uncommitted tail
			lo := max(m.snap.Index, m.hs.Commit) + 1
			first := m.last() + 1
			if rng.IntN(4) == 0 && first > lo {
				first = lo + uint64(rng.IntN(int(first-lo)))
				m.curTerm++
			}
			n := uint64(1 + rng.IntN(6))
			ents := mkEnts(first, n, m.curTerm, rng.IntN(300))
			var h *messages.HardState
			if rng.IntN(2) == 0 {
				m.hs = hardState{Term: m.curTerm, Vote: uint64(rng.IntN(3)), Commit: m.hs.Commit}
				h = &messages.HardState{Term: m.hs.Term, Vote: m.hs.Vote, Commit: m.hs.Commit}
			}
			if err := w.Save(h, ents, rng.IntN(2) == 0); err != nil {
				t.Fatalf("seed %d op %d: Save %s: %v", seed, op, span(ents), err)
			}
			m.ents = append(m.ents[:first-m.snap.Index-1], ents...)
		case r < 70: // commit moves
			if m.last() > m.hs.Commit {
				m.hs.Commit += uint64(1 + rng.IntN(int(m.last()-m.hs.Commit)))
				if err := w.Save(&messages.HardState{Term: m.hs.Term, Vote: m.hs.Vote, Commit: m.hs.Commit}, nil, true); err != nil {
					t.Fatalf("seed %d op %d: %v", seed, op, err)
				}
			}
		case r < 78: // local snapshot of committed state
			if m.hs.Commit > m.snap.Index {
				i := m.snap.Index + 1 + uint64(rng.IntN(int(m.hs.Commit-m.snap.Index)))
				s := logPos{Index: i, Term: m.term(i)}
				snapData[s] = fmt.Sprint("local ", i)
				if err := w.SaveSnapshot(mkSnap(s.Index, s.Term, snapData[s])); err != nil {
					t.Fatalf("seed %d op %d: SaveSnapshot %v: %v", seed, op, s, err)
				}
				m.ents = m.ents[i-m.snap.Index:]
				m.snap = s
			}
		case r < 81: // a snapshot installed from a leader of a newer term
			m.curTerm++
			s := logPos{Index: max(m.snap.Index, m.hs.Commit) + uint64(1+rng.IntN(40)), Term: m.curTerm}
			snapData[s] = fmt.Sprint("installed ", s.Index)
			if err := w.SaveSnapshot(mkSnap(s.Index, s.Term, snapData[s])); err != nil {
				t.Fatalf("seed %d op %d: SaveSnapshot %v: %v", seed, op, s, err)
			}
			m.snap, m.ents = s, nil
			m.hs.Commit = max(m.hs.Commit, s.Index)
			m.hs.Term = max(m.hs.Term, s.Term)
			if err := w.Save(&messages.HardState{Term: m.hs.Term, Vote: m.hs.Vote, Commit: m.hs.Commit}, nil, true); err != nil {
				t.Fatalf("seed %d op %d: %v", seed, op, err)
			}
		case r < 90: // compact up to the snapshot
			if m.snap.Index > 0 {
				if err := w.Compact(uint64(rng.IntN(int(m.snap.Index))) + 1); err != nil {
					t.Fatalf("seed %d op %d: Compact: %v", seed, op, err)
				}
			}
		default: // restart
			var st *State
			w, st = reopenT(t, w, dir, opts)
			checkModel(t, seed, op, m, st, snapData)
		}
	}
	var st *State
	w, st = reopenT(t, w, dir, opts)
	checkModel(t, seed, -1, m, st, snapData)
	t.Logf("segments left %d, snapshot %+v, entries %s, %d snapshots", len(segmentPaths(t, dir)), m.snap, span(m.ents), len(snapData))
}

func checkModel(t *testing.T, seed uint64, op int, m *logModel, st *State, snapData map[logPos]string) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d op %d: %s", seed, op, fmt.Sprintf(format, args...))
	}
	if got := (hardState{st.HardState.Term, st.HardState.Vote, st.HardState.Commit}); got != m.hs {
		fail("hard state %+v, want %+v", got, m.hs)
	}
	if m.snap.Index == 0 {
		if st.Snapshot != nil {
			fail("snapshot %v, want none", st.Snapshot.Metadata)
		}
	} else {
		checkSnap(t, st.Snapshot, mkSnap(m.snap.Index, m.snap.Term, snapData[m.snap]))
	}
	if len(st.Entries) != len(m.ents) {
		fail("entries %s, want %s", span(st.Entries), span(m.ents))
	}
	for i, e := range st.Entries {
		want := m.ents[i]
		if e.Index != want.Index || e.Term != want.Term || string(e.Data) != string(want.Data) {
			fail("entry %d: index %d term %d, want index %d term %d", i, e.Index, e.Term, want.Index, want.Term)
		}
	}
}
