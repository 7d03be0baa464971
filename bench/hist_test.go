package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistQuantilesWithinPrecision(t *testing.T) {
	var h hist
	var xs []time.Duration
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		d := time.Duration(r.ExpFloat64() * float64(500*time.Microsecond))
		xs = append(xs, d)
		h.record(d)
	}
	slices.Sort(xs)
	for _, q := range []float64{0.5, 0.99, 0.999} {
		want := xs[int(q*float64(len(xs)))-1]
		got := h.quantile(q)
		if diff := float64(got-want) / float64(want); diff > 0.01 || diff < -0.01 {
			t.Errorf("q%.3f: got %v, want %v (±1%%)", q, got, want)
		}
	}
}

func TestHistBucketRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 255, 256, 257, 1000, 123456, 1 << 30, 1<<40 + 12345} {
		b := bucketOf(v)
		m := valueOf(b)
		if m > v+v/100+1 || m+v/100+1 < v {
			t.Errorf("v=%d bucket %d midpoint %d", v, b, m)
		}
	}
}
