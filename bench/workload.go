// Workloads: closed-loop clients over a uniform key space, a warm-up, then a
// measured window in which every completed operation's latency is recorded
// and the process's CPU time and the members' fsyncs are sampled at the
// window's edges.
package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type cell struct {
	Name       string  `json:"name"` // e.g. "put-c64/128B"
	Clients    int     `json:"clients"`
	ValueBytes int     `json:"value_bytes"`
	GetFrac    float64 `json:"get_fraction"` // 0: puts only
}

func (c cell) workload() string {
	switch {
	case c.GetFrac > 0:
		return fmt.Sprintf("mix%d", c.Clients)
	case c.Clients == 1:
		return "seq"
	default:
		return fmt.Sprintf("c%d", c.Clients)
	}
}

func sizeName(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%dK", n/1024)
	}
	return fmt.Sprintf("%dB", n)
}

func newCell(workload string, valueBytes int) (cell, error) {
	c := cell{ValueBytes: valueBytes}
	switch {
	case workload == "seq":
		c.Clients = 1
	case len(workload) > 3 && workload[:3] == "mix":
		n, err := strconv.Atoi(workload[3:])
		if err != nil || n < 1 {
			return c, fmt.Errorf("bad workload %q", workload)
		}
		c.Clients, c.GetFrac = n, 0.9
	case len(workload) > 1 && workload[0] == 'c':
		n, err := strconv.Atoi(workload[1:])
		if err != nil || n < 1 {
			return c, fmt.Errorf("bad workload %q", workload)
		}
		c.Clients = n
	default:
		return c, fmt.Errorf("bad workload %q (seq, cN, mixN)", workload)
	}
	c.Name = workload + "/" + sizeName(valueBytes)
	return c, nil
}

type runParams struct {
	warm, measure time.Duration
	keys          int
	opTimeout     time.Duration
	// profile: write CPU and allocation profiles of the measured window
	// to these paths ("" = none).
	cpuProfile, allocProfile string
	// rssSample: sample VmRSS during the window (memory mode).
	rssSample bool
}

type opStats struct {
	N      uint64  `json:"n"`
	P50us  float64 `json:"p50_us"`
	P99us  float64 `json:"p99_us"`
	P999us float64 `json:"p999_us"`
	MaxUs  float64 `json:"max_us"`
	MeanUs float64 `json:"mean_us"`
}

func statsOf(h *hist) opStats {
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	return opStats{N: h.n, P50us: us(h.quantile(0.5)), P99us: us(h.quantile(0.99)), P999us: us(h.quantile(0.999)), MaxUs: float64(h.max) / 1e3, MeanUs: us(h.mean())}
}

type cellResult struct {
	Cell       cell     `json:"cell"`
	Ops        uint64   `json:"ops"`
	OpsPerSec  float64  `json:"ops_per_sec"`
	Latency    opStats  `json:"latency"`
	Gets       *opStats `json:"gets,omitempty"`
	Puts       *opStats `json:"puts,omitempty"`
	Errors     uint64   `json:"errors"`
	FirstError string   `json:"first_error,omitempty"`
	// SlowOps: completed operations slower than 1 s (stall evidence).
	SlowOps uint64 `json:"slow_ops"`
	// PerSecond: operations completed in each second of the window.
	PerSecond []uint64 `json:"per_second"`
	// CPUusPerOp: user+system CPU of the whole process (servers and
	// clients) in the window per completed operation.
	CPUusPerOp float64 `json:"cpu_us_per_op"`
	CPUCores   float64 `json:"cpu_cores"` // CPU seconds per wall second
	// SyncsPerOp: fsyncs of all members per completed operation (nil when
	// the system does not expose them).
	SyncsPerOp *float64 `json:"syncs_per_op,omitempty"`
	PeakRSSKB  uint64   `json:"peak_rss_kb,omitempty"` // memory mode
	// RSSKBPerSecond: memory mode, the peak VmRSS of each second.
	RSSKBPerSecond []uint64 `json:"rss_kb_per_second,omitempty"`
	InfoBefore     string   `json:"info_before"`
	InfoAfter      string   `json:"info_after"`
	// MachineBusyCores: CPU-seconds per second the whole machine used in
	// the window; OtherCores = that minus this process (other work on the
	// machine disturbing the measurement). Load: /proc/loadavg at the end.
	MachineBusyCores float64 `json:"machine_busy_cores"`
	OtherCores       float64 `json:"other_cores"`
	Load             string  `json:"loadavg"`
	// Straggled: workers still in an operation 30 s after the window ended.
	Straggled int `json:"straggled,omitempty"`
}

type worker struct {
	all, gets, puts hist
	perSec          []uint64
	errs, slow      uint64
	firstErr        string
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runCell runs one cell against s.
func runCell(ctx context.Context, s store, c cell, p runParams, keys []string) cellResult {
	res := cellResult{Cell: c, InfoBefore: infoOf(ctx, s)}
	seconds := int((p.measure + time.Second - 1) / time.Second)
	workers := make([]*worker, c.Clients)
	for i := range workers {
		workers[i] = &worker{perSec: make([]uint64, seconds+1)}
	}
	start := time.Now()
	windowStart := start.Add(p.warm)
	windowEnd := windowStart.Add(p.measure)

	// The window's edges: CPU, fsyncs, profiles.
	type edge struct {
		cpu   time.Duration
		syncs uint64
		ok    bool
		at    time.Time
		m     machineSample
	}
	var startEdge, endEdge edge
	var peakRSS uint64
	var rssPerSecond []uint64 // memory mode: peak VmRSS in each second of the window
	edges := make(chan struct{})
	go func() {
		defer close(edges)
		time.Sleep(time.Until(windowStart))
		if p.cpuProfile != "" {
			if f, err := os.Create(p.cpuProfile); err == nil {
				if err := pprof.StartCPUProfile(f); err != nil {
					fmt.Fprintln(os.Stderr, "cpu profile:", err)
				}
				defer f.Close()
			}
		}
		if p.allocProfile != "" {
			writeProfile("allocs", p.allocProfile+".start")
		}
		n, ok := s.syncs()
		startEdge = edge{cpu: cpuNow(), syncs: n, ok: ok, at: time.Now(), m: sampleMachine()}
		if p.rssSample {
			// Sampled every 250 ms (the pace of this loop, not a
			// synchronization); kept per second so a report can tell a
			// plateau from growth.
			for now := time.Now(); now.Before(windowEnd); now = time.Now() {
				kb := rssKB()
				peakRSS = max(peakRSS, kb)
				sec := int(now.Sub(windowStart) / time.Second)
				for len(rssPerSecond) <= sec {
					rssPerSecond = append(rssPerSecond, 0)
				}
				rssPerSecond[sec] = max(rssPerSecond[sec], kb)
				time.Sleep(250 * time.Millisecond)
			}
		}
		time.Sleep(time.Until(windowEnd))
		n, ok = s.syncs()
		endEdge = edge{cpu: cpuNow(), syncs: n, ok: ok, at: time.Now(), m: sampleMachine()}
		if p.cpuProfile != "" {
			pprof.StopCPUProfile()
		}
		if p.allocProfile != "" {
			writeProfile("allocs", p.allocProfile+".end")
		}
	}()

	var wg sync.WaitGroup
	var active atomic.Int64
	for i, w := range workers {
		wg.Add(1)
		active.Add(1)
		go func() {
			defer wg.Done()
			defer active.Add(-1)
			rng := rand.New(rand.NewPCG(uint64(i)+1, uint64(c.ValueBytes)))
			value := make([]byte, c.ValueBytes)
			for j := range value {
				value[j] = byte(rng.Uint32())
			}
			for {
				t0 := time.Now()
				if !t0.Before(windowEnd) {
					return
				}
				key := keys[rng.IntN(len(keys))]
				isGet := c.GetFrac > 0 && rng.Float64() < c.GetFrac
				octx, cancel := context.WithTimeout(ctx, p.opTimeout)
				var err error
				if isGet {
					err = s.get(octx, key)
				} else {
					err = s.put(octx, key, value)
				}
				cancel()
				t1 := time.Now()
				if t1.Before(windowStart) || !t1.Before(windowEnd) {
					continue
				}
				if err != nil {
					w.errs++
					if w.firstErr == "" {
						w.firstErr = err.Error()
					}
					continue
				}
				d := t1.Sub(t0)
				w.all.record(d)
				if c.GetFrac > 0 {
					if isGet {
						w.gets.record(d)
					} else {
						w.puts.record(d)
					}
				}
				if d > time.Second {
					w.slow++
				}
				w.perSec[int(t1.Sub(windowStart)/time.Second)]++
			}
		}()
	}
	<-edges
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(p.opTimeout + 30*time.Second):
		// Workers still stuck in an operation: their counts are read
		// while they may still change (reported, not hidden).
		res.Straggled = int(active.Load())
	}
	var all, gets, puts hist
	perSec := make([]uint64, seconds)
	for _, w := range workers {
		all.merge(&w.all)
		gets.merge(&w.gets)
		puts.merge(&w.puts)
		res.Errors += w.errs
		res.SlowOps += w.slow
		if res.FirstError == "" {
			res.FirstError = w.firstErr
		}
		for i := range perSec {
			perSec[i] += w.perSec[i]
		}
	}
	window := endEdge.at.Sub(startEdge.at).Seconds()
	if window <= 0 {
		window = p.measure.Seconds()
	}
	res.Ops = all.n
	res.OpsPerSec = float64(all.n) / p.measure.Seconds()
	res.Latency = statsOf(&all)
	if c.GetFrac > 0 {
		g, pu := statsOf(&gets), statsOf(&puts)
		res.Gets, res.Puts = &g, &pu
	}
	res.PerSecond = perSec
	cpu := (endEdge.cpu - startEdge.cpu).Seconds()
	res.CPUCores = cpu / window
	res.MachineBusyCores = busyCores(startEdge.m, endEdge.m)
	res.OtherCores = max(res.MachineBusyCores-res.CPUCores, 0)
	res.Load = endEdge.m.load
	if all.n > 0 {
		res.CPUusPerOp = cpu * 1e6 / float64(all.n)
		if startEdge.ok && endEdge.ok {
			v := float64(endEdge.syncs-startEdge.syncs) / float64(all.n)
			res.SyncsPerOp = &v
		}
	}
	res.PeakRSSKB = peakRSS
	res.RSSKBPerSecond = rssPerSecond
	res.InfoAfter = infoOf(ctx, s)
	return res
}

func infoOf(ctx context.Context, s store) string {
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return s.info(ictx)
}

func writeProfile(name, path string) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
	}
}

// rssKB is the process's resident set (VmRSS) in KiB.
func rssKB() uint64 { return procStatusKB("VmRSS:") }

// hwmKB is the process's peak resident set (VmHWM) in KiB.
func hwmKB() uint64 { return procStatusKB("VmHWM:") }

func procStatusKB(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if len(line) > len(field) && line[:len(field)] == field {
			var n uint64
			fmt.Sscanf(line[len(field):], "%d", &n)
			return n
		}
	}
	return 0
}
