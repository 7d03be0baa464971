// The file-system layer the WAL writes through. Production uses the OS; tests
// (and a simulation that models lost un-fsynced writes) inject their own to
// produce fsync errors, full disks and crashes.
package wal

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// FS is every file-system operation the WAL performs. Paths are full paths.
// Unless Options.NoPreallocate or Options.PreallocateInline is set, the WAL
// also calls it from a background goroutine (zero-filling the next segment's
// tmp file) while the writer uses it, so it must be safe for concurrent use.
type FS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	ReadFile(name string) ([]byte, error)
	// ReadDir returns the names of the directory's entries, sorted.
	ReadDir(dir string) ([]string, error)
	Rename(oldname, newname string) error
	Remove(name string) error
	MkdirAll(dir string, perm fs.FileMode) error
	// SyncDir makes the directory's entries (creates, renames, removes) durable.
	SyncDir(dir string) error
	// Lock takes an exclusive lock on the file name, held until Close. It
	// fails with an error matching ErrLocked when someone else holds it.
	Lock(name string) (io.Closer, error)
}

// File is an open file of the WAL. Writes are positional; the WAL tracks the
// offsets itself, and writes into a preallocated segment overwrite its zeros
// rather than extend the file.
type File interface {
	io.WriterAt
	// Truncate sets the file's size.
	Truncate(size int64) error
	// Sync makes the file's data (and the size needed to read it) durable:
	// fdatasync or stronger.
	Sync() error
	Close() error
}

// OSFS is the real file system.
type OSFS struct{}

func (OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (OSFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

func (OSFS) ReadDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	sort.Strings(names)
	return names, nil
}

func (OSFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (OSFS) Remove(name string) error             { return os.Remove(name) }

func (OSFS) MkdirAll(dir string, perm fs.FileMode) error {
	// Create missing parents one by one so each new entry can be made
	// durable in its parent.
	dir = filepath.Clean(dir)
	if _, err := os.Stat(dir); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := (OSFS{}).MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, perm); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return (OSFS{}).SyncDir(parent)
}

func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	if cerr := d.Close(); serr == nil {
		serr = cerr
	}
	return serr
}

func (OSFS) Lock(name string) (io.Closer, error) { return lockFile(name) }

type osFile struct{ f *os.File }

func (o osFile) WriteAt(p []byte, off int64) (int, error) { return o.f.WriteAt(p, off) }
func (o osFile) Truncate(size int64) error                { return o.f.Truncate(size) }
func (o osFile) Sync() error                              { return fdatasync(o.f) }
func (o osFile) Close() error                             { return o.f.Close() }
