package packet

import "net/netip"

// Checksum returns the RFC 1071 ones'-complement sum of b added to initial,
// folded to 16 bits but not complemented, so that partial sums (a
// pseudo-header, a header, a payload) can be added together before a final
// Fold. It adds 8 bytes at a time.
func Checksum(b []byte, initial uint32) uint32 {
	s := uint64(initial)
	for len(b) >= 32 {
		v0, v1, v2, v3 := be.Uint64(b), be.Uint64(b[8:]), be.Uint64(b[16:]), be.Uint64(b[24:])
		s += v0>>32 + v0&0xffffffff + v1>>32 + v1&0xffffffff + v2>>32 + v2&0xffffffff + v3>>32 + v3&0xffffffff
		b = b[32:]
	}
	for len(b) >= 8 {
		v := be.Uint64(b)
		s += v>>32 + v&0xffffffff
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(be.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint32(s)
}

// Fold folds a 32-bit sum to 16 bits (not complemented).
func Fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// UpdateChecksum is the RFC 1624 incremental update of checksum field hc
// when a 16-bit word changes from old to new.
func UpdateChecksum(hc, old, new uint16) uint16 {
	s := uint32(^hc) + uint32(^old) + uint32(new)
	return ^Fold(s)
}

// PseudoHeaderSum is the sum of the TCP/UDP pseudo-header for src, dst (both
// IPv4 or both IPv6), protocol and L4 length.
func PseudoHeaderSum(src, dst []byte, proto uint8, length int) uint32 {
	s := Checksum(src, 0)
	s = Checksum(dst, s)
	return s + uint32(proto) + uint32(length)
}

// IPv4 is an IPv4 header followed by its payload.
type IPv4 []byte

// IPv4MinLen is the length of an IPv4 header without options.
const IPv4MinLen = 20

// ParseIPv4 checks version, IHL and total length; the returned view ends
// where the total length says.
func ParseIPv4(b []byte) (IPv4, error) {
	if len(b) < IPv4MinLen {
		return nil, ErrTruncated
	}
	if b[0]>>4 != 4 {
		return nil, ErrBadVersion
	}
	ihl := int(b[0]&0xf) * 4
	total := int(be.Uint16(b[2:]))
	if ihl < IPv4MinLen || total < ihl {
		return nil, ErrBadHeader
	}
	if total > len(b) {
		return nil, ErrBadLength
	}
	return IPv4(b[:total]), nil
}

// HeaderLen returns the header length in bytes.
func (ip IPv4) HeaderLen() int { return int(ip[0]&0xf) * 4 }

// TOS returns the type-of-service byte (DSCP and ECN).
func (ip IPv4) TOS() uint8 { return ip[1] }

// TotalLen returns the total length field.
func (ip IPv4) TotalLen() int { return int(be.Uint16(ip[2:])) }

// ID returns the identification field.
func (ip IPv4) ID() uint16 { return be.Uint16(ip[4:]) }

// DF reports whether the don't-fragment flag is set.
func (ip IPv4) DF() bool { return ip[6]&0x40 != 0 }

// IsFragment reports whether this is a fragment (MF set or offset non-zero).
func (ip IPv4) IsFragment() bool { return be.Uint16(ip[6:])&0x3fff != 0 }

// TTL returns the time to live.
func (ip IPv4) TTL() uint8 { return ip[8] }

// Protocol returns the payload protocol.
func (ip IPv4) Protocol() uint8 { return ip[9] }

// HeaderChecksum returns the checksum field.
func (ip IPv4) HeaderChecksum() uint16 { return be.Uint16(ip[10:]) }

// Src returns the source address.
func (ip IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(ip[12:16])) }

// Dst returns the destination address.
func (ip IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(ip[16:20])) }

// Payload returns what follows the header, up to the total length.
func (ip IPv4) Payload() []byte { return ip[ip.HeaderLen():] }

// HeaderChecksumValid reports whether the header checksum verifies.
func (ip IPv4) HeaderChecksumValid() bool { return Fold(Checksum(ip[:ip.HeaderLen()], 0)) == 0xffff }

// SetHeaderChecksum computes and stores the header checksum.
func (ip IPv4) SetHeaderChecksum() {
	ip[10], ip[11] = 0, 0
	be.PutUint16(ip[10:], ^Fold(Checksum(ip[:ip.HeaderLen()], 0)))
}

// PseudoSum returns the pseudo-header sum for the payload.
func (ip IPv4) PseudoSum() uint32 {
	return PseudoHeaderSum(ip[12:16], ip[16:20], ip.Protocol(), len(ip)-ip.HeaderLen())
}

// IPv6 is an IPv6 header followed by its payload.
type IPv6 []byte

// IPv6Len is the length of the fixed IPv6 header.
const IPv6Len = 40

// ParseIPv6 checks version and payload length.
func ParseIPv6(b []byte) (IPv6, error) {
	if len(b) < IPv6Len {
		return nil, ErrTruncated
	}
	if b[0]>>4 != 6 {
		return nil, ErrBadVersion
	}
	plen := int(be.Uint16(b[4:]))
	if IPv6Len+plen > len(b) {
		return nil, ErrBadLength
	}
	return IPv6(b[:IPv6Len+plen]), nil
}

// TrafficClass returns the traffic class.
func (ip IPv6) TrafficClass() uint8 { return uint8(be.Uint16(ip[0:]) >> 4) }

// FlowLabel returns the flow label.
func (ip IPv6) FlowLabel() uint32 { return be.Uint32(ip[0:]) & 0xfffff }

// PayloadLen returns the payload length field.
func (ip IPv6) PayloadLen() int { return int(be.Uint16(ip[4:])) }

// NextHeader returns the next-header field of the fixed header.
func (ip IPv6) NextHeader() uint8 { return ip[6] }

// HopLimit returns the hop limit.
func (ip IPv6) HopLimit() uint8 { return ip[7] }

// Src returns the source address.
func (ip IPv6) Src() netip.Addr { return netip.AddrFrom16([16]byte(ip[8:24])) }

// Dst returns the destination address.
func (ip IPv6) Dst() netip.Addr { return netip.AddrFrom16([16]byte(ip[24:40])) }

// maxExtHeaders bounds the extension-header walk.
const maxExtHeaders = 8

// UpperLayer walks the extension headers (hop-by-hop, routing, fragment,
// destination options; at most 8) and returns the upper-layer protocol and
// its offset from the start of the header.
func (ip IPv6) UpperLayer() (proto uint8, off int, err error) {
	proto, off = ip.NextHeader(), IPv6Len
	for i := 0; ; i++ {
		switch proto {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(ip) < off+8 {
				return 0, 0, ErrTruncated
			}
			n := (int(ip[off+1]) + 1) * 8
			if len(ip) < off+n {
				return 0, 0, ErrTruncated
			}
			proto, off = ip[off], off+n
		case 44: // fragment
			if len(ip) < off+8 {
				return 0, 0, ErrTruncated
			}
			proto, off = ip[off], off+8
		default:
			return proto, off, nil
		}
		if i >= maxExtHeaders {
			return 0, 0, ErrTooManyHeader
		}
	}
}

// PseudoSum returns the pseudo-header sum for an upper-layer packet of
// length n with protocol proto.
func (ip IPv6) PseudoSum(proto uint8, n int) uint32 {
	return PseudoHeaderSum(ip[8:24], ip[24:40], proto, n)
}

// UDP is a UDP header followed by its payload.
type UDP []byte

// UDPLen is the length of a UDP header.
const UDPLen = 8

// ParseUDP checks the length field against the data.
func ParseUDP(b []byte) (UDP, error) {
	if len(b) < UDPLen {
		return nil, ErrTruncated
	}
	n := int(be.Uint16(b[4:]))
	if n < UDPLen || n > len(b) {
		return nil, ErrBadLength
	}
	return UDP(b[:n]), nil
}

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return be.Uint16(u[0:]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return be.Uint16(u[2:]) }

// Length returns the length field.
func (u UDP) Length() int { return int(be.Uint16(u[4:])) }

// Checksum returns the checksum field (0 = none, over IPv4).
func (u UDP) Checksum() uint16 { return be.Uint16(u[6:]) }

// Payload returns the data after the header.
func (u UDP) Payload() []byte { return u[UDPLen:] }

// ChecksumValid reports whether the checksum verifies against the
// pseudo-header sum (a zero checksum is "none" and is valid).
func (u UDP) ChecksumValid(pseudo uint32) bool {
	return u.Checksum() == 0 || Fold(Checksum(u, pseudo)) == 0xffff
}

// SetChecksum computes and stores the checksum over the pseudo-header sum
// (0 becomes 0xffff, as RFC 768 asks).
func (u UDP) SetChecksum(pseudo uint32) {
	u[6], u[7] = 0, 0
	c := ^Fold(Checksum(u, pseudo))
	if c == 0 {
		c = 0xffff
	}
	be.PutUint16(u[6:], c)
}

// TCP is a TCP header followed by its payload.
type TCP []byte

// TCPMinLen is the length of a TCP header without options.
const TCPMinLen = 20

// ParseTCP checks the data offset.
func ParseTCP(b []byte) (TCP, error) {
	if len(b) < TCPMinLen {
		return nil, ErrTruncated
	}
	off := int(b[12]>>4) * 4
	if off < TCPMinLen {
		return nil, ErrBadHeader
	}
	if off > len(b) {
		return nil, ErrTruncated
	}
	return TCP(b), nil
}

// SrcPort returns the source port.
func (t TCP) SrcPort() uint16 { return be.Uint16(t[0:]) }

// DstPort returns the destination port.
func (t TCP) DstPort() uint16 { return be.Uint16(t[2:]) }

// Seq returns the sequence number.
func (t TCP) Seq() uint32 { return be.Uint32(t[4:]) }

// Ack returns the acknowledgment number.
func (t TCP) Ack() uint32 { return be.Uint32(t[8:]) }

// HeaderLen returns the header length (data offset) in bytes.
func (t TCP) HeaderLen() int { return int(t[12]>>4) * 4 }

// Flags returns the flag bits (FIN 0x01 … CWR 0x80).
func (t TCP) Flags() uint8 { return t[13] }

// Checksum returns the checksum field.
func (t TCP) Checksum() uint16 { return be.Uint16(t[16:]) }

// Payload returns the data after the header.
func (t TCP) Payload() []byte { return t[t.HeaderLen():] }

// ChecksumValid reports whether the checksum verifies.
func (t TCP) ChecksumValid(pseudo uint32) bool { return Fold(Checksum(t, pseudo)) == 0xffff }

// SetChecksum computes and stores the checksum.
func (t TCP) SetChecksum(pseudo uint32) {
	t[16], t[17] = 0, 0
	be.PutUint16(t[16:], ^Fold(Checksum(t, pseudo)))
}

// ICMP is an ICMP or ICMPv6 message.
type ICMP []byte

// ParseICMP checks that b holds an ICMP header (type, code, checksum and 4
// bytes of rest-of-header).
func ParseICMP(b []byte) (ICMP, error) {
	if len(b) < 8 {
		return nil, ErrTruncated
	}
	return ICMP(b), nil
}

// Type returns the message type.
func (c ICMP) Type() uint8 { return c[0] }

// Code returns the message code.
func (c ICMP) Code() uint8 { return c[1] }

// Checksum returns the checksum field.
func (c ICMP) Checksum() uint16 { return be.Uint16(c[2:]) }

// ID returns the echo identifier.
func (c ICMP) ID() uint16 { return be.Uint16(c[4:]) }

// Seq returns the echo sequence number.
func (c ICMP) Seq() uint16 { return be.Uint16(c[6:]) }

// ChecksumValid verifies an ICMPv4 checksum (pseudo = 0) or an ICMPv6 one
// (pseudo = the IPv6 pseudo-header sum).
func (c ICMP) ChecksumValid(pseudo uint32) bool { return Fold(Checksum(c, pseudo)) == 0xffff }
