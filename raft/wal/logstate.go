// logState: the meaning of the record stream. Replay and the writer apply
// records through this one type, so what Save validates and what a restart
// reconstructs can never disagree.
package wal

import (
	"fmt"
	"sort"

	"github.com/kontiki-raft/kontiki/messages"
)

type logState struct {
	hs   hardState
	snap logPos // the latest recorded snapshot
	// base is the position just before the first entry we know: the
	// snapshot, or (while replaying a directory whose first segments were
	// compacted away) where the first remaining segment starts.
	// Invariant after a complete replay and while writing: base == snap.Index.
	base     uint64
	baseTerm uint64 // term at base; 0 when unknown (only mid-replay, see append)
	last     uint64 // index of the last entry (== base when there is none)
	// runs[k]: the entries from runs[k].Index up to the next run's start have
	// term runs[k].Term. Invariant: Index and Term strictly ascending, every
	// run within (base, last]. Terms change rarely, so this stays tiny and
	// lets the writer answer term(i) without holding entries.
	runs []logPos
	// keep: also hold the entries themselves (replay only).
	// Invariant when keep: entries[i].Index == base+1+i, len == last-base.
	keep    bool
	entries []*messages.Entry
}

// term returns the term of entry i, and false when it is not known.
func (l *logState) term(i uint64) (uint64, bool) {
	switch {
	case i == l.base:
		return l.baseTerm, l.baseTerm != 0 || i == 0
	case i < l.base || i > l.last:
		return 0, false
	}
	k := sort.Search(len(l.runs), func(k int) bool { return l.runs[k].Index > i }) - 1
	return l.runs[k].Term, true
}

func (l *logState) lastPos() logPos {
	t, _ := l.term(l.last)
	return logPos{Index: l.last, Term: t}
}

// checkAppend says whether ents (which start at first) may be appended: they
// are contiguous, leave no gap after the last entry, do not rewrite what the
// snapshot covers, and their terms never go backwards.
func (l *logState) checkAppend(ents []*messages.Entry) error {
	first := ents[0].Index
	switch {
	case first == 0:
		return fmt.Errorf("%w: index 0", ErrBadEntries)
	case first <= l.snap.Index:
		return fmt.Errorf("%w: index %d is covered by the snapshot at %d", ErrBadEntries, first, l.snap.Index)
	case first > l.last+1:
		return fmt.Errorf("%w: index %d leaves a gap after the last index %d", ErrBadEntries, first, l.last)
	}
	prev, known := l.term(first - 1)
	for i, e := range ents {
		if e.Index != first+uint64(i) {
			return fmt.Errorf("%w: index %d follows %d", ErrBadEntries, e.Index, first+uint64(i)-1)
		}
		if known && e.Term < prev {
			return fmt.Errorf("%w: term %d at index %d is below the previous term %d", ErrBadEntries, e.Term, e.Index, prev)
		}
		prev, known = e.Term, true
	}
	return nil
}

// append truncates the log after first-1 and appends ents. The caller has
// checked them with checkAppend.
func (l *logState) append(ents []*messages.Entry) {
	first := ents[0].Index
	if first <= l.base {
		// A rewrite reaching below a compacted base (replay only: the
		// entries before first lived in deleted segments). They are covered
		// by a snapshot recorded later, which the end of replay checks.
		l.base = first - 1
		l.baseTerm = 0
		if l.base == l.snap.Index {
			l.baseTerm = l.snap.Term
		}
		l.runs, l.entries = l.runs[:0], l.entries[:0]
	} else if first <= l.last {
		k := sort.Search(len(l.runs), func(k int) bool { return l.runs[k].Index >= first })
		l.runs = l.runs[:k]
		if l.keep {
			clear(l.entries[first-1-l.base:])
			l.entries = l.entries[:first-1-l.base]
		}
	}
	for _, e := range ents {
		if n := len(l.runs); n == 0 || l.runs[n-1].Term != e.Term {
			l.runs = append(l.runs, logPos{Index: e.Index, Term: e.Term})
		}
	}
	l.last = ents[len(ents)-1].Index
	if l.keep {
		l.entries = append(l.entries, ents...)
	}
}

// keepsAfter says whether a snapshot at s leaves the entries after it: the
// log holds s's entry with s's term (a local snapshot). Otherwise the log
// disagrees with it (a snapshot installed from the leader) and entries after
// it, possibly of older terms, must never survive it.
func (l *logState) keepsAfter(s logPos) bool {
	t, ok := l.term(s.Index)
	return ok && t == s.Term
}

// checkSnapshot says whether applySnapshot(s, kept) is consistent with the
// log (replay: a record the writer could not have produced is corruption).
func (l *logState) checkSnapshot(s logPos, kept bool) error {
	switch {
	case s.Index <= l.snap.Index:
		return fmt.Errorf("snapshot at %d does not follow the snapshot at %d", s.Index, l.snap.Index)
	case kept && s.Index > l.last:
		return fmt.Errorf("snapshot at %d keeps entries but the log ends at %d", s.Index, l.last)
	}
	// The term at s may be unknown mid-replay (a base set by a rewrite
	// below a compacted prefix); only a known, different term contradicts.
	if t, ok := l.term(s.Index); kept && ok && t != s.Term {
		return fmt.Errorf("snapshot at %d (term %d) keeps entries but the log has term %d there", s.Index, s.Term, t)
	}
	return nil
}

// applySnapshot records snapshot s; kept says whether the entries after it
// stay (see keepsAfter). Entries up to s are dropped either way.
func (l *logState) applySnapshot(s logPos, kept bool) {
	if kept && s.Index < l.base {
		// Mid-replay of a compacted directory: the snapshot is older than
		// the first entry we know, so there is nothing to drop.
		l.snap = s
		return
	}
	if kept {
		k := sort.Search(len(l.runs), func(k int) bool { return l.runs[k].Index > s.Index })
		if k > 0 && s.Index < l.last && (k == len(l.runs) || l.runs[k].Index > s.Index+1) {
			// The run covering s.Index+1 began at or before the snapshot:
			// it now starts right after it.
			l.runs[k-1].Index = s.Index + 1
			k--
		}
		l.runs = append(l.runs[:0], l.runs[k:]...)
		if l.keep {
			n := copy(l.entries, l.entries[s.Index-l.base:])
			clear(l.entries[n:])
			l.entries = l.entries[:n]
		}
	} else {
		l.runs, l.entries = l.runs[:0], l.entries[:0]
		l.last = s.Index
	}
	l.base, l.baseTerm, l.snap = s.Index, s.Term, s
}
