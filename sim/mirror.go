// A node's stored log as a chain of hashes: entry i's chain hash covers its
// term and data and the chain hash of entry i-1, so two logs agree up to i
// exactly when their chain hashes at i are equal (log matching, checked in
// O(1) per entry). Entries covered by a snapshot are summed up by the
// committed chain hash at the snapshot's index.
package sim

import (
	pb "github.com/kontiki-raft/kontiki/messages"
)

// mirror is a node's stored log as hashes: entries after base (the snapshot
// index, whose chain hash is the committed one there).
type mirror struct {
	base, baseTerm, baseChain uint64
	terms, ehash, chain       []uint64
}

func (m *mirror) last() uint64 { return m.base + uint64(len(m.chain)) }

func (m *mirror) chainAt(i uint64) (uint64, bool) {
	switch {
	case i == m.base:
		return m.baseChain, true
	case i < m.base || i > m.last():
		return 0, false
	}
	return m.chain[i-m.base-1], true
}

func (m *mirror) termAt(i uint64) uint64 {
	switch {
	case i == m.base:
		return m.baseTerm
	case i < m.base || i > m.last():
		return 0
	}
	return m.terms[i-m.base-1]
}

func (m *mirror) truncate(last uint64) {
	k := last - m.base
	m.terms, m.ehash, m.chain = m.terms[:k], m.ehash[:k], m.chain[:k]
}

// push appends e (which must follow the last entry) and returns its chain hash.
func (m *mirror) push(e *pb.Entry) uint64 {
	prev, _ := m.chainAt(m.last())
	eh := entryHash(e)
	c := chainHash(prev, e.Term, eh)
	m.terms = append(m.terms, e.Term)
	m.ehash = append(m.ehash, eh)
	m.chain = append(m.chain, c)
	return c
}

func (m *mirror) reset() {
	m.base, m.baseTerm, m.baseChain = 0, 0, 0
	m.truncate(0)
}

// FNV-1a, 64 bit.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvUint(h, v uint64) uint64 {
	for i := 0; i < 8; i++ {
		h ^= v & 0xff
		h *= fnvPrime
		v >>= 8
	}
	return h
}

func entryHash(e *pb.Entry) uint64 {
	h := fnvUint(fnvOffset, uint64(e.Type))
	h = fnvUint(h, uint64(len(e.Data)))
	for _, b := range e.Data {
		h ^= uint64(b)
		h *= fnvPrime
	}
	return h
}

func chainHash(prev, term, eh uint64) uint64 {
	return fnvUint(fnvUint(fnvUint(fnvOffset, prev), term), eh)
}
