// The deliberately wrong build: proof that the simulation can fail.
package sim

import (
	"testing"
)

// The deliberately wrong build: a LogStore that acknowledges Save(sync=true)
// having synced only the writes before it, so a crash loses the last
// acknowledged write (an fsync acknowledged too early). With the store audit
// off, only the protocol invariants and the acknowledged-proposal check can
// notice; the simulation must fail within a few hundred seeds, and the same
// seeds must pass with the real store. This is what shows the tests can fail.
func TestLyingStoreIsCaught(t *testing.T) {
	const budget = 300
	w := NewWorld()
	var caught []*Failure
	tried := 0
	for seed := uint64(1); seed <= budget && len(caught) < 3; seed++ {
		tried++
		if r := RunIn(w, seed, RunOptions{LyingStore: true, NoStoreAudit: true}); r.Failure != nil {
			caught = append(caught, r.Failure)
		}
	}
	if len(caught) == 0 {
		t.Fatalf("a store that acknowledges syncs too early went unnoticed for %d seeds", budget)
	}
	for _, f := range caught {
		t.Logf("caught by seed %d (%d nodes): %s", f.Seed, f.Nodes, f.Msg)
		if r := RunIn(w, f.Seed, RunOptions{}); r.Failure != nil {
			t.Fatalf("seed %d fails with the real store too:\n%v", f.Seed, r.Failure)
		}
	}
	t.Logf("%d of the first %d seeds caught the wrong store; they pass with the real one", len(caught), tried)
}

// With the store audit on, the simulation also says what the store lost.
func TestStoreAuditCatchesLyingStore(t *testing.T) {
	w := NewWorld()
	for seed := uint64(1); seed <= 300; seed++ {
		if r := RunIn(w, seed, RunOptions{LyingStore: true}); r.Failure != nil {
			t.Logf("caught by seed %d: %s", seed, r.Failure.Msg)
			return
		}
	}
	t.Fatal("the store audit never noticed a store that acknowledges syncs too early")
}
