package packet

import "net/netip"

// Overheads of encapsulations over IPv4 and IPv6 (outer Ethernet not
// counted: they are what the underlay MTU must carry beyond the inner frame).
const (
	VXLANOverhead4 = IPv4MinLen + UDPLen + VXLANHeaderLen + EthernetLen // 50
	VXLANOverhead6 = IPv6Len + UDPLen + VXLANHeaderLen + EthernetLen    // 70
)

// OuterIPv4 are the fields of an outer IPv4 header.
type OuterIPv4 struct {
	Src, Dst [4]byte
	TTL, TOS uint8
	ID       uint16
	DF       bool
	Proto    uint8
}

// PutIPv4 writes a 20-byte IPv4 header for a payload of n bytes, with its
// checksum.
func PutIPv4(b []byte, h *OuterIPv4, n int) error {
	if len(b) < IPv4MinLen {
		return ErrNoSpace
	}
	if IPv4MinLen+n > 65535 {
		return ErrBadLength
	}
	b[0], b[1] = 0x45, h.TOS
	be.PutUint16(b[2:], uint16(IPv4MinLen+n))
	be.PutUint16(b[4:], h.ID)
	b[6], b[7] = 0, 0
	if h.DF {
		b[6] = 0x40
	}
	b[8], b[9] = h.TTL, h.Proto
	copy(b[12:16], h.Src[:])
	copy(b[16:20], h.Dst[:])
	IPv4(b[:IPv4MinLen]).SetHeaderChecksum()
	return nil
}

// PutUDP writes a UDP header for a payload of n bytes that follows it in b.
// With pseudo != nil the checksum is computed over the pseudo-header sum
// *pseudo; otherwise it is zero (allowed over IPv4 only).
func PutUDP(b []byte, src, dst uint16, n int, pseudo *uint32) error {
	if len(b) < UDPLen+n {
		return ErrNoSpace
	}
	be.PutUint16(b[0:], src)
	be.PutUint16(b[2:], dst)
	be.PutUint16(b[4:], uint16(UDPLen+n))
	b[6], b[7] = 0, 0
	if pseudo != nil {
		UDP(b[:UDPLen+n]).SetChecksum(*pseudo)
	}
	return nil
}

// FlowHash hashes a frame's flow: its MAC addresses and EtherType, plus the
// IP addresses and protocol and the TCP/UDP ports when present. The same
// flow always hashes the same. It allocates nothing.
func FlowHash(f []byte) uint32 {
	const prime = 0x9E3779B97F4A7C15
	h := uint64(0xcbf29ce484222325)
	mix := func(v uint64) { h = (h ^ v) * prime; h ^= h >> 29 }
	l, err := ParseL2(f)
	if err != nil {
		return uint32(len(f))
	}
	mix(uint64(be.Uint32(f[0:])) | uint64(be.Uint16(f[4:]))<<32)
	mix(uint64(be.Uint32(f[6:])) | uint64(be.Uint16(f[10:]))<<32)
	mix(uint64(l.EtherType) | uint64(l.TCI.VID())<<16)
	var proto uint8
	var l4 []byte
	switch l.EtherType {
	case EtherTypeIPv4:
		if ip, err := ParseIPv4(f[l.L3:]); err == nil {
			mix(uint64(be.Uint32(ip[12:])) | uint64(be.Uint32(ip[16:]))<<32)
			proto = ip.Protocol()
			if !ip.IsFragment() {
				l4 = ip.Payload()
			}
		}
	case EtherTypeIPv6:
		if ip, err := ParseIPv6(f[l.L3:]); err == nil {
			for i := 8; i < 40; i += 8 {
				mix(be.Uint64(ip[i:]))
			}
			if p, off, err := ip.UpperLayer(); err == nil {
				proto, l4 = p, ip[off:]
			}
		}
	}
	if (proto == ProtoTCP || proto == ProtoUDP) && len(l4) >= 4 {
		mix(uint64(proto)<<32 | uint64(be.Uint32(l4)))
	} else {
		mix(uint64(proto) << 32)
	}
	return uint32(h>>32) ^ uint32(h)
}

// SourcePort maps a flow hash into [min, max] (RFC 7348 recommends
// 49152–65535).
func SourcePort(hash uint32, min, max uint16) uint16 {
	if max <= min {
		return min
	}
	return min + uint16(uint64(hash)*uint64(max-min+1)>>32)
}

// L4Sum locates the TCP or UDP checksum of a frame (see FindL4Checksum).
type L4Sum struct {
	// Start is the offset of the L4 header in the frame, End that of the
	// end of the L4 data (Ethernet padding excluded).
	Start, End int
	// Offset is the checksum field's offset from Start: 16 for TCP, 6 for
	// UDP.
	Offset int
	// Pseudo is the pseudo-header sum over the L4 length.
	Pseudo uint32
	// IPv6 is true over IPv6.
	IPv6 bool
}

// Field returns the checksum field's value.
func (s L4Sum) Field(f []byte) uint16 { return be.Uint16(f[s.Start+s.Offset:]) }

// FindL4Checksum locates the TCP or UDP checksum of an Ethernet frame (up to
// two VLAN tags, IPv4 not fragmented, or IPv6). It reports false for other
// frames and for UDP over IPv4 without a checksum. It reads only the
// headers.
func FindL4Checksum(f []byte) (L4Sum, bool) {
	var s L4Sum
	l, err := ParseL2(f)
	if err != nil {
		return s, false
	}
	var proto uint8
	switch l.EtherType {
	case EtherTypeIPv4:
		ip, err := ParseIPv4(f[l.L3:])
		if err != nil || ip.IsFragment() {
			return s, false
		}
		proto, s.Pseudo = ip.Protocol(), ip.PseudoSum()
		s.Start, s.End = l.L3+ip.HeaderLen(), l.L3+len(ip)
	case EtherTypeIPv6:
		ip, err := ParseIPv6(f[l.L3:])
		if err != nil {
			return s, false
		}
		p, off, err := ip.UpperLayer()
		if err != nil {
			return s, false
		}
		proto, s.Pseudo, s.IPv6 = p, ip.PseudoSum(p, len(ip)-off), true
		s.Start, s.End = l.L3+off, l.L3+len(ip)
	default:
		return s, false
	}
	switch {
	case proto == ProtoTCP && s.End-s.Start >= TCPMinLen:
		s.Offset = 16
	case proto == ProtoUDP && s.End-s.Start >= UDPLen:
		s.Offset = 6
		if l.EtherType == EtherTypeIPv4 && s.Field(f) == 0 {
			return s, false // no checksum
		}
	default:
		return s, false
	}
	return s, true
}

// PartialChecksum reports whether the frame's TCP or UDP checksum looks
// partial — the field holds exactly the folded pseudo-header sum, as a
// sender with checksum offload leaves it (a Linux peer over veth) — and
// where it is. It reads only the headers. A complete checksum that happens
// to equal the pseudo-header sum (1 in 65,536) is reported too, which is
// harmless: finishing it yields the same value.
func PartialChecksum(f []byte) (L4Sum, bool) {
	s, ok := FindL4Checksum(f)
	return s, ok && s.Field(f) == Fold(s.Pseudo)
}

// SetL4Checksum computes and stores the complete TCP or UDP checksum of a
// frame (see FindL4Checksum for the frames it knows) and reports whether it
// did. It is for frames the kernel says are unfinished (AF_PACKET's
// TP_STATUS_CSUMNOTREADY); whatever the field held is overwritten.
func SetL4Checksum(f []byte) bool {
	s, ok := FindL4Checksum(f)
	if !ok {
		return false
	}
	l4 := f[s.Start:s.End]
	l4[s.Offset], l4[s.Offset+1] = 0, 0
	c := ^Fold(Checksum(l4, s.Pseudo))
	if s.Offset == 6 && c == 0 {
		c = 0xffff
	}
	be.PutUint16(l4[s.Offset:], c)
	return true
}

// AddrBytes4 returns an IPv4 address as 4 bytes (zero for others).
func AddrBytes4(a netip.Addr) [4]byte {
	if a.Is4() || a.Is4In6() {
		return a.Unmap().As4()
	}
	return [4]byte{}
}
