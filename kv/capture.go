// capture.go owns CaptureSnapshot: a snapshot split into a cheap capture,
// taken on the goroutine that applies, and the encoding of its image, which
// may run on another goroutine while Apply goes on.

package kv

// capture is the state at one applied index, held without copying any key
// or value: record pointers (records are copy-on-write, see record), dedupe
// entries (their id, result, index and time never change) and the history's
// events (copied by value; their value bytes are never modified).
type capture struct {
	revision  uint64
	compacted uint64
	records   []*record      // key order
	dedupe    []*dedupeEntry // index order, as the table's byIndex holds them
	history   []Event        // oldest first
	// bodyBytes is the length of the image's items, dedupe entries and
	// events, from the totals the store keeps (imageBytes).
	bodyBytes int
}

// CaptureSnapshot captures the state applied so far; encode returns the
// image Snapshot would have returned at that moment, byte for byte,
// whenever and on whichever goroutine it runs: Apply and Restore may go on
// meanwhile. The capture copies only pointers (one word per key, per dedupe
// entry and a few per history event); the encoding is left to encode. It
// implements the actors' SnapshotCapturer.
func (s *Store) CaptureSnapshot() (encode func() ([]byte, error), err error) {
	_, c := s.capture()
	return c.encode, nil
}

// capture takes the capture and the applied index it is at.
func (s *Store) capture() (uint64, *capture) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	// From now on Apply replaces the records rather than edit them.
	s.captures.Add(1)
	return s.applied, &capture{
		revision:  s.revision,
		compacted: s.history.compacted,
		records:   s.data.records(),
		dedupe:    s.dedupe.copyEntries(),
		history:   s.history.copyEvents(),
		bodyBytes: s.data.imageBytes + s.dedupe.imageBytes + s.history.imageBytes,
	}
}

// encode returns the image (encode.go). It only reads c, so it may run any
// number of times, concurrently.
func (c *capture) encode() ([]byte, error) {
	return encodeImage(c)
}
