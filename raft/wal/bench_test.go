// Benchmarks: the cost of durability. Save with sync is bounded by the
// disk's fdatasync latency, so the figures are fsyncs (and entries) per
// second on the machine that runs them.
//
//	go test -run '^$' -bench . -benchtime 2s -count 3 ./raft/wal/
package wal

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kontiki-raft/kontiki/messages"
)

func BenchmarkSave(b *testing.B) {
	for _, c := range []struct {
		batch, size int
		sync        bool
	}{
		{1, 128, true}, {64, 128, true}, {64, 1024, true}, {1, 128, false}, {64, 1024, false},
	} {
		name := fmt.Sprintf("entries=%d/bytes=%d/sync=%v", c.batch, c.size, c.sync)
		b.Run(name, func(b *testing.B) {
			w, _ := openT(b, b.TempDir(), Options{NoSync: !c.sync, SegmentBytes: DefaultSegmentBytes})
			defer w.Close()
			ents := mkEnts(1, uint64(c.batch), 1, c.size)
			h := &messages.HardState{Term: 1, Vote: 1}
			next := uint64(1)
			b.SetBytes(int64(c.batch * c.size))
			b.ResetTimer()
			for b.Loop() {
				for i, e := range ents {
					e.Index = next + uint64(i)
				}
				h.Commit = next
				if err := w.Save(h, ents, true); err != nil {
					b.Fatal(err)
				}
				next += uint64(c.batch)
			}
			s := w.Stats()
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(s.Syncs)/sec, "fsyncs/s")
			b.ReportMetric(float64(next-1)/sec, "entries/s")
		})
	}
}

// BenchmarkGroupCommit: writers append one 128-byte entry each (ordered by a
// lock, as one raft log requires) and wait for durability concurrently;
// their Syncs share fsyncs.
func BenchmarkGroupCommit(b *testing.B) {
	for _, writers := range []int{1, 4, 16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			w, _ := openT(b, b.TempDir(), Options{SegmentBytes: DefaultSegmentBytes})
			defer w.Close()
			var (
				mu   sync.Mutex
				next = uint64(1)
				wg   sync.WaitGroup
			)
			work := make(chan struct{}, writers)
			b.ResetTimer()
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range work {
						mu.Lock()
						err := w.Save(nil, mkEnts(next, 1, 1, 128), false)
						next++
						mu.Unlock()
						if err == nil {
							err = w.Sync()
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			for range b.N {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
			s := w.Stats()
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(s.Syncs)/sec, "fsyncs/s")
			b.ReportMetric(float64(b.N)/sec, "entries/s")
			b.ReportMetric(float64(b.N)/float64(max(s.Syncs, 1)), "entries/fsync")
		})
	}
}

// BenchmarkOpen replays a 32 MiB log (64k entries of 512 bytes).
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	w, _ := openT(b, dir, Options{NoSync: true, SegmentBytes: DefaultSegmentBytes})
	for i := uint64(0); i < 1024; i++ {
		if err := w.Save(hs(1, 1, i*64), mkEnts(1+i*64, 64, 1, 512), false); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	b.SetBytes(64 * 1024 * 512)
	b.ResetTimer()
	for b.Loop() {
		w, st := openT(b, dir, Options{NoSync: true, SegmentBytes: DefaultSegmentBytes})
		if len(st.Entries) != 64*1024 {
			b.Fatalf("%d entries", len(st.Entries))
		}
		w.Close()
	}
}

// BenchmarkSyncedSaveLatency: one 128-byte entry per Save(sync), in a
// growing segment (every fdatasync also commits the new file size) and in a
// preallocated one (it overwrites zeros already on disk); with one WAL, and
// with three WALs on the same disk at once (three nodes on one machine).
// Reports the median and 99th percentile of Save's latency.
func BenchmarkSyncedSaveLatency(b *testing.B) {
	for _, wals := range []int{1, 3} {
		for _, prealloc := range []bool{false, true} {
			layout := map[bool]string{false: "growing", true: "preallocated"}[prealloc]
			b.Run(fmt.Sprintf("wals=%d/%s", wals, layout), func(b *testing.B) {
				ws := make([]*WAL, wals)
				for i := range ws {
					ws[i], _ = openT(b, b.TempDir(), Options{SegmentBytes: DefaultSegmentBytes, NoPreallocate: !prealloc})
					defer ws[i].Close()
				}
				lat := make([][]time.Duration, wals)
				var wg sync.WaitGroup
				b.ResetTimer()
				for i, w := range ws {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for n := uint64(1); n <= uint64(b.N); n++ {
							start := time.Now()
							if err := w.Save(nil, mkEnts(n, 1, 1, 128), true); err != nil {
								b.Error(err)
								return
							}
							lat[i] = append(lat[i], time.Since(start))
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				all := slices.Concat(lat...)
				slices.Sort(all)
				if len(all) > 0 {
					b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
				}
			})
		}
	}
}

// BenchmarkPrepareSegment: what preallocating one 64 MiB segment costs
// (write the zeros, fdatasync), the work kept off the write path.
func BenchmarkPrepareSegment(b *testing.B) {
	dir := b.TempDir()
	b.SetBytes(DefaultSegmentBytes)
	for b.Loop() {
		sp, err := prepareSegment(OSFS{}, filepath.Join(dir, "spare.tmp"), DefaultSegmentBytes, false, nil)
		if err != nil {
			b.Fatal(err)
		}
		sp.f.Close()
	}
}
