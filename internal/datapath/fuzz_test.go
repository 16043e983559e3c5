package datapath

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// FuzzPipeline feeds arbitrary bytes as frames into every port of a bridge
// with mixed access, trunk, default and tunnel ports. It must never panic,
// and every copy that leaves must be in the frame's VLAN (isolation).
func FuzzPipeline(f *testing.F) {
	f.Add(uint8(0), uint32(5001), frame(bcast, mac(1), -1, 46))
	f.Add(uint8(3), uint32(5001), frame(bcast, mac(1), 20, 46))
	f.Add(uint8(8), uint32(5004), frame(mac(2), mac(1), -1, 10))
	f.Add(uint8(5), uint32(0), frame(bcast, mac(1), 5<<13, 0))
	f.Add(uint8(1), uint32(0), []byte{0x01, 0x80, 0xc2, 0, 0, 0})
	var got []egress
	b, _ := NewBridge("fuzz", BridgeConfig{MaxLearned: 64, FullPolicy: FullEvictOldest})
	sp := isolationPorts()
	bps := make([]*Port, len(sp))
	for i, s := range sp {
		s.got = &got
		bps[i], _ = b.AddPort(s.name, s, s.cfg)
	}
	ep, _ := InternEndpoint(netip.MustParseAddr("198.18.0.7"))
	pkt := NewPacket(MaxFrame)
	f.Fuzz(func(t *testing.T, port uint8, vni uint32, data []byte) {
		if len(data) > MaxFrame {
			return
		}
		in := int(port) % len(sp)
		pkt.SetData(data)
		if sp[in].cfg.Tunnel {
			pkt.Tunnel = TunnelMeta{Valid: true, VNI: vni & 0xffffff, Remote: ep}
		}
		got = got[:0]
		bps[in].Receive([]*Packet{pkt})
		want, ok := modelVLAN(sp[in].cfg, data, vni&0xffffff)
		if !ok && len(got) > 0 {
			t.Fatalf("frame on %s must be dropped, left on %+v", sp[in].name, got)
		}
		for _, e := range got {
			if e.port == sp[in].name || e.vlan != want {
				t.Fatalf("frame on %s in VLAN %d left %s as VLAN %d", sp[in].name, want, e.port, e.vlan)
			}
		}
	})
}

// FuzzPipelineFlows feeds arbitrary frames through a bridge whose flow
// tables are random (the seed picks them): it must never panic, and a bridge
// that decides every frame fresh must send exactly what the one with a warm
// decision cache sends.
func FuzzPipelineFlows(f *testing.F) {
	f.Add(uint64(1), uint8(0), tcpFrame(mac(2), mac(1), 0xc6120001, 0xcb007101, 1000, 80))
	f.Add(uint64(2), uint8(3), frame(bcast, mac(1), 10, 46))
	f.Add(uint64(3), uint8(4), frame(mac(2), mac(1), -1, 10))
	f.Add(uint64(4), uint8(1), l4Frame(true, 17, 20))
	cfgs := []PortConfig{access(10), access(20), trunk("10,20", 0, false), {}, trunk("10,20,30", 30, false)}
	f.Fuzz(func(t *testing.T, seed uint64, port uint8, data []byte) {
		if len(data) > 4096 {
			return
		}
		rng := rand.New(rand.NewPCG(seed, seed>>32))
		var ref []refRule
		for i := 1 + rng.IntN(12); i > 0; i-- {
			ref = append(ref, randRefRule(rng, len(cfgs), ref))
		}
		var rules []Rule
		for _, r := range ref {
			rules = append(rules, r.rule())
		}
		var tbs [2]*testBridge
		for i := range tbs {
			tbs[i] = newTestBridge(t, BridgeConfig{})
			for j, c := range cfgs {
				tbs[i].add(fmt.Sprint("p", j+1), c)
			}
			if err := tbs[i].b.ReplaceFlows(rules); err != nil {
				t.Fatal(err)
			}
		}
		name := fmt.Sprint("p", 1+int(port)%len(cfgs))
		// Twice, so the second frame meets A's cached decision.
		for round := 0; round < 2; round++ {
			tbs[0].send(name, data)
			tbs[1].b.FlushCache()
			tbs[1].send(name, data)
			if a, b := tbs[0].got(), tbs[1].got(); !sameOutputs(a, b) {
				t.Fatalf("cached %s, uncached %s", describe(a), describe(b))
			}
		}
	})
}
