package flowtext

import (
	"testing"

	dp "github.com/switchyard-net/switchyard/internal/datapath"
)

func TestFormatDatapathMatch(t *testing.T) {
	exact := func(m *dp.Match, f dp.Field, v uint64) { m.SetExact(f, dp.Value{Lo: v}) }
	cases := []struct {
		name string
		set  func(m *dp.Match)
		want string
	}{
		{"nothing consulted", func(m *dp.Match) {}, "(any)"},
		{"port and untagged", func(m *dp.Match) {
			exact(m, dp.FieldInPort, 3)
			m.Set(dp.FieldVLANVID, dp.Value{}, dp.Value{Lo: 0x1fff})
		}, "in_port(3),vlan(none)"},
		{"tagged VLAN with PCP", func(m *dp.Match) {
			m.Set(dp.FieldVLANVID, dp.Value{Lo: 0x1000 | 10}, dp.Value{Lo: 0x1fff})
			exact(m, dp.FieldVLANPCP, 5)
		}, "vlan(vid=10,pcp=5)"},
		{"IPv4 TCP under masks", func(m *dp.Match) {
			exact(m, dp.FieldEthType, 0x0800)
			m.Set(dp.FieldIPv4Dst, dp.Value{Lo: 0xcb007100}, dp.Value{Lo: 0xffffff00})
			exact(m, dp.FieldIPProto, 6)
			exact(m, dp.FieldTPDst, 443)
		}, "eth_type(0x0800),ipv4(dst=203.0.113.0/24,proto=6),tcp(dst=443)"},
		{"ICMP type and code ride on the L4 ports", func(m *dp.Match) {
			exact(m, dp.FieldEthType, 0x0800)
			exact(m, dp.FieldIPProto, 1)
			exact(m, dp.FieldICMPType, 8)
			exact(m, dp.FieldICMPCode, 0)
		}, "eth_type(0x0800),ipv4(proto=1),icmp(type=8,code=0)"},
		// An ARP frame that met a subtable with L4 bits: nw_proto's bits hold
		// the ARP opcode, so no L4 group may be printed for it.
		{"ARP has no L4", func(m *dp.Match) {
			exact(m, dp.FieldEthType, 0x0806)
			m.Set(dp.FieldARPTPA, dp.Value{Lo: 0xcb007100}, dp.Value{Lo: 0xffffff00})
			exact(m, dp.FieldARPOp, 1)
			exact(m, dp.FieldIPProto, 1) // the extractor puts the opcode's low byte there too
			m.Mask[8] = ^uint64(0)       // the word tp_src/tp_dst share
		}, "eth_type(0x0806),arp(tip=203.0.113.0/24,op=1)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var m dp.Match
			c.set(&m)
			if got := FormatDatapathMatch(&m.Key, &m.Mask); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}
