// Group commit: concurrent Sync callers share fsyncs, and concurrent use is
// race-free.
package wal

import (
	"sync"
	"testing"
)

func (f *faultFS) setOnSync(fn func()) { f.mu.Lock(); f.onSync = fn; f.mu.Unlock() }

func TestWaitersOfAnInFlightFsyncShareTheNextOne(t *testing.T) {
	dir := t.TempDir()
	ffs := newFaultFS()
	w, _ := openT(t, dir, Options{FS: ffs})
	defer w.Close()

	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	ffs.setOnSync(func() { once.Do(func() { close(entered); <-release }) })

	// The first writer's fsync is in flight...
	if err := w.Save(hs(1, 1, 0), mkEnts(1, 1, 1, 128), false); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 20)
	go func() { errs <- w.Sync() }()
	<-entered
	// ...while 16 more writers append and wait for durability.
	const writers = 16
	for i := uint64(2); i <= writers+1; i++ {
		if err := w.Save(nil, mkEnts(i, 1, 1, 128), false); err != nil {
			t.Fatal(err)
		}
		go func() { errs <- w.Sync() }()
	}
	close(release)
	for range writers + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// One fsync for the first writer, one shared by all the others.
	if got := w.Stats().Syncs; got != 2 {
		t.Fatalf("%d fsyncs for %d concurrent writers, want 2", got, writers+1)
	}
}

func TestConcurrentWritersLoseNothing(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir, Options{SegmentBytes: 16 << 10})
	var (
		mu   sync.Mutex // orders the appends, as the node actor would
		next = uint64(1)
		wg   sync.WaitGroup
	)
	const writers, each = 8, 40
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				mu.Lock()
				err := w.Save(hs(1, 1, next-1), mkEnts(next, 1, 1, 200), false)
				next++
				mu.Unlock()
				if err == nil {
					err = w.Sync()
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s := w.Stats()
	t.Logf("%d records, %d fsyncs, %d segments", s.Writes, s.Syncs, s.Segments)
	_, st := reopenT(t, w, dir, Options{SegmentBytes: 16 << 10})
	checkEntries(t, st.Entries, 1, writers*each, term1, 200)
}
