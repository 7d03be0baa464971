// Subject names of the NATS contract (DESIGN.md §3).
package cluster

import (
	"fmt"
	"strconv"
	"strings"
)

type subjects struct{ cluster string }

func (s subjects) raft(to, from uint64) string {
	return fmt.Sprintf("kontiki.%s.raft.%d.%d", s.cluster, to, from)
}

func (s subjects) raftInbox(self uint64) string {
	return fmt.Sprintf("kontiki.%s.raft.%d.*", s.cluster, self)
}

func (s subjects) snap(to, from uint64) string {
	return fmt.Sprintf("kontiki.%s.snap.%d.%d", s.cluster, to, from)
}

func (s subjects) snapInbox(self uint64) string {
	return fmt.Sprintf("kontiki.%s.snap.%d.*", s.cluster, self)
}

// kv is the shared (queue group) prefix of the KV endpoints.
func (s subjects) kv() string { return fmt.Sprintf("kontiki.%s.kv", s.cluster) }

// member is the prefix of the endpoints addressed to one member.
func (s subjects) member(id uint64) string { return fmt.Sprintf("kontiki.%s.member.%d", s.cluster, id) }

func (s subjects) propose() string { return fmt.Sprintf("kontiki.%s.propose", s.cluster) }

func (s subjects) admin(op string) string { return fmt.Sprintf("kontiki.%s.admin.%s", s.cluster, op) }

// lastToken returns the final dot-separated token of a subject.
func lastToken(subject string) string {
	if i := strings.LastIndexByte(subject, '.'); i >= 0 {
		return subject[i+1:]
	}
	return subject
}

func parseID(tok string) (uint64, bool) {
	id, err := strconv.ParseUint(tok, 10, 64)
	return id, err == nil && id != 0
}
