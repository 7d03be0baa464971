// The identity stamp: dir/IDENTITY names the cluster and node a data
// directory belongs to, so a member never starts on another member's log.
// It is written once, atomically (tmp, fsync, rename, dir fsync).
package wal

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
)

// Identity is what a data directory is stamped with.
type Identity struct {
	Cluster   string // cluster name (e.g. "kontiki")
	ClusterID uint64
	NodeID    uint64 // never 0 (0 means "no node" in raft)
}

func (id Identity) String() string {
	return fmt.Sprintf("cluster %q (id %d) node %d", id.Cluster, id.ClusterID, id.NodeID)
}

func (id Identity) validate() error {
	if id.NodeID == 0 {
		return errors.New("wal: identity: node id must not be 0")
	}
	if id.Cluster == "" || strings.IndexFunc(id.Cluster, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return fmt.Errorf("wal: identity: cluster name %q must be non-empty and printable", id.Cluster)
	}
	return nil
}

const (
	stampName   = "IDENTITY"
	stampHeader = "kontiki-wal-identity v1"
)

// encodeStamp renders the stamp as text an operator can read with cat; the
// last line is a CRC of the lines before it.
func encodeStamp(id Identity) []byte {
	body := fmt.Sprintf("%s\ncluster: %s\ncluster-id: %d\nnode-id: %d\n",
		stampHeader, id.Cluster, id.ClusterID, id.NodeID)
	return fmt.Appendf(nil, "%scrc32c: %08x\n", body, crc32.Checksum([]byte(body), castagnoli))
}

func decodeStamp(path string, b []byte) (Identity, error) {
	bad := func(why string) (Identity, error) {
		return Identity{}, corruptf(path, -1, "identity stamp: %s", why)
	}
	s := string(b)
	i := strings.LastIndex(s, "crc32c: ")
	if i < 0 {
		return bad("no checksum line")
	}
	body := s[:i]
	sum, err := strconv.ParseUint(strings.TrimSpace(s[i+len("crc32c: "):]), 16, 32)
	if err != nil || uint32(sum) != crc32.Checksum([]byte(body), castagnoli) {
		return bad("checksum mismatch")
	}
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if len(lines) != 4 || lines[0] != stampHeader {
		return bad("unknown format")
	}
	var id Identity
	var ok1, ok2, ok3 bool
	id.Cluster, ok1 = strings.CutPrefix(lines[1], "cluster: ")
	cid, ok2 := strings.CutPrefix(lines[2], "cluster-id: ")
	nid, ok3 := strings.CutPrefix(lines[3], "node-id: ")
	if !ok1 || !ok2 || !ok3 {
		return bad("unknown format")
	}
	if id.ClusterID, err = strconv.ParseUint(cid, 10, 64); err != nil {
		return bad("bad cluster-id")
	}
	if id.NodeID, err = strconv.ParseUint(nid, 10, 64); err != nil {
		return bad("bad node-id")
	}
	return id, nil
}

// checkStamp reads dir's stamp and compares it with id. A directory without
// a stamp is stamped now, unless it already holds segments (a log of unknown
// ownership is never adopted).
func checkStamp(fsys FS, dir string, id Identity, hasSegments bool) error {
	path := filepath.Join(dir, stampName)
	b, err := fsys.ReadFile(path)
	switch {
	case err == nil:
		have, err := decodeStamp(path, b)
		if err != nil {
			return err
		}
		if have != id {
			return &IdentityMismatchError{Dir: dir, Stamp: have, Wanted: id}
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("wal: read identity stamp: %w", err)
	case hasSegments:
		return corruptf(path, -1, "missing, but the directory holds log segments")
	}
	return writeFileAtomic(fsys, path, encodeStamp(id))
}

// writeFileAtomic writes path via path.tmp: write, fsync, rename, dir fsync.
// After a crash either the old state or the complete new file is visible.
func writeFileAtomic(fsys FS, path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("wal: create %s: %w", tmp, err)
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, path)
	}
	if err == nil {
		err = fsys.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		fsys.Remove(tmp)
		return fmt.Errorf("wal: write %s: %w", path, classify(err))
	}
	return nil
}

// WriteFileAtomic writes a small file of the data directory the way the
// stamp is written (tmp, fsync, rename, dir fsync), for the files other
// layers keep beside the log.
func WriteFileAtomic(path string, data []byte) error {
	return writeFileAtomic(OSFS{}, path, data)
}

// ReadIdentity returns the identity dir is stamped with; ok is false when dir
// has no stamp yet (a new data directory).
func ReadIdentity(dir string) (id Identity, ok bool, err error) {
	path := filepath.Join(dir, stampName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Identity{}, false, nil
	}
	if err != nil {
		return Identity{}, false, fmt.Errorf("wal: read identity stamp: %w", err)
	}
	id, err = decodeStamp(path, b)
	return id, err == nil, err
}
