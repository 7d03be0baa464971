package main

import "testing"

func TestHalvesPeakTellsPlateauFromGrowth(t *testing.T) {
	for _, c := range []struct {
		series        []uint64
		first, second uint64
	}{
		{nil, 0, 0},
		{[]uint64{7}, 0, 0},
		{[]uint64{1, 5, 3, 2}, 5, 3},    // plateau: the peak came early
		{[]uint64{1, 2, 3, 4, 9}, 2, 9}, // growth: odd lengths put the middle in the second half
		{[]uint64{4, 4, 0, 4}, 4, 4},    // a missing second (0) does not lower a half
	} {
		f, s := halvesPeak(c.series)
		if f != c.first || s != c.second {
			t.Errorf("halvesPeak(%v) = %d, %d; want %d, %d", c.series, f, s, c.first, c.second)
		}
	}
}

func TestSeqRatioTargetsSayWhenTheyAskForLessThanTheLowerBound(t *testing.T) {
	r := &report{
		cfg:   &config{},
		Floor: &floorSummary{FsyncAppend3P50us: 300, FsyncOverwrite3P50us: 250, NATSLocalP50us: 80, NATSRouteP50us: 100},
		Summary: []cellSummary{
			// JetStream at 1000 µs: ≤ 0.5 asks 500 µs, above the 430 µs bound.
			{Cell: "seq/128B", System: "jetstream", P50us: 1000, KontikiP50Ratio: &ratio{Median: 0.6}},
			// etcd at 1000 µs: ≤ 0.4 asks 400 µs, below it.
			{Cell: "seq/128B", System: "etcd", P50us: 1000, KontikiP50Ratio: &ratio{Median: 0.6}},
		},
	}
	r.checkTargets()
	if len(r.Targets) != 2 {
		t.Fatalf("targets = %+v; want the two seq ratios", r.Targets)
	}
	js, etcd := r.Targets[0], r.Targets[1]
	if js.LowerBoundUs != 430 || js.LimitUs != 500 || js.BelowLowerBound {
		t.Errorf("jetstream target = %+v; want limit 500 µs above lower bound 430 µs", js)
	}
	if etcd.LowerBoundUs != 430 || etcd.LimitUs != 400 || !etcd.BelowLowerBound {
		t.Errorf("etcd target = %+v; want limit 400 µs below lower bound 430 µs", etcd)
	}
	if got := reachability(etcd); got != "NO: asks p50 ≤ 400 µs, lower bound 430 µs" {
		t.Errorf("reachability(etcd) = %q", got)
	}

	r.Floor, r.Targets = nil, nil
	r.checkTargets()
	if len(r.Targets) != 2 || r.Targets[0].LowerBoundUs != 0 || reachability(r.Targets[0]) != "" {
		t.Errorf("without a floor (-no-floor) the targets = %+v; want no lower bound", r.Targets)
	}
}
