// This file owns "kontiki list [PREFIX]".
package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/kontiki-raft/kontiki/client"
)

// omittedValue stands in the table for a value the list reply left out.
const omittedValue = "<omitted: too large for a list; use get>"

// listPage is the page size list asks for.
const listPage = 500

var listCommand = &command{
	name: "list", args: "[PREFIX]", minArgs: 0, maxArgs: 1,
	summary: "list the keys under a prefix",
	detail: `List the keys that start with PREFIX (every key when omitted) in key order,
following the pages until the end or --limit.

Output: a table KEY, REVISION, VALUE (values that are not printable are
quoted). With -o json: {"revision":N,"items":[{"key":..,"revision":..,
"value":..}],"more":false}, where more tells that --limit cut the list short.
A value too large to travel in a list reply (near the size limit) is left
out: the table shows <omitted: too large for a list; use get>, the JSON
item has "value_omitted":true and no value.`,
	setup: func(fs *flag.FlagSet) action {
		limit := fs.Int("limit", 0, "print at most `N` keys (0: all)")
		level := consistencyFlag(fs)
		return func(ctx context.Context, e *cliEnv, args []string) error {
			if *limit < 0 {
				return usagef("--limit must not be negative")
			}
			opt, err := readOption(*level)
			if err != nil {
				return err
			}
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			if err := client.ValidatePrefix(prefix); err != nil {
				return usagef("%v", err)
			}
			ctx, cancel := e.deadline(ctx)
			defer cancel()
			c, done, err := e.dial()
			defer done()
			if err != nil {
				return err
			}
			items, rev, more, err := listAll(ctx, c, prefix, *limit, opt)
			if err != nil {
				return err
			}
			return printList(e, items, rev, more)
		}
	},
}

// listAll follows the pages; more reports keys left out by limit.
func listAll(ctx context.Context, c *client.Client, prefix string, limit int, opt client.ReadOption) (all []client.Item, rev uint64, more bool, err error) {
	after := ""
	for {
		page := listPage
		if limit > 0 {
			page = min(page, limit-len(all))
		}
		items, r, m, err := c.List(ctx, prefix, client.After(after), client.Limit(page), opt)
		if err != nil {
			return nil, 0, false, err
		}
		all, rev = append(all, items...), max(rev, r)
		if !m || len(items) == 0 {
			return all, rev, false, nil
		}
		if limit > 0 && len(all) >= limit {
			return all, rev, true, nil
		}
		after = items[len(items)-1].Key
	}
}

func printList(e *cliEnv, items []client.Item, rev uint64, more bool) error {
	if e.common.json() {
		type item struct {
			Key      string `json:"key"`
			Revision uint64 `json:"revision"`
			jsonValue
			ValueOmitted bool `json:"value_omitted,omitempty"`
		}
		doc := struct {
			Revision uint64 `json:"revision"`
			Items    []item `json:"items"`
			More     bool   `json:"more"`
		}{Revision: rev, Items: []item{}, More: more}
		for _, it := range items {
			v := jsonValue{}
			if !it.ValueOmitted {
				v = newJSONValue(it.Value)
			}
			doc.Items = append(doc.Items, item{it.Key, it.Revision, v, it.ValueOmitted})
		}
		return writeJSON(e.stdout, doc)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tREVISION\tVALUE")
	for _, it := range items {
		v := displayValue(it.Value)
		if it.ValueOmitted {
			v = omittedValue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", it.Key, it.Revision, v)
	}
	return tw.Flush()
}
