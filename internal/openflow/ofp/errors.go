package ofp

import (
	"errors"
	"fmt"
)

// ErrorType is an OpenFlow 1.3 error type (ofp_error_type).
type ErrorType uint16

// OpenFlow 1.3 error types.
const (
	ErrHelloFailed         ErrorType = 0
	ErrBadRequest          ErrorType = 1
	ErrBadAction           ErrorType = 2
	ErrBadInstruction      ErrorType = 3
	ErrBadMatch            ErrorType = 4
	ErrFlowModFailed       ErrorType = 5
	ErrGroupModFailed      ErrorType = 6
	ErrPortModFailed       ErrorType = 7
	ErrTableModFailed      ErrorType = 8
	ErrQueueOpFailed       ErrorType = 9
	ErrSwitchConfigFailed  ErrorType = 10
	ErrRoleRequestFailed   ErrorType = 11
	ErrMeterModFailed      ErrorType = 12
	ErrTableFeaturesFailed ErrorType = 13
	// ErrAsyncConfigFailed is OpenFlow 1.4's type 15; in 1.3 it travels as
	// an ONF experimenter error (2370–2372), as Open vSwitch sends it.
	ErrAsyncConfigFailed ErrorType = 15
	ErrExperimenter      ErrorType = 0xffff
)

// OFPET_HELLO_FAILED codes.
const (
	HelloFailedIncompatible uint16 = 0
	HelloFailedEPerm        uint16 = 1
)

// OFPET_BAD_REQUEST codes.
const (
	BadRequestBadVersion              uint16 = 0
	BadRequestBadType                 uint16 = 1
	BadRequestBadMultipart            uint16 = 2
	BadRequestBadExperimenter         uint16 = 3
	BadRequestBadExpType              uint16 = 4
	BadRequestEPerm                   uint16 = 5
	BadRequestBadLen                  uint16 = 6
	BadRequestBufferEmpty             uint16 = 7
	BadRequestBufferUnknown           uint16 = 8
	BadRequestBadTableID              uint16 = 9
	BadRequestIsSlave                 uint16 = 10
	BadRequestBadPort                 uint16 = 11
	BadRequestBadPacket               uint16 = 12
	BadRequestMultipartBufferOverflow uint16 = 13
)

// OFPET_BAD_ACTION codes.
const (
	BadActionBadType           uint16 = 0
	BadActionBadLen            uint16 = 1
	BadActionBadExperimenter   uint16 = 2
	BadActionBadExpType        uint16 = 3
	BadActionBadOutPort        uint16 = 4
	BadActionBadArgument       uint16 = 5
	BadActionEPerm             uint16 = 6
	BadActionTooMany           uint16 = 7
	BadActionBadQueue          uint16 = 8
	BadActionBadOutGroup       uint16 = 9
	BadActionMatchInconsistent uint16 = 10
	BadActionUnsupportedOrder  uint16 = 11
	BadActionBadTag            uint16 = 12
	BadActionBadSetType        uint16 = 13
	BadActionBadSetLen         uint16 = 14
	BadActionBadSetArgument    uint16 = 15
	// BadActionBadSetMask is OpenFlow 1.5's (2,16); ONF experimenter 4250
	// in 1.3.
	BadActionBadSetMask uint16 = 16
)

// OFPET_BAD_INSTRUCTION codes.
const (
	BadInstructionUnknownInst       uint16 = 0
	BadInstructionUnsupInst         uint16 = 1
	BadInstructionBadTableID        uint16 = 2
	BadInstructionUnsupMetadata     uint16 = 3
	BadInstructionUnsupMetadataMask uint16 = 4
	BadInstructionBadExperimenter   uint16 = 5
	BadInstructionBadExpType        uint16 = 6
	BadInstructionBadLen            uint16 = 7
	BadInstructionEPerm             uint16 = 8
	// BadInstructionDupInst is OpenFlow 1.4's (3,9); ONF experimenter 2600
	// in 1.3.
	BadInstructionDupInst uint16 = 9
)

// OFPET_BAD_MATCH codes.
const (
	BadMatchBadType       uint16 = 0
	BadMatchBadLen        uint16 = 1
	BadMatchBadTag        uint16 = 2
	BadMatchBadDLAddrMask uint16 = 3
	BadMatchBadNWAddrMask uint16 = 4
	BadMatchBadWildcards  uint16 = 5
	BadMatchBadField      uint16 = 6
	BadMatchBadValue      uint16 = 7
	BadMatchBadMask       uint16 = 8
	BadMatchBadPrereq     uint16 = 9
	BadMatchDupField      uint16 = 10
	BadMatchEPerm         uint16 = 11
)

// OFPET_FLOW_MOD_FAILED codes.
const (
	FlowModFailedUnknown    uint16 = 0
	FlowModFailedTableFull  uint16 = 1
	FlowModFailedBadTableID uint16 = 2
	FlowModFailedOverlap    uint16 = 3
	FlowModFailedEPerm      uint16 = 4
	FlowModFailedBadTimeout uint16 = 5
	FlowModFailedBadCommand uint16 = 6
	FlowModFailedBadFlags   uint16 = 7
	// FlowModFailedBadPriority is OpenFlow 1.4's (5,9); ONF 2360 in 1.3.
	FlowModFailedBadPriority uint16 = 9
)

// OFPET_GROUP_MOD_FAILED codes.
const (
	GroupModFailedGroupExists         uint16 = 0
	GroupModFailedInvalidGroup        uint16 = 1
	GroupModFailedWeightUnsupported   uint16 = 2
	GroupModFailedOutOfGroups         uint16 = 3
	GroupModFailedOutOfBuckets        uint16 = 4
	GroupModFailedChainingUnsupported uint16 = 5
	GroupModFailedWatchUnsupported    uint16 = 6
	GroupModFailedLoop                uint16 = 7
	GroupModFailedUnknownGroup        uint16 = 8
	GroupModFailedChainedGroup        uint16 = 9
	GroupModFailedBadType             uint16 = 10
	GroupModFailedBadCommand          uint16 = 11
	GroupModFailedBadBucket           uint16 = 12
	GroupModFailedBadWatch            uint16 = 13
	GroupModFailedEPerm               uint16 = 14
)

// OFPET_PORT_MOD_FAILED codes.
const (
	PortModFailedBadPort      uint16 = 0
	PortModFailedBadHWAddr    uint16 = 1
	PortModFailedBadConfig    uint16 = 2
	PortModFailedBadAdvertise uint16 = 3
	PortModFailedEPerm        uint16 = 4
)

// OFPET_TABLE_MOD_FAILED codes.
const (
	TableModFailedBadTable  uint16 = 0
	TableModFailedBadConfig uint16 = 1
	TableModFailedEPerm     uint16 = 2
)

// OFPET_QUEUE_OP_FAILED codes.
const (
	QueueOpFailedBadPort  uint16 = 0
	QueueOpFailedBadQueue uint16 = 1
	QueueOpFailedEPerm    uint16 = 2
)

// OFPET_SWITCH_CONFIG_FAILED codes.
const (
	SwitchConfigFailedBadFlags uint16 = 0
	SwitchConfigFailedBadLen   uint16 = 1
	SwitchConfigFailedEPerm    uint16 = 2
)

// OFPET_ROLE_REQUEST_FAILED codes.
const (
	RoleRequestFailedStale   uint16 = 0
	RoleRequestFailedUnsup   uint16 = 1
	RoleRequestFailedBadRole uint16 = 2
)

// OFPET_METER_MOD_FAILED codes.
const (
	MeterModFailedUnknown      uint16 = 0
	MeterModFailedMeterExists  uint16 = 1
	MeterModFailedInvalidMeter uint16 = 2
	MeterModFailedUnknownMeter uint16 = 3
	MeterModFailedBadCommand   uint16 = 4
	MeterModFailedBadFlags     uint16 = 5
	MeterModFailedBadRate      uint16 = 6
	MeterModFailedBadBurst     uint16 = 7
	MeterModFailedBadBand      uint16 = 8
	MeterModFailedBadBandValue uint16 = 9
	MeterModFailedOutOfMeters  uint16 = 10
	MeterModFailedOutOfBands   uint16 = 11
)

// OFPET_TABLE_FEATURES_FAILED codes.
const (
	TableFeaturesFailedBadTable    uint16 = 0
	TableFeaturesFailedBadMetadata uint16 = 1
	TableFeaturesFailedBadType     uint16 = 2
	TableFeaturesFailedBadLen      uint16 = 3
	TableFeaturesFailedBadArgument uint16 = 4
	TableFeaturesFailedEPerm       uint16 = 5
)

// OpenFlow 1.4 OFPET_ASYNC_CONFIG_FAILED codes (ONF 2370–2372 in 1.3).
const (
	AsyncConfigFailedInvalid     uint16 = 0
	AsyncConfigFailedUnsupported uint16 = 1
	AsyncConfigFailedEPerm       uint16 = 2
)

var errTypeNames = map[ErrorType]string{
	ErrHelloFailed: "OFPET_HELLO_FAILED", ErrBadRequest: "OFPET_BAD_REQUEST",
	ErrBadAction: "OFPET_BAD_ACTION", ErrBadInstruction: "OFPET_BAD_INSTRUCTION",
	ErrBadMatch: "OFPET_BAD_MATCH", ErrFlowModFailed: "OFPET_FLOW_MOD_FAILED",
	ErrGroupModFailed: "OFPET_GROUP_MOD_FAILED", ErrPortModFailed: "OFPET_PORT_MOD_FAILED",
	ErrTableModFailed: "OFPET_TABLE_MOD_FAILED", ErrQueueOpFailed: "OFPET_QUEUE_OP_FAILED",
	ErrSwitchConfigFailed: "OFPET_SWITCH_CONFIG_FAILED", ErrRoleRequestFailed: "OFPET_ROLE_REQUEST_FAILED",
	ErrMeterModFailed: "OFPET_METER_MOD_FAILED", ErrTableFeaturesFailed: "OFPET_TABLE_FEATURES_FAILED",
	ErrAsyncConfigFailed: "OFPET_ASYNC_CONFIG_FAILED", ErrExperimenter: "OFPET_EXPERIMENTER",
}

var errCodeNames = map[ErrorType][]string{
	ErrHelloFailed: {"OFPHFC_INCOMPATIBLE", "OFPHFC_EPERM"},
	ErrBadRequest: {"OFPBRC_BAD_VERSION", "OFPBRC_BAD_TYPE", "OFPBRC_BAD_MULTIPART",
		"OFPBRC_BAD_EXPERIMENTER", "OFPBRC_BAD_EXP_TYPE", "OFPBRC_EPERM", "OFPBRC_BAD_LEN",
		"OFPBRC_BUFFER_EMPTY", "OFPBRC_BUFFER_UNKNOWN", "OFPBRC_BAD_TABLE_ID", "OFPBRC_IS_SLAVE",
		"OFPBRC_BAD_PORT", "OFPBRC_BAD_PACKET", "OFPBRC_MULTIPART_BUFFER_OVERFLOW"},
	ErrBadAction: {"OFPBAC_BAD_TYPE", "OFPBAC_BAD_LEN", "OFPBAC_BAD_EXPERIMENTER",
		"OFPBAC_BAD_EXP_TYPE", "OFPBAC_BAD_OUT_PORT", "OFPBAC_BAD_ARGUMENT", "OFPBAC_EPERM",
		"OFPBAC_TOO_MANY", "OFPBAC_BAD_QUEUE", "OFPBAC_BAD_OUT_GROUP", "OFPBAC_MATCH_INCONSISTENT",
		"OFPBAC_UNSUPPORTED_ORDER", "OFPBAC_BAD_TAG", "OFPBAC_BAD_SET_TYPE", "OFPBAC_BAD_SET_LEN",
		"OFPBAC_BAD_SET_ARGUMENT", "OFPBAC_BAD_SET_MASK"},
	ErrBadInstruction: {"OFPBIC_UNKNOWN_INST", "OFPBIC_UNSUP_INST", "OFPBIC_BAD_TABLE_ID",
		"OFPBIC_UNSUP_METADATA", "OFPBIC_UNSUP_METADATA_MASK", "OFPBIC_BAD_EXPERIMENTER",
		"OFPBIC_BAD_EXP_TYPE", "OFPBIC_BAD_LEN", "OFPBIC_EPERM", "OFPBIC_DUP_INST"},
	ErrBadMatch: {"OFPBMC_BAD_TYPE", "OFPBMC_BAD_LEN", "OFPBMC_BAD_TAG", "OFPBMC_BAD_DL_ADDR_MASK",
		"OFPBMC_BAD_NW_ADDR_MASK", "OFPBMC_BAD_WILDCARDS", "OFPBMC_BAD_FIELD", "OFPBMC_BAD_VALUE",
		"OFPBMC_BAD_MASK", "OFPBMC_BAD_PREREQ", "OFPBMC_DUP_FIELD", "OFPBMC_EPERM"},
	ErrFlowModFailed: {"OFPFMFC_UNKNOWN", "OFPFMFC_TABLE_FULL", "OFPFMFC_BAD_TABLE_ID",
		"OFPFMFC_OVERLAP", "OFPFMFC_EPERM", "OFPFMFC_BAD_TIMEOUT", "OFPFMFC_BAD_COMMAND",
		"OFPFMFC_BAD_FLAGS", "", "OFPFMFC_BAD_PRIORITY"},
	ErrGroupModFailed: {"OFPGMFC_GROUP_EXISTS", "OFPGMFC_INVALID_GROUP", "OFPGMFC_WEIGHT_UNSUPPORTED",
		"OFPGMFC_OUT_OF_GROUPS", "OFPGMFC_OUT_OF_BUCKETS", "OFPGMFC_CHAINING_UNSUPPORTED",
		"OFPGMFC_WATCH_UNSUPPORTED", "OFPGMFC_LOOP", "OFPGMFC_UNKNOWN_GROUP", "OFPGMFC_CHAINED_GROUP",
		"OFPGMFC_BAD_TYPE", "OFPGMFC_BAD_COMMAND", "OFPGMFC_BAD_BUCKET", "OFPGMFC_BAD_WATCH",
		"OFPGMFC_EPERM"},
	ErrPortModFailed: {"OFPPMFC_BAD_PORT", "OFPPMFC_BAD_HW_ADDR", "OFPPMFC_BAD_CONFIG",
		"OFPPMFC_BAD_ADVERTISE", "OFPPMFC_EPERM"},
	ErrTableModFailed:     {"OFPTMFC_BAD_TABLE", "OFPTMFC_BAD_CONFIG", "OFPTMFC_EPERM"},
	ErrQueueOpFailed:      {"OFPQOFC_BAD_PORT", "OFPQOFC_BAD_QUEUE", "OFPQOFC_EPERM"},
	ErrSwitchConfigFailed: {"OFPSCFC_BAD_FLAGS", "OFPSCFC_BAD_LEN", "OFPSCFC_EPERM"},
	ErrRoleRequestFailed:  {"OFPRRFC_STALE", "OFPRRFC_UNSUP", "OFPRRFC_BAD_ROLE"},
	ErrMeterModFailed: {"OFPMMFC_UNKNOWN", "OFPMMFC_METER_EXISTS", "OFPMMFC_INVALID_METER",
		"OFPMMFC_UNKNOWN_METER", "OFPMMFC_BAD_COMMAND", "OFPMMFC_BAD_FLAGS", "OFPMMFC_BAD_RATE",
		"OFPMMFC_BAD_BURST", "OFPMMFC_BAD_BAND", "OFPMMFC_BAD_BAND_VALUE", "OFPMMFC_OUT_OF_METERS",
		"OFPMMFC_OUT_OF_BANDS"},
	ErrTableFeaturesFailed: {"OFPTFFC_BAD_TABLE", "OFPTFFC_BAD_METADATA", "OFPTFFC_BAD_TYPE",
		"OFPTFFC_BAD_LEN", "OFPTFFC_BAD_ARGUMENT", "OFPTFFC_EPERM"},
	ErrAsyncConfigFailed: {"OFPACFC_INVALID", "OFPACFC_UNSUPPORTED", "OFPACFC_EPERM"},
}

func (t ErrorType) String() string {
	if s, ok := errTypeNames[t]; ok {
		return s
	}
	return "OFPET_" + utoa(uint64(t))
}

// ErrorName returns the spec name of an error type and code, such as
// "OFPBMC_BAD_PREREQ".
func ErrorName(t ErrorType, code uint16) string {
	if names := errCodeNames[t]; int(code) < len(names) && names[code] != "" {
		return names[code]
	}
	return t.String() + "/" + utoa(uint64(code))
}

// Error is an OpenFlow error: the type and code (OpenFlow 1.3 numbering,
// plus the few 1.4 codes Open vSwitch sends in 1.3 as ONF experimenter
// errors) the peer must receive, and a human explanation that names the
// field and the allowed values. Every decoding and validation failure in
// this package is an *Error.
type Error struct {
	Type   ErrorType
	Code   uint16
	Reason string
}

func (e *Error) Error() string {
	if e.Reason == "" {
		return ErrorName(e.Type, e.Code)
	}
	return ErrorName(e.Type, e.Code) + ": " + e.Reason
}

// Is makes errors.Is(err, &Error{Type: t, Code: c}) compare type and code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Type == e.Type && t.Code == e.Code
}

// Errorf returns an *Error with a formatted reason.
func Errorf(t ErrorType, code uint16, format string, args ...any) *Error {
	return &Error{Type: t, Code: code, Reason: fmt.Sprintf(format, args...)}
}

// ErrorFor returns the OpenFlow error type and code for err: the *Error in
// err's chain, or OFPET_BAD_REQUEST/OFPBRC_EPERM for any other error (an
// internal failure the peer can do nothing about).
func ErrorFor(err error) (ErrorType, uint16) {
	var e *Error
	if errors.As(err, &e) {
		return e.Type, e.Code
	}
	return ErrBadRequest, BadRequestEPerm
}

// AsError returns err as an *Error: the one in its chain, or one with type
// def and code defCode whose reason is err's text.
func AsError(err error, def ErrorType, defCode uint16) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Type: def, Code: defCode, Reason: err.Error()}
}

// wireCode is an error as one version carries it.
type wireCode struct {
	typ, code    uint16
	experimenter uint32 // nonzero: an experimenter error, code = exp_type
}

// onf13 lists the errors that OpenFlow 1.3 carries as ONF experimenter
// errors (Open vSwitch's numbering).
var onf13 = map[[2]uint16]uint16{
	{uint16(ErrBadInstruction), BadInstructionDupInst}:           2600,
	{uint16(ErrFlowModFailed), FlowModFailedBadPriority}:         2360,
	{uint16(ErrAsyncConfigFailed), AsyncConfigFailedInvalid}:     2370,
	{uint16(ErrAsyncConfigFailed), AsyncConfigFailedUnsupported}: 2371,
	{uint16(ErrAsyncConfigFailed), AsyncConfigFailedEPerm}:       2372,
	{uint16(ErrBadAction), BadActionBadSetMask}:                  4250,
}

// to10 maps 1.3 errors that OpenFlow 1.0 has no code for to Open vSwitch's
// Nicira 1.0 codes (or the nearest 1.0 code).
var to10 = map[[2]uint16][2]uint16{
	{1, BadRequestBadTableID}:              {1, 512},
	{1, BadRequestIsSlave}:                 {1, 5},
	{1, BadRequestBadPort}:                 {1, 514},
	{1, BadRequestBadPacket}:               {1, 5},
	{1, BadRequestMultipartBufferOverflow}: {1, 5},
	{2, BadActionBadOutGroup}:              {2, 9},
	{2, BadActionMatchInconsistent}:        {1, 522},
	{2, BadActionBadSetType}:               {1, 523},
	{2, BadActionBadSetLen}:                {1, 524},
	{2, BadActionBadSetArgument}:           {1, 525},
	{3, BadInstructionUnsupInst}:           {2, 257},
	{4, BadMatchBadWildcards}:              {1, 262},
	{4, BadMatchBadField}:                  {0, 263},
	{4, BadMatchBadValue}:                  {1, 258},
	{4, BadMatchBadMask}:                   {1, 259},
	{4, BadMatchBadPrereq}:                 {1, 260},
	{4, BadMatchDupField}:                  {1, 261},
	{5, FlowModFailedUnknown}:              {3, 5},
	{5, FlowModFailedTableFull}:            {3, 0},
	{5, FlowModFailedBadTableID}:           {1, 512},
	{5, FlowModFailedOverlap}:              {3, 1},
	{5, FlowModFailedEPerm}:                {3, 2},
	{5, FlowModFailedBadTimeout}:           {3, 3},
	{5, FlowModFailedBadCommand}:           {3, 4},
	{5, FlowModFailedBadFlags}:             {3, 258},
	{7, PortModFailedBadPort}:              {4, 0},
	{7, PortModFailedBadHWAddr}:            {4, 1},
	{9, QueueOpFailedBadPort}:              {5, 0},
	{9, QueueOpFailedBadQueue}:             {5, 1},
	{9, QueueOpFailedEPerm}:                {5, 2},
	{11, RoleRequestFailedBadRole}:         {1, 513},
}

// wire returns how version v carries the error.
func (e *Error) wire(v uint8) wireCode {
	k := [2]uint16{uint16(e.Type), e.Code}
	if v == Version10 {
		switch {
		case e.Type == ErrHelloFailed:
			return wireCode{typ: uint16(e.Type), code: e.Code}
		case e.Type == ErrBadRequest && e.Code <= BadRequestBufferUnknown:
			return wireCode{typ: 1, code: e.Code}
		case e.Type == ErrBadAction && e.Code <= BadActionBadQueue:
			return wireCode{typ: 2, code: e.Code}
		case e.Type == ErrGroupModFailed:
			return wireCode{typ: 6, code: e.Code} // Nicira 1.0 numbering
		}
		if w, ok := to10[k]; ok {
			return wireCode{typ: w[0], code: w[1]}
		}
		if e.Type == ErrBadMatch || e.Type == ErrBadInstruction {
			return wireCode{typ: 1, code: 256} // NXBRC_NXM_INVALID
		}
		return wireCode{typ: 1, code: BadRequestEPerm}
	}
	if exp, ok := onf13[k]; ok {
		return wireCode{typ: uint16(ErrExperimenter), code: exp, experimenter: ExperimenterONF}
	}
	return wireCode{typ: uint16(e.Type), code: e.Code}
}

// from10 maps OpenFlow 1.0 wire errors back to 1.3 numbering.
func errorFromWire(v uint8, typ, code uint16, experimenter uint32) (ErrorType, uint16) {
	if typ == uint16(ErrExperimenter) && experimenter == ExperimenterONF {
		for k, c := range onf13 {
			if c == code {
				return ErrorType(k[0]), k[1]
			}
		}
	}
	if v != Version10 {
		return ErrorType(typ), code
	}
	switch typ {
	case 0, 1, 2, 6:
		for k, w := range to10 {
			if w == [2]uint16{typ, code} && !(typ == 1 && code == 5) {
				return ErrorType(k[0]), k[1]
			}
		}
		return ErrorType(typ), code
	case 3:
		switch code {
		case 0:
			return ErrFlowModFailed, FlowModFailedTableFull
		case 1:
			return ErrFlowModFailed, FlowModFailedOverlap
		case 2:
			return ErrFlowModFailed, FlowModFailedEPerm
		case 3:
			return ErrFlowModFailed, FlowModFailedBadTimeout
		case 4:
			return ErrFlowModFailed, FlowModFailedBadCommand
		case 5:
			return ErrFlowModFailed, FlowModFailedUnknown
		case 258:
			return ErrFlowModFailed, FlowModFailedBadFlags
		}
	case 4:
		return ErrPortModFailed, code
	case 5:
		return ErrQueueOpFailed, code
	}
	return ErrorType(typ), code
}

// ErrorData is the most of an offending request an ERROR carries: the
// specification asks for at least 64 bytes.
const ErrorData = 64

// NewErrorMsg builds the ERROR message that answers the request req (its
// first 64 bytes are copied) with err, as version v carries it.
func NewErrorMsg(v uint8, err error, req []byte) *ErrorMsg {
	e := AsError(err, ErrBadRequest, BadRequestEPerm)
	w := e.wire(v)
	var data []byte
	if e.Type == ErrHelloFailed {
		data = []byte(e.Reason)
		if len(data) > 256 {
			data = data[:256]
		}
	} else {
		n := len(req)
		if n > ErrorData {
			n = ErrorData
		}
		data = append([]byte(nil), req[:n]...)
	}
	return &ErrorMsg{ErrType: w.typ, Code: w.code, Experimenter: w.experimenter, Data: data}
}
