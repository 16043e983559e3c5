package flowtext

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	dp "github.com/switchyard-net/switchyard/internal/datapath"
)

// PortNamer names port numbers when formatting (nil: numbers).
type PortNamer func(no uint32) string

func (n PortNamer) name(no uint32) string {
	switch no {
	case dp.PortInPort:
		return "IN_PORT"
	case dp.PortTable:
		return "TABLE"
	case dp.PortNormal:
		return "NORMAL"
	case dp.PortFlood:
		return "FLOOD"
	case dp.PortAll:
		return "ALL"
	case dp.PortController:
		return "CONTROLLER"
	case dp.PortLocal:
		return "LOCAL"
	case dp.PortAny:
		return "ANY"
	}
	if n != nil {
		if s := n(no); s != "" {
			return s
		}
	}
	return fmt.Sprint(no)
}

// Namer returns a PortNamer over ports (nil ports: numbers).
func Namer(ports Ports) PortNamer {
	if ports == nil {
		return nil
	}
	return ports.PortName
}

// matchOrder is the order fields are printed in (Open vSwitch's, roughly).
var matchOrder = []dp.Field{
	dp.FieldInPort, dp.FieldTunID, dp.FieldTunIPv4Src, dp.FieldTunIPv4Dst, dp.FieldTunIPv6Src, dp.FieldTunIPv6Dst, dp.FieldMetadata,
	dp.FieldReg0, dp.FieldReg0 + 1, dp.FieldReg0 + 2, dp.FieldReg0 + 3, dp.FieldReg0 + 4, dp.FieldReg0 + 5, dp.FieldReg0 + 6, dp.FieldReg0 + 7,
	dp.FieldReg0 + 8, dp.FieldReg0 + 9, dp.FieldReg0 + 10, dp.FieldReg0 + 11, dp.FieldReg0 + 12, dp.FieldReg0 + 13, dp.FieldReg0 + 14, dp.FieldRegLast,
	dp.FieldEthSrc, dp.FieldEthDst, dp.FieldVLANVID, dp.FieldVLANPCP, dp.FieldEthType,
	dp.FieldIPv4Src, dp.FieldIPv4Dst, dp.FieldARPSPA, dp.FieldARPTPA, dp.FieldIPv6Src, dp.FieldIPv6Dst, dp.FieldIPv6Label,
	dp.FieldIPProto, dp.FieldIPDSCP, dp.FieldIPECN, dp.FieldIPTTL, dp.FieldIPFrag, dp.FieldARPOp, dp.FieldARPSHA, dp.FieldARPTHA,
	dp.FieldTPSrc, dp.FieldTPDst, dp.FieldICMPType, dp.FieldICMPCode, dp.FieldTCPFlags, dp.FieldNDTarget, dp.FieldNDSLL, dp.FieldNDTLL,
}

// FormatMatch renders a match as ovs-ofctl does: a protocol shorthand (ip,
// tcp, arp, …) when it fits, then the other fields.
func FormatMatch(m *dp.Match, names PortNamer) string {
	var parts []string
	et, etExact := exactOf(m, dp.FieldEthType)
	proto, protoExact := exactOf(m, dp.FieldIPProto)
	skip := map[dp.Field]bool{}
	if etExact {
		short := ""
		for name, sh := range shorthands {
			if uint64(sh.ethType) == et && (sh.proto == 0 && !protoExact || protoExact && uint64(sh.proto) == proto && sh.proto != 0) && name != "ipv4" {
				short = name
			}
		}
		if short != "" {
			parts = append(parts, short)
			skip[dp.FieldEthType] = true
			if protoExact && short != "ip" && short != "ipv6" {
				skip[dp.FieldIPProto] = true
			}
		}
	}
	isARP := etExact && (et == 0x0806 || et == 0x8035)
	isICMP := protoExact && (proto == 1 || proto == 58)
	for _, f := range matchOrder {
		if skip[f] || !m.Has(f) {
			continue
		}
		v, mask := m.Get(f)
		// ARP addresses and ND link-layer addresses share IPv4's and
		// ARP's bits: print them under the protocol's name.
		switch {
		case isARP && (f == dp.FieldIPv4Src || f == dp.FieldIPv4Dst):
			continue
		case !isARP && (f == dp.FieldARPSPA || f == dp.FieldARPTPA || f == dp.FieldARPOp):
			continue
		case isICMP && (f == dp.FieldTPSrc || f == dp.FieldTPDst):
			continue
		case !isICMP && (f == dp.FieldICMPType || f == dp.FieldICMPCode):
			continue
		case !isARP && (f == dp.FieldARPSHA || f == dp.FieldARPTHA):
			continue
		case isARP && (f == dp.FieldNDSLL || f == dp.FieldNDTLL):
			continue
		case f == dp.FieldIPProto && isARP:
			continue
		}
		parts = append(parts, formatField(f, v, mask, names))
	}
	return strings.Join(parts, ",")
}

func exactOf(m *dp.Match, f dp.Field) (uint64, bool) {
	v, mask := m.Get(f)
	return v.Lo, mask == f.FullMask()
}

// fieldName is the name a field is printed with.
func fieldName(f dp.Field) string {
	switch f {
	case dp.FieldEthSrc:
		return "dl_src"
	case dp.FieldEthDst:
		return "dl_dst"
	case dp.FieldEthType:
		return "dl_type"
	case dp.FieldIPv4Src:
		return "nw_src"
	case dp.FieldIPv4Dst:
		return "nw_dst"
	case dp.FieldIPProto:
		return "nw_proto"
	case dp.FieldIPDSCP:
		return "ip_dscp"
	case dp.FieldIPECN:
		return "nw_ecn"
	case dp.FieldTPSrc:
		return "tp_src"
	case dp.FieldTPDst:
		return "tp_dst"
	case dp.FieldTunID:
		return "tun_id"
	case dp.FieldTunIPv4Src:
		return "tun_src"
	case dp.FieldTunIPv4Dst:
		return "tun_dst"
	case dp.FieldNDTarget:
		return "nd_target"
	case dp.FieldNDSLL:
		return "nd_sll"
	case dp.FieldNDTLL:
		return "nd_tll"
	case dp.FieldIPv6Label:
		return "ipv6_label"
	case dp.FieldIPFrag:
		return "nw_frag"
	}
	return f.String()
}

func formatField(f dp.Field, v, m dp.Value, names PortNamer) string {
	full := m == f.FullMask()
	switch f {
	case dp.FieldInPort:
		return "in_port=" + names.name(uint32(v.Lo))
	case dp.FieldVLANVID:
		switch {
		case m.Lo == 0x1fff && v.Lo&0x1000 != 0:
			return fmt.Sprintf("dl_vlan=%d", v.Lo&0xfff)
		case m.Lo == 0x1fff && v.Lo == 0:
			return "vlan_tci=0x0000/0x1fff"
		}
		return fmt.Sprintf("vlan_tci=0x%04x/0x%04x", v.Lo, m.Lo)
	case dp.FieldVLANPCP:
		return fmt.Sprintf("dl_vlan_pcp=%d", v.Lo)
	case dp.FieldEthSrc, dp.FieldEthDst, dp.FieldARPSHA, dp.FieldARPTHA, dp.FieldNDSLL, dp.FieldNDTLL:
		s := fieldName(f) + "=" + mac(v.Lo)
		if !full {
			s += "/" + mac(m.Lo)
		}
		return s
	case dp.FieldIPv4Src, dp.FieldIPv4Dst, dp.FieldARPSPA, dp.FieldARPTPA, dp.FieldTunIPv4Src, dp.FieldTunIPv4Dst:
		return fieldName(f) + "=" + ipv4(v.Lo, m.Lo)
	case dp.FieldIPv6Src, dp.FieldIPv6Dst, dp.FieldNDTarget, dp.FieldTunIPv6Src, dp.FieldTunIPv6Dst:
		return fieldName(f) + "=" + ipv6(v, m)
	case dp.FieldEthType:
		return fmt.Sprintf("dl_type=0x%04x", v.Lo)
	case dp.FieldTCPFlags:
		return "tcp_flags=" + tcpFlags(v.Lo, m.Lo)
	case dp.FieldIPFrag:
		for name, fm := range fragValues {
			if fm[0] == v.Lo && fm[1] == m.Lo {
				return "nw_frag=" + name
			}
		}
	case dp.FieldIPDSCP:
		return fmt.Sprintf("nw_tos=%d", v.Lo<<2)
	}
	if full && f.Info().Bits <= 16 || full && (f == dp.FieldIPTTL || f == dp.FieldIPProto) {
		return fmt.Sprintf("%s=%d", fieldName(f), v.Lo)
	}
	if full {
		return fmt.Sprintf("%s=%#x", fieldName(f), v.Lo)
	}
	return fmt.Sprintf("%s=%#x/%#x", fieldName(f), v.Lo, m.Lo)
}

func mac(w uint64) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", byte(w>>40), byte(w>>32), byte(w>>24), byte(w>>16), byte(w>>8), byte(w))
}

func ipv4(v, m uint64) string {
	a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	if m == 0xffffffff {
		return a.String()
	}
	for n := 0; n <= 32; n++ {
		if uint64(0xffffffff)<<(32-n)&0xffffffff == m {
			return fmt.Sprintf("%s/%d", a, n)
		}
	}
	return a.String() + "/" + netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
}

func to16(v dp.Value) netip.Addr {
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i], b[8+i] = byte(v.Hi>>(56-8*i)), byte(v.Lo>>(56-8*i))
	}
	return netip.AddrFrom16(b)
}

func ipv6(v, m dp.Value) string {
	a := to16(v)
	if m == (dp.Value{Hi: ^uint64(0), Lo: ^uint64(0)}) {
		return a.String()
	}
	for n := 0; n <= 128; n++ {
		if prefix6(n) == m {
			return fmt.Sprintf("%s/%d", a, n)
		}
	}
	return a.String() + "/" + to16(m).String()
}

func tcpFlags(v, m uint64) string {
	var b strings.Builder
	for i, n := range tcpFlagNames {
		if m&(1<<i) == 0 {
			continue
		}
		if v&(1<<i) != 0 {
			b.WriteByte('+')
		} else {
			b.WriteByte('-')
		}
		b.WriteString(n)
	}
	return b.String()
}

// FormatInstructions renders instructions as ovs-ofctl does after
// "actions=".
func FormatInstructions(in *dp.Instructions, names PortNamer) string {
	var parts []string
	if in.Meter != 0 {
		parts = append(parts, fmt.Sprintf("meter:%d", in.Meter))
	}
	for i := range in.Apply {
		parts = append(parts, FormatAction(&in.Apply[i], names))
	}
	if in.Clear {
		parts = append(parts, "clear_actions")
	}
	if len(in.Write) > 0 {
		var w []string
		for i := range in.Write {
			w = append(w, FormatAction(&in.Write[i], names))
		}
		parts = append(parts, "write_actions("+strings.Join(w, ",")+")")
	}
	if in.WriteMetadata {
		if in.MetadataMask == ^uint64(0) {
			parts = append(parts, fmt.Sprintf("write_metadata:%#x", in.Metadata))
		} else {
			parts = append(parts, fmt.Sprintf("write_metadata:%#x/%#x", in.Metadata, in.MetadataMask))
		}
	}
	if in.Goto != dp.NoGoto && in.Goto != 0 {
		parts = append(parts, fmt.Sprintf("goto_table:%d", in.Goto))
	}
	if len(parts) == 0 {
		return "drop"
	}
	return strings.Join(parts, ",")
}

// FormatAction renders one action.
func FormatAction(a *dp.Action, names PortNamer) string {
	switch a.Kind {
	case dp.ActOutput:
		switch a.Port {
		case dp.PortNormal, dp.PortFlood, dp.PortAll, dp.PortLocal, dp.PortInPort:
			return names.name(a.Port)
		case dp.PortController:
			if a.MaxLen != 0 && a.MaxLen != 0xffff {
				return fmt.Sprintf("CONTROLLER:%d", a.MaxLen)
			}
			return "CONTROLLER:65535"
		}
		return "output:" + names.name(a.Port)
	case dp.ActController:
		var args []string
		if a.Reason != dp.PacketInAction {
			for name, r := range packetInReasons {
				if r == a.Reason {
					args = append(args, "reason="+name)
				}
			}
		}
		if a.MaxLen != 0xffff && a.MaxLen != 0 {
			args = append(args, fmt.Sprintf("max_len=%d", a.MaxLen))
		}
		if a.ControllerID != 0 {
			args = append(args, fmt.Sprintf("id=%d", a.ControllerID))
		}
		if a.Userdata != "" {
			var hex []string
			for _, c := range []byte(a.Userdata) {
				hex = append(hex, fmt.Sprintf("%02x", c))
			}
			args = append(args, "userdata="+strings.Join(hex, "."))
		}
		if len(args) == 0 {
			return "CONTROLLER:65535"
		}
		return "controller(" + strings.Join(args, ",") + ")"
	case dp.ActOutputReg:
		return "output:" + sub(a.Src, int(a.SrcOfs), int(a.NBits))
	case dp.ActExit:
		return "exit"
	case dp.ActGroup:
		return fmt.Sprintf("group:%d", a.ID)
	case dp.ActSetQueue:
		return fmt.Sprintf("set_queue:%d", a.ID)
	case dp.ActMeter:
		return fmt.Sprintf("meter:%d", a.ID)
	case dp.ActPushVLAN:
		return fmt.Sprintf("push_vlan:0x%04x", a.EtherType)
	case dp.ActPopVLAN:
		return "strip_vlan"
	case dp.ActDecTTL:
		return "dec_ttl"
	case dp.ActResubmit:
		switch {
		case a.Table == dp.TableAll:
			return "resubmit:" + names.name(a.Port)
		case a.Port == dp.PortInPort:
			return fmt.Sprintf("resubmit(,%d)", a.Table)
		}
		return fmt.Sprintf("resubmit(%s,%d)", names.name(a.Port), a.Table)
	case dp.ActMove:
		return fmt.Sprintf("move:%s->%s", sub(a.Src, int(a.SrcOfs), int(a.NBits)), sub(a.Field, int(a.DstOfs), int(a.NBits)))
	case dp.ActSetField:
		return formatSet(a, names)
	}
	return fmt.Sprintf("unknown(%d)", a.Kind)
}

func sub(f dp.Field, ofs, n int) string {
	w := int(f.Info().Bits)
	if f == dp.FieldVLANVID {
		w = 13
	}
	if ofs == 0 && n == w {
		return nxmName(f) + "[]"
	}
	if n == 1 {
		return fmt.Sprintf("%s[%d]", nxmName(f), ofs)
	}
	return fmt.Sprintf("%s[%d..%d]", nxmName(f), ofs, ofs+n-1)
}

// formatSet renders a set_field, with ovs-ofctl's mod_* names where they
// say the same thing.
func formatSet(a *dp.Action, names PortNamer) string {
	f, v, m := a.Field, a.Value, a.Mask
	full := m == f.FullMask() || m.IsZero()
	if full {
		switch f {
		case dp.FieldVLANVID:
			if a.PushVLAN {
				return fmt.Sprintf("mod_vlan_vid:%d", v.Lo&0xfff)
			}
			return fmt.Sprintf("set_field:%d->vlan_vid", v.Lo&0xfff)
		case dp.FieldVLANPCP:
			if a.PushVLAN {
				return fmt.Sprintf("mod_vlan_pcp:%d", v.Lo)
			}
			return fmt.Sprintf("set_field:%d->vlan_pcp", v.Lo)
		case dp.FieldEthSrc:
			return "mod_dl_src:" + mac(v.Lo)
		case dp.FieldEthDst:
			return "mod_dl_dst:" + mac(v.Lo)
		case dp.FieldIPv4Src:
			return "mod_nw_src:" + ipv4(v.Lo, 0xffffffff)
		case dp.FieldIPv4Dst:
			return "mod_nw_dst:" + ipv4(v.Lo, 0xffffffff)
		case dp.FieldIPDSCP:
			return fmt.Sprintf("mod_nw_tos:%d", v.Lo<<2)
		case dp.FieldIPECN:
			return fmt.Sprintf("mod_nw_ecn:%d", v.Lo)
		case dp.FieldIPTTL:
			return fmt.Sprintf("mod_nw_ttl:%d", v.Lo)
		case dp.FieldTPSrc:
			return fmt.Sprintf("mod_tp_src:%d", v.Lo)
		case dp.FieldTPDst:
			return fmt.Sprintf("mod_tp_dst:%d", v.Lo)
		case dp.FieldTunID:
			return fmt.Sprintf("set_tunnel:%#x", v.Lo)
		}
		return "set_field:" + valueText(f, v, f.FullMask(), names) + "->" + fieldName(f)
	}
	// A partial write: load:VALUE->FIELD[range] when the mask is one run.
	if ofs, n, ok := run(m); ok && n <= 64 {
		x := v.Lo >> ofs
		if ofs >= 64 {
			x = v.Hi >> (ofs - 64)
		} else if ofs > 0 && v.Hi != 0 {
			x |= v.Hi << (64 - ofs)
		}
		return fmt.Sprintf("load:%#x->%s", x, sub(f, ofs, n))
	}
	return "set_field:" + valueText(f, v, m, names) + "->" + fieldName(f)
}

// run returns the offset and length of m if its bits are one contiguous run.
func run(m dp.Value) (ofs, n int, ok bool) {
	ofs = -1
	for b := 0; b < 128; b++ {
		set := b < 64 && m.Lo&(1<<b) != 0 || b >= 64 && m.Hi&(1<<(b-64)) != 0
		switch {
		case set && ofs < 0:
			ofs, n = b, 1
		case set && n > 0 && ofs+n == b:
			n++
		case set:
			return 0, 0, false
		}
	}
	return ofs, n, ofs >= 0
}

func valueText(f dp.Field, v, m dp.Value, names PortNamer) string {
	s := formatField(f, v, m, names)
	_, val, _ := strings.Cut(s, "=")
	return val
}

// FormatEntry renders a rule with its counters as ovs-ofctl dump-flows
// prints it.
func FormatEntry(e dp.FlowEntry, names PortNamer) string {
	r := e.Rule
	var b strings.Builder
	fmt.Fprintf(&b, "cookie=%#x, duration=%.3fs, table=%d, n_packets=%d, n_bytes=%d, ", r.Cookie, e.Stats.Duration.Seconds(), r.Table, e.Stats.Packets, e.Stats.Bytes)
	if r.IdleTimeout != 0 {
		fmt.Fprintf(&b, "idle_timeout=%d, ", r.IdleTimeout)
	}
	if r.HardTimeout != 0 {
		fmt.Fprintf(&b, "hard_timeout=%d, ", r.HardTimeout)
	}
	flag := func(bit uint16, name string) {
		if r.Flags&bit != 0 {
			b.WriteString(name + ", ")
		}
	}
	flag(dp.FlagSendFlowRem, "send_flow_rem")
	flag(dp.FlagCheckOverlap, "check_overlap")
	flag(dp.FlagNoPktCounts, "no_packet_counts")
	flag(dp.FlagNoBytCounts, "no_byte_counts")
	fmt.Fprintf(&b, "idle_age=%d, ", e.Stats.IdleAge)
	b.WriteString(FormatRule(r, names))
	return b.String()
}

// FormatRule renders a rule (without counters) as a line Parse reads back:
// "priority=N,MATCH actions=…" (table given when not 0).
func FormatRule(r *dp.Rule, names PortNamer) string {
	var parts []string
	if r.Priority != DefaultPriority {
		parts = append(parts, fmt.Sprintf("priority=%d", r.Priority))
	}
	if m := FormatMatch(&r.Match, names); m != "" {
		parts = append(parts, m)
	}
	if len(parts) == 0 {
		return "actions=" + FormatInstructions(&r.Instr, names)
	}
	return strings.Join(parts, ",") + " actions=" + FormatInstructions(&r.Instr, names)
}

// Line renders a rule as one line for storing or for `flow add`: every
// setting that matters (table, priority, cookie, timeouts, flags), the match
// and the actions.
func Line(r *dp.Rule, names PortNamer) string {
	parts := []string{fmt.Sprintf("table=%d", r.Table), fmt.Sprintf("priority=%d", r.Priority)}
	if r.Cookie != 0 {
		parts = append(parts, fmt.Sprintf("cookie=%#x", r.Cookie))
	}
	if r.IdleTimeout != 0 {
		parts = append(parts, fmt.Sprintf("idle_timeout=%d", r.IdleTimeout))
	}
	if r.HardTimeout != 0 {
		parts = append(parts, fmt.Sprintf("hard_timeout=%d", r.HardTimeout))
	}
	for _, fl := range []struct {
		bit  uint16
		name string
	}{{dp.FlagSendFlowRem, "send_flow_rem"}, {dp.FlagCheckOverlap, "check_overlap"}, {dp.FlagNoPktCounts, "no_packet_counts"}, {dp.FlagNoBytCounts, "no_byte_counts"}} {
		if r.Flags&fl.bit != 0 {
			parts = append(parts, fl.name)
		}
	}
	if m := FormatMatch(&r.Match, names); m != "" {
		parts = append(parts, m)
	}
	return strings.Join(parts, ",") + ",actions=" + FormatInstructions(&r.Instr, names)
}

// Duration formats like ovs-ofctl (for tests and tables).
func Duration(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

// Formatter renders for traces (datapath.Formatter).
type Formatter struct{}

// Match implements datapath.Formatter.
func (Formatter) Match(m *dp.Match, ports func(uint32) string) string {
	return FormatMatch(m, ports)
}

// Instructions implements datapath.Formatter.
func (Formatter) Instructions(in *dp.Instructions, ports func(uint32) string) string {
	return FormatInstructions(in, ports)
}

// Action implements datapath.Formatter.
func (Formatter) Action(a *dp.Action, ports func(uint32) string) string {
	return FormatAction(a, ports)
}
