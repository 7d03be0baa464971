// This file owns the JSON bodies of the client service (DESIGN.md §3), shared
// by the client and the members that serve it.
package client

// WriteResponse is the body of a successful kv.put or kv.del reply.
type WriteResponse struct {
	Revision uint64 `json:"revision"`
}

// ListRequest is the body of a kv.list request.
type ListRequest struct {
	Prefix string `json:"prefix"`
	Limit  int    `json:"limit,omitempty"`
	After  string `json:"after,omitempty"`
}

// ListResponse is the body of a kv.list reply.
type ListResponse struct {
	Revision uint64 `json:"revision"`
	Items    []Item `json:"items"`
	More     bool   `json:"more"`
}

// Item is one key of a List page. Value is base64 in JSON. ValueOmitted: the
// value alone would not fit in a list reply (max_payload, with base64's
// growth), so it is left out; read it with Get.
type Item struct {
	Key          string `json:"key"`
	Value        []byte `json:"value"`
	Revision     uint64 `json:"revision"`
	ValueOmitted bool   `json:"value_omitted,omitempty"`
}

// WatchRequest is the body of a kv.watch request. FromRevision 0 (omitted)
// asks for the current values, a synced marker, then the changes.
type WatchRequest struct {
	Prefix       string `json:"prefix"`
	FromRevision uint64 `json:"from_revision,omitempty"`
	Window       int    `json:"window,omitempty"`
}
