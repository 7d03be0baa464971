// This file owns the member's NATS client connections: the one clients
// reach it through, named kontiki-member-<id>, reconnecting forever, with
// the credentials and TLS of the flags; with an embedded server, the
// in-process one its raft transport uses (kontiki-member-<id>-peers, see
// cluster.MemberConfig.PeerNC); and their end, a drain that waits until the
// connection is closed.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/kontiki-raft/kontiki/internal/natsauth"
)

// conn is a NATS connection and the channel closed when it is closed.
type conn struct {
	*nats.Conn
	closed chan struct{}
}

// connectNATS connects to url and waits until connected or ctx is done:
// an external server that comes up after the member is waited for.
func connectNATS(ctx context.Context, c *Config, url string, id uint64, logger *slog.Logger) (*conn, error) {
	name := "kontiki-member-" + strconv.FormatUint(id, 10)
	logger = logger.With("component", "nats")
	opts, closed := connOptions(name, logger)
	if c.NATSCreds != "" {
		if err := checkCreds(c.NATSCreds); err != nil {
			return nil, err
		}
	}
	opts = append(opts, natsauth.Flags{
		Creds: c.NATSCreds, User: c.NATSUser, Password: c.NATSPassword,
		TLSCA: c.TLSCA, TLSCert: c.TLSCert, TLSKey: c.TLSKey,
	}.Options()...)
	return connectWith(ctx, url, url, opts, closed, logger)
}

// checkCreds refuses a credentials file without a user seed before the first
// connect: nats.go reads the file at each attempt, and a member that retries
// forever would wait forever on a file that can never work.
func checkCreds(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--nats-creds: %w", err)
	}
	kp, err := nkeys.ParseDecoratedUserNKey(b)
	if err != nil {
		return fmt.Errorf("--nats-creds %s: not a NATS credentials file with a user seed: %w", path, err)
	}
	kp.Wipe()
	return nil
}

// connectInProcess connects to the member's own embedded server ns through
// memory. TLS does not apply (the server requires it of network clients
// only); the user and password of the flags do.
func connectInProcess(ctx context.Context, c *Config, ns *server.Server, id uint64, logger *slog.Logger) (*conn, error) {
	name := "kontiki-member-" + strconv.FormatUint(id, 10) + "-peers"
	logger = logger.With("component", "nats", "connection", "peers")
	opts, closed := connOptions(name, logger)
	opts = append(opts, nats.InProcessServer(ns))
	opts = append(opts, natsauth.Flags{User: c.NATSUser, Password: c.NATSPassword}.Options()...)
	return connectWith(ctx, "", "the embedded server (in-process)", opts, closed, logger)
}

// connOptions are the options every member connection has: its name,
// reconnecting forever, and the handlers that log; closed is closed when
// the connection is.
func connOptions(name string, logger *slog.Logger) (opts []nats.Option, closed chan struct{}) {
	closed = make(chan struct{})
	// failing: a failed (re)connect attempt was reported since the last
	// success; later ones go to Debug until the connection is back.
	var failing atomic.Bool
	opts = []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(true),
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.DrainTimeout(5 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			failing.Store(false)
			logger.Info("NATS reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ConnectHandler(func(*nats.Conn) { failing.Store(false) }),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			if failing.Swap(true) {
				logger.Debug("NATS connect attempt failed", "err", err)
				return
			}
			logger.Warn("NATS connect attempt failed; retrying", "err", err)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			logger.Warn("NATS error", "subject", subject, "err", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
	}
	return opts, closed
}

// connectWith connects with opts and waits until connected or ctx is done;
// where names the server in errors and logs.
func connectWith(ctx context.Context, url, where string, opts []nats.Option, closed chan struct{}, logger *slog.Logger) (*conn, error) {
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", where, err)
	}
	cn := &conn{Conn: nc, closed: closed}
	connected := nc.StatusChanged(nats.CONNECTED)
	defer nc.RemoveStatusListener(connected)
	if !nc.IsConnected() {
		logger.Warn("waiting for NATS", "url", where)
		select {
		case <-connected:
		case <-ctx.Done():
			nc.Close()
			return nil, fmt.Errorf("connect to NATS at %s: %w", where, context.Cause(ctx))
		}
	}
	if url != "" {
		where = nc.ConnectedUrlRedacted()
	}
	logger.Info("NATS connected", "url", where, "max_payload", nc.MaxPayload())
	return cn, nil
}

// drain drains the connection (pending messages are handled, subscriptions
// end) and waits until it is closed or ctx is done.
func (c *conn) drain(ctx context.Context) error {
	if err := c.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		c.Close()
		return fmt.Errorf("drain NATS connection: %w", err)
	}
	select {
	case <-c.closed:
		return nil
	case <-ctx.Done():
		c.Close()
		return fmt.Errorf("drain NATS connection: %w", ctx.Err())
	}
}
