// This file owns `member restore FILE`: seeding the data directory of a
// member of a NEW cluster from a snapshot saved with `kontiki snapshot save`.
// Every member of the new cluster is restored from the same file with the
// same --peers; they get a new cluster id and never talk to the old cluster.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/kontiki-raft/kontiki/cluster"
)

var restoreCommand = &commandSpec{
	name:     "restore",
	synopsis: "member restore FILE --id N --peers IDS --data-dir DIR [--cluster NAME]",
	about: `member restore seeds the data directory of one member of a NEW cluster from a
snapshot FILE saved with 'kontiki snapshot save'. Run it once per member, with
the same FILE and --peers, then start the members as usual. The new cluster
gets a new cluster id derived from FILE and --peers: it never exchanges
messages with the cluster the snapshot came from. DIR must be empty or absent.`,
	names: []string{"id", "cluster", "peers", "data-dir", "log-level", "log-format"},
	arg:   "FILE",
	check: checkRestore,
	run:   runRestore,
}

func checkRestore(c *Config) error {
	if c.ID == 0 {
		return usagef("--id is required")
	}
	if len(c.Peers) == 0 || !slices.Contains(c.Peers, c.ID) {
		return usagef("--peers must list the new cluster's voters, including --id %d", c.ID)
	}
	if c.DataDir == "" {
		c.DataDir = filepath.Join("kontiki-data", strconv.FormatUint(c.ID, 10))
	}
	return nil
}

func runRestore(_ context.Context, s *session, c *Config) int {
	file, err := os.ReadFile(c.Arg)
	if err != nil {
		fmt.Fprintf(s.stderr, "member restore: %v\n", err)
		return exitError
	}
	id, err := cluster.RestoreDataDir(file, c.DataDir, c.Cluster, c.Peers, c.ID)
	if err != nil {
		fmt.Fprintf(s.stderr, "member restore: %v\n", err)
		return exitError
	}
	fmt.Fprintf(s.stdout, "restored %s into %s: node %d of cluster %q (new cluster id %d, voters %s)\n",
		c.Arg, c.DataDir, c.ID, c.Cluster, id, joinIDs(c.Peers))
	return exitOK
}
