// This file owns the end-of-run checks that porcupine does not make on its
// own: no acknowledged write lost (against the final state), and, against
// a watch's event stream, no write applied twice and every acknowledged
// change seen exactly once in revision order.
package history

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kontiki-raft/kontiki/client"
)

// maxReported bounds the violations one error lists.
const maxReported = 20

// violations collects problems and reports them as one error.
type violations struct {
	what  string
	list  []string
	total int
}

func (v *violations) add(format string, args ...any) {
	v.total++
	if len(v.list) < maxReported {
		v.list = append(v.list, fmt.Sprintf(format, args...))
	}
}

func (v *violations) err() error {
	if v.total == 0 {
		return nil
	}
	more := ""
	if v.total > len(v.list) {
		more = fmt.Sprintf("\n  … and %d more", v.total-len(v.list))
	}
	return fmt.Errorf("%s: %d violation(s):\n  %s%s", v.what, v.total, strings.Join(v.list, "\n  "), more)
}

// ReadFinal reads every key linearizably through rec (retrying until the
// recorder's OpTimeout) and returns the keys' states. The reads are
// recorded in rec's history, so Check verifies them too. Call it once the
// load has stopped and the cluster has nothing uncommitted (the leader's
// commit equals its last index): an entry still in flight could otherwise
// take effect after the read.
func ReadFinal(rec *Recorder, keys []string) (map[string]KeyState, error) {
	final := map[string]KeyState{}
	var errs []error
	for _, k := range keys {
		op := rec.Get(k, false)
		switch op.Status {
		case StatusOK:
			final[k] = KeyState{Exists: true, Value: op.Value, Revision: op.Revision}
		case StatusNotFound:
			final[k] = KeyState{}
		default:
			errs = append(errs, fmt.Errorf("final read of %s: %s", k, op.Err))
		}
	}
	return final, errors.Join(errs...)
}

// CheckAcknowledged checks that no acknowledged write is missing from the
// final state of the keys, read linearizably after every operation ended
// and with nothing uncommitted left (see ReadFinal). initial is the keys'
// state before the history (nil: absent).
//
// Revisions are raft indexes, so a key's mod revision only grows, and a
// value is written by one operation only (values are unique per op). Then,
// for each key with final state F:
//
//  1. every acknowledged write W has revision(W) ≤ revision(F): a larger
//     one means the key went back in time, W (or what followed) was lost;
//  2. F's value was written by an operation of the history (or is the
//     initial value) that was acknowledged or of unknown outcome — not a
//     value nobody wrote, and not a write reported as not applied (503, 429
//     or no responders promise no effect);
//  3. if that writer was acknowledged, its revision is revision(F), and no
//     other acknowledged write has revision(F): one revision, one write;
//  4. a key that an acknowledged put wrote is absent only if a delete of it
//     was acknowledged or of unknown outcome.
//
// An acknowledged write below revision(F) was overwritten by a later write;
// whether it was applied at all is what porcupine (its reads) and
// CheckWatch (every change as an event) establish. This check is the one
// that needs neither: it holds for any history whose final reads it gets.
func CheckAcknowledged(ops []Op, initial, final map[string]KeyState) error {
	v := &violations{what: "acknowledged writes"}
	type keyOps struct{ writes []Op }
	byKey := map[string]*keyOps{}
	var keys []string
	for _, op := range ops {
		if !op.Kind.IsWrite() {
			continue
		}
		ko := byKey[op.Key]
		if ko == nil {
			ko = &keyOps{}
			byKey[op.Key] = ko
			keys = append(keys, op.Key)
		}
		ko.writes = append(ko.writes, op)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f, ok := final[k]
		if !ok {
			v.add("%s: no final state read", k)
			continue
		}
		var ackedPut, deletable bool
		var writer *Op
		for i, w := range byKey[k].writes {
			if w.Acknowledged() && w.Revision > f.Revision && f.Exists {
				v.add("%s: acknowledged %s of %q at revision %d, but the final revision is %d", k, w.Kind, w.Value, w.Revision, f.Revision)
			}
			if w.Acknowledged() && f.Exists && w.Revision == f.Revision && (w.Kind == KindDelete || w.Value != f.Value) {
				v.add("%s: revision %d belongs to acknowledged %s %q, but the final value is %q", k, w.Revision, w.Kind, w.Value, f.Value)
			}
			if w.Kind != KindDelete && w.Acknowledged() {
				ackedPut = true
			}
			if w.Kind == KindDelete && (w.Acknowledged() || w.Status == StatusUnknown) {
				deletable = true
			}
			if w.Kind != KindDelete && f.Exists && w.Value == f.Value {
				writer = &byKey[k].writes[i]
			}
		}
		if !f.Exists {
			if ackedPut && !deletable {
				v.add("%s: absent at the end, but a put of it was acknowledged and no delete was", k)
			}
			continue
		}
		switch {
		case writer == nil:
			if init, ok := initial[k]; !ok || !init.Exists || init.Value != f.Value || init.Revision != f.Revision {
				v.add("%s: final value %q@%d was written by no operation of the history", k, f.Value, f.Revision)
			}
		case writer.Status == StatusFailed:
			v.add("%s: final value %q comes from a write reported as not applied (%s)", k, f.Value, writer.Err)
		case writer.Status == StatusConflict || writer.Status == StatusNotFound:
			v.add("%s: final value %q comes from a write answered %s", k, f.Value, writer.Status)
		case writer.Acknowledged() && writer.Revision != f.Revision:
			v.add("%s: final value %q was acknowledged at revision %d but is at revision %d", k, f.Value, writer.Revision, f.Revision)
		}
	}
	return v.err()
}

// CheckWatch checks a watch's event stream against the history: the
// events are in strictly increasing revision order (each revision once); no
// value appears twice (a retried write applied twice would); every event of
// a key the history wrote is one of its writes that was acknowledged (at
// that revision) or of unknown outcome; and every acknowledged write of a
// key under prefix with a revision in [from, upTo] is among the events.
// Events of keys the history never wrote are ignored (other tests' keys).
func CheckWatch(ops []Op, events []client.Event, prefix string, from, upTo uint64) error {
	v := &violations{what: "watch events"}
	type wkey struct{ key, value string }
	writes := map[wkey]Op{}
	deletes := map[string][]Op{}
	written := map[string]bool{}
	for _, op := range ops {
		if !op.Kind.IsWrite() || !strings.HasPrefix(op.Key, prefix) {
			continue
		}
		written[op.Key] = true
		if op.Kind == KindDelete {
			deletes[op.Key] = append(deletes[op.Key], op)
			continue
		}
		writes[wkey{op.Key, op.Value}] = op
	}
	seenValue := map[wkey]uint64{}
	seenRev := map[uint64]client.Event{}
	var last uint64
	for _, ev := range events {
		if ev.Op == client.OpSynced {
			continue
		}
		if ev.Revision <= last {
			v.add("event %s %s@%d after revision %d: out of order or repeated", ev.Op, ev.Key, ev.Revision, last)
		}
		last = max(last, ev.Revision)
		seenRev[ev.Revision] = ev
		if !written[ev.Key] {
			continue
		}
		if ev.Op == client.OpDelete {
			if !deleteMatches(deletes[ev.Key], ev.Revision) {
				v.add("delete of %s at revision %d matches no acknowledged or unknown-outcome delete", ev.Key, ev.Revision)
			}
			continue
		}
		k := wkey{ev.Key, string(ev.Value)}
		if rev, dup := seenValue[k]; dup {
			v.add("%s=%q applied twice: revisions %d and %d", ev.Key, ev.Value, rev, ev.Revision)
		}
		seenValue[k] = ev.Revision
		w, ok := writes[k]
		switch {
		case !ok:
			v.add("%s=%q at revision %d was written by no operation of the history", ev.Key, ev.Value, ev.Revision)
		case w.Status == StatusUnknown:
		case !w.Acknowledged():
			v.add("%s=%q at revision %d comes from a write answered %s (%s)", ev.Key, ev.Value, ev.Revision, w.Status, w.Err)
		case w.Revision != ev.Revision:
			v.add("%s=%q was acknowledged at revision %d but the watch saw it at %d", ev.Key, ev.Value, w.Revision, ev.Revision)
		}
	}
	for _, op := range ops {
		if !op.Acknowledged() || !strings.HasPrefix(op.Key, prefix) || op.Revision < from || op.Revision > upTo {
			continue
		}
		ev, ok := seenRev[op.Revision]
		switch {
		case !ok:
			v.add("acknowledged %s %s=%q at revision %d: no event", op.Kind, op.Key, op.Value, op.Revision)
		case ev.Key != op.Key || (op.Kind == KindDelete) != (ev.Op == client.OpDelete) || (op.Kind != KindDelete && string(ev.Value) != op.Value):
			v.add("acknowledged %s %s=%q at revision %d: the event there is %s %s=%q", op.Kind, op.Key, op.Value, op.Revision, ev.Op, ev.Key, ev.Value)
		}
	}
	return v.err()
}

func deleteMatches(dels []Op, rev uint64) bool {
	for _, d := range dels {
		if d.Status == StatusUnknown || (d.Acknowledged() && d.Revision == rev) {
			return true
		}
	}
	return false
}

// CollectWatch watches prefix from revision from (FromRevision) and
// returns the events up to and including revision upTo, or an error when
// ctx ends first or the watch fails (ErrCompacted: from is no longer in the
// members' history). upTo must be the revision of a change under prefix
// (e.g. the largest final revision of its keys): the watch sends nothing
// else.
func CollectWatch(ctx context.Context, c *client.Client, prefix string, from, upTo uint64) ([]client.Event, error) {
	if upTo < from {
		return nil, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := c.Watch(ctx, prefix, client.FromRevision(from))
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var events []client.Event
	for ev := range w.Events() {
		if ev.Op == client.OpSynced {
			continue
		}
		if ev.Revision > upTo {
			return events, nil
		}
		events = append(events, ev)
		if ev.Revision == upTo {
			return events, nil
		}
	}
	if err := w.Err(); err != nil {
		return events, err
	}
	return events, fmt.Errorf("watch from %d ended at revision %d before %d", from, lastRevision(events), upTo)
}

func lastRevision(events []client.Event) uint64 {
	if len(events) == 0 {
		return 0
	}
	return events[len(events)-1].Revision
}
