package datapath

import (
	"math/rand/v2"
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

// BenchmarkFDBLookup1M looks up random keys in an FDB of one million
// entries.
func BenchmarkFDBLookup1M(b *testing.B) {
	const n = 1 << 20
	f := newFDB(n, FullRefuse)
	keys := make([]uint64, n)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range keys {
		m := [6]byte{0x02, byte(rng.Uint32()), byte(rng.Uint32()), byte(i >> 16), byte(i >> 8), byte(i)}
		keys[i] = fdbKey(uint16(1+i%100), m)
		f.learn(keys[i], uint16(1+i%8), NoEndpoint, 0)
	}
	if s := f.stats(); s.Entries != n {
		b.Fatalf("fdb holds %d entries, want %d", s.Entries, n)
	}
	order := make([]uint32, 1<<16)
	for i := range order {
		order[i] = uint32(rng.IntN(n))
	}
	b.ReportAllocs()
	b.ResetTimer()
	var hits int
	i := 0
	for b.Loop() {
		if _, ok := f.lookup(keys[order[i&(1<<16-1)]]); ok {
			hits++
		}
		i++
	}
	if hits != i {
		b.Fatalf("%d of %d lookups missed", i-hits, i)
	}
	b.ReportMetric(f.bytesPerEntry(), "B/entry")
}
