// Command nats-server is the NATS server of Kontiki's container images: the
// upstream server package, run with its own flags and config file format,
// built from the module version go.mod pins so the image and the members'
// embedded servers never drift apart. It adds one subcommand, health, for
// container healthchecks in an image without a shell.
//
//	nats-server -c /etc/nats/nats.conf --server_name nats1 --routes nats-route://nats2:6222
//	nats-server health [--url http://127.0.0.1:8222/healthz] [--timeout 2s]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

const name = "nats-server"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "health" {
		os.Exit(health(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(serve(os.Args[1:]))
}

// serve runs the server until a signal stops it. The server package handles
// SIGINT/SIGTERM itself (lame-duck on SIGUSR2, reload on SIGHUP).
func serve(args []string) int {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: %s [nats-server flags, e.g. -c FILE --server_name N --routes URLS]\n       %s health [--url URL] [--timeout D]\n\nserver flags:\n", name, name)
		fs.PrintDefaults()
		os.Exit(0)
	}
	opts, err := server.ConfigureOptions(fs, args, server.PrintServerAndExit, fs.Usage, server.PrintTLSHelpAndDie)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 2
	}
	if opts.CheckConfig {
		fmt.Fprintf(os.Stderr, "%s: configuration file %s is valid\n", name, opts.ConfigFile)
		return 0
	}
	server.RedactArgs(os.Args)
	s, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	s.ConfigureLogger()
	if err := server.Run(s); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	s.WaitForShutdown()
	return 0
}

// health asks the monitoring endpoint whether the server is healthy: exit 0
// on HTTP 200, 1 otherwise, with the reason on stderr.
func health(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name+" health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8222/healthz", "monitoring `URL` to check")
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this `duration`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "health: %v\n", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "health: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "health: %s: %s %s\n", *url, resp.Status, body)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", body)
	return 0
}
