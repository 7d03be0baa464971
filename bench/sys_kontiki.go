// Kontiki: three members with write-ahead logs, each on its own embedded
// nats-server (servers clustered by routes), the daemon's default settings;
// clients through the Go client.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/kontiki-raft/kontiki/client"
	"github.com/kontiki-raft/kontiki/cluster"
)

type kontikiStore struct {
	servers []*server.Server
	conns   []*nats.Conn
	members []*cluster.Member
	wals    []*cluster.WALStore
	cl      *client.Client
}

// kontikiSetup varies the reference rows. sharedNATS puts all members and
// the client on one nats-server (as cluster/bench_test.go does) instead of
// one server per member clustered by routes; noBatching turns off the
// client's write coalescing.
type kontikiSetup struct {
	sharedNATS bool
	noBatching bool
}

func startKontiki(ctx context.Context, dir string, logw io.Writer, setup kontikiSetup) (store, error) {
	sharedNATS := setup.sharedNATS
	logger := warnLogger(logw)
	var servers []*server.Server
	var err error
	if sharedNATS {
		var s *server.Server
		s, err = startNATSServer()
		servers = []*server.Server{s, s, s}
	} else {
		servers, err = startNATSCluster(natsClusterOpts{name: "kontiki-bench"})
	}
	if err != nil {
		return nil, err
	}
	k := &kontikiStore{servers: servers}
	if sharedNATS {
		k.servers = servers[:1]
	}
	peers := []uint64{1, 2, 3}
	for i, id := range peers {
		nc, err := nats.Connect(servers[i].ClientURL(), nats.Name("kontiki-member-"+strconv.FormatUint(id, 10)))
		if err != nil {
			k.close(ctx)
			return nil, err
		}
		k.conns = append(k.conns, nc)
		wal, err := cluster.OpenLogStore(filepath.Join(dir, "m"+strconv.FormatUint(id, 10)), "kontiki", peers, id, logger)
		if err != nil {
			k.close(ctx)
			return nil, err
		}
		k.wals = append(k.wals, wal)
		// As the daemon does with its embedded server: the raft transport
		// on an in-process connection to the member's own server.
		pnc, err := nats.Connect("", nats.InProcessServer(servers[i]), nats.Name("kontiki-member-"+strconv.FormatUint(id, 10)+"-peers"))
		if err != nil {
			k.close(ctx)
			return nil, err
		}
		k.conns = append(k.conns, pnc)
		m, err := cluster.StartMember(cluster.MemberConfig{ID: id, Peers: peers, NC: nc, PeerNC: pnc, LogStore: wal, Logger: logger})
		if err != nil {
			k.close(ctx)
			return nil, fmt.Errorf("start member %d: %w", id, err)
		}
		k.members = append(k.members, m)
	}
	nc, err := nats.Connect(servers[0].ClientURL(), nats.Name("kontiki-bench-client"))
	if err != nil {
		k.close(ctx)
		return nil, err
	}
	k.conns = append(k.conns, nc)
	k.cl = client.New(nc, client.Options{NoBatching: setup.noBatching})
	return k, nil
}

func (k *kontikiStore) put(ctx context.Context, key string, value []byte) error {
	_, err := k.cl.Put(ctx, key, value)
	return err
}

func (k *kontikiStore) get(ctx context.Context, key string) error {
	_, _, err := k.cl.Get(ctx, key)
	if errors.Is(err, client.ErrNotFound) {
		return nil
	}
	return err
}

func (k *kontikiStore) syncs() (uint64, bool) {
	var n uint64
	for _, w := range k.wals {
		n += w.Stats().Syncs
	}
	return n, true
}

func (k *kontikiStore) info(ctx context.Context) string {
	var parts []string
	for _, m := range k.members {
		st, err := m.Node.Status(ctx)
		if err != nil {
			parts = append(parts, "status error: "+err.Error())
			continue
		}
		parts = append(parts, fmt.Sprintf("m%d: lead=%d term=%d commit=%d", st.ID, st.Lead, st.Term, st.Commit))
	}
	return strings.Join(parts, "; ")
}

func (k *kontikiStore) close(ctx context.Context) error {
	var errs []error
	for _, m := range k.members {
		if err := m.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, nc := range k.conns {
		nc.Close()
	}
	stopNATSCluster(k.servers)
	return errors.Join(errs...)
}
