// Package process runs `member` processes against one embedded NATS server
// and injects process-level faults (SIGKILL, SIGSTOP/SIGCONT, restarts)
// under a recorded client load whose history is checked for
// linearizability (internal/history).
//
// Run: go test ./test/process (add -long for soaks, -v for the figures).
// On failure the members' logs, the history and porcupine's visualization
// are kept in the folder the failure message names
// ($KONTIKI_TEST_ARTIFACTS, or the system temp dir).
package process

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var (
	long = flag.Bool("long", os.Getenv("KONTIKI_LONG") != "", "run the soak versions (longer loads, more kills); also $KONTIKI_LONG")
	// memberBin is the member binary, built once; buildErr says why not.
	memberBin string
	buildErr  string
)

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "kontiki-process-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	memberBin = filepath.Join(dir, "member")
	if err := buildMember(memberBin); err != nil {
		buildErr = err.Error()
		memberBin = ""
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildMember builds ./cmd/member (not a race build: the members are the
// system under test, the race detector watches the test process).
func buildMember(out string) error {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "cmd", "member")); err != nil {
		return fmt.Errorf("cmd/member is not there yet: %v", err)
	}
	cmd := exec.Command("go", "build", "-o", out, "./cmd/member")
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build ./cmd/member: %v\n%s", err, strings.TrimSpace(string(b)))
	}
	return nil
}

// needMember skips the test when the member binary could not be built.
func needMember(t *testing.T) {
	t.Helper()
	if memberBin == "" {
		t.Skipf("skipped: the member binary could not be built (%s)", buildErr)
	}
}
