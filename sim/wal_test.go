// The real write-ahead log on simulated disks: crashes that keep, drop or
// tear the unsynced writes, bits flipped in a minority of durable logs, and
// the wrong disk whose fsync persists nothing.
package sim

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

var flagWALSeeds = flag.Int("walseeds", 600, "how many seeds TestSimulationWAL runs")

// Every node runs the real WAL (raft/wal) on a simulated disk: at each
// crash the seed decides whether the unsynced writes survive (process
// crash), vanish (power loss) or tear (a random size, 512-byte sectors
// landed or not), and a minority of nodes may get a bit flipped in what
// they had fsynced. The invariants hold after every step, every
// acknowledged proposal ends applied on every node that can start, and a
// node whose log has a flipped bit never starts again (its wal.Open fails
// with wal.ErrCorrupt).
func TestSimulationWAL(t *testing.T) {
	if *flagSeed != 0 {
		o := RunOptions{WAL: true, FlipBits: true}
		if *flagTrace != "" {
			f, err := os.Create(*flagTrace)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			o.Trace = f
		}
		r := Run(*flagSeed, o)
		t.Logf("seed %d (WAL): %d nodes, %d deliveries, %+v", r.Seed, r.Nodes, r.Deliveries, r.Stats)
		if r.Failure != nil {
			t.Fatal(r.Failure)
		}
		return
	}
	var mu sync.Mutex
	var total Stats
	seeds := 0
	start := time.Now()
	t.Run("seeds", func(t *testing.T) {
		for k := uint64(0); k < shards; k++ {
			t.Run(fmt.Sprintf("shard%d", k), func(t *testing.T) {
				t.Parallel()
				w := NewWorld()
				failures := 0
				for seed := *flagFirst + k; seed < *flagFirst+uint64(*flagWALSeeds); seed += shards {
					r := RunIn(w, seed, RunOptions{WAL: true, FlipBits: true})
					mu.Lock()
					total.add(r.Stats)
					seeds++
					mu.Unlock()
					if r.Failure != nil {
						t.Error(r.Failure)
						if failures++; failures == 3 {
							return
						}
					}
				}
			})
		}
	})
	t.Logf("%d WAL seeds in %v: %+v", seeds, time.Since(start).Round(time.Millisecond), total)
	if !t.Failed() && (total.BitFlips == 0 || total.Corrupted != total.BitFlips || total.TornTails == 0 || total.DiskCrashes[crashTear] == 0) {
		t.Errorf("the seeds did not exercise the disk: %+v (every flip must leave a node that refuses to start)", total)
	}
}

// The wrong disk: fsync reports success and persists nothing, so a power
// loss takes acknowledged writes with it. With the store audit off, only the
// protocol invariants and the acknowledged-proposal check can notice; they
// must within a few hundred seeds, and the same seeds must pass on the
// honest disk.
func TestBrokenSyncDiskIsCaught(t *testing.T) {
	const budget = 200
	w := NewWorld()
	var caught []*Failure
	tried := 0
	for seed := uint64(1); seed <= budget && len(caught) < 3; seed++ {
		tried++
		if r := RunIn(w, seed, RunOptions{WAL: true, BrokenSync: true, NoStoreAudit: true}); r.Failure != nil {
			caught = append(caught, r.Failure)
		}
	}
	if len(caught) == 0 {
		t.Fatalf("a disk whose fsync persists nothing went unnoticed for %d seeds", budget)
	}
	safety := false
	for _, f := range caught {
		t.Logf("caught by seed %d (%d nodes): %s", f.Seed, f.Nodes, f.Msg)
		if r := RunIn(w, f.Seed, RunOptions{WAL: true}); r.Failure != nil {
			t.Fatalf("seed %d fails on the honest disk too:\n%v", f.Seed, r.Failure)
		}
		// A node whose never-synced files are empty refuses to start, so
		// the broken disk can also show as lost liveness; at least one
		// catch must be a broken invariant or a lost acknowledged write.
		safety = safety || !strings.HasPrefix(f.Msg, "liveness")
	}
	if !safety {
		t.Fatal("the broken disk was only caught by liveness, never by a safety check")
	}
	t.Logf("%d of the first %d seeds caught the broken disk; they pass on the honest one", len(caught), tried)
}

// WAL mode replays exactly too: the same delivery trace, byte for byte, in
// a fresh World and in one that ran another seed.
func TestReplayWALIsByteIdentical(t *testing.T) {
	w := NewWorld()
	for _, seed := range walReplaySeeds {
		o := func(b *bytes.Buffer) RunOptions { return RunOptions{WAL: true, FlipBits: true, Trace: b} }
		var fresh, again bytes.Buffer
		r1 := Run(seed, o(&fresh))
		RunIn(w, seed+1, RunOptions{WAL: true, FlipBits: true})
		r2 := RunIn(w, seed, o(&again))
		for _, r := range []*Result{r1, r2} {
			if r.Failure != nil {
				t.Fatal(r.Failure)
			}
		}
		if !bytes.Equal(fresh.Bytes(), again.Bytes()) || r1.TraceHash != r2.TraceHash {
			t.Fatalf("seed %d: WAL traces differ (%d, %d bytes)", seed, fresh.Len(), again.Len())
		}
		t.Logf("seed %d (%d nodes, %+v): %d deliveries, sha256 %x, twice", seed, r1.Nodes, r1.Stats, r1.Deliveries, r1.TraceHash[:8])
	}
}

var walReplaySeeds = []uint64{53, 85, 329}
