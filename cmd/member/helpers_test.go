package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// eventually polls cond until it holds or the deadline passes; the last
// reason cond gave is in the failure.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, within, why)
		}
		<-tick.C
	}
}

// freePorts returns n loopback ports that were free a moment ago (all held
// open together, so they differ).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

var httpClient = &http.Client{Timeout: 2 * time.Second}

// httpGet returns the status code and body of GET http://addr/path (code 0
// when the request failed).
func httpGet(addr, path string) (int, string) {
	resp, err := httpClient.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func ready(addr string) (bool, string) {
	code, body := httpGet(addr, "/readyz")
	return code == http.StatusOK, fmt.Sprintf("%s: %d %s", addr, code, body)
}

// memberStatusOf reads /status.
func statusOf(t *testing.T, addr string) statusDoc {
	t.Helper()
	code, body := httpGet(addr, "/status")
	if code != http.StatusOK {
		t.Fatalf("GET %s/status: %d %s", addr, code, body)
	}
	var d statusDoc
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("GET %s/status: %v in %s", addr, err, body)
	}
	return d
}

// kvRequest sends one request of the NATS contract and fails on a service
// error.
func kvRequest(t *testing.T, nc *nats.Conn, subject, data string) *nats.Msg {
	t.Helper()
	msg, err := kvTry(nc, subject, data)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// kvRetry sends a request until it succeeds or within has passed, as a
// client does across a leader change: each attempt waits at most a second
// (a request forwarded to a leader that just went away gets no answer), and
// every attempt carries the same request id so a write applies once.
func kvRetry(t *testing.T, nc *nats.Conn, subject, data string, within time.Duration) *nats.Msg {
	t.Helper()
	id := nats.NewInbox()
	var msg *nats.Msg
	eventually(t, within, "request "+subject, func() (bool, string) {
		m := nats.NewMsg(subject)
		m.Data = []byte(data)
		m.Header.Set("Kontiki-Request-Id", id)
		var err error
		msg, err = kvTryMsg(nc, m, time.Second)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	return msg
}

// kvTry sends one request; a service error is an error.
func kvTry(nc *nats.Conn, subject, data string) (*nats.Msg, error) {
	m := nats.NewMsg(subject)
	m.Data = []byte(data)
	return kvTryMsg(nc, m, 5*time.Second)
}

func kvTryMsg(nc *nats.Conn, m *nats.Msg, timeout time.Duration) (*nats.Msg, error) {
	subject := m.Subject
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	msg, err := nc.RequestMsgWithContext(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", subject, err)
	}
	if code := msg.Header.Get("Nats-Service-Error-Code"); code != "" {
		return nil, fmt.Errorf("request %s: %s %s", subject, code, msg.Header.Get("Nats-Service-Error"))
	}
	return msg, nil
}

// syncBuffer is an io.Writer safe for the goroutines of a running member.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// envOf is an environment made of a map.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}
