package flowtext

import (
	"fmt"
	"strings"

	dp "github.com/switchyard-net/switchyard/internal/datapath"
)

// FormatDatapathMatch renders a cached decision's key under its mask the
// way ovs-appctl dpctl/dump-flows renders a megaflow:
// in_port(2),eth(src=…,dst=…),eth_type(0x0800),ipv4(dst=…/…),… — only the
// fields the decision consulted, with their masks.
func FormatDatapathMatch(k, mask *dp.Key) string {
	m := &dp.Match{Key: *k, Mask: *mask}
	for i := range m.Key {
		m.Key[i] &= m.Mask[i]
	}
	var parts []string
	get := func(f dp.Field) (dp.Value, dp.Value, bool) {
		v, mm := m.Get(f)
		return v, mm, !mm.IsZero()
	}
	field := func(name string, f dp.Field, format func(v, m dp.Value) string) string {
		v, mm, ok := get(f)
		if !ok {
			return ""
		}
		s := name + "=" + format(v, mm)
		return s
	}
	hex := func(v, mm dp.Value) string {
		if mm == (dp.Value{Lo: ^uint64(0) >> (64 - 16)}) || mm.Lo == 0xffffffff || mm.Lo == ^uint64(0) {
			return fmt.Sprintf("%#x", v.Lo)
		}
		return fmt.Sprintf("%#x/%#x", v.Lo, mm.Lo)
	}
	num := func(f dp.Field) func(v, mm dp.Value) string {
		return func(v, mm dp.Value) string {
			if mm == f.FullMask() {
				return fmt.Sprint(v.Lo)
			}
			return fmt.Sprintf("%d/%#x", v.Lo, mm.Lo)
		}
	}
	macf := func(v, mm dp.Value) string {
		if mm.Lo == 1<<48-1 {
			return mac(v.Lo)
		}
		return mac(v.Lo) + "/" + mac(mm.Lo)
	}
	group := func(name string, items ...string) {
		var l []string
		for _, it := range items {
			if it != "" {
				l = append(l, it)
			}
		}
		if len(l) > 0 {
			parts = append(parts, name+"("+strings.Join(l, ",")+")")
		}
	}
	if v, _, ok := get(dp.FieldInPort); ok {
		parts = append(parts, fmt.Sprintf("in_port(%d)", v.Lo))
	}
	group("tunnel", field("tun_id", dp.FieldTunID, hex), field("src", dp.FieldTunIPv4Src, func(v, mm dp.Value) string { return ipv4(v.Lo, mm.Lo) }),
		field("dst", dp.FieldTunIPv4Dst, func(v, mm dp.Value) string { return ipv4(v.Lo, mm.Lo) }))
	group("eth", field("src", dp.FieldEthSrc, macf), field("dst", dp.FieldEthDst, macf))
	if v, mm, ok := get(dp.FieldVLANVID); ok {
		switch {
		case v.Lo&0x1000 == 0 && mm.Lo&0x1000 != 0:
			parts = append(parts, "vlan(none)")
		default:
			p := fmt.Sprintf("vlan(vid=%d", v.Lo&0xfff)
			if mm.Lo&0xfff != 0xfff {
				p = fmt.Sprintf("vlan(vid=%d/%#x", v.Lo&0xfff, mm.Lo&0xfff)
			}
			if pv, pm, ok := get(dp.FieldVLANPCP); ok && !pm.IsZero() {
				p += fmt.Sprintf(",pcp=%d", pv.Lo)
			}
			parts = append(parts, p+")")
		}
	}
	if v, _, ok := get(dp.FieldEthType); ok {
		parts = append(parts, fmt.Sprintf("eth_type(0x%04x)", v.Lo))
	}
	et, _ := m.Get(dp.FieldEthType)
	switch et.Lo {
	case 0x0800:
		group("ipv4", field("src", dp.FieldIPv4Src, func(v, mm dp.Value) string { return ipv4(v.Lo, mm.Lo) }),
			field("dst", dp.FieldIPv4Dst, func(v, mm dp.Value) string { return ipv4(v.Lo, mm.Lo) }),
			field("proto", dp.FieldIPProto, num(dp.FieldIPProto)), field("dscp", dp.FieldIPDSCP, num(dp.FieldIPDSCP)),
			field("ttl", dp.FieldIPTTL, num(dp.FieldIPTTL)), field("frag", dp.FieldIPFrag, num(dp.FieldIPFrag)))
	case 0x86dd:
		group("ipv6", field("src", dp.FieldIPv6Src, ipv6), field("dst", dp.FieldIPv6Dst, ipv6),
			field("proto", dp.FieldIPProto, num(dp.FieldIPProto)), field("label", dp.FieldIPv6Label, hex),
			field("hlimit", dp.FieldIPTTL, num(dp.FieldIPTTL)))
	case 0x0806:
		group("arp", field("sip", dp.FieldARPSPA, func(v, mm dp.Value) string { return ipv4(v.Lo, mm.Lo) }),
			field("tip", dp.FieldARPTPA, func(v, mm dp.Value) string { return ipv4(v.Lo, mm.Lo) }),
			field("op", dp.FieldARPOp, num(dp.FieldARPOp)), field("sha", dp.FieldARPSHA, macf), field("tha", dp.FieldARPTHA, macf))
	}
	// L4 only for IP (for ARP, nw_proto's bits hold the opcode).
	var l4 string
	if proto, _ := m.Get(dp.FieldIPProto); et.Lo == 0x0800 || et.Lo == 0x86dd {
		l4 = map[uint64]string{6: "tcp", 17: "udp", 132: "sctp", 1: "icmp", 58: "icmpv6"}[proto.Lo]
	}
	if l4 == "icmp" || l4 == "icmpv6" {
		group(l4, field("type", dp.FieldICMPType, num(dp.FieldICMPType)), field("code", dp.FieldICMPCode, num(dp.FieldICMPCode)))
	} else if l4 != "" {
		group(l4, field("src", dp.FieldTPSrc, num(dp.FieldTPSrc)), field("dst", dp.FieldTPDst, num(dp.FieldTPDst)))
		if l4 == "tcp" {
			group("tcp_flags", field("", dp.FieldTCPFlags, func(v, mm dp.Value) string { return tcpFlags(v.Lo, mm.Lo) }))
		}
	}
	var regs []string
	for i := 0; i < 16; i++ {
		if s := field(fmt.Sprintf("reg%d", i), dp.FieldReg0+dp.Field(i), hex); s != "" {
			regs = append(regs, s)
		}
	}
	if s := field("metadata", dp.FieldMetadata, hex); s != "" {
		regs = append(regs, s)
	}
	group("md", regs...)
	if len(parts) == 0 {
		return "(any)"
	}
	return strings.Join(parts, ",")
}
