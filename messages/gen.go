// Package messages holds Kontiki's wire types: the raft messages exchanged by
// peers and the KV store's commands. Everything here is generated from the
// .proto files in kontiki/v1/ below this directory; regenerate with
// `go generate ./messages`.
//
// The .proto files are compiled with this directory as the proto path, so
// they are registered in the global protobuf registry as
// "kontiki/v1/raft.proto" and "kontiki/v1/kv.proto", not as bare file names
// that other projects also use (etcd registers a "kv.proto"; two files of
// the same path in one binary panic at init). The module= option strips the
// go_package import path, so the generated files land here, beside this one.
package messages

//go:generate sh -c "protoc --proto_path=. --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --go_out=. --go_opt=module=github.com/kontiki-raft/kontiki/messages kontiki/v1/raft.proto kontiki/v1/kv.proto"

// FormatVersion is the wire format of Batch and SnapshotChunk. A receiver
// rejects a batch of another version so a rolling upgrade fails loudly.
const FormatVersion uint32 = 1
