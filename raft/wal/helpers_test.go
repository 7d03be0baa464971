// Test helpers: a file system that injects fsync errors and full disks, and
// shorthands for opening, saving and damaging logs.
package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/kontiki-raft/kontiki/messages"
)

var testID = Identity{Cluster: "kontiki", ClusterID: 7, NodeID: 1}

// faultFS is the OS file system with switches for the failures a disk can
// produce.
type faultFS struct {
	OSFS
	mu sync.Mutex
	// syncErr, when set, is returned by every File.Sync and SyncDir.
	syncErr error
	// spaceLeft, when >= 0, is how many more bytes writes may add before
	// they fail with ENOSPC (a write that does not fit is cut short, as a
	// real full disk does).
	spaceLeft int64
	// maxTmp, when >= 0, is how large a .tmp file may grow before writes
	// to it fail with ENOSPC: room for small files but not for a whole new
	// segment.
	maxTmp int64
	tmps   map[string]*faultFile // open .tmp files by name
	// onSync, when set, runs inside every File.Sync before it syncs.
	onSync func()
	syncs  int
}

func newFaultFS() *faultFS { return &faultFS{spaceLeft: -1, maxTmp: -1} }

func (f *faultFS) setMaxTmp(n int64) { f.mu.Lock(); f.maxTmp = n; f.mu.Unlock() }

func (f *faultFS) setSyncErr(err error) { f.mu.Lock(); f.syncErr = err; f.mu.Unlock() }
func (f *faultFS) setSpace(n int64)     { f.mu.Lock(); f.spaceLeft = n; f.mu.Unlock() }

func (f *faultFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	ff := &faultFile{File: file, fs: f, tmp: strings.HasSuffix(name, ".tmp")}
	if ff.tmp {
		f.mu.Lock()
		if f.tmps == nil {
			f.tmps = map[string]*faultFile{}
		}
		f.tmps[name] = ff
		f.mu.Unlock()
	}
	return ff, nil
}

// Rename: a .tmp file renamed into place is no longer limited by maxTmp.
func (f *faultFS) Rename(oldname, newname string) error {
	f.mu.Lock()
	if ff, ok := f.tmps[oldname]; ok {
		ff.tmp = false
		delete(f.tmps, oldname)
	}
	f.mu.Unlock()
	return f.OSFS.Rename(oldname, newname)
}

func (f *faultFS) SyncDir(dir string) error {
	f.mu.Lock()
	err := f.syncErr
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.OSFS.SyncDir(dir)
}

type faultFile struct {
	File
	fs  *faultFS
	tmp bool // guarded by fs.mu
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	if f.tmp && f.fs.maxTmp >= 0 && off+int64(len(p)) > f.fs.maxTmp {
		f.fs.mu.Unlock()
		return 0, &os.PathError{Op: "write", Path: "tmp", Err: syscall.ENOSPC}
	}
	allowed := int64(len(p))
	if f.fs.spaceLeft >= 0 && allowed > f.fs.spaceLeft {
		allowed = f.fs.spaceLeft
	}
	if f.fs.spaceLeft >= 0 {
		f.fs.spaceLeft -= allowed
	}
	f.fs.mu.Unlock()
	n, err := f.File.WriteAt(p[:allowed], off)
	if err == nil && n < len(p) {
		err = &os.PathError{Op: "write", Path: "segment", Err: syscall.ENOSPC}
	}
	return n, err
}

func (f *faultFile) Sync() error {
	f.fs.mu.Lock()
	err, hook := f.fs.syncErr, f.fs.onSync
	f.fs.syncs++
	f.fs.mu.Unlock()
	if hook != nil {
		hook()
	}
	if err != nil {
		return err
	}
	return f.File.Sync()
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testSegmentBytes is the segment size openT uses when the test does not
// choose one: segments are preallocated, and copying or zero-filling 64 MiB
// for every test directory would make the tests slow without testing more.
const testSegmentBytes = 64 << 10

func openT(t testing.TB, dir string, opts Options) (*WAL, *State) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	if opts.SegmentBytes == 0 {
		opts.SegmentBytes = testSegmentBytes
	}
	w, st, err := Open(dir, testID, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	// A test that drops the WAL must not leave its background zero-fill
	// writing into a directory being removed.
	t.Cleanup(func() { w.Close() })
	return w, st
}

func reopenT(t testing.TB, w *WAL, dir string, opts Options) (*WAL, *State) {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openT(t, dir, opts)
}

// mkEnts makes n entries from index first with term and payloads of size
// bytes that name their index (never all zero).
func mkEnts(first, n, term uint64, size int) []*messages.Entry {
	ents := make([]*messages.Entry, n)
	for i := range ents {
		idx := first + uint64(i)
		pat := []byte(fmt.Sprintf("<%d:%d>", idx, term))
		data := bytes.Repeat(pat, size/len(pat)+1)[:size]
		ents[i] = &messages.Entry{Index: idx, Term: term, Data: data}
	}
	return ents
}

func hs(term, vote, commit uint64) *messages.HardState {
	return &messages.HardState{Term: term, Vote: vote, Commit: commit}
}

func mustSave(t testing.TB, w *WAL, h *messages.HardState, ents []*messages.Entry) {
	t.Helper()
	if err := w.Save(h, ents, true); err != nil {
		t.Fatalf("Save: %v", err)
	}
}

// checkEntries says whether got are exactly the entries first..last with
// the given payload size, each with the term termOf(index).
func checkEntries(t testing.TB, got []*messages.Entry, first, last uint64, termOf func(uint64) uint64, size int) {
	t.Helper()
	if n := uint64(len(got)); (last < first && n != 0) || (last >= first && n != last-first+1) {
		t.Fatalf("got %d entries %s, want %d..%d", n, span(got), first, last)
	}
	for i, e := range got {
		idx := first + uint64(i)
		want := mkEnts(idx, 1, termOf(idx), size)[0]
		if e.Index != idx || e.Term != want.Term || !bytes.Equal(e.Data, want.Data) {
			t.Fatalf("entry %d: got index %d term %d %d bytes, want term %d", idx, e.Index, e.Term, len(e.Data), want.Term)
		}
	}
}

func span(ents []*messages.Entry) string {
	if len(ents) == 0 {
		return "[]"
	}
	return fmt.Sprintf("[%d..%d]", ents[0].Index, ents[len(ents)-1].Index)
}

func term1(uint64) uint64 { return 1 }

func checkHardState(t testing.TB, got *messages.HardState, want *messages.HardState) {
	t.Helper()
	if got.Term != want.Term || got.Vote != want.Vote || got.Commit != want.Commit {
		t.Fatalf("hard state %v, want %v", got, want)
	}
}

// segmentPaths lists the segment files of dir, oldest first.
func segmentPaths(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func lastSegment(t testing.TB, dir string) string {
	t.Helper()
	p := segmentPaths(t, dir)
	if len(p) == 0 {
		t.Fatal("no segments")
	}
	return p[len(p)-1]
}

// logicalEnd is where the WAL writes its next record in the active segment:
// the end of the last record (a preallocated segment's file is larger).
func logicalEnd(w *WAL) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size
}

// layouts runs fn for each segment layout: preallocated (the default) and
// growing (NoPreallocate, and segments written before preallocation).
func layouts(t *testing.T, fn func(t *testing.T, opts Options)) {
	for _, c := range []struct {
		name string
		opts Options
	}{{"preallocated", Options{}}, {"growing", Options{NoPreallocate: true}}} {
		t.Run(c.name, func(t *testing.T) { fn(t, c.opts) })
	}
}

// zerosFrom fails the test unless path holds only zeros from off on.
func zerosFrom(t testing.TB, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) < off {
		t.Fatalf("%s is %d bytes, shorter than its logical end %d", path, len(b), off)
	}
	if n := dataEnd(b[off:]); n != 0 {
		t.Fatalf("%s has non-zero bytes after its logical end %d, up to %d", path, off, off+int64(n))
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// patchFile applies fn to the bytes of path.
func patchFile(t testing.TB, path string, fn func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fn(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// copyDir copies the WAL files of src into a fresh directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == lockName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func wantCorrupt(t testing.TB, err error, file string, off int64) *CorruptError {
	t.Helper()
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want a *CorruptError", err)
	}
	if file != "" && ce.File != file {
		t.Fatalf("corruption named file %s, want %s (%v)", ce.File, file, err)
	}
	if off >= 0 && ce.Offset != off {
		t.Fatalf("corruption at offset %d, want %d (%v)", ce.Offset, off, err)
	}
	return ce
}

var execCommand = exec.Command
