// The replicated state machine of the simulation: an append-only register of
// every (index, data) applied, so the applied sequence of a node is its whole
// state. Snapshots carry the whole sequence; Restore checks that it is
// contiguous, Apply that indexes follow one another. Each incarnation of a
// node gets a fresh register, filled by the node from snapshot and log.
package sim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

type register struct {
	s    *Sim
	node uint64
	// data[i] is the data applied at index i+1 (nil for an empty entry).
	data [][]byte
}

func newRegister(s *Sim, node uint64) *register { return &register{s: s, node: node} }

func (r *register) applied() uint64 { return uint64(len(r.data)) }

// Apply records the entry and returns its index, which the proposer checks
// against the index in its ProposeResult.
func (r *register) Apply(index uint64, data []byte) []byte {
	if index != r.applied()+1 {
		r.s.failf("state machine of node %d: applied index %d after %d", r.node, index, r.applied())
	}
	r.data = append(r.data, bytes.Clone(data))
	return binary.BigEndian.AppendUint64(nil, index)
}

// Snapshot encodes every applied entry: uvarint length+1 (0 = nil), data.
func (r *register) Snapshot() ([]byte, error) {
	var out []byte
	for _, d := range r.data {
		if d == nil {
			out = binary.AppendUvarint(out, 0)
			continue
		}
		out = binary.AppendUvarint(out, uint64(len(d))+1)
		out = append(out, d...)
	}
	return out, nil
}

// capturingRegister is a register that is also an actors.SnapshotCapturer,
// so the simulation runs both ways of snapshotting: odd nodes capture on the
// applier and encode on the persister, later, after further applies.
type capturingRegister struct{ *register }

// CaptureSnapshot keeps the applied sequence as it is: Apply only appends
// past its end and Restore replaces it, so it stays the state at this index.
func (c capturingRegister) CaptureSnapshot() (func() ([]byte, error), error) {
	data := c.data
	return func() ([]byte, error) { return (&register{data: data}).Snapshot() }, nil
}

func decodeRegister(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < max(n, 1)-1 {
			return nil, errors.New("sim: corrupt register snapshot")
		}
		b = b[k:]
		if n == 0 {
			out = append(out, nil)
			continue
		}
		out = append(out, bytes.Clone(b[:n-1]))
		b = b[n-1:]
	}
	return out, nil
}

func (r *register) Restore(index uint64, data []byte) error {
	entries, err := decodeRegister(data)
	if err != nil {
		return err
	}
	if uint64(len(entries)) != index {
		return fmt.Errorf("sim: snapshot at index %d holds %d entries", index, len(entries))
	}
	r.data = entries
	return nil
}

// at returns the data applied at index and whether it was applied.
func (r *register) at(index uint64) ([]byte, bool) {
	if index == 0 || index > r.applied() {
		return nil, false
	}
	return r.data[index-1], true
}
