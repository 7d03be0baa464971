// This file tests the CLI's exit codes and one-line error reports: service
// error codes, no responders, usage errors and help.
package main

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestExitCodes(t *testing.T) {
	f := newFake(t)
	for _, tc := range []struct {
		code int
		exit int
	}{
		{400, 2}, {413, 2}, {404, 3}, {410, 3}, {409, 4}, {503, 5}, {504, 5}, {429, 5}, {500, 1},
	} {
		key := "err." + itoa(tc.code)
		r := f.cli("", "get", key, "--timeout", "300ms")
		if r.code != tc.exit {
			t.Errorf("code %d: exit %d, want %d (stderr %q)", tc.code, r.code, tc.exit, r.stderr)
		}
		if !strings.HasPrefix(r.stderr, "kontiki: get "+key+": ") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("code %d: stderr %q", tc.code, r.stderr)
		}
	}
	r := f.cli("", "--cluster", "nobody", "--timeout", "300ms", "put", "a", "b")
	if r.code != 5 || !strings.Contains(r.stderr, "no responders") {
		t.Errorf("no responders: %+v", r)
	}
	r = f.cli("", "status", "--cluster", "nobody", "--timeout", "300ms")
	if r.code != 5 {
		t.Errorf("status no responders: %+v", r)
	}
	r = f.cli("", "get", "a", "--nats-url", "nats://127.0.0.1:1", "--timeout", "300ms")
	if r.code != 5 || !strings.Contains(r.stderr, "connect nats://127.0.0.1:1") {
		t.Errorf("no server: %+v", r)
	}
	// A server that accepts the connection and never speaks (a frozen
	// container keeps its port open) is no NATS server too.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	url := "nats://" + silent.Addr().String()
	r = f.cli("", "get", "a", "--nats-url", url, "--timeout", "300ms")
	if r.code != 5 || !strings.Contains(r.stderr, "connect "+url) {
		t.Errorf("silent server: %+v", r)
	}
	// Local file errors are "other error", not "no NATS server", though a
	// bare errno is a net.Error too.
	missing := t.TempDir() + "/missing"
	for _, args := range [][]string{
		{"status", "--nats-creds", missing + ".creds"},
		{"status", "--tls-ca", missing + ".pem"},
		{"snapshot", "save", missing + "/x.snap"},
	} {
		if r := f.cli("", append(args, "--timeout", "300ms")...); r.code != 1 || !strings.Contains(r.stderr, "no such file") {
			t.Errorf("%v: %+v, want exit 1 naming the missing file", args, r)
		}
	}
}

// --timeout bounds a command, not a count of retries: a write that meets
// "no leader" for longer than the old ten retries still lands within it.
func TestRetriesLastUntilTimeout(t *testing.T) {
	f := newFake(t)
	var mu sync.Mutex
	refused := 0
	sub, err := f.nc.Subscribe("kontiki.e.>", func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		if refused < 11 { // the first attempt and ten retries
			refused++
			f.fail(m, 503, "no leader")
			return
		}
		if !strings.HasPrefix(m.Subject, "kontiki.e.kv.put.") {
			f.fail(m, 400, "unexpected "+m.Subject)
			return
		}
		f.reply(m, []byte(`{"revision":7}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	r := f.cli("", "--cluster", "e", "--timeout", "30s", "-o", "json", "put", "k", "v")
	if r.code != 0 || !strings.Contains(r.stdout, `"revision": 7`) {
		t.Fatalf("put after 11 refusals: %+v", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if refused != 11 {
		t.Fatalf("refused %d attempts, want 11", refused)
	}
}

func TestUsageErrors(t *testing.T) {
	f := newFake(t)
	for _, args := range [][]string{
		{},
		{"bogus"},
		{"get"},
		{"get", "a", "b"},
		{"put"},
		{"put", "a", "b", "c"},
		{"del"},
		{"status", "extra"},
		{"get", "a..b"},
		{"put", "a b", "v"},
		{"list", "a..", "--limit", "1"},
		{"list", "--limit", "-1"},
		{"get", "a", "--consistency", "sometimes"},
		{"get", "a", "--bogus"},
		{"get", "a", "-o", "yaml"},
		{"--cluster", "a.b", "get", "a"},
		{"put", "a", "b", "--expect-revision", "x"},
		{"--nats-password", "p", "get", "a"},
		{"--tls-cert", "c", "get", "a"},
		{"watch", "a..b"},
		{"help", "bogus"},
	} {
		r := f.cli("", args...)
		if r.code != 2 || r.stdout != "" || r.stderr == "" {
			t.Errorf("%q: exit %d stdout %q stderr %q", args, r.code, r.stdout, r.stderr)
			continue
		}
		if len(args) > 0 && strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%q: stderr is not one line: %q", args, r.stderr)
		}
	}
}

func TestHelp(t *testing.T) {
	f := newFake(t)
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		r := f.cli("", args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: kontiki [flags] COMMAND") || r.stderr != "" {
			t.Errorf("%q: %+v", args, r)
		}
		for _, c := range commands {
			if listed := strings.Contains(r.stdout, "\n  "+c.name); listed == c.hidden {
				t.Errorf("%q: command %s listed=%v hidden=%v", args, c.name, listed, c.hidden)
			}
		}
	}
	for _, c := range commands {
		for _, args := range [][]string{{c.name, "--help"}, {"help", c.name}, {c.name, "-h"}} {
			r := f.cli("", args...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: kontiki "+c.name) {
				t.Errorf("%q: %+v", args, r)
			}
			for _, flagName := range []string{"--nats-url", "--nats-creds", "--tls-ca", "--cluster", "--timeout", "-o, --output"} {
				if !strings.Contains(r.stdout, flagName) {
					t.Errorf("%q: help lacks %s", args, flagName)
				}
			}
		}
	}
	r := f.cli("", "put", "--help")
	if !strings.Contains(r.stdout, "--expect-revision N") {
		t.Errorf("put help: %s", r.stdout)
	}
	r = f.cli("", "snapshot", "save")
	if r.code != 2 {
		t.Errorf("snapshot without FILE: %+v", r)
	}
	r = f.cli("", "snapshot", "load", "x")
	if r.code != 2 {
		t.Errorf("snapshot load: %+v", r)
	}
	// Help shows the environment's defaults.
	r = f.cli("", "get", "--help")
	if !strings.Contains(r.stdout, "(default "+f.url+")") || !strings.Contains(r.stdout, "(default t)") {
		t.Errorf("help ignores the environment: %s", r.stdout)
	}
}
