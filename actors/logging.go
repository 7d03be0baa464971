// protoactor's own logging, routed to log/slog and quiet by default (it logs
// every dead letter at Info otherwise).
package actors

import (
	"context"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
)

// SystemConfig returns an actor system config whose logs go to logger at
// Warn and above. Pass it to actor.NewActorSystemWithConfig.
func SystemConfig(logger *slog.Logger) *actor.Config {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	quiet := slog.New(minLevel{h: logger.Handler(), min: slog.LevelWarn}).With("component", "protoactor")
	return actor.Configure(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
}

type minLevel struct {
	h   slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}
func (m minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }
func (m minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h: m.h.WithAttrs(a), min: m.min}
}
func (m minLevel) WithGroup(g string) slog.Handler { return minLevel{h: m.h.WithGroup(g), min: m.min} }
