// Package natsauth turns the connection flags that the member and the CLI
// share (DESIGN.md §3, "Connecting": creds, user and password, TLS) into
// nats.go options, so both authenticate the same way.
package natsauth

import "github.com/nats-io/nats.go"

// Flags are the authentication and TLS settings of one connection; an empty
// field adds nothing.
type Flags struct {
	Creds          string // credentials file (JWT and user seed)
	User, Password string
	TLSCA          string // CA bundle that verifies the server
	TLSCert        string // client certificate, with TLSKey
	TLSKey         string
}

// Options returns the nats.go options the set fields ask for.
func (f Flags) Options() []nats.Option {
	var opts []nats.Option
	if f.Creds != "" {
		opts = append(opts, nats.UserCredentials(f.Creds))
	}
	if f.User != "" {
		opts = append(opts, nats.UserInfo(f.User, f.Password))
	}
	if f.TLSCA != "" {
		opts = append(opts, nats.RootCAs(f.TLSCA))
	}
	if f.TLSCert != "" {
		opts = append(opts, nats.ClientCert(f.TLSCert, f.TLSKey))
	}
	return opts
}
