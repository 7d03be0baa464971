// This file owns the NATS connection and the client built from the shared
// flags.
package main

import (
	"fmt"
	"math"
	"time"

	"github.com/kontiki-raft/kontiki/client"
	"github.com/kontiki-raft/kontiki/internal/natsauth"
	"github.com/nats-io/nats.go"
)

// attemptTimeout is how long one request attempt may take: a third of the
// command's timeout (so a frozen member costs one attempt, not the command),
// at least 500ms.
func (c *commonFlags) attemptTimeout() time.Duration {
	return max(c.timeout/3, min(c.timeout, 500*time.Millisecond))
}

// connect opens the NATS connection the flags describe.
func (c *commonFlags) connect() (*nats.Conn, error) {
	opts := append([]nats.Option{
		nats.Name("kontiki-cli"),
		nats.Timeout(c.attemptTimeout()),
	}, natsauth.Flags{
		Creds: c.creds, User: c.user, Password: c.password,
		TLSCA: c.tlsCA, TLSCert: c.tlsCert, TLSKey: c.tlsKey,
	}.Options()...)
	nc, err := nats.Connect(c.natsURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", c.natsURL, err)
	}
	return nc, nil
}

// newClient builds the Kontiki client over nc.
func (c *commonFlags) newClient(nc *nats.Conn) *client.Client {
	return client.New(nc, client.Options{
		Cluster: c.cluster,
		Timeout: c.attemptTimeout(),
		// No count of its own: every command but watch runs under
		// --timeout's deadline, which ends the retries, so an election in
		// progress costs the wait, not the command.
		Retries: math.MaxInt,
	})
}
