// This file owns the retry pause: exponential with jitter, cut short by the
// context.
package client

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoffDelay is the pause before retry number n (0-based) starting at base.
func backoffDelay(base time.Duration, n int) time.Duration {
	d := base
	for i := 0; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	// Jitter in [d/2, d): spreads retries of many clients.
	return d/2 + rand.N(d/2+1)
}

// sleepCtx waits d or until ctx is done; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
