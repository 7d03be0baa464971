package history

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/kontiki-raft/kontiki/client"
	"github.com/kontiki-raft/kontiki/cluster"
)

// startCluster runs three in-memory members on an embedded NATS server.
func startCluster(t *testing.T) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(ns.Shutdown)
	peers := []uint64{1, 2, 3}
	for _, id := range peers {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		m, err := cluster.StartMember(cluster.MemberConfig{ID: id, Peers: peers, NC: nc, TickInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = m.Stop(ctx)
			nc.Close()
		})
	}
	return ns
}

// A healthy cluster under the load: the history is linearizable, nothing
// acknowledged is lost, a watch saw every change once, and the load reaches
// its throughput target.
func TestLoadOnHealthyCluster(t *testing.T) {
	ns := startCluster(t)
	connect := func(int) (*nats.Conn, error) { return nats.Connect(ns.ClientURL()) }
	nc, err := connect(0)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := client.New(nc, client.Options{Retries: -1, Timeout: time.Second})
	h := New()
	rec := NewRecorder(h, c, -1, "final-"+t.Name(), RecorderConfig{})
	// Wait for a leader: a linearizable read succeeds.
	if err := poll(10*time.Second, func() (bool, error) {
		return rec.Get("warmup", false).Status == StatusNotFound, nil
	}); err != nil {
		t.Fatalf("no leader: %v", err)
	}
	wl, err := StartWatchLog(context.Background(), client.New(nc, client.Options{}), "load.")
	if err != nil {
		t.Fatal(err)
	}
	if err := wl.WaitSynced(5 * time.Second); err != nil {
		t.Fatal(err)
	}

	load, err := StartLoad(LoadConfig{Connect: connect, KeyPrefix: "load.", Duration: 2 * time.Second, MaxOps: 5000}, h)
	if err != nil {
		t.Fatal(err)
	}
	load.Wait()
	final, err := ReadFinal(rec, load.Keys())
	if err != nil {
		t.Fatal(err)
	}
	var upTo uint64
	for _, ks := range final {
		upTo = max(upTo, ks.Revision)
	}
	if err := wl.WaitRevision(upTo, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := wl.Stop(); err != nil {
		t.Fatal(err)
	}

	ops := h.Ops()
	v, err := Check(h, nil, time.Minute, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckAcknowledged(ops, nil, final); err != nil {
		t.Fatal(err)
	}
	if err := CheckWatch(ops, wl.Events(), "load.", 1, upTo); err != nil {
		t.Fatal(err)
	}
	s := Summarize(ops, ops[len(ops)-1].Call, 0)
	counts := map[Kind]int{}
	for _, op := range ops {
		if op.Status == StatusOK {
			counts[op.Kind]++
		}
	}
	t.Logf("%s; %s; ok by kind %v", v, s, counts)
	if s.Before < 100 {
		t.Errorf("%.0f ops/s, want at least 100", s.Before)
	}
	for _, k := range []Kind{KindPut, KindCAS, KindGet, KindLeaseGet} {
		if counts[k] == 0 {
			t.Errorf("no successful %s", k)
		}
	}
}
