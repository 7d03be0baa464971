// This file owns `member`: one member of a cluster, with its HTTP endpoints
// and, without --nats-url, its embedded NATS server; it runs until a signal
// and then stops gracefully in order (readiness, member, NATS connections,
// embedded server, HTTP).
package main

import (
	"context"

	"github.com/nats-io/nats-server/v2/server"
)

func runMember(ctx context.Context, s *session, c *Config) int {
	logger := newLogger(s.stderr, c, c.Cluster, c.ID)
	p := newProbe(c)
	hs, err := startHTTP(c.HTTPAddr, newHTTPHandler(p), logger)
	if err != nil {
		logger.Error("cannot start", "err", err)
		return exitError
	}
	var ns *server.Server
	url := c.NATSURL
	if c.embedded() {
		opts, err := natsServerOptions(c, c.Cluster, c.ID)
		if err == nil {
			ns, err = startNATSServer(opts, logger)
		}
		if err != nil {
			logger.Error("cannot start", "err", err)
			hs.stop(context.Background())
			return exitError
		}
		url = ns.ClientURL()
		p.attachServer(ns)
	}
	rm, err := startMember(ctx, c, url, ns, p, logger)
	if err != nil {
		stopNATSServer(ns)
		hs.stop(context.Background())
		if ctx.Err() != nil {
			logger.Info("stopped before the member started", "cause", context.Cause(ctx))
			return exitOK
		}
		logger.Error("cannot start", "err", err)
		return exitError
	}
	failed := false
	select {
	case <-ctx.Done():
		logger.Info("stopping", "cause", context.Cause(ctx))
	case <-rm.nodeStopped:
		logger.Error("the node stopped on its own (see its last error); stopping the process")
		failed = true
	}
	p.stopping.Store(true)
	code := gracefulStop(s.force, logger, func(ctx context.Context) error {
		err := rm.stop(ctx, handOverBudget)
		stopNATSServer(ns)
		hs.stop(ctx)
		return err
	})
	if failed && code == exitOK {
		code = exitError
	}
	return code
}
