// This file owns the throughput summary around a fault: answered operations
// per second before, during and after it, and how long it took until a
// write succeeded again.
package history

import (
	"fmt"
	"slices"
	"time"
)

// Throughput summarizes a history around one fault.
type Throughput struct {
	// Ops per second that got an answer (ok, not found, conflict), by the
	// time they returned: before the fault, between the fault and the
	// recovery, after the recovery.
	Before, During, After float64
	// FirstWrite is the time from the fault to the return of the first
	// acknowledged write called after it; -1 when there was none.
	FirstWrite time.Duration
	// WriteGap is the longest time without an acknowledged write returning,
	// over the window that contains the fault; the "unavailability" seen by
	// writers.
	WriteGap time.Duration
	// Unknown and Failed count the writes of unknown outcome and the
	// operations that failed (no effect or no answer) in the whole history.
	Unknown, Failed int
	Total           int
}

func (t Throughput) String() string {
	fw := "never"
	if t.FirstWrite >= 0 {
		fw = t.FirstWrite.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("ops/s before %.0f, during %.0f, after %.0f; first write after fault %s; longest write gap %v; %d ops, %d unknown, %d failed",
		t.Before, t.During, t.After, fw, t.WriteGap.Round(time.Millisecond), t.Total, t.Unknown, t.Failed)
}

func answered(op Op) bool {
	return op.Status == StatusOK || op.Status == StatusNotFound || op.Status == StatusConflict
}

// Summarize computes the throughput of ops around a fault at time fault
// (history clock) that was repaired at recovered (the killed member
// restarted, the paused one resumed; 0: when the first write after the
// fault succeeded).
func Summarize(ops []Op, fault, recovered int64) Throughput {
	t := Throughput{FirstWrite: -1, Total: len(ops)}
	if len(ops) == 0 {
		return t
	}
	first, last := ops[0].Call, int64(0)
	var writes []int64
	for _, op := range ops {
		first = min(first, op.Call)
		last = max(last, op.Finished())
		switch op.Status {
		case StatusUnknown:
			t.Unknown++
		case StatusFailed:
			t.Failed++
		}
		if op.Acknowledged() {
			writes = append(writes, op.Return)
			if op.Call >= fault {
				if fw := time.Duration(op.Return - fault); t.FirstWrite < 0 || fw < t.FirstWrite {
					t.FirstWrite = fw
				}
			}
		}
	}
	if recovered == 0 {
		recovered = fault
		if t.FirstWrite >= 0 {
			recovered = fault + int64(t.FirstWrite)
		}
	}
	t.Before = Rate(ops, first, fault)
	t.During = Rate(ops, fault, recovered)
	t.After = Rate(ops, recovered, last)
	t.WriteGap = longestGap(writes, fault, first, last)
	return t
}

// Rate is the answered ops per second returning in [from, to).
func Rate(ops []Op, from, to int64) float64 {
	if to <= from {
		return 0
	}
	n := 0
	for _, op := range ops {
		if answered(op) && op.Return >= from && op.Return < to {
			n++
		}
	}
	return float64(n) / time.Duration(to-from).Seconds()
}

// longestGap is the longest interval between consecutive write returns
// (bounded by first and last) that ends after the fault.
func longestGap(writes []int64, fault, first, last int64) time.Duration {
	slices.Sort(writes)
	prev := first
	var gap int64
	for _, w := range append(writes, last) {
		if w >= fault && w-prev > gap {
			gap = w - prev
		}
		prev = w
	}
	return time.Duration(gap)
}

// Median and Max of durations, for the per-fault figures of a run.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// Max returns the largest duration (0 for none).
func Max(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
