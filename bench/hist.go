// A log-linear latency histogram in the manner of HDR histograms: values in
// nanoseconds, 128 linear sub-buckets per power of two, so every recorded
// value is known to within 1/128 (0.8 %). Fixed size, no allocation when
// recording; one per worker, merged at the end.
package main

import (
	"math/bits"
	"time"
)

const (
	subBits     = 7
	subCount    = 1 << subBits // 128
	maxShift    = 34           // values up to 2^42 ns (73 min) keep full precision
	histBuckets = 2*subCount + maxShift*subCount
)

type hist struct {
	counts [histBuckets]uint64
	n      uint64
	sum    uint64
	max    uint64
}

func bucketOf(v uint64) int {
	msb := bits.Len64(v)
	if msb <= subBits+1 {
		return int(v) // 0..255 exact
	}
	shift := msb - (subBits + 1)
	if shift > maxShift {
		return histBuckets - 1
	}
	top := v >> shift // in [128, 255]
	return 2*subCount + (shift-1)*subCount + int(top-subCount)
}

// valueOf is the midpoint of a bucket.
func valueOf(b int) uint64 {
	if b < 2*subCount {
		return uint64(b)
	}
	shift := (b-2*subCount)/subCount + 1
	top := uint64(b-2*subCount)%subCount + subCount
	return top<<shift + (1<<shift)/2
}

func (h *hist) record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += v
	h.max = max(h.max, v)
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile q in [0,1]; 0 when empty.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(valueOf(i), h.max))
		}
	}
	return time.Duration(h.max)
}

func (h *hist) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}
