// Package protoconflict lets Kontiki's and etcd's generated protobuf code
// live in one binary. Both register a file named plain "kv.proto" in the
// global protobuf registry (Kontiki's messages package, package kontiki.v1;
// etcd's mvccpb), and the registry panics at init on the second one. The
// message names do not collide (kontiki.v1.* vs mvccpb.*), and nothing here
// resolves types by file path, so the conflict is safe to ignore.
//
// The registry reads GOLANG_PROTOBUF_REGISTRATION_CONFLICT when the conflict
// happens, so setting it in an init that runs first is enough. Go (1.21+)
// initializes packages in import-path order among those whose imports are
// done: this package imports only os, and its path sorts before both
// github.com/kontiki-raft/kontiki/messages and go.etcd.io/..., so it runs
// before either registers.
//
// The lasting fix is in Kontiki: generate the .proto files under a unique
// path (e.g. kontiki/v1/kv.proto), as the protobuf FAQ asks.
package protoconflict

import "os"

func init() {
	if os.Getenv("GOLANG_PROTOBUF_REGISTRATION_CONFLICT") == "" {
		os.Setenv("GOLANG_PROTOBUF_REGISTRATION_CONFLICT", "ignore")
	}
}
