// This file owns the embedded nats-server: its options from the Config
// (listen addresses, routes to the other members' servers, user/password
// and TLS), a short ping interval so a frozen peer's connections are dropped
// in seconds (DESIGN.md §2, NATS traps), and its logs routed to slog.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

const (
	// natsPingInterval and natsMaxPingsOut: a client or route that answers
	// no ping for about 2 × 2 s is dropped, so a frozen member's queue
	// subscriptions stop attracting requests within seconds.
	natsPingInterval = 2 * time.Second
	natsMaxPingsOut  = 2
	natsReadyTimeout = 10 * time.Second
)

// natsServerOptions builds the embedded server's options for one member
// (id 0: the dev cluster's shared server).
func natsServerOptions(c *Config, cluster string, id uint64) (*server.Options, error) {
	host, port, err := splitListen(c.NATSListen)
	if err != nil {
		return nil, fmt.Errorf("--nats-listen: %w", err)
	}
	name := "kontiki-" + cluster
	if id != 0 {
		name += "-" + strconv.FormatUint(id, 10)
	}
	o := &server.Options{
		ServerName:   name,
		Host:         host,
		Port:         port,
		NoSigs:       true, // signals are ours
		PingInterval: natsPingInterval,
		MaxPingsOut:  natsMaxPingsOut,
		Username:     c.NATSUser,
		Password:     c.NATSPassword,
	}
	if c.TLSCert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: c.TLSCert, KeyFile: c.TLSKey, CaFile: c.TLSCA, Verify: c.TLSCA != ""})
		if err != nil {
			return nil, fmt.Errorf("embedded NATS server TLS: %w", err)
		}
		o.TLS, o.TLSConfig, o.TLSVerify, o.TLSTimeout = true, tc, c.TLSCA != "", 2
	}
	if c.NATSClusterListen != "" {
		chost, cport, err := splitListen(c.NATSClusterListen)
		if err != nil {
			return nil, fmt.Errorf("--nats-cluster-listen: %w", err)
		}
		o.Cluster = server.ClusterOpts{
			Name:         "kontiki-" + cluster,
			Host:         chost,
			Port:         cport,
			PingInterval: natsPingInterval,
			MaxPingsOut:  natsMaxPingsOut,
			// Clients are given the members' URLs explicitly; advertising
			// the servers' own (container) addresses would send clients
			// behind port publishing to addresses they cannot reach.
			NoAdvertise: true,
			// A route is not a client: without its own credentials anyone
			// reaching the cluster port would bypass --nats-user.
			Username: c.NATSUser,
			Password: c.NATSPassword,
		}
		o.Routes = routesWithUser(c.NATSRoutes, c.NATSUser, c.NATSPassword)
	}
	return o, nil
}

// routesWithUser gives the route URLs the user and password the other
// servers require (unless a URL names its own).
func routesWithUser(routes []*url.URL, user, password string) []*url.URL {
	out := make([]*url.URL, len(routes))
	for i, r := range routes {
		u := *r
		if user != "" && u.User == nil {
			u.User = url.UserPassword(user, password)
		}
		out[i] = &u
	}
	return out
}

// splitListen turns host:port into nats-server's host and port, where
// port 0 means "any free port" (nats-server spells that -1; its 0 means
// the default port).
func splitListen(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, err
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

// startNATSServer starts an embedded server and waits until it accepts
// clients, or fails (a port in use is reported at once, not at the
// timeout).
func startNATSServer(o *server.Options, logger *slog.Logger) (*server.Server, error) {
	s, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	nl := natsLogger{l: logger.With("component", "nats-server"), fatal: make(chan string, 1)}
	s.SetLoggerV2(nl, logger.Enabled(context.Background(), slog.LevelDebug), false, false)
	s.Start()
	ready := make(chan bool, 1)
	go func() { ready <- s.ReadyForConnections(natsReadyTimeout) }()
	select {
	case ok := <-ready:
		if !ok {
			s.Shutdown()
			return nil, fmt.Errorf("embedded NATS server on %s:%d not ready within %s", o.Host, o.Port, natsReadyTimeout)
		}
	case msg := <-nl.fatal:
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS server: %s", msg)
	}
	attrs := []any{"client_url", s.ClientURL()}
	if a := s.ClusterAddr(); a != nil {
		attrs = append(attrs, "cluster_addr", a.String(), "routes", len(o.Routes))
	}
	logger.Info("embedded NATS server listening", attrs...)
	return s, nil
}

// stopNATSServer shuts an embedded server down and waits until it has.
func stopNATSServer(s *server.Server) {
	if s == nil {
		return
	}
	s.Shutdown()
	s.WaitForShutdown()
}

// natsLogger routes nats-server's logs to slog. A fatal error (the server
// cannot go on, e.g. its port is in use) is also sent on fatal.
type natsLogger struct {
	l     *slog.Logger
	fatal chan string
}

// Noticef: the start-up banner and the like go to Debug; route changes,
// which tell how the members' servers see each other, stay at Info.
func (n natsLogger) Noticef(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.Contains(msg, "route") || strings.Contains(msg, "Route") {
		n.l.Info(msg)
		return
	}
	n.l.Debug(msg)
}
func (n natsLogger) Warnf(format string, v ...any) { n.l.Warn(fmt.Sprintf(format, v...)) }
func (n natsLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	n.l.Error(msg)
	select {
	case n.fatal <- msg:
	default:
	}
}
func (n natsLogger) Errorf(format string, v ...any) { n.l.Error(fmt.Sprintf(format, v...)) }
func (n natsLogger) Debugf(format string, v ...any) { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n natsLogger) Tracef(format string, v ...any) { n.l.Debug(fmt.Sprintf(format, v...)) }
