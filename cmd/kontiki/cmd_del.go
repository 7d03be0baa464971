// This file owns "kontiki del KEY".
package main

import (
	"context"
	"flag"

	"github.com/kontiki-raft/kontiki/client"
)

var delCommand = &command{
	name: "del", args: "KEY", minArgs: 1, maxArgs: 1, needsKey: true,
	summary: "delete a key",
	detail: `Delete KEY and print the store revision of the delete. A missing key exits 3.

Output: "revision N"; with -o json: {"key":KEY,"revision":N}.`,
	setup: func(fs *flag.FlagSet) action {
		var expect optionalUint
		fs.Var(&expect, "expect-revision", "delete only if the key's revision is `N`; else exit 4")
		return func(ctx context.Context, e *cliEnv, args []string) error {
			ctx, cancel := e.deadline(ctx)
			defer cancel()
			c, done, err := e.dial()
			defer done()
			if err != nil {
				return err
			}
			var opts []client.DeleteOption
			if expect.set {
				opts = append(opts, client.WithExpectedRevision(expect.n))
			}
			rev, err := c.Delete(ctx, args[0], opts...)
			if err != nil {
				return err
			}
			return printWrite(e, args[0], rev)
		}
	},
}
