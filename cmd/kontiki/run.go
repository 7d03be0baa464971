// This file owns the command table and run: parsing the command line,
// dispatching to a command, and turning its outcome into an exit code.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/kontiki-raft/kontiki/client"
)

// command is one subcommand.
type command struct {
	name     string
	args     string // argument synopsis, e.g. "KEY [VALUE]"
	summary  string // one line for the command list
	detail   string // the help paragraph
	minArgs  int
	maxArgs  int
	hidden   bool // not listed in help
	needsKey bool // the first argument is a key: it names the command in errors
	// setup registers the command's own flags on fs and returns its action.
	setup func(fs *flag.FlagSet) action
}

// action runs a command with its positional arguments.
type action func(ctx context.Context, e *cliEnv, args []string) error

// cliEnv is what an action may use.
type cliEnv struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	common *commonFlags
}

// commands lists the subcommands in help order.
var commands = []*command{putCommand, getCommand, delCommand, listCommand, watchCommand, statusCommand, snapshotCommand}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// run is the whole CLI; main only supplies the process's streams and
// environment. SIGINT and SIGTERM cancel the running command.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdin, stdout, stderr, env)
}

func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	common := newCommonFlags(env)
	top := flag.NewFlagSet("kontiki", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	common.register(top)
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout, top)
			return exitOK
		}
		return report(stderr, "", usagef("%v (see 'kontiki --help')", err))
	}
	rest := top.Args()
	if len(rest) == 0 {
		printUsage(stderr, top)
		return exitUsage
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		return help(stdout, stderr, top, common, rest)
	}
	cmd := lookup(name)
	if cmd == nil {
		return report(stderr, "", usagef("unknown command %q (see 'kontiki --help')", name))
	}
	fs := flag.NewFlagSet("kontiki "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	act := cmd.setup(fs)
	common.register(fs)
	pos, err := parseInterleaved(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		printCommandUsage(stdout, cmd, fs)
		return exitOK
	}
	if err == nil {
		err = cmd.checkArgs(pos)
	}
	if err == nil {
		err = common.check()
	}
	if err != nil {
		return report(stderr, name, usagef("%v (see 'kontiki %s --help')", err, name))
	}
	err = act(ctx, &cliEnv{stdin: stdin, stdout: stdout, stderr: stderr, common: common}, pos)
	if err == nil {
		return exitOK
	}
	what := name
	if len(pos) > 0 {
		what += " " + pos[0]
	}
	return report(stderr, what, err)
}

func (c *command) checkArgs(pos []string) error {
	switch {
	case len(pos) < c.minArgs:
		return usagef("missing argument: want %s", c.args)
	case len(pos) > c.maxArgs:
		return usagef("too many arguments: want %s", c.args)
	}
	if c.needsKey {
		if err := client.ValidateKey(pos[0]); err != nil {
			return usagef("%v", err)
		}
	}
	return nil
}

// help serves "kontiki help [COMMAND]".
func help(stdout, stderr io.Writer, top *flag.FlagSet, common *commonFlags, args []string) int {
	if len(args) == 0 {
		printUsage(stdout, top)
		return exitOK
	}
	cmd := lookup(args[0])
	if cmd == nil || len(args) > 1 {
		return report(stderr, "help", usagef("unknown command %q (see 'kontiki --help')", args[0]))
	}
	fs := flag.NewFlagSet("kontiki "+cmd.name, flag.ContinueOnError)
	cmd.setup(fs)
	common.register(fs)
	printCommandUsage(stdout, cmd, fs)
	return exitOK
}

// deadline bounds a command's requests by --timeout. Commands call it once
// their input is read, so typing a value on stdin does not count.
func (e *cliEnv) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.common.timeout)
}

// dial connects to NATS and returns the client and a function that closes
// the connection.
func (e *cliEnv) dial() (*client.Client, func(), error) {
	nc, err := e.common.connect()
	if err != nil {
		return nil, func() {}, err
	}
	return e.common.newClient(nc), nc.Close, nil
}

// errUnavailableCommand is the answer of a command announced but not built.
var errUnavailableCommand = errors.New("not yet available")
