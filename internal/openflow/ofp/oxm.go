package ofp

import (
	"fmt"
	"math/bits"
)

// OXM classes.
const (
	ClassNXM0         uint16 = 0x0000 // NXM_OF_*: Nicira's spelling of OpenFlow 1.0 fields
	ClassNXM1         uint16 = 0x0001 // NXM_NX_*: Nicira extension fields
	ClassBasic        uint16 = 0x8000 // OFPXMC_OPENFLOW_BASIC
	ClassPacketRegs   uint16 = 0x8001 // OFPXMC_PACKET_REGS (xreg0–7)
	ClassExperimenter uint16 = 0xffff // OFPXMC_EXPERIMENTER
)

// OXM is one match (or set-field) entry as it is on the wire: a TLV with a
// class, a field number, an optional mask and a value of the field's width.
// For class 0xffff the experimenter id is kept in Experimenter (on the wire
// it precedes the value and counts in the length).
type OXM struct {
	Class        uint16
	Field        uint8 // 7 bits
	Experimenter uint32
	Value        []byte
	Mask         []byte // nil when the entry has no mask
}

// HasMask reports whether the entry carries a mask.
func (o OXM) HasMask() bool { return o.Mask != nil }

// Header returns the 32-bit OXM header (class, field, has-mask, length).
func (o OXM) Header() uint32 {
	n := len(o.Value) + len(o.Mask)
	if o.Class == ClassExperimenter {
		n += 4
	}
	h := uint32(o.Class)<<16 | uint32(o.Field&0x7f)<<9 | uint32(n&0xff)
	if o.Mask != nil {
		h |= 1 << 8
	}
	return h
}

// WireLen is the number of bytes the entry takes on the wire.
func (o OXM) WireLen() int {
	n := 4 + len(o.Value) + len(o.Mask)
	if o.Class == ClassExperimenter {
		n += 4
	}
	return n
}

// ID returns the field the entry names, or FieldUnknown.
func (o OXM) ID() FieldID {
	if d := lookupField(o.Class, o.Field, o.Experimenter); d != nil {
		return d.id
	}
	return FieldUnknown
}

// Name returns the field's name ("ipv4_src", "reg3", …) or a description of
// the header for an unknown field.
func (o OXM) Name() string {
	if d := lookupField(o.Class, o.Field, o.Experimenter); d != nil {
		return d.name
	}
	return fmt.Sprintf("oxm(class=0x%04x,field=%d)", o.Class, o.Field)
}

// Uint returns the value and mask as integers (for fields of at most 8
// bytes); the mask is all ones when the entry has none.
func (o OXM) Uint() (v, mask uint64) {
	for _, c := range o.Value {
		v = v<<8 | uint64(c)
	}
	if o.Mask == nil {
		return v, ^uint64(0) >> (64 - 8*uint(min(len(o.Value), 8)))
	}
	for _, c := range o.Mask {
		mask = mask<<8 | uint64(c)
	}
	return v, mask
}

// appendOXM appends the entry's wire form.
func (o OXM) append(b []byte) []byte {
	b = appendU32(b, o.Header())
	if o.Class == ClassExperimenter {
		b = appendU32(b, o.Experimenter)
	}
	b = append(b, o.Value...)
	return append(b, o.Mask...)
}

// FieldID names a match field independently of its wire spelling.
type FieldID uint16

// Field identifiers. The canonical fields are those [Match.Canonical]
// produces; FieldInPort16, FieldVLANTCI, FieldIPTOS, FieldXReg0–7 and
// FieldXXReg0–3 are wire spellings it rewrites into canonical fields.
const (
	FieldUnknown FieldID = iota
	FieldInPort
	FieldInPhyPort
	FieldMetadata
	FieldEthDst
	FieldEthSrc
	FieldEthType
	FieldVLANVID
	FieldVLANPCP
	FieldIPDSCP
	FieldIPECN
	FieldIPProto
	FieldIPv4Src
	FieldIPv4Dst
	FieldTCPSrc
	FieldTCPDst
	FieldUDPSrc
	FieldUDPDst
	FieldSCTPSrc
	FieldSCTPDst
	FieldICMPv4Type
	FieldICMPv4Code
	FieldARPOp
	FieldARPSPA
	FieldARPTPA
	FieldARPSHA
	FieldARPTHA
	FieldIPv6Src
	FieldIPv6Dst
	FieldIPv6FLabel
	FieldICMPv6Type
	FieldICMPv6Code
	FieldIPv6NDTarget
	FieldIPv6NDSLL
	FieldIPv6NDTLL
	FieldMPLSLabel
	FieldMPLSTC
	FieldMPLSBOS
	FieldPBBISID
	FieldTunnelID
	FieldIPv6Exthdr
	FieldTCPFlags
	FieldIPTTL
	FieldIPFrag
	FieldMPLSTTL
	FieldTunIPv4Src
	FieldTunIPv4Dst
	FieldTunIPv6Src
	FieldTunIPv6Dst
	FieldReg0  // FieldReg0 + n is reg n, n < 16
	FieldReg15 = FieldReg0 + 15
)

// Wire spellings that Canonical rewrites.
const (
	FieldInPort16 = FieldReg15 + 1 + iota // NXM_OF_IN_PORT: 16-bit OpenFlow 1.0 port
	FieldVLANTCI                          // NXM_OF_VLAN_TCI: the whole 802.1Q TCI with CFI as "present"
	FieldIPTOS                            // NXM_OF_IP_TOS: the ToS byte, DSCP in its top 6 bits
	FieldXReg0                            // OXM_OF_PKT_REG0–7: 64-bit pairs of registers
)

const (
	FieldXReg7  = FieldXReg0 + 7
	FieldXXReg0 = FieldXReg7 + 1 // NXM_NX_XXREG0–3: 128-bit quads of registers
	FieldXXReg3 = FieldXXReg0 + 3
	fieldCount  = FieldXXReg3 + 1
)

// prereq is a field's prerequisite (OpenFlow 1.3.5 table 12).
type prereq uint8

const (
	preNone     prereq = iota
	preInPort          // in_port present
	preVLAN            // vlan_vid != NONE
	preIP              // eth_type 0x0800 or 0x86dd
	preIPv4            // eth_type 0x0800
	preIPv6            // eth_type 0x86dd
	preARP             // eth_type 0x0806 or 0x8035
	preMPLS            // eth_type 0x8847 or 0x8848
	prePBB             // eth_type 0x88e7
	preTCP             // ip_proto 6
	preUDP             // ip_proto 17
	preSCTP            // ip_proto 132
	preICMPv4          // eth_type 0x0800, ip_proto 1
	preICMPv6          // eth_type 0x86dd, ip_proto 58
	preNDTarget        // icmpv6_type 135 or 136
	preNDSLL           // icmpv6_type 135
	preNDTLL           // icmpv6_type 136
)

var prereqText = [...]string{
	preNone:     "",
	preInPort:   "in_port",
	preVLAN:     "vlan_vid with the OFPVID_PRESENT bit (a tagged frame)",
	preIP:       "eth_type=0x0800 or eth_type=0x86dd",
	preIPv4:     "eth_type=0x0800",
	preIPv6:     "eth_type=0x86dd",
	preARP:      "eth_type=0x0806 or eth_type=0x8035",
	preMPLS:     "eth_type=0x8847 or eth_type=0x8848",
	prePBB:      "eth_type=0x88e7",
	preTCP:      "ip_proto=6",
	preUDP:      "ip_proto=17",
	preSCTP:     "ip_proto=132",
	preICMPv4:   "eth_type=0x0800 and ip_proto=1",
	preICMPv6:   "eth_type=0x86dd and ip_proto=58",
	preNDTarget: "icmpv6_type=135 or icmpv6_type=136",
	preNDSLL:    "icmpv6_type=135",
	preNDTLL:    "icmpv6_type=136",
}

type fieldDef struct {
	id       FieldID
	name     string
	class    uint16
	field    uint8
	exp      uint32
	length   int
	maskable bool
	pre      prereq
	max      uint64 // largest valid value for fields narrower than their bytes; 0 = any
}

// canon holds each canonical field's canonical spelling; wire holds every
// spelling the decoder accepts; fast indexes the classes 0x0000, 0x0001,
// 0x8000 and 0x8001 by field number (the map is for experimenter fields).
var (
	canon [fieldCount]*fieldDef
	wire  = map[[3]uint32]*fieldDef{}
	fast  [4][128]*fieldDef
)

func fastIdx(class uint16) int {
	switch class {
	case ClassNXM0:
		return 0
	case ClassNXM1:
		return 1
	case ClassBasic:
		return 2
	case ClassPacketRegs:
		return 3
	}
	return -1
}

func def(id FieldID, name string, class uint16, field uint8, length int, maskable bool, pre prereq, max uint64) *fieldDef {
	d := &fieldDef{id: id, name: name, class: class, field: field, length: length, maskable: maskable, pre: pre, max: max}
	wire[[3]uint32{uint32(class), uint32(field), 0}] = d
	if i := fastIdx(class); i >= 0 {
		fast[i][field&0x7f] = d
	}
	if canon[id] == nil {
		canon[id] = d
	}
	return d
}

// alias registers another wire spelling (same width and meaning) of id.
func alias(id FieldID, class uint16, field uint8) {
	c := *canon[id]
	c.class, c.field = class, field
	wire[[3]uint32{uint32(class), uint32(field), 0}] = &c
	if i := fastIdx(class); i >= 0 {
		fast[i][field&0x7f] = &c
	}
}

func init() {
	b, n0, n1 := ClassBasic, ClassNXM0, ClassNXM1
	def(FieldInPort, "in_port", b, 0, 4, false, preNone, 0)
	def(FieldInPhyPort, "in_phy_port", b, 1, 4, false, preInPort, 0)
	def(FieldMetadata, "metadata", b, 2, 8, true, preNone, 0)
	def(FieldEthDst, "eth_dst", b, 3, 6, true, preNone, 0)
	def(FieldEthSrc, "eth_src", b, 4, 6, true, preNone, 0)
	def(FieldEthType, "eth_type", b, 5, 2, false, preNone, 0)
	def(FieldVLANVID, "vlan_vid", b, 6, 2, true, preNone, 0x1fff)
	def(FieldVLANPCP, "vlan_pcp", b, 7, 1, false, preVLAN, 7)
	def(FieldIPDSCP, "ip_dscp", b, 8, 1, false, preIP, 63)
	def(FieldIPECN, "ip_ecn", b, 9, 1, false, preIP, 3)
	def(FieldIPProto, "ip_proto", b, 10, 1, false, preIP, 0)
	def(FieldIPv4Src, "ipv4_src", b, 11, 4, true, preIPv4, 0)
	def(FieldIPv4Dst, "ipv4_dst", b, 12, 4, true, preIPv4, 0)
	def(FieldTCPSrc, "tcp_src", b, 13, 2, true, preTCP, 0)
	def(FieldTCPDst, "tcp_dst", b, 14, 2, true, preTCP, 0)
	def(FieldUDPSrc, "udp_src", b, 15, 2, true, preUDP, 0)
	def(FieldUDPDst, "udp_dst", b, 16, 2, true, preUDP, 0)
	def(FieldSCTPSrc, "sctp_src", b, 17, 2, true, preSCTP, 0)
	def(FieldSCTPDst, "sctp_dst", b, 18, 2, true, preSCTP, 0)
	def(FieldICMPv4Type, "icmpv4_type", b, 19, 1, false, preICMPv4, 0)
	def(FieldICMPv4Code, "icmpv4_code", b, 20, 1, false, preICMPv4, 0)
	def(FieldARPOp, "arp_op", b, 21, 2, false, preARP, 0)
	def(FieldARPSPA, "arp_spa", b, 22, 4, true, preARP, 0)
	def(FieldARPTPA, "arp_tpa", b, 23, 4, true, preARP, 0)
	def(FieldARPSHA, "arp_sha", b, 24, 6, true, preARP, 0)
	def(FieldARPTHA, "arp_tha", b, 25, 6, true, preARP, 0)
	def(FieldIPv6Src, "ipv6_src", b, 26, 16, true, preIPv6, 0)
	def(FieldIPv6Dst, "ipv6_dst", b, 27, 16, true, preIPv6, 0)
	def(FieldIPv6FLabel, "ipv6_flabel", b, 28, 4, true, preIPv6, 0xfffff)
	def(FieldICMPv6Type, "icmpv6_type", b, 29, 1, false, preICMPv6, 0)
	def(FieldICMPv6Code, "icmpv6_code", b, 30, 1, false, preICMPv6, 0)
	def(FieldIPv6NDTarget, "ipv6_nd_target", b, 31, 16, true, preNDTarget, 0)
	def(FieldIPv6NDSLL, "ipv6_nd_sll", b, 32, 6, true, preNDSLL, 0)
	def(FieldIPv6NDTLL, "ipv6_nd_tll", b, 33, 6, true, preNDTLL, 0)
	def(FieldMPLSLabel, "mpls_label", b, 34, 4, false, preMPLS, 0xfffff)
	def(FieldMPLSTC, "mpls_tc", b, 35, 1, false, preMPLS, 7)
	def(FieldMPLSBOS, "mpls_bos", b, 36, 1, false, preMPLS, 1)
	def(FieldPBBISID, "pbb_isid", b, 37, 3, true, prePBB, 0)
	def(FieldTunnelID, "tunnel_id", b, 38, 8, true, preNone, 0)
	def(FieldIPv6Exthdr, "ipv6_exthdr", b, 39, 2, true, preIPv6, 0x1ff)

	def(FieldTCPFlags, "tcp_flags", n1, 34, 2, true, preTCP, 0xfff)
	def(FieldIPTTL, "nw_ttl", n1, 29, 1, false, preIP, 0)
	def(FieldIPFrag, "ip_frag", n1, 26, 1, true, preIP, 3)
	def(FieldMPLSTTL, "mpls_ttl", n1, 30, 1, false, preMPLS, 0)
	def(FieldTunIPv4Src, "tun_src", n1, 31, 4, true, preNone, 0)
	def(FieldTunIPv4Dst, "tun_dst", n1, 32, 4, true, preNone, 0)
	def(FieldTunIPv6Src, "tun_ipv6_src", n1, 109, 16, true, preNone, 0)
	def(FieldTunIPv6Dst, "tun_ipv6_dst", n1, 110, 16, true, preNone, 0)
	for i := 0; i < 16; i++ {
		def(FieldReg0+FieldID(i), "reg"+utoa(uint64(i)), n1, uint8(i), 4, true, preNone, 0)
	}
	for i := 0; i < 8; i++ {
		def(FieldXReg0+FieldID(i), "xreg"+utoa(uint64(i)), ClassPacketRegs, uint8(i), 8, true, preNone, 0)
	}
	for i := 0; i < 4; i++ {
		def(FieldXXReg0+FieldID(i), "xxreg"+utoa(uint64(i)), n1, uint8(111+i), 16, true, preNone, 0)
	}

	// NXM spellings with OpenFlow 1.0 widths or meanings.
	def(FieldInPort16, "NXM_OF_IN_PORT", n0, 0, 2, false, preNone, 0)
	def(FieldVLANTCI, "vlan_tci", n0, 4, 2, true, preNone, 0)
	def(FieldIPTOS, "nw_tos", n0, 5, 1, false, preIP, 0)

	// NXM spellings of OpenFlow-basic fields.
	alias(FieldEthDst, n0, 1)
	alias(FieldEthSrc, n0, 2)
	alias(FieldEthType, n0, 3)
	alias(FieldIPProto, n0, 6)
	alias(FieldIPv4Src, n0, 7)
	alias(FieldIPv4Dst, n0, 8)
	alias(FieldTCPSrc, n0, 9)
	alias(FieldTCPDst, n0, 10)
	alias(FieldUDPSrc, n0, 11)
	alias(FieldUDPDst, n0, 12)
	alias(FieldICMPv4Type, n0, 13)
	alias(FieldICMPv4Code, n0, 14)
	alias(FieldARPOp, n0, 15)
	alias(FieldARPSPA, n0, 16)
	alias(FieldARPTPA, n0, 17)
	alias(FieldTunnelID, n1, 16)
	alias(FieldARPSHA, n1, 17)
	alias(FieldARPTHA, n1, 18)
	alias(FieldIPv6Src, n1, 19)
	alias(FieldIPv6Dst, n1, 20)
	alias(FieldICMPv6Type, n1, 21)
	alias(FieldICMPv6Code, n1, 22)
	alias(FieldIPv6NDTarget, n1, 23)
	alias(FieldIPv6NDSLL, n1, 24)
	alias(FieldIPv6NDTLL, n1, 25)
	alias(FieldIPv6FLabel, n1, 27)
	alias(FieldIPECN, n1, 28)

	// OpenFlow 1.5's tcp_flags, and the ONF experimenter spelling of it
	// that OpenFlow 1.3 uses.
	alias(FieldTCPFlags, ClassBasic, 42)
	c := *canon[FieldTCPFlags]
	c.class, c.field, c.exp = ClassExperimenter, 42, ExperimenterONF
	wire[[3]uint32{uint32(ClassExperimenter), 42, ExperimenterONF}] = &c
}

func lookupField(class uint16, field uint8, exp uint32) *fieldDef {
	if i := fastIdx(class); i >= 0 {
		return fast[i][field&0x7f]
	}
	if class != ClassExperimenter {
		exp = 0
	}
	return wire[[3]uint32{uint32(class), uint32(field), exp}]
}

// FieldName returns a field's name.
func (f FieldID) String() string {
	if f < fieldCount && canon[f] != nil {
		return canon[f].name
	}
	return "field-" + utoa(uint64(f))
}

// Len is the field's width in bytes (0 for an unknown field).
func (f FieldID) Len() int {
	if f < fieldCount && canon[f] != nil {
		return canon[f].length
	}
	return 0
}

// Maskable reports whether the field may carry a mask.
func (f FieldID) Maskable() bool { return f < fieldCount && canon[f] != nil && canon[f].maskable }

// FieldByName returns the field with the given name ("ipv4_src", "reg3").
func FieldByName(name string) (FieldID, bool) {
	for id := FieldID(1); id < fieldCount; id++ {
		if canon[id] != nil && canon[id].name == name {
			return id, true
		}
	}
	return FieldUnknown, false
}

// NewOXM returns the canonical entry for field f with the given value and
// mask (nil for none). It does not validate; [Match.Validate] does.
func NewOXM(f FieldID, value, mask []byte) OXM {
	d := canon[f]
	return OXM{Class: d.class, Field: d.field, Experimenter: d.exp, Value: value, Mask: mask}
}

// OXMUint returns the canonical entry for f with an integer value (and a
// mask when mask is not all ones for the field's width).
func OXMUint(f FieldID, v uint64, mask ...uint64) OXM {
	n := f.Len()
	o := NewOXM(f, putUintN(v, n), nil)
	if len(mask) > 0 && mask[0] != ^uint64(0)>>(64-8*uint(min(n, 8))) {
		o.Mask = putUintN(mask[0], n)
	}
	return o
}

func putUintN(v uint64, n int) []byte {
	b := make([]byte, n)
	for i := n - 1; i >= 0 && i >= n-8; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}

// Match is an ordered list of OXM entries: an OpenFlow 1.2+ match, an NXM
// match or (converted) an OpenFlow 1.0 ofp_match. A nil or empty Match
// matches everything.
type Match struct {
	Fields []OXM
}

// Get returns the first entry for f (by meaning, whatever its spelling).
func (m *Match) Get(f FieldID) (OXM, bool) {
	for _, o := range m.Fields {
		if o.ID() == f {
			return o, true
		}
	}
	return OXM{}, false
}

// Uint returns f's value and mask as integers; ok is false when the match
// has no entry for f.
func (m *Match) Uint(f FieldID) (v, mask uint64, ok bool) {
	o, ok := m.Get(f)
	if !ok {
		return 0, 0, false
	}
	v, mask = o.Uint()
	return v, mask, true
}

// Add appends entries.
func (m *Match) Add(o ...OXM) { m.Fields = append(m.Fields, o...) }

// InPort returns the in_port the match requires, if any.
func (m *Match) InPort() (uint32, bool) {
	if v, _, ok := m.Uint(FieldInPort); ok {
		return uint32(v), true
	}
	if v, _, ok := m.Uint(FieldInPort16); ok {
		return PortFrom10(uint16(v)), true
	}
	return 0, false
}

// oxmLen is the total wire length of the entries.
func (m *Match) oxmLen() int {
	n := 0
	for _, o := range m.Fields {
		n += o.WireLen()
	}
	return n
}

// appendOXMs appends the entries without padding.
func (m *Match) appendOXMs(b []byte) []byte {
	for _, o := range m.Fields {
		b = o.append(b)
	}
	return b
}

// parseOXMs decodes a list of OXM entries that fills b exactly. Unknown
// fields are kept (Validate rejects them); only the framing is checked here.
func parseOXMs(b []byte) ([]OXM, error) {
	// Count the entries first so that the list is one allocation.
	n := 0
	for p := b; len(p) >= 4; n++ {
		l := 4 + int(p[3])
		if l > len(p) {
			break
		}
		p = p[l:]
	}
	var out []OXM
	if n > 0 {
		out = make([]OXM, 0, n+1)
	}
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, Errorf(ErrBadMatch, BadMatchBadLen, "%d bytes left after the last OXM entry, an OXM header needs 4", len(b))
		}
		h := be.Uint32(b)
		n := int(h & 0xff)
		if 4+n > len(b) {
			return nil, Errorf(ErrBadMatch, BadMatchBadLen, "OXM entry 0x%08x claims %d bytes of payload, %d remain", h, n, len(b)-4)
		}
		o := OXM{Class: uint16(h >> 16), Field: uint8(h>>9) & 0x7f}
		p := b[4 : 4+n]
		if o.Class == ClassExperimenter {
			if n < 4 {
				return nil, Errorf(ErrBadMatch, BadMatchBadLen, "experimenter OXM entry 0x%08x has %d bytes, the experimenter id needs 4", h, n)
			}
			o.Experimenter = be.Uint32(p)
			p = p[4:]
		}
		if h&(1<<8) != 0 {
			if len(p)%2 != 0 || len(p) == 0 {
				return nil, Errorf(ErrBadMatch, BadMatchBadLen, "masked OXM entry %s has an odd payload of %d bytes", o.Name(), len(p))
			}
			o.Value, o.Mask = p[:len(p)/2], p[len(p)/2:]
		} else {
			o.Value = p
		}
		out = append(out, o)
		b = b[4+n:]
	}
	return out, nil
}

// Validate checks the match as a flow table must before using it: every
// field known, of the right length, masked only where the field allows a
// mask, no value bit outside its mask, values in range, no field twice and
// every field's prerequisites met by entries before it (OpenFlow 1.3.5
// section 7.2.3.6). The error is an *Error with the OFPET_BAD_MATCH code
// and names the field.
func (m *Match) Validate() error {
	var seen [fieldCount]bool
	var st prereqState
	for i, o := range m.Fields {
		d := lookupField(o.Class, o.Field, o.Experimenter)
		if d == nil {
			return Errorf(ErrBadMatch, BadMatchBadField, "entry %d: unknown field %s", i, o.Name())
		}
		if len(o.Value) != d.length || (o.Mask != nil && len(o.Mask) != d.length) {
			return Errorf(ErrBadMatch, BadMatchBadLen, "%s: value of %d bytes (mask %d), the field is %d bytes", d.name, len(o.Value), len(o.Mask), d.length)
		}
		if o.Mask != nil && !d.maskable {
			return Errorf(ErrBadMatch, BadMatchBadMask, "%s cannot be masked (exact value or omitted)", d.name)
		}
		for j := range o.Mask {
			if o.Value[j]&^o.Mask[j] != 0 {
				return Errorf(ErrBadMatch, BadMatchBadWildcards, "%s: value %x has bits set outside its mask %x", d.name, o.Value, o.Mask)
			}
		}
		if d.max != 0 {
			if v, _ := o.Uint(); v > d.max {
				return Errorf(ErrBadMatch, BadMatchBadValue, "%s=0x%x is out of range (0 to 0x%x)", d.name, v, d.max)
			}
		}
		if d.id == FieldVLANVID {
			if v, mask := o.Uint(); mask&0x1000 != 0 && v&0x1000 == 0 && v != 0 {
				return Errorf(ErrBadMatch, BadMatchBadValue, "vlan_vid=0x%04x: without OFPVID_PRESENT (0x1000) the only value is 0 (untagged)", v)
			}
		}
		if seen[d.id] {
			return Errorf(ErrBadMatch, BadMatchDupField, "%s appears twice", d.name)
		}
		seen[d.id] = true
		if !st.ok(d.pre) {
			return Errorf(ErrBadMatch, BadMatchBadPrereq, "%s needs %s earlier in the match", d.name, prereqText[d.pre])
		}
		st.add(d.id, o)
	}
	return nil
}

// prereqState records the exact values seen so far that prerequisites
// test.
type prereqState struct {
	inPort      bool
	vlanPresent bool
	ethType     uint16
	haveEthType bool
	ipProto     uint8
	haveIPProto bool
	icmpv6Type  uint8
	haveICMPv6  bool
}

func (s *prereqState) add(id FieldID, o OXM) {
	v, mask := o.Uint()
	exact := o.Mask == nil
	switch id {
	case FieldInPort, FieldInPort16:
		s.inPort = true
	case FieldVLANVID:
		s.vlanPresent = v&0x1000 != 0 && mask&0x1000 != 0
	case FieldVLANTCI:
		s.vlanPresent = v&0x1000 != 0 && mask&0x1000 != 0
	case FieldEthType:
		s.ethType, s.haveEthType = uint16(v), true
	case FieldIPProto:
		s.ipProto, s.haveIPProto = uint8(v), true
	case FieldICMPv6Type:
		if exact {
			s.icmpv6Type, s.haveICMPv6 = uint8(v), true
		}
	}
}

func (s *prereqState) ok(p prereq) bool {
	et := func(t ...uint16) bool {
		for _, x := range t {
			if s.haveEthType && s.ethType == x {
				return true
			}
		}
		return false
	}
	proto := func(p uint8) bool { return s.haveIPProto && s.ipProto == p }
	switch p {
	case preNone:
		return true
	case preInPort:
		return s.inPort
	case preVLAN:
		return s.vlanPresent
	case preIP:
		return et(0x0800, 0x86dd)
	case preIPv4:
		return et(0x0800)
	case preIPv6:
		return et(0x86dd)
	case preARP:
		return et(0x0806, 0x8035)
	case preMPLS:
		return et(0x8847, 0x8848)
	case prePBB:
		return et(0x88e7)
	case preTCP:
		return et(0x0800, 0x86dd) && proto(6)
	case preUDP:
		return et(0x0800, 0x86dd) && proto(17)
	case preSCTP:
		return et(0x0800, 0x86dd) && proto(132)
	case preICMPv4:
		return et(0x0800) && proto(1)
	case preICMPv6:
		return et(0x86dd) && proto(58)
	case preNDTarget:
		return s.haveICMPv6 && (s.icmpv6Type == 135 || s.icmpv6Type == 136)
	case preNDSLL:
		return s.haveICMPv6 && s.icmpv6Type == 135
	case preNDTLL:
		return s.haveICMPv6 && s.icmpv6Type == 136
	}
	return false
}

// Canonical returns the match validated and in canonical form: every field
// spelled by its canonical header (OpenFlow-basic OXM where OpenFlow 1.3 has
// the field, NXM class 1 otherwise), NXM_OF_IN_PORT widened to 32 bits,
// NXM_OF_VLAN_TCI split into vlan_vid and vlan_pcp, NXM_OF_IP_TOS turned
// into ip_dscp, xreg/xxreg split into reg0–15, and fields whose mask is all
// zeros dropped. A flow table stores and compares canonical matches. The
// error is an *Error (OFPET_BAD_MATCH).
func (m *Match) Canonical() (Match, error) {
	if err := m.Validate(); err != nil {
		return Match{}, err
	}
	out := Match{Fields: make([]OXM, 0, len(m.Fields))}
	for _, o := range m.Fields {
		d := lookupField(o.Class, o.Field, o.Experimenter)
		if o.Mask != nil && allZero(o.Mask) {
			continue // wildcarded entirely
		}
		switch {
		case d.id == FieldInPort16:
			v, _ := o.Uint()
			out.Add(OXMUint(FieldInPort, uint64(PortFrom10(uint16(v)))))
		case d.id == FieldVLANTCI:
			v, mask := o.Uint()
			vid, vidMask := v&0x1fff, mask&0x1fff
			pcp, pcpMask := v>>13, mask>>13
			switch {
			case vidMask&0x1000 != 0 && vid&0x1000 == 0:
				// Untagged: the VID and PCP bits say nothing more.
				if vid != 0 || pcp&pcpMask != 0 {
					return Match{}, Errorf(ErrBadMatch, BadMatchBadValue, "vlan_tci=0x%04x/0x%04x asks for an untagged frame with a VID or PCP", v, mask)
				}
				out.Add(OXMUint(FieldVLANVID, 0))
			default:
				switch vidMask {
				case 0:
				case 0x1fff:
					out.Add(OXMUint(FieldVLANVID, vid))
				default:
					out.Add(OXMUint(FieldVLANVID, vid, vidMask))
				}
				switch pcpMask {
				case 0:
				case 7:
					if vidMask&0x1000 == 0 {
						out.Add(OXMUint(FieldVLANVID, 0x1000, 0x1000))
					}
					out.Add(OXMUint(FieldVLANPCP, pcp))
				default:
					return Match{}, Errorf(ErrBadMatch, BadMatchBadMask, "vlan_tci mask 0x%04x masks the PCP partially (all three bits or none)", mask)
				}
			}
		case d.id == FieldIPTOS:
			v, _ := o.Uint()
			if v&3 != 0 {
				return Match{}, Errorf(ErrBadMatch, BadMatchBadValue, "nw_tos=0x%02x has ECN bits set (the DSCP is the top 6 bits)", v)
			}
			out.Add(OXMUint(FieldIPDSCP, v>>2))
		case d.id >= FieldXReg0 && d.id <= FieldXReg7:
			n := FieldReg0 + 2*(d.id-FieldXReg0)
			splitRegs(&out, n, o, 2)
		case d.id >= FieldXXReg0 && d.id <= FieldXXReg3:
			n := FieldReg0 + 4*(d.id-FieldXXReg0)
			splitRegs(&out, n, o, 4)
		default:
			c := canon[d.id]
			o.Class, o.Field, o.Experimenter = c.class, c.field, c.exp
			if o.Mask != nil && allOnes(o.Mask) {
				o.Mask = nil
			}
			out.Add(o)
		}
	}
	// A second pass finds duplicates that only canonical spelling reveals
	// (reg0 and xreg0, eth_dst as NXM and as OXM).
	var seen [fieldCount]bool
	for _, o := range out.Fields {
		id := o.ID()
		if seen[id] {
			return Match{}, Errorf(ErrBadMatch, BadMatchDupField, "%s is given twice (under two spellings)", id)
		}
		seen[id] = true
	}
	return out, nil
}

func allOnes(b []byte) bool {
	for _, c := range b {
		if c != 0xff {
			return false
		}
	}
	return true
}

// splitRegs appends the 32-bit registers that make up a 64- or 128-bit
// register entry, most significant first, skipping wholly wildcarded ones.
func splitRegs(out *Match, first FieldID, o OXM, n int) {
	for i := 0; i < n; i++ {
		v := o.Value[4*i : 4*i+4]
		var mask []byte
		if o.Mask != nil {
			mask = o.Mask[4*i : 4*i+4]
			if allZero(mask) {
				continue
			}
			if allOnes(mask) {
				mask = nil
			}
		}
		out.Add(NewOXM(first+FieldID(i), v, mask))
	}
}

// nxmHeaders gives, for canonical fields that Nicira's NXM spells
// differently, the header Open vSwitch uses with OpenFlow 1.0.
var nxmSpelling = map[FieldID][2]uint16{
	FieldEthDst: {0, 1}, FieldEthSrc: {0, 2}, FieldEthType: {0, 3}, FieldIPProto: {0, 6},
	FieldIPv4Src: {0, 7}, FieldIPv4Dst: {0, 8}, FieldTCPSrc: {0, 9}, FieldTCPDst: {0, 10},
	FieldUDPSrc: {0, 11}, FieldUDPDst: {0, 12}, FieldICMPv4Type: {0, 13}, FieldICMPv4Code: {0, 14},
	FieldARPOp: {0, 15}, FieldARPSPA: {0, 16}, FieldARPTPA: {0, 17}, FieldTunnelID: {1, 16},
	FieldARPSHA: {1, 17}, FieldARPTHA: {1, 18}, FieldIPv6Src: {1, 19}, FieldIPv6Dst: {1, 20},
	FieldICMPv6Type: {1, 21}, FieldICMPv6Code: {1, 22}, FieldIPv6NDTarget: {1, 23},
	FieldIPv6NDSLL: {1, 24}, FieldIPv6NDTLL: {1, 25}, FieldIPv6FLabel: {1, 27}, FieldIPECN: {1, 28},
}

// NXM returns a canonical match spelled as Open vSwitch spells it for
// OpenFlow 1.0 NXM messages (NXT_FLOW_MOD, NXST_FLOW replies, NXT_PACKET_IN):
// NXM_OF_IN_PORT, NXM_OF_VLAN_TCI, NXM_OF_IP_TOS and the NXM headers of
// other fields; fields NXM lacks keep their OXM header, which NXM allows.
// in_port values that OpenFlow 1.0 cannot express are dropped.
func (m *Match) NXM() Match {
	out := Match{Fields: make([]OXM, 0, len(m.Fields))}
	var tci, tciMask uint64
	haveTCI := false
	tciAt := -1
	for _, o := range m.Fields {
		id := o.ID()
		switch id {
		case FieldInPort:
			v, _ := o.Uint()
			if p, ok := PortTo10(uint32(v)); ok {
				out.Add(OXM{Class: ClassNXM0, Field: 0, Value: putUintN(uint64(p), 2)})
			}
			continue
		case FieldVLANVID, FieldVLANPCP:
			v, mask := o.Uint()
			if id == FieldVLANVID {
				tci |= v & 0x1fff
				tciMask |= mask & 0x1fff
			} else {
				tci |= v<<13 | 0x1000
				tciMask |= 0xe000 | 0x1000
			}
			haveTCI = true
			if tciAt < 0 {
				tciAt = len(out.Fields)
				out.Add(OXM{})
			}
			continue
		case FieldIPDSCP:
			v, _ := o.Uint()
			out.Add(OXM{Class: ClassNXM0, Field: 5, Value: []byte{byte(v << 2)}})
			continue
		}
		if s, ok := nxmSpelling[id]; ok {
			o.Class, o.Field, o.Experimenter = s[0], uint8(s[1]), 0
		}
		out.Add(o)
	}
	if haveTCI {
		if tciMask&0x1000 != 0 && tci&0x1000 == 0 {
			tciMask = 0xffff // untagged
		}
		e := OXM{Class: ClassNXM0, Field: 4, Value: putUintN(tci, 2)}
		if tciMask != 0xffff {
			e.Mask = putUintN(tciMask, 2)
		}
		out.Fields[tciAt] = e
	}
	return out
}

// prefixLen returns the CIDR length of a 32-bit mask, or -1 if the mask is
// not a prefix.
func prefixLen(mask uint32) int {
	n := bits.LeadingZeros32(^mask)
	if mask<<uint(n) != 0 {
		return -1
	}
	return n
}
