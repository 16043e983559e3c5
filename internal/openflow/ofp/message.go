package ofp

import (
	"fmt"
)

// Header is ofp_header.
type Header struct {
	Version uint8
	Type    uint8 // the wire type of Version (OpenFlow 1.0 numbers differ)
	Length  uint16
	XID     uint32
}

// ParseHeader decodes the 8-byte header at the start of b. It checks only
// that the length covers the header.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, errLen(ErrBadRequest, BadRequestBadLen, "ofp_header", len(b), HeaderLen)
	}
	h := Header{Version: b[0], Type: b[1], Length: be.Uint16(b[2:]), XID: be.Uint32(b[4:])}
	if h.Length < HeaderLen {
		return h, Errorf(ErrBadRequest, BadRequestBadLen, "ofp_header.length %d is less than the 8-byte header", h.Length)
	}
	return h, nil
}

// Message is a decoded OpenFlow message. The concrete types are the
// pointer types of this package's message structs (*Hello, *FlowMod, …).
type Message interface {
	// Type is the OpenFlow 1.3 message type (TypeExperimenter for Nicira
	// and ONF extension messages).
	Type() Type
	marshal(b []byte, v uint8, o *Options) ([]byte, error)
}

// Options are the per-connection settings that change how OpenFlow 1.0
// messages are spelled.
type Options struct {
	// FlowModTableID is Nicira's flow_mod_table_id extension
	// (NXT_FLOW_MOD_TABLE_ID): the high byte of an OpenFlow 1.0 or NXM
	// flow-mod command is the table id.
	FlowModTableID bool
}

// Marshal encodes m as a version-v message with transaction id xid.
func Marshal(v uint8, xid uint32, m Message) ([]byte, error) {
	return MarshalOptions(v, xid, m, nil)
}

// MarshalOptions is Marshal with per-connection options.
func MarshalOptions(v uint8, xid uint32, m Message, o *Options) ([]byte, error) {
	if o == nil {
		o = &Options{}
	}
	b := make([]byte, HeaderLen, 64)
	b[0] = v
	be.PutUint32(b[4:], xid)
	b, err := m.marshal(b, v, o)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxMessageLen {
		return nil, Errorf(ErrBadRequest, BadRequestBadLen, "%s of %d bytes exceeds the 65535-byte message limit", m.Type(), len(b))
	}
	be.PutUint16(b[2:], uint16(len(b)))
	return b, nil
}

// Unmarshal decodes one whole message (b holds exactly ofp_header.length
// bytes). The returned message may alias b; the caller must not reuse b.
func Unmarshal(b []byte) (Header, Message, error) { return UnmarshalOptions(b, nil) }

// UnmarshalOptions is Unmarshal with per-connection options.
func UnmarshalOptions(b []byte, o *Options) (h Header, m Message, err error) {
	if o == nil {
		o = &Options{}
	}
	h, err = ParseHeader(b)
	if err != nil {
		return h, nil, err
	}
	if int(h.Length) != len(b) {
		return h, nil, Errorf(ErrBadRequest, BadRequestBadLen, "ofp_header.length %d but the message has %d bytes", h.Length, len(b))
	}
	body := b[HeaderLen:]
	// HELLO, ERROR and ECHO have one form in every version.
	switch h.Type {
	case uint8(TypeHello):
		m, err = parseHello(body)
		return h, m, err
	case uint8(TypeError):
		m, err = parseErrorMsg(body)
		return h, m, err
	case uint8(TypeEchoRequest):
		return h, &EchoRequest{Data: body}, nil
	case uint8(TypeEchoReply):
		return h, &EchoReply{Data: body}, nil
	}
	switch h.Version {
	case Version10:
		m, err = parse10(h, body, o)
	case Version13:
		m, err = parse13(h, body, o)
	default:
		err = Errorf(ErrBadRequest, BadRequestBadVersion, "version %s (0x%02x) is not supported (OpenFlow10, OpenFlow13)", VersionName(h.Version), h.Version)
	}
	return h, m, err
}

func bodyLen(body []byte, what string, n int) error {
	if len(body) != n {
		return Errorf(ErrBadRequest, BadRequestBadLen, "%s body of %d bytes, must be %d", what, len(body), n)
	}
	return nil
}

func bodyMin(body []byte, what string, n int) error {
	if len(body) < n {
		return Errorf(ErrBadRequest, BadRequestBadLen, "%s body of %d bytes, needs at least %d", what, len(body), n)
	}
	return nil
}

func parse13(h Header, body []byte, o *Options) (Message, error) {
	empty := func(m Message) (Message, error) {
		if err := bodyLen(body, m.Type().String(), 0); err != nil {
			return nil, err
		}
		return m, nil
	}
	switch Type(h.Type) {
	case TypeExperimenter:
		return parseExperimenterMsg(h, body, o)
	case TypeFeaturesRequest:
		return empty(&FeaturesRequest{})
	case TypeFeaturesReply:
		return parseFeaturesReply(body, Version13)
	case TypeGetConfigRequest:
		return empty(&GetConfigRequest{})
	case TypeGetConfigReply, TypeSetConfig:
		return parseSwitchConfig(Type(h.Type), body)
	case TypePacketIn:
		return parsePacketIn13(body)
	case TypeFlowRemoved:
		return parseFlowRemoved13(body)
	case TypePortStatus:
		return parsePortStatus(body, Version13)
	case TypePacketOut:
		return parsePacketOut(body, Version13)
	case TypeFlowMod:
		return parseFlowMod13(body)
	case TypeGroupMod:
		return parseGroupMod(body)
	case TypePortMod:
		return parsePortMod(body, Version13)
	case TypeTableMod:
		if err := bodyLen(body, "TABLE_MOD", 8); err != nil {
			return nil, err
		}
		return &TableMod{TableID: body[0], Config: be.Uint32(body[4:])}, nil
	case TypeMultipartRequest:
		return parseMultipartRequest(body, Version13)
	case TypeMultipartReply:
		return parseMultipartReply(body, Version13)
	case TypeBarrierRequest:
		return empty(&BarrierRequest{})
	case TypeBarrierReply:
		return empty(&BarrierReply{})
	case TypeQueueGetConfigRequest:
		if err := bodyLen(body, "QUEUE_GET_CONFIG_REQUEST", 8); err != nil {
			return nil, err
		}
		return &QueueGetConfigRequest{Port: be.Uint32(body)}, nil
	case TypeQueueGetConfigReply:
		return parseQueueGetConfigReply(body, Version13)
	case TypeRoleRequest, TypeRoleReply:
		if err := bodyLen(body, Type(h.Type).String(), 16); err != nil {
			return nil, err
		}
		r := RoleRequest{Role: be.Uint32(body), GenerationID: be.Uint64(body[8:])}
		if Type(h.Type) == TypeRoleReply {
			return &RoleReply{r}, nil
		}
		return &r, nil
	case TypeGetAsyncRequest:
		return empty(&GetAsyncRequest{})
	case TypeGetAsyncReply, TypeSetAsync:
		if err := bodyLen(body, Type(h.Type).String(), 24); err != nil {
			return nil, err
		}
		var c AsyncConfig
		for i := 0; i < 2; i++ {
			c.PacketIn[i] = be.Uint32(body[4*i:])
			c.PortStatus[i] = be.Uint32(body[8+4*i:])
			c.FlowRemoved[i] = be.Uint32(body[16+4*i:])
		}
		if Type(h.Type) == TypeSetAsync {
			return &SetAsync{c}, nil
		}
		return &GetAsyncReply{c}, nil
	case TypeMeterMod:
		return parseMeterMod(body)
	}
	return nil, Errorf(ErrBadRequest, BadRequestBadType, "message type %d is not an OpenFlow 1.3 message", h.Type)
}

func parse10(h Header, body []byte, o *Options) (Message, error) {
	empty := func(m Message) (Message, error) {
		if err := bodyLen(body, m.Type().String(), 0); err != nil {
			return nil, err
		}
		return m, nil
	}
	switch h.Type {
	case uint8(TypeExperimenter):
		return parseExperimenterMsg(h, body, o)
	case uint8(TypeFeaturesRequest):
		return empty(&FeaturesRequest{})
	case uint8(TypeFeaturesReply):
		return parseFeaturesReply(body, Version10)
	case uint8(TypeGetConfigRequest):
		return empty(&GetConfigRequest{})
	case uint8(TypeGetConfigReply), uint8(TypeSetConfig):
		return parseSwitchConfig(Type(h.Type), body)
	case uint8(TypePacketIn):
		return parsePacketIn10(body)
	case uint8(TypeFlowRemoved):
		return parseFlowRemoved10(body)
	case uint8(TypePortStatus):
		return parsePortStatus(body, Version10)
	case uint8(TypePacketOut):
		return parsePacketOut(body, Version10)
	case uint8(TypeFlowMod):
		return parseFlowMod10(body, o)
	case type10PortMod:
		return parsePortMod(body, Version10)
	case type10StatsRequest:
		return parseMultipartRequest(body, Version10)
	case type10StatsReply:
		return parseMultipartReply(body, Version10)
	case type10BarrierRequest:
		return empty(&BarrierRequest{})
	case type10BarrierReply:
		return empty(&BarrierReply{})
	case type10QueueGetConfigRequest:
		if err := bodyLen(body, "QUEUE_GET_CONFIG_REQUEST", 4); err != nil {
			return nil, err
		}
		return &QueueGetConfigRequest{Port: PortFrom10(be.Uint16(body))}, nil
	case type10QueueGetConfigReply:
		return parseQueueGetConfigReply(body, Version10)
	}
	return nil, Errorf(ErrBadRequest, BadRequestBadType, "message type %d is not an OpenFlow 1.0 message", h.Type)
}

// wireType returns t's wire number in version v.
func wireType(t Type, v uint8) (uint8, error) {
	if v != Version10 {
		return uint8(t), nil
	}
	switch t {
	case TypePortMod:
		return type10PortMod, nil
	case TypeMultipartRequest:
		return type10StatsRequest, nil
	case TypeMultipartReply:
		return type10StatsReply, nil
	case TypeBarrierRequest:
		return type10BarrierRequest, nil
	case TypeBarrierReply:
		return type10BarrierReply, nil
	case TypeQueueGetConfigRequest:
		return type10QueueGetConfigRequest, nil
	case TypeQueueGetConfigReply:
		return type10QueueGetConfigReply, nil
	}
	if t <= TypeFlowMod {
		return uint8(t), nil
	}
	return 0, Errorf(ErrBadRequest, BadRequestBadType, "%s does not exist in OpenFlow 1.0", t)
}

func setType(b []byte, t Type, v uint8) error {
	w, err := wireType(t, v)
	if err != nil {
		return err
	}
	b[1] = w
	return nil
}

// Hello is OFPT_HELLO. Versions is the version bitmap (bit v for version v)
// of the hello's OFPHET_VERSIONBITMAP element; 0 when it has none, in which
// case only the header's version counts.
type Hello struct {
	Versions uint32
}

func (*Hello) Type() Type { return TypeHello }

func parseHello(body []byte) (*Hello, error) {
	h := &Hello{}
	for len(body) >= 4 {
		typ, n := be.Uint16(body), int(be.Uint16(body[2:]))
		if n < 4 || n > len(body) {
			// A malformed element: per the specification elements are
			// optional; the header's version still negotiates.
			return h, nil
		}
		if typ == 1 && n >= 8 && h.Versions == 0 {
			h.Versions = be.Uint32(body[4:])
		}
		adv := pad8(n)
		if adv > len(body) {
			adv = len(body)
		}
		body = body[adv:]
	}
	return h, nil
}

func (m *Hello) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	b[1] = uint8(TypeHello)
	if m.Versions != 0 {
		b = appendU16(appendU16(b, 1), 8)
		b = appendU32(b, m.Versions)
	}
	return b, nil
}

// Negotiate returns the version two peers speak after exchanging hellos:
// ours is our bitmap and our hello's version is the highest bit; theirs is
// the peer's hello. ok is false when there is no common version.
func Negotiate(ours uint32, peerVersion uint8, peer *Hello) (uint8, bool) {
	if peer != nil && peer.Versions != 0 {
		common := ours & peer.Versions
		for v := 31; v > 0; v-- {
			if common&(1<<uint(v)) != 0 {
				return uint8(v), true
			}
		}
		return 0, false
	}
	// No bitmap: the lower of the two header versions.
	v := highest(ours)
	if peerVersion < v {
		v = peerVersion
	}
	return v, v != 0 && ours&(1<<uint(v)) != 0
}

func highest(bitmap uint32) uint8 {
	for v := 31; v > 0; v-- {
		if bitmap&(1<<uint(v)) != 0 {
			return uint8(v)
		}
	}
	return 0
}

// ErrorMsg is OFPT_ERROR as it is on the wire (type and code in the
// numbering of the message's version). For ErrType 0xffff (an experimenter
// error) Code is the exp_type.
type ErrorMsg struct {
	ErrType      uint16
	Code         uint16
	Experimenter uint32
	Data         []byte
}

func (*ErrorMsg) Type() Type { return TypeError }

// Err returns the error in OpenFlow 1.3 numbering for a message of version v.
func (m *ErrorMsg) Err(v uint8) *Error {
	t, c := errorFromWire(v, m.ErrType, m.Code, m.Experimenter)
	return &Error{Type: t, Code: c}
}

func parseErrorMsg(body []byte) (*ErrorMsg, error) {
	if err := bodyMin(body, "ERROR", 4); err != nil {
		return nil, err
	}
	m := &ErrorMsg{ErrType: be.Uint16(body), Code: be.Uint16(body[2:]), Data: body[4:]}
	if m.ErrType == uint16(ErrExperimenter) {
		if err := bodyMin(body, "experimenter ERROR", 8); err != nil {
			return nil, err
		}
		m.Experimenter, m.Data = be.Uint32(body[4:]), body[8:]
	}
	return m, nil
}

func (m *ErrorMsg) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	b[1] = uint8(TypeError)
	b = appendU16(appendU16(b, m.ErrType), m.Code)
	if m.ErrType == uint16(ErrExperimenter) {
		b = appendU32(b, m.Experimenter)
	}
	return append(b, m.Data...), nil
}

// EchoRequest is OFPT_ECHO_REQUEST.
type EchoRequest struct{ Data []byte }

// EchoReply is OFPT_ECHO_REPLY.
type EchoReply struct{ Data []byte }

func (*EchoRequest) Type() Type { return TypeEchoRequest }
func (*EchoReply) Type() Type   { return TypeEchoReply }

func (m *EchoRequest) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	b[1] = uint8(TypeEchoRequest)
	return append(b, m.Data...), nil
}

func (m *EchoReply) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	b[1] = uint8(TypeEchoReply)
	return append(b, m.Data...), nil
}

// Experimenter is an experimenter (1.0: vendor) message this codec does not
// decode further. ExpType is the experimenter-defined subtype (for 1.0
// Nicira messages, the 32-bit subtype after the vendor id).
type Experimenter struct {
	Experimenter uint32
	ExpType      uint32
	Data         []byte
}

func (*Experimenter) Type() Type { return TypeExperimenter }

func (m *Experimenter) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	b[1] = uint8(TypeExperimenter)
	b = appendU32(appendU32(b, m.Experimenter), m.ExpType)
	return append(b, m.Data...), nil
}

// empty messages

// FeaturesRequest is OFPT_FEATURES_REQUEST.
type FeaturesRequest struct{}

// GetConfigRequest is OFPT_GET_CONFIG_REQUEST.
type GetConfigRequest struct{}

// BarrierRequest is OFPT_BARRIER_REQUEST.
type BarrierRequest struct{}

// BarrierReply is OFPT_BARRIER_REPLY.
type BarrierReply struct{}

// GetAsyncRequest is OFPT_GET_ASYNC_REQUEST.
type GetAsyncRequest struct{}

func (*FeaturesRequest) Type() Type  { return TypeFeaturesRequest }
func (*GetConfigRequest) Type() Type { return TypeGetConfigRequest }
func (*BarrierRequest) Type() Type   { return TypeBarrierRequest }
func (*BarrierReply) Type() Type     { return TypeBarrierReply }
func (*GetAsyncRequest) Type() Type  { return TypeGetAsyncRequest }

func (m *FeaturesRequest) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	return b, setType(b, TypeFeaturesRequest, v)
}
func (m *GetConfigRequest) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	return b, setType(b, TypeGetConfigRequest, v)
}
func (m *BarrierRequest) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	return b, setType(b, TypeBarrierRequest, v)
}
func (m *BarrierReply) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	return b, setType(b, TypeBarrierReply, v)
}
func (m *GetAsyncRequest) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	return b, setType(b, TypeGetAsyncRequest, v)
}

// FeaturesReply is OFPT_FEATURES_REPLY. Ports and Actions10 exist only in
// OpenFlow 1.0 (1.3 clients ask for PORT_DESC).
type FeaturesReply struct {
	DatapathID   uint64
	NBuffers     uint32
	NTables      uint8
	AuxiliaryID  uint8
	Capabilities uint32
	Actions10    uint32
	Ports        []Port
}

func (*FeaturesReply) Type() Type { return TypeFeaturesReply }

func parseFeaturesReply(body []byte, v uint8) (*FeaturesReply, error) {
	if err := bodyMin(body, "FEATURES_REPLY", 24); err != nil {
		return nil, err
	}
	m := &FeaturesReply{DatapathID: be.Uint64(body), NBuffers: be.Uint32(body[8:]), NTables: body[12], AuxiliaryID: body[13], Capabilities: be.Uint32(body[16:]), Actions10: be.Uint32(body[20:])}
	rest := body[24:]
	if v == Version10 {
		m.AuxiliaryID = 0
		for len(rest) >= port10Len {
			m.Ports = append(m.Ports, parsePort10(rest))
			rest = rest[port10Len:]
		}
	}
	if len(rest) != 0 {
		return nil, Errorf(ErrBadRequest, BadRequestBadLen, "FEATURES_REPLY has %d trailing bytes", len(rest))
	}
	return m, nil
}

func (m *FeaturesReply) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	b[1] = uint8(TypeFeaturesReply)
	b = appendU64(b, m.DatapathID)
	b = appendU32(b, m.NBuffers)
	aux := m.AuxiliaryID
	if v == Version10 {
		aux = 0
	}
	b = append(b, m.NTables, aux, 0, 0)
	b = appendU32(b, m.Capabilities)
	b = appendU32(b, m.Actions10)
	if v == Version10 {
		for i := range m.Ports {
			b = appendPort10(b, &m.Ports[i])
		}
	}
	return b, nil
}

// SwitchConfig is the body of GET_CONFIG_REPLY and SET_CONFIG.
type SwitchConfig struct {
	Flags       uint16
	MissSendLen uint16
}

// GetConfigReply is OFPT_GET_CONFIG_REPLY.
type GetConfigReply struct{ SwitchConfig }

// SetConfig is OFPT_SET_CONFIG.
type SetConfig struct{ SwitchConfig }

func (*GetConfigReply) Type() Type { return TypeGetConfigReply }
func (*SetConfig) Type() Type      { return TypeSetConfig }

func parseSwitchConfig(t Type, body []byte) (Message, error) {
	if err := bodyLen(body, t.String(), 4); err != nil {
		if t == TypeSetConfig {
			return nil, Errorf(ErrSwitchConfigFailed, SwitchConfigFailedBadLen, "SET_CONFIG body of %d bytes, must be 4", len(body))
		}
		return nil, err
	}
	c := SwitchConfig{Flags: be.Uint16(body), MissSendLen: be.Uint16(body[2:])}
	if t == TypeSetConfig {
		return &SetConfig{c}, nil
	}
	return &GetConfigReply{c}, nil
}

func (m *GetConfigReply) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	b[1] = uint8(TypeGetConfigReply)
	return appendU16(appendU16(b, m.Flags), m.MissSendLen), nil
}

func (m *SetConfig) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	b[1] = uint8(TypeSetConfig)
	return appendU16(appendU16(b, m.Flags), m.MissSendLen), nil
}

// RoleRequest is OFPT_ROLE_REQUEST (and, with Nicira set, OpenFlow 1.0's
// NXT_ROLE_REQUEST, which has no generation id).
type RoleRequest struct {
	Role         uint32
	GenerationID uint64
	Nicira       bool
}

// RoleReply is OFPT_ROLE_REPLY (NXT_ROLE_REPLY with Nicira).
type RoleReply struct{ RoleRequest }

func (*RoleRequest) Type() Type { return TypeRoleRequest }
func (m *RoleRequest) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	return marshalRole(b, v, m, nxtRoleRequest, TypeRoleRequest)
}

func (*RoleReply) Type() Type { return TypeRoleReply }
func (m *RoleReply) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	return marshalRole(b, v, &m.RoleRequest, nxtRoleReply, TypeRoleReply)
}

func marshalRole(b []byte, v uint8, r *RoleRequest, nxt uint32, t Type) ([]byte, error) {
	if r.Nicira || v == Version10 {
		b[1] = uint8(TypeExperimenter)
		b = appendU32(appendU32(b, ExperimenterNicira), nxt)
		role := uint32(nxRoleOther)
		switch r.Role {
		case RoleMaster:
			role = nxRoleMaster
		case RoleSlave:
			role = nxRoleSlave
		}
		return appendU32(b, role), nil
	}
	b[1] = uint8(t)
	b = appendZeros(appendU32(b, r.Role), 4)
	return appendU64(b, r.GenerationID), nil
}

// RoleStatus is the ONF extension ONFT_ROLE_STATUS that Open vSwitch sends
// in OpenFlow 1.3 to a controller whose role another controller changed.
type RoleStatus struct {
	Role         uint32
	Reason       uint8 // 0 master request, 1 config, 2 experimenter
	GenerationID uint64
}

func (*RoleStatus) Type() Type { return TypeExperimenter }
func (m *RoleStatus) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	if v != Version13 {
		return nil, Errorf(ErrBadRequest, BadRequestBadType, "ROLE_STATUS is sent only in OpenFlow 1.3")
	}
	b[1] = uint8(TypeExperimenter)
	b = appendU32(appendU32(b, ExperimenterONF), onftRoleStatus)
	b = appendZeros(append(appendU32(b, m.Role), m.Reason), 3)
	return appendU64(b, m.GenerationID), nil
}

// AsyncConfig is the body of GET_ASYNC_REPLY and SET_ASYNC: for each of
// packet-in (OFPR_* bits), port-status (OFPPR_*) and flow-removed (OFPRR_*)
// messages, index 0 is the mask for the master and equal roles, index 1 for
// the slave role.
type AsyncConfig struct {
	PacketIn    [2]uint32
	PortStatus  [2]uint32
	FlowRemoved [2]uint32
}

// DefaultAsyncConfig is OpenFlow 1.3's default: masters and equals get
// packet-ins for table misses and actions, every port status and every
// flow-removed; slaves get only port status.
var DefaultAsyncConfig = AsyncConfig{
	PacketIn:    [2]uint32{1<<ReasonNoMatch | 1<<ReasonAction, 0},
	PortStatus:  [2]uint32{1<<PortAdded | 1<<PortDeleted | 1<<PortModified, 1<<PortAdded | 1<<PortDeleted | 1<<PortModified},
	FlowRemoved: [2]uint32{1<<RemovedIdleTimeout | 1<<RemovedHardTimeout | 1<<RemovedDelete | 1<<RemovedGroupDelete, 0},
}

// GetAsyncReply is OFPT_GET_ASYNC_REPLY.
type GetAsyncReply struct{ AsyncConfig }

// SetAsync is OFPT_SET_ASYNC.
type SetAsync struct{ AsyncConfig }

func (*GetAsyncReply) Type() Type { return TypeGetAsyncReply }
func (*SetAsync) Type() Type      { return TypeSetAsync }

func (c *AsyncConfig) append(b []byte) []byte {
	for _, p := range [][2]uint32{c.PacketIn, c.PortStatus, c.FlowRemoved} {
		b = appendU32(appendU32(b, p[0]), p[1])
	}
	return b
}

func (m *GetAsyncReply) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	if v == Version10 {
		return nil, Errorf(ErrBadRequest, BadRequestBadType, "GET_ASYNC_REPLY does not exist in OpenFlow 1.0")
	}
	b[1] = uint8(TypeGetAsyncReply)
	return m.append(b), nil
}

func (m *SetAsync) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	if v == Version10 {
		return nil, Errorf(ErrBadRequest, BadRequestBadType, "SET_ASYNC does not exist in OpenFlow 1.0")
	}
	b[1] = uint8(TypeSetAsync)
	return m.append(b), nil
}

// TableMod is OFPT_TABLE_MOD.
type TableMod struct {
	TableID uint8
	Config  uint32
}

func (*TableMod) Type() Type { return TypeTableMod }
func (m *TableMod) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	if err := setType(b, TypeTableMod, v); err != nil {
		return nil, err
	}
	return appendU32(appendZeros(append(b, m.TableID), 3), m.Config), nil
}

// QueueGetConfigRequest is OFPT_QUEUE_GET_CONFIG_REQUEST.
type QueueGetConfigRequest struct{ Port uint32 }

func (*QueueGetConfigRequest) Type() Type { return TypeQueueGetConfigRequest }
func (m *QueueGetConfigRequest) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	if err := setType(b, TypeQueueGetConfigRequest, v); err != nil {
		return nil, err
	}
	if v == Version10 {
		p, _ := PortTo10(m.Port)
		return appendZeros(appendU16(b, p), 2), nil
	}
	return appendZeros(appendU32(b, m.Port), 4), nil
}

// Queue is ofp_packet_queue; Properties are kept as their raw property
// list (ofp_queue_prop_header TLVs).
type Queue struct {
	QueueID    uint32
	Port       uint32 // 1.2+
	Properties []byte
}

// QueueGetConfigReply is OFPT_QUEUE_GET_CONFIG_REPLY.
type QueueGetConfigReply struct {
	Port   uint32
	Queues []Queue
}

func (*QueueGetConfigReply) Type() Type { return TypeQueueGetConfigReply }

func parseQueueGetConfigReply(body []byte, v uint8) (*QueueGetConfigReply, error) {
	if err := bodyMin(body, "QUEUE_GET_CONFIG_REPLY", 8); err != nil {
		return nil, err
	}
	m := &QueueGetConfigReply{}
	hdr := 16
	if v == Version10 {
		m.Port, hdr = PortFrom10(be.Uint16(body)), 8
	} else {
		m.Port = be.Uint32(body)
	}
	rest := body[8:]
	for len(rest) > 0 {
		if len(rest) < hdr {
			return nil, Errorf(ErrBadRequest, BadRequestBadLen, "queue description truncated (%d bytes)", len(rest))
		}
		q := Queue{QueueID: be.Uint32(rest)}
		var n int
		if v == Version10 {
			n = int(be.Uint16(rest[4:]))
		} else {
			q.Port, n = be.Uint32(rest[4:]), int(be.Uint16(rest[8:]))
		}
		if n < hdr || n > len(rest) {
			return nil, Errorf(ErrBadRequest, BadRequestBadLen, "queue description of length %d (%d remain)", n, len(rest))
		}
		q.Properties = rest[hdr:n]
		m.Queues = append(m.Queues, q)
		rest = rest[n:]
	}
	return m, nil
}

func (m *QueueGetConfigReply) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	if err := setType(b, TypeQueueGetConfigReply, v); err != nil {
		return nil, err
	}
	if v == Version10 {
		p, _ := PortTo10(m.Port)
		b = appendZeros(appendU16(b, p), 6)
	} else {
		b = appendZeros(appendU32(b, m.Port), 4)
	}
	for _, q := range m.Queues {
		if v == Version10 {
			b = appendU32(b, q.QueueID)
			b = appendZeros(appendU16(b, uint16(8+len(q.Properties))), 2)
		} else {
			b = appendU32(appendU32(b, q.QueueID), q.Port)
			b = appendZeros(appendU16(b, uint16(16+len(q.Properties))), 6)
		}
		b = append(b, q.Properties...)
	}
	return b, nil
}

// Nicira control messages (OpenFlow 1.0 and later).

// NXSetFlowFormat is NXT_SET_FLOW_FORMAT (FlowFormatOpenFlow10 or
// FlowFormatNXM).
type NXSetFlowFormat struct{ Format uint32 }

// NXFlowModTableID is NXT_FLOW_MOD_TABLE_ID: enable or disable the table id
// in the high byte of flow-mod commands.
type NXFlowModTableID struct{ Enable bool }

// NXSetPacketInFormat is NXT_SET_PACKET_IN_FORMAT.
type NXSetPacketInFormat struct{ Format uint32 }

// NXSetControllerID is NXT_SET_CONTROLLER_ID.
type NXSetControllerID struct{ ID uint16 }

func (*NXSetFlowFormat) Type() Type     { return TypeExperimenter }
func (*NXFlowModTableID) Type() Type    { return TypeExperimenter }
func (*NXSetPacketInFormat) Type() Type { return TypeExperimenter }
func (*NXSetControllerID) Type() Type   { return TypeExperimenter }

func appendNXHeader(b []byte, sub uint32) []byte {
	b[1] = uint8(TypeExperimenter)
	return appendU32(appendU32(b, ExperimenterNicira), sub)
}

func (m *NXSetFlowFormat) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	return appendU32(appendNXHeader(b, nxtSetFlowFormat), m.Format), nil
}

func (m *NXFlowModTableID) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	e := byte(0)
	if m.Enable {
		e = 1
	}
	return appendZeros(append(appendNXHeader(b, nxtFlowModTableID), e), 7), nil
}

func (m *NXSetPacketInFormat) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	return appendU32(appendNXHeader(b, nxtSetPacketInFormat), m.Format), nil
}

func (m *NXSetControllerID) marshal(b []byte, v uint8, _ *Options) ([]byte, error) {
	return appendU16(appendZeros(appendNXHeader(b, nxtSetControllerID), 6), m.ID), nil
}

func parseExperimenterMsg(h Header, body []byte, o *Options) (Message, error) {
	if err := bodyMin(body, "EXPERIMENTER", 8); err != nil {
		return nil, err
	}
	exp, sub, rest := be.Uint32(body), be.Uint32(body[4:]), body[8:]
	if exp == ExperimenterONF && sub == onftRoleStatus && h.Version == Version13 {
		if len(rest) < 16 {
			return nil, Errorf(ErrBadRequest, BadRequestBadLen, "ONFT_ROLE_STATUS of %d bytes", len(rest))
		}
		return &RoleStatus{Role: be.Uint32(rest), Reason: rest[4], GenerationID: be.Uint64(rest[8:])}, nil
	}
	if exp != ExperimenterNicira {
		return &Experimenter{Experimenter: exp, ExpType: sub, Data: rest}, nil
	}
	switch sub {
	case nxtSetFlowFormat:
		if err := bodyLen(rest, "NXT_SET_FLOW_FORMAT", 4); err != nil {
			return nil, err
		}
		return &NXSetFlowFormat{Format: be.Uint32(rest)}, nil
	case nxtFlowModTableID:
		if err := bodyLen(rest, "NXT_FLOW_MOD_TABLE_ID", 8); err != nil {
			return nil, err
		}
		return &NXFlowModTableID{Enable: rest[0] != 0}, nil
	case nxtSetPacketInFormat:
		if err := bodyLen(rest, "NXT_SET_PACKET_IN_FORMAT", 4); err != nil {
			return nil, err
		}
		return &NXSetPacketInFormat{Format: be.Uint32(rest)}, nil
	case nxtSetControllerID:
		if err := bodyLen(rest, "NXT_SET_CONTROLLER_ID", 8); err != nil {
			return nil, err
		}
		return &NXSetControllerID{ID: be.Uint16(rest[6:])}, nil
	case nxtRoleRequest, nxtRoleReply:
		if err := bodyLen(rest, "NXT_ROLE_REQUEST", 4); err != nil {
			return nil, err
		}
		r := RoleRequest{Nicira: true}
		switch be.Uint32(rest) {
		case nxRoleOther:
			r.Role = RoleEqual
		case nxRoleMaster:
			r.Role = RoleMaster
		case nxRoleSlave:
			r.Role = RoleSlave
		default:
			return nil, Errorf(ErrRoleRequestFailed, RoleRequestFailedBadRole, "Nicira role %d (0 other, 1 master, 2 slave)", be.Uint32(rest))
		}
		if sub == nxtRoleReply {
			return &RoleReply{r}, nil
		}
		return &r, nil
	case nxtFlowMod:
		return parseNXFlowMod(rest, o)
	case nxtFlowRemoved:
		return parseNXFlowRemoved(rest)
	case nxtPacketIn:
		return parseNXPacketIn(rest)
	case nxtPacketIn2:
		return parseNXPacketIn2(rest)
	}
	return &Experimenter{Experimenter: exp, ExpType: sub, Data: rest}, nil
}

// String renders a message type and its main fields, for logs.
func String(m Message) string {
	return fmt.Sprintf("%s %+v", m.Type(), m)
}
