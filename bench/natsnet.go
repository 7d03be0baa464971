// Three embedded nats-servers on loopback clustered by routes, as the
// member daemon runs them (--nats-listen, --nats-cluster-listen,
// --nats-routes): every server lists every server's route URL (JetStream
// refuses to start clustered without configured routes).
package main

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

type natsClusterOpts struct {
	name      string
	dir       string // JetStream store dirs go under it
	jetStream bool
	// syncAlways: JetStream's sync_interval: always.
	syncAlways bool
}

func startNATSCluster(o natsClusterOpts) ([]*server.Server, error) {
	var servers []*server.Server
	fail := func(err error) ([]*server.Server, error) {
		for _, s := range servers {
			s.Shutdown()
		}
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: "127.0.0.1:" + strconv.Itoa(p)})
	}
	for i := 1; i <= 3; i++ {
		opts := &server.Options{
			ServerName: o.name + "-" + strconv.Itoa(i),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			NoLog:      true,
			NoSigs:     true,
			Cluster: server.ClusterOpts{
				Name: o.name,
				Host: "127.0.0.1",
				Port: ports[i-1],
			},
			Routes: routes,
		}
		if o.jetStream {
			opts.JetStream = true
			opts.StoreDir = filepath.Join(o.dir, "js"+strconv.Itoa(i))
			if o.syncAlways {
				// What `jetstream { sync_interval: always }` sets in
				// server/opts.go (v2.15.2).
				opts.SyncAlways = true
				opts.SyncInterval = 2 * time.Minute
			}
		}
		s, err := server.NewServer(opts)
		if err != nil {
			return fail(fmt.Errorf("nats-server %d: %w", i, err))
		}
		go s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			servers = append(servers, s)
			return fail(fmt.Errorf("nats-server %d not ready", i))
		}
		servers = append(servers, s)
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, s := range servers {
		for s.NumRemotes() < 2 {
			if time.Now().After(deadline) {
				return fail(fmt.Errorf("nats cluster %s: %s sees %d of 2 other servers", o.name, s.Name(), s.NumRemotes()))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return servers, nil
}

func stopNATSCluster(servers []*server.Server) {
	for _, s := range servers {
		s.Shutdown()
	}
	for _, s := range servers {
		s.WaitForShutdown()
	}
}

// startNATSServer starts one embedded nats-server on a random loopback port.
func startNATSServer() (*server.Server, error) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		return nil, err
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("nats-server not ready")
	}
	return s, nil
}
