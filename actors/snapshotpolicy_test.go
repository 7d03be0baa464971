package actors

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pb "github.com/kontiki-raft/kontiki/messages"
)

// bigImageSM applies anything and snapshots to an image of a fixed size.
type bigImageSM struct{ size int }

func (s bigImageSM) Apply(uint64, []byte) []byte  { return nil }
func (s bigImageSM) Snapshot() ([]byte, error)    { return make([]byte, s.size), nil }
func (s bigImageSM) Restore(uint64, []byte) error { return nil }

// savedStore records the index of every snapshot saved.
type savedStore struct {
	*MemoryLogStore
	mu      sync.Mutex
	indexes []uint64
}

func (s *savedStore) SaveSnapshot(snap *pb.Snapshot) error {
	s.mu.Lock()
	s.indexes = append(s.indexes, snap.Metadata.Index)
	s.mu.Unlock()
	return s.MemoryLogStore.SaveSnapshot(snap)
}

func (s *savedStore) saved() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.indexes...)
}

// With the default (scaled) policy a snapshot waits, after the entry count,
// until the entry data since the last one is as large as its image; an
// explicit SnapshotEntries snapshots on the count alone.
func TestScaledSnapshotsWaitForTheLogToOutgrowTheImage(t *testing.T) {
	const image, entry, entries = 1000, 10, 8 // a snapshot is due every 100 entries, not every 8
	for _, scaled := range []bool{true, false} {
		system := actor.NewActorSystemWithConfig(SystemConfig(nil))
		store := &savedStore{MemoryLogStore: NewMemoryLogStore()}
		transport := NewPIDTransport()
		cfg := Config{ID: 1, Peers: []uint64{1}, StateMachine: bigImageSM{image}, Transport: transport, LogStore: store,
			TickInterval: 10 * time.Millisecond, SnapshotEntries: entries, SnapshotKeepEntries: 2}
		cfg.snapshotsScaled = scaled
		props, err := NewNodeProps(cfg)
		if err != nil {
			t.Fatal(err)
		}
		pid := system.Root.Spawn(props)
		transport.SetPeer(1, pid)
		node := NewNode(system.Root, pid)
		deadline := time.Now().Add(10 * time.Second)
		proposed := 0
		for proposed < 400 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := node.Propose(ctx, make([]byte, entry))
			cancel()
			if err == nil {
				proposed++
			} else if time.Now().After(deadline) {
				t.Fatalf("scaled=%v: proposals fail: %v", scaled, err)
			}
		}
		// Wait for the snapshot due at the last entries to be saved.
		var saved []uint64
		for time.Now().Before(deadline) {
			if saved = store.saved(); len(saved) > 0 && saved[len(saved)-1]+100 > uint64(proposed) {
				break
			}
			time.Sleep(5 * time.Millisecond) // poll interval of a deadline-bounded wait
		}
		_ = system.Root.PoisonFuture(pid).Wait()
		if len(saved) < 2 {
			t.Fatalf("scaled=%v: snapshots at %v, want several", scaled, saved)
		}
		// One snapshot is in flight at a time, so a slow save may stretch
		// a gap: the fixed policy is checked on the count, not each gap.
		if want := proposed / (2 * image / entry); !scaled && len(saved) <= want {
			t.Fatalf("fixed: %d snapshots over %d entries (%v), want more than %d", len(saved), proposed, saved, want)
		}
		for i := 1; i < len(saved); i++ {
			gap := saved[i] - saved[i-1]
			if scaled && gap < image/entry {
				t.Fatalf("scaled: snapshots at %v: %d entries (%d bytes) apart, less than the %d-byte image", saved, gap, gap*entry, image)
			}

		}
		t.Logf("scaled=%v: %d snapshots over %d entries: %v", scaled, len(saved), proposed, saved)
	}
}

func TestScaledSnapshotThresholdIsStretchedAndCapped(t *testing.T) {
	for _, c := range []struct {
		image, capBytes uint64
		stretch         int
		want            uint64
	}{
		{1000, 1 << 30, 0, 1000},
		{1000, 1 << 30, 49, 1490},
		{1000, 1200, 49, 1200}, // SnapshotBytes still caps it
		{0, 1 << 30, 30, 0},    // no image yet: the entry count decides
	} {
		if got := scaledSnapshotBytes(c.image, c.capBytes, c.stretch); got != c.want {
			t.Errorf("scaledSnapshotBytes(%d, %d, %d) = %d, want %d", c.image, c.capBytes, c.stretch, got, c.want)
		}
	}
}
