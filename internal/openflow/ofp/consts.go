package ofp

// Wire protocol versions (ofp_header.version).
const (
	Version10 uint8 = 0x01
	Version11 uint8 = 0x02
	Version12 uint8 = 0x03
	Version13 uint8 = 0x04
	Version14 uint8 = 0x05
	Version15 uint8 = 0x06
)

// SupportedVersions is the bitmap (bit v set for version v) of the versions
// this codec implements: OpenFlow 1.0 and 1.3.
const SupportedVersions uint32 = 1<<Version10 | 1<<Version13

// VersionName returns "OpenFlow10" … "OpenFlow15" (the names ovs-ofctl -O
// and ovs-vsctl protocols= use), or "0xNN".
func VersionName(v uint8) string {
	switch v {
	case Version10:
		return "OpenFlow10"
	case Version11:
		return "OpenFlow11"
	case Version12:
		return "OpenFlow12"
	case Version13:
		return "OpenFlow13"
	case Version14:
		return "OpenFlow14"
	case Version15:
		return "OpenFlow15"
	}
	return "0x" + hex8(v)
}

func hex8(v uint8) string {
	const d = "0123456789abcdef"
	return string([]byte{d[v>>4], d[v&15]})
}

// HeaderLen is the length of ofp_header.
const HeaderLen = 8

// MaxMessageLen is the largest message the 16-bit length field can carry.
const MaxMessageLen = 0xffff

// Type is an OpenFlow 1.3 message type (ofp_type). OpenFlow 1.0 messages are
// decoded to the same Type values (their wire numbers differ from PORT_MOD
// on; see [wireType10]).
type Type uint8

// OpenFlow 1.3 message types.
const (
	TypeHello                 Type = 0
	TypeError                 Type = 1
	TypeEchoRequest           Type = 2
	TypeEchoReply             Type = 3
	TypeExperimenter          Type = 4
	TypeFeaturesRequest       Type = 5
	TypeFeaturesReply         Type = 6
	TypeGetConfigRequest      Type = 7
	TypeGetConfigReply        Type = 8
	TypeSetConfig             Type = 9
	TypePacketIn              Type = 10
	TypeFlowRemoved           Type = 11
	TypePortStatus            Type = 12
	TypePacketOut             Type = 13
	TypeFlowMod               Type = 14
	TypeGroupMod              Type = 15
	TypePortMod               Type = 16
	TypeTableMod              Type = 17
	TypeMultipartRequest      Type = 18
	TypeMultipartReply        Type = 19
	TypeBarrierRequest        Type = 20
	TypeBarrierReply          Type = 21
	TypeQueueGetConfigRequest Type = 22
	TypeQueueGetConfigReply   Type = 23
	TypeRoleRequest           Type = 24
	TypeRoleReply             Type = 25
	TypeGetAsyncRequest       Type = 26
	TypeGetAsyncReply         Type = 27
	TypeSetAsync              Type = 28
	TypeMeterMod              Type = 29
)

var typeNames = [...]string{
	"HELLO", "ERROR", "ECHO_REQUEST", "ECHO_REPLY", "EXPERIMENTER",
	"FEATURES_REQUEST", "FEATURES_REPLY", "GET_CONFIG_REQUEST",
	"GET_CONFIG_REPLY", "SET_CONFIG", "PACKET_IN", "FLOW_REMOVED",
	"PORT_STATUS", "PACKET_OUT", "FLOW_MOD", "GROUP_MOD", "PORT_MOD",
	"TABLE_MOD", "MULTIPART_REQUEST", "MULTIPART_REPLY", "BARRIER_REQUEST",
	"BARRIER_REPLY", "QUEUE_GET_CONFIG_REQUEST", "QUEUE_GET_CONFIG_REPLY",
	"ROLE_REQUEST", "ROLE_REPLY", "GET_ASYNC_REQUEST", "GET_ASYNC_REPLY",
	"SET_ASYNC", "METER_MOD",
}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return "OFPT_" + typeNames[t]
	}
	return "OFPT_0x" + hex8(uint8(t))
}

// OpenFlow 1.0 wire message types that differ from 1.3.
const (
	type10PortMod               = 15
	type10StatsRequest          = 16
	type10StatsReply            = 17
	type10BarrierRequest        = 18
	type10BarrierReply          = 19
	type10QueueGetConfigRequest = 20
	type10QueueGetConfigReply   = 21
)

// Port numbers (OpenFlow 1.1+ 32-bit form). OpenFlow 1.0's 16-bit reserved
// ports 0xfff8–0xffff map to 0xfffffff8–0xffffffff.
const (
	PortMax        uint32 = 0xffffff00
	PortUnset      uint32 = 0xfffffff7 // OXM actset_output only
	PortInPort     uint32 = 0xfffffff8
	PortTable      uint32 = 0xfffffff9
	PortNormal     uint32 = 0xfffffffa
	PortFlood      uint32 = 0xfffffffb
	PortAll        uint32 = 0xfffffffc
	PortController uint32 = 0xfffffffd
	PortLocal      uint32 = 0xfffffffe
	PortAny        uint32 = 0xffffffff // OFPP_ANY (1.0: OFPP_NONE)
)

// OpenFlow 1.0 16-bit port numbers.
const (
	Port10Max  uint16 = 0xff00
	Port10None uint16 = 0xffff
)

// PortFrom10 converts an OpenFlow 1.0 (and NXM_OF_IN_PORT) 16-bit port
// number to the 32-bit form.
func PortFrom10(p uint16) uint32 {
	if p >= Port10Max {
		return uint32(p) + 0xffff0000
	}
	return uint32(p)
}

// PortTo10 converts a 32-bit port number to OpenFlow 1.0's 16 bits. ok is
// false for 0xff00–0xfffffeff, which 1.0 cannot express.
func PortTo10(p uint32) (uint16, bool) {
	switch {
	case p < uint32(Port10Max):
		return uint16(p), true
	case p >= PortMax:
		return uint16(p - 0xffff0000), true
	}
	return Port10None, false
}

// PortName returns the ovs-ofctl name of a reserved port ("LOCAL", "NORMAL",
// …) or the decimal number.
func PortName(p uint32) string {
	switch p {
	case PortInPort:
		return "IN_PORT"
	case PortTable:
		return "TABLE"
	case PortNormal:
		return "NORMAL"
	case PortFlood:
		return "FLOOD"
	case PortAll:
		return "ALL"
	case PortController:
		return "CONTROLLER"
	case PortLocal:
		return "LOCAL"
	case PortAny:
		return "ANY"
	case PortUnset:
		return "UNSET"
	}
	return utoa(uint64(p))
}

func utoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}

// Group, meter, table and buffer constants.
const (
	GroupMax uint32 = 0xffffff00
	GroupAll uint32 = 0xfffffffc
	GroupAny uint32 = 0xffffffff

	MeterMax        uint32 = 0xffff0000
	MeterSlowpath   uint32 = 0xfffffffd
	MeterController uint32 = 0xfffffffe
	MeterAll        uint32 = 0xffffffff

	TableMax uint8 = 0xfe
	TableAll uint8 = 0xff

	NoBuffer uint32 = 0xffffffff

	QueueAll uint32 = 0xffffffff

	// ControllerMaxLenMax is the largest max_len that asks for a number of
	// bytes (OFPCML_MAX); ControllerNoBuffer (OFPCML_NO_BUFFER) asks for
	// the whole packet.
	ControllerMaxLenMax uint16 = 0xffe5
	ControllerNoBuffer  uint16 = 0xffff

	// DefaultMissSendLen is OFP_DEFAULT_MISS_SEND_LEN.
	DefaultMissSendLen uint16 = 128
	// DefaultPriority is OFP_DEFAULT_PRIORITY.
	DefaultPriority uint16 = 0x8000
)

// Experimenter (vendor) ids.
const (
	ExperimenterNicira uint32 = 0x00002320
	ExperimenterONF    uint32 = 0x4f4e4600
)

// Flow-mod commands (ofp_flow_mod_command).
const (
	FlowAdd          uint8 = 0
	FlowModify       uint8 = 1
	FlowModifyStrict uint8 = 2
	FlowDelete       uint8 = 3
	FlowDeleteStrict uint8 = 4
)

// Flow-mod flags (ofp_flow_mod_flags).
const (
	FlowFlagSendFlowRem  uint16 = 1 << 0
	FlowFlagCheckOverlap uint16 = 1 << 1
	FlowFlagResetCounts  uint16 = 1 << 2 // 1.3; OpenFlow 1.0: OFPFF_EMERG
	FlowFlagNoPktCounts  uint16 = 1 << 3
	FlowFlagNoBytCounts  uint16 = 1 << 4

	// FlowFlagEmerg10 is OpenFlow 1.0's OFPFF_EMERG (the same bit as
	// RESET_COUNTS in 1.3); Switchyard refuses emergency flows.
	FlowFlagEmerg10 uint16 = 1 << 2
)

// flowFlags13 is every flag OpenFlow 1.3 defines.
const flowFlags13 = FlowFlagSendFlowRem | FlowFlagCheckOverlap | FlowFlagResetCounts | FlowFlagNoPktCounts | FlowFlagNoBytCounts

// Flow-removed reasons (ofp_flow_removed_reason).
const (
	RemovedIdleTimeout uint8 = 0
	RemovedHardTimeout uint8 = 1
	RemovedDelete      uint8 = 2
	RemovedGroupDelete uint8 = 3
	RemovedMeterDelete uint8 = 4 // 1.4
	RemovedEviction    uint8 = 5 // 1.4
)

// Packet-in reasons (ofp_packet_in_reason).
const (
	ReasonNoMatch    uint8 = 0
	ReasonAction     uint8 = 1
	ReasonInvalidTTL uint8 = 2
	ReasonActionSet  uint8 = 3 // 1.4
	ReasonGroup      uint8 = 4 // 1.4
	ReasonPacketOut  uint8 = 5 // 1.4
)

// Port-status reasons (ofp_port_reason).
const (
	PortAdded    uint8 = 0
	PortDeleted  uint8 = 1
	PortModified uint8 = 2
)

// Port config bits (ofp_port_config). The OpenFlow 1.0-only bits keep their
// 1.0 positions, which 1.1+ left unused.
const (
	PortConfigDown        uint32 = 1 << 0
	PortConfigNoSTP10     uint32 = 1 << 1 // 1.0 only
	PortConfigNoRecv      uint32 = 1 << 2
	PortConfigNoRecvSTP10 uint32 = 1 << 3 // 1.0 only
	PortConfigNoFlood10   uint32 = 1 << 4 // 1.0 only
	PortConfigNoFwd       uint32 = 1 << 5
	PortConfigNoPacketIn  uint32 = 1 << 6

	portConfig13 = PortConfigDown | PortConfigNoRecv | PortConfigNoFwd | PortConfigNoPacketIn
	portConfig10 = portConfig13 | PortConfigNoSTP10 | PortConfigNoRecvSTP10 | PortConfigNoFlood10
)

// Port state bits (ofp_port_state, 1.1+).
const (
	PortStateLinkDown uint32 = 1 << 0
	PortStateBlocked  uint32 = 1 << 1
	PortStateLive     uint32 = 1 << 2
)

// Port feature bits (ofp_port_features, OpenFlow 1.1+ positions).
const (
	PortFeature10MbHD    uint32 = 1 << 0
	PortFeature10MbFD    uint32 = 1 << 1
	PortFeature100MbHD   uint32 = 1 << 2
	PortFeature100MbFD   uint32 = 1 << 3
	PortFeature1GbHD     uint32 = 1 << 4
	PortFeature1GbFD     uint32 = 1 << 5
	PortFeature10GbFD    uint32 = 1 << 6
	PortFeature40GbFD    uint32 = 1 << 7
	PortFeature100GbFD   uint32 = 1 << 8
	PortFeature1TbFD     uint32 = 1 << 9
	PortFeatureOther     uint32 = 1 << 10
	PortFeatureCopper    uint32 = 1 << 11
	PortFeatureFiber     uint32 = 1 << 12
	PortFeatureAutoneg   uint32 = 1 << 13
	PortFeaturePause     uint32 = 1 << 14
	PortFeaturePauseAsym uint32 = 1 << 15
)

// Switch capabilities (ofp_capabilities).
const (
	CapFlowStats   uint32 = 1 << 0
	CapTableStats  uint32 = 1 << 1
	CapPortStats   uint32 = 1 << 2
	CapGroupStats  uint32 = 1 << 3 // 1.1+; 1.0: STP
	CapIPReasm     uint32 = 1 << 5
	CapQueueStats  uint32 = 1 << 6
	CapARPMatchIP  uint32 = 1 << 7 // 1.0 only
	CapPortBlocked uint32 = 1 << 8 // 1.2+
)

// Switch config flags (ofp_config_flags).
const (
	ConfigFragNormal uint16 = 0
	ConfigFragDrop   uint16 = 1
	ConfigFragReasm  uint16 = 2
	ConfigFragMask   uint16 = 3
	// ConfigInvalidTTLToController (1 << 2) is defined by 1.0–1.2 and
	// deprecated in 1.3.
	ConfigInvalidTTLToController uint16 = 1 << 2
)

// Group-mod commands and group types.
const (
	GroupAdd    uint16 = 0
	GroupModify uint16 = 1
	GroupDelete uint16 = 2

	GroupTypeAll          uint8 = 0
	GroupTypeSelect       uint8 = 1
	GroupTypeIndirect     uint8 = 2
	GroupTypeFastFailover uint8 = 3
)

// Group capabilities (ofp_group_capabilities).
const (
	GroupCapSelectWeight   uint32 = 1 << 0
	GroupCapSelectLiveness uint32 = 1 << 1
	GroupCapChaining       uint32 = 1 << 2
	GroupCapChainingChecks uint32 = 1 << 3
)

// Meter-mod commands, flags and band types.
const (
	MeterAdd    uint16 = 0
	MeterModify uint16 = 1
	MeterDelete uint16 = 2

	MeterFlagKbps  uint16 = 1 << 0
	MeterFlagPktps uint16 = 1 << 1
	MeterFlagBurst uint16 = 1 << 2
	MeterFlagStats uint16 = 1 << 3

	MeterBandDrop         uint16 = 1
	MeterBandDSCPRemark   uint16 = 2
	MeterBandExperimenter uint16 = 0xffff
)

// Controller roles (ofp_controller_role).
const (
	RoleNoChange uint32 = 0
	RoleEqual    uint32 = 1
	RoleMaster   uint32 = 2
	RoleSlave    uint32 = 3
)

// RoleName returns "equal", "master", "slave" or "nochange".
func RoleName(r uint32) string {
	switch r {
	case RoleNoChange:
		return "nochange"
	case RoleEqual:
		return "equal"
	case RoleMaster:
		return "master"
	case RoleSlave:
		return "slave"
	}
	return "role-" + utoa(uint64(r))
}

// Multipart flags.
const (
	MultipartRequestMore uint16 = 1 << 0 // OFPMPF_REQ_MORE
	MultipartReplyMore   uint16 = 1 << 0 // OFPMPF_REPLY_MORE
)

// MultipartType is an OpenFlow 1.3 multipart type (ofp_multipart_type);
// OpenFlow 1.0 stats types share the numbers they have.
type MultipartType uint16

// Multipart types.
const (
	MultipartDesc          MultipartType = 0
	MultipartFlow          MultipartType = 1
	MultipartAggregate     MultipartType = 2
	MultipartTable         MultipartType = 3
	MultipartPortStats     MultipartType = 4
	MultipartQueue         MultipartType = 5
	MultipartGroup         MultipartType = 6
	MultipartGroupDesc     MultipartType = 7
	MultipartGroupFeatures MultipartType = 8
	MultipartMeter         MultipartType = 9
	MultipartMeterConfig   MultipartType = 10
	MultipartMeterFeatures MultipartType = 11
	MultipartTableFeatures MultipartType = 12
	MultipartPortDesc      MultipartType = 13
	MultipartExperimenter  MultipartType = 0xffff
)

var multipartNames = [...]string{"DESC", "FLOW", "AGGREGATE", "TABLE", "PORT_STATS", "QUEUE", "GROUP", "GROUP_DESC", "GROUP_FEATURES", "METER", "METER_CONFIG", "METER_FEATURES", "TABLE_FEATURES", "PORT_DESC"}

func (t MultipartType) String() string {
	if int(t) < len(multipartNames) {
		return "OFPMP_" + multipartNames[t]
	}
	if t == MultipartExperimenter {
		return "OFPMP_EXPERIMENTER"
	}
	return "OFPMP_" + utoa(uint64(t))
}

// Nicira message subtypes (NXT_*) and stats subtypes (NXST_*).
const (
	nxtRoleRequest       = 10
	nxtRoleReply         = 11
	nxtSetFlowFormat     = 12
	nxtFlowMod           = 13
	nxtFlowRemoved       = 14
	nxtFlowModTableID    = 15
	nxtSetPacketInFormat = 16
	nxtPacketIn          = 17
	nxtFlowAge           = 18
	nxtSetAsyncConfig    = 19
	nxtSetControllerID   = 20
	nxtPacketIn2         = 30

	nxstFlow      = 0
	nxstAggregate = 1

	onftRoleStatus = 1911
)

// Nicira flow formats (NXT_SET_FLOW_FORMAT).
const (
	FlowFormatOpenFlow10 uint32 = 0
	FlowFormatNXM        uint32 = 2
)

// Nicira packet-in formats (NXT_SET_PACKET_IN_FORMAT).
const (
	PacketInFormatStandard uint32 = 0 // the version's own OFPT_PACKET_IN
	PacketInFormatNXT      uint32 = 1 // NXT_PACKET_IN
	PacketInFormatNXT2     uint32 = 2 // NXT_PACKET_IN2
)

// Nicira roles (NXT_ROLE_REQUEST).
const (
	nxRoleOther  = 0
	nxRoleMaster = 1
	nxRoleSlave  = 2
)
