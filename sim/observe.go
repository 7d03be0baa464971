// What the nodes report: the actors.Observer that feeds the checker their
// Readies and applies, and the slog handler that puts their warnings in the
// trace and fails the run on an error.
package sim

import (
	"context"
	"log/slog"
	"strings"

	pb "github.com/kontiki-raft/kontiki/messages"
	"github.com/kontiki-raft/kontiki/raft"
)

// observer feeds the checker what the nodes report.
type observer struct {
	s   *Sim
	h   *host
	inc int
}

func (o observer) current() bool { return o.h.up && o.h.inc == o.inc }

func (o observer) ObserveReady(node uint64, st raft.Status, rd *raft.Ready) {
	if !o.current() {
		o.s.failf("node %d incarnation %d made progress after its crash", node, o.inc)
		return
	}
	o.s.chk.onReady(o.s.chk.views[node], st, rd)
}

func (o observer) ObserveApply(node uint64, e *pb.Entry) {
	if !o.current() {
		o.s.failf("node %d incarnation %d applied after its crash", node, o.inc)
		return
	}
	o.s.chk.onApply(o.s.chk.views[node], e)
}

// logHandler puts the nodes' warnings in the trace and fails on errors.
type logHandler struct {
	s     *Sim
	node  uint64
	attrs []slog.Attr
}

func (l *logHandler) Enabled(_ context.Context, lvl slog.Level) bool { return lvl >= slog.LevelWarn }

func (l *logHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	}
	for _, a := range l.attrs {
		add(a)
	}
	r.Attrs(add)
	if r.Level >= slog.LevelError {
		l.s.failf("node %d logged an error: %s", l.node, b.String())
		return nil
	}
	l.s.trace.event(l.s, "node %d warns: %s", l.node, b.String())
	return nil
}

func (l *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{s: l.s, node: l.node, attrs: append(append([]slog.Attr(nil), l.attrs...), attrs...)}
}

func (l *logHandler) WithGroup(string) slog.Handler { return l }
