// Command member is the Kontiki daemon: `member` runs one member of a
// cluster, `member dev` a 3-member demo cluster in one process, `member
// health` checks a member's readiness for container healthchecks. This file
// owns the entry point, the commands and their dispatch.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the member failed, did not stop in time, or is not ready
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is the whole command; main only supplies the process's arguments,
// environment and streams. SIGINT and SIGTERM stop it gracefully.
func run(args []string, env func(string) string, stdout, stderr io.Writer) int {
	ctx, force, release := notifySignals()
	defer release()
	return runContext(ctx, &session{env: env, stdout: stdout, stderr: stderr, force: force}, args)
}

// session is what a command runs with besides its Config.
type session struct {
	env    func(string) string
	stdout io.Writer
	stderr io.Writer
	// force is closed when the graceful stop should be abandoned.
	force <-chan struct{}
	// devStarted, if set, is told where the dev cluster listens (tests).
	devStarted func(devInfo)
}

// runContext runs the command args name until ctx is cancelled (the
// graceful stop).
func runContext(ctx context.Context, s *session, args []string) int {
	if len(args) > 0 && args[0] == "help" {
		printHelp(s.stdout, memberCommand)
		return exitOK
	}
	cmd, c, err := parseCommand(args, s.env)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(s.stdout, cmd)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(s.stderr, "%s: %v (see '%s --help')\n", cmd.title(), err, cmd.title())
		if isUsage(err) {
			return exitUsage
		}
		return exitError
	}
	return cmd.run(ctx, s, c)
}

// parseCommand picks the command and builds its Config from args, env and
// the --config file. The error is flag.ErrHelp for --help.
func parseCommand(args []string, env func(string) string) (*commandSpec, *Config, error) {
	cmd := memberCommand
	if len(args) > 0 {
		switch args[0] {
		case "dev":
			cmd, args = devCommand, args[1:]
		case "health":
			cmd, args = healthCommand, args[1:]
		case "restore":
			cmd, args = restoreCommand, args[1:]
		}
	}
	given, err := parseArgs(cmd, args)
	if err != nil {
		return cmd, nil, err
	}
	c, err := loadConfig(cmd, given, env)
	return cmd, c, err
}

func (cmd *commandSpec) title() string {
	if cmd.name == "" {
		return "member"
	}
	return "member " + cmd.name
}

var connectionFlags = []string{
	"nats-url", "nats-listen", "nats-cluster-listen", "nats-routes",
	"nats-creds", "nats-user", "nats-password", "tls-ca", "tls-cert", "tls-key",
}

var raftFlags = []string{"tick", "election-ticks", "heartbeat-ticks", "max-value-bytes", "snapshot-entries", "snapshot-bytes", "snapshot-keep-entries"}

var memberCommand = &commandSpec{
	synopsis: "member [flags]\n       member dev [flags]\n       member health [flags]\n       member restore FILE --id N --peers IDS --data-dir DIR",
	about: `member runs one member of a Kontiki cluster: a Raft node serving the
replicated key-value store over NATS (DESIGN.md §3). Without --nats-url it
runs an embedded NATS server on --nats-listen, clustered with the other
members' servers through --nats-cluster-listen and --nats-routes; its raft
traffic then reaches that server through an in-process connection.

  member dev      a 3-member demo cluster in this process ('member dev --help')
  member health   exit 0 if a member is ready ('member health --help')
  member restore  seed a NEW cluster's data directory from a snapshot file
                  ('member restore --help')

SIGINT or SIGTERM stops the member gracefully within 10s: /readyz answers 503
at once, a leader hands leadership to the most caught-up follower, the actors
stop, the NATS connections drain, the embedded server shuts down.`,
	names: concat([]string{"config", "id", "cluster", "peers", "data-dir"}, connectionFlags,
		[]string{"http-addr"}, raftFlags, []string{"log-level", "log-format"}),
	check: checkMember,
	run:   runMember,
	footer: `HTTP: /livez (200 while the process runs), /readyz (200 when a leader is known
and the applied index is close to the commit index), /status (JSON),
/metrics (Prometheus).

Example, three members on one host:
  member --id 1 --peers 1,2,3 --nats-listen 127.0.0.1:4222 --nats-cluster-listen 127.0.0.1:6222 \
         --nats-routes nats-route://127.0.0.1:6223,nats-route://127.0.0.1:6224 --http-addr 127.0.0.1:8080
  (members 2 and 3 alike, with their own ports)`,
}

var devCommand = &commandSpec{
	name:     "dev",
	synopsis: "member dev [flags]",
	about: `member dev runs a 3-member cluster in this process with one embedded NATS
server, its data in a temporary directory removed on exit, and prints how to
talk to it. Ctrl-C stops it.`,
	names:    concat([]string{"cluster", "nats-listen", "http-addr"}, raftFlags, []string{"log-level", "log-format"}),
	defaults: map[string]string{"log-level": "warn"},
	usages: map[string]string{
		"nats-listen": "the NATS server's client address (port 0: any free port)",
		"http-addr":   "member 1's HTTP address; members 2 and 3 take the next two ports (port 0: any free ports)",
	},
	check: checkRaft,
	run:   runDev,
}

var healthCommand = &commandSpec{
	name:     "health",
	synopsis: "member health [flags]",
	about: `member health asks a member's /readyz and exits 0 if it answers 200, 1
otherwise, 2 on a usage error (an unknown flag, an argument). Made for
container healthchecks: it needs no shell or curl.`,
	names: []string{"http-addr", "timeout"},
	usages: map[string]string{
		"http-addr": "the member's HTTP address (0.0.0.0 or an empty host: this host)",
	},
	run: runHealth,
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
