// TestSimulation: the seeds CI runs (-seeds, -firstseed), or one seed to
// replay a failure exactly (-seed, -simtrace for its whole trace).
package sim

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	flagSeed  = flag.Uint64("seed", 0, "simulate only this seed (replays a failure exactly)")
	flagSeeds = flag.Int("seeds", 2000, "how many seeds TestSimulation runs")
	flagFirst = flag.Uint64("firstseed", 1, "the first seed TestSimulation runs")
	flagTrace = flag.String("simtrace", "", "with -seed: write the whole delivery trace to this file")
)

// shards of seeds run in parallel; each seed is independent.
const shards = 8

func TestSimulation(t *testing.T) {
	if *flagSeed != 0 {
		o := RunOptions{}
		if *flagTrace != "" {
			f, err := os.Create(*flagTrace)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			o.Trace = f
		}
		start := time.Now()
		r := Run(*flagSeed, o)
		t.Logf("seed %d: %d nodes, %d deliveries, %v virtual, %+v, trace %x, %v",
			r.Seed, r.Nodes, r.Deliveries, r.VirtualTime, r.Stats, r.TraceHash[:8], time.Since(start))
		if r.Failure != nil {
			t.Fatal(r.Failure)
		}
		return
	}
	var deliveries, seeds atomic.Uint64
	var perNodes sync.Map
	var mu sync.Mutex
	var total Stats
	start := time.Now()
	t.Run("seeds", func(t *testing.T) {
		for k := uint64(0); k < shards; k++ {
			t.Run(fmt.Sprintf("shard%d", k), func(t *testing.T) {
				t.Parallel()
				failures := 0
				w := NewWorld()
				for seed := *flagFirst + k; seed < *flagFirst+uint64(*flagSeeds); seed += shards {
					r := RunIn(w, seed, RunOptions{})
					deliveries.Add(r.Deliveries)
					mu.Lock()
					total.add(r.Stats)
					mu.Unlock()
					seeds.Add(1)
					n, _ := perNodes.LoadOrStore(r.Nodes, new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
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
	el := time.Since(start)
	counts := map[int]int64{}
	perNodes.Range(func(k, v any) bool { counts[k.(int)] = v.(*atomic.Int64).Load(); return true })
	t.Logf("%d seeds (3 nodes: %d, 5: %d, 7: %d) in %v: %.0f seeds/s, %d deliveries, %.0f deliveries/s",
		seeds.Load(), counts[3], counts[5], counts[7], el.Round(time.Millisecond),
		float64(seeds.Load())/el.Seconds(), deliveries.Load(), float64(deliveries.Load())/el.Seconds())
	t.Logf("faults and outcomes: %+v", total)
}
