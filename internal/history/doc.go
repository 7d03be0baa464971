// Package history records what clients saw of a Kontiki cluster under load
// and checks it.
//
// A Load runs N concurrent clients, each on its own NATS connection, doing
// puts (a unique value per operation, so a read names the write it saw),
// compare-and-swap puts, linearizable gets and lease gets over a small key
// set. Every operation is recorded in a History with its call and return
// time (one monotonic process clock), its input and its output.
//
// Outcomes are classified once, in one place (classify.go):
//
//   - ok, not_found, conflict: the cluster answered; the answer is the truth
//     (a write's answer comes from applying it, and a retry carries the same
//     Kontiki-Request-Id, so a retried write reports its original result);
//   - failed: the write had no effect (every attempt got 503, 429 or no
//     responders, or a 400/413 from the edge). Such a write is left out of
//     the linearizability check: it never happened;
//   - unknown: some attempt may have been proposed (504, no reply in time,
//     connection lost) and no later attempt settled it. For porcupine such a
//     write returns at +infinity: it may take effect at any point after its
//     call, or never. Reads that did not succeed are dropped.
//
// Files: history.go (Op, History, the clock and the JSON form), recorder.go
// (one client process: attempts, retries with one request id, RawGet for
// aimed probes), load.go (the N-client load), classify.go, model.go (the
// porcupine model: a revisioned register per key, partitioned by key),
// check.go (Check: porcupine with a timeout; Illegal and Unknown both fail,
// and the history JSON and porcupine's HTML visualization are kept in the
// caller's directory), acked.go (no acknowledged write lost, no write
// applied twice, a watch saw every change once and in order), watchlog.go
// (a watch held for a whole run) and throughput.go (before/during/after a
// fault, time to the first write).
package history
