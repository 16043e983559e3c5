// Package lacp is IEEE 802.1AX (802.3ad) Link Aggregation Control Protocol
// as Open vSwitch runs it: the LACPDU and Marker PDU codecs, and per bond an
// Aggregator holding the actor/partner state machines of each member link
// (receive machine with current/expired/defaulted, periodic transmission,
// selection and mux logic).
//
// The package makes no system calls and reads no clock. It is driven by the
// caller: received slow-protocol frames (Receive), carrier changes
// (SetCarrier) and the passing of time (Tick, with a time.Time the caller
// passes in). Every call returns an Output with the frames to send on which
// member and whether the set of members that may carry traffic changed.
package lacp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/switchyard-net/switchyard/internal/packet"
)

// Wire constants (IEEE 802.1AX-2014 6.4.2, 43.5 of 802.3).
const (
	// EtherType is the Slow Protocols EtherType.
	EtherType = 0x8809
	// SubtypeLACP and SubtypeMarker are the slow-protocol subtypes handled.
	SubtypeLACP   = 1
	SubtypeMarker = 2
	// PDULen is the length of an LACPDU or Marker PDU after the EtherType.
	PDULen = 110
	// FrameLen is a whole LACPDU frame without FCS: 14 + 110 bytes.
	FrameLen = packet.EthernetLen + PDULen
)

// SlowProtocolsAddr is the destination of LACPDUs and Marker PDUs
// (01:80:C2:00:00:02).
var SlowProtocolsAddr = packet.MAC{0x01, 0x80, 0xc2, 0x00, 0x00, 0x02}

// Errors returned by the decoders. They carry no per-frame data, so
// returning them allocates nothing.
var (
	ErrTruncated  = errors.New("lacp: truncated PDU")
	ErrNotSlow    = errors.New("lacp: not a slow-protocols frame")
	ErrSubtype    = errors.New("lacp: unknown slow-protocols subtype")
	ErrBadTLV     = errors.New("lacp: malformed TLV")
	ErrBadVersion = errors.New("lacp: version 0 is not valid")
)

// State is the actor or partner state octet.
type State uint8

// State bits (802.1AX-2014 6.4.2.3).
const (
	StateActivity     State = 1 << iota // active LACP (else passive)
	StateTimeout                        // short timeout (fast, 1 s)
	StateAggregation                    // aggregatable (else individual)
	StateSync                           // in sync: attached to the right aggregator
	StateCollecting                     // collecting frames
	StateDistributing                   // distributing frames
	StateDefaulted                      // using default partner information
	StateExpired                        // partner information expired
)

var stateNames = [8]string{"activity", "timeout", "aggregation", "synchronized", "collecting", "distributing", "defaulted", "expired"}

// Names returns the set bits with Open vSwitch's lacp/show words.
func (s State) Names() []string {
	var l []string
	for i, n := range stateNames {
		if s&(1<<i) != 0 {
			l = append(l, n)
		}
	}
	return l
}

// String formats the state as lacp/show does ("activity timeout ...").
func (s State) String() string { return strings.Join(s.Names(), " ") }

// Info is the actor or partner information of an LACPDU.
type Info struct {
	SystemPriority uint16     `json:"system_priority"`
	System         packet.MAC `json:"-"`
	Key            uint16     `json:"key"`
	PortPriority   uint16     `json:"port_priority"`
	Port           uint16     `json:"port_id"`
	State          State      `json:"-"`
}

// sameTx reports whether a and b agree on every field whose change needs an
// LACPDU to be sent (802.1AX 6.4.9: port, port priority, system, system
// priority, key and the activity, timeout, aggregation, synchronization,
// collecting and distributing bits).
func (a Info) sameTx(b Info) bool {
	const m = StateActivity | StateTimeout | StateAggregation | StateSync | StateCollecting | StateDistributing
	return (a.State^b.State)&m == 0 && a.Port == b.Port && a.PortPriority == b.PortPriority &&
		a.Key == b.Key && a.SystemPriority == b.SystemPriority && a.System == b.System
}

// sameIdentity reports whether a and b name the same port of the same
// system with the same key (the "matched" test of 802.1AX 6.4.9, plus the
// aggregation bit).
func (a Info) sameIdentity(b Info) bool {
	return a.Port == b.Port && a.PortPriority == b.PortPriority && a.Key == b.Key &&
		a.SystemPriority == b.SystemPriority && a.System == b.System &&
		(a.State^b.State)&StateAggregation == 0
}

func putInfo(b []byte, typ uint8, in Info) {
	b[0], b[1] = typ, 20
	binary.BigEndian.PutUint16(b[2:], in.SystemPriority)
	copy(b[4:10], in.System[:])
	binary.BigEndian.PutUint16(b[10:], in.Key)
	binary.BigEndian.PutUint16(b[12:], in.PortPriority)
	binary.BigEndian.PutUint16(b[14:], in.Port)
	b[16] = uint8(in.State)
	b[17], b[18], b[19] = 0, 0, 0
}

func getInfo(b []byte) Info {
	return Info{
		SystemPriority: binary.BigEndian.Uint16(b[2:]),
		System:         packet.MAC(b[4:10]),
		Key:            binary.BigEndian.Uint16(b[10:]),
		PortPriority:   binary.BigEndian.Uint16(b[12:]),
		Port:           binary.BigEndian.Uint16(b[14:]),
		State:          State(b[16]),
	}
}

// PDU is a decoded LACPDU.
type PDU struct {
	Version uint8
	Actor   Info
	Partner Info
	// CollectorMaxDelay is in tens of microseconds (Open vSwitch sends 0).
	CollectorMaxDelay uint16
}

// Marker is a decoded Marker PDU (802.1AX 6.5.3): a Marker Information
// request (Response false) or a Marker Response.
type Marker struct {
	Response      bool
	Port          uint16
	System        packet.MAC
	TransactionID uint32
}

// IsSlowProtocols reports whether frame is an untagged slow-protocols frame
// (EtherType 0x8809), which a bridge must never forward: the engine traps
// these to the bond's LACP (or drops them on a port without LACP).
func IsSlowProtocols(frame []byte) bool {
	return len(frame) >= packet.EthernetLen+1 && binary.BigEndian.Uint16(frame[12:]) == EtherType
}

// Decode parses a slow-protocols payload (the bytes after the EtherType).
// It returns the subtype and, for an LACPDU, the PDU; for a Marker PDU the
// marker. Short frames, unknown subtypes and malformed TLVs are errors; it
// never panics and allocates nothing.
func Decode(b []byte) (subtype uint8, pdu PDU, m Marker, err error) {
	if len(b) < 2 {
		return 0, pdu, m, ErrTruncated
	}
	subtype = b[0]
	switch subtype {
	case SubtypeLACP:
		// Actor (1,20) at 2, partner (2,20) at 22, collector (3,16) at 42,
		// terminator at 58. Version 2 LACPDUs (802.1AX-2014) may carry more
		// TLVs after the collector; the fixed part is the same.
		if len(b) < 60 {
			return subtype, pdu, m, ErrTruncated
		}
		if b[1] == 0 {
			return subtype, pdu, m, ErrBadVersion
		}
		if b[2] != 1 || b[3] != 20 || b[22] != 2 || b[23] != 20 || b[42] != 3 || b[43] != 16 {
			return subtype, pdu, m, ErrBadTLV
		}
		pdu.Version = b[1]
		pdu.Actor = getInfo(b[2:22])
		pdu.Partner = getInfo(b[22:42])
		pdu.CollectorMaxDelay = binary.BigEndian.Uint16(b[44:])
		return subtype, pdu, m, nil
	case SubtypeMarker:
		// Marker Information (1,16) or Marker Response (2,16) at 2.
		if len(b) < 20 {
			return subtype, pdu, m, ErrTruncated
		}
		if b[1] == 0 {
			return subtype, pdu, m, ErrBadVersion
		}
		if (b[2] != 1 && b[2] != 2) || b[3] != 16 {
			return subtype, pdu, m, ErrBadTLV
		}
		m.Response = b[2] == 2
		m.Port = binary.BigEndian.Uint16(b[4:])
		m.System = packet.MAC(b[6:12])
		m.TransactionID = binary.BigEndian.Uint32(b[12:])
		return subtype, pdu, m, nil
	}
	return subtype, pdu, m, ErrSubtype
}

// DecodeFrame parses a whole Ethernet frame carrying a slow-protocols PDU.
func DecodeFrame(frame []byte) (subtype uint8, pdu PDU, m Marker, err error) {
	if !IsSlowProtocols(frame) {
		return 0, pdu, m, ErrNotSlow
	}
	return Decode(frame[packet.EthernetLen:])
}

// AppendFrame appends a whole LACPDU frame from src (124 bytes, no FCS) to
// b, laid out as Open vSwitch sends it: version 1, collector max delay 0,
// reserved bytes zero.
func (p *PDU) AppendFrame(b []byte, src packet.MAC) []byte {
	off := len(b)
	b = append(b, make([]byte, FrameLen)...)
	f := b[off:]
	copy(f[0:6], SlowProtocolsAddr[:])
	copy(f[6:12], src[:])
	binary.BigEndian.PutUint16(f[12:], EtherType)
	d := f[packet.EthernetLen:]
	d[0] = SubtypeLACP
	d[1] = p.Version
	if d[1] == 0 {
		d[1] = 1
	}
	putInfo(d[2:22], 1, p.Actor)
	putInfo(d[22:42], 2, p.Partner)
	d[42], d[43] = 3, 16
	binary.BigEndian.PutUint16(d[44:], p.CollectorMaxDelay)
	// d[58:60] terminator (0, 0) and 50 reserved bytes are already zero.
	return b
}

// AppendFrame appends a whole Marker PDU frame from src to b.
func (m *Marker) AppendFrame(b []byte, src packet.MAC) []byte {
	off := len(b)
	b = append(b, make([]byte, FrameLen)...)
	f := b[off:]
	copy(f[0:6], SlowProtocolsAddr[:])
	copy(f[6:12], src[:])
	binary.BigEndian.PutUint16(f[12:], EtherType)
	d := f[packet.EthernetLen:]
	d[0], d[1] = SubtypeMarker, 1
	d[2], d[3] = 1, 16
	if m.Response {
		d[2] = 2
	}
	binary.BigEndian.PutUint16(d[4:], m.Port)
	copy(d[6:12], m.System[:])
	binary.BigEndian.PutUint32(d[12:], m.TransactionID)
	return b
}

// String formats the PDU like tshark's one-line summary.
func (p PDU) String() string {
	return fmt.Sprintf("v%d ACTOR %s P:%d K:%d %s PARTNER %s P:%d K:%d %s", p.Version,
		p.Actor.System, p.Actor.Port, p.Actor.Key, p.Actor.State, p.Partner.System, p.Partner.Port, p.Partner.Key, p.Partner.State)
}
