// hash.go owns Hash, the fingerprint tests use to compare replicas' data.

package kv

import (
	"crypto/sha256"
	"encoding/binary"
)

// Hash returns a SHA-256 over a deterministic encoding of the store revision
// and every item (key, value, create and mod revision) in key order. Two
// replicas that applied the same entries have the same Hash. It covers the
// data only; compare Snapshot bytes to compare dedupe tables and histories.
func (s *Store) Hash() [32]byte {
	h := sha256.New()
	// Lengths prefix every variable field so no two states share an encoding.
	buf := make([]byte, 0, 1024)
	buf = append(buf, "kontiki kv hash v1\x00"...)
	s.mu.RLock()
	defer s.mu.RUnlock()
	buf = binary.BigEndian.AppendUint64(buf, s.revision)
	buf = binary.BigEndian.AppendUint64(buf, uint64(s.data.len()))
	s.data.each(func(r *record) {
		buf = binary.BigEndian.AppendUint64(buf, uint64(len(r.key)))
		buf = append(buf, r.key...)
		buf = binary.BigEndian.AppendUint64(buf, uint64(len(r.value)))
		buf = append(buf, r.value...)
		buf = binary.BigEndian.AppendUint64(buf, r.create)
		buf = binary.BigEndian.AppendUint64(buf, r.mod)
		if len(buf) >= 32<<10 {
			h.Write(buf)
			buf = buf[:0]
		}
	})
	h.Write(buf)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}
