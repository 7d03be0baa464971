package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/kontiki-raft/kontiki/client"
	"github.com/kontiki-raft/kontiki/kv"
	pb "github.com/kontiki-raft/kontiki/messages"
)

func TestSnapshotSaveStreamsAConsistentChecksummedImage(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.leader()
	nc := connect(t, c.ns)
	value := bytes.Repeat([]byte("x"), 200<<10) // several chunks in all
	for i := 0; i < 12; i++ {
		revision(t, request(t, nc, c.subject("kv.put.big.%d", i), value, nil))
	}
	file := streamSnapshot(t, nc, c.subject("admin.snapshot"))
	var snap pb.Snapshot
	if err := proto.Unmarshal(file, &snap); err != nil {
		t.Fatal(err)
	}
	restored := kv.New(kv.Options{})
	if err := restored.Restore(snap.Metadata.Index, snap.Data); err != nil {
		t.Fatal(err)
	}
	if restored.Len() != 12 || restored.Hash() != c.members[leader].Store.Hash() {
		t.Fatalf("restored image has %d keys; hash equal to the leader's: %v", restored.Len(), restored.Hash() == c.members[leader].Store.Hash())
	}
}

// streamSnapshot asks subject for a snapshot, acks every chunk, checks the
// offsets and the final sha256, and returns the image.
func streamSnapshot(t *testing.T, nc *nats.Conn, subject string) []byte {
	t.Helper()
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		t.Fatal(err)
	}
	var file []byte
	for {
		msg, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("%s: after %d bytes: %v", subject, len(file), err)
		}
		if code(msg) != 0 {
			t.Fatalf("%s: snapshot error %d: %s", subject, code(msg), msg.Header.Get("Nats-Service-Error"))
		}
		if off, _ := strconv.Atoi(msg.Header.Get(HeaderOffset)); off != len(file) {
			t.Fatalf("%s: chunk at offset %d, have %d bytes", subject, off, len(file))
		}
		file = append(file, msg.Data...)
		_ = msg.Respond(nil)
		if msg.Header.Get(HeaderSnapshot) == "end" {
			sum := sha256.Sum256(file)
			if hex.EncodeToString(sum[:]) != msg.Header.Get(HeaderSha256) {
				t.Fatalf("%s: sha256 header does not match the streamed bytes", subject)
			}
			return file
		}
	}
}

// DESIGN.md §3: kontiki.<c>.member.<id>.> serves the same endpoints addressed
// to one member, admin.snapshot included: an operator picks whose image.
func TestSnapshotSaveAddressedToEachMember(t *testing.T) {
	c := startCluster(t, 3)
	c.leader()
	nc := connect(t, c.ns)
	rev := revision(t, request(t, nc, c.subject("kv.put.k"), []byte("v"), nil))
	for id, m := range c.members {
		waitFor(t, 10*time.Second, "member applied the put", func() bool { return m.Store.Revision() >= rev })
		var snap pb.Snapshot
		if err := proto.Unmarshal(streamSnapshot(t, nc, c.subject("member.%d.admin.snapshot", id)), &snap); err != nil {
			t.Fatal(err)
		}
		restored := kv.New(kv.Options{})
		if err := restored.Restore(snap.Metadata.Index, snap.Data); err != nil {
			t.Fatal(err)
		}
		if restored.Len() != 1 {
			t.Errorf("member %d's image has %d keys, want 1", id, restored.Len())
		}
	}
}

func TestClientSnapshotSaveMatchesTheStore(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.leader()
	cl := client.New(connect(t, c.ns), client.Options{})
	for i := 0; i < 50; i++ {
		if _, err := cl.Put(context.Background(), "s.k"+strconv.Itoa(i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	var calls int
	info, err := cl.SnapshotSave(context.Background(), &buf, func(done, total int64) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	if info.Size != int64(buf.Len()) || info.Sha256 != hex.EncodeToString(sum[:]) || calls == 0 {
		t.Fatalf("info %+v for %d bytes, %d progress calls", info, buf.Len(), calls)
	}
	var snap pb.Snapshot
	if err := proto.Unmarshal(buf.Bytes(), &snap); err != nil {
		t.Fatal(err)
	}
	restored := kv.New(kv.Options{})
	if err := restored.Restore(snap.Metadata.Index, snap.Data); err != nil {
		t.Fatal(err)
	}
	if restored.Hash() != c.members[leader].Store.Hash() {
		t.Fatal("saved snapshot differs from the leader's store")
	}
}
