// This file tests put, get, del and list through the whole CLI: output in
// table and json form, stdin values, compare-and-swap and paging.
package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPutGetDel(t *testing.T) {
	f := newFake(t)
	f.cli("", "put", "a.b", "hello").expect(t, 0, "revision 1\n")
	f.cli("", "get", "a.b").expect(t, 0, "hello")
	f.cli("", "get", "a.b", "-o", "json").expect(t, 0, "{\n  \"key\": \"a.b\",\n  \"revision\": 1,\n  \"value\": \"hello\"\n}\n")
	// Shared flags before the command, own flags after the argument.
	f.cli("", "-o", "json", "put", "a.c", "x").expect(t, 0, "{\n  \"key\": \"a.c\",\n  \"revision\": 2\n}\n")
	f.cli("", "get", "a.b", "--consistency", "stale").expect(t, 0, "hello")
	f.cli("", "del", "a.b").expect(t, 0, "revision 3\n")
	r := f.cli("", "get", "a.b")
	r.expect(t, 3, "")
	if r.stderr != "kontiki: get a.b: not found\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
	f.cli("", "del", "a.b").expect(t, 3, "")
	f.cli("", "del", "-o", "json", "a.c").expect(t, 0, "{\n  \"key\": \"a.c\",\n  \"revision\": 4\n}\n")
}

func TestPutFromStdin(t *testing.T) {
	f := newFake(t)
	f.cli("line one\nline two\n", "put", "k").expect(t, 0, "revision 1\n")
	f.cli("", "get", "k").expect(t, 0, "line one\nline two\n")
	f.cli("\xff\x00", "put", "bin").expect(t, 0, "revision 2\n")
	f.cli("", "get", "bin", "-o", "json").expect(t, 0, "{\n  \"key\": \"bin\",\n  \"revision\": 2,\n  \"value_base64\": \"/wA=\"\n}\n")
	f.cli("", "put", "empty", "").expect(t, 0, "revision 3\n")
	f.cli("", "get", "empty", "-o", "json").expect(t, 0, "{\n  \"key\": \"empty\",\n  \"revision\": 3,\n  \"value\": \"\"\n}\n")
	// "--" lets a value start with a dash.
	f.cli("", "put", "neg", "--", "-5").expect(t, 0, "revision 4\n")
	f.cli("", "get", "neg").expect(t, 0, "-5")
}

func TestPutExpectRevision(t *testing.T) {
	f := newFake(t)
	f.cli("", "put", "--expect-revision", "0", "k", "v1").expect(t, 0, "revision 1\n")
	r := f.cli("", "put", "k", "v2", "--expect-revision", "0")
	r.expect(t, 4, "")
	if !strings.HasPrefix(r.stderr, "kontiki: put k: revision conflict (current revision 1)") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("stderr %q", r.stderr)
	}
	f.cli("", "put", "k", "v2", "--expect-revision=1").expect(t, 0, "revision 2\n")
	f.cli("", "del", "k", "--expect-revision", "1").expect(t, 4, "")
	f.cli("", "del", "k", "--expect-revision", "2").expect(t, 0, "revision 3\n")
}

func TestListFollowsPages(t *testing.T) {
	f := newFake(t)
	for _, k := range []string{"a.1", "a.2", "a.3", "a.4", "a.5", "b.1"} {
		if r := f.cli("", "put", k, "v"+k); r.code != 0 {
			t.Fatalf("put %s: %+v", k, r)
		}
	}
	r := f.cli("", "list", "a.")
	r.expect(t, 0, "KEY  REVISION  VALUE\na.1  1         va.1\na.2  2         va.2\na.3  3         va.3\na.4  4         va.4\na.5  5         va.5\n")
	if f.paged != 3 {
		t.Fatalf("%d pages asked, want 3", f.paged)
	}
	r = f.cli("", "list", "a.", "--limit", "3", "-o", "json")
	var doc struct {
		Revision uint64
		Items    []struct {
			Key      string
			Revision uint64
			Value    string
		}
		More bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || r.code != 0 {
		t.Fatalf("list json: %v %+v", err, r)
	}
	if doc.Revision != 6 || len(doc.Items) != 3 || !doc.More || doc.Items[2].Key != "a.3" || doc.Items[2].Value != "va.3" {
		t.Fatalf("list json %s", r.stdout)
	}
	f.cli("", "list", "zzz", "-o", "json").expect(t, 0, "{\n  \"revision\": 6,\n  \"items\": [],\n  \"more\": false\n}\n")
	f.cli("", "put", "c.tab", "x\ty").expect(t, 0, "revision 7\n")
	f.cli("", "list", "c.").expect(t, 0, "KEY    REVISION  VALUE\nc.tab  7         \"x\\ty\"\n")
	// A value the list reply left out is shown as such, never as empty.
	f.cli("", "put", "omit.x", "big").expect(t, 0, "revision 8\n")
	f.cli("", "list", "omit.").expect(t, 0, "KEY     REVISION  VALUE\nomit.x  8         "+omittedValue+"\n")
	f.cli("", "list", "omit.", "-o", "json").expect(t, 0, "{\n  \"revision\": 8,\n  \"items\": [\n    {\n      \"key\": \"omit.x\",\n      \"revision\": 8,\n      \"value_omitted\": true\n    }\n  ],\n  \"more\": false\n}\n")
}
