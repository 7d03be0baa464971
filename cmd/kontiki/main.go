// Command kontiki is the command-line client of a Kontiki cluster: put, get,
// del, list, watch and status over NATS. This file owns only the process
// entry point; everything testable starts at run.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
