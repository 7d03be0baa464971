// concurrency_test.go runs readers against Apply so -race can check the
// locking, and checks that readers only ever see consistent states.

package kv

import (
	"fmt"
	"sync"
	"testing"
)

func TestConcurrentReadersDuringApply(t *testing.T) {
	s := New(Options{HistorySize: 500, DedupeMaxEntries: 100})
	const writes = 4000
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	reader := func(read func() error) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := read(); err != nil {
				errs <- err
				return
			}
		}
	}
	wg.Add(6)
	go reader(func() error {
		it, found := s.Get("k.7")
		if found && (it.CreateRevision > it.ModRevision || string(it.Value) != fmt.Sprint(it.ModRevision)) {
			return fmt.Errorf("Get: inconsistent item %+v", it)
		}
		return nil
	})
	go reader(func() error {
		items, _, rev := s.List("k.", "", 0)
		for i, it := range items {
			if it.ModRevision > rev || i > 0 && it.Key <= items[i-1].Key {
				return fmt.Errorf("List: item %q@%d at revision %d / out of order", it.Key, it.ModRevision, rev)
			}
		}
		return nil
	})
	go reader(func() error {
		applied, rev := s.AppliedIndex(), s.Revision()
		_ = s.Len()
		_ = s.CompactedRevision()
		if rev > s.AppliedIndex() || applied > s.AppliedIndex() {
			return fmt.Errorf("revision %d above applied index", rev)
		}
		return nil
	})
	go reader(func() error {
		_, _, err := s.EventsSince("k.", s.CompactedRevision()+1, 50)
		_ = err // ErrCompacted is possible: compaction may overtake us
		return nil
	})
	go reader(func() error {
		_, err := s.Snapshot()
		_ = s.Hash()
		return err
	})
	go reader(func() error {
		select {
		case <-s.Changed():
		case <-stop:
		}
		return nil
	})
	for i := uint64(1); i <= writes; i++ {
		key := fmt.Sprint("k.", i%13)
		if i%5 == 0 {
			del(t, s, i, key, WriteOptions{RequestID: fmt.Sprint(i)})
		} else {
			put(t, s, i, key, fmt.Sprint(i), WriteOptions{RequestID: fmt.Sprint(i % 300)})
		}
		if i%1000 == 0 {
			img := mustSnapshot(t, s)
			if err := s.Restore(i, img); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
