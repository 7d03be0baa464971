// This file owns the client-wide Options and their defaults.
package client

import (
	"log/slog"
	"time"
)

// Defaults applied to zero Options fields.
const (
	DefaultCluster        = "kontiki"
	DefaultTimeout        = 5 * time.Second
	DefaultRetries        = 3
	DefaultWatchHeartbeat = 5 * time.Second
	DefaultWatchWindow    = 1024
	DefaultStatusQuiet    = 250 * time.Millisecond
	DefaultBackoff        = 25 * time.Millisecond
	maxBackoff            = time.Second
)

// Options configure a Client. The zero value is usable.
type Options struct {
	// Cluster is the cluster name <c> of the subjects; default "kontiki".
	Cluster string
	// Timeout bounds one request attempt (default 5s). The whole call is
	// bounded by its context; attempts are also cut short by it.
	Timeout time.Duration
	// Retries is how many times a call is retried after its first attempt
	// on a retryable failure (no reply, no responders, 429, 503, 504):
	// 0 means the default (3), a negative value disables retries.
	Retries int
	// Backoff is the first pause between retries (default 25ms); it doubles
	// per retry, up to 1s, with jitter.
	Backoff time.Duration
	// Logger receives retries and watch resumes at debug level; default:
	// discard.
	Logger *slog.Logger
	// WatchHeartbeat is the members' idle heartbeat interval on a watch
	// (default 5s). A watcher that hears nothing for three intervals
	// re-subscribes where it left off.
	WatchHeartbeat time.Duration
	// WatchWindow is the flow-control window a watch asks for (default 1024).
	WatchWindow int
	// StatusQuiet is how long Status waits after the latest answer for more
	// members (default 250ms).
	StatusQuiet time.Duration
	// NoBatching sends every Put and Delete as a request of its own
	// (kv.put, kv.del). By default the writes that callers issue at the
	// same moment travel to the leader together in one kv.batch request;
	// each keeps its own request id, result and error, and none waits for a
	// timer or for a batch to fill.
	NoBatching bool
}

func (o Options) withDefaults() Options {
	if o.Cluster == "" {
		o.Cluster = DefaultCluster
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	switch {
	case o.Retries == 0:
		o.Retries = DefaultRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.WatchHeartbeat <= 0 {
		o.WatchHeartbeat = DefaultWatchHeartbeat
	}
	if o.WatchWindow <= 0 {
		o.WatchWindow = DefaultWatchWindow
	}
	if o.StatusQuiet <= 0 {
		o.StatusQuiet = DefaultStatusQuiet
	}
	return o
}
