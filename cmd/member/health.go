// This file owns `member health`: GET /readyz of a member, exit 0 on 200
// and 1 otherwise, with no shell or curl needed (scratch images).
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

func runHealth(ctx context.Context, s *session, c *Config) int {
	url := "http://" + healthAddr(c.HTTPAddr) + "/readyz"
	ctx, cancel := context.WithTimeout(ctx, c.HealthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(s.stderr, "member health: %v\n", err)
		return exitError
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(s.stderr, "member health: not ready: %v\n", err)
		return exitError
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	msg := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(s.stderr, "member health: %s answered %s: %s\n", url, resp.Status, msg)
		return exitError
	}
	fmt.Fprintf(s.stdout, "ready (%s)\n", url)
	return exitOK
}

// healthAddr turns a listen address into one to dial: a wildcard or empty
// host means this host.
func healthAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
