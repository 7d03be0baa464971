package messages

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// The .proto files must be registered under package-qualified paths. A bare
// "kv.proto" collides with etcd's file of that name, and a binary linking
// both panics at init ("file ... is already registered").
func TestRegisteredFilePaths(t *testing.T) {
	want := []string{"kontiki/v1/kv.proto", "kontiki/v1/raft.proto"}

	var got []string
	protoregistry.GlobalFiles.RangeFilesByPackage("kontiki.v1", func(fd protoreflect.FileDescriptor) bool {
		got = append(got, fd.Path())
		return true
	})
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("files registered for package kontiki.v1: %q, want %q", got, want)
	}

	for _, p := range want {
		if _, err := protoregistry.GlobalFiles.FindFileByPath(p); err != nil {
			t.Errorf("FindFileByPath(%q): %v", p, err)
		}
		// The registered path is the source's path below this directory, so
		// the go:generate directive and the tree agree.
		if _, err := os.Stat(filepath.FromSlash(p)); err != nil {
			t.Errorf("registered %q, but no such source file: %v", p, err)
		}
		bare := p[strings.LastIndex(p, "/")+1:]
		if fd, err := protoregistry.GlobalFiles.FindFileByPath(bare); err == nil {
			t.Errorf("a file is registered under the bare path %q (package %s)", bare, fd.Package())
		}
	}

	// The generated types point at those same files.
	for _, m := range []protoreflect.ProtoMessage{&Batch{}, &Message{}, &KVCommand{}, &KVSnapshot{}} {
		d := m.ProtoReflect().Descriptor()
		if p := d.ParentFile().Path(); !strings.HasPrefix(p, "kontiki/v1/") {
			t.Errorf("%s is declared in %q, want a path under kontiki/v1/", d.FullName(), p)
		}
	}
}
