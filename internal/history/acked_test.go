package history

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kontiki-raft/kontiki/client"
)

func TestCheckAcknowledged(t *testing.T) {
	ops := []Op{
		put(0, "a", "x", 0, 1, 5),
		put(0, "a", "y", 2, 3, 7),
		putUnknown(1, "a", "u", 4),
		putFailed(2, "a", "f", 4, 5),
		put(0, "b", "z", 0, 1, 6),
	}
	cases := []struct {
		name  string
		final map[string]KeyState
		want  string // substring of the error; "" = no error
	}{
		{"last acknowledged value", map[string]KeyState{"a": {true, "y", 7}, "b": {true, "z", 6}}, ""},
		{"unknown-outcome write won", map[string]KeyState{"a": {true, "u", 9}, "b": {true, "z", 6}}, ""},
		{"went back in time", map[string]KeyState{"a": {true, "x", 5}, "b": {true, "z", 6}}, "final revision is 5"},
		{"write reported not applied took effect", map[string]KeyState{"a": {true, "f", 9}, "b": {true, "z", 6}}, "not applied"},
		{"value nobody wrote", map[string]KeyState{"a": {true, "q", 9}, "b": {true, "z", 6}}, "written by no operation"},
		{"acknowledged value at another revision", map[string]KeyState{"a": {true, "y", 8}, "b": {true, "z", 6}}, "acknowledged at revision 7"},
		{"acknowledged revision holds another value", map[string]KeyState{"a": {true, "u", 7}, "b": {true, "z", 6}}, "revision 7 belongs to"},
		{"key lost", map[string]KeyState{"a": {true, "y", 7}, "b": {}}, "absent at the end"},
		{"key not read", map[string]KeyState{"a": {true, "y", 7}}, "no final state"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckAcknowledged(ops, nil, tc.final)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func ev(key, value string, rev uint64) client.Event {
	return client.Event{Op: client.OpPut, Key: key, Value: []byte(value), Revision: rev}
}

func TestCheckWatch(t *testing.T) {
	ops := []Op{
		put(0, "p.a", "x", 0, 1, 5),
		put(0, "p.a", "y", 2, 3, 7),
		putUnknown(1, "p.b", "u", 4),
		putFailed(2, "p.b", "f", 4, 5),
		put(0, "q.c", "z", 0, 1, 6), // another prefix
	}
	cases := []struct {
		name   string
		events []client.Event
		want   string
	}{
		{"every change once in order", []client.Event{ev("p.a", "x", 5), ev("p.a", "y", 7), ev("p.b", "u", 8)}, ""},
		{"unknown write not applied", []client.Event{ev("p.a", "x", 5), ev("p.a", "y", 7)}, ""},
		{"foreign keys ignored", []client.Event{ev("p.a", "x", 5), ev("p.zz", "other", 6), ev("p.a", "y", 7)}, ""},
		{"missing acknowledged change", []client.Event{ev("p.a", "y", 7)}, "revision 5: no event"},
		{"out of order", []client.Event{ev("p.a", "y", 7), ev("p.a", "x", 5)}, "out of order"},
		{"repeated event", []client.Event{ev("p.a", "x", 5), ev("p.a", "x", 5), ev("p.a", "y", 7)}, "out of order or repeated"},
		{"applied twice", []client.Event{ev("p.a", "x", 5), ev("p.a", "y", 7), ev("p.a", "x", 9)}, "applied twice"},
		{"failed write applied", []client.Event{ev("p.a", "x", 5), ev("p.a", "y", 7), ev("p.b", "f", 9)}, "answered failed"},
		{"acknowledged at another revision", []client.Event{ev("p.a", "x", 6), ev("p.a", "y", 7)}, "acknowledged at revision 5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckWatch(ops, tc.events, "p.", 1, 7)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestViolationsAreBounded(t *testing.T) {
	var ops []Op
	final := map[string]KeyState{}
	for i := range 50 {
		k := fmt.Sprintf("k%d", i)
		ops = append(ops, put(0, k, "x", 0, 1, 5))
		final[k] = KeyState{}
	}
	err := CheckAcknowledged(ops, nil, final)
	if err == nil || !strings.Contains(err.Error(), "and 30 more") {
		t.Fatalf("err = %v", err)
	}
}

func TestSummarize(t *testing.T) {
	sec := int64(time.Second)
	var ops []Op
	// 10 answered ops per second for 10 s, none between 4 s and 6 s.
	for i := int64(0); i < 100; i++ {
		at := i * sec / 10
		if at >= 4*sec && at < 6*sec {
			continue
		}
		ops = append(ops, put(0, "a", fmt.Sprint(i), at, at+sec/100, uint64(i+1)))
	}
	ops = append(ops, putUnknown(1, "a", "u", 4*sec+1))
	ops[len(ops)-1].End = 5 * sec
	s := Summarize(ops, 4*sec, 0)
	if s.Before < 9.5 || s.Before > 10.5 || s.After < 9.5 || s.After > 10.5 {
		t.Fatalf("before/after = %.1f/%.1f, want 10/10: %v", s.Before, s.After, s)
	}
	if s.During != 0 {
		t.Fatalf("during = %.1f, want 0: %v", s.During, s)
	}
	if d := s.FirstWrite; d < 2*time.Second || d > 2*time.Second+20*time.Millisecond {
		t.Fatalf("first write after %v, want 2.01s", d)
	}
	if s.WriteGap < 2*time.Second || s.WriteGap > 2200*time.Millisecond || s.Unknown != 1 {
		t.Fatalf("gap %v unknown %d: %v", s.WriteGap, s.Unknown, s)
	}
	if m := Median([]time.Duration{3, 1, 2}); m != 2 {
		t.Fatalf("median %v", m)
	}
}

func TestCheckWatchDeletes(t *testing.T) {
	ops := []Op{
		put(0, "p.a", "x", 0, 1, 5),
		del(0, "p.a", 2, 3, StatusOK, 6),
		del(1, "p.a", 4, 0, StatusUnknown, 0),
	}
	delEv := func(rev uint64) client.Event { return client.Event{Op: client.OpDelete, Key: "p.a", Revision: rev} }
	if err := CheckWatch(ops, []client.Event{ev("p.a", "x", 5), delEv(6)}, "p.", 1, 6); err != nil {
		t.Fatal(err)
	}
	if err := CheckWatch(ops, []client.Event{ev("p.a", "x", 5), ev("p.a", "x2", 6)}, "p.", 1, 6); err == nil {
		t.Fatal("a put where an acknowledged delete was: no error")
	}
	if err := CheckWatch(ops[:2], []client.Event{ev("p.a", "x", 5), delEv(6), delEv(7)}, "p.", 1, 7); err == nil {
		t.Fatal("a delete nobody issued: no error")
	}
}
