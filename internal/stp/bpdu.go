// Package stp is spanning tree for a Switchyard bridge: IEEE 802.1D STP
// (802.1D-1998 clause 8, as the Linux bridge runs it) and RSTP (802.1D-2004
// clause 17, 802.1w, as Open vSwitch runs it), with the BPDU codec, port
// roles and states, topology change and FDB flushing, protocol migration
// (an RSTP port that hears an STP bridge sends STP BPDUs), edge ports, BPDU
// guard and root guard.
//
// The package makes no system calls and reads no clock. A Bridge is driven
// by received BPDUs (Receive), link events (SetLink) and time (Tick, with a
// time.Time the caller passes in); every call returns an Output with the
// BPDUs to send on which port, the port state changes the forwarding path
// must apply, and the FDB flushes the standard asks for.
package stp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard-net/switchyard/internal/packet"
)

// BridgeGroupAddr is the destination of BPDUs (01:80:C2:00:00:00).
var BridgeGroupAddr = packet.MAC{0x01, 0x80, 0xc2, 0x00, 0x00, 0x00}

// BPDU types (802.1D-2004 9.3).
const (
	TypeConfig = 0x00
	TypeRST    = 0x02
	TypeTCN    = 0x80
)

// Protocol versions.
const (
	VersionSTP  = 0
	VersionRSTP = 2
)

// Flag bits of the flags octet (9.3.3).
const (
	FlagTC          = 0x01
	FlagProposal    = 0x02
	FlagRoleMask    = 0x0c
	FlagLearning    = 0x10
	FlagForwarding  = 0x20
	FlagAgreement   = 0x40
	FlagTCAck       = 0x80
	roleShift       = 2
	roleUnknown     = 0
	roleAltBackup   = 1
	roleRootFlag    = 2
	roleDesignFlag  = 3
	configBPDULen   = 35
	tcnBPDULen      = 4
	rstBPDULen      = 36
	llcLen          = 3
	minBPDUFrameLen = packet.EthernetLen + llcLen + tcnBPDULen
)

// Errors of the decoder; they carry no per-frame data.
var (
	ErrNotBPDU   = errors.New("stp: not a BPDU frame")
	ErrTruncated = errors.New("stp: truncated BPDU")
	ErrProtocol  = errors.New("stp: protocol identifier is not 0")
	ErrType      = errors.New("stp: unknown BPDU type")
	ErrAge       = errors.New("stp: message age not below max age")
)

// BridgeID is a bridge identifier: priority (4 bits × 4096) and system ID
// extension (12 bits) in the top 16 bits, the MAC address below.
type BridgeID uint64

// MakeBridgeID builds an identifier from a priority and an address.
func MakeBridgeID(priority uint16, mac packet.MAC) BridgeID {
	return BridgeID(uint64(priority)<<48 | macU64(mac))
}

func macU64(m packet.MAC) uint64 {
	return uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 | uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
}

// Priority returns the priority part (with the system ID extension).
func (id BridgeID) Priority() uint16 { return uint16(id >> 48) }

// MAC returns the address part.
func (id BridgeID) MAC() packet.MAC {
	var m packet.MAC
	for i := 0; i < 6; i++ {
		m[i] = byte(id >> (40 - 8*i))
	}
	return m
}

// String formats the identifier as tshark does: 32768/0/02:00:00:00:00:01
// (priority, system ID extension, address).
func (id BridgeID) String() string {
	p := id.Priority()
	return fmt.Sprintf("%d/%d/%s", p&0xf000, p&0x0fff, id.MAC())
}

// PortID is a port identifier: 4-bit priority (× 16) and 12-bit port
// number, as 802.1D-2004 9.2.7 (the Linux bridge's 6-bit priority << 10
// gives the same bits for its default 32 → 0x80).
type PortID uint16

// MakePortID builds a port identifier.
func MakePortID(priority uint8, no uint16) PortID {
	return PortID(uint16(priority&0xf0)<<8 | no&0x0fff)
}

// Number returns the port number.
func (p PortID) Number() uint16 { return uint16(p) & 0x0fff }

// Priority returns the port priority (0-240).
func (p PortID) Priority() uint8 { return uint8(p >> 8 & 0xf0) }

// String formats the identifier as OVS's rstp/show does: 128.1.
func (p PortID) String() string { return fmt.Sprintf("%d.%d", p.Priority(), p.Number()) }

// BPDU is a decoded Configuration, TCN or RST BPDU.
type BPDU struct {
	Version uint8
	Type    uint8
	Flags   uint8
	Root    BridgeID
	Cost    uint32
	Bridge  BridgeID
	Port    PortID
	// Times, carried in units of 1/256 s.
	MessageAge, MaxAge, HelloTime, ForwardDelay time.Duration
}

// Role returns the port role of an RST BPDU's flags (roleUnknown for other
// types), as 9.2.9 encodes it.
func (b *BPDU) role() uint8 { return b.Flags & FlagRoleMask >> roleShift }

func encTime(d time.Duration) uint16 {
	v := d * 256 / time.Second
	if v > 0xffff {
		return 0xffff
	}
	if v < 0 {
		return 0
	}
	return uint16(v)
}

func decTime(v uint16) time.Duration { return time.Duration(v) * time.Second / 256 }

// IsBPDU reports whether frame is addressed to the bridge group address
// with an 802.2 LLC header 42 42 03: a BPDU that the engine traps to the
// bridge's spanning tree (or drops, with spanning tree off) before
// forwarding.
func IsBPDU(frame []byte) bool {
	return len(frame) >= packet.EthernetLen+llcLen && packet.MAC(frame[0:6]) == BridgeGroupAddr &&
		binary.BigEndian.Uint16(frame[12:]) <= 1500 && frame[14] == 0x42 && frame[15] == 0x42 && frame[16] == 0x03
}

// Decode parses a BPDU (the bytes after the LLC header) and validates it
// as 802.1D-2004 9.3.4 says: a Configuration BPDU of at least 35 octets
// whose message age is below its max age, a TCN BPDU of at least 4, or an
// RST BPDU (version 2 or more, type 2) of at least 36. An RST BPDU whose
// role is Unknown is treated as a Configuration BPDU (9.2.9). It never
// panics and allocates nothing.
func Decode(b []byte) (BPDU, error) {
	var p BPDU
	if len(b) < tcnBPDULen {
		return p, ErrTruncated
	}
	if binary.BigEndian.Uint16(b) != 0 {
		return p, ErrProtocol
	}
	p.Version, p.Type = b[2], b[3]
	switch {
	case p.Type == TypeTCN:
		return p, nil
	case p.Type == TypeConfig:
		if len(b) < configBPDULen {
			return p, ErrTruncated
		}
	case p.Type == TypeRST && p.Version >= VersionRSTP:
		if len(b) < rstBPDULen {
			return p, ErrTruncated
		}
	default:
		return p, ErrType
	}
	p.Flags = b[4]
	p.Root = BridgeID(binary.BigEndian.Uint64(b[5:]))
	p.Cost = binary.BigEndian.Uint32(b[13:])
	p.Bridge = BridgeID(binary.BigEndian.Uint64(b[17:]))
	p.Port = PortID(binary.BigEndian.Uint16(b[25:]))
	p.MessageAge = decTime(binary.BigEndian.Uint16(b[27:]))
	p.MaxAge = decTime(binary.BigEndian.Uint16(b[29:]))
	p.HelloTime = decTime(binary.BigEndian.Uint16(b[31:]))
	p.ForwardDelay = decTime(binary.BigEndian.Uint16(b[33:]))
	if p.Type == TypeRST && p.role() == roleUnknown {
		p.Type = TypeConfig
	}
	// A Configuration BPDU (also an RST BPDU read as one) must not be
	// older than its max age (found by FuzzDecodeBPDU).
	if p.Type == TypeConfig && p.MessageAge >= p.MaxAge {
		return p, ErrAge
	}
	return p, nil
}

// DecodeFrame parses a whole BPDU frame: bridge group address, 802.3
// length, LLC 42 42 03, then the BPDU (bounded by the length field).
func DecodeFrame(frame []byte) (BPDU, error) {
	if !IsBPDU(frame) {
		return BPDU{}, ErrNotBPDU
	}
	n := int(binary.BigEndian.Uint16(frame[12:]))
	if n < llcLen || packet.EthernetLen+n > len(frame) {
		return BPDU{}, ErrTruncated
	}
	return Decode(frame[packet.EthernetLen+llcLen : packet.EthernetLen+n])
}

// AppendFrame appends the whole BPDU frame from src to b: 52 bytes for a
// Configuration BPDU, 53 for an RST BPDU, 21 for a TCN, unpadded as the
// Linux bridge and Open vSwitch send them.
func (p *BPDU) AppendFrame(b []byte, src packet.MAC) []byte {
	n := configBPDULen
	switch p.Type {
	case TypeTCN:
		n = tcnBPDULen
	case TypeRST:
		n = rstBPDULen
	}
	off := len(b)
	b = append(b, make([]byte, packet.EthernetLen+llcLen+n)...)
	f := b[off:]
	copy(f[0:6], BridgeGroupAddr[:])
	copy(f[6:12], src[:])
	binary.BigEndian.PutUint16(f[12:], uint16(llcLen+n))
	f[14], f[15], f[16] = 0x42, 0x42, 0x03
	d := f[packet.EthernetLen+llcLen:]
	d[2], d[3] = p.Version, p.Type
	if p.Type == TypeTCN {
		return b
	}
	d[4] = p.Flags
	binary.BigEndian.PutUint64(d[5:], uint64(p.Root))
	binary.BigEndian.PutUint32(d[13:], p.Cost)
	binary.BigEndian.PutUint64(d[17:], uint64(p.Bridge))
	binary.BigEndian.PutUint16(d[25:], uint16(p.Port))
	binary.BigEndian.PutUint16(d[27:], encTime(p.MessageAge))
	binary.BigEndian.PutUint16(d[29:], encTime(p.MaxAge))
	binary.BigEndian.PutUint16(d[31:], encTime(p.HelloTime))
	binary.BigEndian.PutUint16(d[33:], encTime(p.ForwardDelay))
	// RST: Version 1 Length 0 at d[35].
	return b
}

// String formats the BPDU like tshark's summary line.
func (p BPDU) String() string {
	switch p.Type {
	case TypeTCN:
		return "Topology Change Notification"
	case TypeRST:
		return fmt.Sprintf("RST. flags 0x%02x Root = %s Cost = %d Bridge = %s Port = 0x%04x", p.Flags, p.Root, p.Cost, p.Bridge, uint16(p.Port))
	}
	return fmt.Sprintf("Conf. flags 0x%02x Root = %s Cost = %d Bridge = %s Port = 0x%04x", p.Flags, p.Root, p.Cost, p.Bridge, uint16(p.Port))
}
