// This file owns the names of the NATS headers of the Kontiki contract
// (DESIGN.md §3), shared by the client and the members that serve it.
package client

// Headers of the contract.
const (
	// HeaderServiceError and HeaderServiceErrorCode carry a service error
	// (nats.go/micro's names).
	HeaderServiceError     = "Nats-Service-Error"
	HeaderServiceErrorCode = "Nats-Service-Error-Code"

	// HeaderLeader is the leader's decimal node id, on replies when known.
	HeaderLeader = "Kontiki-Leader"
	// HeaderRevision is a get's mod revision, a 409's current revision and a
	// watch event's revision.
	HeaderRevision = "Kontiki-Revision"
	// HeaderApplied is a stale read's applied revision of the answering member.
	HeaderApplied = "Kontiki-Applied"
	// HeaderRequestID makes a retried write apply once.
	HeaderRequestID = "Kontiki-Request-Id"
	// HeaderExpectedRevision is the compare-and-swap expectation of a write on
	// the key's mod revision; "0" means the key must not exist.
	HeaderExpectedRevision = "Kontiki-Expected-Revision"
	// HeaderConsistency selects a read's consistency (see Consistency).
	HeaderConsistency = "Kontiki-Consistency"

	// HeaderKey and HeaderOp describe a watch event.
	HeaderKey = "Kontiki-Key"
	HeaderOp  = "Kontiki-Op"
	// HeaderWatch marks a watch control message: WatchSynced,
	// WatchHeartbeat or WatchEnd.
	HeaderWatch = "Kontiki-Watch"
)

// Values of HeaderWatch and HeaderOp.
const (
	WatchSynced    = "synced"
	WatchHeartbeat = "heartbeat"
	WatchEnd       = "end"

	OpNamePut    = "put"
	OpNameDelete = "del"
)

// natsStatusHeader is the header of the NATS server's own status messages;
// natsNoResponders is its value when nobody listens on a request's subject.
const (
	natsStatusHeader = "Status"
	natsNoResponders = "503"
)
