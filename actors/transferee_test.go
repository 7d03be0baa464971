package actors

import "testing"

func TestPickTransfereePrefersLiveMembers(t *testing.T) {
	matches := map[uint64]uint64{1: 100, 2: 100, 3: 90, 4: 100}
	cases := []struct {
		name   string
		active map[uint64]bool
		want   uint64
	}{
		{"all live: highest match, lowest id", map[uint64]bool{2: true, 3: true, 4: true}, 2},
		{"the most caught-up one is down", map[uint64]bool{3: true, 4: true}, 4},
		{"only a lagging one is live", map[uint64]bool{3: true}, 3},
		{"none heard from: still the most caught up", map[uint64]bool{}, 2},
	}
	for _, c := range cases {
		got := pickTransferee(1, matches, func(id uint64) bool { return c.active[id] })
		if got != c.want {
			t.Errorf("%s: picked %d, want %d", c.name, got, c.want)
		}
	}
	if got := pickTransferee(1, map[uint64]uint64{1: 5}, func(uint64) bool { return true }); got != 0 {
		t.Errorf("alone: picked %d, want none", got)
	}
}
