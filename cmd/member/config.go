// This file owns Config, what a member runs with, and how it is assembled:
// defaults, then the --config YAML file, then the environment, then the
// flags (each later source overrides the earlier ones), then the checks
// that look at several settings at once.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is one member's (or the dev cluster's, or health's) settings.
type Config struct {
	ID      uint64
	Cluster string
	// Peers are the initial voters, this member included.
	Peers   []uint64
	DataDir string

	// NATSURL is an external NATS server; empty runs an embedded one.
	NATSURL           string
	NATSListen        string
	NATSClusterListen string
	NATSRoutes        []*url.URL
	NATSCreds         string
	NATSUser          string
	NATSPassword      string
	TLSCA             string
	TLSCert           string
	TLSKey            string

	HTTPAddr string

	Tick            time.Duration
	ElectionTicks   int
	HeartbeatTicks  int
	MaxValueBytes   int
	SnapshotEntries uint64
	SnapshotBytes   uint64
	// SnapshotKeepEntries: entries kept behind a snapshot (0: default).
	SnapshotKeepEntries uint64

	LogLevel  slog.Level
	LogFormat string

	// HealthTimeout bounds `member health`'s request.
	HealthTimeout time.Duration

	// Arg is the command's positional argument (member restore's FILE).
	Arg string
}

// embedded reports whether the member runs its own NATS server.
func (c *Config) embedded() bool { return c.NATSURL == "" }

// source names where a value came from, for error messages.
type source struct {
	kind string // "flag", "env", "file", "default"
	name string // --tick, KONTIKI_TICK, the file's path
	key  string // the key within a file
}

func (s source) String() string {
	switch s.kind {
	case "flag":
		return s.name
	case "env":
		return "$" + s.name
	case "file":
		return fmt.Sprintf("%q in %s", s.key, s.name)
	}
	return "the default of --" + s.key
}

// valueError is a setting that does not parse.
func valueError(src source, value string, err error) error {
	return usagef("invalid value %q for %s: %v", value, src, err)
}

// loadConfig assembles the Config of command cmd from its parsed flags
// (name → value, only those given), the environment and the file.
func loadConfig(cmd *commandSpec, given map[string]string, env func(string) string) (*Config, error) {
	c := &Config{}
	specs := cmd.flags()
	for _, f := range specs {
		def := cmd.defaultOf(f)
		if f.set == nil || def == "" {
			continue
		}
		if err := f.set(c, def); err != nil {
			return nil, valueError(source{kind: "default", key: f.name}, def, err)
		}
	}
	path := given["config"]
	if path == "" && cmd.has("config") {
		path = env(envConfig)
	}
	if path != "" {
		if err := applyFile(c, cmd, path); err != nil {
			return nil, err
		}
	}
	for _, f := range specs {
		if v := env(f.env); v != "" && f.set != nil {
			if err := f.set(c, v); err != nil {
				return nil, valueError(source{kind: "env", name: f.env}, v, err)
			}
		}
	}
	for _, f := range specs {
		if v, ok := given[f.name]; ok && f.set != nil {
			if err := f.set(c, v); err != nil {
				return nil, valueError(source{kind: "flag", name: "--" + f.name}, v, err)
			}
		}
	}
	if cmd.arg != "" {
		c.Arg = given["arg:"+cmd.arg]
	}
	if cmd.check != nil {
		if err := cmd.check(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// applyFile sets the keys of a YAML file; keys are flag names without the
// dashes (`nats-url: nats://…`), lists may be YAML sequences (`peers: [1, 2, 3]`).
func applyFile(c *Config, cmd *commandSpec, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return usagef("config file: %v", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return usagef("config file %s: %v", path, err)
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f := cmd.lookup(k)
		if f == nil || f.set == nil {
			return usagef("config file %s: unknown key %q", path, k)
		}
		v, err := yamlString(doc[k])
		src := source{kind: "file", name: path, key: k}
		if err != nil {
			return usagef("invalid value for %s: %v", src, err)
		}
		if err := f.set(c, v); err != nil {
			return valueError(src, v, err)
		}
	}
	return nil
}

// yamlString turns a decoded YAML value into the text a flag would carry.
func yamlString(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case int, int64, uint64, float64, bool:
		return fmt.Sprint(v), nil
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			s, err := yamlString(e)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("want a scalar or a list, got %T", v)
}

// checkMember checks what one setting alone cannot, and fills the defaults
// that depend on other settings (peers, data dir).
func checkMember(c *Config) error {
	if c.ID == 0 {
		return usagef("--id is required (or $KONTIKI_ID)")
	}
	// Required, not defaulted to the id alone: a member started without its
	// peers would elect itself and answer on the cluster's subjects.
	if len(c.Peers) == 0 {
		return usagef("--peers is required (or $KONTIKI_PEERS): the initial voters, e.g. 1,2,3 (1 for a one-member cluster)")
	}
	if !slices.Contains(c.Peers, c.ID) {
		return usagef("--peers %s does not contain --id %d", joinIDs(c.Peers), c.ID)
	}
	if c.DataDir == "" {
		c.DataDir = filepath.Join("kontiki-data", strconv.FormatUint(c.ID, 10))
	}
	if err := checkRaft(c); err != nil {
		return err
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	if c.NATSPassword != "" && c.NATSUser == "" {
		return usagef("--nats-password needs --nats-user")
	}
	if c.embedded() {
		switch {
		case c.NATSCreds != "":
			return usagef("--nats-creds needs --nats-url: an embedded NATS server has no operator to check credentials")
		case c.TLSCA != "" && c.TLSCert == "":
			return usagef("--tls-ca with an embedded NATS server needs --tls-cert and --tls-key (the server's certificate)")
		case len(c.NATSRoutes) > 0 && c.NATSClusterListen == "":
			return usagef("--nats-routes needs --nats-cluster-listen")
		case c.NATSUser != "" && routesWithOtherUser(c):
			return usagef("--nats-routes: a route URL names another user than --nats-user (the embedded servers' routes use the same user and password)")
		}
	}
	return nil
}

// routesWithOtherUser reports a route URL with user info that differs from
// the NATS user.
func routesWithOtherUser(c *Config) bool {
	for _, r := range c.NATSRoutes {
		if r.User != nil && r.User.Username() != c.NATSUser {
			return true
		}
	}
	return false
}

// checkRaft checks the timing settings every running command shares.
func checkRaft(c *Config) error {
	if c.ElectionTicks <= c.HeartbeatTicks {
		return usagef("--election-ticks (%d) must be greater than --heartbeat-ticks (%d)", c.ElectionTicks, c.HeartbeatTicks)
	}
	return nil
}

// usageError is a command line that cannot run: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func isUsage(err error) bool {
	var ue *usageError
	return errors.As(err, &ue)
}

func joinIDs(ids []uint64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatUint(id, 10)
	}
	return strings.Join(parts, ",")
}
