// bench_test.go measures Apply (put) and the reads.

package kv

import (
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// putCommands returns n encoded puts of keys drawn by key(i).
func putCommands(b *testing.B, n int, opts func(i int) WriteOptions, key func(i int) string) [][]byte {
	cmds := make([][]byte, n)
	value := make([]byte, 100)
	for i := range cmds {
		var err error
		if cmds[i], err = EncodePut(key(i), value, opts(i)); err != nil {
			b.Fatal(err)
		}
	}
	return cmds
}

func noOpts(int) WriteOptions { return WriteOptions{} }

// filled returns a store holding n keys "key.%08d" (100-byte values).
func filled(b *testing.B, n int) *Store {
	s := New(Options{})
	cmds := putCommands(b, n, noOpts, func(i int) string { return fmt.Sprintf("key.%08d", i) })
	for i, c := range cmds {
		s.Apply(uint64(i+1), c)
	}
	return s
}

func BenchmarkApplyPut(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	b.Run("insert-random-keys", func(b *testing.B) {
		cmds := putCommands(b, b.N, noOpts, func(int) string { return fmt.Sprintf("key.%016x", rng.Uint64()) })
		s := New(Options{})
		b.ReportAllocs()
		b.ResetTimer()
		for i, c := range cmds {
			s.Apply(uint64(i+1), c)
		}
	})
	b.Run("insert-ascending-keys", func(b *testing.B) {
		cmds := putCommands(b, b.N, noOpts, func(i int) string { return fmt.Sprintf("key.%016d", i) })
		s := New(Options{})
		b.ReportAllocs()
		b.ResetTimer()
		for i, c := range cmds {
			s.Apply(uint64(i+1), c)
		}
	})
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("overwrite-%d-keys", n), func(b *testing.B) {
			s := filled(b, n)
			cmds := putCommands(b, b.N, noOpts, func(int) string { return fmt.Sprintf("key.%08d", rng.IntN(n)) })
			base := s.AppliedIndex()
			b.ReportAllocs()
			b.ResetTimer()
			for i, c := range cmds {
				s.Apply(base+uint64(i+1), c)
			}
		})
	}
	// As the node runs it: a capture every 10000 applies, after which the
	// first overwrite of each key copies its record (copy-on-write).
	b.Run("overwrite-100000-keys-capture-per-10000", func(b *testing.B) {
		s := filled(b, 100_000)
		cmds := putCommands(b, b.N, noOpts, func(int) string { return fmt.Sprintf("key.%08d", rng.IntN(100_000)) })
		base := s.AppliedIndex()
		b.ReportAllocs()
		b.ResetTimer()
		for i, c := range cmds {
			if i%10_000 == 0 {
				if _, err := s.CaptureSnapshot(); err != nil {
					b.Fatal(err)
				}
			}
			s.Apply(base+uint64(i+1), c)
		}
	})
	// New keys placed uniformly among 100k existing ones, so every insert
	// searches the index (overwrites find their record through the map).
	// The store is kept between 100k and 110k keys: after each 10000
	// inserts, untimed deletes take the new keys out again.
	b.Run("insert-new-keys-into-100000", func(b *testing.B) {
		const n, batch = 100_000, 10_000
		s := filled(b, n)
		keys := make([]string, b.N)
		for i := range keys {
			keys[i] = fmt.Sprintf("key.%08d.%d", rng.IntN(n), i) // after key.%08d, unique
		}
		puts := putCommands(b, b.N, noOpts, func(i int) string { return keys[i] })
		dels := make([][]byte, b.N)
		for i, k := range keys {
			var err error
			if dels[i], err = EncodeDelete(k, WriteOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		idx := s.AppliedIndex()
		b.ReportAllocs()
		b.ResetTimer()
		for from := 0; from < b.N; from += batch {
			to := min(from+batch, b.N)
			for _, c := range puts[from:to] {
				idx++
				s.Apply(idx, c)
			}
			b.StopTimer()
			for _, c := range dels[from:to] {
				idx++
				s.Apply(idx, c)
			}
			b.StartTimer()
		}
		if s.Len() != n {
			b.Fatalf("%d keys at the end, want %d", s.Len(), n)
		}
	})
	b.Run("overwrite-100000-keys-with-request-id", func(b *testing.B) {
		s := filled(b, 100_000)
		cmds := putCommands(b, b.N,
			func(i int) WriteOptions {
				return WriteOptions{RequestID: fmt.Sprintf("req-%d", i), LeaderTimeUnixMs: int64(i)}
			},
			func(int) string { return fmt.Sprintf("key.%08d", rng.IntN(100_000)) })
		base := s.AppliedIndex()
		b.ReportAllocs()
		b.ResetTimer()
		for i, c := range cmds {
			s.Apply(base+uint64(i+1), c)
		}
	})
	// As the service proposes a write: a request id, then the leader's
	// stamp appended by StampLeaderTime. One put per 10 ms of leader time,
	// so the 10-minute TTL (60000 puts) expires ids before the
	// 100000-entry window does: the table's expiry by leader time.
	b.Run("overwrite-100000-keys-stamped-request-id-ttl", func(b *testing.B) {
		const t0 = 1_700_000_000_000
		s := filled(b, 100_000)
		cmds := putCommands(b, b.N,
			func(i int) WriteOptions { return WriteOptions{RequestID: fmt.Sprintf("client-%d/%d", i%64, i)} },
			func(int) string { return fmt.Sprintf("key.%08d", rng.IntN(100_000)) })
		for i := range cmds {
			cmds[i] = StampLeaderTime(cmds[i], t0+int64(i)*10)
		}
		base := s.AppliedIndex()
		b.ReportAllocs()
		b.ResetTimer()
		for i, c := range cmds {
			s.Apply(base+uint64(i+1), c)
		}
	})
	// The cluster benchmark's hot case: 128-byte overwrites of keys drawn
	// uniformly from 100k, each with a fresh client request id
	// (crypto/rand.Text, as the client makes them) and the leader's stamp
	// (10 puts a millisecond: ids leave the table by the index window), and
	// a capture every 10000 applies as the node's snapshot policy takes
	// them, so most overwrites replace a record a capture holds. The first
	// 100k such puts, untimed, fill the request-id table: the timed ones
	// each add an id and expire one.
	b.Run("overwrite-100000-keys-random-request-id-capture-per-10000", func(b *testing.B) {
		const n, t0 = 100_000, 1_700_000_000_000
		s := filled(b, n)
		value := make([]byte, 128)
		cmds := make([][]byte, n+b.N)
		for i := range cmds {
			c, err := EncodePut(fmt.Sprintf("key.%08d", rng.IntN(n)), value, WriteOptions{RequestID: crand.Text()})
			if err != nil {
				b.Fatal(err)
			}
			cmds[i] = StampLeaderTime(c, t0+int64(i/10))
		}
		for i, c := range cmds[:n] {
			s.Apply(uint64(n+i+1), c)
		}
		cmds = cmds[n:]
		base := s.AppliedIndex()
		b.ReportAllocs()
		b.ResetTimer()
		for i, c := range cmds {
			if i%10_000 == 0 {
				if _, err := s.CaptureSnapshot(); err != nil {
					b.Fatal(err)
				}
			}
			s.Apply(base+uint64(i+1), c)
		}
	})
	// A steady mix: puts of 128-byte values with a fresh client request id
	// and the leader's stamp (10 puts a millisecond), three in four
	// overwriting one of 100k keys, one in four inserting a new key placed
	// uniformly among them, and a capture every 10000 puts. The TTL of 5 s
	// (50000 puts) expires ids by leader time, before the 100000-entry
	// window. The first 100k such overwrites, untimed, fill the request-id
	// table; after each 10000 timed puts, untimed deletes take the new keys
	// out again, so the store stays between 100k and 102.5k keys.
	b.Run("mixed-insert-overwrite-100000-keys-request-id-ttl", func(b *testing.B) {
		const n, batch, t0 = 100_000, 10_000, 1_700_000_000_000
		s := New(Options{DedupeTTL: 5 * time.Second})
		value := make([]byte, 128)
		var idx uint64
		apply := func(c []byte, puts int) { // puts so far sets the leader time
			idx++
			s.Apply(idx, StampLeaderTime(c, t0+int64(puts/10)))
		}
		encode := func(key, id string) []byte {
			c, err := EncodePut(key, value, WriteOptions{RequestID: id})
			if err != nil {
				b.Fatal(err)
			}
			return c
		}
		for i := range n {
			apply(encode(fmt.Sprintf("key.%08d", i), ""), 0)
		}
		for i := range n {
			apply(encode(fmt.Sprintf("key.%08d", rng.IntN(n)), crand.Text()), i)
		}
		keys := make([]string, b.N)
		var news []int // the timed puts that insert a key
		for i := range keys {
			if rng.IntN(4) > 0 {
				keys[i] = fmt.Sprintf("key.%08d", rng.IntN(n))
			} else {
				keys[i] = fmt.Sprintf("key.%08d.%d", rng.IntN(n), i) // after key.%08d, unique
				news = append(news, i)
			}
		}
		// Stamped as apply would stamp them, with idx as it will be.
		cmds := make([][]byte, b.N)
		for i, k := range keys {
			cmds[i] = StampLeaderTime(encode(k, crand.Text()), t0+int64((n+i)/10))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for from := 0; from < b.N; from += batch {
			to := min(from+batch, b.N)
			if _, err := s.CaptureSnapshot(); err != nil {
				b.Fatal(err)
			}
			for _, c := range cmds[from:to] {
				idx++
				s.Apply(idx, c)
			}
			b.StopTimer()
			for ; len(news) > 0 && news[0] < to; news = news[1:] {
				d, err := EncodeDelete(keys[news[0]], WriteOptions{})
				if err != nil {
					b.Fatal(err)
				}
				apply(d, n+to)
			}
			b.StartTimer()
		}
		if s.Len() != n {
			b.Fatalf("%d keys at the end, want %d", s.Len(), n)
		}
	})
}

func BenchmarkList(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		s := filled(b, n)
		rng := rand.New(rand.NewPCG(2, 2))
		b.Run(fmt.Sprintf("page-100-of-%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				after := fmt.Sprintf("key.%08d", rng.IntN(n))
				items, _, _ := s.List("key.", after, 100)
				if len(items) == 0 && after < fmt.Sprintf("key.%08d", n-1) {
					b.Fatal("empty page")
				}
			}
		})
		b.Run(fmt.Sprintf("prefix-100-of-%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				// "key.000123" matches exactly 100 keys.
				items, _, _ := s.List(fmt.Sprintf("key.%06d", rng.IntN(n/100)), "", 0)
				if len(items) != 100 {
					b.Fatalf("%d items", len(items))
				}
			}
		})
		b.Run(fmt.Sprintf("get-of-%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, found := s.Get(fmt.Sprintf("key.%08d", rng.IntN(n))); !found {
					b.Fatal("missing")
				}
			}
		})
	}
}

// BenchmarkSnapshot: a 100k-key store (100-byte values, full history),
// without and with a full dedupe table (a request id on every put).
// "full" is Snapshot (capture and encode), "proto-marshal" the image built
// as Snapshot built it before (on the applier), "capture" what the applier
// does now, "encode" what the persister does.
func BenchmarkSnapshot(b *testing.B) {
	const n = 100_000
	withIDs := func(i int) WriteOptions {
		return WriteOptions{RequestID: fmt.Sprintf("req-%d", i), LeaderTimeUnixMs: int64(i)}
	}
	for _, tc := range []struct {
		name string
		opts func(int) WriteOptions
	}{{"keys=100000", noOpts}, {"keys=100000+dedupe", withIDs}} {
		s := New(Options{})
		cmds := putCommands(b, n, tc.opts, func(i int) string { return fmt.Sprintf("key.%08d", i) })
		for i, c := range cmds {
			s.Apply(uint64(i+1), c)
		}
		b.Run(tc.name+"/full", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := s.Snapshot(); err != nil {
					b.Fatal(err)
				}
			}
		})
		// The image as Snapshot built it before: a KVSnapshot of 100k
		// KVItems, proto.Marshal (referenceImage, capture_test.go).
		b.Run(tc.name+"/proto-marshal", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				referenceImage(b, s)
			}
		})
		b.Run(tc.name+"/capture", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := s.CaptureSnapshot(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/encode", func(b *testing.B) {
			encode, err := s.CaptureSnapshot()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := encode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOrdered measures the index alone, without Apply's decoding and
// history: inserts of new keys placed uniformly among 100k present ones,
// and deletes of such keys. The 100k keys go in in random order, with a
// value each, so that neighbouring keys are not neighbours in memory (as
// in a store filled by uniform writes). Each timed batch of 10000 is undone
// untimed, keeping the index between 100k and 110k keys.
func BenchmarkOrdered(b *testing.B) {
	const n, batch = 100_000, 10_000
	setup := func(b *testing.B) (*ordered, []*record) {
		rng := rand.New(rand.NewPCG(3, 3))
		var o ordered
		for _, i := range rng.Perm(n) {
			o.insert(&record{key: fmt.Sprintf("key.%08d", i), value: make([]byte, 100)})
		}
		recs := make([]*record, b.N)
		for i := range recs {
			recs[i] = &record{key: fmt.Sprintf("key.%08d.%d", rng.IntN(n), i), value: make([]byte, 100)}
		}
		return &o, recs
	}
	b.Run("insert-into-100000", func(b *testing.B) {
		o, recs := setup(b)
		b.ResetTimer()
		for from := 0; from < b.N; from += batch {
			to := min(from+batch, b.N)
			for _, r := range recs[from:to] {
				o.insert(r)
			}
			b.StopTimer()
			for _, r := range recs[from:to] {
				o.delete(r.key)
			}
			b.StartTimer()
		}
	})
	// Overwrites that copy the record (a capture holds the old one):
	// replace finds the old record's slot in its chunk.
	b.Run("replace-in-100000", func(b *testing.B) {
		o, _ := setup(b)
		recs := o.records()
		rng := rand.New(rand.NewPCG(4, 4))
		order := make([]int, b.N)
		for i := range order {
			order[i] = rng.IntN(len(recs))
		}
		b.ResetTimer()
		for _, i := range order {
			old := recs[i]
			r := &record{key: old.key, value: old.value}
			o.replace(old, r)
			recs[i] = r
		}
	})
	b.Run("delete-from-110000", func(b *testing.B) {
		o, recs := setup(b)
		b.ResetTimer()
		for from := 0; from < b.N; from += batch {
			to := min(from+batch, b.N)
			b.StopTimer()
			for _, r := range recs[from:to] {
				o.insert(r)
			}
			b.StartTimer()
			for _, r := range recs[from:to] {
				o.delete(r.key)
			}
		}
	})
}

// BenchmarkDedupe measures the request-id table alone, full at 100k ids
// (crypto/rand.Text, as clients make them), each op as Apply does it for
// a stamped command with a new id: expire (one id leaves by the index
// window), lookup (a miss), add.
func BenchmarkDedupe(b *testing.B) {
	const n, t0 = 100_000, 1_700_000_000_000
	b.Run("expire-lookup-add-at-100000", func(b *testing.B) {
		ids := make([]string, n+b.N)
		for i := range ids {
			ids[i] = crand.Text()
		}
		d := newDedupe(n, DefaultDedupeTTL.Milliseconds(), n)
		for i, id := range ids[:n] {
			idx := uint64(i + 1)
			d.expire(idx, t0+int64(i/10))
			d.add(id, result{revision: idx}, idx, t0+int64(i/10))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := n; i < len(ids); i++ {
			idx, tm := uint64(i+1), t0+int64(i/10)
			d.expire(idx, tm)
			if _, seen := d.lookup(ids[i]); seen {
				b.Fatal("seen")
			}
			d.add(ids[i], result{revision: idx}, idx, tm)
		}
	})
}

// BenchmarkEncodeImage measures the encoding of a captured image (what the
// persister does, off the applier) of 100k keys with 128-byte values and a
// full history: written in key order into a fresh store, so that records,
// keys and values lie in memory in key order; and after 300k uniform
// overwrites with client request ids (a full request-id table) and a
// capture every 10000 puts, as the cluster benchmark leaves a member, so
// that the encoder's walk in key order jumps around memory.
func BenchmarkEncodeImage(b *testing.B) {
	const n, t0 = 100_000, 1_700_000_000_000
	value := make([]byte, 128)
	fill := func(b *testing.B) *Store {
		s := New(Options{})
		for i := range n {
			c, err := EncodePut(fmt.Sprintf("key.%08d", i), value, WriteOptions{})
			if err != nil {
				b.Fatal(err)
			}
			s.Apply(uint64(i+1), c)
		}
		return s
	}
	run := func(b *testing.B, s *Store) {
		encode, err := s.CaptureSnapshot()
		if err != nil {
			b.Fatal(err)
		}
		img, err := encode()
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(img)))
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := encode(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("100000-keys-in-key-order", func(b *testing.B) { run(b, fill(b)) })
	b.Run("100000-keys-after-overwrites-with-request-ids", func(b *testing.B) {
		s := fill(b)
		rng := rand.New(rand.NewPCG(5, 5))
		for i := range 3 * n {
			if i%10_000 == 0 {
				if _, err := s.CaptureSnapshot(); err != nil {
					b.Fatal(err)
				}
			}
			c, err := EncodePut(fmt.Sprintf("key.%08d", rng.IntN(n)), value, WriteOptions{RequestID: crand.Text()})
			if err != nil {
				b.Fatal(err)
			}
			s.Apply(uint64(n+i+1), StampLeaderTime(c, t0+int64(i/10)))
		}
		run(b, s)
	})
}
