// This file owns the flag table (every flag with its environment twin, its
// default and how its text becomes a Config field), which flags each
// command takes, command-line parsing and the --help text.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const envConfig = "KONTIKI_CONFIG"

// flagSpec is one flag. set parses its text into c; nil for --config,
// which loadConfig reads itself.
type flagSpec struct {
	name  string
	env   string
	def   string // applied through set, shown in help
	shown string // shown in help instead of def (a computed default)
	arg   string // placeholder in help
	usage string
	set   func(c *Config, v string) error
	// required: no default; the command refuses to run without it.
	required bool
}

var allFlags = []*flagSpec{
	{name: "config", env: envConfig, arg: "FILE",
		usage: "YAML file of settings; keys are flag names (nats-url: …), lists may be YAML lists"},
	{name: "id", env: "KONTIKI_ID", arg: "ID", required: true,
		usage: "this member's node id, a non-zero decimal",
		set:   func(c *Config, v string) (err error) { c.ID, err = parseID(v); return }},
	{name: "cluster", env: "KONTIKI_CLUSTER", def: "kontiki", arg: "NAME",
		usage: "cluster name, the <c> of the NATS subjects kontiki.<c>.…",
		set:   setCluster},
	{name: "peers", env: "KONTIKI_PEERS", arg: "IDS", required: true,
		usage: "the initial voters' ids, comma-separated, this member included (1,2,3; 1 for a one-member cluster)",
		set:   func(c *Config, v string) (err error) { c.Peers, err = parseIDs(v); return }},
	{name: "data-dir", env: "KONTIKI_DATA_DIR", arg: "DIR", shown: "./kontiki-data/<id>",
		usage: "where the log and snapshots live",
		set:   func(c *Config, v string) error { c.DataDir = v; return nil }},
	{name: "nats-url", env: "NATS_URL", arg: "URLS",
		usage: "external NATS server URLs, comma-separated; without it the member runs an embedded NATS server",
		set:   func(c *Config, v string) error { c.NATSURL = v; return nil }},
	{name: "nats-listen", env: "KONTIKI_NATS_LISTEN", def: "127.0.0.1:4222", arg: "ADDR",
		usage: "embedded NATS server: client address (port 0: any free port)",
		set:   func(c *Config, v string) (err error) { c.NATSListen, err = parseAddr(v); return }},
	{name: "nats-cluster-listen", env: "KONTIKI_NATS_CLUSTER_LISTEN", arg: "ADDR", shown: "none (no clustering)",
		usage: "embedded NATS server: address for routes from the other members' servers",
		set: func(c *Config, v string) (err error) {
			if v == "" {
				c.NATSClusterListen = ""
				return nil
			}
			c.NATSClusterListen, err = parseAddr(v)
			return
		}},
	{name: "nats-routes", env: "KONTIKI_NATS_ROUTES", arg: "URLS",
		usage: "embedded NATS server: the other servers' route URLs, comma-separated (nats-route://host:port)",
		set:   func(c *Config, v string) (err error) { c.NATSRoutes, err = parseRoutes(v); return }},
	{name: "nats-creds", env: "KONTIKI_NATS_CREDS", arg: "FILE",
		usage: "NATS credentials file (needs --nats-url)",
		set:   func(c *Config, v string) error { c.NATSCreds = v; return nil }},
	{name: "nats-user", env: "KONTIKI_NATS_USER", arg: "NAME",
		usage: "NATS user; an embedded server requires it of every client",
		set:   func(c *Config, v string) error { c.NATSUser = v; return nil }},
	{name: "nats-password", env: "KONTIKI_NATS_PASSWORD", arg: "PASSWORD",
		usage: "NATS password (with --nats-user)",
		set:   func(c *Config, v string) error { c.NATSPassword = v; return nil }},
	{name: "tls-ca", env: "KONTIKI_TLS_CA", arg: "FILE",
		usage: "CA certificate to verify the NATS server; an embedded server then also verifies clients with it",
		set:   func(c *Config, v string) error { c.TLSCA = v; return nil }},
	{name: "tls-cert", env: "KONTIKI_TLS_CERT", arg: "FILE",
		usage: "TLS certificate: the client's, and an embedded server's",
		set:   func(c *Config, v string) error { c.TLSCert = v; return nil }},
	{name: "tls-key", env: "KONTIKI_TLS_KEY", arg: "FILE",
		usage: "private key of --tls-cert",
		set:   func(c *Config, v string) error { c.TLSKey = v; return nil }},
	{name: "http-addr", env: "KONTIKI_HTTP_ADDR", def: "127.0.0.1:8080", arg: "ADDR",
		usage: "HTTP address of /livez, /readyz, /status and /metrics",
		set:   func(c *Config, v string) (err error) { c.HTTPAddr, err = parseAddr(v); return }},
	{name: "tick", env: "KONTIKI_TICK", def: "100ms", arg: "DURATION",
		usage: "one logical raft tick",
		set:   func(c *Config, v string) (err error) { c.Tick, err = parsePositiveDuration(v); return }},
	{name: "election-ticks", env: "KONTIKI_ELECTION_TICKS", def: "10", arg: "N",
		usage: "election timeout E in ticks; a follower campaigns after [E, 2E) ticks without a leader",
		set:   func(c *Config, v string) (err error) { c.ElectionTicks, err = parseInt(v, 1); return }},
	{name: "heartbeat-ticks", env: "KONTIKI_HEARTBEAT_TICKS", def: "1", arg: "N",
		usage: "the leader's heartbeat interval in ticks",
		set:   func(c *Config, v string) (err error) { c.HeartbeatTicks, err = parseInt(v, 1); return }},
	{name: "max-value-bytes", env: "KONTIKI_MAX_VALUE_BYTES", def: "0", shown: "0 (max_payload - 64 KiB)", arg: "N",
		usage: "largest value accepted (capped at the NATS max_payload minus 64 KiB)",
		set:   func(c *Config, v string) (err error) { c.MaxValueBytes, err = parseInt(v, 0); return }},
	{name: "snapshot-entries", env: "KONTIKI_SNAPSHOT_ENTRIES", def: "0", shown: "0 (10000)", arg: "N",
		usage: "take a snapshot after this many applied entries (0: at least 10000, and no sooner than the entry data since the last snapshot is as large as it, times a random 1-1.5 so members do not snapshot together, or --snapshot-bytes)",
		set: func(c *Config, v string) error {
			n, err := parseInt(v, 0)
			c.SnapshotEntries = uint64(n)
			return err
		}},
	{name: "snapshot-bytes", env: "KONTIKI_SNAPSHOT_BYTES", def: "0", shown: "0 (64 MiB)", arg: "N",
		usage: "take a snapshot after this many bytes of applied entries (or --snapshot-entries, whichever first)",
		set: func(c *Config, v string) error {
			n, err := parseInt(v, 0)
			c.SnapshotBytes = uint64(n)
			return err
		}},
	{name: "snapshot-keep-entries", env: "KONTIKI_SNAPSHOT_KEEP_ENTRIES", def: "0", shown: "0 (5000)", arg: "N",
		usage: "entries kept behind a snapshot for slow followers (further behind, they get the snapshot)",
		set: func(c *Config, v string) error {
			n, err := parseInt(v, 0)
			c.SnapshotKeepEntries = uint64(n)
			return err
		}},
	{name: "log-level", env: "KONTIKI_LOG_LEVEL", def: "info", arg: "LEVEL",
		usage: "debug, info, warn or error",
		set:   func(c *Config, v string) (err error) { c.LogLevel, err = parseLevel(v); return }},
	{name: "log-format", env: "KONTIKI_LOG_FORMAT", def: "text", arg: "FORMAT",
		usage: "text or json",
		set:   setLogFormat},
	{name: "timeout", env: "KONTIKI_HEALTH_TIMEOUT", def: "2s", arg: "DURATION",
		usage: "how long to wait for /readyz",
		set:   func(c *Config, v string) (err error) { c.HealthTimeout, err = parsePositiveDuration(v); return }},
}

// commandSpec is `member`, `member dev` or `member health`.
type commandSpec struct {
	name     string
	synopsis string
	about    string
	names    []string          // its flags, in help order
	defaults map[string]string // defaults that differ from the table's
	usages   map[string]string // help texts that differ from the table's
	check    func(*Config) error
	run      func(ctx context.Context, s *session, c *Config) int
	footer   string
	// arg names the command's one positional argument ("" for none); it is
	// recorded in the given map under "arg:<name>".
	arg string
}

func (cmd *commandSpec) flags() []*flagSpec {
	out := make([]*flagSpec, 0, len(cmd.names))
	for _, n := range cmd.names {
		out = append(out, cmd.lookup(n))
	}
	return out
}

func (cmd *commandSpec) lookup(name string) *flagSpec {
	if !cmd.has(name) {
		return nil
	}
	for _, f := range allFlags {
		if f.name == name {
			return f
		}
	}
	panic("member: flag " + name + " is not in the table")
}

func (cmd *commandSpec) has(name string) bool {
	for _, n := range cmd.names {
		if n == name {
			return true
		}
	}
	return false
}

func (cmd *commandSpec) defaultOf(f *flagSpec) string {
	if d, ok := cmd.defaults[f.name]; ok {
		return d
	}
	return f.def
}

// parseArgs parses args against cmd's flags. It returns the flags given
// (name → text; a repeated flag keeps its last value), flag.ErrHelp for
// -h/--help, or a usage error.
func parseArgs(cmd *commandSpec, args []string) (map[string]string, error) {
	fs := flag.NewFlagSet("member", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	given := map[string]string{}
	for _, f := range cmd.flags() {
		fs.Var(recorder{name: f.name, into: given}, f.name, f.usage)
	}
	// A positional argument may come first (member restore FILE --data-dir
	// DIR): the flag package stops at the first non-flag.
	var positional []string
	if cmd.arg != "" && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		positional, args = args[:1], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
			msg = "unknown flag --" + strings.TrimLeft(name, "-")
		}
		return nil, usagef("%s", msg)
	}
	positional = append(positional, fs.Args()...)
	if cmd.arg != "" {
		if len(positional) != 1 {
			return nil, usagef("want exactly one %s argument", cmd.arg)
		}
		given["arg:"+cmd.arg] = positional[0]
		return given, nil
	}
	if len(positional) > 0 {
		return nil, usagef("unexpected argument %q", positional[0])
	}
	return given, nil
}

// recorder is a flag.Value that only records the text: values are parsed
// later, after the file and the environment, so precedence is one rule.
type recorder struct {
	name string
	into map[string]string
}

func (r recorder) String() string     { return "" }
func (r recorder) Set(v string) error { r.into[r.name] = v; return nil }

// printHelp writes cmd's usage: every flag with its environment twin and
// default.
func printHelp(w io.Writer, cmd *commandSpec) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n\n", cmd.synopsis, strings.TrimSpace(cmd.about))
	if cmd.has("config") {
		fmt.Fprint(w, "Flags (precedence: flag, then environment, then --config file, then default):\n")
	} else {
		fmt.Fprint(w, "Flags (precedence: flag, then environment, then default):\n")
	}
	for _, f := range cmd.flags() {
		def := cmd.defaultOf(f)
		if _, overridden := cmd.defaults[f.name]; f.shown != "" && !overridden {
			def = f.shown
		}
		if def == "" {
			def = "none"
		}
		usage := f.usage
		if u, ok := cmd.usages[f.name]; ok {
			usage = u
		}
		def = "default " + def
		if f.required {
			def = "required"
		}
		fmt.Fprintf(w, "  --%s %s  (env %s, %s)\n        %s\n", f.name, f.arg, f.env, def, usage)
	}
	if cmd.footer != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(cmd.footer))
	}
}

func parseID(v string) (uint64, error) {
	id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil || id == 0 {
		return 0, errors.New("want a non-zero decimal node id")
	}
	return id, nil
}

func parseIDs(v string) ([]uint64, error) {
	var ids []uint64
	for _, part := range strings.Split(v, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		id, err := parseID(part)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", part, err)
		}
		for _, seen := range ids {
			if seen == id {
				return nil, fmt.Errorf("id %d listed twice", id)
			}
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// setCluster accepts a name that is one NATS subject token.
func setCluster(c *Config, v string) error {
	if v == "" || strings.ContainsAny(v, ".*> \t\r\n") {
		return errors.New("want one NATS subject token: no dots, spaces, '*' or '>'")
	}
	c.Cluster = v
	return nil
}

// parseAddr accepts host:port with a port in 0..65535 (0: any free port).
func parseAddr(v string) (string, error) {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", errors.New("want host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", errors.New("want a port in 0..65535")
	}
	return v, nil
}

func parseRoutes(v string) ([]*url.URL, error) {
	var out []*url.URL
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		u, err := url.Parse(part)
		if err != nil || u.Host == "" || (u.Scheme != "nats-route" && u.Scheme != "nats" && u.Scheme != "tls") {
			return nil, fmt.Errorf("%q: want nats-route://host:port", part)
		}
		out = append(out, u)
	}
	return out, nil
}

func parsePositiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("want a duration such as 100ms or 2s")
	}
	if d <= 0 {
		return 0, errors.New("want a positive duration")
	}
	return d, nil
}

func parseInt(v string, min int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errors.New("want a whole number")
	}
	if n < min {
		return 0, fmt.Errorf("want at least %d", min)
	}
	return n, nil
}

func parseLevel(v string) (slog.Level, error) {
	switch strings.ToLower(v) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, errors.New("want debug, info, warn or error")
}

func setLogFormat(c *Config, v string) error {
	if v != "text" && v != "json" {
		return errors.New("want text or json")
	}
	c.LogFormat = v
	return nil
}
