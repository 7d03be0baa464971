// This file owns "kontiki put KEY [VALUE]".
package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/kontiki-raft/kontiki/client"
)

var putCommand = &command{
	name: "put", args: "KEY [VALUE]", minArgs: 1, maxArgs: 2, needsKey: true,
	summary: "set a key (VALUE from standard input when omitted)",
	detail: `Set KEY to VALUE and print the store revision of the write. Without VALUE
the value is read from standard input, byte for byte. Retries after a lost
reply reuse the same request id, so the write applies once.

Output: "revision N"; with -o json: {"key":KEY,"revision":N}.`,
	setup: func(fs *flag.FlagSet) action {
		var expect optionalUint
		fs.Var(&expect, "expect-revision", "write only if the key's revision is `N` (0: only if the key does not exist); else exit 4")
		return func(ctx context.Context, e *cliEnv, args []string) error {
			var value []byte
			if len(args) == 2 {
				value = []byte(args[1])
			} else {
				var err error
				if value, err = io.ReadAll(e.stdin); err != nil {
					return fmt.Errorf("read value from stdin: %w", err)
				}
			}
			ctx, cancel := e.deadline(ctx)
			defer cancel()
			c, done, err := e.dial()
			defer done()
			if err != nil {
				return err
			}
			var opts []client.PutOption
			if expect.set {
				opts = append(opts, client.WithExpectedRevision(expect.n))
			}
			rev, err := c.Put(ctx, args[0], value, opts...)
			if err != nil {
				return err
			}
			return printWrite(e, args[0], rev)
		}
	},
}

// printWrite prints the outcome of a put or del.
func printWrite(e *cliEnv, key string, rev uint64) error {
	if e.common.json() {
		return writeJSON(e.stdout, struct {
			Key      string `json:"key"`
			Revision uint64 `json:"revision"`
		}{key, rev})
	}
	_, err := fmt.Fprintf(e.stdout, "revision %d\n", rev)
	return err
}
