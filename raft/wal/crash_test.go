// Power loss: whatever a crash leaves of writes that were not yet fsynced
// (lost sectors, an old or new file size), Open succeeds and returns the
// state after some Save at or after the last acknowledged one.
package wal

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kontiki-raft/kontiki/messages"
)

// crashFS remembers each file's content at its last fsync.
type crashFS struct {
	OSFS
	mu      sync.Mutex
	durable map[string][]byte
	open    map[string]*crashFile // by current name, to follow renames
}

func newCrashFS() *crashFS {
	return &crashFS{durable: map[string][]byte{}, open: map[string]*crashFile{}}
}

func (c *crashFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := c.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	cf := &crashFile{File: f, name: name, fs: c}
	c.mu.Lock()
	c.open[name] = cf
	c.mu.Unlock()
	return cf, nil
}

func (c *crashFS) SyncDir(string) error { return nil }

func (c *crashFS) Rename(oldname, newname string) error {
	if err := c.OSFS.Rename(oldname, newname); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.durable[oldname]; ok {
		c.durable[newname] = b
		delete(c.durable, oldname)
	}
	if f, ok := c.open[oldname]; ok {
		f.name = newname
		c.open[newname] = f
		delete(c.open, oldname)
	}
	return nil
}

type crashFile struct {
	File
	name string
	fs   *crashFS
}

// Sync records the file as durable. It skips the real fsync: durability is
// what this file system simulates.
func (f *crashFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	b, err := os.ReadFile(f.name)
	if err != nil {
		return err
	}
	f.fs.durable[f.name] = b
	return nil
}

// crash writes to a new directory what a power loss now could leave of
// dir: fsynced bytes intact; of the bytes written since, the file may keep
// its old size or any larger one, and each 512-byte sector written since
// (appended, or overwritten in place as in a preallocated segment) may be
// lost: it reads back as it was at the fsync (zeros past the synced size).
func (c *crashFS) crash(t *testing.T, dir string, rng *rand.Rand) string {
	t.Helper()
	dst := t.TempDir()
	c.mu.Lock()
	defer c.mu.Unlock()
	names, _ := os.ReadDir(dir)
	for _, e := range names {
		if e.Name() == lockName {
			continue
		}
		path := filepath.Join(dir, e.Name())
		cur, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		dur, ok := c.durable[path]
		if !ok {
			continue // never fsynced: its directory entry may be gone
		}
		out := slices.Clone(cur)
		if len(cur) > len(dur) && rng.IntN(4) == 0 {
			out = out[:len(dur)+rng.IntN(len(cur)-len(dur)+1)]
		}
		for s := 0; s < len(out); s += sectorSize {
			e := min(s+sectorSize, len(out))
			was := make([]byte, e-s) // the sector at the last fsync
			if s < len(dur) {
				copy(was, dur[s:min(e, len(dur))])
			}
			if !bytes.Equal(out[s:e], was) && rng.IntN(3) == 0 {
				copy(out[s:e], was)
			}
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

type savedState struct {
	hs   hardState
	ents []*messages.Entry
}

// The seeds alternate the layouts: growing segments, preallocated ones
// prepared at the roll, and preallocated ones prepared in the background.
func TestPowerLossLeavesAnAcknowledgedPrefix(t *testing.T) {
	runs := 200
	if testing.Short() {
		runs = 40
	}
	var torn [3]int
	for seed := range uint64(runs) {
		if runPowerLoss(t, seed) {
			torn[seed%3]++
		}
	}
	t.Logf("torn tails cut (growing, preallocated inline, preallocated in the background): %v", torn)
	if !testing.Short() && (torn[0] == 0 || torn[1] == 0 || torn[2] == 0) {
		t.Fatalf("some layout never had a torn tail to cut: %v", torn)
	}
}

// tornCounter counts the torn tails Open reports.
type tornCounter struct {
	slog.Handler
	n *atomic.Int32
}

func (c tornCounter) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "torn tail") {
		c.n.Add(1)
	}
	return nil
}
func (c tornCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c tornCounter) WithGroup(string) slog.Handler      { return c }

// runPowerLoss reports whether Open cut a torn tail.
func runPowerLoss(t *testing.T, seed uint64) bool {
	rng := rand.New(rand.NewPCG(seed, 0x63726173))
	dir := t.TempDir()
	cfs := newCrashFS()
	opts := Options{FS: cfs, SegmentBytes: int64(2048 + rng.IntN(8192))}
	switch seed % 3 {
	case 0:
		opts.NoPreallocate = true
	case 1:
		opts.PreallocateInline = true
	}
	w, _ := openT(t, dir, opts)
	defer w.Close()

	m := &logModel{curTerm: 1}
	history := []savedState{{}} // the state after each Save
	acked := 0                  // history index known durable
	ops := 5 + rng.IntN(60)
	for op := 0; op < ops; op++ {
		if rng.IntN(6) == 0 {
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			acked = len(history) - 1
			continue
		}
		first := m.last() + 1
		if rng.IntN(5) == 0 && first > m.hs.Commit+1 {
			first = m.hs.Commit + 1 + uint64(rng.IntN(int(first-m.hs.Commit-1)))
			m.curTerm++
		}
		ents := mkEnts(first, uint64(1+rng.IntN(4)), m.curTerm, rng.IntN(1500))
		m.ents = append(m.ents[:first-1], ents...)
		m.hs = hardState{Term: m.curTerm, Vote: 1, Commit: m.hs.Commit + uint64(rng.IntN(int(first-m.hs.Commit)))}
		sync := rng.IntN(3) == 0
		if err := w.Save(&messages.HardState{Term: m.hs.Term, Vote: m.hs.Vote, Commit: m.hs.Commit}, ents, sync); err != nil {
			t.Fatalf("seed %d: Save: %v", seed, err)
		}
		history = append(history, savedState{hs: m.hs, ents: slices.Clone(m.ents)})
		if sync {
			acked = len(history) - 1
		}
	}

	crashed := cfs.crash(t, dir, rng)
	var torn atomic.Int32
	w2, st, err := Open(crashed, testID, Options{Logger: slog.New(tornCounter{quietLogger().Handler(), &torn})})
	if err != nil {
		t.Fatalf("seed %d: Open after a power loss: %v", seed, err)
	}
	w2.Close()
	got := hardState{st.HardState.Term, st.HardState.Vote, st.HardState.Commit}
	for k := len(history) - 1; k >= acked; k-- {
		if history[k].hs == got && sameEntries(history[k].ents, st.Entries) {
			return torn.Load() > 0
		}
	}
	t.Fatalf("seed %d: recovered hard state %+v entries %s matches no Save at or after the acknowledged #%d of %d",
		seed, got, span(st.Entries), acked, len(history)-1)
	return false
}

func sameEntries(a, b []*messages.Entry) bool {
	return slices.EqualFunc(a, b, func(x, y *messages.Entry) bool {
		return x.Index == y.Index && x.Term == y.Term && string(x.Data) == string(y.Data)
	})
}
