// This file owns "kontiki get KEY".
package main

import (
	"context"
	"flag"
)

var getCommand = &command{
	name: "get", args: "KEY", minArgs: 1, maxArgs: 1, needsKey: true,
	summary: "print a key's value",
	detail: `Print the value of KEY exactly as stored (no newline is added). A missing
key exits 3.

With -o json: {"key":KEY,"revision":N,"value":"..."}, where revision is the
key's mod revision and a value that is not UTF-8 is given as "value_base64".`,
	setup: func(fs *flag.FlagSet) action {
		level := consistencyFlag(fs)
		return func(ctx context.Context, e *cliEnv, args []string) error {
			opt, err := readOption(*level)
			if err != nil {
				return err
			}
			ctx, cancel := e.deadline(ctx)
			defer cancel()
			c, done, err := e.dial()
			defer done()
			if err != nil {
				return err
			}
			value, rev, err := c.Get(ctx, args[0], opt)
			if err != nil {
				return err
			}
			if e.common.json() {
				return writeJSON(e.stdout, struct {
					Key      string `json:"key"`
					Revision uint64 `json:"revision"`
					jsonValue
				}{args[0], rev, newJSONValue(value)})
			}
			_, err = e.stdout.Write(value)
			return err
		}
	},
}
