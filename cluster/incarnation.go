// Incarnations fence out a member whose data directory was lost. Every data
// directory is given a random incarnation id when first used (file
// INCARNATION); every batch carries its sender's. A member records the
// incarnation of each peer the first time it hears from it (file PEERS,
// written atomically) and refuses batches with another one: that peer
// restarted on an empty or foreign directory, may have forgotten a vote it
// cast or entries it acknowledged, and must not take part under its old id.
// It returns through a membership change (remove it, then add it back).
package cluster

import (
	crand "crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/kontiki-raft/kontiki/raft/wal"
)

var errReplaced = errors.New("peer's data directory was replaced")

// incarnations is this member's own incarnation and its record of peers'.
type incarnations struct {
	self uint64
	// dir is where PEERS is kept; "" keeps the record in memory only.
	dir   string
	mu    sync.Mutex
	peers map[uint64]uint64
}

func newIncarnation() uint64 {
	var b [8]byte
	if _, err := crand.Read(b[:]); err != nil {
		panic(err)
	}
	return binary.BigEndian.Uint64(b[:]) | 1 // never 0: 0 means "not sent"
}

// memoryIncarnations is for members without a data directory.
func memoryIncarnations() *incarnations {
	return &incarnations{self: newIncarnation(), peers: map[uint64]uint64{}}
}

// loadIncarnations reads (or creates) dir's INCARNATION and PEERS files.
func loadIncarnations(dir string) (*incarnations, error) {
	b := &incarnations{dir: dir, peers: map[uint64]uint64{}}
	path := filepath.Join(dir, "INCARNATION")
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if b.self, err = strconv.ParseUint(string(data), 16, 64); err != nil || b.self == 0 {
			return nil, fmt.Errorf("%s: not an incarnation id", path)
		}
	case errors.Is(err, os.ErrNotExist):
		b.self = newIncarnation()
		if err := wal.WriteFileAtomic(path, []byte(strconv.FormatUint(b.self, 16))); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	data, err = os.ReadFile(filepath.Join(dir, "PEERS"))
	if err == nil {
		var byID map[string]string
		if err := json.Unmarshal(data, &byID); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "PEERS"), err)
		}
		for id, inc := range byID {
			p, err1 := strconv.ParseUint(id, 10, 64)
			v, err2 := strconv.ParseUint(inc, 16, 64)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("%s: bad entry %q", filepath.Join(dir, "PEERS"), id)
			}
			b.peers[p] = v
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return b, nil
}

// check accepts incarnation inc of peer: recorded the first time, refused
// when it differs from the record. A batch without one (0) is accepted: a
// member of a version without incarnations.
func (b *incarnations) check(peer, inc uint64) error {
	if inc == 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	known, ok := b.peers[peer]
	if ok && known == inc {
		return nil
	}
	if ok {
		return fmt.Errorf("%w: node %d came back with incarnation %x (was %x); it may have lost votes and acknowledged entries and is refused; remove it from the cluster and add it back", errReplaced, peer, inc, known)
	}
	b.peers[peer] = inc
	if b.dir == "" {
		return nil
	}
	byID := map[string]string{}
	for id, v := range b.peers {
		byID[strconv.FormatUint(id, 10)] = strconv.FormatUint(v, 16)
	}
	data, _ := json.Marshal(byID)
	if err := wal.WriteFileAtomic(filepath.Join(b.dir, "PEERS"), data); err != nil {
		// Not recorded durably: refuse now, accept once it can be.
		delete(b.peers, peer)
		return fmt.Errorf("record incarnation of node %d: %w", peer, err)
	}
	return nil
}
