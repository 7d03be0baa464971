package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kontiki-raft/kontiki/actors"
	"github.com/kontiki-raft/kontiki/raft"
)

func TestAStartingMemberIsLiveButNotReady(t *testing.T) {
	p := newProbe(&Config{ID: 1, Cluster: "kontiki"})
	srv := httptest.NewServer(newHTTPHandler(p))
	defer srv.Close()
	a := strings.TrimPrefix(srv.URL, "http://")
	for path, want := range map[string]int{"/livez": 200, "/readyz": 503, "/status": 503, "/metrics": 200} {
		if code, body := httpGet(a, path); code != want {
			t.Errorf("GET %s: %d %s, want %d", path, code, body, want)
		}
	}
	_, metrics := httpGet(a, "/metrics")
	for _, want := range []string{"kontiki_server_has_leader 0", `kontiki_server_info{cluster="kontiki",id="1"} 1`, "go_goroutines"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, _ := httpGet(a, "/nothing"); code != http.StatusNotFound {
		t.Errorf("GET /nothing: %d, want 404", code)
	}
}

func TestReadinessNeedsNATSALeaderAndAnAppliedLogCloseToCommit(t *testing.T) {
	st := func(lead, commit, applied uint64) *actors.Status {
		return &actors.Status{Status: raft.Status{ID: 1, Lead: lead, Commit: commit}, AppliedIndex: applied}
	}
	tests := []struct {
		name      string
		st        *actors.Status
		connected bool
		want      bool
	}{
		{"caught up", st(2, 10, 10), true, true},
		{"a little behind", st(2, 10+readyMaxApplyLag, 10), true, true},
		{"far behind", st(2, 11+readyMaxApplyLag, 10), true, false},
		{"no leader", st(0, 10, 10), true, false},
		{"no NATS", st(2, 10, 10), false, false},
	}
	for _, tt := range tests {
		if got, why := readiness(tt.st, tt.connected); got != tt.want {
			t.Errorf("%s: ready = %v (%s), want %v", tt.name, got, why, tt.want)
		}
	}
	p := newProbe(&Config{ID: 1})
	p.stopping.Store(true)
	if ok, why := p.ready(t.Context()); ok || why != "member stopping" {
		t.Errorf("stopping member: ready %v (%s)", ok, why)
	}
}
