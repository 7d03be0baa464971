// Errors of the write-ahead log: sentinels callers test with errors.Is, and
// the typed errors that carry the file, offset or identities an operator needs.
package wal

import (
	"errors"
	"fmt"
	"syscall"
)

var (
	// ErrLocked: another WAL (in this process or another) holds the directory.
	ErrLocked = errors.New("wal: data directory is locked")
	// ErrIdentityMismatch: the directory is stamped for another cluster or
	// node. The error is an *IdentityMismatchError naming both.
	ErrIdentityMismatch = errors.New("wal: data directory identity mismatch")
	// ErrCorrupt: a record or file failed its checks in a way a crash cannot
	// explain. The error is a *CorruptError naming the file and offset.
	ErrCorrupt = errors.New("wal: corrupt")
	// ErrSyncFailed: an fsync failed. The kernel may have dropped the dirty
	// pages, so nothing written since the last good fsync can be trusted to
	// be on disk; the WAL refuses every later write with this error and the
	// node must stop (restarting replays what is really durable).
	ErrSyncFailed = errors.New("wal: fsync failed; the WAL refuses further writes and the node must stop")
	// ErrNoSpace: the disk is full. The write was rolled back and nothing
	// durable was harmed; writes succeed again once space is freed.
	ErrNoSpace = errors.New("wal: no space left on device; the write was refused and rolled back")
	// ErrClosed: the WAL was closed.
	ErrClosed = errors.New("wal: closed")
	// ErrBadEntries: Save was given entries that cannot extend the log (not
	// contiguous, a gap after the last index, a rewrite of the snapshot, a
	// term going backwards). A caller bug; nothing was written.
	ErrBadEntries = errors.New("wal: entries do not extend the log")
	// ErrTooLarge: one entry does not fit in a record.
	ErrTooLarge = errors.New("wal: entry too large")
	// ErrSnapOutOfDate: SaveSnapshot was given a snapshot no newer than the
	// one already recorded.
	ErrSnapOutOfDate = errors.New("wal: snapshot is not newer than the recorded one")
	// ErrCompactBeyondSnapshot: Compact was asked to drop entries no
	// snapshot covers yet.
	ErrCompactBeyondSnapshot = errors.New("wal: compact index is beyond the latest snapshot")
)

// CorruptError reports data that failed its checks: a checksum mismatch
// (other than the torn last record a crash leaves), an impossible length, a
// missing segment or snapshot. The node must not start on it.
type CorruptError struct {
	File   string // path of the damaged file
	Offset int64  // byte offset in File where the damage starts (-1: the whole file)
	Reason string
}

func (e *CorruptError) Error() string {
	where := e.File
	if e.Offset >= 0 {
		where = fmt.Sprintf("%s at offset %d", e.File, e.Offset)
	}
	return fmt.Sprintf("wal: corrupt data in %s: %s. The log cannot be trusted past this point "+
		"and the node refuses to start on it: move the data directory aside (keep it for "+
		"inspection) and rejoin this member from a healthy peer with an empty directory", where, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// IdentityMismatchError: the directory's stamp names another cluster or node.
type IdentityMismatchError struct {
	Dir    string
	Stamp  Identity // what the directory is stamped with
	Wanted Identity // what Open was asked for
}

func (e *IdentityMismatchError) Error() string {
	return fmt.Sprintf("wal: data directory %s belongs to %s, not to %s: refusing to start "+
		"(point this member at its own data directory)", e.Dir, e.Stamp, e.Wanted)
}

// Is makes errors.Is(err, ErrIdentityMismatch) true.
func (e *IdentityMismatchError) Is(target error) bool { return target == ErrIdentityMismatch }

func corruptf(file string, off int64, format string, args ...any) *CorruptError {
	return &CorruptError{File: file, Offset: off, Reason: fmt.Sprintf(format, args...)}
}

// classify marks a full disk (or quota) as ErrNoSpace, keeping the cause.
func classify(err error) error {
	if err != nil && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)) && !errors.Is(err, ErrNoSpace) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}
