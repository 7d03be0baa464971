//go:build docker

// This file owns the docker side: building the images once, the compose
// project (refusing a foreign one, removing our own leftovers, bringing it
// up, taking it down on every exit path), and the fault commands on the
// fixed container names.
package faults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// project is our docker-compose project name; the container names are
	// fixed by docker-compose.yml, so only one project can hold them.
	project     = "kontiki-faults"
	composeFile = "docker-compose.yml"
	network     = "kontiki-net"
	clusterName = "kontiki"
)

// members are the node ids; container, NATS port and HTTP port follow.
var members = []uint64{1, 2, 3}

func container(id uint64) string { return fmt.Sprintf("kontiki-member%d", id) }
func natsURL(id uint64) string   { return fmt.Sprintf("nats://127.0.0.1:%d", 4221+id) }
func httpBase(id uint64) string  { return fmt.Sprintf("http://127.0.0.1:%d", 8079+id) }

func allContainers() []string {
	var out []string
	for _, id := range members {
		out = append(out, container(id))
	}
	return out
}

// compose is the project brought up by TestFaults.
type compose struct {
	root string

	downOnce sync.Once
}

var (
	buildOnce sync.Once
	buildErr  error
	buildOut  string
)

// build runs deploy/build.sh once per test binary: the images come only
// from there (nothing is pulled).
func build(t *testing.T, root string) {
	t.Helper()
	buildOnce.Do(func() {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		buildOut, buildErr = run(ctx, root, filepath.Join(root, "deploy", "build.sh"))
		buildOut += fmt.Sprintf("(build.sh took %s)", time.Since(start).Round(100*time.Millisecond))
	})
	if buildErr != nil {
		t.Fatalf("deploy/build.sh: %v\n%s", buildErr, buildOut)
	}
	t.Logf("deploy/build.sh:\n%s", buildOut)
}

// up builds, removes leftovers of an earlier run of ours, refuses a foreign
// project, starts the project and registers its teardown (also on SIGINT
// and SIGTERM). It returns how long down+up+healthy took.
func up(t *testing.T) (*compose, time.Duration) {
	t.Helper()
	root := repoRoot(t)
	build(t, root)
	p := &compose{root: root}
	p.refuseForeign(t)
	start := time.Now()
	p.down(t) // a run of ours killed before its cleanup (go test -timeout)

	t.Cleanup(func() { p.down(t) })
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stop := make(chan struct{})
	t.Cleanup(func() { signal.Stop(sigs); close(stop) })
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "faults: %v: taking the compose project down\n", s)
			p.down(nil)
			os.Exit(1)
		case <-stop:
		}
	}()

	if err := p.upFresh(); err != nil {
		t.Fatal(err)
	}
	return p, time.Since(start)
}

// upFresh starts the project (after a down) and waits until every member
// answers /readyz.
func (p *compose) upFresh() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := p.compose(ctx, "up", "-d"); err != nil {
		return fmt.Errorf("docker-compose up: %v\n%s", err, out)
	}
	return waitReady(90*time.Second, members...)
}

// recreate is the expensive reset: down -v, up, all ready.
func (p *compose) recreate() (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p.unfreezeAll()
	if out, err := p.compose(ctx, "down", "-v", "--remove-orphans", "-t", "15"); err != nil {
		return 0, fmt.Errorf("docker-compose down: %v\n%s", err, out)
	}
	err := p.upFresh()
	return time.Since(start), err
}

// refuseForeign fails the test if another compose project (the user's own
// cluster, the smoke test's) holds our container names or the network.
func (p *compose) refuseForeign(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := run(ctx, p.root, "docker", "ps", "-a", "--format", `{{.Names}}	{{.Label "com.docker.compose.project"}}`)
	if err != nil {
		t.Fatalf("docker ps: %v\n%s", err, out)
	}
	owner := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, proj, _ := strings.Cut(line, "\t")
		owner[name] = proj
	}
	for _, c := range allContainers() {
		if proj, ok := owner[c]; ok && proj != project {
			t.Fatalf("container %s of compose project %q exists: take that project down first (docker-compose -p %s down)", c, proj, proj)
		}
	}
	out, err = run(ctx, p.root, "docker", "network", "inspect", "-f", `{{index .Labels "com.docker.compose.project"}}`, network)
	if proj := strings.TrimSpace(out); err == nil && proj != project {
		t.Fatalf("network %s of compose project %q exists: take that project down first (docker-compose -p %s down)", network, proj, proj)
	}
}

func (p *compose) compose(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"-p", project, "-f", filepath.Join(p.root, composeFile)}, args...)
	return run(ctx, p.root, "docker-compose", full...)
}

// down removes the project's containers, network and volumes. It first
// undoes the faults down cannot handle (a paused container). t may be nil
// (signal path).
func (p *compose) down(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p.unfreezeAll()
	if out, err := p.compose(ctx, "down", "-v", "--remove-orphans", "-t", "15"); err != nil {
		if t != nil {
			t.Errorf("docker-compose down: %v\n%s", err, out)
		} else {
			fmt.Fprintf(os.Stderr, "docker-compose down: %v\n%s", err, out)
		}
	}
}

// unfreezeAll unpauses our paused containers (errors ignored: most are not
// paused).
func (p *compose) unfreezeAll() {
	for _, id := range members {
		if st, err := containerState(id); err == nil && st.paused {
			_ = docker(20*time.Second, "unpause", container(id))
		}
	}
}

// --- fault commands ----------------------------------------------------------

// docker runs one docker command with a deadline.
func docker(timeout time.Duration, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := run(ctx, "", "docker", args...)
	if err != nil {
		return fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out))
	}
	return nil
}

func dockerKill(id uint64) error    { return docker(30*time.Second, "kill", container(id)) }
func dockerStart(id uint64) error   { return docker(60*time.Second, "start", container(id)) }
func dockerPause(id uint64) error   { return docker(30*time.Second, "pause", container(id)) }
func dockerUnpause(id uint64) error { return docker(30*time.Second, "unpause", container(id)) }

// dockerStop is the graceful stop: SIGTERM, up to 15 s (the compose
// file's stop_grace_period), then SIGKILL.
func dockerStop(id uint64) error { return docker(60*time.Second, "stop", "-t", "15", container(id)) }

// dockerRestart stops with the graceful stop (SIGTERM, 15s grace, as in the
// compose file) and starts again.
func dockerRestart(id uint64) error {
	return docker(90*time.Second, "restart", "-t", "15", container(id))
}

func dockerDisconnect(id uint64) error {
	return docker(30*time.Second, "network", "disconnect", network, container(id))
}

func dockerConnect(id uint64) error {
	return docker(30*time.Second, "network", "connect", network, container(id))
}

// state is what docker says about one member's container.
type state struct {
	running, paused, connected bool
	status                     string
}

func containerState(id uint64) (state, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := run(ctx, "", "docker", "inspect", "-f",
		fmt.Sprintf(`{{.State.Status}} {{.State.Running}} {{.State.Paused}} {{if index .NetworkSettings.Networks %q}}connected{{else}}cut{{end}}`, network),
		container(id))
	if err != nil {
		return state{}, fmt.Errorf("docker inspect %s: %v: %s", container(id), err, strings.TrimSpace(out))
	}
	f := strings.Fields(out)
	if len(f) != 4 {
		return state{}, fmt.Errorf("docker inspect %s: %q", container(id), out)
	}
	return state{status: f[0], running: f[1] == "true", paused: f[2] == "true", connected: f[3] == "connected"}, nil
}

// exitedAt is when docker saw member id's container exit (its
// .State.FinishedAt): the instant of a kill, more precise than the return
// of docker kill.
func exitedAt(id uint64) (time.Time, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := run(ctx, "", "docker", "inspect", "-f", "{{.State.FinishedAt}}", container(id))
	if err != nil {
		return time.Time{}, fmt.Errorf("docker inspect %s: %v: %s", container(id), err, strings.TrimSpace(out))
	}
	return time.Parse(time.RFC3339Nano, strings.TrimSpace(out))
}

// heal undoes every fault on every member: connect, unpause, start. It
// returns what it had to do.
func heal() ([]string, error) {
	var did []string
	for _, id := range members {
		st, err := containerState(id)
		if err != nil {
			return did, err
		}
		if !st.connected {
			if err := dockerConnect(id); err != nil {
				return did, err
			}
			did = append(did, "connect "+container(id))
		}
		if st.paused {
			if err := dockerUnpause(id); err != nil {
				return did, err
			}
			did = append(did, "unpause "+container(id))
		}
		if !st.running {
			if err := dockerStart(id); err != nil {
				return did, err
			}
			did = append(did, "start "+container(id))
		}
	}
	return did, nil
}

// dockerLogs returns a member's container log (all starts of the
// container) since t, with docker's timestamps.
func dockerLogs(id uint64, since time.Time) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := run(ctx, "", "docker", "logs", "--timestamps", "--since", since.UTC().Format(time.RFC3339Nano), container(id))
	if err != nil {
		out += fmt.Sprintf("\n(docker logs: %v)", err)
	}
	return out
}

// run runs a command and returns its combined output.
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
	if _, err := os.Stat(filepath.Join(root, composeFile)); err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return root
}
