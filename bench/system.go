// The systems under test. Each runs as three members inside one child
// process (one process per system and repetition), each member with its own
// data directory under the run's data root; clients run in the same process.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
)

// store is one running three-member cluster as the workloads see it.
type store interface {
	// put writes value under key and returns once the system acknowledged
	// it as committed (durably, where the system is configured so).
	put(ctx context.Context, key string, value []byte) error
	// get reads key with the system's linearizable (or closest) read;
	// a missing key is not an error.
	get(ctx context.Context, key string) error
	// syncs counts fsyncs (or fdatasyncs) of all three members so far;
	// ok is false where the system does not expose it.
	syncs() (n uint64, ok bool)
	// info is a short state line (leader, term) recorded around each cell.
	info(ctx context.Context) string
	close(ctx context.Context) error
}

type systemSpec struct {
	name    string // flag value and JSON key
	label   string // table row
	durable bool   // fsync before acknowledging
	// notes for the table: topology, client path, read path.
	notes string
	start func(ctx context.Context, dir string, logw io.Writer) (store, error)
}

var systems = []systemSpec{
	{
		name: "kontiki", label: "Kontiki (WAL, fsync)", durable: true,
		notes: "3 members (cluster.StartMember + OpenLogStore), each on its own embedded nats-server, servers clustered by routes, each member's raft traffic on an in-process connection to its own server and its clients' on a TCP one (the daemon's topology); daemon defaults (tick 100ms); client: the Go client (leader-aware; by default it coalesces the writes its callers issue at the same moment into one kv.batch request, each write keeping its own request id and result; no write waits for a timer) on one connection to server 1; get = linearizable (ReadIndex)",
		start: func(ctx context.Context, dir string, logw io.Writer) (store, error) {
			return startKontiki(ctx, dir, logw, kontikiSetup{})
		},
	},
	{
		name: "kontiki-unbatched", label: "Kontiki, one request per write (client reference)", durable: true,
		notes: "as kontiki, but the Go client sends every put as its own kv.put request (Options.NoBatching), as the JetStream, etcd and hashicorp/raft clients here do; not in the default set",
		start: func(ctx context.Context, dir string, logw io.Writer) (store, error) {
			return startKontiki(ctx, dir, logw, kontikiSetup{noBatching: true})
		},
	},
	{
		name: "kontiki-1nats", label: "Kontiki, one shared nats-server (topology reference)", durable: true,
		notes: "as kontiki, but the three members and the client share one embedded nats-server (no route hops; the members' raft traffic still on in-process connections to it); not in the default set",
		start: func(ctx context.Context, dir string, logw io.Writer) (store, error) {
			return startKontiki(ctx, dir, logw, kontikiSetup{sharedNATS: true})
		},
	},
	{
		name: "jetstream", label: "JetStream KV R3 (sync always)", durable: true,
		notes: "3 embedded nats-servers clustered by routes, JetStream file storage, sync_interval: always (SyncAlways); KV bucket replicas=3, history 1, allow_direct=false; client: nats.go jetstream KV on one connection to server 1; get = leader-served STREAM.MSG.GET",
		start: func(ctx context.Context, dir string, logw io.Writer) (store, error) {
			return startJetStream(ctx, dir, logw, true)
		},
	},
	{
		name: "jetstream-lazy", label: "JetStream KV R3 (default lazy fsync; NOT durable)", durable: false,
		notes: "as jetstream, but the server's default sync_interval (2 min): acknowledged writes are not fsynced; a reference row, not a durable peer",
		start: func(ctx context.Context, dir string, logw io.Writer) (store, error) {
			return startJetStream(ctx, dir, logw, false)
		},
	},
}

func systemByName(name string) (systemSpec, error) {
	for _, s := range systems {
		if s.name == name {
			return s, nil
		}
	}
	var names []string
	for _, s := range systems {
		names = append(names, s.name)
	}
	sort.Strings(names)
	hint := ""
	if name == "etcd" || name == "hraft" {
		hint = "; this binary was built with -tags nopeers, which leaves etcd and hashicorp/raft out"
	}
	return systemSpec{}, fmt.Errorf("unknown system %q (have %s)%s", name, strings.Join(names, ", "), hint)
}

// logLevel of the systems that log through slog (Kontiki); -log-level.
var logLevel = slog.LevelWarn

// warnLogger is the slog logger the systems under test log to (warnings
// and errors by default) on the child's stderr, which the parent keeps per
// run.
func warnLogger(w io.Writer) *slog.Logger {
	if w == nil {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: logLevel}))
}
