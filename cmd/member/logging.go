// This file owns the member's logger: log/slog in text or JSON on stderr,
// with `node` and `cluster` on every line. The packages below us add the
// same attributes to the loggers they derive; those repeats are dropped so
// each line carries each key once.
package main

import (
	"context"
	"io"
	"log/slog"
	"slices"
)

// newLogger builds the root logger of one member (node 0: a line about the
// whole process, such as the dev cluster's shared NATS server).
func newLogger(w io.Writer, c *Config, cluster string, node uint64) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	var h slog.Handler
	if c.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	h = onceHandler{h: h}
	attrs := []any{"cluster", cluster}
	if node != 0 {
		attrs = append(attrs, "node", node)
	}
	return slog.New(h).With(attrs...)
}

// onceKeys are the attributes a derived logger may add again.
var onceKeys = []string{"cluster", "node"}

// onceHandler drops an attribute of onceKeys (given to With or to one
// call) that the logger already has.
type onceHandler struct {
	h    slog.Handler
	have []string
	// grouped: inside a group the keys are another namespace.
	grouped bool
}

func (o onceHandler) Enabled(ctx context.Context, l slog.Level) bool { return o.h.Enabled(ctx, l) }

func (o onceHandler) Handle(ctx context.Context, r slog.Record) error {
	if o.grouped || len(o.have) == 0 {
		return o.h.Handle(ctx, r)
	}
	repeated := false
	r.Attrs(func(a slog.Attr) bool {
		repeated = slices.Contains(o.have, a.Key)
		return !repeated
	})
	if !repeated {
		return o.h.Handle(ctx, r)
	}
	kept := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if !slices.Contains(o.have, a.Key) {
			kept.AddAttrs(a)
		}
		return true
	})
	return o.h.Handle(ctx, kept)
}

func (o onceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if o.grouped {
		return onceHandler{h: o.h.WithAttrs(attrs), have: o.have, grouped: true}
	}
	have := slices.Clone(o.have)
	kept := make([]slog.Attr, 0, len(attrs))
	for _, a := range attrs {
		if slices.Contains(onceKeys, a.Key) {
			if slices.Contains(have, a.Key) {
				continue
			}
			have = append(have, a.Key)
		}
		kept = append(kept, a)
	}
	return onceHandler{h: o.h.WithAttrs(kept), have: have}
}

func (o onceHandler) WithGroup(name string) slog.Handler {
	return onceHandler{h: o.h.WithGroup(name), have: o.have, grouped: true}
}
