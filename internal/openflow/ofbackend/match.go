// Package ofbackend translates between OpenFlow's wire types (package ofp)
// and the engine's (package datapath): OXM matches ↔ datapath.Match values
// and masks, OpenFlow and Nicira actions and instructions ↔
// datapath.Action / Instructions, flow-mods, flow stats, flow-removed,
// group-mods and meter-mods, and the engine's typed errors ↔ OpenFlow
// error codes. It holds no state: package vswitchd runs the OpenFlow agent
// of each bridge with a Backend built on it.
//
// Port numbers are the same on both sides except LOCAL: OpenFlow's LOCAL
// is the bridge port named like the bridge, which has an ordinary number
// in the engine (PortMap).
package ofbackend

import (
	dp "github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
)

// PortMap translates port numbers: Local is the engine number of the port
// named like the bridge (OpenFlow's LOCAL), 0 when there is none.
type PortMap struct{ Local uint16 }

// ToEngine returns the engine's number for OpenFlow port p.
func (pm PortMap) ToEngine(p uint32) uint32 {
	if p == ofp.PortLocal && pm.Local != 0 {
		return uint32(pm.Local)
	}
	return p
}

// ToOF returns OpenFlow's number for engine port p.
func (pm PortMap) ToOF(p uint32) uint32 {
	if pm.Local != 0 && p == uint32(pm.Local) {
		return ofp.PortLocal
	}
	return p
}

// fieldMap maps the canonical OpenFlow fields the engine has to its
// fields. The L4 ports and ICMP type/code of every protocol share the
// engine's tp_src/tp_dst (icmp_type/code); which one a match means comes
// from its ip_proto and eth_type.
var fieldList = map[ofp.FieldID]dp.Field{
	ofp.FieldInPort: dp.FieldInPort, ofp.FieldMetadata: dp.FieldMetadata,
	ofp.FieldEthDst: dp.FieldEthDst, ofp.FieldEthSrc: dp.FieldEthSrc, ofp.FieldEthType: dp.FieldEthType,
	ofp.FieldVLANVID: dp.FieldVLANVID, ofp.FieldVLANPCP: dp.FieldVLANPCP,
	ofp.FieldIPDSCP: dp.FieldIPDSCP, ofp.FieldIPECN: dp.FieldIPECN, ofp.FieldIPProto: dp.FieldIPProto,
	ofp.FieldIPv4Src: dp.FieldIPv4Src, ofp.FieldIPv4Dst: dp.FieldIPv4Dst,
	ofp.FieldTCPSrc: dp.FieldTPSrc, ofp.FieldTCPDst: dp.FieldTPDst,
	ofp.FieldUDPSrc: dp.FieldTPSrc, ofp.FieldUDPDst: dp.FieldTPDst,
	ofp.FieldSCTPSrc: dp.FieldTPSrc, ofp.FieldSCTPDst: dp.FieldTPDst,
	ofp.FieldICMPv4Type: dp.FieldICMPType, ofp.FieldICMPv4Code: dp.FieldICMPCode,
	ofp.FieldICMPv6Type: dp.FieldICMPType, ofp.FieldICMPv6Code: dp.FieldICMPCode,
	ofp.FieldARPOp: dp.FieldARPOp, ofp.FieldARPSPA: dp.FieldARPSPA, ofp.FieldARPTPA: dp.FieldARPTPA,
	ofp.FieldARPSHA: dp.FieldARPSHA, ofp.FieldARPTHA: dp.FieldARPTHA,
	ofp.FieldIPv6Src: dp.FieldIPv6Src, ofp.FieldIPv6Dst: dp.FieldIPv6Dst, ofp.FieldIPv6FLabel: dp.FieldIPv6Label,
	ofp.FieldIPv6NDTarget: dp.FieldNDTarget, ofp.FieldIPv6NDSLL: dp.FieldNDSLL, ofp.FieldIPv6NDTLL: dp.FieldNDTLL,
	ofp.FieldTunnelID: dp.FieldTunID, ofp.FieldTCPFlags: dp.FieldTCPFlags, ofp.FieldIPTTL: dp.FieldIPTTL,
	ofp.FieldIPFrag:     dp.FieldIPFrag,
	ofp.FieldTunIPv4Src: dp.FieldTunIPv4Src, ofp.FieldTunIPv4Dst: dp.FieldTunIPv4Dst,
	ofp.FieldTunIPv6Src: dp.FieldTunIPv6Src, ofp.FieldTunIPv6Dst: dp.FieldTunIPv6Dst,
}

// fieldTab is fieldList as an array (the lookup of every match field and
// set-field of every flow-mod).
var fieldTab [ofp.FieldXXReg3 + 1]struct {
	f  dp.Field
	ok bool
}

func init() {
	for i := 0; i < 16; i++ {
		fieldList[ofp.FieldReg0+ofp.FieldID(i)] = dp.FieldReg0 + dp.Field(i)
	}
	for o, f := range fieldList {
		fieldTab[o].f, fieldTab[o].ok = f, true
	}
}

// engineField returns the engine's field for OpenFlow field id.
func engineField(id ofp.FieldID) (dp.Field, bool) {
	if int(id) < len(fieldTab) {
		e := fieldTab[id]
		return e.f, e.ok
	}
	return 0, false
}

// Supported reports whether the engine can match (and for writable
// fields, write) OpenFlow field f: what table features announce.
func Supported(f ofp.FieldID) bool { _, ok := engineField(f); return ok }

// value turns an OXM value (big-endian bytes) into an engine value.
func value(b []byte) dp.Value {
	var v dp.Value
	for i, c := range b {
		if len(b) > 8 && i < len(b)-8 {
			v.Hi = v.Hi<<8 | uint64(c)
		} else {
			v.Lo = v.Lo<<8 | uint64(c)
		}
	}
	return v
}

// bytesOf turns an engine value into n big-endian bytes.
func bytesOf(v dp.Value, n int) []byte {
	b := make([]byte, n)
	lo, hi := v.Lo, v.Hi
	for i := n - 1; i >= 0; i-- {
		if n-1-i < 8 {
			b[i] = byte(lo)
			lo >>= 8
		} else {
			b[i] = byte(hi)
			hi >>= 8
		}
	}
	return b
}

func unsupportedField(o ofp.OXM) error {
	return ofp.Errorf(ofp.ErrBadMatch, ofp.BadMatchBadField, "%s is not a field Switchyard matches (no MPLS, PBB, in_phy_port or ipv6_exthdr)", o.Name())
}

// Match converts a canonical OpenFlow match (ofp.Match.Canonical) into the
// engine's, checking its prerequisites the engine's way.
func Match(m *ofp.Match, pm PortMap) (dp.Match, error) {
	out, err := match(m, pm)
	if err != nil {
		return dp.Match{}, err
	}
	if err := out.Validate(); err != nil {
		return dp.Match{}, errorOf(err, "match")
	}
	return out, nil
}

// match converts without the engine's validation (a flow-mod's match is
// validated when the engine applies it).
func match(m *ofp.Match, pm PortMap) (dp.Match, error) {
	var out dp.Match
	for _, o := range m.Fields {
		id := o.ID()
		f, ok := engineField(id)
		if !ok {
			return dp.Match{}, unsupportedField(o)
		}
		v := value(o.Value)
		mask := f.FullMask()
		if o.Mask != nil {
			mask = value(o.Mask)
		}
		if id == ofp.FieldInPort {
			v.Lo = uint64(pm.ToEngine(uint32(v.Lo)))
		}
		out.Set(f, v, mask)
	}
	return out, nil
}

// matchCtx is what decides the OpenFlow name of a shared engine field.
type matchCtx struct {
	ethType uint16
	proto   uint8
	hasET   bool
	hasPro  bool
}

func ctxOf(m *dp.Match) matchCtx {
	var c matchCtx
	if v, mask := m.Get(dp.FieldEthType); mask.Lo == 0xffff {
		c.ethType, c.hasET = uint16(v.Lo), true
	}
	if v, mask := m.Get(dp.FieldIPProto); mask.Lo == 0xff {
		c.proto, c.hasPro = uint8(v.Lo), true
	}
	return c
}

// ofField returns the OpenFlow field for engine field f in context c.
func ofField(f dp.Field, c matchCtx) ofp.FieldID {
	switch f {
	case dp.FieldTPSrc, dp.FieldTPDst:
		base := ofp.FieldTCPSrc
		switch c.proto {
		case 17:
			base = ofp.FieldUDPSrc
		case 132:
			base = ofp.FieldSCTPSrc
		}
		if f == dp.FieldTPDst {
			return base + 1
		}
		return base
	case dp.FieldICMPType:
		if c.ethType == 0x86dd {
			return ofp.FieldICMPv6Type
		}
		return ofp.FieldICMPv4Type
	case dp.FieldICMPCode:
		if c.ethType == 0x86dd {
			return ofp.FieldICMPv6Code
		}
		return ofp.FieldICMPv4Code
	case dp.FieldIPv4Src:
		if c.ethType == 0x0806 {
			return ofp.FieldARPSPA
		}
	case dp.FieldIPv4Dst:
		if c.ethType == 0x0806 {
			return ofp.FieldARPTPA
		}
	case dp.FieldARPSPA:
		if c.ethType == 0x0800 {
			return ofp.FieldIPv4Src
		}
	case dp.FieldARPTPA:
		if c.ethType == 0x0800 {
			return ofp.FieldIPv4Dst
		}
	case dp.FieldARPSHA:
		if c.ethType == 0x86dd {
			return ofp.FieldIPv6NDSLL
		}
	case dp.FieldARPTHA:
		if c.ethType == 0x86dd {
			return ofp.FieldIPv6NDTLL
		}
	case dp.FieldNDSLL:
		if c.ethType == 0x0806 {
			return ofp.FieldARPSHA
		}
	case dp.FieldNDTLL:
		if c.ethType == 0x0806 {
			return ofp.FieldARPTHA
		}
	}
	return ofOf[f]
}

var ofOf = map[dp.Field]ofp.FieldID{}

func init() {
	for o, f := range fieldList {
		switch o {
		case ofp.FieldUDPSrc, ofp.FieldUDPDst, ofp.FieldSCTPSrc, ofp.FieldSCTPDst, ofp.FieldICMPv6Type, ofp.FieldICMPv6Code:
			continue
		}
		ofOf[f] = o
	}
}

// matchOrder lists the engine fields in the order an OpenFlow match must
// carry them: every prerequisite before the fields that need it.
var matchOrder = []dp.Field{
	dp.FieldInPort, dp.FieldMetadata, dp.FieldTunID, dp.FieldTunIPv4Src, dp.FieldTunIPv4Dst, dp.FieldTunIPv6Src, dp.FieldTunIPv6Dst,
	dp.FieldEthDst, dp.FieldEthSrc, dp.FieldEthType, dp.FieldVLANVID, dp.FieldVLANPCP,
	dp.FieldIPProto, dp.FieldIPDSCP, dp.FieldIPECN, dp.FieldIPTTL, dp.FieldIPFrag,
	dp.FieldIPv4Src, dp.FieldIPv4Dst, dp.FieldARPSPA, dp.FieldARPTPA, dp.FieldARPOp, dp.FieldARPSHA, dp.FieldARPTHA,
	dp.FieldIPv6Src, dp.FieldIPv6Dst, dp.FieldIPv6Label,
	dp.FieldTPSrc, dp.FieldTPDst, dp.FieldTCPFlags, dp.FieldICMPType, dp.FieldICMPCode,
	dp.FieldNDTarget, dp.FieldNDSLL, dp.FieldNDTLL,
}

func init() {
	for i := 0; i < 16; i++ {
		matchOrder = append(matchOrder, dp.FieldReg0+dp.Field(i))
	}
}

// MatchToOF converts an engine match into a canonical OpenFlow match.
// Fields that share key bits (ipv4_src and arp_spa, tp_src and icmp_type,
// arp_sha and ipv6_nd_sll) appear once, under the name the match's
// eth_type and ip_proto give them.
func MatchToOF(m *dp.Match, pm PortMap) ofp.Match {
	c := ctxOf(m)
	var out ofp.Match
	seen := map[ofp.FieldID]bool{}
	for _, f := range matchOrder {
		v, mask := m.Get(f)
		if mask.IsZero() {
			continue
		}
		icmp := c.proto == 1 || c.proto == 58
		if (f == dp.FieldTPSrc || f == dp.FieldTPDst) && icmp || (f == dp.FieldICMPType || f == dp.FieldICMPCode) && !icmp {
			continue // the same key bits under the protocol's other name
		}
		id := ofField(f, c)
		if id == ofp.FieldUnknown || seen[id] {
			continue
		}
		// Shared bits: a field whose prerequisite the match lacks is the
		// other name's (arp_spa in an IPv4 match is ipv4_src).
		seen[id] = true
		if f == dp.FieldInPort {
			v.Lo = uint64(pm.ToOF(uint32(v.Lo)))
		}
		n := id.Len()
		o := ofp.NewOXM(id, bytesOf(v, n), nil)
		if mask != f.FullMask() {
			o.Mask = bytesOf(mask, n)
		}
		out.Add(o)
	}
	return out
}
