//go:build !linux

// fsync where fdatasync is not available: File.Sync (F_FULLFSYNC on macOS).
package wal

import "os"

func fdatasync(f *os.File) error { return f.Sync() }
