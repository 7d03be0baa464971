package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"
)

func TestGracefulStopExitCodes(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	never := make(chan struct{})
	if code := gracefulStop(never, quiet, func(context.Context) error { return nil }); code != exitOK {
		t.Errorf("clean stop: exit %d, want 0", code)
	}
	if code := gracefulStop(never, quiet, func(context.Context) error { return errors.New("drain failed") }); code != exitError {
		t.Errorf("failed stop: exit %d, want 1", code)
	}
	forced := make(chan struct{})
	close(forced)
	blocked := make(chan struct{})
	defer close(blocked)
	if code := gracefulStop(forced, quiet, func(context.Context) error { <-blocked; return nil }); code != exitError {
		t.Errorf("second signal: exit %d, want 1", code)
	}
}
