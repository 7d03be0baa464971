// This file owns "kontiki snapshot", announced but not built: it arrives
// with durable storage, so it is hidden from help and says so when run.
package main

import (
	"context"
	"flag"
	"fmt"
)

var snapshotCommand = &command{
	name: "snapshot", args: "save FILE", minArgs: 0, maxArgs: 2, hidden: true,
	summary: "save a snapshot of the store (not yet available)",
	detail:  `Not yet available: snapshots arrive with durable storage.`,
	setup: func(fs *flag.FlagSet) action {
		return func(ctx context.Context, e *cliEnv, args []string) error {
			return fmt.Errorf("%w: snapshots arrive with durable storage", errUnavailableCommand)
		}
	},
}
