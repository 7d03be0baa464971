package cluster

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kontiki-raft/kontiki/client"
)

// BenchmarkDurablePut: three members with write-ahead logs in one process
// over one embedded NATS server; b.N puts of 128 B from `clients`
// concurrent goroutines through the Go client.
func BenchmarkDurablePut(b *testing.B) {
	for _, clients := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchPut(b, clients) })
	}
}

func benchPut(b *testing.B, clients int) {
	ns := startNATS(b)
	peers := []uint64{1, 2, 3}
	var members []*Member
	var stores []*WALStore
	for _, id := range peers {
		store, err := OpenLogStore(b.TempDir(), "kontiki", peers, id, nil)
		if err != nil {
			b.Fatal(err)
		}
		stores = append(stores, store)
		m, err := StartMember(MemberConfig{ID: id, Peers: peers, NC: connect(b, ns), LogStore: store, TickInterval: 50 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		members = append(members, m)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, m := range members {
			_ = m.Stop(ctx)
		}
	}()
	cl := client.New(connect(b, ns), client.Options{Timeout: 5 * time.Second})
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := cl.Put(ctx, "warmup", []byte("x")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("no leader")
		}
	}
	value := make([]byte, 128)
	var next atomic.Int64
	syncsBefore := uint64(0)
	for _, s := range stores {
		syncsBefore += s.Stats().Syncs
	}
	batchesBefore, msgsBefore := raftTraffic(members)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if _, err := cl.Put(ctx, "k."+strconv.FormatInt(i%1000, 10), value); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var syncs uint64
	for _, s := range stores {
		syncs += s.Stats().Syncs
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(syncs-syncsBefore)/float64(b.N), "fsyncs/op")
	batches, msgs := raftTraffic(members)
	b.ReportMetric(float64(batches-batchesBefore)/float64(b.N), "raftbatches/op")
	b.ReportMetric(float64(msgs-msgsBefore)/float64(b.N), "raftmsgs/op")
}

// raftTraffic: NATS messages (batches) and raft messages the members sent.
func raftTraffic(members []*Member) (batches, msgs uint64) {
	for _, m := range members {
		batches += m.Transport.Stats.BatchesSent.Load()
		msgs += m.Transport.Stats.MessagesSent.Load()
	}
	return batches, msgs
}
