package datapath

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/switchyard-net/switchyard/internal/errs"
)

// OpenFlow port numbers with special meanings (OpenFlow 1.3's 32-bit
// values). Ordinary ports are 1–MaxOFPort.
const (
	PortMax        uint32 = 0xffffff00
	PortInPort     uint32 = 0xfffffff8
	PortTable      uint32 = 0xfffffff9
	PortNormal     uint32 = 0xfffffffa
	PortFlood      uint32 = 0xfffffffb
	PortAll        uint32 = 0xfffffffc
	PortController uint32 = 0xfffffffd
	PortLocal      uint32 = 0xfffffffe
	PortAny        uint32 = 0xffffffff
)

// MaxOFPort is the largest port number a port can have (OpenFlow 1.0's
// OFPP_MAX, so that every port number fits both protocol versions and the
// FDB's 16 bits).
const MaxOFPort = 0xfeff

// NumTables is the number of flow tables (0–253, as Open vSwitch).
const NumTables = 254

// TableAll means every table in a modify, delete or dump (OFPTT_ALL).
const TableAll = 0xff

// Match is a rule's match: field values under a mask. Key holds the values
// already masked (Key & Mask), so two matches are the same when both words
// arrays are equal.
type Match struct {
	Key  Key
	Mask Key
}

// Set adds field f = v under mask m (the field's full mask for an exact
// match) to the match.
func (m *Match) Set(f Field, v, mask Value) {
	m.Mask.Set(f, mask)
	m.Key.Set(f, v.And(mask))
}

// SetExact adds f = v exactly.
func (m *Match) SetExact(f Field, v Value) { m.Set(f, v, f.FullMask()) }

// Get returns field f's value and mask.
func (m *Match) Get(f Field) (v, mask Value) { return m.Key.Get(f), m.Mask.Get(f) }

// Has reports whether the match says anything about f.
func (m *Match) Has(f Field) bool { return !m.Mask.Get(f).IsZero() }

// Exact reports whether f is matched exactly with value v.
func (m *Match) exactIs(f Field, v uint64) bool {
	mv, mm := m.Get(f)
	return mm == f.FullMask() && mv.Lo == v && mv.Hi == 0
}

// Matches reports whether key k satisfies the match.
func (m *Match) Matches(k *Key) bool { return EqualMasked(k, &m.Key, &m.Mask) }

// Covers reports whether every packet o matches is matched by m: m's mask is
// a subset of o's and they agree under m's mask. It is OpenFlow's non-strict
// filter ("the flow entry's match is at least as specific as the filter").
func (m *Match) Covers(o *Match) bool {
	for i := range m.Mask {
		if m.Mask[i]&^o.Mask[i] != 0 || (m.Key[i]^o.Key[i])&m.Mask[i] != 0 {
			return false
		}
	}
	return true
}

// Overlaps reports whether some packet could match both m and o.
func (m *Match) Overlaps(o *Match) bool {
	for i := range m.Mask {
		if (m.Key[i]^o.Key[i])&m.Mask[i]&o.Mask[i] != 0 {
			return false
		}
	}
	return true
}

func (m *Match) ethType() (uint16, bool) {
	v, mask := m.Get(FieldEthType)
	return uint16(v.Lo), mask.Lo == 0xffff
}

func (m *Match) ipProto() (uint8, bool) {
	v, mask := m.Get(FieldIPProto)
	return uint8(v.Lo), mask.Lo == 0xff
}

// Validate checks OpenFlow 1.3's prerequisites: every field the match uses
// needs the fields that say the header is there (an IPv4 address needs
// eth_type=0x0800, a TCP port needs ip_proto=6, …). The error names the
// field and what it needs.
func (m *Match) Validate() error {
	if m.Mask == (Key{}) {
		return nil
	}
	for f := Field(0); f < NumFields; f++ {
		if fi := &fieldInfo[f]; m.Mask[fi.Word] == 0 && (fi.Bits != 128 || m.Mask[fi.Word+1] == 0) {
			continue // nothing of the field's words is matched
		}
		if !m.Has(f) {
			continue
		}
		need := m.prereqOf(f)
		if need == "" {
			continue
		}
		// Fields that share bits (ipv4_src and arp_spa, tp_src and
		// icmp_type, arp_sha and ipv6_nd_sll, …): the bits are fine if a
		// field that owns them has its prerequisite.
		owned := false
		for _, a := range aliases[f] {
			if m.prereqOf(a) == "" {
				owned = true
			}
		}
		if !owned {
			name := fieldInfo[f].Name
			return errs.Invalidf(name, need, "%s needs its prerequisite in the same match", name)
		}
	}
	if v, mask := m.Get(FieldInPort); !mask.IsZero() && (v.Lo == 0 || v.Lo > uint64(MaxOFPort) && uint32(v.Lo) != PortLocal && uint32(v.Lo) != PortController) {
		return errs.Invalidf("in_port", fmt.Sprintf("a port number 1-%d, LOCAL or CONTROLLER, or a port name", MaxOFPort), "%d", v.Lo)
	}
	return nil
}

// aliases are the fields that share a field's bits.
var aliases = map[Field][]Field{
	FieldIPv4Src: {FieldARPSPA}, FieldARPSPA: {FieldIPv4Src},
	FieldIPv4Dst: {FieldARPTPA}, FieldARPTPA: {FieldIPv4Dst},
	FieldTPSrc: {FieldICMPType}, FieldICMPType: {FieldTPSrc},
	FieldTPDst: {FieldICMPCode}, FieldICMPCode: {FieldTPDst},
	FieldARPSHA: {FieldNDSLL}, FieldNDSLL: {FieldARPSHA},
	FieldARPTHA: {FieldNDTLL}, FieldNDTLL: {FieldARPTHA},
}

// prereqOf returns what f's prerequisite needs that m does not say, or "".
func (m *Match) prereqOf(f Field) string {
	et, etOK := m.ethType()
	proto, protoOK := m.ipProto()
	isIP := etOK && (et == etherTypeIPv4 || et == etherTypeIPv6)
	switch fieldInfo[f].Prereq {
	case PrereqVLAN:
		if v, mask := m.Get(FieldVLANVID); mask.Lo&0x1000 == 0 || v.Lo&0x1000 == 0 {
			return "a VLAN tag (vlan_vid, dl_vlan or vlan_tci with the present bit)"
		}
	case PrereqIP:
		if !isIP && !(f == FieldIPProto && etOK && et == etherTypeARP) {
			return "eth_type=0x0800 or 0x86dd (ip or ipv6)"
		}
	case PrereqIPv4:
		if !etOK || et != etherTypeIPv4 {
			return "eth_type=0x0800 (ip)"
		}
	case PrereqIPv6:
		if !etOK || et != etherTypeIPv6 {
			return "eth_type=0x86dd (ipv6)"
		}
	case PrereqARP:
		if !etOK || et != etherTypeARP && et != 0x8035 {
			return "eth_type=0x0806 (arp)"
		}
	case PrereqTCP:
		if !isIP || !protoOK || proto != 6 {
			return "ip_proto=6 (tcp or tcp6)"
		}
	case PrereqTPort:
		if !isIP || !protoOK || (proto != 6 && proto != 17 && proto != 132) {
			return "ip_proto=6, 17 or 132 (tcp, udp, sctp)"
		}
	case PrereqICMP:
		if !protoOK || !(etOK && et == etherTypeIPv4 && proto == 1 || etOK && et == etherTypeIPv6 && proto == 58) {
			return "icmp (eth_type=0x0800,ip_proto=1) or icmp6 (eth_type=0x86dd,ip_proto=58)"
		}
	case PrereqND, PrereqNDSLL, PrereqNDTLL:
		t, tm := m.Get(FieldICMPType)
		ok := etOK && et == etherTypeIPv6 && protoOK && proto == 58 && tm.Lo == 0xff
		switch fieldInfo[f].Prereq {
		case PrereqND:
			if !ok || t.Lo != 135 && t.Lo != 136 {
				return "icmp6 with icmp_type=135 or 136"
			}
		case PrereqNDSLL:
			if !ok || t.Lo != 135 {
				return "icmp6 with icmp_type=135 (neighbour solicitation)"
			}
		default:
			if !ok || t.Lo != 136 {
				return "icmp6 with icmp_type=136 (neighbour advertisement)"
			}
		}
	}
	return ""
}

// ActionKind is the kind of an action.
type ActionKind uint8

// Action kinds.
const (
	// ActOutput sends the packet to Port (a port number or one of the
	// Port* reserved numbers); MaxLen bounds what goes to the controller.
	ActOutput ActionKind = iota + 1
	// ActGroup processes the packet through group ID.
	ActGroup
	// ActSetQueue selects queue ID for later outputs.
	ActSetQueue
	// ActPushVLAN pushes an 802.1Q (EtherType 0x8100) or 802.1ad (0x88a8)
	// tag with the VID and PCP of the current tag, or 0.
	ActPushVLAN
	// ActPopVLAN pops the outer VLAN tag.
	ActPopVLAN
	// ActSetField writes Value under Mask into Field (set_field, load,
	// mod_dl_src, mod_vlan_vid…). For vlan_vid and vlan_pcp, PushVLAN says
	// a tag is pushed first when the frame has none (mod_vlan_vid).
	ActSetField
	// ActMove copies NBits bits from Src at SrcOfs to Field at DstOfs.
	ActMove
	// ActDecTTL decrements the IP TTL (hop limit); a packet whose TTL would
	// reach 0 is dropped and counted.
	ActDecTTL
	// ActResubmit looks the packet up again in Table (TableAll: the current
	// table) with in_port = Port (PortInPort: unchanged).
	ActResubmit
	// ActController sends the packet to the controller (with MaxLen bytes).
	ActController
	// ActMeter sends the packet through meter ID (an instruction in
	// OpenFlow 1.3; kept here so one list can hold it).
	ActMeter
	// ActOutputReg sends the packet to the port number held in bits
	// SrcOfs..SrcOfs+NBits-1 of field Src (Nicira's output:REG[...]).
	ActOutputReg
	// ActExit stops the pipeline: no further actions or tables; the
	// action set still runs (Nicira's exit).
	ActExit
)

// Packet-in reasons (OpenFlow's ofp_packet_in_reason; the last three are
// OpenFlow 1.4's, sent as PacketInAction to older controllers).
const (
	PacketInNoMatch    uint8 = 0
	PacketInAction     uint8 = 1
	PacketInInvalidTTL uint8 = 2
	PacketInActionSet  uint8 = 3
	PacketInGroup      uint8 = 4
	PacketInPacketOut  uint8 = 5
)

// Action is one action. Which fields mean something depends on Kind.
type Action struct {
	Kind      ActionKind
	Port      uint32
	MaxLen    uint16
	ID        uint32 // group, queue or meter
	EtherType uint16 // push_vlan
	Field     Field
	Value     Value
	Mask      Value
	PushVLAN  bool  // ActSetField on vlan_vid/vlan_pcp: push a tag if absent
	Src       Field // ActMove
	SrcOfs    uint8
	DstOfs    uint8
	NBits     uint8
	Table     uint8 // ActResubmit
	// ActController: the packet-in's reason (0 means PacketInAction, or
	// PacketInNoMatch in a table-miss rule), the controller id it is
	// for (0: the default) and NXAST_CONTROLLER2 userdata.
	Reason       uint8
	ControllerID uint16
	Userdata     string
}

// Instructions are a rule's OpenFlow 1.3 instructions.
type Instructions struct {
	// Apply are the apply_actions, run at once in order.
	Apply []Action
	// Clear empties the action set (clear_actions).
	Clear bool
	// Write are the write_actions, merged into the action set that runs
	// when the pipeline ends.
	Write []Action
	// WriteMetadata sets Metadata under MetadataMask (write_metadata).
	WriteMetadata bool
	Metadata      uint64
	MetadataMask  uint64
	// Goto is the next table (goto_table), or -1.
	Goto int
	// Meter is the meter the packet goes through first (0: none).
	Meter uint32
}

// NoGoto is Instructions.Goto when there is no goto_table.
const NoGoto = -1

// Rule flags (OpenFlow 1.3 ofp_flow_mod_flags).
const (
	FlagSendFlowRem  = 1 << 0
	FlagCheckOverlap = 1 << 1
	FlagResetCounts  = 1 << 2
	FlagNoPktCounts  = 1 << 3
	FlagNoBytCounts  = 1 << 4
)

// Origin says who installed a rule: Switchyard's CLI/API (stored, and back
// after a restart) or an OpenFlow connection (not stored, as in Open
// vSwitch).
type Origin uint8

// Origins.
const (
	OriginAPI Origin = iota
	OriginOpenFlow
)

// Rule is one flow table entry.
type Rule struct {
	// The fields with pointers come first: the garbage collector scans a
	// rule only as far as its last pointer, and a table holds many rules.
	stats       *ruleStats // shared by the versions of one rule (modify keeps counters)
	vals        []uint64   // the match at its subtable's mask words
	Instr       Instructions
	created     time.Time
	Table       uint8
	Priority    uint16
	Cookie      uint64
	IdleTimeout uint16 // seconds, 0 = none
	HardTimeout uint16
	Flags       uint16
	Origin      Origin
	Match       Match
}

type ruleStats struct {
	packets, bytes atomic.Uint64
	used           atomic.Uint32 // bridge clock of the last packet (0: never)
	created        uint32        // bridge clock at creation (for idle timeouts)
}

// RuleStats are a rule's counters.
type RuleStats struct {
	Packets  uint64
	Bytes    uint64
	Duration time.Duration
	// IdleAge is the seconds since the last packet (or since creation).
	IdleAge uint32
}

// sameIdentity reports whether a and b are the same entry in OpenFlow's
// sense: same table, priority and match.
func (r *Rule) sameIdentity(o *Rule) bool {
	return r.Table == o.Table && r.Priority == o.Priority && r.Match == o.Match
}

// outputsTo reports whether any output action of the rule goes to port
// (OpenFlow's out_port filter) or group (out_group).
func (r *Rule) outputsTo(port, group uint32) bool {
	for _, l := range [2][]Action{r.Instr.Apply, r.Instr.Write} {
		for _, a := range l {
			if port != PortAny && a.Kind == ActOutput && a.Port == port {
				return true
			}
			if port != PortAny && a.Kind == ActController && port == PortController {
				return true
			}
			if group != PortAny && a.Kind == ActGroup && a.ID == group {
				return true
			}
		}
	}
	return false
}

// Validate checks the rule on its own (the match's prerequisites, the
// instructions' references within the pipeline). Port and group existence
// is checked against the bridge when the rule is added.
func (r *Rule) Validate() error {
	if int(r.Table) >= NumTables {
		return errs.Invalidf("table", fmt.Sprintf("0-%d", NumTables-1), "%d", r.Table)
	}
	if err := r.Match.Validate(); err != nil {
		return err
	}
	if g := r.Instr.Goto; g != NoGoto && (g <= int(r.Table) || g >= NumTables) {
		return errs.Invalidf("goto_table", fmt.Sprintf("a later table, %d-%d", r.Table+1, NumTables-1), "goto_table:%d from table %d", g, r.Table)
	}
	for _, l := range [2][]Action{r.Instr.Apply, r.Instr.Write} {
		for _, a := range l {
			if err := a.validate(&r.Match); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *Action) validate(m *Match) error {
	switch a.Kind {
	case ActOutput:
		if a.Port == 0 || a.Port > MaxOFPort && a.Port < PortInPort || a.Port == PortAny {
			return errs.Invalidf("output", fmt.Sprintf("a port number 1-%d or name, IN_PORT, TABLE, NORMAL, FLOOD, ALL, CONTROLLER, LOCAL", MaxOFPort), "output to port %d", a.Port)
		}
	case ActSetField:
		fi := a.Field.Info()
		if !fi.Writable {
			return errs.Invalidf("set_field", "a writable field (not in_port, eth_type, ip_proto, tcp_flags, nw_frag)", "%s cannot be written", fi.Name)
		}
	case ActMove:
		s, d := a.Src.Info(), a.Field.Info()
		if !d.Writable {
			return errs.Invalidf("move", "a writable destination field", "%s cannot be written", d.Name)
		}
		if a.NBits == 0 || int(a.SrcOfs)+int(a.NBits) > int(s.Bits) || int(a.DstOfs)+int(a.NBits) > int(d.Bits) {
			return errs.Invalidf("move", "bit ranges inside both fields", "%s[%d..%d] -> %s[%d..%d]", s.Name, a.SrcOfs, int(a.SrcOfs)+int(a.NBits)-1, d.Name, a.DstOfs, int(a.DstOfs)+int(a.NBits)-1)
		}
		if a.NBits > 64 && (a.SrcOfs != 0 || a.DstOfs != 0) {
			return errs.Invalidf("move", "whole 128-bit fields, or ranges within 64 bits", "%s -> %s", s.Name, d.Name)
		}
	case ActPushVLAN:
		if a.EtherType != 0x8100 && a.EtherType != 0x88a8 {
			return errs.Invalidf("push_vlan", "0x8100, 0x88a8", "%#x", a.EtherType)
		}
	case ActResubmit:
		if a.Table != TableAll && int(a.Table) >= NumTables {
			return errs.Invalidf("resubmit", fmt.Sprintf("a table 0-%d", NumTables-1), "%d", a.Table)
		}
	case ActOutputReg:
		s := a.Src.Info()
		if a.NBits == 0 || a.NBits > 32 || int(a.SrcOfs)+int(a.NBits) > int(s.Bits) {
			return errs.Invalidf("output", "a bit range of at most 32 bits inside the source field", "output:%s[%d..%d]", s.Name, a.SrcOfs, int(a.SrcOfs)+int(a.NBits)-1)
		}
	case ActGroup, ActSetQueue, ActMeter, ActController, ActDecTTL, ActPopVLAN, ActExit:
	default:
		return errs.Invalidf("actions", "output, set_field, push_vlan, pop_vlan, dec_ttl, resubmit, move, load, group, set_queue, meter, controller, output_reg, exit", "action kind %d", a.Kind)
	}
	_ = m
	return nil
}
