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

// FixPartialChecksum repairs the TCP or UDP checksum of a frame whose sender
// left it partial — holding only the pseudo-header sum, as a Linux peer with
// transmit checksum offload does over veth — and reports whether it did.
// A frame whose checksum is simply wrong is left alone (its receiver drops
// it), so corruption is never hidden.
func FixPartialChecksum(f []byte) bool {
	l, err := ParseL2(f)
	if err != nil {
		return false
	}
	var l4 []byte
	var proto uint8
	var pseudo uint32
	switch l.EtherType {
	case EtherTypeIPv4:
		ip, err := ParseIPv4(f[l.L3:])
		if err != nil || ip.IsFragment() {
			return false
		}
		l4, proto, pseudo = ip.Payload(), ip.Protocol(), ip.PseudoSum()
	case EtherTypeIPv6:
		ip, err := ParseIPv6(f[l.L3:])
		if err != nil {
			return false
		}
		p, off, err := ip.UpperLayer()
		if err != nil {
			return false
		}
		l4, proto = ip[off:], p
		pseudo = ip.PseudoSum(p, len(l4))
	default:
		return false
	}
	var at int
	switch {
	case proto == ProtoTCP && len(l4) >= TCPMinLen:
		at = 16
	case proto == ProtoUDP && len(l4) >= UDPLen:
		at = 6
		if be.Uint16(l4[6:]) == 0 && l.EtherType == EtherTypeIPv4 {
			return false // no checksum
		}
	default:
		return false
	}
	if Fold(Checksum(l4, pseudo)) == 0xffff {
		return false // already right
	}
	if be.Uint16(l4[at:]) != Fold(pseudo) {
		return false // wrong, but not partial: leave it to the receiver
	}
	l4[at], l4[at+1] = 0, 0
	c := ^Fold(Checksum(l4, pseudo))
	if proto == ProtoUDP && c == 0 {
		c = 0xffff
	}
	be.PutUint16(l4[at:], c)
	return true
}

// AddrBytes4 returns an IPv4 address as 4 bytes (zero for others).
func AddrBytes4(a netip.Addr) [4]byte {
	if a.Is4() || a.Is4In6() {
		return a.Unmap().As4()
	}
	return [4]byte{}
}
