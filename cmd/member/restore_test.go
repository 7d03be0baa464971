package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/kontiki-raft/kontiki/kv"
	pb "github.com/kontiki-raft/kontiki/messages"
)

// snapshotFile builds what `kontiki snapshot save` writes: a KV image with
// the index it was taken at.
func snapshotFile(t *testing.T, kvs map[string]string) string {
	t.Helper()
	s := kv.New(kv.Options{})
	var index uint64
	for k, v := range kvs {
		index++
		cmd, err := kv.EncodePut(k, []byte(v), kv.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Apply(index, cmd)
	}
	image, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := proto.Marshal(&pb.Snapshot{Data: image, Metadata: &pb.SnapshotMetadata{Index: index, Term: 3}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "snap.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runRestoreCmd(args ...string) (int, string) {
	var out bytes.Buffer
	code := runContext(context.Background(), &session{env: envOf(nil), stdout: &out, stderr: &out}, append([]string{"restore"}, args...))
	return code, out.String()
}

func TestRestoreSeedsANewMemberThatServesTheSnapshot(t *testing.T) {
	file := snapshotFile(t, map[string]string{"a.one": "1", "a.two": "2"})
	dir := filepath.Join(t.TempDir(), "data")
	if code, out := runRestoreCmd(file, "--id", "1", "--peers", "1", "--data-dir", dir); code != exitOK || !strings.Contains(out, "new cluster id") {
		t.Fatalf("restore: exit %d: %s", code, out)
	}
	// A restore never reuses a data directory.
	if code, out := runRestoreCmd(file, "--id", "1", "--peers", "1", "--data-dir", dir); code != exitError || !strings.Contains(out, "not empty") {
		t.Fatalf("second restore into the same dir: exit %d: %s", code, out)
	}
	natsURL, _, _, _ := runOneMember(t, "--data-dir", dir)
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := kvRequest(t, nc, "kontiki.kontiki.kv.get.a.two", ""); string(got.Data) != "2" {
		t.Fatalf("restored member serves a.two = %q", got.Data)
	}
}

func TestRestoreRefusesBadCommandLinesAndFiles(t *testing.T) {
	file := snapshotFile(t, map[string]string{"k": "v"})
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--id", "1", "--peers", "1", "--data-dir", t.TempDir()}, exitUsage},            // no FILE
		{[]string{file, "extra", "--id", "1", "--peers", "1"}, exitUsage},                        // two FILEs
		{[]string{file, "--id", "2", "--peers", "1", "--data-dir", t.TempDir()}, exitUsage},      // id not a peer
		{[]string{file + ".missing", "--id", "1", "--peers", "1", "--data-dir", t.TempDir()}, 1}, // no such file
	} {
		if code, out := runRestoreCmd(tc.args...); code != tc.code {
			t.Errorf("restore %v: exit %d, want %d: %s", tc.args, code, tc.code, out)
		}
	}
	garbage := filepath.Join(t.TempDir(), "garbage")
	_ = os.WriteFile(garbage, []byte("not a snapshot"), 0o600)
	if code, _ := runRestoreCmd(garbage, "--id", "1", "--peers", "1", "--data-dir", filepath.Join(t.TempDir(), "d")); code != exitError {
		t.Errorf("restore of garbage: exit %d", code)
	}
}
