package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/kontiki-raft/kontiki/client"
)

// The Go client against real members: concurrent writes travel in kv.batch
// requests, each write gets its own revision, and every value is readable.
func TestClientBatchesConcurrentWritesThroughTheLeader(t *testing.T) {
	c := startCluster(t, 3)
	lead := c.leader()
	cl := client.New(connect(t, c.ns), client.Options{Cluster: c.cluster})
	ctx := context.Background()
	if _, err := cl.Put(ctx, "warm", []byte("up")); err != nil { // learns the leader
		t.Fatal(err)
	}
	const writers, each = 32, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	revs := map[uint64]string{}
	errs := make(chan error, writers*each) // never blocks, even under mu
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key := fmt.Sprintf("w%d.k%d", w, i)
				rev, err := cl.Put(ctx, key, []byte(key))
				if err != nil {
					errs <- fmt.Errorf("%s: %w", key, err)
					return
				}
				mu.Lock()
				if other, dup := revs[rev]; dup {
					errs <- fmt.Errorf("%s and %s both got revision %d", key, other, rev)
				}
				revs[rev] = key
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for rev, key := range revs {
		v, got, err := cl.Get(ctx, key)
		if err != nil || string(v) != key || got != rev {
			t.Fatalf("get %s: %q at %d (%v), want revision %d", key, v, got, err, rev)
		}
	}
	var batches, commands int
	for _, ep := range c.members[lead].Service.svc.Stats().Endpoints {
		switch ep.Name {
		case "member-batch":
			batches = ep.NumRequests
		case "member-put", "put":
			if ep.NumRequests > 1 { // the warm-up may come this way
				t.Fatalf("%s served %d requests: writes went around the batch", ep.Name, ep.NumRequests)
			}
		}
	}
	commands = writers * each
	if batches == 0 || batches >= commands {
		t.Fatalf("%d batch requests for %d writes", batches, commands)
	}
	t.Logf("%d writes in %d kv.batch requests", commands, batches)
}
