package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSettingsComeFromFlagsThenEnvironmentThenFileThenDefaults(t *testing.T) {
	file := writeFile(t, "member.yaml", `
id: 2
cluster: fromfile
peers: [1, 2, 3]
tick: 50ms
election-ticks: 20
http-addr: 127.0.0.1:9000
nats-cluster-listen: 0.0.0.0:6222
nats-routes:
  - nats-route://10.0.0.1:6222
  - nats-route://10.0.0.2:6222
log-level: debug
`)
	other := writeFile(t, "other.yaml", "id: 7\n")
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "defaults",
			args: []string{"--id", "1", "--peers", "1"},
			check: func(t *testing.T, c *Config) {
				want := Config{ID: 1, Cluster: "kontiki", Peers: []uint64{1}, DataDir: filepath.Join("kontiki-data", "1"),
					NATSListen: "127.0.0.1:4222", HTTPAddr: "127.0.0.1:8080", Tick: 100 * time.Millisecond,
					ElectionTicks: 10, HeartbeatTicks: 1, LogLevel: slog.LevelInfo, LogFormat: "text", HealthTimeout: 2 * time.Second}
				if c.ID != want.ID || c.Cluster != want.Cluster || !slices.Equal(c.Peers, want.Peers) || c.DataDir != want.DataDir ||
					c.NATSListen != want.NATSListen || c.HTTPAddr != want.HTTPAddr || c.Tick != want.Tick ||
					c.ElectionTicks != want.ElectionTicks || c.HeartbeatTicks != want.HeartbeatTicks ||
					c.LogLevel != want.LogLevel || c.LogFormat != want.LogFormat || !c.embedded() {
					t.Errorf("got %+v, want %+v", *c, want)
				}
			},
		},
		{
			name: "file over defaults",
			args: []string{"--config", file},
			check: func(t *testing.T, c *Config) {
				if c.ID != 2 || c.Cluster != "fromfile" || !slices.Equal(c.Peers, []uint64{1, 2, 3}) || c.Tick != 50*time.Millisecond ||
					c.ElectionTicks != 20 || c.HTTPAddr != "127.0.0.1:9000" || len(c.NATSRoutes) != 2 ||
					c.NATSRoutes[1].Host != "10.0.0.2:6222" || c.LogLevel != slog.LevelDebug || c.DataDir != filepath.Join("kontiki-data", "2") {
					t.Errorf("file not applied: %+v", *c)
				}
				if c.HeartbeatTicks != 1 {
					t.Errorf("heartbeat-ticks = %d, want the default 1", c.HeartbeatTicks)
				}
			},
		},
		{
			name: "environment over file",
			args: []string{"--config", file},
			env:  map[string]string{"KONTIKI_TICK": "70ms", "KONTIKI_CLUSTER": "fromenv", "NATS_URL": "nats://nats:4222", "KONTIKI_DATA_DIR": "/data"},
			check: func(t *testing.T, c *Config) {
				if c.Tick != 70*time.Millisecond || c.Cluster != "fromenv" || c.NATSURL != "nats://nats:4222" || c.DataDir != "/data" {
					t.Errorf("environment not applied: %+v", *c)
				}
				if c.ElectionTicks != 20 {
					t.Errorf("election-ticks = %d, want 20 from the file", c.ElectionTicks)
				}
			},
		},
		{
			name: "flags over environment",
			args: []string{"--config", file, "--tick", "90ms", "--nats-url", "nats://flag:4222", "--id", "3"},
			env:  map[string]string{"KONTIKI_TICK": "70ms", "NATS_URL": "nats://nats:4222", "KONTIKI_ID": "1"},
			check: func(t *testing.T, c *Config) {
				if c.Tick != 90*time.Millisecond || c.NATSURL != "nats://flag:4222" || c.ID != 3 {
					t.Errorf("flags not applied: %+v", *c)
				}
			},
		},
		{
			name: "config file named in the environment",
			args: nil,
			env:  map[string]string{"KONTIKI_CONFIG": file},
			check: func(t *testing.T, c *Config) {
				if c.ID != 2 || c.Cluster != "fromfile" {
					t.Errorf("KONTIKI_CONFIG not read: %+v", *c)
				}
			},
		},
		{
			name: "--config over KONTIKI_CONFIG",
			args: []string{"--config", other, "--peers", "7"},
			env:  map[string]string{"KONTIKI_CONFIG": file},
			check: func(t *testing.T, c *Config) {
				if c.ID != 7 || c.Cluster != "kontiki" {
					t.Errorf("got id %d cluster %q, want the --config file's id 7 and the default cluster", c.ID, c.Cluster)
				}
			},
		},
		{
			name: "dev has its own defaults",
			args: []string{"dev"},
			check: func(t *testing.T, c *Config) {
				if c.LogLevel != slog.LevelWarn || c.NATSListen != "127.0.0.1:4222" || c.HTTPAddr != "127.0.0.1:8080" {
					t.Errorf("dev defaults: %+v", *c)
				}
			},
		},
		{
			name: "health reads the HTTP address from the environment",
			args: []string{"health", "--timeout", "1s"},
			env:  map[string]string{"KONTIKI_HTTP_ADDR": "0.0.0.0:9090"},
			check: func(t *testing.T, c *Config) {
				if c.HTTPAddr != "0.0.0.0:9090" || c.HealthTimeout != time.Second || healthAddr(c.HTTPAddr) != "127.0.0.1:9090" {
					t.Errorf("health: %+v", *c)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c, err := parseCommand(tt.args, envOf(tt.env))
			if err != nil {
				t.Fatalf("parse %q: %v", tt.args, err)
			}
			tt.check(t, c)
		})
	}
}

func TestBadCommandLinesExitTwoWithOneLine(t *testing.T) {
	badFile := writeFile(t, "bad.yaml", "id: 1\nticks: 5\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown flag", []string{"--id", "1", "--bogus"}, nil, "unknown flag --bogus"},
		{"missing peers", []string{"--id", "1"}, nil, "--peers is required"},
		{"unknown dev flag", []string{"dev", "--id", "1"}, nil, "unknown flag --id"},
		{"unknown health flag", []string{"health", "--tick", "1s"}, nil, "unknown flag --tick"},
		{"stray argument", []string{"--id", "1", "extra"}, nil, `unexpected argument "extra"`},
		{"missing id", nil, nil, "--id is required"},
		{"zero id", []string{"--id", "0"}, nil, `invalid value "0" for --id`},
		{"bad duration", []string{"--id", "1", "--peers", "1", "--tick", "abc"}, nil, `invalid value "abc" for --tick`},
		{"negative duration", []string{"--id", "1", "--peers", "1", "--tick", "-1s"}, nil, "positive duration"},
		{"bad env value", []string{"--id", "1"}, map[string]string{"KONTIKI_ELECTION_TICKS": "many"}, `invalid value "many" for $KONTIKI_ELECTION_TICKS`},
		{"peers without id", []string{"--id", "1", "--peers", "2,3"}, nil, "does not contain --id 1"},
		{"peer twice", []string{"--id", "1", "--peers", "1,1"}, nil, "listed twice"},
		{"election not above heartbeat", []string{"--id", "1", "--peers", "1", "--election-ticks", "2", "--heartbeat-ticks", "2"}, nil, "must be greater"},
		{"log level", []string{"--id", "1", "--peers", "1", "--log-level", "loud"}, nil, "want debug, info, warn or error"},
		{"log format", []string{"--id", "1", "--peers", "1", "--log-format", "xml"}, nil, "want text or json"},
		{"http address", []string{"--id", "1", "--peers", "1", "--http-addr", "8080"}, nil, "want host:port"},
		{"route URL", []string{"--id", "1", "--peers", "1", "--nats-cluster-listen", "127.0.0.1:6222", "--nats-routes", "http://x:1"}, nil, "nats-route://host:port"},
		{"routes without cluster port", []string{"--id", "1", "--peers", "1", "--nats-routes", "nats-route://x:1"}, nil, "needs --nats-cluster-listen"},
		{"creds on an embedded server", []string{"--id", "1", "--peers", "1", "--nats-creds", "x.creds"}, nil, "needs --nats-url"},
		{"cert without key", []string{"--id", "1", "--peers", "1", "--nats-url", "nats://x", "--tls-cert", "c.pem"}, nil, "go together"},
		{"cluster name with a dot", []string{"--id", "1", "--peers", "1", "--cluster", "a.b"}, nil, "one NATS subject token"},
		{"unknown file key", []string{"--config", badFile}, nil, `unknown key "ticks"`},
		{"missing file", []string{"--config", filepath.Join(t.TempDir(), "none.yaml")}, nil, "config file"},
		{"bad dev value", []string{"dev", "--tick", "0s"}, nil, `invalid value "0s" for --tick`},
		{"route for another user", []string{"--id", "1", "--peers", "1", "--nats-user", "a", "--nats-cluster-listen", "127.0.0.1:6222", "--nats-routes", "nats-route://b:pw@x:1"}, nil, "another user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runContext(context.Background(), &session{env: envOf(tt.env), stdout: &stdout, stderr: &stderr}, tt.args)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr %q", code, exitUsage, stderr.String())
			}
			msg := stderr.String()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("stderr %q does not say %q", msg, tt.want)
			}
			if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "member") {
				t.Errorf("stderr is not one line starting with the command: %q", msg)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty: %q", stdout.String())
			}
		})
	}
}

func TestHelpListsEveryFlagWithItsEnvironmentVariableAndDefault(t *testing.T) {
	for _, cmd := range []*commandSpec{memberCommand, devCommand, healthCommand} {
		t.Run(cmd.title(), func(t *testing.T) {
			args := []string{"--help"}
			if cmd.name != "" {
				args = []string{cmd.name, "--help"}
			}
			var stdout, stderr bytes.Buffer
			if code := runContext(context.Background(), &session{env: envOf(nil), stdout: &stdout, stderr: &stderr}, args); code != exitOK {
				t.Fatalf("exit %d; stderr %q", code, stderr.String())
			}
			help := stdout.String()
			for _, f := range cmd.flags() {
				line := lineWith(help, "  --"+f.name+" ")
				if line == "" {
					t.Errorf("help does not list --%s", f.name)
					continue
				}
				if !strings.Contains(line, "env "+f.env) {
					t.Errorf("--%s: line %q does not name %s", f.name, line, f.env)
				}
				def := cmd.defaultOf(f)
				if def != "" && !strings.Contains(line, def) {
					t.Errorf("--%s: line %q does not show the default %q", f.name, line, def)
				}
			}
		})
	}
	var stdout bytes.Buffer
	runContext(context.Background(), &session{env: envOf(nil), stdout: &stdout, stderr: &stdout}, []string{"--help"})
	for _, want := range []string{"member dev", "member health", "required", "./kontiki-data/<id>"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("member --help does not mention %q", want)
		}
	}
}

// lineWith returns the first line of text that starts with prefix.
func lineWith(text, prefix string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func TestLogLinesCarryNodeAndClusterOnce(t *testing.T) {
	var buf bytes.Buffer
	c := &Config{LogLevel: slog.LevelInfo, LogFormat: "text"}
	logger := newLogger(&buf, c, "kontiki", 3)
	logger.With("cluster", "kontiki").With("node", 3).Info("derived", "node", 3, "term", 1)
	logger.Info("plain")
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if strings.Count(line, "node=3") != 1 || strings.Count(line, "cluster=kontiki") != 1 {
			t.Errorf("line %q: want node and cluster exactly once", line)
		}
	}
	if !strings.Contains(buf.String(), "term=1") {
		t.Errorf("other attributes dropped: %q", buf.String())
	}
}
