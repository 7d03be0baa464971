// This file owns the linearizability check: the conversion of a history to
// porcupine operations (what is kept, what is dropped) and Check, which runs
// porcupine and keeps the evidence when the verdict is not Ok.
package history

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/anishathalye/porcupine"
)

// Porcupine converts ops to porcupine operations. Reads that did not
// succeed (timed out, no leader, …) and writes that definitely had no
// effect are dropped; a write of unknown outcome is kept with Return =
// Infinity.
func Porcupine(ops []Op) []porcupine.Operation {
	out := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		if !relevant(op) {
			continue
		}
		ret := op.Return
		if op.Status == StatusUnknown {
			ret = Infinity
		}
		o := Output{Status: op.Status, Revision: op.Revision}
		if !op.Kind.IsWrite() {
			o.Value = op.Value
		}
		out = append(out, porcupine.Operation{
			ClientId: op.Process,
			Input:    Input{Kind: op.Kind, Key: op.Key, Value: op.Value, HasExpected: op.HasExpected, Expected: op.Expected},
			Call:     op.Call,
			Output:   o,
			Return:   ret,
			Metadata: op.RequestID,
		})
	}
	return out
}

// relevant reports whether op belongs in the linearizability check.
func relevant(op Op) bool {
	switch op.Status {
	case StatusOK, StatusNotFound, StatusConflict:
		return true
	case StatusUnknown:
		return op.Kind.IsWrite()
	}
	return false // failed: no effect (writes) or no answer (reads)
}

// Verdict is the outcome of Check.
type Verdict struct {
	Result     porcupine.CheckResult
	Operations int // operations checked
	Unknown    int // writes of unknown outcome among them
	Keys       int
	Elapsed    time.Duration
	// Files written when the result is not Ok.
	HistoryFile, VisualizationFile string
}

func (v Verdict) String() string {
	s := fmt.Sprintf("%s: %d operations (%d of unknown outcome) on %d keys, checked in %v",
		v.Result, v.Operations, v.Unknown, v.Keys, v.Elapsed.Round(time.Millisecond))
	if v.VisualizationFile != "" {
		s += fmt.Sprintf("; visualization %s, history %s", v.VisualizationFile, v.HistoryFile)
	}
	return s
}

// ErrNotLinearizable is wrapped by Check's error when the verdict is
// Illegal; ErrCheckTimeout when porcupine gave up (Unknown).
var (
	ErrNotLinearizable = errors.New("history is not linearizable")
	ErrCheckTimeout    = errors.New("linearizability check timed out")
)

// Check runs porcupine on h (with the keys' initial states) within timeout.
// The verdict must be Ok: Illegal and Unknown (timeout) are errors. When it
// is not Ok and dir is not empty, the history (history.json) and porcupine's
// visualization (linearizability.html) are written into dir.
func Check(h *History, initial map[string]KeyState, timeout time.Duration, dir string) (Verdict, error) {
	ops := Porcupine(h.Ops())
	model := NewModel(initial)
	v := Verdict{Operations: len(ops)}
	keys := map[string]bool{}
	for _, op := range ops {
		keys[op.Input.(Input).Key] = true
		if op.Output.(Output).Status == StatusUnknown {
			v.Unknown++
		}
	}
	v.Keys = len(keys)
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	v.Elapsed, v.Result = time.Since(start), res
	if res == porcupine.Ok {
		return v, nil
	}
	cause := ErrNotLinearizable
	if res == porcupine.Unknown {
		cause = ErrCheckTimeout
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return v, errors.Join(fmt.Errorf("%w: %s", cause, v), err)
		}
		v.HistoryFile = filepath.Join(dir, "history.json")
		v.VisualizationFile = filepath.Join(dir, "linearizability.html")
		errH := h.WriteJSON(v.HistoryFile)
		errV := porcupine.VisualizePath(model, info, v.VisualizationFile)
		if err := errors.Join(errH, errV); err != nil {
			return v, errors.Join(fmt.Errorf("%w: %s", cause, v), err)
		}
	}
	return v, fmt.Errorf("%w: %s", cause, v)
}
