// This file owns signals and the stop deadline: the first SIGINT or SIGTERM
// starts a graceful stop, a second one gives up on it, and a stop that takes
// longer than stopTimeout ends the process with a non-zero exit.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// stopTimeout is the hard deadline of a graceful stop.
const stopTimeout = 10 * time.Second

// repeatWindow: a second signal this soon after the first is the same
// request delivered twice (as `timeout` does, signalling the process and
// its group), not an impatient user.
const repeatWindow = 500 * time.Millisecond

// notifySignals returns a context cancelled by the first SIGINT or SIGTERM,
// a channel closed by the second, and a function that stops listening.
func notifySignals() (context.Context, <-chan struct{}, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	force := make(chan struct{})
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var first time.Time
		select {
		case sig := <-ch:
			first = time.Now()
			cancel(fmt.Errorf("received %v", sig))
		case <-done:
			return
		}
		for {
			select {
			case <-ch:
				if time.Since(first) >= repeatWindow {
					close(force)
					return
				}
			case <-done:
				return
			}
		}
	}()
	return ctx, force, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}

// gracefulStop runs stop with the stopTimeout deadline and returns the exit
// code: 0 when it finished cleanly, 1 on an error, at the deadline, or at
// a second signal (force).
func gracefulStop(force <-chan struct{}, logger *slog.Logger, stop func(ctx context.Context) error) int {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- stop(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			logger.Error("stopped with errors", "err", err)
			return exitError
		}
		logger.Info("stopped")
		return exitOK
	case <-ctx.Done():
		logger.Error("graceful stop did not finish in time; exiting", "deadline", stopTimeout)
		return exitError
	case <-force:
		logger.Error("second signal: exiting without finishing the graceful stop")
		return exitError
	}
}
