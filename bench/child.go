// The child process: one system (or the floor) per process, so each
// system's CPU, fsync and memory figures are its own (servers and clients
// together) and nothing lingers from the system before.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

type childSpec struct {
	Mode      string        `json:"mode"` // "system" or "floor"
	System    string        `json:"system,omitempty"`
	Rep       int           `json:"rep"`
	Dir       string        `json:"dir"`
	Cells     []cell        `json:"cells,omitempty"`
	Warm      time.Duration `json:"warm"`
	Measure   time.Duration `json:"measure"`
	Keys      int           `json:"keys"`
	OpTimeout time.Duration `json:"op_timeout"`
	// ProfileDir/ProfileCell: profile the measured window of that cell.
	ProfileDir  string        `json:"profile_dir,omitempty"`
	ProfileCell string        `json:"profile_cell,omitempty"`
	RSSSample   bool          `json:"rss_sample,omitempty"`
	Floor       time.Duration `json:"floor_duration,omitempty"`
	Out         string        `json:"out"`
	LogLevel    string        `json:"log_level,omitempty"`
}

type childResult struct {
	Mode       string       `json:"mode"`
	System     string       `json:"system,omitempty"`
	Rep        int          `json:"rep"`
	StartupSec float64      `json:"startup_sec,omitempty"`
	Cells      []cellResult `json:"cells,omitempty"`
	Floor      *floorResult `json:"floor,omitempty"`
	PeakRSSKB  uint64       `json:"peak_rss_kb"` // VmHWM at the end: the process's peak
	WallSec    float64      `json:"wall_sec"`
	CloseSec   float64      `json:"close_sec,omitempty"`
	Err        string       `json:"error,omitempty"`
	CloseErr   string       `json:"close_error,omitempty"`
	Profiles   []string     `json:"profiles,omitempty"`
	// Set by the parent: how long it waited for a quiet machine before
	// this run and how busy the machine was then (cores).
	QuietWaitSec float64 `json:"quiet_wait_sec"`
	BusyBefore   float64 `json:"busy_cores_before"`
}

func runChild(specPath string) int {
	b, err := os.ReadFile(specPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var spec childSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if spec.LogLevel != "" {
		if err := logLevel.UnmarshalText([]byte(spec.LogLevel)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	t0 := time.Now()
	res := childResult{Mode: spec.Mode, System: spec.System, Rep: spec.Rep}
	switch spec.Mode {
	case "floor":
		res.Floor, err = measureFloor(spec.Dir, spec.Floor)
		if err != nil {
			res.Err = err.Error()
		}
	default:
		runSystemChild(&spec, &res)
	}
	res.PeakRSSKB = hwmKB()
	res.WallSec = time.Since(t0).Seconds()
	out, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(spec.Out, out, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return 0
}

func runSystemChild(spec *childSpec, res *childResult) {
	sys, err := systemByName(spec.System)
	if err != nil {
		res.Err = err.Error()
		return
	}
	ctx := context.Background()
	t0 := time.Now()
	s, err := sys.start(ctx, spec.Dir, os.Stderr)
	if err != nil {
		res.Err = "start: " + err.Error()
		return
	}
	keys := make([]string, spec.Keys)
	for i := range keys {
		keys[i] = fmt.Sprintf("k.%06d", i)
	}
	// Ready: a first put commits.
	deadline := time.Now().Add(60 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = s.put(pctx, keys[0], []byte("ready"))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			res.Err = "not ready within 60s: " + err.Error()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.StartupSec = time.Since(t0).Seconds()
	fmt.Printf("  %-15s rep %d: ready in %.1fs\n", spec.System, spec.Rep, res.StartupSec)
	for _, c := range spec.Cells {
		p := runParams{warm: spec.Warm, measure: spec.Measure, opTimeout: spec.OpTimeout, rssSample: spec.RSSSample}
		if spec.ProfileDir != "" && c.Name == spec.ProfileCell {
			base := filepath.Join(spec.ProfileDir, fmt.Sprintf("%s-%s-rep%d", spec.System, strings.ReplaceAll(c.Name, "/", "-"), spec.Rep))
			p.cpuProfile, p.allocProfile = base+".cpu.pprof", base+".allocs.pprof"
			res.Profiles = append(res.Profiles, p.cpuProfile, p.allocProfile+".start", p.allocProfile+".end")
		}
		r := runCell(ctx, s, c, p, keys)
		res.Cells = append(res.Cells, r)
		fmt.Printf("  %-15s rep %d: %-12s %9.0f ops/s  p50 %8.0fµs  p99 %8.0fµs  cpu %6.1fµs/op  errors %d\n",
			spec.System, spec.Rep, c.Name, r.OpsPerSec, r.Latency.P50us, r.Latency.P99us, r.CPUusPerOp, r.Errors)
	}
	// Close within a bound; a hang is reported, not waited out.
	t1 := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.close(cctx) }()
	select {
	case err := <-done:
		if err != nil {
			res.CloseErr = err.Error()
		}
	case <-time.After(30 * time.Second):
		res.CloseErr = "close did not return within 30s"
	}
	res.CloseSec = time.Since(t1).Seconds()
}
