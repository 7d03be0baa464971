// The inflight window: appends sent to one follower and not yet acknowledged,
// bounded by count and by bytes so a slow follower cannot make the leader
// buffer without limit.
package raft

type inflight struct {
	index uint64 // last entry index of the append
	bytes uint64
}

// Inflights is a FIFO of in-flight appends in ascending index order.
type Inflights struct {
	buf      []inflight
	start    int
	count    int
	bytes    uint64
	maxCount int
	maxBytes uint64 // 0 = no byte limit
}

func NewInflights(maxCount int, maxBytes uint64) *Inflights {
	return &Inflights{maxCount: maxCount, maxBytes: maxBytes}
}

func (in *Inflights) clone() *Inflights {
	c := *in
	c.buf = append([]inflight(nil), in.buf...)
	return &c
}

// Add records an append whose last entry is index. Callers check Full first.
func (in *Inflights) Add(index, bytes uint64) {
	if in.Full() {
		panic("raft: add into a full inflights window")
	}
	if in.count == len(in.buf) {
		in.grow()
	}
	next := in.start + in.count
	if next >= len(in.buf) {
		next -= len(in.buf)
	}
	in.buf[next] = inflight{index: index, bytes: bytes}
	in.count++
	in.bytes += bytes
}

// grow doubles the ring (up to maxCount) lazily so idle followers cost no
// memory; it unrolls the ring so start becomes 0.
func (in *Inflights) grow() {
	size := max(len(in.buf)*2, 1)
	if size > in.maxCount {
		size = in.maxCount
	}
	buf := make([]inflight, size)
	for i := 0; i < in.count; i++ {
		buf[i] = in.buf[(in.start+i)%len(in.buf)]
	}
	in.buf = buf
	in.start = 0
}

// FreeLE releases every inflight append with index <= to.
func (in *Inflights) FreeLE(to uint64) {
	if in.count == 0 || to < in.buf[in.start].index {
		return
	}
	idx := in.start
	var i int
	var freed uint64
	for i = 0; i < in.count; i++ {
		if to < in.buf[idx].index {
			break
		}
		freed += in.buf[idx].bytes
		if idx++; idx >= len(in.buf) {
			idx -= len(in.buf)
		}
	}
	in.count -= i
	in.bytes -= freed
	in.start = idx
	if in.count == 0 {
		in.start = 0
	}
}

// Full reports whether no more appends may be sent.
func (in *Inflights) Full() bool {
	return in.count == in.maxCount || (in.maxBytes != 0 && in.bytes >= in.maxBytes)
}

func (in *Inflights) Count() int { return in.count }

func (in *Inflights) reset() {
	in.count, in.bytes, in.start = 0, 0, 0
}
