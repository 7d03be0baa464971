package history

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// Builders of hand-written histories. Times are in arbitrary units.

func put(p int, key, value string, call, ret int64, rev uint64) Op {
	return Op{Process: p, Kind: KindPut, Key: key, Value: value, Call: call, Return: ret, Status: StatusOK, Revision: rev}
}

func putUnknown(p int, key, value string, call int64) Op {
	return Op{Process: p, Kind: KindPut, Key: key, Value: value, Call: call, Return: Infinity, Status: StatusUnknown}
}

func putFailed(p int, key, value string, call, ret int64) Op {
	return Op{Process: p, Kind: KindPut, Key: key, Value: value, Call: call, Return: ret, Status: StatusFailed}
}

func cas(p int, key, value string, expected uint64, call, ret int64, status Status, rev uint64) Op {
	if status == StatusUnknown {
		ret = Infinity
	}
	return Op{Process: p, Kind: KindCAS, Key: key, Value: value, HasExpected: true, Expected: expected, Call: call, Return: ret, Status: status, Revision: rev}
}

func get(p int, key, value string, call, ret int64, rev uint64) Op {
	return Op{Process: p, Kind: KindGet, Key: key, Value: value, Call: call, Return: ret, Status: StatusOK, Revision: rev}
}

func leaseGet(p int, key, value string, call, ret int64, rev uint64) Op {
	op := get(p, key, value, call, ret, rev)
	op.Kind = KindLeaseGet
	return op
}

func getMissing(p int, key string, call, ret int64) Op {
	return Op{Process: p, Kind: KindGet, Key: key, Call: call, Return: ret, Status: StatusNotFound}
}

func del(p int, key string, call, ret int64, status Status, rev uint64) Op {
	if status == StatusUnknown {
		ret = Infinity
	}
	return Op{Process: p, Kind: KindDelete, Key: key, Call: call, Return: ret, Status: status, Revision: rev}
}

func historyOf(ops ...Op) *History {
	h := New()
	for _, op := range ops {
		h.Add(op)
	}
	return h
}

func verdict(t *testing.T, initial map[string]KeyState, ops ...Op) porcupine.CheckResult {
	t.Helper()
	v, err := Check(historyOf(ops...), initial, 10*time.Second, "")
	if v.Result == porcupine.Ok && err != nil {
		t.Fatalf("Ok with an error: %v", err)
	}
	if v.Result != porcupine.Ok && err == nil {
		t.Fatalf("%s without an error", v.Result)
	}
	return v.Result
}

func TestModel(t *testing.T) {
	cases := []struct {
		name    string
		want    porcupine.CheckResult
		initial map[string]KeyState
		ops     []Op
	}{
		{"sequential puts and reads", porcupine.Ok, nil, []Op{
			getMissing(0, "a", 0, 1),
			put(0, "a", "x", 2, 3, 5),
			get(1, "a", "x", 4, 5, 5),
			put(1, "a", "y", 6, 7, 9),
			leaseGet(0, "a", "y", 8, 9, 9),
		}},
		{"read of an overwritten value after the overwrite returned", porcupine.Illegal, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			put(0, "a", "y", 2, 3, 7),
			get(1, "a", "x", 4, 5, 5),
		}},
		{"stale lease read after the overwrite returned", porcupine.Illegal, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			put(0, "a", "y", 2, 3, 7),
			leaseGet(1, "a", "x", 4, 5, 5),
		}},
		{"read concurrent with a put may see either value", porcupine.Ok, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			put(0, "a", "y", 2, 10, 7),
			get(1, "a", "x", 3, 4, 5),
			get(2, "a", "y", 5, 6, 7),
			get(1, "a", "y", 7, 8, 7),
		}},
		{"value flips back: not linearizable", porcupine.Illegal, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			put(0, "a", "y", 2, 10, 7),
			get(1, "a", "y", 3, 4, 7),
			get(2, "a", "x", 5, 6, 5),
		}},
		{"revision of a later put below an earlier one", porcupine.Illegal, nil, []Op{
			put(0, "a", "x", 0, 1, 7),
			put(0, "a", "y", 2, 3, 5),
		}},
		{"read reports another revision than the write's", porcupine.Illegal, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			get(1, "a", "x", 2, 3, 6),
		}},
		{"read of a value never written", porcupine.Illegal, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			get(1, "a", "z", 2, 3, 5),
		}},
		{"missing after an acknowledged put", porcupine.Illegal, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			getMissing(1, "a", 2, 3),
		}},
		{"keys are independent", porcupine.Ok, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			put(1, "b", "x", 0, 1, 6),
			get(0, "b", "x", 2, 3, 6),
			get(1, "a", "x", 2, 3, 5),
		}},

		// Compare-and-swap.
		{"cas on the current revision succeeds", porcupine.Ok, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			cas(0, "a", "y", 5, 2, 3, StatusOK, 8),
			get(1, "a", "y", 4, 5, 8),
		}},
		{"cas on absent with expectation 0", porcupine.Ok, nil, []Op{
			cas(0, "a", "x", 0, 0, 1, StatusOK, 3),
			cas(1, "a", "y", 0, 2, 3, StatusConflict, 3),
		}},
		{"cas succeeds on a stale expectation", porcupine.Illegal, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			put(0, "a", "y", 2, 3, 6),
			cas(1, "a", "z", 5, 4, 5, StatusOK, 9),
		}},
		{"conflict reports the current revision", porcupine.Ok, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			cas(1, "a", "z", 3, 2, 3, StatusConflict, 5),
		}},
		{"conflict reports a wrong revision", porcupine.Illegal, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			cas(1, "a", "z", 3, 2, 3, StatusConflict, 4),
		}},
		{"conflict although the expectation holds", porcupine.Illegal, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			cas(1, "a", "z", 5, 2, 3, StatusConflict, 5),
		}},

		// Unknown outcomes.
		{"unknown put seen later, its revision pinned by the read", porcupine.Ok, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			putUnknown(1, "a", "u", 2),
			get(2, "a", "u", 10, 11, 9),
			get(2, "a", "u", 12, 13, 9),
		}},
		{"unknown put seen at two revisions", porcupine.Illegal, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			putUnknown(1, "a", "u", 2),
			get(2, "a", "u", 10, 11, 9),
			get(2, "a", "u", 12, 13, 10),
		}},
		{"unknown put seen at a revision below an earlier write", porcupine.Illegal, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			putUnknown(1, "a", "u", 2),
			get(2, "a", "u", 10, 11, 4),
		}},
		{"unknown put never applied", porcupine.Ok, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			putUnknown(1, "a", "u", 2),
			get(2, "a", "x", 10, 11, 5),
			put(0, "a", "y", 12, 13, 7),
			get(2, "a", "y", 14, 15, 7),
		}},
		{"unknown put applied long after its client gave up", porcupine.Ok, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			putUnknown(1, "a", "u", 2),
			get(2, "a", "x", 10, 11, 5),
			get(2, "a", "u", 20, 21, 12),
		}},
		{"unknown put seen before it was called", porcupine.Illegal, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			get(2, "a", "u", 2, 3, 9),
			putUnknown(1, "a", "u", 4),
		}},
		{"unknown put seen, then gone again", porcupine.Illegal, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			putUnknown(1, "a", "u", 2),
			get(2, "a", "u", 10, 11, 9),
			get(2, "a", "x", 12, 13, 5),
		}},
		{"a write reported as not applied is read", porcupine.Illegal, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			putFailed(1, "a", "f", 2, 3),
			get(2, "a", "f", 4, 5, 7),
		}},
		{"unknown cas that matched may apply", porcupine.Ok, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			cas(1, "a", "u", 5, 2, 0, StatusUnknown, 0),
			get(2, "a", "u", 10, 11, 8),
		}},
		{"unknown cas that matched may not apply", porcupine.Ok, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			cas(1, "a", "u", 5, 2, 0, StatusUnknown, 0),
			get(2, "a", "x", 10, 11, 5),
		}},
		{"unknown cas with a stale expectation applied", porcupine.Illegal, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			cas(1, "a", "u", 4, 2, 0, StatusUnknown, 0),
			get(2, "a", "u", 10, 11, 8),
		}},
		{"unknown cas on an unknown revision: either way", porcupine.Ok, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			putUnknown(1, "a", "u", 2),
			cas(2, "a", "v", 9, 3, 0, StatusUnknown, 0),
			get(3, "a", "v", 10, 11, 12),
		}},
		{"cas expecting the pinned revision of an unknown put", porcupine.Ok, nil, []Op{
			putUnknown(1, "a", "u", 0),
			get(2, "a", "u", 2, 3, 9),
			cas(2, "a", "v", 9, 4, 5, StatusOK, 12),
			get(3, "a", "v", 6, 7, 12),
		}},

		// Deletes and initial state.
		{"delete then missing", porcupine.Ok, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			del(0, "a", 2, 3, StatusOK, 6),
			getMissing(1, "a", 4, 5),
			del(1, "a", 6, 7, StatusNotFound, 0),
			put(0, "a", "y", 8, 9, 10),
		}},
		{"revision after a delete must grow", porcupine.Illegal, nil, []Op{
			put(0, "a", "x", 0, 1, 5),
			del(0, "a", 2, 3, StatusOK, 6),
			put(0, "a", "y", 4, 5, 6),
		}},
		{"initial state is honoured", porcupine.Ok, map[string]KeyState{"a": {Exists: true, Value: "i", Revision: 3}}, []Op{
			get(0, "a", "i", 0, 1, 3),
			cas(0, "a", "x", 3, 2, 3, StatusOK, 4),
		}},
		{"initial state contradicted", porcupine.Illegal, map[string]KeyState{"a": {Exists: true, Value: "i", Revision: 3}}, []Op{
			getMissing(0, "a", 0, 1),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := verdict(t, tc.initial, tc.ops...); got != tc.want {
				t.Fatalf("verdict %s, want %s", got, tc.want)
			}
		})
	}
}

func TestCheckKeepsEvidenceOnlyWhenNotOk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "evidence")
	_, err := Check(historyOf(put(0, "a", "x", 0, 1, 5), get(1, "a", "x", 2, 3, 5)), nil, 10*time.Second, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("evidence written for an Ok history: %v", err)
	}

	v, err := Check(historyOf(put(0, "a", "x", 0, 1, 5), put(0, "a", "y", 2, 3, 7), get(1, "a", "x", 4, 5, 5)), nil, 10*time.Second, dir)
	if !errors.Is(err, ErrNotLinearizable) {
		t.Fatalf("err = %v, want ErrNotLinearizable", err)
	}
	for _, f := range []string{v.HistoryFile, v.VisualizationFile} {
		st, err := os.Stat(f)
		if err != nil || st.Size() == 0 {
			t.Fatalf("evidence %q: %v", f, err)
		}
	}
	back, err := ReadJSON(v.HistoryFile)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(back.Ops()); n != 3 {
		t.Fatalf("history file holds %d ops, want 3", n)
	}
}

func TestPorcupineDropsFailedOperations(t *testing.T) {
	ops := Porcupine([]Op{
		put(0, "a", "x", 0, 1, 5),
		putFailed(1, "a", "f", 0, 1),
		{Process: 2, Kind: KindGet, Key: "a", Call: 0, Return: 1, Status: StatusFailed},
		putUnknown(3, "a", "u", 0),
		{Process: 4, Kind: KindGet, Key: "a", Call: 0, Return: Infinity, Status: StatusUnknown},
	})
	if len(ops) != 2 {
		t.Fatalf("kept %d ops, want the put and the unknown put: %+v", len(ops), ops)
	}
	if ops[1].Return != Infinity {
		t.Fatalf("unknown put returns at %d, want Infinity", ops[1].Return)
	}
}
