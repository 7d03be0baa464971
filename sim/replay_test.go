// Determinism: a seed's delivery trace is the same, byte for byte, every run.
package sim

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

// A seed replays exactly: the same delivery trace, byte for byte, in a fresh
// World and in one that already ran other seeds. The seeds cover 3, 5 and 7
// nodes with crashes, injected panics, partitions and snapshots.
func TestReplayIsByteIdentical(t *testing.T) {
	w := NewWorld()
	for _, seed := range replaySeeds {
		var fresh, again, later bytes.Buffer
		r1 := Run(seed, RunOptions{Trace: &fresh})
		r2 := RunIn(w, seed, RunOptions{Trace: &again})
		RunIn(w, seed+1, RunOptions{})
		r3 := RunIn(w, seed, RunOptions{Trace: &later})
		for _, r := range []*Result{r1, r2, r3} {
			if r.Failure != nil {
				t.Fatal(r.Failure)
			}
		}
		if !bytes.Equal(fresh.Bytes(), again.Bytes()) || !bytes.Equal(fresh.Bytes(), later.Bytes()) {
			t.Fatalf("seed %d: traces differ (%d, %d, %d bytes)", seed, fresh.Len(), again.Len(), later.Len())
		}
		if sum := sha256.Sum256(fresh.Bytes()); sum != r1.TraceHash || r1.TraceHash != r2.TraceHash || r2.TraceHash != r3.TraceHash {
			t.Fatalf("seed %d: trace hashes differ", seed)
		}
		t.Logf("seed %d (%d nodes, %+v): %d deliveries, %d trace bytes, sha256 %x, three times",
			seed, r1.Nodes, r1.Stats, r1.Deliveries, fresh.Len(), r1.TraceHash[:8])
	}
}

// replaySeeds: 3, 5 and 7 nodes, each with crashes, panics, partitions, cuts
// and snapshots.
var replaySeeds = []uint64{53, 85, 329}
