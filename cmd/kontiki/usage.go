// This file owns the help texts: the command list, each command's usage and
// the flag tables.
package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

const exitCodesHelp = `Exit codes:
  0  ok
  1  other error
  2  usage error, or the request was rejected (400 bad request, 413 too large)
  3  not found (404), or a watch revision compacted away (410)
  4  revision conflict (409)
  5  unavailable: no leader (503), timed out (504), busy (429), no member
     answering, or no NATS server
`

func printUsage(w io.Writer, top *flag.FlagSet) {
	fmt.Fprint(w, `Usage: kontiki [flags] COMMAND [flags] [ARGS]

kontiki reads and writes the key-value store of a Kontiki cluster over NATS.

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		if !c.hidden {
			fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
		}
	}
	fmt.Fprintf(tw, "  help [COMMAND]\tshow the help of a command\n")
	tw.Flush()
	fmt.Fprint(w, "\nFlags (before the command or after it):\n")
	printFlags(w, top, commonFlagNames)
	fmt.Fprint(w, "\n", exitCodesHelp, "\nRun 'kontiki COMMAND --help' for a command's own flags.\n")
}

func printCommandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	synopsis := strings.TrimSpace("kontiki " + c.name + " [flags] " + c.args)
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", synopsis, strings.TrimSpace(c.detail))
	var own []string
	fs.VisitAll(func(f *flag.Flag) {
		if !slices.Contains(commonFlagNames, f.Name) && f.Name != "output" {
			own = append(own, f.Name)
		}
	})
	if len(own) > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		printFlags(w, fs, own)
	}
	fmt.Fprint(w, "\nShared flags:\n")
	printFlags(w, fs, commonFlagNames)
	fmt.Fprint(w, "\n", exitCodesHelp)
}

// printFlags prints the named flags of fs as an aligned table.
func printFlags(w io.Writer, fs *flag.FlagSet, names []string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, name := range names {
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		arg, usage := flag.UnquoteUsage(f)
		spelled := "--" + name
		if name == "o" {
			spelled = "-o, --output"
		}
		if arg != "" {
			spelled += " " + strings.ToUpper(arg)
		}
		if def := f.DefValue; def != "" && def != "0" && def != "false" && name != "nats-password" {
			usage += fmt.Sprintf(" (default %s)", def)
		}
		fmt.Fprintf(tw, "  %s\t%s\n", spelled, usage)
	}
	tw.Flush()
}
