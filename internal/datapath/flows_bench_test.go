package datapath

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// aclRules builds n rules over three tables with eight distinct masks, like
// an ACL in front of NORMAL: table 0 admits by source subnet and drops some
// TCP ports, table 1 by destination host, subnet or UDP port, table 2 by
// VLAN or destination MAC; each table ends in a low-priority rule to the
// next, the last in NORMAL.
func aclRules(n int, rng *rand.Rand) []Rule {
	var rules []Rule
	ip := func(m *Match) { m.SetExact(FieldEthType, Value{Lo: etherTypeIPv4}) }
	proto := func(m *Match, p uint64) { ip(m); m.SetExact(FieldIPProto, Value{Lo: p}) }
	gotoNext := func(t uint8) Instructions { return Instructions{Goto: int(t) + 1} }
	normal := Instructions{Apply: []Action{{Kind: ActOutput, Port: PortNormal}}, Goto: NoGoto}
	drop := Instructions{Apply: []Action{}, Goto: NoGoto}
	for i := 0; len(rules) < n; i++ {
		var r Rule
		switch i % 8 {
		case 0: // t0: in_port + source /24 (mask 1)
			r.Table, r.Priority = 0, 100
			ip(&r.Match)
			r.Match.SetExact(FieldInPort, Value{Lo: 1})
			r.Match.Set(FieldIPv4Src, Value{Lo: uint64(0xc6120000 | uint32(i)<<8)}, Value{Lo: 0xffffff00})
			r.Instr = gotoNext(0)
		case 1: // t0: tcp dst port drop (mask 2)
			r.Table, r.Priority = 0, 200
			proto(&r.Match, 6)
			r.Match.SetExact(FieldTPDst, Value{Lo: uint64(1000 + i)})
			r.Instr = drop
		case 2: // t0: arp by target (mask 3)
			r.Table, r.Priority = 0, 150
			r.Match.SetExact(FieldEthType, Value{Lo: etherTypeARP})
			r.Match.SetExact(FieldARPTPA, Value{Lo: uint64(0xcb007100 | uint32(i&0xff))})
			r.Instr = gotoNext(0)
		case 3: // t1: destination host + tcp port (mask 4)
			r.Table, r.Priority = 1, 300
			proto(&r.Match, 6)
			r.Match.SetExact(FieldIPv4Dst, Value{Lo: uint64(0xcb007100 | uint32(i&0xff))})
			r.Match.SetExact(FieldTPDst, Value{Lo: uint64(80 + i%4)})
			r.Instr = gotoNext(1)
		case 4: // t1: destination /16 (mask 5)
			r.Table, r.Priority = 1, 200
			ip(&r.Match)
			r.Match.Set(FieldIPv4Dst, Value{Lo: uint64(0xc6330000 | uint32(i)<<16)}, Value{Lo: 0xffff0000})
			r.Instr = gotoNext(1)
		case 5: // t1: udp destination port (mask 6)
			r.Table, r.Priority = 1, 250
			proto(&r.Match, 17)
			r.Match.SetExact(FieldTPDst, Value{Lo: uint64(5000 + i)})
			r.Instr = drop
		case 6: // t2: VLAN (mask 7)
			r.Table, r.Priority = 2, 100
			r.Match.Set(FieldVLANVID, Value{Lo: 0x1000 | uint64(1+i%4094)}, Value{Lo: 0x1fff})
			r.Instr = normal
		case 7: // t2: destination MAC (mask 8)
			r.Table, r.Priority = 2, 90
			r.Match.SetExact(FieldEthDst, Value{Lo: 0x020000100000 | uint64(i)})
			r.Instr = normal
		}
		r.Priority += uint16(rng.IntN(50))
		rules = append(rules, r)
	}
	// Table misses go on, and the last table ends in NORMAL.
	rules = append(rules, Rule{Table: 0, Priority: 0, Instr: gotoNext(0)}, Rule{Table: 1, Priority: 0, Instr: gotoNext(1)}, Rule{Table: 2, Priority: 0, Instr: normal})
	return rules
}

// tcpFrame is an untagged IPv4/TCP frame.
func tcpFrame(dst, src [6]byte, sip, dip uint32, sport, dport uint16) []byte {
	b := frame(dst, src, -1, 0)[:12]
	b = binary.BigEndian.AppendUint16(b, etherTypeIPv4)
	ip := make([]byte, 20)
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[2:], 40)
	binary.BigEndian.PutUint32(ip[12:], sip)
	binary.BigEndian.PutUint32(ip[16:], dip)
	b = append(b, ip...)
	tcp := make([]byte, 20)
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	tcp[12] = 5 << 4
	return append(b, tcp...)
}

func aclBridge(b testing.TB, n int) (*Bridge, *Port, *Port) {
	br, err := NewBridge("acl", BridgeConfig{})
	if err != nil {
		b.Fatal(err)
	}
	in, _ := br.AddPort("in", &memPort{}, PortConfig{})
	out, _ := br.AddPort("out", &memPort{}, PortConfig{})
	if err := br.ReplaceFlows(aclRules(n, rand.New(rand.NewPCG(1, 2)))); err != nil {
		b.Fatal(err)
	}
	// Learn the destinations on "out".
	learn := make([]*Packet, 256)
	for i := range learn {
		learn[i] = NewPacket(64)
		learn[i].SetData(frame(bcast, mac(10000+i), -1, 46))
	}
	out.Receive(learn)
	return br, in, out
}

// aclBatch is 64 TCP frames of 64 flows that pass the ACL to known hosts.
func aclBatch(flows int) []*Packet {
	batch := make([]*Packet, benchBatch)
	for i := range batch {
		f := i % flows
		batch[i] = NewPacket(2048)
		batch[i].SetData(tcpFrame(mac(10000+f%256), mac(f), 0xc6120000|uint32(f)<<8|7, 0xcb007100|uint32(f&0xff), uint16(40000+f), 443))
	}
	return batch
}

// BenchmarkACLCacheHit forwards TCP frames of 64 flows through 1,000 rules
// in three tables with eight masks in front of NORMAL: every frame is a
// decision-cache hit.
func BenchmarkACLCacheHit(b *testing.B) { benchACLHit(b, 1000) }

// BenchmarkACLMiss is the miss path: every frame is a new flow (the full
// pipeline and a cache insert); the cache is flushed when it fills.
func BenchmarkACLMiss(b *testing.B) { benchACLMiss(b, 1000) }

// BenchmarkACL100kCacheHit is BenchmarkACLCacheHit with 100,000 rules.
func BenchmarkACL100kCacheHit(b *testing.B) { benchACLHit(b, 100_000) }

// BenchmarkACL100kMiss is BenchmarkACLMiss with 100,000 rules.
func BenchmarkACL100kMiss(b *testing.B) { benchACLMiss(b, 100_000) }

func benchACLHit(b *testing.B, rules int) {
	_, in, out := aclBridge(b, rules)
	batch := aclBatch(64)
	in.Receive(batch) // warm the cache
	b.ReportAllocs()
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

func benchACLMiss(b *testing.B, rules int) {
	br, in, _ := aclBridge(b, rules)
	batch := make([]*Packet, benchBatch)
	for i := range batch {
		batch[i] = NewPacket(2048)
	}
	f := tcpFrame(mac(10000), mac(1), 0xc6120107, 0xcb007101, 40000, 443)
	var flow uint32
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, p := range batch {
			p.SetData(f)
			flow++
			d := p.Data()
			binary.BigEndian.PutUint16(d[36:], uint16(flow))       // destination port: in the megaflow
			binary.BigEndian.PutUint16(d[30+2:], uint16(flow>>16)) // destination address low bits
		}
		in.Receive(batch)
		if br.cache.n.Load() > DefaultCacheMax-2*benchBatch {
			b.StopTimer()
			br.FlushCache()
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds()/1e6, "Mpps")
}

// BenchmarkInstall100k installs 100,000 rules in one transaction (what
// `flow add --file` does after parsing) and reports the memory per rule.
func BenchmarkInstall100k(b *testing.B) {
	rules := aclRules(100_000, rand.New(rand.NewPCG(1, 2)))
	var before, after runtime.MemStats
	for b.Loop() {
		br, _ := NewBridge("install", BridgeConfig{})
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		if err := br.ReplaceFlows(rules); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/100k")
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(rules)), "B/rule")
		runtime.KeepAlive(br)
	}
}

// BenchmarkFlowModOne adds one rule at a time to a bridge that holds
// 100,000 (each in its own transaction and snapshot, as unbatched OpenFlow
// flow mods are).
func BenchmarkFlowModOne(b *testing.B) {
	br, _ := NewBridge("mods", BridgeConfig{})
	if err := br.ReplaceFlows(aclRules(100_000, rand.New(rand.NewPCG(1, 2)))); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		var r Rule
		r.Table, r.Priority = 1, 500
		r.Match.SetExact(FieldEthType, Value{Lo: etherTypeIPv4})
		r.Match.SetExact(FieldIPv4Dst, Value{Lo: uint64(0xc0000200 + i)})
		r.Instr = Instructions{Apply: []Action{{Kind: ActOutput, Port: 2}}, Goto: NoGoto}
		if _, _, err := br.ApplyFlowMods([]FlowMod{{Command: FlowAdd, Rule: r}}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

var _ = fmt.Sprint
