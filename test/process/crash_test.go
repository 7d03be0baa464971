// A crash of the whole cluster under load.
package process

import (
	"errors"
	"testing"
	"time"

	"github.com/kontiki-raft/kontiki/client"
	"github.com/kontiki-raft/kontiki/internal/history"
)

// All three members are SIGKILLed in the middle of a write load and
// restarted from their data directories: every write a client saw
// acknowledged is there, at its revision, in revision order (a watch from
// revision 1 replays the whole history), none applied twice, and the
// history is linearizable.
func TestAllMembersKilledUnderLoad(t *testing.T) {
	c := startCluster(t, options{})
	h := history.New()
	c.record(h)
	const prefix = "t4."
	cfg := c.loadConfig(prefix, 3*time.Minute)
	cfg.Mix = history.Mix{Put: 60, CAS: 20, Get: 10, LeaseGet: 10}
	load, err := history.StartLoad(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	defer load.Stop()
	n := writesPerPhase()
	c.waitAcked(h, 0, n, time.Minute)

	fault := h.Mark("SIGKILL all members")
	c.killAll()
	restart := h.Mark("restart all members")
	for _, id := range c.peers {
		c.start(id)
	}
	c.leader(30 * time.Second)
	c.waitReady(30*time.Second, c.peers...)
	back := h.Now()
	c.waitAcked(h, restart, n, time.Minute)
	load.Stop()

	final := c.finish(h, prefix)
	upTo := maxRevision(final)
	ops := h.Ops()
	// The members' watch history is rebuilt from the log on restart (no
	// snapshot at this size), so a watch from revision 1 sees every write.
	cl := client.New(c.nc, client.Options{Cluster: clusterName})
	ctx, cancel := ctxTimeout(30 * time.Second)
	defer cancel()
	events, err := history.CollectWatch(ctx, cl, prefix, 1, upTo)
	if errors.Is(err, client.ErrCompacted) {
		c.fatalf("watch from revision 1: %v (the members' watch history no longer reaches revision 1; raise the history size or shorten the load)", err)
	}
	if err != nil {
		c.fatalf("watch from revision 1: %v", err)
	}
	if err := history.CheckWatch(ops, events, prefix, 1, upTo); err != nil {
		c.fatalf("%v", err)
	}
	acked, unknown, inFlight := 0, 0, 0
	for _, op := range ops {
		if op.Acknowledged() {
			acked++
		}
		if op.Status == history.StatusUnknown {
			unknown++
		}
		if op.Kind.IsWrite() && op.Call < fault && op.Finished() > fault {
			inFlight++
		}
	}
	summary(t, "all members SIGKILL", ops, fault, back)
	t.Logf("all members killed with %d writes in flight, back (leader + ready) after %v; %d acknowledged writes all present in order in the %d events from revision 1 to %d; %d writes of unknown outcome",
		inFlight, time.Duration(back-fault).Round(time.Millisecond), acked, len(events), upTo, unknown)
	if inFlight == 0 {
		t.Log("note: no write was in flight at the kill")
	}
}
