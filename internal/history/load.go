// This file owns Load: N concurrent clients, each on its own NATS
// connection, running a mix of puts, compare-and-swap puts, linearizable
// and lease gets over a small key set, recording every operation. A load is
// bounded by a count and a duration and stops by itself.
package history

import (
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kontiki-raft/kontiki/client"
)

// Mix weighs the operation kinds a worker picks from.
type Mix struct {
	Put, CAS, Get, LeaseGet, Delete int
}

// DefaultMix: 35% puts, 15% compare-and-swaps, 30% linearizable gets, 20%
// lease gets.
var DefaultMix = Mix{Put: 35, CAS: 15, Get: 30, LeaseGet: 20}

func (m Mix) total() int { return m.Put + m.CAS + m.Get + m.LeaseGet + m.Delete }

func (m Mix) pick(n int) Kind {
	for _, c := range []struct {
		w int
		k Kind
	}{{m.Put, KindPut}, {m.CAS, KindCAS}, {m.Get, KindGet}, {m.LeaseGet, KindLeaseGet}, {m.Delete, KindDelete}} {
		if n < c.w {
			return c.k
		}
		n -= c.w
	}
	return KindGet
}

// LoadConfig describes a load.
type LoadConfig struct {
	// Connect opens worker's own NATS connection; the load closes it.
	Connect func(worker int) (*nats.Conn, error)
	// Cluster is the cluster name (default "kontiki").
	Cluster string
	// Clients is the number of concurrent workers (default 8).
	Clients int
	// Keys the workers pick from uniformly (default: KeyPrefix + "k0" … "k7").
	Keys []string
	// KeyPrefix prefixes the default keys; use a fresh one per load so the
	// keys start absent.
	KeyPrefix string
	// MaxOps bounds the operations started by all workers together (0: no
	// count bound); Duration bounds the time (0: no time bound). At least
	// one is required.
	MaxOps   int
	Duration time.Duration
	Mix      Mix
	// AttemptTimeout bounds one request (default 1s); Recorder bounds a
	// whole operation.
	AttemptTimeout time.Duration
	Recorder       RecorderConfig
	// Pause between a worker's operations (default none).
	Pause time.Duration
	// Seed makes the op and key choices repeatable (0: random).
	Seed uint64
}

func (c LoadConfig) withDefaults() (LoadConfig, error) {
	if c.Connect == nil {
		return c, errors.New("history: LoadConfig.Connect is required")
	}
	if c.MaxOps <= 0 && c.Duration <= 0 {
		return c, errors.New("history: a load needs MaxOps or Duration")
	}
	if c.Cluster == "" {
		c.Cluster = client.DefaultCluster
	}
	if c.Clients <= 0 {
		c.Clients = 8
	}
	if len(c.Keys) == 0 {
		for i := range 8 {
			c.Keys = append(c.Keys, c.KeyPrefix+"k"+strconv.Itoa(i))
		}
	}
	for _, k := range c.Keys {
		if err := client.ValidateKey(k); err != nil {
			return c, err
		}
	}
	if c.Mix.total() <= 0 {
		c.Mix = DefaultMix
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = time.Second
	}
	if c.Seed == 0 {
		c.Seed = mrand.Uint64()
	}
	return c, nil
}

// Load is a running client load.
type Load struct {
	cfg     LoadConfig
	h       *History
	runID   string
	started atomic.Int64 // ops started
	stop    chan struct{}
	once    sync.Once
	done    chan struct{}
	wg      sync.WaitGroup
}

// StartLoad connects the workers and starts them; they record into h.
func StartLoad(cfg LoadConfig, h *History) (*Load, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &Load{cfg: cfg, h: h, runID: rand.Text()[:10], stop: make(chan struct{}), done: make(chan struct{})}
	conns := make([]*nats.Conn, cfg.Clients)
	for i := range conns {
		nc, err := cfg.Connect(i)
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return nil, fmt.Errorf("history: connect worker %d: %w", i, err)
		}
		conns[i] = nc
	}
	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = time.Now().Add(cfg.Duration)
	}
	for i, nc := range conns {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer nc.Close()
			l.work(i, nc, deadline)
		}()
	}
	go func() {
		l.wg.Wait()
		close(l.done)
	}()
	return l, nil
}

// Stop asks the workers to stop after their current operation and waits
// for them.
func (l *Load) Stop() {
	l.once.Do(func() { close(l.stop) })
	<-l.done
}

// Done is closed when every worker has stopped.
func (l *Load) Done() <-chan struct{} { return l.done }

// Wait waits until the load stops by itself (or is stopped).
func (l *Load) Wait() { <-l.done }

// Keys returns the keys of the load.
func (l *Load) Keys() []string { return l.cfg.Keys }

func (l *Load) stopped(deadline time.Time) bool {
	select {
	case <-l.stop:
		return true
	default:
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		return true
	}
	return l.cfg.MaxOps > 0 && l.started.Add(1) > int64(l.cfg.MaxOps)
}

func (l *Load) work(worker int, nc *nats.Conn, deadline time.Time) {
	c := client.New(nc, client.Options{Cluster: l.cfg.Cluster, Timeout: l.cfg.AttemptTimeout, Retries: -1})
	rec := NewRecorder(l.h, c, worker, l.runID+"-w"+strconv.Itoa(worker), l.cfg.Recorder)
	rng := mrand.New(mrand.NewPCG(l.cfg.Seed, uint64(worker)))
	lastRev := map[string]uint64{} // the revision this worker last saw per key
	seq := 0
	for !l.stopped(deadline) {
		key := l.cfg.Keys[rng.IntN(len(l.cfg.Keys))]
		seq++
		value := fmt.Sprintf("%s-w%d-%d", l.runID, worker, seq)
		var op Op
		switch l.cfg.Mix.pick(rng.IntN(l.cfg.Mix.total())) {
		case KindPut:
			op = rec.Put(key, value)
		case KindCAS:
			op = rec.CAS(key, value, lastRev[key])
		case KindGet:
			op = rec.Get(key, false)
		case KindLeaseGet:
			op = rec.Get(key, true)
		case KindDelete:
			op = rec.Delete(key)
		}
		switch op.Status {
		case StatusOK, StatusConflict:
			lastRev[key] = op.Revision
			if op.Kind == KindDelete && op.Status == StatusOK {
				lastRev[key] = 0
			}
		case StatusNotFound:
			lastRev[key] = 0
		}
		if l.cfg.Pause > 0 {
			t := time.NewTimer(l.cfg.Pause)
			select {
			case <-t.C:
			case <-l.stop:
			}
			t.Stop()
		}
	}
}
