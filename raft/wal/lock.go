//go:build unix

// The data-directory lock: an flock on dir/LOCK, so a second WAL on the same
// directory, in this process or another, fails with ErrLocked. The kernel
// drops the lock when the holder dies, so a crash never leaves it stale.
package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

type fileLock struct{ f *os.File }

func lockFile(name string) (*fileLock, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	// flock locks belong to the open file description, so even a second
	// open in the same process conflicts, which is what we want.
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		holder := ""
		if b, rerr := os.ReadFile(name); rerr == nil {
			if pid, perr := strconv.Atoi(string(bytes.TrimSpace(b))); perr == nil {
				holder = fmt.Sprintf(" (held by pid %d)", pid)
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s%s", ErrLocked, name, holder)
		}
		return nil, fmt.Errorf("wal: lock %s: %w", name, err)
	}
	// The pid is informational only (for the message above); the lock is
	// the flock, not the file's content.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &fileLock{f: f}, nil
}

// Close releases the lock (closing the descriptor drops the flock).
func (l *fileLock) Close() error { return l.f.Close() }
