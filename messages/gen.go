// Package messages holds Kontiki's wire types: the raft messages exchanged by
// peers and the KV store's commands. Everything here is generated from the
// .proto files beside this file; regenerate with `go generate ./messages`.
package messages

//go:generate sh -c "protoc --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --go_out=. --go_opt=paths=source_relative raft.proto kv.proto"

// FormatVersion is the wire format of Batch and SnapshotChunk. A receiver
// rejects a batch of another version so a rolling upgrade fails loudly.
const FormatVersion uint32 = 1
