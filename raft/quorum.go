// Majorities and joint configurations: the commit index a quorum has reached
// and the outcome of an election. A joint configuration needs a majority of
// both halves; with one half empty it is a plain majority.
package raft

import (
	"slices"
)

type VoteResult uint8

const (
	VotePending VoteResult = iota
	VoteLost
	VoteWon
)

// MajorityConfig is a set of voter ids.
type MajorityConfig map[uint64]struct{}

func (c MajorityConfig) IDs() []uint64 {
	ids := make([]uint64, 0, len(c))
	for id := range c {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// committedIndex is the largest index acknowledged by a majority: sort the
// voters' acked indexes descending and take the one at position n/2.
// An empty config commits everything (so a joint config with an empty half
// behaves as its other half).
func (c MajorityConfig) committedIndex(acked func(id uint64) (uint64, bool)) uint64 {
	n := len(c)
	if n == 0 {
		return ^uint64(0)
	}
	var stack [7]uint64
	idxs := stack[:0]
	if n > len(stack) {
		idxs = make([]uint64, 0, n)
	}
	for id := range c {
		v, _ := acked(id)
		idxs = append(idxs, v)
	}
	slices.Sort(idxs)
	// Ascending: the entry at n - (n/2+1) is held by a majority.
	return idxs[n-(n/2+1)]
}

func (c MajorityConfig) voteResult(votes map[uint64]bool) VoteResult {
	if len(c) == 0 {
		return VoteWon
	}
	granted, missing := 0, 0
	for id := range c {
		v, ok := votes[id]
		if !ok {
			missing++
			continue
		}
		if v {
			granted++
		}
	}
	q := len(c)/2 + 1
	if granted >= q {
		return VoteWon
	}
	if granted+missing >= q {
		return VotePending
	}
	return VoteLost
}

// JointConfig is [incoming, outgoing]; outgoing is empty outside a joint
// configuration.
type JointConfig [2]MajorityConfig

func (c JointConfig) committedIndex(acked func(id uint64) (uint64, bool)) uint64 {
	return min(c[0].committedIndex(acked), c[1].committedIndex(acked))
}

func (c JointConfig) voteResult(votes map[uint64]bool) VoteResult {
	r1, r2 := c[0].voteResult(votes), c[1].voteResult(votes)
	if r1 == r2 {
		return r1
	}
	if r1 == VoteLost || r2 == VoteLost {
		return VoteLost
	}
	return VotePending
}

// IDs is the union of both halves, sorted.
func (c JointConfig) IDs() []uint64 {
	set := MajorityConfig{}
	for _, half := range c {
		for id := range half {
			set[id] = struct{}{}
		}
	}
	return set.IDs()
}

func (c JointConfig) contains(id uint64) bool {
	_, a := c[0][id]
	_, b := c[1][id]
	return a || b
}
