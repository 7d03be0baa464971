// The machine's load while we measure: other engineers' builds and tests
// share these two cores, so each window records how much CPU the rest of the
// machine used, and the parent can wait for a quiet machine before a run.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuTicks returns busy and total jiffies over all CPUs from /proc/stat.
func cpuTicks() (busy, total uint64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, false
	}
	for i, s := range f[1:] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total, true
}

// clkTck: USER_HZ, 100 on Linux.
const clkTck = 100

type machineSample struct {
	busy, total uint64
	ok          bool
	at          time.Time
	load        string
}

func sampleMachine() machineSample {
	b, t, ok := cpuTicks()
	return machineSample{busy: b, total: t, ok: ok, at: time.Now(), load: loadavg()}
}

// busyCores between two samples: CPU-seconds per second used by the
// whole machine.
func busyCores(a, b machineSample) float64 {
	if !a.ok || !b.ok {
		return 0
	}
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return 0
	}
	return float64(b.busy-a.busy) / clkTck / secs
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// waitQuiet waits up to maxWait for a 3 s stretch in which the machine
// (nothing of ours runs at this point) is busy less than `cores` cores.
// It returns how long it waited and the last busy figure.
func waitQuiet(maxWait time.Duration, cores float64) (time.Duration, float64) {
	start := time.Now()
	var last float64
	for {
		a := sampleMachine()
		time.Sleep(3 * time.Second)
		last = busyCores(a, sampleMachine())
		if last < cores || time.Since(start) >= maxWait {
			return time.Since(start), last
		}
	}
}

func describeBusy(c float64) string { return fmt.Sprintf("%.2f cores", c) }
