// This file owns `member dev`: three members in one process on one
// embedded NATS server, their data in a temporary directory removed on
// exit, HTTP on three consecutive ports, and a banner that says how to talk
// to the cluster.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

var devIDs = []uint64{1, 2, 3}

const defaultNATSURL = "nats://127.0.0.1:4222"

// devInfo is where a dev cluster listens.
type devInfo struct {
	Cluster   string
	NATSURL   string
	HTTPAddrs []string
	DataDir   string
}

// devMember is one member of the dev cluster.
type devMember struct {
	rm    *runningMember
	probe *probe
	http  *httpServer
}

func runDev(ctx context.Context, s *session, c *Config) int {
	logger := newLogger(s.stderr, c, c.Cluster, 0)
	dir, err := os.MkdirTemp("", "kontiki-dev-")
	if err != nil {
		logger.Error("cannot start", "err", err)
		return exitError
	}
	defer os.RemoveAll(dir)
	opts, err := natsServerOptions(c, c.Cluster, 0)
	var ns *server.Server
	if err == nil {
		ns, err = startNATSServer(opts, logger)
	}
	if err != nil {
		logger.Error("cannot start", "err", err)
		return exitError
	}
	members, err := startDevMembers(ctx, s, c, dir, ns)
	if err != nil {
		stopDevMembers(context.Background(), members)
		stopNATSServer(ns)
		if ctx.Err() != nil {
			return exitOK
		}
		logger.Error("cannot start", "err", err)
		return exitError
	}
	info := devInfo{Cluster: c.Cluster, NATSURL: ns.ClientURL(), DataDir: dir}
	for _, m := range members {
		info.HTTPAddrs = append(info.HTTPAddrs, m.http.addr)
	}
	printBanner(s.stdout, info)
	if s.devStarted != nil {
		s.devStarted(info)
	}
	failed := false
	select {
	case <-ctx.Done():
	case <-anyStopped(members):
		logger.Error("a node stopped on its own (see its last error); stopping the dev cluster")
		failed = true
	}
	fmt.Fprintln(s.stdout, "Stopping the dev cluster…")
	code := gracefulStop(s.force, logger, func(ctx context.Context) error {
		err := stopDevMembers(ctx, members)
		stopNATSServer(ns)
		return err
	})
	if failed && code == exitOK {
		code = exitError
	}
	return code
}

// startDevMembers starts the three members; on an error it returns those
// started so far with it.
func startDevMembers(ctx context.Context, s *session, c *Config, dir string, ns *server.Server) ([]*devMember, error) {
	addrs, err := devHTTPAddrs(c.HTTPAddr, len(devIDs))
	if err != nil {
		return nil, err
	}
	var members []*devMember
	for i, id := range devIDs {
		mc := *c
		mc.ID, mc.Peers, mc.HTTPAddr = id, devIDs, addrs[i]
		mc.DataDir = filepath.Join(dir, strconv.FormatUint(id, 10))
		logger := newLogger(s.stderr, &mc, mc.Cluster, id)
		dm := &devMember{probe: newProbe(&mc)}
		dm.probe.attachServer(ns)
		dm.http, err = startHTTP(mc.HTTPAddr, newHTTPHandler(dm.probe), logger)
		if err != nil {
			return members, err
		}
		members = append(members, dm)
		dm.rm, err = startMember(ctx, &mc, ns.ClientURL(), ns, dm.probe, logger)
		if err != nil {
			return members, err
		}
	}
	return members, nil
}

// devHTTPAddrs gives n HTTP addresses from the first: consecutive ports, or
// all port 0 (any free port).
func devHTTPAddrs(first string, n int) ([]string, error) {
	host, p, err := net.SplitHostPort(first)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return nil, err
	}
	if port+n-1 > 65535 {
		return nil, fmt.Errorf("--http-addr %s: no room for %d consecutive ports", first, n)
	}
	addrs := make([]string, n)
	for i := range addrs {
		if port == 0 {
			addrs[i] = net.JoinHostPort(host, "0")
		} else {
			addrs[i] = net.JoinHostPort(host, strconv.Itoa(port+i))
		}
	}
	return addrs, nil
}

// stopDevMembers stops the followers together, then the leader without a
// hand-over: the whole cluster stops, and a leader stopped first would hand
// over to a member about to stop.
func stopDevMembers(ctx context.Context, members []*devMember) error {
	for _, m := range members {
		m.probe.stopping.Store(true)
	}
	var leaders, others []*devMember
	for _, m := range members {
		if m.rm == nil {
			continue
		}
		if st, err := m.probe.nodeStatus(ctx); err == nil && st.Lead == st.ID {
			leaders = append(leaders, m)
		} else {
			others = append(others, m)
		}
	}
	var mu sync.Mutex
	var errs []error
	stopAll := func(ms []*devMember, handOver time.Duration) {
		var wg sync.WaitGroup
		for _, m := range ms {
			wg.Go(func() {
				if err := m.rm.stop(ctx, handOver); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	stopAll(others, handOverBudget)
	stopAll(leaders, 0)
	for _, m := range members {
		m.http.stop(ctx)
	}
	return errors.Join(errs...)
}

// anyStopped is closed when any member's node stops.
func anyStopped(members []*devMember) <-chan struct{} {
	out := make(chan struct{})
	var once sync.Once
	for _, m := range members {
		go func() {
			<-m.rm.nodeStopped
			once.Do(func() { close(out) })
		}()
	}
	return out
}

// printBanner tells the user how to talk to the dev cluster.
func printBanner(w io.Writer, info devInfo) {
	var cli, nats []string
	if info.NATSURL != defaultNATSURL {
		cli = append(cli, "--nats-url "+info.NATSURL)
		nats = append(nats, "-s "+info.NATSURL)
	}
	if info.Cluster != "kontiki" {
		cli = append(cli, "--cluster "+info.Cluster)
	}
	kontiki := strings.Join(append([]string{"go run ./cmd/kontiki"}, cli...), " ")
	natsCLI := strings.Join(append([]string{"nats"}, nats...), " ")
	subject := "kontiki." + info.Cluster + ".kv"
	fmt.Fprintf(w, "Kontiki dev cluster %q: %d members, one embedded NATS server.\n\n", info.Cluster, len(info.HTTPAddrs))
	fmt.Fprintf(w, "  NATS      %s\n", info.NATSURL)
	for i, a := range info.HTTPAddrs {
		fmt.Fprintf(w, "  member %d  http://%s  (/status /readyz /metrics)\n", devIDs[i], a)
	}
	fmt.Fprintf(w, "  data      %s (removed on exit)\n\n", info.DataDir)
	fmt.Fprintf(w, "From another terminal:\n")
	fmt.Fprintf(w, "  %s put greeting hello\n", kontiki)
	fmt.Fprintf(w, "  %s get greeting\n", kontiki)
	fmt.Fprintf(w, "  %s status\n\n", kontiki)
	fmt.Fprintf(w, "or with the nats CLI:\n")
	fmt.Fprintf(w, "  %s req %s.put.greeting hello\n", natsCLI, subject)
	fmt.Fprintf(w, "  %s req %s.get.greeting \"\"\n", natsCLI, subject)
	fmt.Fprintf(w, "  %s micro ls\n\n", natsCLI)
	fmt.Fprintf(w, "Ctrl-C stops the cluster.\n")
}
