package datapath

import (
	"encoding/binary"
	"net/netip"
)

// parseDepth says how far into a frame the key is extracted: only as far as
// some rule (or NORMAL, or an action) can look, so a NORMAL-only bridge
// never parses L3.
type parseDepth uint8

const (
	parseL2 parseDepth = iota // Ethernet, 802.1Q
	parseL3                   // + IPv4/IPv6/ARP headers
	parseL4                   // + TCP/UDP/SCTP/ICMP/ND
)

// layout is where the headers of a frame are, found while extracting its
// key, so that actions can rewrite them without parsing again. Offsets are
// from the start of the frame; 0 means absent (no header starts at 0 but
// Ethernet's).
type layout struct {
	l3, l4 uint16
	depth  parseDepth // how far extraction went
}

const (
	etherTypeVLAN = 0x8100
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
	etherTypeARP  = 0x0806
)

// extract fills k from frame d received on port inPort. It returns
// DropBadFrame for a frame too short to have an Ethernet header (or a
// truncated 802.1Q tag), and forwarded otherwise: a truncated or odd L3/L4
// header just leaves those fields zero, as in Open vSwitch.
//
// It writes only what it may need to: words 0-2 always, the L3/L4 words
// (3-13) when depth asks for them (a shallower snapshot has no rule that
// reads them), the tunnel words (15-20) for a frame from a tunnel. The
// metadata and register words (14, 21-28) are never written: a key slot
// starts zeroed and they stay zero (decide works on a copy). So a key slot
// must be used either for tunnel frames only or for others only — true for
// a port's receive context.
func extract(k *Key, d []byte, inPort uint16, tun *TunnelMeta, tunLocal netip.Addr, depth parseDepth, lay *layout) DropReason {
	*lay = layout{}
	if len(d) < 14 {
		return DropBadFrame
	}
	if depth > parseL2 {
		clear(k[3:14])
	}
	_ = d[13]
	k[0] = uint64(inPort)
	k[1] = binary.BigEndian.Uint64(d[0:8]) >> 16
	k[2] = binary.BigEndian.Uint64(d[4:12]) & (1<<48 - 1)
	et := binary.BigEndian.Uint16(d[12:14])
	off := 14
	if et == etherTypeVLAN {
		if len(d) < 18 {
			return DropBadFrame
		}
		tci := binary.BigEndian.Uint16(d[14:])
		k[0] |= uint64(tci&0xefff|0x1000)<<32 | uint64(tci>>12&1)<<48
		et = binary.BigEndian.Uint16(d[16:])
		off = 18
	}
	k[1] |= uint64(et) << 48
	if tun != nil && tun.Valid {
		k[15] = uint64(tun.VNI)
		clear(k[16:21])
		if tunLocal.IsValid() {
			if r := tun.Remote.Addr(); r.Is4() {
				k[16] = uint64(be32(r.As4())) | uint64(be32(tunLocal.As4()))<<32
			} else if r.Is6() {
				a, b := r.As16(), tunLocal.As16()
				k[17], k[18] = binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
				k[19], k[20] = binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
			}
		}
	}
	if depth == parseL2 {
		return forwarded
	}
	lay.depth = parseL3
	switch et {
	case etherTypeIPv4:
		extractIPv4(k, d, off, depth, lay)
	case etherTypeIPv6:
		extractIPv6(k, d, off, depth, lay)
	case etherTypeARP:
		extractARP(k, d, off, lay)
	}
	return forwarded
}

func be32(a [4]byte) uint32 { return binary.BigEndian.Uint32(a[:]) }

func extractIPv4(k *Key, d []byte, off int, depth parseDepth, lay *layout) {
	if len(d) < off+20 || d[off]>>4 != 4 {
		return
	}
	h := (*[20]byte)(d[off : off+20]) // fixed-size view: one load per field, no bounds checks
	ihl := int(h[0]&0xf) * 4
	if ihl < 20 || len(d) < off+ihl {
		return
	}
	lay.l3 = uint16(off)
	proto := h[9]
	k[2] |= uint64(proto)<<48 | uint64(h[1])<<56
	k[3] = uint64(binary.BigEndian.Uint32(h[12:16])) | uint64(binary.BigEndian.Uint32(h[16:20]))<<32
	k[9] |= uint64(h[8]) << 32
	frag := binary.BigEndian.Uint16(h[6:8])
	if frag&0x3fff != 0 { // MF or an offset: a fragment
		f := uint64(1)
		if frag&0x1fff != 0 {
			f |= 2 // a later fragment: no L4 header
		}
		k[0] |= f << 49
		if f&2 != 0 {
			return
		}
	}
	if depth < parseL4 {
		return
	}
	extractL4(k, d, off+ihl, proto, false, lay)
}

func extractIPv6(k *Key, d []byte, off int, depth parseDepth, lay *layout) {
	if len(d) < off+40 || d[off]>>4 != 6 {
		return
	}
	lay.l3 = uint16(off)
	vtf := binary.BigEndian.Uint32(d[off:])
	tos := uint8(vtf >> 20)
	k[9] |= uint64(vtf&0xfffff) | uint64(d[off+7])<<32
	k[4] = binary.BigEndian.Uint64(d[off+8:])
	k[5] = binary.BigEndian.Uint64(d[off+16:])
	k[6] = binary.BigEndian.Uint64(d[off+24:])
	k[7] = binary.BigEndian.Uint64(d[off+32:])
	// Walk the extension headers Open vSwitch walks: hop-by-hop, routing,
	// destination options, fragment, AH.
	next := d[off+6]
	p := off + 40
	for i := 0; i < 8; i++ {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(d) < p+8 {
				return
			}
			next, p = d[p], p+8*(int(d[p+1])+1)
			continue
		case 51: // AH
			if len(d) < p+8 {
				return
			}
			next, p = d[p], p+4*(int(d[p+1])+2)
			continue
		case 44: // fragment
			if len(d) < p+8 {
				return
			}
			fo := binary.BigEndian.Uint16(d[p+2:])
			f := uint64(1)
			if fo&0xfff8 != 0 {
				f |= 2
			}
			k[0] |= f << 49
			next, p = d[p], p+8
			if f&2 != 0 {
				k[2] |= uint64(next)<<48 | uint64(tos)<<56
				return
			}
			continue
		}
		break
	}
	k[2] |= uint64(next)<<48 | uint64(tos)<<56
	if depth < parseL4 {
		return
	}
	extractL4(k, d, p, next, true, lay)
}

func extractL4(k *Key, d []byte, off int, proto uint8, v6 bool, lay *layout) {
	lay.depth = parseL4
	switch proto {
	case 6: // TCP
		if len(d) < off+20 {
			return
		}
		lay.l4 = uint16(off)
		h := (*[20]byte)(d[off : off+20])
		k[8] = uint64(binary.BigEndian.Uint16(h[0:2])) | uint64(binary.BigEndian.Uint16(h[2:4]))<<16 |
			uint64(binary.BigEndian.Uint16(h[12:14])&0x0fff)<<32
	case 17, 132: // UDP, SCTP
		if len(d) < off+8 {
			return
		}
		lay.l4 = uint16(off)
		h := (*[8]byte)(d[off : off+8])
		k[8] = uint64(binary.BigEndian.Uint16(h[0:2])) | uint64(binary.BigEndian.Uint16(h[2:4]))<<16
	case 1: // ICMP
		if v6 || len(d) < off+4 {
			return
		}
		lay.l4 = uint16(off)
		k[8] = uint64(d[off]) | uint64(d[off+1])<<16
	case 58: // ICMPv6
		if !v6 || len(d) < off+4 {
			return
		}
		lay.l4 = uint16(off)
		typ, code := d[off], d[off+1]
		k[8] = uint64(typ) | uint64(code)<<16
		if (typ == 135 || typ == 136) && code == 0 && len(d) >= off+24 {
			k[12] = binary.BigEndian.Uint64(d[off+8:])
			k[13] = binary.BigEndian.Uint64(d[off+16:])
			// Options: source (1, in NS) or target (2, in NA) link-layer address.
			for p := off + 24; p+8 <= len(d); {
				l := int(d[p+1]) * 8
				if l == 0 || p+l > len(d) {
					break
				}
				if l == 8 {
					if d[p] == 1 && typ == 135 {
						k[10] = macWord(d[p+2 : p+8])
					} else if d[p] == 2 && typ == 136 {
						k[11] = macWord(d[p+2 : p+8])
					}
				}
				p += l
			}
		}
	}
}

func extractARP(k *Key, d []byte, off int, lay *layout) {
	if len(d) < off+28 {
		return
	}
	a := d[off:]
	// Ethernet/IPv4 ARP only (htype 1, ptype 0x0800, hlen 6, plen 4).
	if binary.BigEndian.Uint16(a) != 1 || binary.BigEndian.Uint16(a[2:]) != etherTypeIPv4 || a[4] != 6 || a[5] != 4 {
		return
	}
	lay.l3 = uint16(off)
	op := binary.BigEndian.Uint16(a[6:])
	k[8] = uint64(op) << 48
	if op <= 0xff {
		k[2] |= uint64(op) << 48 // nw_proto holds the low byte of the ARP opcode (Open vSwitch)
	}
	k[10] = macWord(a[8:14])
	k[3] = uint64(binary.BigEndian.Uint32(a[14:])) | uint64(binary.BigEndian.Uint32(a[24:]))<<32
	k[11] = macWord(a[18:24])
}
