// This file owns the porcupine model: a revisioned register per key.
//
// The state of one key is its value and mod revision, plus Floor, a lower
// bound on the revision of every later write (revisions are raft indexes:
// they only grow). A put sets the value and must report a revision above
// Floor; a compare-and-swap succeeds iff the expectation equals the current
// mod revision (0: the key must not exist) and otherwise fails with the
// current revision; a get returns the current value and mod revision.
//
// A write of unknown outcome sets the value at some unobserved revision
// above Floor: the state then holds the value with an unknown revision,
// which the first read (or conflict) that reports it pins. Whether an
// unknown compare-and-swap matched an unknown revision is itself unknown,
// so the model is nondeterministic (porcupine's power-set construction keeps
// the few candidate states).
package history

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/anishathalye/porcupine"
)

// Input is a porcupine operation's input.
type Input struct {
	Kind        Kind
	Key         string
	Value       string
	HasExpected bool
	Expected    uint64
}

// Output is a porcupine operation's output.
type Output struct {
	Status   Status // ok, not_found, conflict or unknown
	Value    string // a get's value
	Revision uint64
}

// KeyState is what a key holds: its value and mod revision (Exists false:
// absent). It is also the initial state of a key in NewModel.
type KeyState struct {
	Exists   bool
	Value    string
	Revision uint64
}

// register is the model state of one key. It is comparable: porcupine's
// default equality (==) applies.
type register struct {
	Bound    bool // false until the first step fixes the key (initial state)
	Exists   bool
	Value    string
	Rev      uint64 // the mod revision when RevKnown; 0 when !Exists
	RevKnown bool
	// Floor: every later write's revision is above it. Invariant: when
	// RevKnown, Floor >= Rev.
	Floor uint64
}

// NewModel returns the model; initial gives the keys' state before the
// history (absent keys start empty at revision 0). The model partitions the
// history by key.
func NewModel(initial map[string]KeyState) porcupine.Model {
	start := func(key string) register {
		ks := initial[key]
		r := register{Bound: true, Exists: ks.Exists, RevKnown: true, Floor: ks.Revision}
		if ks.Exists {
			r.Value, r.Rev = ks.Value, ks.Revision
		}
		return r
	}
	nm := porcupine.NondeterministicModel{
		Partition: partitionByKey,
		Init:      func() []interface{} { return []interface{}{register{}} },
		Step: func(state, input, output interface{}) []interface{} {
			s := state.(register)
			in := input.(Input)
			if !s.Bound {
				s = start(in.Key)
			}
			next := step(s, in, output.(Output))
			out := make([]interface{}, len(next))
			for i, n := range next {
				out[i] = n
			}
			return out
		},
		Hash: func(state interface{}) uint64 {
			s := state.(register)
			h := fnv.New64a()
			fmt.Fprintf(h, "%t|%t|%s|%d|%t|%d", s.Bound, s.Exists, s.Value, s.Rev, s.RevKnown, s.Floor)
			return h.Sum64()
		},
		DescribeOperation: func(input, output interface{}) string {
			return describeOp(input.(Input), output.(Output))
		},
		DescribeState: func(state interface{}) string { return describeRegister(state.(register)) },
	}
	return nm.ToModel()
}

func partitionByKey(ops []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	var keys []string
	for _, op := range ops {
		k := op.Input.(Input).Key
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], op)
	}
	out := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

// step returns every state the key can be in after the operation, none when
// the operation cannot happen in state s.
func step(s register, in Input, out Output) []register {
	switch in.Kind {
	case KindGet, KindLeaseGet:
		return stepGet(s, out)
	case KindPut, KindCAS:
		return stepPut(s, in, out)
	case KindDelete:
		return stepDelete(s, in, out)
	}
	return nil
}

func stepGet(s register, out Output) []register {
	switch out.Status {
	case StatusNotFound:
		if !s.Exists {
			return []register{s}
		}
	case StatusOK:
		if !s.Exists || s.Value != out.Value {
			return nil
		}
		if p, ok := s.pin(out.Revision); ok {
			return []register{p}
		}
	}
	return nil
}

func stepPut(s register, in Input, out Output) []register {
	cond := in.HasExpected
	switch out.Status {
	case StatusOK:
		if cond {
			p, ok := s.pin(in.Expected)
			if !ok {
				return nil
			}
			s = p
		}
		if out.Revision <= s.Floor {
			return nil // revisions of a key only grow
		}
		return []register{written(in.Value, out.Revision)}
	case StatusConflict:
		return s.conflict(in, out.Revision)
	case StatusUnknown:
		applied := register{Bound: true, Exists: true, Value: in.Value, Floor: s.Floor}
		if !cond {
			return []register{applied}
		}
		var next []register
		if p, ok := s.pin(in.Expected); ok {
			applied.Floor = p.Floor
			next = append(next, applied)
		}
		if s.mayDiffer(in.Expected) {
			next = append(next, s) // it conflicted: no effect
		}
		return next
	}
	return nil
}

func stepDelete(s register, in Input, out Output) []register {
	cond := in.HasExpected
	switch out.Status {
	case StatusOK:
		if !s.Exists {
			return nil
		}
		if cond {
			p, ok := s.pin(in.Expected)
			if !ok {
				return nil
			}
			s = p
		}
		if out.Revision <= s.Floor {
			return nil
		}
		return []register{deleted(out.Revision)}
	case StatusNotFound:
		// The compare comes first: a missing key with expectation 0 passes
		// it and then finds nothing to delete.
		if !s.Exists && (!cond || in.Expected == 0) {
			return []register{s}
		}
		return nil
	case StatusConflict:
		return s.conflict(in, out.Revision)
	case StatusUnknown:
		if !s.Exists {
			return []register{s} // not found, or conflicted: no effect
		}
		var next []register
		if !cond {
			return []register{deleted(s.Floor)}
		}
		if p, ok := s.pin(in.Expected); ok {
			next = append(next, deleted(p.Floor))
		}
		if s.mayDiffer(in.Expected) {
			next = append(next, s)
		}
		return next
	}
	return nil
}

// conflict is a failed compare-and-swap that reported the key's current
// revision cur.
func (s register) conflict(in Input, cur uint64) []register {
	if !in.HasExpected || in.Expected == cur {
		return nil
	}
	if p, ok := s.pin(cur); ok {
		return []register{p}
	}
	return nil
}

// pin reports whether the key's mod revision can be rev in state s, and the
// state with the revision known.
func (s register) pin(rev uint64) (register, bool) {
	if s.RevKnown {
		return s, s.Rev == rev
	}
	// Unknown revision: the key exists, written at some revision above
	// Floor.
	if !s.Exists || rev <= s.Floor {
		return s, false
	}
	s.Rev, s.RevKnown, s.Floor = rev, true, rev
	return s, true
}

// mayDiffer reports whether the key's mod revision can differ from rev.
func (s register) mayDiffer(rev uint64) bool {
	return !s.RevKnown || s.Rev != rev
}

func written(value string, rev uint64) register {
	return register{Bound: true, Exists: true, Value: value, Rev: rev, RevKnown: true, Floor: rev}
}

func deleted(floor uint64) register {
	return register{Bound: true, RevKnown: true, Floor: floor}
}

func describeOp(in Input, out Output) string {
	var b strings.Builder
	b.WriteString(string(in.Kind))
	b.WriteString("(")
	b.WriteString(in.Key)
	if in.Kind == KindPut || in.Kind == KindCAS {
		b.WriteString(", " + in.Value)
	}
	if in.HasExpected {
		fmt.Fprintf(&b, ", expect %d", in.Expected)
	}
	b.WriteString(") → ")
	switch out.Status {
	case StatusOK:
		if in.Kind == KindGet || in.Kind == KindLeaseGet {
			b.WriteString(out.Value)
		} else {
			b.WriteString("ok")
		}
		fmt.Fprintf(&b, "@%d", out.Revision)
	case StatusConflict:
		fmt.Fprintf(&b, "conflict@%d", out.Revision)
	default:
		b.WriteString(string(out.Status))
	}
	return b.String()
}

func describeRegister(s register) string {
	switch {
	case !s.Bound:
		return "initial"
	case !s.Exists:
		return fmt.Sprintf("absent (revisions > %d)", s.Floor)
	case !s.RevKnown:
		return fmt.Sprintf("%s@? (> %d)", s.Value, s.Floor)
	}
	return fmt.Sprintf("%s@%d", s.Value, s.Rev)
}
