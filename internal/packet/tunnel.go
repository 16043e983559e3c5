package packet

// Well-known tunnel ports.
const (
	VXLANPort       = 4789
	VXLANLinuxPort  = 8472 // Linux's pre-IANA default
	GenevePort      = 6081
	STTPort         = 7471
	VXLANHeaderLen  = 8
	GeneveMinLen    = 8
	STTFrameHdrLen  = 18
	vxlanFlagI      = 0x08
	geneveFlagO     = 0x80
	geneveFlagC     = 0x40
	greFlagChecksum = 0x80
	greFlagKey      = 0x20
	greFlagSeq      = 0x10
)

// VXLAN is an RFC 7348 header: flags (I = 0x08), 24 reserved bits, the
// 24-bit VNI and 8 reserved bits.
type VXLAN []byte

// ParseVXLAN checks that b holds a VXLAN header. It does not judge the
// flags: see HasI and ReservedBitsSet.
func ParseVXLAN(b []byte) (VXLAN, error) {
	if len(b) < VXLANHeaderLen {
		return nil, ErrTruncated
	}
	return VXLAN(b), nil
}

// Flags returns the flags byte.
func (v VXLAN) Flags() uint8 { return v[0] }

// HasI reports whether the I flag (valid VNI) is set; RFC 7348 frames
// without it are dropped.
func (v VXLAN) HasI() bool { return v[0]&vxlanFlagI != 0 }

// ReservedBitsSet reports whether any reserved bit is set (flags other
// than I, bytes 1–3, byte 7). RFC 7348 says receivers MUST ignore them.
func (v VXLAN) ReservedBitsSet() bool {
	return v[0]&^vxlanFlagI != 0 || v[1]|v[2]|v[3]|v[7] != 0
}

// VNI returns the 24-bit VXLAN network identifier.
func (v VXLAN) VNI() uint32 { return uint32(v[4])<<16 | uint32(v[5])<<8 | uint32(v[6]) }

// Payload returns the inner Ethernet frame.
func (v VXLAN) Payload() []byte { return v[VXLANHeaderLen:] }

// PutVXLAN writes a VXLAN header with the I flag, the VNI and every reserved
// bit zero.
func PutVXLAN(b []byte, vni uint32) error {
	if len(b) < VXLANHeaderLen {
		return ErrNoSpace
	}
	b[0], b[1], b[2], b[3] = vxlanFlagI, 0, 0, 0
	b[4], b[5], b[6], b[7] = byte(vni>>16), byte(vni>>8), byte(vni), 0
	return nil
}

// Geneve is an RFC 8926 header with its options.
type Geneve []byte

// ParseGeneve checks version 0 and that the options fit.
func ParseGeneve(b []byte) (Geneve, error) {
	if len(b) < GeneveMinLen {
		return nil, ErrTruncated
	}
	if b[0]>>6 != 0 {
		return nil, ErrBadVersion
	}
	if GeneveMinLen+int(b[0]&0x3f)*4 > len(b) {
		return nil, ErrTruncated
	}
	return Geneve(b), nil
}

// OptionsLen returns the length of the options in bytes.
func (g Geneve) OptionsLen() int { return int(g[0]&0x3f) * 4 }

// HeaderLen returns the header length including options.
func (g Geneve) HeaderLen() int { return GeneveMinLen + g.OptionsLen() }

// OAM reports the O (control packet) flag.
func (g Geneve) OAM() bool { return g[1]&geneveFlagO != 0 }

// Critical reports the C flag: critical options are present.
func (g Geneve) Critical() bool { return g[1]&geneveFlagC != 0 }

// Protocol returns the protocol type of the payload (0x6558: Ethernet).
func (g Geneve) Protocol() uint16 { return be.Uint16(g[2:]) }

// VNI returns the 24-bit virtual network identifier.
func (g Geneve) VNI() uint32 { return uint32(g[4])<<16 | uint32(g[5])<<8 | uint32(g[6]) }

// Payload returns what follows the header and options.
func (g Geneve) Payload() []byte { return g[g.HeaderLen():] }

// GeneveOption is one TLV option.
type GeneveOption struct {
	Class    uint16
	Type     uint8 // the high bit is the critical bit
	Data     []byte
	Critical bool
}

// NextOption returns the option at byte offset off of the options area and
// the offset of the next one; ok is false when there are no more, err is
// set for a malformed option.
func (g Geneve) NextOption(off int) (opt GeneveOption, next int, ok bool, err error) {
	opts := g[GeneveMinLen:g.HeaderLen()]
	if off >= len(opts) {
		return opt, off, false, nil
	}
	if off+4 > len(opts) {
		return opt, off, false, ErrTruncated
	}
	n := int(opts[off+3]&0x1f) * 4
	if off+4+n > len(opts) {
		return opt, off, false, ErrTruncated
	}
	opt = GeneveOption{Class: be.Uint16(opts[off:]), Type: opts[off+2], Data: opts[off+4 : off+4+n], Critical: opts[off+2]&0x80 != 0}
	return opt, off + 4 + n, true, nil
}

// HasCriticalOption reports whether any option has its critical bit set;
// a receiver that understands no option must drop such a packet.
func (g Geneve) HasCriticalOption() (bool, error) {
	for off := 0; ; {
		opt, next, ok, err := g.NextOption(off)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, nil
		}
		if opt.Critical {
			return true, nil
		}
		off = next
	}
}

// PutGeneve writes an 8-byte Geneve header (no options) for an Ethernet
// payload.
func PutGeneve(b []byte, vni uint32) error {
	if len(b) < GeneveMinLen {
		return ErrNoSpace
	}
	b[0], b[1] = 0, 0
	be.PutUint16(b[2:], EtherTypeTEB)
	b[4], b[5], b[6], b[7] = byte(vni>>16), byte(vni>>8), byte(vni), 0
	return nil
}

// GRE is an RFC 2784/2890 header.
type GRE []byte

// ParseGRE checks version 0 and that the optional fields fit.
func ParseGRE(b []byte) (GRE, error) {
	if len(b) < 4 {
		return nil, ErrTruncated
	}
	if b[1]&7 != 0 {
		return nil, ErrBadVersion
	}
	g := GRE(b)
	if len(b) < g.HeaderLen() {
		return nil, ErrTruncated
	}
	return g, nil
}

// HeaderLen returns the header length with its optional fields.
func (g GRE) HeaderLen() int {
	n := 4
	if g[0]&greFlagChecksum != 0 {
		n += 4
	}
	if g[0]&greFlagKey != 0 {
		n += 4
	}
	if g[0]&greFlagSeq != 0 {
		n += 4
	}
	return n
}

// Protocol returns the payload protocol type (0x6558: Ethernet).
func (g GRE) Protocol() uint16 { return be.Uint16(g[2:]) }

// HasKey reports whether the K bit is set.
func (g GRE) HasKey() bool { return g[0]&greFlagKey != 0 }

// Key returns the key field (0 when absent).
func (g GRE) Key() uint32 {
	if !g.HasKey() {
		return 0
	}
	off := 4
	if g[0]&greFlagChecksum != 0 {
		off += 4
	}
	return be.Uint32(g[off:])
}

// VSID returns the NVGRE virtual subnet ID (RFC 7637): the key's top 24 bits.
func (g GRE) VSID() uint32 { return g.Key() >> 8 }

// FlowID returns the NVGRE flow ID: the key's low 8 bits.
func (g GRE) FlowID() uint8 { return uint8(g.Key()) }

// Payload returns what follows the header.
func (g GRE) Payload() []byte { return g[g.HeaderLen():] }

// PutGRE writes an 8-byte GRE header with a key, for an Ethernet payload
// (transparent Ethernet bridging). For NVGRE the key is VSID<<8 | FlowID.
func PutGRE(b []byte, key uint32) error {
	if len(b) < 8 {
		return ErrNoSpace
	}
	b[0], b[1] = greFlagKey, 0
	be.PutUint16(b[2:], EtherTypeTEB)
	be.PutUint32(b[4:], key)
	return nil
}

// STT is an STT frame header (18 bytes, after the TCP-like header): version,
// flags, L4 offset, reserved, MSS, PCP/V/VLAN, a 64-bit context ID and 2
// bytes of padding.
type STT []byte

// ParseSTT checks that b holds an STT frame header of version 0.
func ParseSTT(b []byte) (STT, error) {
	if len(b) < STTFrameHdrLen {
		return nil, ErrTruncated
	}
	if b[0] != 0 {
		return nil, ErrBadVersion
	}
	return STT(b), nil
}

// Flags returns the flags byte.
func (s STT) Flags() uint8 { return s[1] }

// L4Offset returns the L4 offset field.
func (s STT) L4Offset() uint8 { return s[2] }

// MSS returns the maximum segment size field.
func (s STT) MSS() uint16 { return be.Uint16(s[4:]) }

// VLANValid reports whether the V bit is set.
func (s STT) VLANValid() bool { return s[6]&0x10 != 0 }

// VLAN returns the tag (PCP and VID) when VLANValid.
func (s STT) VLAN() TCI { return TCI(be.Uint16(s[6:]) &^ 0x1000) }

// ContextID returns the 64-bit context ID.
func (s STT) ContextID() uint64 { return be.Uint64(s[8:]) }

// Payload returns the inner frame.
func (s STT) Payload() []byte { return s[STTFrameHdrLen:] }
