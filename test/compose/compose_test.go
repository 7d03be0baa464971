//go:build docker

// Package compose smoke-tests the docker-compose projects: build the images
// (deploy/build.sh), bring a project up, wait until every container is
// healthy, write and read a key through two members' published NATS ports,
// check `kontiki status` and the HTTP endpoints, take the project down with
// its volumes. Run from the repository root:
//
//	go test -tags docker ./test/compose/
//
// It needs Docker and docker-compose (v1) and the host ports 4222-4224 and
// 8080-8082 free on 127.0.0.1; it refuses to run while another Kontiki
// compose project holds the container names.
package compose

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

const (
	project = "kontiki-test"
	cluster = "kontiki"
	// healthyWithin bounds `up` to all-healthy (a cold start measures ~5-10 s).
	healthyWithin = 90 * time.Second
)

var natsPorts = []int{4222, 4223, 4224}
var httpPorts = []int{8080, 8081, 8082}

// networkOf is the fixed network name of each compose file.
var networkOf = map[string]string{
	"docker-compose.yml":      "kontiki-net",
	"docker-compose.nats.yml": "kontiki-nats-net",
}

func TestComposeEmbeddedNATS(t *testing.T) {
	p := up(t, "docker-compose.yml", []string{"kontiki-member1", "kontiki-member2", "kontiki-member3"})
	p.smoke(t)
}

func TestComposeExternalNATS(t *testing.T) {
	p := up(t, "docker-compose.nats.yml", []string{
		"kontiki-nats1", "kontiki-nats2", "kontiki-nats3",
		"kontiki-member1", "kontiki-member2", "kontiki-member3",
	})
	p.smoke(t)
}

// composeProject is one docker-compose project brought up by a test.
type composeProject struct {
	root       string
	file       string
	containers []string
}

// up builds the images (once per test binary), starts the project with
// `file`, registers its teardown and waits until containers are healthy.
func up(t *testing.T, file string, containers []string) *composeProject {
	t.Helper()
	root := repoRoot(t)
	build(t, root)
	p := &composeProject{root: root, file: file, containers: containers}

	// Containers or a network with our names from another compose project
	// are the user's: refuse rather than touch them. A previous run of ours
	// killed before its cleanup (go test -timeout) is removed.
	p.refuseForeign(t)
	p.down(t)

	t.Cleanup(func() {
		if t.Failed() {
			p.dumpLogs(t)
		}
		p.down(t)
	})
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := p.compose(ctx, "up", "-d"); err != nil {
		t.Fatalf("docker-compose up: %v\n%s", err, out)
	}
	p.waitHealthy(t, healthyWithin)
	t.Logf("%s: up to all %d containers healthy in %s", file, len(containers), time.Since(start).Round(10*time.Millisecond))
	return p
}

// smoke is the check every project passes once healthy.
func (p *composeProject) smoke(t *testing.T) {
	key := fmt.Sprintf("smoke.k%d", time.Now().UnixNano())
	want := []byte("hello from " + p.file)

	// Write through the first port, read (linearizable) through the second.
	nc1 := connect(t, natsPorts[0])
	rev := put(t, nc1, key, want)
	nc2 := connect(t, natsPorts[1])
	got, gotRev := get(t, nc2, key)
	if !bytes.Equal(got, want) || gotRev != rev {
		t.Fatalf("get %s via :%d = %q rev %d, want %q rev %d", key, natsPorts[1], got, gotRev, want, rev)
	}

	p.checkStatusCLI(t)
	p.checkHTTP(t)
	p.checkTmpWritable(t)
}

// checkTmpWritable: the images promise a /tmp (TMPDIR) the runtime user can
// write, e.g. for `kontiki snapshot save` run inside a member's container.
func (p *composeProject) checkTmpWritable(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := "nats://127.0.0.1:4222" // the member's embedded server
	if slices.Contains(p.containers, "kontiki-nats1") {
		url = "nats://kontiki-nats1:4222"
	}
	out, err := run(ctx, p.root, "docker", "exec", "kontiki-member1", "/kontiki", "--nats-url", url, "snapshot", "save", "/tmp/smoke.snap")
	if err != nil {
		t.Fatalf("kontiki snapshot save /tmp/smoke.snap inside kontiki-member1: %v\n%s", err, out)
	}
}

// checkStatusCLI runs the built `kontiki status` against the third port and
// expects one row per member, members 1..3, one leader they all follow.
func (p *composeProject) checkStatusCLI(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		out, err := run(ctx, p.root, filepath.Join(p.root, "bin", "kontiki"),
			"--nats-url", fmt.Sprintf("nats://127.0.0.1:%d", natsPorts[2]), "status")
		cancel()
		if err == nil {
			if problem := checkStatusTable(out); problem == "" {
				t.Logf("kontiki status:\n%s", out)
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("kontiki status: %s\n%s", problem, out)
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("kontiki status: %v\n%s", err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkStatusTable returns what is wrong with a status table, or "".
func checkStatusTable(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") {
		return fmt.Sprintf("want a header and 3 rows, got %d lines", len(lines))
	}
	var ids []string
	leaders, leaderOf := 0, map[string]bool{}
	for _, l := range lines[1:] {
		f := strings.Fields(l) // ID ROLE TERM LEADER COMMIT APPLIED LAG
		if len(f) != 7 {
			return fmt.Sprintf("row %q: want 7 columns", l)
		}
		ids = append(ids, f[0])
		if f[1] == "leader" {
			leaders++
		}
		leaderOf[f[3]] = true
	}
	sort.Strings(ids)
	if strings.Join(ids, ",") != "1,2,3" {
		return fmt.Sprintf("member ids %v, want 1,2,3", ids)
	}
	if leaders != 1 || len(leaderOf) != 1 || leaderOf["-"] {
		return "want one leader that every member knows"
	}
	return ""
}

// checkHTTP checks /readyz, /status and /metrics on every member's port.
func (p *composeProject) checkHTTP(t *testing.T) {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	leaders := map[uint64]bool{}
	for i, port := range httpPorts {
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		for _, path := range []string{"/readyz", "/metrics"} {
			resp, err := hc.Get(base + path)
			if err != nil {
				t.Fatalf("GET %s%s: %v", base, path, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s%s: %s", base, path, resp.Status)
			}
		}
		resp, err := hc.Get(base + "/status")
		if err != nil {
			t.Fatalf("GET %s/status: %v", base, err)
		}
		var st struct {
			ID     uint64 `json:"id"`
			Role   string `json:"role"`
			Leader uint64 `json:"leader"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("GET %s/status: %v", base, err)
		}
		if st.ID != uint64(i+1) {
			t.Fatalf("GET %s/status: id %d, want %d", base, st.ID, i+1)
		}
		leaders[st.Leader] = true
	}
	if len(leaders) != 1 || leaders[0] {
		t.Fatalf("/status leaders %v: want one, known to all", leaders)
	}
}

// --- NATS -------------------------------------------------------------------

func connect(t *testing.T, port int) *nats.Conn {
	t.Helper()
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	// Only the published port: servers may advertise container addresses.
	nc, err := nats.Connect(url, nats.IgnoreDiscoveredServers(), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// request sends one request, retrying what the contract calls retryable
// (timeouts, 429, 503) for a few seconds; writes carry a request id so a
// retry applies once.
func request(t *testing.T, nc *nats.Conn, msg *nats.Msg) *nats.Msg {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := nc.RequestMsg(msg, 3*time.Second)
		if err == nil {
			code := resp.Header.Get("Nats-Service-Error-Code")
			if code == "" {
				return resp
			}
			if (code != "429" && code != "503" && code != "504") || time.Now().After(deadline) {
				t.Fatalf("%s: error %s %s", msg.Subject, code, resp.Header.Get("Nats-Service-Error"))
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("%s: %v", msg.Subject, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func put(t *testing.T, nc *nats.Conn, key string, value []byte) uint64 {
	t.Helper()
	msg := nats.NewMsg(fmt.Sprintf("kontiki.%s.kv.put.%s", cluster, key))
	msg.Data = value
	msg.Header.Set("Kontiki-Request-Id", fmt.Sprintf("compose-test-%d", time.Now().UnixNano()))
	resp := request(t, nc, msg)
	var r struct {
		Revision uint64 `json:"revision"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil || r.Revision == 0 {
		t.Fatalf("put %s: reply %q: %v", key, resp.Data, err)
	}
	return r.Revision
}

func get(t *testing.T, nc *nats.Conn, key string) ([]byte, uint64) {
	t.Helper()
	resp := request(t, nc, nats.NewMsg(fmt.Sprintf("kontiki.%s.kv.get.%s", cluster, key)))
	rev, err := strconv.ParseUint(resp.Header.Get("Kontiki-Revision"), 10, 64)
	if err != nil {
		t.Fatalf("get %s: Kontiki-Revision %q", key, resp.Header.Get("Kontiki-Revision"))
	}
	return resp.Data, rev
}

// --- docker -----------------------------------------------------------------

var (
	buildOnce sync.Once
	buildErr  error
	buildOut  string
)

// build runs deploy/build.sh once per test binary: binaries and images.
func build(t *testing.T, root string) {
	t.Helper()
	buildOnce.Do(func() {
		start := time.Now()
		// A cold Go build cache compiles everything (minutes on a small
		// machine); later runs rebuild only what changed.
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		defer cancel()
		buildOut, buildErr = run(ctx, root, filepath.Join(root, "deploy", "build.sh"))
		buildOut += fmt.Sprintf("(build.sh took %s)", time.Since(start).Round(100*time.Millisecond))
	})
	if buildErr != nil {
		t.Fatalf("deploy/build.sh: %v\n%s", buildErr, buildOut)
	}
	t.Logf("deploy/build.sh:\n%s", buildOut)
}

// refuseForeign fails the test if another compose project (the user's
// cluster) holds our container names or the network name of our file.
func (p *composeProject) refuseForeign(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := run(ctx, p.root, "docker", "ps", "-a", "--format", `{{.Names}}	{{.Label "com.docker.compose.project"}}`)
	if err != nil {
		t.Fatalf("docker ps: %v\n%s", err, out)
	}
	foreign := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, proj, _ := strings.Cut(line, "\t")
		foreign[name] = proj
	}
	for _, c := range p.containers {
		if proj, ok := foreign[c]; ok && proj != project {
			t.Fatalf("container %s of compose project %q exists: take that project down first (docker-compose -p %s down)", c, proj, proj)
		}
	}
	network := networkOf[p.file]
	out, err = run(ctx, p.root, "docker", "network", "inspect", "-f", `{{index .Labels "com.docker.compose.project"}}`, network)
	if proj := strings.TrimSpace(out); err == nil && proj != project {
		t.Fatalf("network %s of compose project %q exists: take that project down first (docker-compose -p %s down)", network, proj, proj)
	}
}

func (p *composeProject) compose(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"-p", project, "-f", filepath.Join(p.root, p.file)}, args...)
	return run(ctx, p.root, "docker-compose", full...)
}

// down removes the project's containers, network and volumes; it runs in
// cleanups, so it uses its own deadline.
func (p *composeProject) down(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if out, err := p.compose(ctx, "down", "-v", "--remove-orphans", "-t", "15"); err != nil {
		t.Errorf("docker-compose down: %v\n%s", err, out)
	}
}

func (p *composeProject) dumpLogs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := p.compose(ctx, "ps")
	t.Logf("docker-compose ps:\n%s", out)
	out, _ = p.compose(ctx, "logs", "--no-color", "--tail", "60")
	t.Logf("docker-compose logs:\n%s", out)
}

// waitHealthy polls the containers' health until all are healthy.
func (p *composeProject) waitHealthy(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	args := append([]string{"inspect", "-f", "{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}"}, p.containers...)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := run(ctx, p.root, "docker", args...)
		cancel()
		healthy := 0
		if err == nil {
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Fields(line)
				if len(f) == 3 && f[2] == "healthy" {
					healthy++
				}
				if len(f) >= 2 && (f[1] == "exited" || f[1] == "dead") {
					t.Fatalf("container %s %s", strings.TrimPrefix(f[0], "/"), f[1])
				}
			}
		}
		if healthy == len(p.containers) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all healthy within %s: %v\n%s", within, err, out)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// run runs a command in dir and returns its combined output.
func run(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "docker-compose.yml")); err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return root
}
