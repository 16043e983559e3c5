package datapath

import (
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
