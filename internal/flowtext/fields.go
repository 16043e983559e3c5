// Package flowtext holds the flow syntax of Open vSwitch's ovs-ofctl: it
// parses lines like
//
//	table=0,priority=100,ip,nw_dst=203.0.113.0/24,actions=output:vm2
//
// into the engine's rules, and formats rules, matches and actions back the
// way ovs-ofctl dump-flows prints them, so that flows copied from Open
// vSwitch documentation work and dumps read alike. Errors name the field
// as it was typed, the allowed values, and the position in the text.
package flowtext

import (
	dp "github.com/switchyard-net/switchyard/internal/datapath"
)

// valueKind is how a field's value is written.
type valueKind uint8

const (
	vInt   valueKind = iota // decimal or 0x hex, optional /mask
	vMAC                    // xx:xx:xx:xx:xx:xx, optional /mask
	vIPv4                   // a.b.c.d, optional /prefix or /mask
	vIPv6                   // IPv6 address, optional /prefix or /mask
	vPort                   // a port name or number, or a reserved port
	vFlags                  // tcp_flags: +syn-ack… or a number with /mask
	vFrag                   // nw_frag: no, yes, first, later, not_later
)

// fieldSpec maps a name users type to an engine field.
type fieldSpec struct {
	field dp.Field
	kind  valueKind
	// shift and bits place the typed value inside the engine field (ip_dscp
	// is the top six bits of ip_tos in OpenFlow terms, nw_tos is the TOS
	// byte with its ECN bits zero).
	transform func(v, m uint64) (dp.Value, dp.Value, error)
}

// fields are the match fields by every name ovs-ofctl accepts (the Open
// vSwitch names, their NXM/OXM spellings, the OpenFlow 1.0 ones).
var fields = map[string]fieldSpec{}

func field(kind valueKind, f dp.Field, names ...string) {
	for _, n := range names {
		fields[n] = fieldSpec{field: f, kind: kind}
	}
}

func init() {
	field(vPort, dp.FieldInPort, "in_port", "in_port_oxm")
	field(vMAC, dp.FieldEthSrc, "dl_src", "eth_src")
	field(vMAC, dp.FieldEthDst, "dl_dst", "eth_dst")
	field(vInt, dp.FieldEthType, "dl_type", "eth_type")
	field(vInt, dp.FieldVLANVID, "vlan_vid")
	field(vInt, dp.FieldVLANPCP, "dl_vlan_pcp", "vlan_pcp")
	field(vInt, dp.FieldIPProto, "nw_proto", "ip_proto")
	field(vInt, dp.FieldIPDSCP, "ip_dscp")
	field(vInt, dp.FieldIPECN, "nw_ecn", "ip_ecn")
	field(vInt, dp.FieldIPTTL, "nw_ttl")
	field(vIPv4, dp.FieldIPv4Src, "ip_src", "ipv4_src")
	field(vIPv4, dp.FieldIPv4Dst, "ip_dst", "ipv4_dst")
	field(vIPv6, dp.FieldIPv6Src, "ipv6_src")
	field(vIPv6, dp.FieldIPv6Dst, "ipv6_dst")
	field(vInt, dp.FieldIPv6Label, "ipv6_label", "ipv6_flabel")
	field(vInt, dp.FieldTPSrc, "tp_src", "tcp_src", "udp_src", "sctp_src")
	field(vInt, dp.FieldTPDst, "tp_dst", "tcp_dst", "udp_dst", "sctp_dst")
	field(vFlags, dp.FieldTCPFlags, "tcp_flags")
	field(vInt, dp.FieldICMPType, "icmp_type", "icmpv4_type", "icmpv6_type")
	field(vInt, dp.FieldICMPCode, "icmp_code", "icmpv4_code", "icmpv6_code")
	field(vInt, dp.FieldARPOp, "arp_op")
	field(vIPv4, dp.FieldARPSPA, "arp_spa")
	field(vIPv4, dp.FieldARPTPA, "arp_tpa")
	field(vMAC, dp.FieldARPSHA, "arp_sha")
	field(vMAC, dp.FieldARPTHA, "arp_tha")
	field(vIPv6, dp.FieldNDTarget, "nd_target", "ipv6_nd_target")
	field(vMAC, dp.FieldNDSLL, "nd_sll", "ipv6_nd_sll")
	field(vMAC, dp.FieldNDTLL, "nd_tll", "ipv6_nd_tll")
	field(vInt, dp.FieldMetadata, "metadata")
	field(vInt, dp.FieldTunID, "tun_id", "tunnel_id")
	field(vIPv4, dp.FieldTunIPv4Src, "tun_src", "tun_ipv4_src")
	field(vIPv4, dp.FieldTunIPv4Dst, "tun_dst", "tun_ipv4_dst")
	field(vIPv6, dp.FieldTunIPv6Src, "tun_ipv6_src")
	field(vIPv6, dp.FieldTunIPv6Dst, "tun_ipv6_dst")
	field(vFrag, dp.FieldIPFrag, "nw_frag", "ip_frag")
	for i := 0; i < 16; i++ {
		n := "reg" + itoa(i)
		field(vInt, dp.FieldReg0+dp.Field(i), n)
	}
}

// nxmNames are the NXM/OXM names load and move take (NXM_NX_REG0[0..15]).
var nxmNames = map[string]dp.Field{
	"NXM_OF_IN_PORT": dp.FieldInPort, "OXM_OF_IN_PORT": dp.FieldInPort,
	"NXM_OF_ETH_DST": dp.FieldEthDst, "OXM_OF_ETH_DST": dp.FieldEthDst,
	"NXM_OF_ETH_SRC": dp.FieldEthSrc, "OXM_OF_ETH_SRC": dp.FieldEthSrc,
	"NXM_OF_ETH_TYPE": dp.FieldEthType, "OXM_OF_ETH_TYPE": dp.FieldEthType,
	"OXM_OF_VLAN_VID": dp.FieldVLANVID, "OXM_OF_VLAN_PCP": dp.FieldVLANPCP,
	"NXM_OF_IP_TOS": dp.FieldIPDSCP, "OXM_OF_IP_DSCP": dp.FieldIPDSCP, "OXM_OF_IP_ECN": dp.FieldIPECN, "NXM_NX_IP_ECN": dp.FieldIPECN,
	"NXM_NX_IP_TTL":   dp.FieldIPTTL,
	"NXM_OF_IP_PROTO": dp.FieldIPProto, "OXM_OF_IP_PROTO": dp.FieldIPProto,
	"NXM_OF_IP_SRC": dp.FieldIPv4Src, "OXM_OF_IPV4_SRC": dp.FieldIPv4Src,
	"NXM_OF_IP_DST": dp.FieldIPv4Dst, "OXM_OF_IPV4_DST": dp.FieldIPv4Dst,
	"NXM_NX_IPV6_SRC": dp.FieldIPv6Src, "OXM_OF_IPV6_SRC": dp.FieldIPv6Src,
	"NXM_NX_IPV6_DST": dp.FieldIPv6Dst, "OXM_OF_IPV6_DST": dp.FieldIPv6Dst,
	"NXM_NX_IPV6_LABEL": dp.FieldIPv6Label, "OXM_OF_IPV6_FLABEL": dp.FieldIPv6Label,
	"NXM_OF_TCP_SRC": dp.FieldTPSrc, "OXM_OF_TCP_SRC": dp.FieldTPSrc, "NXM_OF_UDP_SRC": dp.FieldTPSrc, "OXM_OF_UDP_SRC": dp.FieldTPSrc, "OXM_OF_SCTP_SRC": dp.FieldTPSrc,
	"NXM_OF_TCP_DST": dp.FieldTPDst, "OXM_OF_TCP_DST": dp.FieldTPDst, "NXM_OF_UDP_DST": dp.FieldTPDst, "OXM_OF_UDP_DST": dp.FieldTPDst, "OXM_OF_SCTP_DST": dp.FieldTPDst,
	"NXM_OF_ICMP_TYPE": dp.FieldICMPType, "OXM_OF_ICMPV4_TYPE": dp.FieldICMPType, "NXM_NX_ICMPV6_TYPE": dp.FieldICMPType, "OXM_OF_ICMPV6_TYPE": dp.FieldICMPType,
	"NXM_OF_ICMP_CODE": dp.FieldICMPCode, "OXM_OF_ICMPV4_CODE": dp.FieldICMPCode, "NXM_NX_ICMPV6_CODE": dp.FieldICMPCode, "OXM_OF_ICMPV6_CODE": dp.FieldICMPCode,
	"NXM_OF_ARP_OP": dp.FieldARPOp, "OXM_OF_ARP_OP": dp.FieldARPOp,
	"NXM_OF_ARP_SPA": dp.FieldARPSPA, "OXM_OF_ARP_SPA": dp.FieldARPSPA,
	"NXM_OF_ARP_TPA": dp.FieldARPTPA, "OXM_OF_ARP_TPA": dp.FieldARPTPA,
	"NXM_NX_ARP_SHA": dp.FieldARPSHA, "OXM_OF_ARP_SHA": dp.FieldARPSHA,
	"NXM_NX_ARP_THA": dp.FieldARPTHA, "OXM_OF_ARP_THA": dp.FieldARPTHA,
	"NXM_NX_ND_TARGET": dp.FieldNDTarget, "OXM_OF_IPV6_ND_TARGET": dp.FieldNDTarget,
	"NXM_NX_ND_SLL": dp.FieldNDSLL, "OXM_OF_IPV6_ND_SLL": dp.FieldNDSLL,
	"NXM_NX_ND_TLL": dp.FieldNDTLL, "OXM_OF_IPV6_ND_TLL": dp.FieldNDTLL,
	"OXM_OF_METADATA": dp.FieldMetadata,
	"NXM_NX_TUN_ID":   dp.FieldTunID, "OXM_OF_TUNNEL_ID": dp.FieldTunID,
	"NXM_NX_TUN_IPV4_SRC": dp.FieldTunIPv4Src, "NXM_NX_TUN_IPV4_DST": dp.FieldTunIPv4Dst,
	"NXM_NX_TUN_IPV6_SRC": dp.FieldTunIPv6Src, "NXM_NX_TUN_IPV6_DST": dp.FieldTunIPv6Dst,
}

func init() {
	for i := 0; i < 16; i++ {
		nxmNames["NXM_NX_REG"+itoa(i)] = dp.FieldReg0 + dp.Field(i)
	}
	// The plain field names work in load and move too (reg0[0..15], eth_src[]).
	for n, s := range fields {
		if _, ok := nxmNames[n]; !ok {
			nxmNames[n] = s.field
		}
	}
}

// nxmName is the name load and move are printed with.
func nxmName(f dp.Field) string {
	switch {
	case f >= dp.FieldReg0 && f <= dp.FieldRegLast:
		return "NXM_NX_REG" + itoa(int(f-dp.FieldReg0))
	}
	switch f {
	case dp.FieldInPort:
		return "NXM_OF_IN_PORT"
	case dp.FieldEthSrc:
		return "NXM_OF_ETH_SRC"
	case dp.FieldEthDst:
		return "NXM_OF_ETH_DST"
	case dp.FieldEthType:
		return "NXM_OF_ETH_TYPE"
	case dp.FieldIPv4Src:
		return "NXM_OF_IP_SRC"
	case dp.FieldIPv4Dst:
		return "NXM_OF_IP_DST"
	case dp.FieldARPOp:
		return "NXM_OF_ARP_OP"
	case dp.FieldARPSPA:
		return "NXM_OF_ARP_SPA"
	case dp.FieldARPTPA:
		return "NXM_OF_ARP_TPA"
	case dp.FieldARPSHA:
		return "NXM_NX_ARP_SHA"
	case dp.FieldARPTHA:
		return "NXM_NX_ARP_THA"
	case dp.FieldTunID:
		return "NXM_NX_TUN_ID"
	case dp.FieldTunIPv4Src:
		return "NXM_NX_TUN_IPV4_SRC"
	case dp.FieldTunIPv4Dst:
		return "NXM_NX_TUN_IPV4_DST"
	case dp.FieldTPSrc:
		return "NXM_OF_TCP_SRC"
	case dp.FieldTPDst:
		return "NXM_OF_TCP_DST"
	case dp.FieldIPv6Src:
		return "NXM_NX_IPV6_SRC"
	case dp.FieldIPv6Dst:
		return "NXM_NX_IPV6_DST"
	case dp.FieldNDTarget:
		return "NXM_NX_ND_TARGET"
	case dp.FieldMetadata:
		return "OXM_OF_METADATA"
	}
	return f.String()
}

// shorthands are the protocol words: each sets eth_type and maybe
// ip_proto.
var shorthands = map[string]struct {
	ethType uint16
	proto   uint8
}{
	"ip": {0x0800, 0}, "ipv4": {0x0800, 0}, "ipv6": {0x86dd, 0}, "arp": {0x0806, 0}, "rarp": {0x8035, 0},
	"icmp": {0x0800, 1}, "icmp6": {0x86dd, 58}, "tcp": {0x0800, 6}, "tcp6": {0x86dd, 6},
	"udp": {0x0800, 17}, "udp6": {0x86dd, 17}, "sctp": {0x0800, 132}, "sctp6": {0x86dd, 132},
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return string(rune('0'+i/10)) + string(rune('0'+i%10))
}

// reservedPorts are the OpenFlow reserved ports by name.
var reservedPorts = map[string]uint32{
	"IN_PORT": dp.PortInPort, "TABLE": dp.PortTable, "NORMAL": dp.PortNormal, "FLOOD": dp.PortFlood,
	"ALL": dp.PortAll, "CONTROLLER": dp.PortController, "LOCAL": dp.PortLocal, "ANY": dp.PortAny, "NONE": dp.PortAny,
}

// tcpFlagNames are tcp_flags' names, bit by bit from the lowest.
var tcpFlagNames = []string{"fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns"}
