package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// startNATS runs an embedded nats-server on a random loopback port.
func startNATS(t testing.TB) *server.Server {
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
	return ns
}

func connect(t testing.TB, ns *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

type testCluster struct {
	t       *testing.T
	ns      *server.Server
	members map[uint64]*Member
	cluster string
}

func startCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	ns := startNATS(t)
	c := &testCluster{t: t, ns: ns, members: map[uint64]*Member{}, cluster: "kontiki"}
	var peers []uint64
	for i := 1; i <= n; i++ {
		peers = append(peers, uint64(i))
	}
	for _, id := range peers {
		c.start(MemberConfig{ID: id, Peers: peers, NC: connect(t, ns)})
	}
	return c
}

// start starts a member of the cluster (20 ms ticks) and stops it at
// cleanup, before the connections in cfg (opened earlier) close.
func (c *testCluster) start(cfg MemberConfig) {
	c.t.Helper()
	cfg.Cluster, cfg.TickInterval = c.cluster, 20*time.Millisecond
	m, err := StartMember(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.members[cfg.ID] = m
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = m.Stop(ctx)
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}

// leader waits until every member agrees on one leader and returns it.
func (c *testCluster) leader() uint64 {
	var lead uint64
	waitFor(c.t, 10*time.Second, "a leader all members agree on", func() bool {
		lead = 0
		for _, m := range c.members {
			st, err := m.Node.Status(context.Background())
			if err != nil || st.Lead == 0 || (lead != 0 && st.Lead != lead) {
				return false
			}
			lead = st.Lead
		}
		return true
	})
	return lead
}

func (c *testCluster) subject(format string, args ...any) string {
	return "kontiki." + c.cluster + "." + fmt.Sprintf(format, args...)
}
