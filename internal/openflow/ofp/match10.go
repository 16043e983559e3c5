package ofp

// OpenFlow 1.0 ofp_match (40 bytes) and the OpenFlow 1.3 ofp_match
// wrapper around OXM entries.

const match10Len = 40

// OpenFlow 1.0 wildcard bits.
const (
	fw10InPort   = 1 << 0
	fw10DLVLAN   = 1 << 1
	fw10DLSrc    = 1 << 2
	fw10DLDst    = 1 << 3
	fw10DLType   = 1 << 4
	fw10NWProto  = 1 << 5
	fw10TPSrc    = 1 << 6
	fw10TPDst    = 1 << 7
	fw10NWSrcSh  = 8
	fw10NWDstSh  = 14
	fw10VLANPCP  = 1 << 20
	fw10NWTos    = 1 << 21
	fw10All      = 1<<22 - 1
	fw10AllWords = fw10All&^(63<<fw10NWSrcSh|63<<fw10NWDstSh) | 32<<fw10NWSrcSh | 32<<fw10NWDstSh
)

// vlanNone10 is OFP10_VLAN_NONE: dl_vlan of an untagged frame.
const vlanNone10 = 0xffff

// parseMatch10 converts an ofp10_match into a canonical Match, as Open
// vSwitch does: fields whose prerequisites the match does not meet are
// ignored (OpenFlow 1.0 says such fields do not apply), dl_vlan 0xffff is an
// untagged frame, nw_proto and nw_src/dst of an ARP match are arp_op and
// arp_spa/tpa, tp_src/dst of an ICMP match are icmp type and code.
func parseMatch10(b []byte) (Match, error) {
	if len(b) < match10Len {
		return Match{}, errLen(ErrBadRequest, BadRequestBadLen, "ofp10_match", len(b), match10Len)
	}
	w := be.Uint32(b)
	inPort := be.Uint16(b[4:])
	dlSrc, dlDst := b[6:12], b[12:18]
	dlVLAN := be.Uint16(b[18:])
	pcp := b[20]
	dlType := be.Uint16(b[22:])
	tos, proto := b[24], b[25]
	nwSrc, nwDst := b[28:32], b[32:36]
	tpSrc, tpDst := be.Uint16(b[36:]), be.Uint16(b[38:])

	var m Match
	if w&fw10InPort == 0 {
		m.Add(OXMUint(FieldInPort, uint64(PortFrom10(inPort))))
	}
	if w&fw10DLSrc == 0 {
		m.Add(NewOXM(FieldEthSrc, dlSrc, nil))
	}
	if w&fw10DLDst == 0 {
		m.Add(NewOXM(FieldEthDst, dlDst, nil))
	}
	tagged := false
	if w&fw10DLVLAN == 0 {
		if dlVLAN == vlanNone10 {
			m.Add(OXMUint(FieldVLANVID, 0))
		} else {
			if dlVLAN > 0xfff {
				return Match{}, Errorf(ErrBadMatch, BadMatchBadValue, "dl_vlan=%d is out of range (0 to 4095, or 0xffff for none)", dlVLAN)
			}
			m.Add(OXMUint(FieldVLANVID, uint64(dlVLAN)|0x1000))
			tagged = true
		}
	}
	if w&fw10VLANPCP == 0 && (w&fw10DLVLAN != 0 || dlVLAN != vlanNone10) {
		if !tagged {
			m.Add(OXMUint(FieldVLANVID, 0x1000, 0x1000))
		}
		m.Add(OXMUint(FieldVLANPCP, uint64(pcp&7)))
	}
	if w&fw10DLType != 0 {
		return m, nil
	}
	m.Add(OXMUint(FieldEthType, uint64(dlType)))
	isIP, isARP := dlType == 0x0800, dlType == 0x0806 || dlType == 0x8035
	if isIP && w&fw10NWTos == 0 {
		m.Add(OXMUint(FieldIPDSCP, uint64(tos>>2)))
	}
	haveProto := w&fw10NWProto == 0
	switch {
	case isIP && haveProto:
		m.Add(OXMUint(FieldIPProto, uint64(proto)))
	case isARP && haveProto:
		m.Add(OXMUint(FieldARPOp, uint64(proto)))
	}
	if isIP || isARP {
		src, dst := FieldIPv4Src, FieldIPv4Dst
		if isARP {
			src, dst = FieldARPSPA, FieldARPTPA
		}
		addNW := func(f FieldID, addr []byte, shift uint) {
			n := (w >> shift) & 63
			if n >= 32 {
				return
			}
			mask := ^uint32(0) << n
			v := be.Uint32(addr) & mask
			m.Add(OXMUint(f, uint64(v), uint64(mask)))
		}
		addNW(src, nwSrc, fw10NWSrcSh)
		addNW(dst, nwDst, fw10NWDstSh)
	}
	if isIP && haveProto {
		var s, d FieldID
		switch proto {
		case 6:
			s, d = FieldTCPSrc, FieldTCPDst
		case 17:
			s, d = FieldUDPSrc, FieldUDPDst
		case 132:
			s, d = FieldSCTPSrc, FieldSCTPDst
		case 1:
			s, d = FieldICMPv4Type, FieldICMPv4Code
		}
		if s != FieldUnknown {
			if w&fw10TPSrc == 0 {
				m.Add(OXMUint(s, uint64(tpSrc)&(1<<(8*uint(s.Len()))-1)))
			}
			if w&fw10TPDst == 0 {
				m.Add(OXMUint(d, uint64(tpDst)&(1<<(8*uint(d.Len()))-1)))
			}
		}
	}
	return m, nil
}

// appendMatch10 encodes a canonical match as an ofp10_match with Open
// vSwitch's conventions (wildcarded fields zero, fully wildcarded nw_src/dst
// as 32). ok is false if some entry cannot be expressed in OpenFlow 1.0
// (it is then left out: the match is wider than asked).
func appendMatch10(b []byte, m *Match) ([]byte, bool) {
	var f [match10Len]byte
	w := uint32(fw10AllWords)
	exact := true
	for _, o := range m.Fields {
		v, mask := o.Uint()
		isExact := o.Mask == nil
		switch o.ID() {
		case FieldInPort:
			p, ok := PortTo10(uint32(v))
			if !ok {
				exact = false
				continue
			}
			be.PutUint16(f[4:], p)
			w &^= fw10InPort
		case FieldInPort16:
			be.PutUint16(f[4:], uint16(v))
			w &^= fw10InPort
		case FieldEthSrc, FieldEthDst:
			if !isExact {
				exact = false
				continue
			}
			if o.ID() == FieldEthSrc {
				copy(f[6:12], o.Value)
				w &^= fw10DLSrc
			} else {
				copy(f[12:18], o.Value)
				w &^= fw10DLDst
			}
		case FieldVLANVID:
			switch {
			case isExact && v == 0:
				be.PutUint16(f[18:], vlanNone10)
				w &^= fw10DLVLAN
			case isExact && v&0x1000 != 0:
				be.PutUint16(f[18:], uint16(v&0xfff))
				w &^= fw10DLVLAN
			case v == 0x1000 && mask == 0x1000:
				// "any tagged frame": expressible only with a PCP.
			default:
				exact = false
			}
		case FieldVLANPCP:
			f[20] = byte(v)
			w &^= fw10VLANPCP
		case FieldEthType:
			be.PutUint16(f[22:], uint16(v))
			w &^= fw10DLType
		case FieldIPDSCP:
			f[24] = byte(v << 2)
			w &^= fw10NWTos
		case FieldIPTOS:
			f[24] = byte(v)
			w &^= fw10NWTos
		case FieldIPProto, FieldARPOp:
			f[25] = byte(v)
			w &^= fw10NWProto
		case FieldIPv4Src, FieldARPSPA, FieldIPv4Dst, FieldARPTPA:
			n := prefixLen(uint32(mask))
			if n < 0 {
				exact = false
				continue
			}
			at, sh := 28, uint(fw10NWSrcSh)
			if id := o.ID(); id == FieldIPv4Dst || id == FieldARPTPA {
				at, sh = 32, fw10NWDstSh
			}
			be.PutUint32(f[at:], uint32(v))
			w = w&^(63<<sh) | uint32(32-n)<<sh
		case FieldTCPSrc, FieldUDPSrc, FieldSCTPSrc, FieldICMPv4Type:
			if !isExact {
				exact = false
				continue
			}
			be.PutUint16(f[36:], uint16(v))
			w &^= fw10TPSrc
		case FieldTCPDst, FieldUDPDst, FieldSCTPDst, FieldICMPv4Code:
			if !isExact {
				exact = false
				continue
			}
			be.PutUint16(f[38:], uint16(v))
			w &^= fw10TPDst
		default:
			exact = false
		}
	}
	be.PutUint32(f[:], w)
	return append(b, f[:]...), exact
}

// OpenFlow 1.1+ match types.
const (
	matchTypeStandard = 0
	matchTypeOXM      = 1
)

// parseMatch13 decodes an OpenFlow 1.3 ofp_match (type OXM) at the start of
// b and returns it with the number of bytes it takes, padding included.
func parseMatch13(b []byte) (Match, int, error) {
	if len(b) < 4 {
		return Match{}, 0, errLen(ErrBadMatch, BadMatchBadLen, "ofp_match header", len(b), 4)
	}
	typ, n := be.Uint16(b), int(be.Uint16(b[2:]))
	if typ != matchTypeOXM {
		return Match{}, 0, Errorf(ErrBadMatch, BadMatchBadType, "match type %d, only OFPMT_OXM (1) is supported", typ)
	}
	if n < 4 {
		return Match{}, 0, Errorf(ErrBadMatch, BadMatchBadLen, "ofp_match length %d is less than its 4-byte header", n)
	}
	total := pad8(n)
	if total > len(b) {
		return Match{}, 0, Errorf(ErrBadMatch, BadMatchBadLen, "ofp_match of %d bytes (%d padded) but only %d remain", n, total, len(b))
	}
	fields, err := parseOXMs(b[4:n])
	if err != nil {
		return Match{}, 0, err
	}
	return Match{Fields: fields}, total, nil
}

// appendMatch13 appends an OpenFlow 1.3 ofp_match with its padding.
func appendMatch13(b []byte, m *Match) []byte {
	off := len(b)
	b = appendU16(b, matchTypeOXM)
	b = appendU16(b, uint16(4+m.oxmLen()))
	b = m.appendOXMs(b)
	return padTo8(b, off)
}

// parseNXM decodes an NXM match of matchLen bytes at the start of b followed
// by its padding to 8, returning the match and the bytes it takes.
func parseNXM(b []byte, matchLen int) (Match, int, error) {
	total := pad8(matchLen)
	if total > len(b) {
		return Match{}, 0, Errorf(ErrBadMatch, BadMatchBadLen, "nx_match of %d bytes (%d padded) but only %d remain", matchLen, total, len(b))
	}
	fields, err := parseOXMs(b[:matchLen])
	if err != nil {
		return Match{}, 0, err
	}
	return Match{Fields: fields}, total, nil
}

// appendNXM appends the match's entries and padding; it returns the
// unpadded length for the enclosing match_len field.
func appendNXM(b []byte, m *Match) ([]byte, int) {
	off := len(b)
	b = m.appendOXMs(b)
	n := len(b) - off
	return padTo8(b, off), n
}
