// This file owns "kontiki status".
package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/kontiki-raft/kontiki/client"
)

var statusCommand = &command{
	name: "status", args: "", minArgs: 0, maxArgs: 0,
	summary: "show the raft status of every member",
	detail: `Ask every member for its status and print one row per member: ID, ROLE,
TERM, LEADER ("-" when unknown), COMMIT, APPLIED and LAG, the entries the
member has yet to apply to reach the leader's commit index (its own commit
index when no leader answered).

With -o json: the members' status documents as a JSON array, including
last_index, durable and the leader's per-peer progress.`,
	setup: func(fs *flag.FlagSet) action {
		return func(ctx context.Context, e *cliEnv, args []string) error {
			ctx, cancel := e.deadline(ctx)
			defer cancel()
			c, done, err := e.dial()
			defer done()
			if err != nil {
				return err
			}
			sts, err := c.Status(ctx)
			if err != nil {
				return err
			}
			if e.common.json() {
				return writeJSON(e.stdout, sts)
			}
			return printStatus(e, sts)
		}
	},
}

func printStatus(e *cliEnv, sts []client.MemberStatus) error {
	var leaderCommit, leaderTerm uint64
	var haveLeader bool
	for _, st := range sts {
		if st.Role == client.RoleLeader && (!haveLeader || st.Term > leaderTerm) {
			leaderCommit, leaderTerm, haveLeader = st.Commit, st.Term, true
		}
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tTERM\tLEADER\tCOMMIT\tAPPLIED\tLAG")
	for _, st := range sts {
		target := st.Commit
		if haveLeader {
			target = leaderCommit
		}
		var lag uint64
		if target > st.Applied {
			lag = target - st.Applied
		}
		leader := "-"
		if st.Leader != 0 {
			leader = strconv.FormatUint(st.Leader, 10)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%d\t%d\t%d\n", st.ID, st.Role, st.Term, leader, st.Commit, st.Applied, lag)
	}
	return tw.Flush()
}
