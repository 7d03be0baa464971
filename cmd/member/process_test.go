package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// memberBinary is the member command built once for the process tests.
var memberBinary string

const testUser, testPassword = "kontiki", "s3cret"

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "kontiki-member-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	memberBinary = filepath.Join(dir, "member")
	args := []string{"build", "-o", memberBinary}
	if raceEnabled {
		args = append(args, "-race") // shares the test binary's build cache
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build member:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one member process.
type proc struct {
	id       uint64
	natsPort int
	httpAddr string
	cmd      *exec.Cmd
	out      *syncBuffer
	done     chan struct{}
	err      error // the exit, once done is closed
}

func startProc(t *testing.T, id uint64, args ...string) *proc {
	t.Helper()
	p := &proc{id: id, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(memberBinary, args...)
	// No NATS_URL or KONTIKI_* from the test's environment; no 1s pause of
	// the race detector at exit.
	p.cmd.Env = []string{"GORACE=atexit_sleep_ms=0"}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("member %d output:\n%s", p.id, p.out.String())
		}
	})
	return p
}

// startCluster starts three member processes, each with its own embedded
// NATS server, the servers routed to each other; clients and routes need
// the user testUser.
func startCluster(t *testing.T) []*proc {
	t.Helper()
	ports := freePorts(t, 9)
	dir := t.TempDir()
	var procs []*proc
	for i := range 3 {
		id := uint64(i + 1)
		natsPort, clusterPort, httpPort := ports[3*i], ports[3*i+1], ports[3*i+2]
		var routes []string
		for j := range 3 {
			if j != i {
				routes = append(routes, "nats-route://"+addr(ports[3*j+1]))
			}
		}
		p := startProc(t, id,
			"--id", strconv.FormatUint(id, 10), "--peers", "1,2,3",
			"--data-dir", filepath.Join(dir, strconv.FormatUint(id, 10)),
			"--nats-listen", addr(natsPort), "--nats-cluster-listen", addr(clusterPort),
			"--nats-routes", strings.Join(routes, ","),
			"--http-addr", addr(httpPort), "--tick", "50ms",
			"--nats-user", testUser, "--nats-password", testPassword)
		p.natsPort, p.httpAddr = natsPort, addr(httpPort)
		procs = append(procs, p)
	}
	return procs
}

// leaderOf returns the process whose /status says it leads, or nil.
func leaderOf(procs []*proc) *proc {
	for _, p := range procs {
		if d, err := readStatus(p.httpAddr); err == nil && d.Role == "leader" {
			return p
		}
	}
	return nil
}

// readStatus reads /status.
func readStatus(httpAddr string) (statusDoc, error) {
	var d statusDoc
	code, body := httpGet(httpAddr, "/status")
	if code != 200 {
		return d, fmt.Errorf("GET %s/status: %d %s", httpAddr, code, body)
	}
	err := json.Unmarshal([]byte(body), &d)
	return d, err
}

func connectTo(t *testing.T, p *proc) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect("nats://"+addr(p.natsPort), nats.UserInfo(testUser, testPassword))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestThreeMemberProcessesSurviveTheLeadersGracefulStop(t *testing.T) {
	procs := startCluster(t)
	for _, p := range procs {
		eventually(t, 20*time.Second, fmt.Sprintf("member %d ready, its NATS server routed to both others", p.id), func() (bool, string) {
			if ok, why := ready(p.httpAddr); !ok {
				return false, why
			}
			d, err := readStatus(p.httpAddr)
			if err != nil || d.NATS.Embedded == nil || d.NATS.Embedded.Remotes != 2 {
				return false, fmt.Sprintf("status %+v %v", d.NATS.Embedded, err)
			}
			return true, ""
		})
	}
	leader := leaderOf(procs)
	if leader == nil {
		t.Fatal("all members ready but none leads")
	}
	var rest []*proc
	for _, p := range procs {
		if p != leader {
			rest = append(rest, p)
		}
	}

	// A write through one follower's NATS server, a read through the other's.
	kvRetry(t, connectTo(t, rest[0]), "kontiki.kontiki.kv.put.greeting", "hello", 5*time.Second)
	if got := kvRetry(t, connectTo(t, rest[1]), "kontiki.kontiki.kv.get.greeting", "", 5*time.Second); string(got.Data) != "hello" {
		t.Fatalf("get through member %d: %q, want hello", rest[1].id, got.Data)
	}

	stopAt := time.Now()
	if err := leader.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-leader.done:
		if leader.err != nil {
			t.Errorf("stopped leader exited with %v, want 0", leader.err)
		}
		t.Logf("leader %d stopped in %s", leader.id, time.Since(stopAt).Round(time.Millisecond))
	case <-time.After(stopTimeout):
		t.Fatalf("leader %d still running %s after SIGTERM", leader.id, stopTimeout)
	}
	if !strings.Contains(leader.out.String(), "transferring leadership") {
		t.Errorf("the stopped leader did not hand leadership over")
	}

	// Election timeouts here are 10 ticks of 50ms, at most 1s; a hand-over
	// needs none.
	eventually(t, 5*time.Second, "both remaining members ready and agreeing on a leader among them", func() (bool, string) {
		leaders := map[uint64]bool{}
		for _, p := range rest {
			if ok, why := ready(p.httpAddr); !ok {
				return false, why
			}
			d, err := readStatus(p.httpAddr)
			if err != nil {
				return false, err.Error()
			}
			leaders[d.Leader] = true
		}
		if len(leaders) != 1 || leaders[leader.id] || leaders[0] {
			return false, fmt.Sprintf("leaders seen: %v", leaders)
		}
		return true, ""
	})
	t.Logf("readiness restored %s after SIGTERM", time.Since(stopAt).Round(time.Millisecond))

	nc := connectTo(t, rest[1])
	kvRetry(t, nc, "kontiki.kontiki.kv.put.greeting", "again", 5*time.Second)
	if got := kvRetry(t, nc, "kontiki.kontiki.kv.get.greeting", "", 5*time.Second); string(got.Data) != "again" {
		t.Fatalf("get after the hand-over: %q, want again", got.Data)
	}

	health := func(httpAddr string) (int, string) {
		cmd := exec.Command(memberBinary, "health", "--http-addr", httpAddr, "--timeout", "2s")
		cmd.Env = []string{"GORACE=atexit_sleep_ms=0"}
		out, err := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), fmt.Sprintf("%s %v", out, err)
	}
	if code, out := health(rest[0].httpAddr); code != 0 {
		t.Errorf("member health against ready member %d: exit %d (%s), want 0", rest[0].id, code, out)
	}
	if code, out := health(leader.httpAddr); code != 1 {
		t.Errorf("member health against a closed port: exit %d (%s), want 1", code, out)
	}
}
