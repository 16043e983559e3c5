package netdev

import "encoding/binary"

// FinishL4Checksum computes the TCP or UDP checksum of an Ethernet frame
// (optionally 802.1Q-tagged, IPv4 or IPv6 without extension headers) whose
// checksum the sender left partial (a veth peer with transmit checksum
// offload): it reports whether it found and fixed one. Other frames are left
// alone.
func FinishL4Checksum(f []byte) bool {
	off := 12
	et := binary.BigEndian.Uint16(f[off:])
	for (et == 0x8100 || et == 0x88a8) && len(f) >= off+6 {
		off += 4
		et = binary.BigEndian.Uint16(f[off:])
	}
	off += 2
	var sum uint32
	var proto byte
	var l4 []byte
	switch et {
	case 0x0800:
		if len(f) < off+20 {
			return false
		}
		ip := f[off:]
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if ip[0]>>4 != 4 || ihl < 20 || total < ihl || total > len(ip) || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return false // not IPv4, truncated, or a fragment
		}
		proto = ip[9]
		l4 = ip[ihl:total]
		sum = sumBytes(ip[12:20], 0)
	case 0x86dd:
		if len(f) < off+40 {
			return false
		}
		ip := f[off:]
		plen := int(binary.BigEndian.Uint16(ip[4:]))
		if ip[0]>>4 != 6 || 40+plen > len(ip) {
			return false
		}
		proto = ip[6]
		l4 = ip[40 : 40+plen]
		sum = sumBytes(ip[8:40], 0)
	default:
		return false
	}
	var csumOff int
	switch proto {
	case 6:
		if len(l4) < 20 {
			return false
		}
		csumOff = 16
	case 17:
		if len(l4) < 8 {
			return false
		}
		csumOff = 6
	default:
		return false
	}
	sum += uint32(proto) + uint32(len(l4))
	l4[csumOff], l4[csumOff+1] = 0, 0
	c := ^fold(sumBytes(l4, sum))
	if proto == 17 && c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[csumOff:], c)
	return true
}

func sumBytes(b []byte, sum uint32) uint32 {
	s := uint64(sum)
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		s += v >> 32
		s += v & 0xffffffff
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s>>32 != 0 {
		s = s&0xffffffff + s>>32
	}
	return uint32(s)
}

func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
