// This file owns "kontiki watch [PREFIX]".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/kontiki-raft/kontiki/client"
)

var watchCommand = &command{
	name: "watch", args: "[PREFIX]", minArgs: 0, maxArgs: 1,
	summary: "print the changes under a prefix as they happen",
	detail: `Print the changes of the keys that start with PREFIX (every key when
omitted) until interrupted. Without --rev the current values come first, then
a "synced" line, then every change. With --rev N only the changes from
revision N on are printed. The watch survives member failures and leader
changes without losing or repeating a change; it ends with exit 3 when
revision N has been compacted away.

Output, one line per event: "REVISION put KEY VALUE", "REVISION del KEY" and
"REVISION synced"; with -o json one JSON object per line:
{"op":"put","key":..,"revision":..,"value":..}.`,
	setup: func(fs *flag.FlagSet) action {
		rev := fs.Uint64("rev", 0, "start at revision `N` (0: current values first)")
		return func(ctx context.Context, e *cliEnv, args []string) error {
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			if err := client.ValidatePrefix(prefix); err != nil {
				return usagef("%v", err)
			}
			c, done, err := e.dial()
			defer done()
			if err != nil {
				return err
			}
			w, err := c.Watch(ctx, prefix, client.FromRevision(*rev))
			if err != nil {
				return err
			}
			defer w.Stop()
			for ev := range w.Events() {
				if err := printEvent(e, ev); err != nil {
					return err
				}
			}
			if err := w.Err(); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		}
	},
}

func printEvent(e *cliEnv, ev client.Event) error {
	if e.common.json() {
		doc := struct {
			Op       string `json:"op"`
			Key      string `json:"key,omitempty"`
			Revision uint64 `json:"revision"`
			jsonValue
		}{Op: ev.Op.String(), Key: ev.Key, Revision: ev.Revision}
		if ev.Op == client.OpPut {
			doc.jsonValue = newJSONValue(ev.Value)
		}
		enc := jsonLine(e)
		return enc.Encode(doc)
	}
	var err error
	switch ev.Op {
	case client.OpPut:
		_, err = fmt.Fprintf(e.stdout, "%d put %s %s\n", ev.Revision, ev.Key, displayValue(ev.Value))
	case client.OpDelete:
		_, err = fmt.Fprintf(e.stdout, "%d del %s\n", ev.Revision, ev.Key)
	default:
		_, err = fmt.Fprintf(e.stdout, "%d %s\n", ev.Revision, ev.Op)
	}
	return err
}
