// Disaster recovery: seeding the data directory of a member of a NEW cluster
// from a snapshot file saved with `kontiki snapshot save`.
package cluster

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"os"

	"google.golang.org/protobuf/proto"

	pb "github.com/kontiki-raft/kontiki/messages"
	"github.com/kontiki-raft/kontiki/raft/wal"
)

// RestoredClusterID is the id of a cluster restored from file: derived from
// the cluster id the peers would otherwise get and the file's content, so
// every member restored from the same file with the same peers agrees on it
// and it differs from the cluster the file was taken from.
func RestoredClusterID(cluster string, peers []uint64, file []byte) uint64 {
	sum := sha256.Sum256(file)
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/", ClusterID(cluster, peers))
	h.Write(sum[:])
	return h.Sum64()
}

// RestoreDataDir writes a new data directory for node id of a new cluster
// whose voters are peers, holding the snapshot in file. dir must be empty or
// absent: a restore never joins or overwrites an existing member. It returns
// the new cluster id.
func RestoreDataDir(file []byte, dir, cluster string, peers []uint64, id uint64) (uint64, error) {
	var snap pb.Snapshot
	if err := proto.Unmarshal(file, &snap); err != nil {
		return 0, fmt.Errorf("restore: not a Kontiki snapshot file: %w", err)
	}
	if snap.GetMetadata().GetIndex() == 0 || len(snap.Data) == 0 {
		return 0, errors.New("restore: the snapshot file has no index or no data")
	}
	if !contains(peers, id) {
		return 0, fmt.Errorf("restore: node %d is not among the peers %v", id, peers)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return 0, fmt.Errorf("restore: %s is not empty; a restore seeds a new member and never reuses a data directory", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("restore: %w", err)
	}
	clusterID := RestoredClusterID(cluster, peers, file)
	w, _, err := wal.Open(dir, wal.Identity{Cluster: cluster, ClusterID: clusterID, NodeID: id}, wal.Options{})
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	term := max(snap.Metadata.Term, 1)
	seed := &pb.Snapshot{Data: snap.Data, Metadata: &pb.SnapshotMetadata{
		Index: snap.Metadata.Index, Term: term, ConfState: &pb.ConfState{Voters: peers},
	}}
	err = w.SaveSnapshot(seed)
	if err == nil {
		err = w.Save(&pb.HardState{Term: term, Commit: snap.Metadata.Index}, nil, true)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	return clusterID, nil
}

func contains(ids []uint64, id uint64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
