// Package packet holds zero-allocation views over raw frames and headers —
// Ethernet, IEEE 802.1Q/802.1ad tags, ARP, IPv4, IPv6, ICMP, UDP, TCP, and
// the tunnel headers VXLAN (RFC 7348), Geneve (RFC 8926), GRE/NVGRE (RFC
// 2784, 2890, 7637) and STT — with builders, Internet checksums and the flow
// hash that picks a tunnel's outer source port.
//
// A view is a named byte slice (type IPv4 []byte) with accessor methods, in
// the style of gVisor's header package. Parse functions check lengths and
// fields and return one of the sentinel errors below on malformed input;
// they never panic and never allocate.
package packet

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Sentinel errors returned by the parsers (they carry no per-packet data,
// so returning them allocates nothing).
var (
	ErrTruncated     = errors.New("packet: truncated")
	ErrBadVersion    = errors.New("packet: wrong IP version")
	ErrBadHeader     = errors.New("packet: malformed header")
	ErrBadLength     = errors.New("packet: length field disagrees with the data")
	ErrNoSpace       = errors.New("packet: no room in the buffer")
	ErrUnsupported   = errors.New("packet: unsupported header")
	ErrBadChecksum   = errors.New("packet: bad checksum")
	ErrTooManyHeader = errors.New("packet: too many extension headers")
)

// EtherTypes.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeVLAN = 0x8100 // IEEE 802.1Q C-tag
	EtherTypeQinQ = 0x88a8 // IEEE 802.1ad S-tag
	EtherTypeIPv6 = 0x86dd
	EtherTypeTEB  = 0x6558 // transparent Ethernet bridging (GRE, Geneve)
)

// IP protocol numbers.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoGRE    = 47
	ProtoICMPv6 = 58
)

// MAC is an Ethernet address.
type MAC [6]byte

// Broadcast is ff:ff:ff:ff:ff:ff.
var Broadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// String formats the address as 02:00:00:00:00:01.
func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// IsBroadcast reports whether m is ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == Broadcast }

// IsMulticast reports whether the group bit is set (broadcast included).
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// IsLinkLocal reports whether m is one of the IEEE 802.1D reserved group
// addresses 01:80:C2:00:00:00–0F, which bridges never forward.
func (m MAC) IsLinkLocal() bool {
	return m[0] == 0x01 && m[1] == 0x80 && m[2] == 0xc2 && m[3] == 0 && m[4] == 0 && m[5] <= 0x0f
}

// ParseMAC parses "02:00:00:00:00:01" (also with '-').
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 {
		return m, fmt.Errorf("mac %q: want 6 hex bytes like 02:00:00:00:00:01", s)
	}
	for i := 0; i < 6; i++ {
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 || (i < 5 && s[3*i+2] != ':' && s[3*i+2] != '-') {
			return m, fmt.Errorf("mac %q: want 6 hex bytes like 02:00:00:00:00:01", s)
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

var be = binary.BigEndian
