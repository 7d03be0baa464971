// The simulated disk of a node: an in-memory wal.FS that keeps, for every
// file, what a write put in the page cache apart from what the last fsync
// made durable, and, for every directory, its entries apart from those the
// last directory fsync made durable. A crash (powerLoss) keeps only what is
// durable, plus whatever the seed decides the disk managed to write of the
// rest, 512-byte sector by sector; a media fault flips one bit of a durable
// log segment. No real file is ever touched, and nothing depends on the wall
// clock or map order, so a seed replays exactly.
package sim

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kontiki-raft/kontiki/raft/wal"
)

const sectorSize = 512

// inode is a file's content: data is what reads see (the page cache),
// durable what the last Sync made stable.
type inode struct {
	data, durable []byte
	synced        bool // Sync was called at least once
}

// memFS is one node's disk.
type memFS struct {
	dirs map[string]bool
	// names is the namespace as the running process sees it; durableNames
	// what the last SyncDir of each directory made stable.
	names, durableNames map[string]*inode
	locks               map[string]bool
	// gen counts crashes: files opened before a crash belong to a dead
	// process and refuse every operation.
	gen int
	// brokenSync is the deliberately wrong disk: Sync returns success
	// without making anything durable.
	brokenSync bool
	syncs      int
}

func newMemFS() *memFS {
	return &memFS{dirs: map[string]bool{"/": true}, names: map[string]*inode{},
		durableNames: map[string]*inode{}, locks: map[string]bool{}}
}

var _ wal.FS = (*memFS)(nil)

func (m *memFS) OpenFile(name string, flag int, _ fs.FileMode) (wal.File, error) {
	return m.openFile(name, flag)
}

func pathErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

func (m *memFS) openFile(name string, flag int) (*memFile, error) {
	name = filepath.Clean(name)
	if !m.dirs[filepath.Dir(name)] {
		return nil, pathErr("open", name, fs.ErrNotExist)
	}
	ino, ok := m.names[name]
	switch {
	case !ok && flag&os.O_CREATE == 0:
		return nil, pathErr("open", name, fs.ErrNotExist)
	case !ok:
		ino = &inode{}
		m.names[name] = ino
	case flag&os.O_TRUNC != 0:
		ino.data = ino.data[:0:0]
	}
	return &memFile{fs: m, ino: ino, gen: m.gen, name: name}, nil
}

func (m *memFS) ReadFile(name string) ([]byte, error) {
	ino, ok := m.names[filepath.Clean(name)]
	if !ok {
		return nil, pathErr("read", name, fs.ErrNotExist)
	}
	return slices.Clone(ino.data), nil
}

func (m *memFS) ReadDir(dir string) ([]string, error) {
	dir = filepath.Clean(dir)
	if !m.dirs[dir] {
		return nil, pathErr("readdir", dir, fs.ErrNotExist)
	}
	var out []string
	for name := range m.names {
		if filepath.Dir(name) == dir {
			out = append(out, filepath.Base(name))
		}
	}
	slices.Sort(out)
	return out, nil
}

func (m *memFS) Rename(oldname, newname string) error {
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	ino, ok := m.names[oldname]
	if !ok {
		return pathErr("rename", oldname, fs.ErrNotExist)
	}
	delete(m.names, oldname)
	m.names[newname] = ino
	return nil
}

func (m *memFS) Remove(name string) error {
	name = filepath.Clean(name)
	if _, ok := m.names[name]; !ok {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	delete(m.names, name)
	return nil
}

// MkdirAll: directories are durable at once (the OS version fsyncs each
// new one in its parent).
func (m *memFS) MkdirAll(dir string, _ fs.FileMode) error {
	for d := filepath.Clean(dir); !m.dirs[d]; d = filepath.Dir(d) {
		m.dirs[d] = true
	}
	return nil
}

// SyncDir makes the entries of dir (creates, renames, removes) durable.
func (m *memFS) SyncDir(dir string) error {
	dir = filepath.Clean(dir)
	for name := range m.durableNames {
		if filepath.Dir(name) == dir {
			delete(m.durableNames, name)
		}
	}
	for name, ino := range m.names {
		if filepath.Dir(name) == dir {
			m.durableNames[name] = ino
		}
	}
	return nil
}

func (m *memFS) Lock(name string) (io.Closer, error) {
	name = filepath.Clean(name)
	if m.locks[name] {
		return nil, fmt.Errorf("sim disk: %s: locked", name)
	}
	m.locks[name] = true
	return &memLock{fs: m, name: name, gen: m.gen}, nil
}

type memLock struct {
	fs   *memFS
	name string
	gen  int
}

func (l *memLock) Close() error {
	if l.gen == l.fs.gen {
		delete(l.fs.locks, l.name)
	}
	return nil
}

// memFile is an open file of a memFS.
type memFile struct {
	fs     *memFS
	ino    *inode
	gen    int
	name   string
	closed bool
}

var errDeadProcess = errors.New("sim disk: file of a crashed process")

func (f *memFile) check(op string) error {
	switch {
	case f.gen != f.fs.gen:
		return pathErr(op, f.name, errDeadProcess)
	case f.closed:
		return pathErr(op, f.name, fs.ErrClosed)
	}
	return nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.check("write"); err != nil {
		return 0, err
	}
	if end := int(off) + len(p); end > len(f.ino.data) {
		f.ino.data = append(f.ino.data, make([]byte, end-len(f.ino.data))...)
	}
	copy(f.ino.data[off:], p)
	return len(p), nil
}

func (f *memFile) Truncate(size int64) error {
	if err := f.check("truncate"); err != nil {
		return err
	}
	if int(size) <= len(f.ino.data) {
		f.ino.data = f.ino.data[:size:size]
	} else {
		f.ino.data = append(f.ino.data, make([]byte, int(size)-len(f.ino.data))...)
	}
	return nil
}

func (f *memFile) Sync() error {
	if err := f.check("sync"); err != nil {
		return err
	}
	f.fs.syncs++
	if !f.fs.brokenSync {
		f.ino.durable = slices.Clone(f.ino.data)
		f.ino.synced = true
	}
	return nil
}

func (f *memFile) Close() error {
	if f.gen != f.fs.gen {
		return nil
	}
	if f.closed {
		return pathErr("close", f.name, fs.ErrClosed)
	}
	f.closed = true
	return nil
}

// crashMode is what a crash leaves of the writes that were not fsynced.
type crashMode int

const (
	// crashKeep: the process died but the kernel wrote its page cache out
	// (kill -9): every write survives, even the unsynced ones.
	crashKeep crashMode = iota
	// crashDrop: power loss before any unsynced write reached the disk.
	crashDrop
	// crashTear: power loss during the writeback: the file ends anywhere
	// between its synced and its written size, and each 512-byte sector
	// written since the last fsync either landed or reads as before
	// (zeros past the synced size).
	crashTear
	crashModes
)

func (c crashMode) String() string { return [...]string{"keep", "drop", "tear"}[c] }

// powerLoss applies a crash to the disk: the namespace falls back to what
// SyncDir made durable, each file to what mode and the seed leave of it.
// Open files and locks of the dead process die with it.
func (m *memFS) powerLoss(mode crashMode, r *rand.Rand) {
	m.gen++
	clear(m.locks)
	if mode == crashKeep {
		m.durableNames = map[string]*inode{}
		for name, ino := range m.names {
			ino.durable, ino.synced = slices.Clone(ino.data), true
			m.durableNames[name] = ino
		}
		return
	}
	names := make([]string, 0, len(m.durableNames))
	for name := range m.durableNames {
		names = append(names, name)
	}
	slices.Sort(names) // the seed's choices must not follow map order
	m.names = map[string]*inode{}
	for _, name := range names {
		ino := m.durableNames[name]
		m.names[name] = ino
		if mode == crashTear {
			ino.durable = tear(ino.durable, ino.data, r)
		}
		ino.data = slices.Clone(ino.durable)
	}
}

// tear: what a power loss during writeback may leave of a file whose
// durable image is dur and whose page cache holds cur.
func tear(dur, cur []byte, r *rand.Rand) []byte {
	n := len(cur)
	if n > len(dur) && r.IntN(2) == 0 {
		n = len(dur) + r.IntN(n-len(dur)+1)
	} else if n < len(dur) && r.IntN(2) == 0 {
		n = len(dur) // an unsynced truncation that did not land
	}
	out := make([]byte, n)
	for s := 0; s < n; s += sectorSize {
		e := min(s+sectorSize, n)
		landed := r.IntN(2) == 0
		for i := s; i < e; i++ {
			switch {
			case landed && i < len(cur):
				out[i] = cur[i]
			case i < len(dur):
				out[i] = dur[i]
			}
		}
	}
	return out
}

// flipBit is a media fault: one bit of a log segment flips, in the part an
// fsync had made durable before the crash (synced: bytes per file), at a
// seeded offset in a sector holding at least two set bits (so the flip
// cannot pass for a zero-filled torn sector). It returns where, or "" when
// the disk has no such segment.
func (m *memFS) flipBit(r *rand.Rand, synced map[string]int) string {
	var segs []string
	for name := range m.durableNames {
		if strings.HasSuffix(name, ".wal") {
			segs = append(segs, name)
		}
	}
	slices.Sort(segs)
	for tries := 0; tries < 20 && len(segs) > 0; tries++ {
		name := segs[r.IntN(len(segs))]
		ino := m.durableNames[name]
		n := min(synced[name], len(ino.durable))
		if n == 0 {
			continue
		}
		off := r.IntN(n)
		s := off / sectorSize * sectorSize
		bits := 0
		for _, b := range ino.durable[s:min(s+sectorSize, len(ino.durable))] {
			for ; b != 0; b &= b - 1 {
				bits++
			}
		}
		if bits < 2 {
			continue
		}
		bit := r.IntN(8)
		ino.durable[off] ^= 1 << bit
		ino.data = slices.Clone(ino.durable)
		return fmt.Sprintf("%s offset %d bit %d", name, off, bit)
	}
	return ""
}
