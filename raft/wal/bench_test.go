// Benchmarks: the cost of durability. Save with sync is bounded by the
// disk's fdatasync latency, so the figures are fsyncs (and entries) per
// second on the machine that runs them.
//
//	go test -run '^$' -bench . -benchtime 3s ./raft/wal/
package wal

import (
	"fmt"
	"sync"
	"testing"

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
			w, _ := openT(b, b.TempDir(), Options{NoSync: !c.sync})
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
			w, _ := openT(b, b.TempDir(), Options{})
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
	w, _ := openT(b, dir, Options{NoSync: true})
	for i := uint64(0); i < 1024; i++ {
		if err := w.Save(hs(1, 1, i*64), mkEnts(1+i*64, 64, 1, 512), false); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	b.SetBytes(64 * 1024 * 512)
	b.ResetTimer()
	for b.Loop() {
		w, st := openT(b, dir, Options{NoSync: true})
		if len(st.Entries) != 64*1024 {
			b.Fatalf("%d entries", len(st.Entries))
		}
		w.Close()
	}
}
