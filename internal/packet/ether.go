package packet

// Ethernet is an Ethernet II header followed by its payload.
type Ethernet []byte

// EthernetLen is the length of an Ethernet II header.
const EthernetLen = 14

// ParseEthernet checks that b holds an Ethernet header.
func ParseEthernet(b []byte) (Ethernet, error) {
	if len(b) < EthernetLen {
		return nil, ErrTruncated
	}
	return Ethernet(b), nil
}

// Dst returns the destination address.
func (e Ethernet) Dst() MAC { return MAC(e[0:6]) }

// Src returns the source address.
func (e Ethernet) Src() MAC { return MAC(e[6:12]) }

// EtherType returns the EtherType (or TPID, if tagged).
func (e Ethernet) EtherType() uint16 { return be.Uint16(e[12:]) }

// SetDst sets the destination address.
func (e Ethernet) SetDst(m MAC) { copy(e[0:6], m[:]) }

// SetSrc sets the source address.
func (e Ethernet) SetSrc(m MAC) { copy(e[6:12], m[:]) }

// SetEtherType sets the EtherType.
func (e Ethernet) SetEtherType(t uint16) { be.PutUint16(e[12:], t) }

// Payload returns what follows the header.
func (e Ethernet) Payload() []byte { return e[EthernetLen:] }

// TCI is an 802.1Q tag control field: PCP (3 bits), DEI (1), VID (12).
type TCI uint16

// MakeTCI builds a TCI.
func MakeTCI(pcp uint8, dei bool, vid uint16) TCI {
	t := TCI(pcp&7)<<13 | TCI(vid&0xfff)
	if dei {
		t |= 1 << 12
	}
	return t
}

// PCP returns the priority code point.
func (t TCI) PCP() uint8 { return uint8(t >> 13) }

// DEI returns the drop eligible indicator.
func (t TCI) DEI() bool { return t&(1<<12) != 0 }

// VID returns the VLAN ID.
func (t TCI) VID() uint16 { return uint16(t) & 0xfff }

// L2 is a frame's layer-2 summary, as a switch classifies it.
type L2 struct {
	Dst, Src MAC
	// Tagged is true when the first EtherType is a VLAN tag (0x8100 or
	// 0x88a8); TPID and TCI are that tag's.
	Tagged bool
	TPID   uint16
	TCI    TCI
	// InnerTagged is true when a second tag follows the first (QinQ).
	InnerTagged bool
	InnerTCI    TCI
	// EtherType is the type after all tags; L3 is the offset of the L3
	// header.
	EtherType uint16
	L3        int
}

// ParseL2 classifies a frame: addresses, up to two VLAN tags, the
// EtherType and where L3 starts. Zero allocations.
func ParseL2(f []byte) (L2, error) {
	var l L2
	if len(f) < EthernetLen {
		return l, ErrTruncated
	}
	l.Dst, l.Src = MAC(f[0:6]), MAC(f[6:12])
	et := be.Uint16(f[12:])
	off := 14
	if et == EtherTypeVLAN || et == EtherTypeQinQ {
		if len(f) < off+4 {
			return l, ErrTruncated
		}
		l.Tagged, l.TPID, l.TCI = true, et, TCI(be.Uint16(f[off:]))
		et = be.Uint16(f[off+2:])
		off += 4
		if et == EtherTypeVLAN || et == EtherTypeQinQ {
			if len(f) < off+4 {
				return l, ErrTruncated
			}
			l.InnerTagged, l.InnerTCI = true, TCI(be.Uint16(f[off:]))
			et = be.Uint16(f[off+2:])
			off += 4
		}
	}
	l.EtherType, l.L3 = et, off
	return l, nil
}

// PushVLAN inserts a 4-byte tag (tpid, tci) after the MAC addresses of the
// frame buf[off:off+n], moving the addresses 4 bytes into the headroom. It
// returns the new offset of the frame (off-4); the frame is 4 bytes longer.
func PushVLAN(buf []byte, off, n int, tpid uint16, tci TCI) (int, error) {
	if off < 4 || n < 12 || off+n > len(buf) {
		return off, ErrNoSpace
	}
	copy(buf[off-4:off+8], buf[off:off+12])
	be.PutUint16(buf[off+8:], tpid)
	be.PutUint16(buf[off+10:], uint16(tci))
	return off - 4, nil
}

// PopVLAN removes the tag after the MAC addresses of the frame buf[off:off+n]
// and returns the frame's new offset (off+4); the frame is 4 bytes shorter.
func PopVLAN(buf []byte, off, n int) (int, error) {
	if n < 18 || off+n > len(buf) {
		return off, ErrTruncated
	}
	if t := be.Uint16(buf[off+12:]); t != EtherTypeVLAN && t != EtherTypeQinQ {
		return off, ErrBadHeader
	}
	copy(buf[off+4:off+16], buf[off:off+12])
	return off + 4, nil
}

// ARP is an ARP packet for Ethernet and IPv4 (28 bytes).
type ARP []byte

// ARPLen is the length of an Ethernet/IPv4 ARP packet.
const ARPLen = 28

// ARP operations.
const (
	ARPRequest = 1
	ARPReply   = 2
)

// ParseARP checks an Ethernet/IPv4 ARP packet.
func ParseARP(b []byte) (ARP, error) {
	if len(b) < ARPLen {
		return nil, ErrTruncated
	}
	if be.Uint16(b[0:]) != 1 || be.Uint16(b[2:]) != EtherTypeIPv4 || b[4] != 6 || b[5] != 4 {
		return nil, ErrUnsupported
	}
	return ARP(b[:ARPLen]), nil
}

// Op returns the operation (1 request, 2 reply).
func (a ARP) Op() uint16 { return be.Uint16(a[6:]) }

// SenderMAC returns the sender hardware address.
func (a ARP) SenderMAC() MAC { return MAC(a[8:14]) }

// SenderIP returns the sender protocol address.
func (a ARP) SenderIP() [4]byte { return [4]byte(a[14:18]) }

// TargetMAC returns the target hardware address.
func (a ARP) TargetMAC() MAC { return MAC(a[18:24]) }

// TargetIP returns the target protocol address.
func (a ARP) TargetIP() [4]byte { return [4]byte(a[24:28]) }

// BuildARP writes an Ethernet/IPv4 ARP packet into b (28 bytes).
func BuildARP(b []byte, op uint16, sha MAC, spa [4]byte, tha MAC, tpa [4]byte) (ARP, error) {
	if len(b) < ARPLen {
		return nil, ErrNoSpace
	}
	be.PutUint16(b[0:], 1)
	be.PutUint16(b[2:], EtherTypeIPv4)
	b[4], b[5] = 6, 4
	be.PutUint16(b[6:], op)
	copy(b[8:], sha[:])
	copy(b[14:], spa[:])
	copy(b[18:], tha[:])
	copy(b[24:], tpa[:])
	return ARP(b[:ARPLen]), nil
}
