package ofp

import "net"

// Port is ofp_port: a switch port's description. Features use the OpenFlow
// 1.1+ bit positions; Config may carry the 1.0-only bits (NoFlood10 …).
type Port struct {
	PortNo     uint32
	HWAddr     net.HardwareAddr
	Name       string
	Config     uint32
	State      uint32
	Curr       uint32
	Advertised uint32
	Supported  uint32
	Peer       uint32
	CurrSpeed  uint32 // kbps, 1.1+
	MaxSpeed   uint32 // kbps, 1.1+
}

const (
	port10Len = 48
	port13Len = 64
)

func hwaddr(b []byte) net.HardwareAddr { return net.HardwareAddr(append([]byte(nil), b[:6]...)) }

func appendHW(b []byte, a net.HardwareAddr) []byte {
	var z [6]byte
	copy(z[:], a)
	return append(b, z[:]...)
}

// features10 converts OpenFlow 1.1+ feature bits to 1.0 positions.
func features10(f uint32) uint32 {
	out := f & 0x7f // 10M..10G keep their bits
	for from, to := range map[uint32]uint32{11: 7, 12: 8, 13: 9, 14: 10, 15: 11} {
		if f&(1<<from) != 0 {
			out |= 1 << to
		}
	}
	return out
}

// featuresFrom10 converts OpenFlow 1.0 feature bits to 1.1+ positions.
func featuresFrom10(f uint32) uint32 {
	out := f & 0x7f
	for from, to := range map[uint32]uint32{7: 11, 8: 12, 9: 13, 10: 14, 11: 15} {
		if f&(1<<from) != 0 {
			out |= 1 << to
		}
	}
	return out
}

func parsePort10(b []byte) Port {
	return Port{
		PortNo: PortFrom10(be.Uint16(b)), HWAddr: hwaddr(b[2:]), Name: cstring(b[8:24]),
		Config: be.Uint32(b[24:]) & portConfig10, State: be.Uint32(b[28:]) & PortStateLinkDown,
		Curr: featuresFrom10(be.Uint32(b[32:])), Advertised: featuresFrom10(be.Uint32(b[36:])),
		Supported: featuresFrom10(be.Uint32(b[40:])), Peer: featuresFrom10(be.Uint32(b[44:])),
	}
}

func appendPort10(b []byte, p *Port) []byte {
	n, _ := PortTo10(p.PortNo)
	b = appendHW(appendU16(b, n), p.HWAddr)
	b = appendCString(b, p.Name, 16)
	b = appendU32(b, p.Config&portConfig10)
	b = appendU32(b, p.State&PortStateLinkDown)
	for _, f := range []uint32{p.Curr, p.Advertised, p.Supported, p.Peer} {
		b = appendU32(b, features10(f))
	}
	return b
}

func parsePort13(b []byte) Port {
	return Port{
		PortNo: be.Uint32(b), HWAddr: hwaddr(b[8:]), Name: cstring(b[16:32]),
		Config: be.Uint32(b[32:]), State: be.Uint32(b[36:]), Curr: be.Uint32(b[40:]),
		Advertised: be.Uint32(b[44:]), Supported: be.Uint32(b[48:]), Peer: be.Uint32(b[52:]),
		CurrSpeed: be.Uint32(b[56:]), MaxSpeed: be.Uint32(b[60:]),
	}
}

func appendPort13(b []byte, p *Port) []byte {
	b = appendZeros(appendU32(b, p.PortNo), 4)
	b = appendZeros(appendHW(b, p.HWAddr), 2)
	b = appendCString(b, p.Name, 16)
	b = appendU32(b, p.Config&portConfig13)
	for _, f := range []uint32{p.State, p.Curr, p.Advertised, p.Supported, p.Peer, p.CurrSpeed, p.MaxSpeed} {
		b = appendU32(b, f)
	}
	return b
}

func appendPort(b []byte, v uint8, p *Port) []byte {
	if v == Version10 {
		return appendPort10(b, p)
	}
	return appendPort13(b, p)
}

// PortStatus is OFPT_PORT_STATUS.
type PortStatus struct {
	Reason uint8
	Port   Port
}

func (*PortStatus) Type() Type { return TypePortStatus }

func parsePortStatus(body []byte, v uint8) (*PortStatus, error) {
	n := port13Len
	if v == Version10 {
		n = port10Len
	}
	if err := bodyLen(body, "PORT_STATUS", 8+n); err != nil {
		return nil, err
	}
	m := &PortStatus{Reason: body[0]}
	if v == Version10 {
		m.Port = parsePort10(body[8:])
	} else {
		m.Port = parsePort13(body[8:])
	}
	return m, nil
}

func (m *PortStatus) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	b[1] = uint8(TypePortStatus)
	b = appendZeros(append(b, m.Reason), 7)
	return appendPort(b, v, &m.Port), nil
}

// PortMod is OFPT_PORT_MOD.
type PortMod struct {
	PortNo    uint32
	HWAddr    net.HardwareAddr
	Config    uint32
	Mask      uint32
	Advertise uint32
}

func (*PortMod) Type() Type { return TypePortMod }

func parsePortMod(body []byte, v uint8) (*PortMod, error) {
	if v == Version10 {
		if err := bodyLen(body, "PORT_MOD", 24); err != nil {
			return nil, err
		}
		return &PortMod{PortNo: PortFrom10(be.Uint16(body)), HWAddr: hwaddr(body[2:]), Config: be.Uint32(body[8:]), Mask: be.Uint32(body[12:]), Advertise: featuresFrom10(be.Uint32(body[16:]))}, nil
	}
	if err := bodyLen(body, "PORT_MOD", 32); err != nil {
		return nil, err
	}
	return &PortMod{PortNo: be.Uint32(body), HWAddr: hwaddr(body[8:]), Config: be.Uint32(body[16:]), Mask: be.Uint32(body[20:]), Advertise: be.Uint32(body[24:])}, nil
}

func (m *PortMod) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	if err := setType(b, TypePortMod, v); err != nil {
		return nil, err
	}
	if v == Version10 {
		p, _ := PortTo10(m.PortNo)
		b = appendHW(appendU16(b, p), m.HWAddr)
		b = appendU32(appendU32(b, m.Config), m.Mask)
		return appendZeros(appendU32(b, features10(m.Advertise)), 4), nil
	}
	b = appendZeros(appendHW(appendZeros(appendU32(b, m.PortNo), 4), m.HWAddr), 2)
	b = appendU32(appendU32(b, m.Config), m.Mask)
	return appendZeros(appendU32(b, m.Advertise), 4), nil
}

// PacketIn is a packet sent to the controller: OFPT_PACKET_IN of either
// version, NXT_PACKET_IN or NXT_PACKET_IN2 (Format). Match carries the
// packet's metadata (in_port always, tunnel_id, metadata and registers when
// set); Data the frame, truncated to what the controller asked for, and
// TotalLen its full length.
type PacketIn struct {
	BufferID uint32
	TotalLen uint16
	Reason   uint8
	TableID  uint8
	Cookie   uint64 // ^0 when the packet matched no flow (packet-out)
	Match    Match
	Data     []byte
	// Format is PacketInFormatStandard, PacketInFormatNXT or
	// PacketInFormatNXT2 (how the message is spelled).
	Format   uint32
	Userdata []byte // NXT_PACKET_IN2 only
}

func (*PacketIn) Type() Type { return TypePacketIn }

func parsePacketIn13(body []byte) (*PacketIn, error) {
	if err := bodyMin(body, "PACKET_IN", 16); err != nil {
		return nil, err
	}
	m := &PacketIn{BufferID: be.Uint32(body), TotalLen: be.Uint16(body[4:]), Reason: body[6], TableID: body[7], Cookie: be.Uint64(body[8:])}
	match, n, err := parseMatch13(body[16:])
	if err != nil {
		return nil, err
	}
	rest := body[16+n:]
	if len(rest) < 2 {
		return nil, Errorf(ErrBadRequest, BadRequestBadLen, "PACKET_IN lacks the 2 padding bytes before the frame")
	}
	m.Match, m.Data = match, rest[2:]
	return m, nil
}

func parsePacketIn10(body []byte) (*PacketIn, error) {
	if err := bodyMin(body, "PACKET_IN", 10); err != nil {
		return nil, err
	}
	m := &PacketIn{BufferID: be.Uint32(body), TotalLen: be.Uint16(body[4:]), Reason: body[8], Cookie: ^uint64(0), Data: body[10:]}
	m.Match.Add(OXMUint(FieldInPort, uint64(PortFrom10(be.Uint16(body[6:])))))
	return m, nil
}

func parseNXPacketIn(body []byte) (*PacketIn, error) {
	if err := bodyMin(body, "NXT_PACKET_IN", 24); err != nil {
		return nil, err
	}
	m := &PacketIn{Format: PacketInFormatNXT, BufferID: be.Uint32(body), TotalLen: be.Uint16(body[4:]), Reason: body[6], TableID: body[7], Cookie: be.Uint64(body[8:])}
	match, n, err := parseNXM(body[24:], int(be.Uint16(body[16:])))
	if err != nil {
		return nil, err
	}
	rest := body[24+n:]
	if len(rest) < 2 {
		return nil, Errorf(ErrBadRequest, BadRequestBadLen, "NXT_PACKET_IN lacks the 2 padding bytes before the frame")
	}
	m.Match, m.Data = match, rest[2:]
	return m, nil
}

// NXT_PACKET_IN2 property types.
const (
	nxpintPacket       = 0
	nxpintFullLen      = 1
	nxpintBufferID     = 2
	nxpintTableID      = 3
	nxpintCookie       = 4
	nxpintReason       = 5
	nxpintMetadata     = 6
	nxpintUserdata     = 7
	nxpintContinuation = 8
)

func parseNXPacketIn2(body []byte) (*PacketIn, error) {
	m := &PacketIn{Format: PacketInFormatNXT2, BufferID: NoBuffer, Cookie: ^uint64(0)}
	haveFull := false
	for len(body) > 0 {
		if len(body) < 4 {
			return nil, Errorf(ErrBadRequest, BadRequestBadLen, "NXT_PACKET_IN2: truncated property")
		}
		typ, n := be.Uint16(body), int(be.Uint16(body[2:]))
		if n < 4 || n > len(body) {
			return nil, Errorf(ErrBadRequest, BadRequestBadLen, "NXT_PACKET_IN2 property %d of length %d (%d remain)", typ, n, len(body))
		}
		p := body[4:n]
		fixed := func(l int) error {
			if len(p) != l {
				return Errorf(ErrBadRequest, BadRequestBadLen, "NXT_PACKET_IN2 property %d of %d bytes, must be %d", typ, len(p), l)
			}
			return nil
		}
		var err error
		switch typ {
		case nxpintPacket:
			m.Data = p
		case nxpintFullLen:
			if err = fixed(4); err == nil {
				m.TotalLen, haveFull = uint16(be.Uint32(p)), true
			}
		case nxpintBufferID:
			if err = fixed(4); err == nil {
				m.BufferID = be.Uint32(p)
			}
		case nxpintTableID:
			if err = fixed(1); err == nil {
				m.TableID = p[0]
			}
		case nxpintCookie:
			if len(p) == 12 {
				p = p[4:] // 4 bytes of alignment padding
			}
			if err = fixed(8); err == nil {
				m.Cookie = be.Uint64(p)
			}
		case nxpintReason:
			if err = fixed(1); err == nil {
				m.Reason = p[0]
			}
		case nxpintMetadata:
			var f []OXM
			if f, err = parseOXMs(p); err == nil {
				m.Match.Fields = f
			}
		case nxpintUserdata:
			m.Userdata = p
		case nxpintContinuation:
			// A continuation only matters to the switch that made it.
		default:
			if typ&0x8000 == 0 {
				err = Errorf(ErrBadRequest, BadRequestBadType, "NXT_PACKET_IN2: unknown required property %d", typ)
			}
		}
		if err != nil {
			return nil, err
		}
		adv := pad8(n)
		if adv > len(body) {
			adv = len(body)
		}
		body = body[adv:]
	}
	if !haveFull {
		m.TotalLen = uint16(len(m.Data))
	}
	return m, nil
}

func (m *PacketIn) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	switch m.Format {
	case PacketInFormatNXT:
		b = appendNXHeader(b, nxtPacketIn)
		b = appendU32(b, m.BufferID)
		b = appendU16(b, m.TotalLen)
		b = append(b, m.Reason, m.TableID)
		b = appendU64(b, m.Cookie)
		lenAt := len(b)
		b = appendZeros(appendU16(b, 0), 6)
		nxm := m.Match.NXM()
		var n int
		b, n = appendNXM(b, &nxm)
		be.PutUint16(b[lenAt:], uint16(n))
		b = appendZeros(b, 2)
		return append(b, m.Data...), nil
	case PacketInFormatNXT2:
		b = appendNXHeader(b, nxtPacketIn2)
		prop := func(typ uint16, p []byte) {
			po := len(b)
			b = append(appendU16(appendU16(b, typ), uint16(4+len(p))), p...)
			b = padTo8(b, po)
		}
		prop(nxpintPacket, m.Data)
		if int(m.TotalLen) > len(m.Data) {
			prop(nxpintFullLen, putUintN(uint64(m.TotalLen), 4))
		}
		if m.BufferID != NoBuffer {
			prop(nxpintBufferID, putUintN(uint64(m.BufferID), 4))
		}
		prop(nxpintTableID, []byte{m.TableID})
		if m.Cookie != ^uint64(0) {
			prop(nxpintCookie, append([]byte{0, 0, 0, 0}, putUintN(m.Cookie, 8)...))
		}
		prop(nxpintReason, []byte{m.Reason})
		if len(m.Match.Fields) > 0 {
			prop(nxpintMetadata, m.Match.appendOXMs(nil))
		}
		if len(m.Userdata) > 0 {
			prop(nxpintUserdata, m.Userdata)
		}
		return b, nil
	}
	b[1] = uint8(TypePacketIn)
	b = appendU32(b, m.BufferID)
	b = appendU16(b, m.TotalLen)
	if v == Version10 {
		in, _ := m.Match.InPort()
		p, _ := PortTo10(in)
		b = appendU16(b, p)
		b = append(b, m.Reason, 0)
		return append(b, m.Data...), nil
	}
	b = append(b, m.Reason, m.TableID)
	b = appendU64(b, m.Cookie)
	b = appendMatch13(b, &m.Match)
	b = appendZeros(b, 2)
	return append(b, m.Data...), nil
}

// PacketOut is OFPT_PACKET_OUT.
type PacketOut struct {
	BufferID uint32
	InPort   uint32
	Actions  []Action
	Data     []byte
}

func (*PacketOut) Type() Type { return TypePacketOut }

func parsePacketOut(body []byte, v uint8) (*PacketOut, error) {
	hdr := 16
	if v == Version10 {
		hdr = 8
	}
	if err := bodyMin(body, "PACKET_OUT", hdr); err != nil {
		return nil, err
	}
	m := &PacketOut{BufferID: be.Uint32(body)}
	var alen int
	if v == Version10 {
		m.InPort, alen = PortFrom10(be.Uint16(body[4:])), int(be.Uint16(body[6:]))
	} else {
		m.InPort, alen = be.Uint32(body[4:]), int(be.Uint16(body[8:]))
	}
	if hdr+alen > len(body) {
		return nil, Errorf(ErrBadRequest, BadRequestBadLen, "PACKET_OUT actions_len %d but only %d bytes follow the header", alen, len(body)-hdr)
	}
	acts, err := ParseActions(body[hdr:hdr+alen], v)
	if err != nil {
		return nil, err
	}
	m.Actions, m.Data = acts, body[hdr+alen:]
	return m, nil
}

func (m *PacketOut) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	b[1] = uint8(TypePacketOut)
	b = appendU32(b, m.BufferID)
	var lenAt int
	if v == Version10 {
		p, _ := PortTo10(m.InPort)
		b = appendU16(b, p)
		lenAt = len(b)
		b = appendU16(b, 0)
	} else {
		b = appendU32(b, m.InPort)
		lenAt = len(b)
		b = appendZeros(appendU16(b, 0), 6)
	}
	start := len(b)
	b, err := AppendActions(b, v, m.Actions)
	if err != nil {
		return nil, err
	}
	be.PutUint16(b[lenAt:], uint16(len(b)-start))
	return append(b, m.Data...), nil
}

// FlowMod is OFPT_FLOW_MOD of either version, or Nicira's NXT_FLOW_MOD
// (NXM). An OpenFlow 1.0 flow's actions are one InstApplyActions.
type FlowMod struct {
	Cookie      uint64
	CookieMask  uint64
	TableID     uint8
	Command     uint8
	IdleTimeout uint16
	HardTimeout uint16
	Priority    uint16
	BufferID    uint32
	OutPort     uint32
	OutGroup    uint32
	Flags       uint16
	Importance  uint16 // 1.4+, zero in 1.3

	Match        Match
	Instructions []Instruction

	// Version is the version the flow-mod arrived in.
	Version uint8
	// NXM is true for NXT_FLOW_MOD; the NXM_NX_COOKIE(_W) entry of its
	// match (a cookie filter for modify and delete) is moved to
	// NXCookie/CookieMask.
	NXM      bool
	NXCookie uint64
}

func (*FlowMod) Type() Type { return TypeFlowMod }

// CookieFilter returns the cookie and mask a modify or delete must match
// (mask 0: any cookie), with Open vSwitch's reading of each version: in
// OpenFlow 1.1+ an OFPFC_ADD never filters; in 1.0 only NXM flow-mods can.
func (m *FlowMod) CookieFilter() (cookie, mask uint64) {
	switch {
	case m.NXM:
		return m.NXCookie, m.CookieMask
	case m.Version == Version10 || m.Command == FlowAdd:
		return 0, 0
	}
	return m.Cookie, m.CookieMask
}

// NewCookie returns the cookie the flow-mod gives the flows it adds or
// modifies; ok is false when modified flows keep their cookie (OpenFlow
// 1.1+ modify and any delete).
func (m *FlowMod) NewCookie() (cookie uint64, ok bool) {
	switch m.Command {
	case FlowAdd:
		return m.Cookie, true
	case FlowModify, FlowModifyStrict:
		if m.Version == Version10 || m.NXM {
			return m.Cookie, true
		}
	}
	return 0, false
}

// nxCookie is NXM_NX_COOKIE.
const nxCookieField = 30

func parseFlowMod13(body []byte) (*FlowMod, error) {
	if err := bodyMin(body, "FLOW_MOD", 40); err != nil {
		return nil, err
	}
	m := &FlowMod{
		Version: Version13, Cookie: be.Uint64(body), CookieMask: be.Uint64(body[8:]), TableID: body[16], Command: body[17],
		IdleTimeout: be.Uint16(body[18:]), HardTimeout: be.Uint16(body[20:]), Priority: be.Uint16(body[22:]),
		BufferID: be.Uint32(body[24:]), OutPort: be.Uint32(body[28:]), OutGroup: be.Uint32(body[32:]),
		Flags: be.Uint16(body[36:]), Importance: be.Uint16(body[38:]),
	}
	match, n, err := parseMatch13(body[40:])
	if err != nil {
		return nil, err
	}
	m.Match = match
	if m.Instructions, err = ParseInstructions(body[40+n:]); err != nil {
		return nil, err
	}
	return m, nil
}

// command10 splits an OpenFlow 1.0 or NXM 16-bit command.
func command10(cmd uint16, o *Options) (command, table uint8, err error) {
	command = uint8(cmd)
	switch {
	case o.FlowModTableID:
		table = uint8(cmd >> 8)
	case cmd > 0xff:
		return 0, 0, Errorf(ErrFlowModFailed, FlowModFailedBadCommand, "flow-mod command 0x%04x: a table id in the high byte needs NXT_FLOW_MOD_TABLE_ID first", cmd)
	case command == FlowAdd:
		table = 0
	default:
		table = TableAll
	}
	return command, table, nil
}

func appendCommand10(b []byte, m *FlowMod, o *Options) []byte {
	if o.FlowModTableID {
		return append(b, m.TableID, m.Command)
	}
	return append(b, 0, m.Command)
}

func parseFlowMod10(body []byte, o *Options) (*FlowMod, error) {
	if err := bodyMin(body, "FLOW_MOD", 64); err != nil {
		return nil, err
	}
	match, err := parseMatch10(body)
	if err != nil {
		return nil, err
	}
	b := body[40:]
	m := &FlowMod{Version: Version10, Match: match, Cookie: be.Uint64(b), IdleTimeout: be.Uint16(b[10:]), HardTimeout: be.Uint16(b[12:]),
		Priority: be.Uint16(b[14:]), BufferID: be.Uint32(b[16:]), OutPort: PortFrom10(be.Uint16(b[20:])), OutGroup: GroupAny, Flags: be.Uint16(b[22:])}
	if m.Command, m.TableID, err = command10(be.Uint16(b[8:]), o); err != nil {
		return nil, err
	}
	acts, err := ParseActions(body[64:], Version10)
	if err != nil {
		return nil, err
	}
	if len(acts) > 0 {
		m.Instructions = []Instruction{InstApplyActions{Actions: acts}}
	}
	return m, nil
}

func parseNXFlowMod(body []byte, o *Options) (*FlowMod, error) {
	if err := bodyMin(body, "NXT_FLOW_MOD", 32); err != nil {
		return nil, err
	}
	m := &FlowMod{Version: Version10, NXM: true, Cookie: be.Uint64(body), IdleTimeout: be.Uint16(body[10:]), HardTimeout: be.Uint16(body[12:]),
		Priority: be.Uint16(body[14:]), BufferID: be.Uint32(body[16:]), OutPort: PortFrom10(be.Uint16(body[20:])), OutGroup: GroupAny, Flags: be.Uint16(body[22:])}
	var err error
	if m.Command, m.TableID, err = command10(be.Uint16(body[8:]), o); err != nil {
		return nil, err
	}
	match, n, err := parseNXM(body[32:], int(be.Uint16(body[24:])))
	if err != nil {
		return nil, err
	}
	if m.Match, m.NXCookie, m.CookieMask, err = takeNXCookie(match); err != nil {
		return nil, err
	}
	acts, err := ParseActions(body[32+n:], Version10)
	if err != nil {
		return nil, err
	}
	if len(acts) > 0 {
		m.Instructions = []Instruction{InstApplyActions{Actions: acts}}
	}
	return m, nil
}

// takeNXCookie moves an NXM_NX_COOKIE(_W) entry out of an NXM match.
func takeNXCookie(m Match) (Match, uint64, uint64, error) {
	var cookie, mask uint64
	found := false
	out := m.Fields[:0:0]
	for _, o := range m.Fields {
		if o.Class == ClassNXM1 && o.Field == nxCookieField {
			if found {
				return Match{}, 0, 0, Errorf(ErrBadMatch, BadMatchDupField, "NXM_NX_COOKIE appears twice")
			}
			if len(o.Value) != 8 || (o.Mask != nil && len(o.Mask) != 8) {
				return Match{}, 0, 0, Errorf(ErrBadMatch, BadMatchBadLen, "NXM_NX_COOKIE of %d bytes, must be 8", len(o.Value))
			}
			found = true
			cookie, mask = o.Uint()
			cookie &= mask
			continue
		}
		out = append(out, o)
	}
	return Match{Fields: out}, cookie, mask, nil
}

// appendNXCookie adds NXM_NX_COOKIE(_W) to an NXM match when mask != 0.
func withNXCookie(m Match, cookie, mask uint64) Match {
	if mask == 0 {
		return m
	}
	o := OXM{Class: ClassNXM1, Field: nxCookieField, Value: putUintN(cookie&mask, 8)}
	if mask != ^uint64(0) {
		o.Mask = putUintN(mask, 8)
	}
	return Match{Fields: append(append([]OXM(nil), m.Fields...), o)}
}

func (m *FlowMod) marshal(b []byte, v uint8, o *Options) ([]byte, error) {
	if v != Version10 {
		b[1] = uint8(TypeFlowMod)
		b = appendU64(appendU64(b, m.Cookie), m.CookieMask)
		b = append(b, m.TableID, m.Command)
		b = appendU16(appendU16(appendU16(b, m.IdleTimeout), m.HardTimeout), m.Priority)
		b = appendU32(appendU32(appendU32(b, m.BufferID), m.OutPort), m.OutGroup)
		b = appendU16(appendU16(b, m.Flags), m.Importance)
		b = appendMatch13(b, &m.Match)
		return AppendInstructions(b, m.Instructions)
	}
	acts, _ := actions10(m.Instructions)
	outPort, _ := PortTo10(m.OutPort)
	if m.NXM {
		b = appendNXHeader(b, nxtFlowMod)
		b = appendU64(b, m.Cookie)
		b = appendCommand10(b, m, o)
		b = appendU16(appendU16(appendU16(b, m.IdleTimeout), m.HardTimeout), m.Priority)
		b = appendU32(b, m.BufferID)
		b = appendU16(appendU16(b, outPort), m.Flags)
		lenAt := len(b)
		b = appendZeros(appendU16(b, 0), 6)
		match := withNXCookie(m.Match, m.NXCookie, m.CookieMask)
		var n int
		b, n = appendNXM(b, &match)
		be.PutUint16(b[lenAt:], uint16(n))
		return AppendActions(b, Version10, acts)
	}
	b[1] = uint8(TypeFlowMod)
	b, exact := appendMatch10(b, &m.Match)
	if !exact {
		return nil, Errorf(ErrBadMatch, BadMatchBadField, "the match cannot be expressed as an OpenFlow 1.0 ofp_match (use NXM)")
	}
	b = appendU64(b, m.Cookie)
	b = appendCommand10(b, m, o)
	b = appendU16(appendU16(appendU16(b, m.IdleTimeout), m.HardTimeout), m.Priority)
	b = appendU32(b, m.BufferID)
	b = appendU16(appendU16(b, outPort), m.Flags)
	return AppendActions(b, Version10, acts)
}

// FlowRemoved is OFPT_FLOW_REMOVED of either version, or NXT_FLOW_REMOVED
// (NXM set).
type FlowRemoved struct {
	Cookie       uint64
	Priority     uint16
	Reason       uint8
	TableID      uint8
	DurationSec  uint32
	DurationNsec uint32
	IdleTimeout  uint16
	HardTimeout  uint16
	PacketCount  uint64
	ByteCount    uint64
	Match        Match
	NXM          bool
}

func (*FlowRemoved) Type() Type { return TypeFlowRemoved }

func parseFlowRemoved13(body []byte) (*FlowRemoved, error) {
	if err := bodyMin(body, "FLOW_REMOVED", 40); err != nil {
		return nil, err
	}
	m := &FlowRemoved{Cookie: be.Uint64(body), Priority: be.Uint16(body[8:]), Reason: body[10], TableID: body[11],
		DurationSec: be.Uint32(body[12:]), DurationNsec: be.Uint32(body[16:]), IdleTimeout: be.Uint16(body[20:]),
		HardTimeout: be.Uint16(body[22:]), PacketCount: be.Uint64(body[24:]), ByteCount: be.Uint64(body[32:])}
	match, n, err := parseMatch13(body[40:])
	if err != nil {
		return nil, err
	}
	if 40+n != len(body) {
		return nil, Errorf(ErrBadRequest, BadRequestBadLen, "FLOW_REMOVED has %d bytes after its match", len(body)-40-n)
	}
	m.Match = match
	return m, nil
}

func parseFlowRemoved10(body []byte) (*FlowRemoved, error) {
	if err := bodyLen(body, "FLOW_REMOVED", 80); err != nil {
		return nil, err
	}
	match, err := parseMatch10(body)
	if err != nil {
		return nil, err
	}
	b := body[40:]
	return &FlowRemoved{Match: match, Cookie: be.Uint64(b), Priority: be.Uint16(b[8:]), Reason: b[10],
		DurationSec: be.Uint32(b[12:]), DurationNsec: be.Uint32(b[16:]), IdleTimeout: be.Uint16(b[20:]),
		PacketCount: be.Uint64(b[24:]), ByteCount: be.Uint64(b[32:])}, nil
}

func parseNXFlowRemoved(body []byte) (*FlowRemoved, error) {
	if err := bodyMin(body, "NXT_FLOW_REMOVED", 40); err != nil {
		return nil, err
	}
	m := &FlowRemoved{NXM: true, Cookie: be.Uint64(body), Priority: be.Uint16(body[8:]), Reason: body[10], TableID: body[11] - 1,
		DurationSec: be.Uint32(body[12:]), DurationNsec: be.Uint32(body[16:]), IdleTimeout: be.Uint16(body[20:]),
		PacketCount: be.Uint64(body[24:]), ByteCount: be.Uint64(body[32:])}
	match, _, err := parseNXM(body[40:], int(be.Uint16(body[22:])))
	if err != nil {
		return nil, err
	}
	m.Match = match
	return m, nil
}

func (m *FlowRemoved) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	switch {
	case v == Version10 && m.NXM:
		b = appendNXHeader(b, nxtFlowRemoved)
		b = appendU64(b, m.Cookie)
		b = append(appendU16(b, m.Priority), m.Reason, m.TableID+1)
		b = appendU32(appendU32(b, m.DurationSec), m.DurationNsec)
		b = appendU16(b, m.IdleTimeout)
		lenAt := len(b)
		b = appendU16(b, 0)
		b = appendU64(appendU64(b, m.PacketCount), m.ByteCount)
		nxm := m.Match.NXM()
		var n int
		b, n = appendNXM(b, &nxm)
		be.PutUint16(b[lenAt:], uint16(n))
		return b, nil
	case v == Version10:
		b[1] = uint8(TypeFlowRemoved)
		b, _ = appendMatch10(b, &m.Match)
		b = appendU64(b, m.Cookie)
		b = append(appendU16(b, m.Priority), m.Reason, 0)
		b = appendU32(appendU32(b, m.DurationSec), m.DurationNsec)
		b = appendZeros(appendU16(b, m.IdleTimeout), 2)
		return appendU64(appendU64(b, m.PacketCount), m.ByteCount), nil
	}
	b[1] = uint8(TypeFlowRemoved)
	b = appendU64(b, m.Cookie)
	b = append(appendU16(b, m.Priority), m.Reason, m.TableID)
	b = appendU32(appendU32(b, m.DurationSec), m.DurationNsec)
	b = appendU16(appendU16(b, m.IdleTimeout), m.HardTimeout)
	b = appendU64(appendU64(b, m.PacketCount), m.ByteCount)
	return appendMatch13(b, &m.Match), nil
}

// Bucket is an ofp_bucket of a group.
type Bucket struct {
	Weight     uint16
	WatchPort  uint32
	WatchGroup uint32
	Actions    []Action
}

// GroupMod is OFPT_GROUP_MOD.
type GroupMod struct {
	Command   uint16
	GroupType uint8
	GroupID   uint32
	Buckets   []Bucket
}

func (*GroupMod) Type() Type { return TypeGroupMod }

// MaxBuckets bounds the buckets of a group (OFPGMFC_OUT_OF_BUCKETS beyond).
const MaxBuckets = 1024

func parseBuckets(b []byte) ([]Bucket, error) {
	var out []Bucket
	for len(b) > 0 {
		if len(b) < 16 {
			return nil, Errorf(ErrGroupModFailed, GroupModFailedBadBucket, "%d bytes left after the last bucket, a bucket needs 16", len(b))
		}
		n := int(be.Uint16(b))
		if n < 16 || n%8 != 0 || n > len(b) {
			return nil, Errorf(ErrGroupModFailed, GroupModFailedBadBucket, "bucket length %d (%d remain; a multiple of 8, at least 16)", n, len(b))
		}
		if len(out) >= MaxBuckets {
			return nil, Errorf(ErrGroupModFailed, GroupModFailedOutOfBuckets, "more than %d buckets", MaxBuckets)
		}
		acts, err := ParseActions(b[16:n], Version13)
		if err != nil {
			return nil, err
		}
		out = append(out, Bucket{Weight: be.Uint16(b[2:]), WatchPort: be.Uint32(b[4:]), WatchGroup: be.Uint32(b[8:]), Actions: acts})
		b = b[n:]
	}
	return out, nil
}

func appendBuckets(b []byte, buckets []Bucket) ([]byte, error) {
	for _, k := range buckets {
		off := len(b)
		b = appendU16(appendU16(b, 0), k.Weight)
		b = appendZeros(appendU32(appendU32(b, k.WatchPort), k.WatchGroup), 4)
		var err error
		if b, err = AppendActions(b, Version13, k.Actions); err != nil {
			return nil, err
		}
		putLen16(b, off, off)
	}
	return b, nil
}

func parseGroupMod(body []byte) (*GroupMod, error) {
	if err := bodyMin(body, "GROUP_MOD", 8); err != nil {
		return nil, err
	}
	m := &GroupMod{Command: be.Uint16(body), GroupType: body[2], GroupID: be.Uint32(body[4:])}
	var err error
	if m.Buckets, err = parseBuckets(body[8:]); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *GroupMod) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	if v == Version10 {
		return nil, Errorf(ErrBadRequest, BadRequestBadType, "GROUP_MOD does not exist in OpenFlow 1.0")
	}
	b[1] = uint8(TypeGroupMod)
	b = appendU32(append(appendU16(b, m.Command), m.GroupType, 0), m.GroupID)
	return appendBuckets(b, m.Buckets)
}

// MeterBand is an ofp_meter_band: drop, dscp_remark (PrecLevel) or
// experimenter (Experimenter).
type MeterBand struct {
	BandType     uint16
	Rate         uint32
	BurstSize    uint32
	PrecLevel    uint8
	Experimenter uint32
}

// MeterMod is OFPT_METER_MOD.
type MeterMod struct {
	Command uint16
	Flags   uint16
	MeterID uint32
	Bands   []MeterBand
}

func (*MeterMod) Type() Type { return TypeMeterMod }

// MaxBands bounds the bands of a meter (OFPMMFC_OUT_OF_BANDS beyond).
const MaxBands = 256

func parseBands(b []byte) ([]MeterBand, error) {
	var out []MeterBand
	for len(b) > 0 {
		if len(b) < 16 {
			return nil, Errorf(ErrMeterModFailed, MeterModFailedBadBand, "%d bytes left after the last band, a band needs 16", len(b))
		}
		typ, n := be.Uint16(b), int(be.Uint16(b[2:]))
		if n != 16 && !(typ == MeterBandExperimenter && n >= 16 && n%8 == 0) || n > len(b) {
			return nil, Errorf(ErrMeterModFailed, MeterModFailedBadBand, "meter band type %d of length %d (%d remain; 16)", typ, n, len(b))
		}
		if len(out) >= MaxBands {
			return nil, Errorf(ErrMeterModFailed, MeterModFailedOutOfBands, "more than %d bands", MaxBands)
		}
		band := MeterBand{BandType: typ, Rate: be.Uint32(b[4:]), BurstSize: be.Uint32(b[8:])}
		switch typ {
		case MeterBandDrop:
		case MeterBandDSCPRemark:
			band.PrecLevel = b[12]
		case MeterBandExperimenter:
			band.Experimenter = be.Uint32(b[12:])
		default:
			return nil, Errorf(ErrMeterModFailed, MeterModFailedBadBand, "meter band type %d (1 drop, 2 dscp_remark, 0xffff experimenter)", typ)
		}
		out = append(out, band)
		b = b[n:]
	}
	return out, nil
}

func appendBands(b []byte, bands []MeterBand) []byte {
	for _, k := range bands {
		b = appendU32(appendU32(appendU16(appendU16(b, k.BandType), 16), k.Rate), k.BurstSize)
		switch k.BandType {
		case MeterBandDSCPRemark:
			b = appendZeros(append(b, k.PrecLevel), 3)
		case MeterBandExperimenter:
			b = appendU32(b, k.Experimenter)
		default:
			b = appendZeros(b, 4)
		}
	}
	return b
}

func parseMeterMod(body []byte) (*MeterMod, error) {
	if err := bodyMin(body, "METER_MOD", 8); err != nil {
		return nil, err
	}
	m := &MeterMod{Command: be.Uint16(body), Flags: be.Uint16(body[2:]), MeterID: be.Uint32(body[4:])}
	var err error
	if m.Bands, err = parseBands(body[8:]); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *MeterMod) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	if v == Version10 {
		return nil, Errorf(ErrBadRequest, BadRequestBadType, "METER_MOD does not exist in OpenFlow 1.0")
	}
	b[1] = uint8(TypeMeterMod)
	b = appendU32(appendU16(appendU16(b, m.Command), m.Flags), m.MeterID)
	return appendBands(b, m.Bands), nil
}
