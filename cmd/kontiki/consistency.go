// This file owns the --consistency flag of the read commands.
package main

import (
	"flag"

	"github.com/kontiki-raft/kontiki/client"
)

// consistencyFlag registers --consistency on fs.
func consistencyFlag(fs *flag.FlagSet) *string {
	return fs.String("consistency", string(client.Linearizable),
		"read `level`: linearizable (through the leader's read index), lease (the leader under its lease) or stale (any member's replica)")
}

// readOption validates the level and returns it as a client option.
func readOption(level string) (client.ReadOption, error) {
	switch c := client.Consistency(level); c {
	case client.Linearizable, client.Lease, client.Stale:
		return client.WithConsistency(c), nil
	}
	return nil, usagef("invalid --consistency %q: want linearizable, lease or stale", level)
}
