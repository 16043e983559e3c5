package datapath

import (
	"runtime"
	"testing"
)

// benchBatch is the batch size the netdev receive loops hand to the engine.
const benchBatch = 64

// BenchmarkForwardKnownUnicast forwards 64-byte frames between two
// in-memory ports with learned MACs, in batches of 64, on one goroutine.
func BenchmarkForwardKnownUnicast(b *testing.B) {
	br, _ := NewBridge("bench", BridgeConfig{})
	in, _ := br.AddPort("in", &memPort{}, PortConfig{})
	out, _ := br.AddPort("out", &memPort{}, PortConfig{})
	const hosts = 1024 // learned MACs on each side
	// Learn the destinations on "out".
	learn := make([]*Packet, hosts)
	for i := range learn {
		learn[i] = NewPacket(64)
		learn[i].SetData(frame(bcast, mac(10000+i), -1, 46))
	}
	out.Receive(learn)
	batch := make([]*Packet, benchBatch)
	frames := make([][]byte, benchBatch)
	for i := range batch {
		batch[i] = NewPacket(2048)
		frames[i] = frame(mac(10000+i*13%hosts), mac(i), -1, 46)[:64]
		batch[i].SetData(frames[i])
	}
	b.ReportAllocs()
	b.SetBytes(64 * benchBatch)
	b.ResetTimer()
	for b.Loop() {
		in.Receive(batch)
	}
	b.StopTimer()
	if got := out.Counters().TxPackets.Load(); got < uint64(b.N*benchBatch) {
		b.Fatalf("forwarded %d of %d frames", got, b.N*benchBatch)
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds()/1e6, "Mpps")
}

// BenchmarkForwardKnownUnicast1M is known unicast with one million learned
// MACs, destinations drawn at random: the FDB no longer fits the caches.
func BenchmarkForwardKnownUnicast1M(b *testing.B) {
	const n = 1 << 20
	br, _ := NewBridge("bench", BridgeConfig{MaxLearned: n})
	in, _ := br.AddPort("in", &memPort{}, PortConfig{})
	out, _ := br.AddPort("out", &memPort{}, PortConfig{})
	learn := make([]*Packet, 1024)
	for i := range learn {
		learn[i] = NewPacket(64)
	}
	for i := 0; i < n; i += len(learn) {
		for j, p := range learn {
			p.SetData(frame(bcast, mac2(i+j), -1, 46))
		}
		out.Receive(learn)
	}
	if s := br.Stats().FDB; s.Entries != n {
		b.Fatalf("learned %d of %d", s.Entries, n)
	}
	batch := make([]*Packet, benchBatch)
	for i := range batch {
		batch[i] = NewPacket(2048)
		batch[i].SetData(frame(mac2(0), mac(i), -1, 46)[:64])
	}
	x := uint64(88172645463325252)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, p := range batch {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			m := mac2(int(x & (n - 1)))
			copy(p.Buf[p.Off:], m[:])
		}
		in.Receive(batch)
	}
	b.StopTimer()
	if got := out.Counters().TxPackets.Load(); got < uint64(b.N*benchBatch) {
		b.Fatalf("forwarded %d of %d frames", got, b.N*benchBatch)
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds()/1e6, "Mpps")
}

// mac2 is the i-th of a million distinct host MACs.
func mac2(i int) [6]byte {
	return [6]byte{0x02, 0x10, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
}

// BenchmarkForwardVLANTranslate is known unicast from an access port to a
// trunk: every frame gets a tag pushed.
func BenchmarkForwardVLANTranslate(b *testing.B) {
	br, _ := NewBridge("bench", BridgeConfig{})
	in, _ := br.AddPort("in", &memPort{}, PortConfig{Mode: ModeAccess, VLAN: 10})
	out, _ := br.AddPort("out", &memPort{}, trunk("10", 0, false))
	p := NewPacket(64)
	p.SetData(frame(bcast, mac(2), 10, 46))
	out.Receive([]*Packet{p})
	batch := make([]*Packet, benchBatch)
	for i := range batch {
		batch[i] = NewPacket(2048)
	}
	f := frame(mac(2), mac(1), -1, 46)[:64]
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range batch {
			p.Off, p.Len = Headroom, 64
			copy(p.Buf[Headroom:], f)
		}
		in.Receive(batch)
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds()/1e6, "Mpps")
}

// BenchmarkFlood broadcasts 64-byte frames to 16 ports.
func BenchmarkFlood(b *testing.B) {
	br, _ := NewBridge("bench", BridgeConfig{})
	in, _ := br.AddPort("in", &memPort{}, PortConfig{})
	for i := 0; i < 16; i++ {
		br.AddPort(string(rune('a'+i)), &memPort{}, PortConfig{})
	}
	batch := make([]*Packet, benchBatch)
	for i := range batch {
		batch[i] = NewPacket(2048)
		batch[i].SetData(frame(bcast, mac(i), -1, 46)[:64])
	}
	b.ReportAllocs()
	for b.Loop() {
		in.Receive(batch)
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds()/1e6, "Mpps")
	b.ReportMetric(float64(b.N*benchBatch*16)/b.Elapsed().Seconds()/1e6, "Mpps-out")
}

// lookupSets are the key distributions of the lookup benchmarks: "hot"
// draws keys from 64K active hosts spread over the table (their slots stay in
// the CPU caches, as a busy switch's do); "cold" draws them uniformly from all
// 1M entries, so nearly every lookup misses the caches and the TLB.
var lookupSets = []struct {
	name string
	mask uint64
}{{"hot", 1<<16 - 1}, {"cold", 1<<20 - 1}}

// keyRing is a ring of 64K lookup keys drawn at random from a set (see
// lookupSets) of the n keys benchKey makes. The benchmarks read it in order,
// so it costs a sequential 512 KiB stream that the prefetcher hides, not a
// cache miss and not the key arithmetic (which costs more than a cached
// lookup and would otherwise be what is measured).
func keyRing(n, mask uint64) []uint64 {
	ring := make([]uint64, 1<<16)
	spread := n / (mask + 1)
	x := uint64(88172645463325252)
	for j := range ring {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		ring[j] = benchKey((x & mask) * spread)
	}
	return ring
}

// BenchmarkFDBLookup1M looks up random keys in an FDB of one million
// entries: one at a time, and the engine's way (touch the slots of a batch
// of 64, then look them up, so the misses overlap). BenchmarkGoMapLookup1M
// is the same in a Go map, for the ratio.
func BenchmarkFDBLookup1M(b *testing.B) {
	const n = 1 << 20
	f := newFDB(n, FullRefuse)
	for i := uint64(0); i < n; i++ {
		f.learn(benchKey(i), uint16(1+i%8), NoEndpoint, 0)
	}
	if s := f.stats(); s.Entries != n {
		b.Fatalf("fdb holds %d entries, want %d", s.Entries, n)
	}
	runtime.GC()
	for _, set := range lookupSets {
		ring := keyRing(n, set.mask)
		b.Run("single-"+set.name, func(b *testing.B) {
			var hits, i int
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := f.lookup(ring[i&(len(ring)-1)]); ok {
					hits++
				}
				i++
			}
			if hits != i {
				b.Fatalf("%d of %d lookups missed", i-hits, i)
			}
			b.ReportMetric(f.bytesPerEntry(), "B/entry")
		})
		b.Run("batch64-"+set.name, func(b *testing.B) {
			var hits, i int
			b.ReportAllocs()
			for b.Loop() {
				keys := ring[i&(len(ring)-1):][:64]
				t := f.table.Load()
				var touch uint64
				for _, k := range keys {
					touch += t.touch(k)
				}
				for _, k := range keys {
					if _, ok := f.lookup(k | touch&0); ok {
						hits++
					}
					i++
				}
			}
			if hits != i {
				b.Fatalf("%d of %d lookups missed", i-hits, i)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/lookup")
		})
	}
}

// BenchmarkGoMapLookup1M is BenchmarkFDBLookup1M's single lookups in a Go
// map of the same keys.
func BenchmarkGoMapLookup1M(b *testing.B) {
	const n = 1 << 20
	m := make(map[uint64]uint64, n)
	for i := uint64(0); i < n; i++ {
		m[benchKey(i)] = i
	}
	runtime.GC()
	for _, set := range lookupSets {
		ring := keyRing(n, set.mask)
		b.Run("single-"+set.name, func(b *testing.B) {
			var hits, i int
			for b.Loop() {
				if _, ok := m[ring[i&(len(ring)-1)]]; ok {
					hits++
				}
				i++
			}
			if hits != i {
				b.Fatalf("%d of %d lookups missed", i-hits, i)
			}
		})
	}
}

// benchKey is the i-th of a million distinct, well-spread FDB keys.
func benchKey(i uint64) uint64 {
	h := (i + 1) * 0x9E3779B97F4A7C15
	h ^= h >> 29
	m := [6]byte{0x02, byte(h >> 40), byte(h >> 32), byte(i >> 16), byte(i >> 8), byte(i)}
	return fdbKey(uint16(1+i%100), m)
}
