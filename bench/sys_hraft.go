//go:build !nopeers

// hashicorp/raft: three nodes in this process, TCP transport on loopback,
// raft-boltdb/v2 for the log and stable store, a small KV FSM. A client's
// put is Apply on the leader's *raft.Raft, in process.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// kvFSM: key → value. A command is uvarint(len(key)) key value.
type kvFSM struct {
	mu      sync.Mutex
	applied uint64
	cond    *sync.Cond
	data    map[string][]byte
}

func init() {
	systems = append(systems, systemSpec{
		name: "hraft", label: "hashicorp/raft v1.7.3 + raft-boltdb/v2", durable: true,
		notes: "3 nodes in process, TCP transport on loopback, raft-boltdb/v2 log+stable store (fsync on), library DefaultConfig; client path: in-process Apply on the leader's *raft.Raft (no network hop to the leader); get = VerifyLeader + wait until applied ≥ commit index",
		start: startHraft,
	})
}

func newKVFSM() *kvFSM {
	f := &kvFSM{data: map[string][]byte{}}
	f.cond = sync.NewCond(&f.mu)
	return f
}

func encodePut(key string, value []byte) []byte {
	b := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(key)+len(value)), uint64(len(key)))
	b = append(b, key...)
	return append(b, value...)
}

func (f *kvFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l.Type == raft.LogCommand {
		n, k := binary.Uvarint(l.Data)
		if k <= 0 || uint64(len(l.Data)-k) < n {
			return errors.New("bad command")
		}
		key := string(l.Data[k : k+int(n)])
		f.data[key] = l.Data[k+int(n):]
	}
	f.applied = l.Index
	f.cond.Broadcast()
	return nil
}

func (f *kvFSM) read(key string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.data[key]
}

// waitApplied blocks until the FSM has applied index (or ctx ends).
func (f *kvFSM) waitApplied(ctx context.Context, index uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.applied < index {
		if err := ctx.Err(); err != nil {
			return err
		}
		f.cond.Wait()
	}
	return nil
}

type kvSnapshot struct{ data map[string][]byte }

func (f *kvFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(map[string][]byte, len(f.data))
	for k, v := range f.data {
		c[k] = v
	}
	return &kvSnapshot{data: c}, nil
}

func (s *kvSnapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriter(sink)
	var hdr []byte
	for k, v := range s.data {
		hdr = binary.AppendUvarint(hdr[:0], uint64(len(k)))
		hdr = binary.AppendUvarint(hdr, uint64(len(v)))
		w.Write(hdr)
		w.WriteString(k)
		w.Write(v)
	}
	if err := w.Flush(); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *kvSnapshot) Release() {}

func (f *kvFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	r := bufio.NewReader(rc)
	data := map[string][]byte{}
	for {
		kl, err := binary.ReadUvarint(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		vl, err := binary.ReadUvarint(r)
		if err != nil {
			return err
		}
		buf := make([]byte, kl+vl)
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		data[string(buf[:kl])] = buf[kl:]
	}
	f.mu.Lock()
	f.data = data
	f.mu.Unlock()
	return nil
}

// countingBolt counts the bbolt write transactions of the raft stores;
// each commit is two fdatasyncs (pages, then meta).
type countingBolt struct {
	*raftboltdb.BoltStore
	commits *atomic.Uint64
}

func (c countingBolt) StoreLog(l *raft.Log) error { c.commits.Add(1); return c.BoltStore.StoreLog(l) }
func (c countingBolt) StoreLogs(ls []*raft.Log) error {
	c.commits.Add(1)
	return c.BoltStore.StoreLogs(ls)
}
func (c countingBolt) DeleteRange(lo, hi uint64) error {
	c.commits.Add(1)
	return c.BoltStore.DeleteRange(lo, hi)
}
func (c countingBolt) Set(k, v []byte) error { c.commits.Add(1); return c.BoltStore.Set(k, v) }
func (c countingBolt) SetUint64(k []byte, v uint64) error {
	c.commits.Add(1)
	return c.BoltStore.SetUint64(k, v)
}

type hraftNode struct {
	r     *raft.Raft
	fsm   *kvFSM
	trans *raft.NetworkTransport
	bolt  *raftboltdb.BoltStore
}

type hraftStore struct {
	nodes   []*hraftNode
	leader  atomic.Pointer[hraftNode]
	commits atomic.Uint64
}

func startHraft(ctx context.Context, dir string, logw io.Writer) (store, error) {
	h := &hraftStore{}
	logger := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: logw})
	var servers []raft.Server
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("n%d", i)
		ndir := filepath.Join(dir, id)
		bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, id+".bolt")})
		if err != nil {
			h.close(ctx)
			return nil, err
		}
		snaps, err := raft.NewFileSnapshotStoreWithLogger(ndir, 1, logger)
		if err != nil {
			h.close(ctx)
			return nil, err
		}
		trans, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 3, 10*time.Second, logger)
		if err != nil {
			h.close(ctx)
			return nil, err
		}
		conf := raft.DefaultConfig()
		conf.LocalID = raft.ServerID(id)
		conf.Logger = logger.Named(id)
		fsm := newKVFSM()
		cb := countingBolt{BoltStore: bolt, commits: &h.commits}
		r, err := raft.NewRaft(conf, fsm, cb, cb, snaps, trans)
		if err != nil {
			h.close(ctx)
			return nil, err
		}
		h.nodes = append(h.nodes, &hraftNode{r: r, fsm: fsm, trans: trans, bolt: bolt})
		servers = append(servers, raft.Server{ID: conf.LocalID, Address: trans.LocalAddr()})
	}
	if err := h.nodes[0].r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		h.close(ctx)
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	return h, nil
}

// leaderNode returns the node that believes it leads, waiting for one.
func (h *hraftStore) leaderNode(ctx context.Context) (*hraftNode, error) {
	if n := h.leader.Load(); n != nil && n.r.State() == raft.Leader {
		return n, nil
	}
	for {
		for _, n := range h.nodes {
			if n.r.State() == raft.Leader {
				h.leader.Store(n)
				return n, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no leader: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 10 * time.Second
}

func (h *hraftStore) put(ctx context.Context, key string, value []byte) error {
	cmd := encodePut(key, value)
	for {
		n, err := h.leaderNode(ctx)
		if err != nil {
			return err
		}
		err = n.r.Apply(cmd, timeoutOf(ctx)).Error()
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			h.leader.CompareAndSwap(n, nil)
			continue
		}
		return err
	}
}

// get: note the commit index, confirm leadership with a heartbeat round,
// wait until the FSM has applied that index, read locally.
func (h *hraftStore) get(ctx context.Context, key string) error {
	for {
		n, err := h.leaderNode(ctx)
		if err != nil {
			return err
		}
		idx := n.r.CommitIndex()
		if err := n.r.VerifyLeader().Error(); err != nil {
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
				h.leader.CompareAndSwap(n, nil)
				continue
			}
			return err
		}
		if err := n.fsm.waitApplied(ctx, idx); err != nil {
			return err
		}
		_ = n.fsm.read(key)
		return nil
	}
}

func (h *hraftStore) syncs() (uint64, bool) { return 2 * h.commits.Load(), true }

func (h *hraftStore) info(ctx context.Context) string {
	var parts []string
	for i, n := range h.nodes {
		st := n.r.Stats()
		parts = append(parts, fmt.Sprintf("n%d: state=%s term=%s commit=%s", i+1, st["state"], st["term"], st["commit_index"]))
	}
	return strings.Join(parts, "; ")
}

func (h *hraftStore) close(ctx context.Context) error {
	var errs []error
	for _, n := range h.nodes {
		if err := n.r.Shutdown().Error(); err != nil {
			errs = append(errs, err)
		}
		n.trans.Close()
		n.bolt.Close()
	}
	return errors.Join(errs...)
}
