package cluster

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/kontiki-raft/kontiki/client"
)

// freePort is a loopback TCP port free when asked (for route listeners,
// which cannot take port -1 and be dialed by the others at once).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRoutedNATS runs n embedded servers clustered by routes, as the
// daemon's members run theirs.
func startRoutedNATS(t *testing.T, n int) []*server.Server {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ports[i] = freePort(t)
	}
	var servers []*server.Server
	for i := range n {
		opts := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, ServerName: "s" + strconv.Itoa(i+1)}
		opts.Cluster.Name = "peernc"
		opts.Cluster.Host = "127.0.0.1"
		opts.Cluster.Port = ports[i]
		for j, p := range ports {
			if j != i {
				opts.Routes = append(opts.Routes, server.RoutesFromStr(fmt.Sprintf("nats-route://127.0.0.1:%d", p))...)
			}
		}
		ns, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		go ns.Start()
		t.Cleanup(ns.Shutdown)
		servers = append(servers, ns)
	}
	for _, ns := range servers {
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats-server not ready")
		}
	}
	waitFor(t, 10*time.Second, "routes between every pair of servers", func() bool {
		for _, ns := range servers {
			if ns.NumRoutes() < n-1 {
				return false
			}
		}
		return true
	})
	return servers
}

// TestPeerTrafficOnInProcessConnections runs the daemon's topology with the
// raft transport on a separate in-process connection to each member's own
// server (MemberConfig.PeerNC): members elect, replicate and answer clients
// connected over TCP to another server, and the raft traffic flows on
// PeerNC.
func TestPeerTrafficOnInProcessConnections(t *testing.T) {
	servers := startRoutedNATS(t, 3)
	peers := []uint64{1, 2, 3}
	c := &testCluster{t: t, ns: servers[0], members: map[uint64]*Member{}, cluster: "kontiki"}
	peerConns := map[uint64]*nats.Conn{}
	for i, id := range peers {
		pnc, err := nats.Connect("", nats.InProcessServer(servers[i]))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pnc.Close)
		peerConns[id] = pnc
		c.start(MemberConfig{ID: id, Peers: peers, NC: connect(t, servers[i]), PeerNC: pnc})
	}
	leader := c.leader()
	// A client on the server of a member that does not lead.
	var other int
	for i, id := range peers {
		if id != leader {
			other = i
		}
	}
	nc := connect(t, servers[other])
	var last uint64
	for i := range 20 {
		rev := revision(t, request(t, nc, c.subject("kv.put.k%d", i), []byte("v"+strconv.Itoa(i)), nil))
		if rev <= last {
			t.Fatalf("revision %d after %d", rev, last)
		}
		last = rev
	}
	for _, id := range peers {
		waitFor(t, 5*time.Second, "every replica applies the writes", func() bool { return c.members[id].Store.Revision() >= last })
		if c.members[id].Transport.nc != peerConns[id] {
			t.Fatalf("member %d: transport not on its PeerNC", id)
		}
		st := peerConns[id].Stats()
		if st.OutMsgs == 0 || st.InMsgs == 0 {
			t.Fatalf("member %d: peer connection sent %d and received %d messages, want both > 0", id, st.OutMsgs, st.InMsgs)
		}
		if got := c.members[id].Transport.Stats.BatchesReceived.Load(); got == 0 {
			t.Fatalf("member %d received no raft batch", id)
		}
	}
	resp := request(t, nc, c.subject("member.%d.kv.get.k19", peers[other]), nil, map[string]string{client.HeaderConsistency: "linearizable"})
	if code(resp) != 0 || string(resp.Data) != "v19" {
		t.Fatalf("linearizable get: code %d data %q", code(resp), resp.Data)
	}
}
