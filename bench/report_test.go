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
