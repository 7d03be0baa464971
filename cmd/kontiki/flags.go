// This file owns the flags every command shares (connection, cluster,
// timeout, output), their environment defaults, and the parsing that lets
// flags and arguments interleave.
package main

import (
	"flag"
	"strings"
	"time"
)

const (
	defaultNATSURL = "nats://127.0.0.1:4222"
	defaultTimeout = 10 * time.Second
)

// commonFlags are accepted before the command and by every command.
type commonFlags struct {
	natsURL  string
	creds    string
	user     string
	password string
	tlsCA    string
	tlsCert  string
	tlsKey   string
	cluster  string
	timeout  time.Duration
	output   string
}

// commonFlagNames lists the shared flags in help order.
var commonFlagNames = []string{
	"nats-url", "nats-creds", "nats-user", "nats-password",
	"tls-ca", "tls-cert", "tls-key", "cluster", "timeout", "o",
}

func newCommonFlags(env func(string) string) *commonFlags {
	c := &commonFlags{natsURL: defaultNATSURL, cluster: "kontiki", timeout: defaultTimeout, output: "table"}
	if v := env("NATS_URL"); v != "" {
		c.natsURL = v
	}
	if v := env("KONTIKI_CLUSTER"); v != "" {
		c.cluster = v
	}
	return c
}

// register adds the shared flags to fs with their current values as
// defaults, so a command's flags override the ones given before it.
func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.natsURL, "nats-url", c.natsURL, "NATS server `URL`s, comma-separated (env NATS_URL)")
	fs.StringVar(&c.creds, "nats-creds", c.creds, "NATS credentials `file`")
	fs.StringVar(&c.user, "nats-user", c.user, "NATS user `name`")
	fs.StringVar(&c.password, "nats-password", c.password, "NATS `password`")
	fs.StringVar(&c.tlsCA, "tls-ca", c.tlsCA, "CA certificate `file` to verify the NATS server")
	fs.StringVar(&c.tlsCert, "tls-cert", c.tlsCert, "client certificate `file` (with --tls-key)")
	fs.StringVar(&c.tlsKey, "tls-key", c.tlsKey, "client private key `file` (with --tls-cert)")
	fs.StringVar(&c.cluster, "cluster", c.cluster, "cluster `name` (env KONTIKI_CLUSTER)")
	fs.DurationVar(&c.timeout, "timeout", c.timeout, "give up on a command after this `duration` (watch: bounds connecting only)")
	fs.StringVar(&c.output, "o", c.output, "output `format`: table or json")
	fs.StringVar(&c.output, "output", c.output, "same as -o")
}

// check validates the shared flags.
func (c *commonFlags) check() error {
	switch c.output {
	case "table", "json":
	default:
		return usagef("invalid output format %q: want table or json", c.output)
	}
	if c.cluster == "" || strings.ContainsAny(c.cluster, ".*> \t\r\n") {
		return usagef("invalid cluster name %q: one NATS subject token", c.cluster)
	}
	if c.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	if c.creds != "" && c.user != "" {
		return usagef("--nats-creds and --nats-user are exclusive")
	}
	if c.password != "" && c.user == "" {
		return usagef("--nats-password needs --nats-user")
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	return nil
}

func (c *commonFlags) json() bool { return c.output == "json" }

// parseInterleaved parses fs over args, allowing flags after positional
// arguments; "--" ends the flags. It returns the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
