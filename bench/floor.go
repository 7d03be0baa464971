// The physical floor, measured in the same run as the systems: fdatasync of
// a 128-byte record with three writers in parallel on the data disk (as
// three members sync), and NATS request/reply round trips on loopback.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

type floorResult struct {
	// FsyncAppend3: three writers, each appending 128 B to its own file
	// and fdatasyncing it (the file grows, as an append-only WAL's does).
	FsyncAppend3 opStats `json:"fsync_append_3_writers"`
	// FsyncOverwrite3: the same into preallocated, already-synced space
	// (no size change): the disk's best case.
	FsyncOverwrite3 opStats `json:"fsync_overwrite_3_writers"`
	FsyncAppend1    opStats `json:"fsync_append_1_writer"`
	// NATSLocal: request/reply, requester and responder on one server.
	NATSLocal opStats `json:"nats_rtt_one_server"`
	// NATSRoute: requester on server 1, responder on server 2 of a
	// route-clustered trio (Kontiki's and JetStream's topology here).
	NATSRoute opStats `json:"nats_rtt_across_route"`
	// FloorUs = FsyncAppend3 p50 + 2 × NATSRoute p50: a durable replicated
	// write needs the client→leader round trip, and the leader→follower
	// append round trip overlapping the leader's own fsync.
	FloorUs float64 `json:"floor_us"`
}

func measureFloor(dir string, d time.Duration) (*floorResult, error) {
	f := &floorResult{}
	var err error
	if f.FsyncAppend3, err = fsyncBench(filepath.Join(dir, "fsync-a3"), 3, false, d); err != nil {
		return nil, err
	}
	if f.FsyncOverwrite3, err = fsyncBench(filepath.Join(dir, "fsync-o3"), 3, true, d); err != nil {
		return nil, err
	}
	if f.FsyncAppend1, err = fsyncBench(filepath.Join(dir, "fsync-a1"), 1, false, d); err != nil {
		return nil, err
	}
	if f.NATSLocal, f.NATSRoute, err = natsRTT(d); err != nil {
		return nil, err
	}
	f.FloorUs = f.FsyncAppend3.P50us + 2*f.NATSRoute.P50us
	return f, nil
}

func fsyncBench(dir string, writers int, overwrite bool, d time.Duration) (opStats, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return opStats{}, err
	}
	const prealloc = 64 << 20
	files := make([]*os.File, writers)
	for i := range files {
		f, err := os.OpenFile(filepath.Join(dir, "w"+strconv.Itoa(i)), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return opStats{}, err
		}
		defer f.Close()
		if overwrite {
			zero := make([]byte, 1<<20)
			for range prealloc / len(zero) {
				if _, err := f.Write(zero); err != nil {
					return opStats{}, err
				}
			}
			if err := f.Sync(); err != nil {
				return opStats{}, err
			}
			if _, err := f.Seek(0, 0); err != nil {
				return opStats{}, err
			}
		}
		files[i] = f
	}
	// Sync the directory so the new files' entries are not flushed in the
	// first measured syncs.
	if df, err := os.Open(dir); err == nil {
		df.Sync()
		df.Close()
	}
	rec := make([]byte, 128)
	hists := make([]hist, writers)
	errs := make([]error, writers)
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var off int64
			for time.Now().Before(end) {
				t0 := time.Now()
				if _, err := f.Write(rec); err != nil {
					errs[i] = err
					return
				}
				if err := syscall.Fdatasync(int(f.Fd())); err != nil {
					errs[i] = err
					return
				}
				hists[i].record(time.Since(t0))
				off += int64(len(rec))
				if overwrite && off+int64(len(rec)) > prealloc {
					f.Seek(0, 0)
					off = 0
				}
			}
		}()
	}
	wg.Wait()
	var all hist
	for i := range hists {
		if errs[i] != nil {
			return opStats{}, errs[i]
		}
		all.merge(&hists[i])
	}
	return statsOf(&all), nil
}

// natsRTT measures sequential 128-byte request/reply round trips on one
// server and across a route.
func natsRTT(d time.Duration) (local, route opStats, err error) {
	servers, err := startNATSCluster(natsClusterOpts{name: "floor"})
	if err != nil {
		return local, route, err
	}
	defer stopNATSCluster(servers)
	if local, err = rtt(servers[0], servers[0], d); err != nil {
		return
	}
	route, err = rtt(servers[0], servers[1], d)
	return
}

func rtt(reqSrv, repSrv *server.Server, d time.Duration) (opStats, error) {
	rep, err := nats.Connect(repSrv.ClientURL())
	if err != nil {
		return opStats{}, err
	}
	defer rep.Close()
	sub, err := rep.Subscribe("floor.echo", func(m *nats.Msg) { m.Respond(m.Data) })
	if err != nil {
		return opStats{}, err
	}
	defer sub.Unsubscribe()
	rep.Flush()
	req, err := nats.Connect(reqSrv.ClientURL())
	if err != nil {
		return opStats{}, err
	}
	defer req.Close()
	payload := make([]byte, 128)
	// Wait for the subscription's interest to reach the requester's
	// server, then warm up.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := req.Request("floor.echo", payload, time.Second); err == nil {
			break
		} else if time.Now().After(deadline) {
			return opStats{}, fmt.Errorf("nats echo: %w", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	warmEnd := time.Now().Add(500 * time.Millisecond)
	end := warmEnd.Add(d)
	var h hist
	for {
		t0 := time.Now()
		if t0.After(end) {
			break
		}
		if _, err := req.Request("floor.echo", payload, 5*time.Second); err != nil {
			return opStats{}, err
		}
		if t0.After(warmEnd) {
			h.record(time.Since(t0))
		}
	}
	return statsOf(&h), nil
}
