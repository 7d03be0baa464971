package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestDevClusterServesThroughNATSAndStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan devInfo, 1)
	var stdout, stderr syncBuffer
	s := &session{env: envOf(nil), stdout: &stdout, stderr: &stderr, devStarted: func(i devInfo) { started <- i }}
	exited := make(chan int, 1)
	go func() {
		exited <- runContext(ctx, s, []string{"dev", "--nats-listen", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--tick", "50ms"})
	}()
	var info devInfo
	select {
	case info = <-started:
	case code := <-exited:
		t.Fatalf("member dev exited %d before starting; stderr:\n%s", code, stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("member dev did not start; stderr:\n%s", stderr.String())
	}
	defer func() {
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	}()

	for _, want := range []string{
		"put greeting hello", "get greeting", " status",
		"req kontiki.kontiki.kv.put.greeting hello", `req kontiki.kontiki.kv.get.greeting ""`, "micro ls",
		info.NATSURL, info.HTTPAddrs[2],
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("banner does not say %q:\n%s", want, stdout.String())
		}
	}
	if len(info.HTTPAddrs) != 3 {
		t.Fatalf("HTTP addresses %v, want 3", info.HTTPAddrs)
	}
	for _, a := range info.HTTPAddrs {
		eventually(t, 15*time.Second, "ready", func() (bool, string) { return ready(a) })
	}

	nc, err := nats.Connect(info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	reply := kvRequest(t, nc, "kontiki.kontiki.kv.put.greeting", "hello")
	var put struct{ Revision uint64 }
	if err := json.Unmarshal(reply.Data, &put); err != nil || put.Revision == 0 {
		t.Fatalf("put reply %q: %v", reply.Data, err)
	}
	got := kvRequest(t, nc, "kontiki.kontiki.kv.get.greeting", "")
	if string(got.Data) != "hello" || got.Header.Get("Kontiki-Revision") == "" {
		t.Fatalf("get: %q revision %q, want hello with a revision", got.Data, got.Header.Get("Kontiki-Revision"))
	}

	leaders := 0
	for i, a := range info.HTTPAddrs {
		d := statusOf(t, a)
		if d.ID != uint64(i+1) || d.Cluster != "kontiki" || d.Term == 0 || d.Leader == 0 || !d.Ready || !d.NATS.Connected {
			t.Errorf("%s/status: %+v", a, d)
		}
		// The raft traffic goes over each member's in-process connection
		// to the embedded server, both ways.
		if pc := d.NATS.Peers; pc == nil || !pc.Connected || pc.InMsgs == 0 || pc.OutMsgs == 0 {
			t.Errorf("%s/status: peers connection %+v, want connected with messages both ways", a, pc)
		}
		if d.Role == "leader" {
			leaders++
		}
		if d.Applied < put.Revision && d.Role == "leader" {
			t.Errorf("leader applied %d, below the put's revision %d", d.Applied, put.Revision)
		}
	}
	if leaders != 1 {
		t.Errorf("%d members say they lead, want 1", leaders)
	}
	_, metrics := httpGet(info.HTTPAddrs[0], "/metrics")
	for _, want := range []string{"kontiki_raft_term ", "kontiki_server_has_leader 1", "kontiki_raft_applied_index ", `kontiki_transport_rejected_total{reason="cluster"}`, "kontiki_nats_peers_connected 1", "kontiki_nats_peers_reconnects_total 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	stopAt := time.Now()
	cancel()
	select {
	case code := <-exited:
		if code != exitOK {
			t.Errorf("member dev exited %d, want 0", code)
		}
		t.Logf("stopped in %s", time.Since(stopAt).Round(time.Millisecond))
	case <-time.After(stopTimeout):
		t.Fatalf("member dev still running %s after the stop", stopTimeout)
	}
	if _, err := os.Stat(info.DataDir); !os.IsNotExist(err) {
		t.Errorf("data dir %s not removed: %v", info.DataDir, err)
	}
	if code, _ := httpGet(info.HTTPAddrs[0], "/livez"); code != 0 {
		t.Errorf("HTTP still answering after the stop: %d", code)
	}
}
