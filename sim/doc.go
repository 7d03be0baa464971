// Package sim is Kontiki's seeded simulation (DESIGN.md §5.2): the real node
// actors of package actors, their appliers and a client actor run inside one
// protoactor actor system on one goroutine, with a virtual clock, a network
// that delays, drops, duplicates, reorders and partitions, disks that lose
// what was not synced, crashes and restarts. One seed decides everything:
// which mailbox delivers the next message, every latency and loss, every
// fault. The invariants of Raft are checked after every delivery; a failure
// prints its seed, and
//
//	go test ./sim -run 'TestSimulation$' -seed=N -v
//
// (TestSimulationWAL$ for a seed of the WAL mode)
//
// replays it exactly (the same delivery trace, byte for byte).
//
// Where each part lives:
//
//	dispatcher.go    the run queue: Schedule only queues a mailbox run
//	mailbox.go       one delivery per step, system messages first
//	loop.go          the step loop; a failure and its replay command
//	clock.go         virtual time, timers, the event queue
//	network.go       sender middleware: latency, loss, duplicates, partitions
//	store.go         the LogStore wrapper: crash, the lying store
//	walstore.go      the store's backends: memory, or the real WAL on a
//	                 simulated disk (crash, reopen, corrupt nodes stay down)
//	memfs.go         the simulated disk: page cache vs fsynced, crash
//	                 modes (keep, drop, tear by sector), bit flips
//	mirror.go        a stored log as a chain of hashes
//	invariants.go    election safety, log matching, leader completeness,
//	                 state machine safety, commit monotonicity
//	observe.go       the Observer and log handler that feed the checks
//	statemachine.go  the register the nodes replicate
//	client.go        the client actor: proposals, reads, redirects, acks
//	supervisor.go    guardian strategy, injected panics, receiver middleware
//	trace.go         the delivery trace, its hash and its tail
//	system.go        the actor system, reused seed after seed
//	cluster.go       the simulator: nodes, crash, restart, pause
//	faults.go        the fault schedule
//	run.go           one seed end to end: faults, heal, liveness, final checks
package sim
