package ofp

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// Action is one OpenFlow action. The concrete types are the Action* structs
// of this package; an action a version has no spelling for is encoded in
// that version's nearest equivalent (documented per type) or refused by
// [Marshal] with an *Error.
type Action interface {
	action()
	String() string
}

// ActionOutput sends the packet to a port (a reserved port such as
// PortController, PortNormal, PortTable …). MaxLen is how many bytes go to
// the controller for PortController (ControllerNoBuffer: all).
type ActionOutput struct {
	Port   uint32
	MaxLen uint16
}

// ActionGroup hands the packet to a group. OpenFlow 1.0: NXAST_GROUP.
type ActionGroup struct{ GroupID uint32 }

// ActionSetQueue sets the queue for the next output. OpenFlow 1.0:
// NXAST_SET_QUEUE.
type ActionSetQueue struct{ QueueID uint32 }

// ActionEnqueue is OpenFlow 1.0's OFPAT_ENQUEUE: output to Port through
// QueueID (set_queue then output in 1.3).
type ActionEnqueue struct {
	Port    uint32
	QueueID uint32
}

// ActionSetMPLSTTL sets the MPLS TTL.
type ActionSetMPLSTTL struct{ TTL uint8 }

// ActionDecMPLSTTL decrements the MPLS TTL.
type ActionDecMPLSTTL struct{}

// ActionSetNWTTL sets the IPv4 TTL or IPv6 hop limit.
type ActionSetNWTTL struct{ TTL uint8 }

// ActionDecNWTTL decrements the IPv4 TTL or IPv6 hop limit (ovs-ofctl
// dec_ttl). OpenFlow 1.0: NXAST_DEC_TTL. Nicira records that it arrived as
// NXAST_DEC_TTL (Open vSwitch sends that spelling in 1.3 too), so that it
// is encoded again the same way.
type ActionDecNWTTL struct{ Nicira bool }

// ActionCopyTTLOut copies the TTL from the next-to-outermost header out.
type ActionCopyTTLOut struct{}

// ActionCopyTTLIn copies the TTL from the outermost header in.
type ActionCopyTTLIn struct{}

// ActionPushVLAN pushes a new 802.1Q (0x8100) or 802.1ad (0x88a8) tag.
type ActionPushVLAN struct{ EtherType uint16 }

// ActionPopVLAN pops the outermost VLAN tag (OpenFlow 1.0 strip_vlan).
type ActionPopVLAN struct{}

// ActionPushMPLS pushes an MPLS label stack entry.
type ActionPushMPLS struct{ EtherType uint16 }

// ActionPopMPLS pops the outermost MPLS entry; EtherType is the new type.
type ActionPopMPLS struct{ EtherType uint16 }

// ActionPushPBB pushes a PBB service tag.
type ActionPushPBB struct{ EtherType uint16 }

// ActionPopPBB pops the PBB service tag.
type ActionPopPBB struct{}

// ActionSetField writes a field. With a mask (never on the wire of OFPAT
// SET_FIELD; Nicira's reg_load and reg_load2 carry one) only the masked
// bits are written. OpenFlow 1.0: the OFPAT10_SET_* action for the field
// where there is one (set_dl_src, set_nw_dst, set_nw_tos …), NXAST_REG_LOAD2
// otherwise.
type ActionSetField struct{ Field OXM }

// ActionSetVLANVID is OpenFlow 1.0's OFPAT10_SET_VLAN_VID (ovs-ofctl
// mod_vlan_vid): set the VID, pushing a tag when the frame has none.
type ActionSetVLANVID struct{ VID uint16 }

// ActionSetVLANPCP is OpenFlow 1.0's OFPAT10_SET_VLAN_PCP (mod_vlan_pcp):
// set the PCP, pushing a tag when the frame has none.
type ActionSetVLANPCP struct{ PCP uint8 }

// ActionSetL4Port is OpenFlow 1.0's OFPAT10_SET_TP_SRC/DST: set the TCP,
// UDP or SCTP port, whichever the frame carries.
type ActionSetL4Port struct {
	Dst  bool
	Port uint16
}

// ActionResubmit is Nicira's resubmit(port,table): look the packet up again
// in Table (TableAll: the current table) as if it came in on InPort
// (PortInPort: its real in_port).
type ActionResubmit struct {
	InPort uint32
	Table  uint8
	// WithTable is false for NXAST_RESUBMIT (no table field on the wire,
	// the current table) and true for NXAST_RESUBMIT_TABLE.
	WithTable bool
}

// FieldRef names a field in a register move, load or output_reg (an OXM
// header without a value).
type FieldRef struct {
	Class        uint16
	Field        uint8
	Len          uint8 // the field's width in bytes as the header says it
	Experimenter uint32
}

// ID returns the field the reference names.
func (r FieldRef) ID() FieldID {
	if d := lookupField(r.Class, r.Field, r.Experimenter); d != nil {
		return d.id
	}
	return FieldUnknown
}

func (r FieldRef) String() string {
	return OXM{Class: r.Class, Field: r.Field, Experimenter: r.Experimenter}.Name()
}

// RefOf returns the canonical reference to f.
func RefOf(f FieldID) FieldRef {
	d := canon[f]
	return FieldRef{Class: d.class, Field: d.field, Len: uint8(d.length), Experimenter: d.exp}
}

func (r FieldRef) header() uint32 {
	n := uint32(r.Len)
	if r.Class == ClassExperimenter {
		n += 4
	}
	return uint32(r.Class)<<16 | uint32(r.Field&0x7f)<<9 | n&0xff
}

func (r FieldRef) appendHeader(b []byte) []byte {
	b = appendU32(b, r.header())
	if r.Class == ClassExperimenter {
		b = appendU32(b, r.Experimenter)
	}
	return b
}

// parseRef decodes an OXM header (with its experimenter id) at b.
func parseRef(b []byte) (FieldRef, int, bool) {
	if len(b) < 4 {
		return FieldRef{}, 0, false
	}
	h := be.Uint32(b)
	r := FieldRef{Class: uint16(h >> 16), Field: uint8(h>>9) & 0x7f, Len: uint8(h)}
	if r.Class == ClassExperimenter {
		if len(b) < 8 || r.Len < 4 {
			return FieldRef{}, 0, false
		}
		r.Experimenter = be.Uint32(b[4:])
		r.Len -= 4
		return r, 8, true
	}
	return r, 4, true
}

// ActionRegMove is Nicira's move:SRC[ofs..]->DST[ofs..].
type ActionRegMove struct {
	Src, Dst       FieldRef
	NBits          uint16
	SrcOfs, DstOfs uint16
}

// ActionRegLoad is Nicira's load:VALUE->DST[ofs..ofs+nbits-1] in its
// NXAST_REG_LOAD form (a 64-bit immediate).
type ActionRegLoad struct {
	Dst   FieldRef
	Ofs   uint16
	NBits uint16
	Value uint64
}

// ActionSetTunnel is Nicira's set_tunnel (32-bit) and set_tunnel64.
type ActionSetTunnel struct {
	TunID uint64
	Is64  bool
}

// ActionNote is Nicira's note: opaque bytes that do nothing.
type ActionNote struct{ Note []byte }

// ActionController is Nicira's controller(…) action (NXAST_CONTROLLER, and
// NXAST_CONTROLLER2 when V2): send to the controllers with a reason,
// optionally only those with ControllerID, with userdata and pause.
type ActionController struct {
	MaxLen       uint16
	ControllerID uint16
	Reason       uint8
	V2           bool
	Userdata     []byte // V2 only
	Pause        bool   // V2 only
	MeterID      uint32 // V2 only, 0 = none
}

// ActionDecTTLCntIDs is Nicira's dec_ttl(id,…): decrement the TTL and send
// expired packets to the listed controller ids.
type ActionDecTTLCntIDs struct{ IDs []uint16 }

// ActionOutputReg is Nicira's output:SRC[ofs..]: output to the port held in
// a field.
type ActionOutputReg struct {
	Src        FieldRef
	Ofs, NBits uint16
	MaxLen     uint16
}

// ActionWriteMetadata is Nicira's write_metadata action (OpenFlow 1.0's
// only way to write metadata).
type ActionWriteMetadata struct{ Metadata, Mask uint64 }

// ActionExit is Nicira's exit: stop processing actions.
type ActionExit struct{}

// ActionPopQueue is Nicira's pop_queue: back to the queue the packet came
// with.
type ActionPopQueue struct{}

// ActionExperimenter is an experimenter action this codec does not decode
// (for Nicira, Data starts with the 2-byte subtype): kept so that it can be
// answered with OFPBAC_BAD_EXP_TYPE, never executed.
type ActionExperimenter struct {
	Experimenter uint32
	Data         []byte
}

func (ActionOutput) action()        {}
func (ActionGroup) action()         {}
func (ActionSetQueue) action()      {}
func (ActionEnqueue) action()       {}
func (ActionSetMPLSTTL) action()    {}
func (ActionDecMPLSTTL) action()    {}
func (ActionSetNWTTL) action()      {}
func (ActionDecNWTTL) action()      {}
func (ActionCopyTTLOut) action()    {}
func (ActionCopyTTLIn) action()     {}
func (ActionPushVLAN) action()      {}
func (ActionPopVLAN) action()       {}
func (ActionPushMPLS) action()      {}
func (ActionPopMPLS) action()       {}
func (ActionPushPBB) action()       {}
func (ActionPopPBB) action()        {}
func (ActionSetField) action()      {}
func (ActionSetVLANVID) action()    {}
func (ActionSetVLANPCP) action()    {}
func (ActionSetL4Port) action()     {}
func (ActionResubmit) action()      {}
func (ActionRegMove) action()       {}
func (ActionRegLoad) action()       {}
func (ActionSetTunnel) action()     {}
func (ActionNote) action()          {}
func (ActionController) action()    {}
func (ActionDecTTLCntIDs) action()  {}
func (ActionOutputReg) action()     {}
func (ActionWriteMetadata) action() {}
func (ActionExit) action()          {}
func (ActionPopQueue) action()      {}
func (ActionExperimenter) action()  {}

func (a ActionOutput) String() string {
	if a.Port == PortController {
		return "CONTROLLER:" + utoa(uint64(a.MaxLen))
	}
	return "output:" + PortName(a.Port)
}
func (a ActionGroup) String() string    { return "group:" + utoa(uint64(a.GroupID)) }
func (a ActionSetQueue) String() string { return "set_queue:" + utoa(uint64(a.QueueID)) }
func (a ActionEnqueue) String() string {
	return "enqueue:" + PortName(a.Port) + ":" + utoa(uint64(a.QueueID))
}
func (a ActionSetMPLSTTL) String() string { return "set_mpls_ttl(" + utoa(uint64(a.TTL)) + ")" }
func (ActionDecMPLSTTL) String() string   { return "dec_mpls_ttl" }
func (a ActionSetNWTTL) String() string   { return "mod_nw_ttl:" + utoa(uint64(a.TTL)) }
func (ActionDecNWTTL) String() string     { return "dec_ttl" }
func (ActionCopyTTLOut) String() string   { return "copy_ttl_out" }
func (ActionCopyTTLIn) String() string    { return "copy_ttl_in" }
func (a ActionPushVLAN) String() string   { return fmt.Sprintf("push_vlan:0x%04x", a.EtherType) }
func (ActionPopVLAN) String() string      { return "pop_vlan" }
func (a ActionPushMPLS) String() string   { return fmt.Sprintf("push_mpls:0x%04x", a.EtherType) }
func (a ActionPopMPLS) String() string    { return fmt.Sprintf("pop_mpls:0x%04x", a.EtherType) }
func (a ActionPushPBB) String() string    { return fmt.Sprintf("push_pbb:0x%04x", a.EtherType) }
func (ActionPopPBB) String() string       { return "pop_pbb" }
func (a ActionSetField) String() string {
	s := "set_field:" + hex.EncodeToString(a.Field.Value)
	if a.Field.Mask != nil {
		s += "/" + hex.EncodeToString(a.Field.Mask)
	}
	return s + "->" + a.Field.Name()
}
func (a ActionSetVLANVID) String() string { return "mod_vlan_vid:" + utoa(uint64(a.VID)) }
func (a ActionSetVLANPCP) String() string { return "mod_vlan_pcp:" + utoa(uint64(a.PCP)) }
func (a ActionSetL4Port) String() string {
	if a.Dst {
		return "mod_tp_dst:" + utoa(uint64(a.Port))
	}
	return "mod_tp_src:" + utoa(uint64(a.Port))
}
func (a ActionResubmit) String() string {
	p, t := "", ""
	if a.InPort != PortInPort {
		p = PortName(a.InPort)
	}
	if a.WithTable && a.Table != TableAll {
		t = utoa(uint64(a.Table))
	}
	return "resubmit(" + p + "," + t + ")"
}
func (a ActionRegMove) String() string {
	return fmt.Sprintf("move:%s[%d..%d]->%s[%d..%d]", a.Src, a.SrcOfs, int(a.SrcOfs)+int(a.NBits)-1, a.Dst, a.DstOfs, int(a.DstOfs)+int(a.NBits)-1)
}
func (a ActionRegLoad) String() string {
	return fmt.Sprintf("load:0x%x->%s[%d..%d]", a.Value, a.Dst, a.Ofs, int(a.Ofs)+int(a.NBits)-1)
}
func (a ActionSetTunnel) String() string {
	if a.Is64 {
		return fmt.Sprintf("set_tunnel64:0x%x", a.TunID)
	}
	return fmt.Sprintf("set_tunnel:0x%x", a.TunID)
}
func (a ActionNote) String() string { return "note:" + hex.EncodeToString(a.Note) }
func (a ActionController) String() string {
	var parts []string
	parts = append(parts, "max_len="+utoa(uint64(a.MaxLen)))
	if a.Reason != ReasonAction {
		parts = append(parts, "reason="+utoa(uint64(a.Reason)))
	}
	if a.ControllerID != 0 {
		parts = append(parts, "id="+utoa(uint64(a.ControllerID)))
	}
	if len(a.Userdata) > 0 {
		parts = append(parts, "userdata="+hex.EncodeToString(a.Userdata))
	}
	if a.Pause {
		parts = append(parts, "pause")
	}
	if a.MeterID != 0 {
		parts = append(parts, "meter_id="+utoa(uint64(a.MeterID)))
	}
	return "controller(" + strings.Join(parts, ",") + ")"
}
func (a ActionDecTTLCntIDs) String() string { return fmt.Sprintf("dec_ttl%v", a.IDs) }
func (a ActionOutputReg) String() string {
	return fmt.Sprintf("output:%s[%d..%d]", a.Src, a.Ofs, int(a.Ofs)+int(a.NBits)-1)
}
func (a ActionWriteMetadata) String() string {
	return fmt.Sprintf("write_metadata:0x%x/0x%x", a.Metadata, a.Mask)
}
func (ActionExit) String() string     { return "exit" }
func (ActionPopQueue) String() string { return "pop_queue" }
func (a ActionExperimenter) String() string {
	return fmt.Sprintf("experimenter(0x%08x,%s)", a.Experimenter, hex.EncodeToString(a.Data))
}

// OpenFlow 1.1+ action types.
const (
	at13Output     = 0
	at13CopyTTLOut = 11
	at13CopyTTLIn  = 12
	at13SetMPLSTTL = 15
	at13DecMPLSTTL = 16
	at13PushVLAN   = 17
	at13PopVLAN    = 18
	at13PushMPLS   = 19
	at13PopMPLS    = 20
	at13SetQueue   = 21
	at13Group      = 22
	at13SetNWTTL   = 23
	at13DecNWTTL   = 24
	at13SetField   = 25
	at13PushPBB    = 26
	at13PopPBB     = 27
	atExperimenter = 0xffff
)

// OpenFlow 1.0 action types.
const (
	at10Output     = 0
	at10SetVLANVID = 1
	at10SetVLANPCP = 2
	at10StripVLAN  = 3
	at10SetDLSrc   = 4
	at10SetDLDst   = 5
	at10SetNWSrc   = 6
	at10SetNWDst   = 7
	at10SetNWTos   = 8
	at10SetTPSrc   = 9
	at10SetTPDst   = 10
	at10Enqueue    = 11
)

// Nicira action subtypes.
const (
	nxastResubmit      = 1
	nxastSetTunnel     = 2
	nxastSetQueue      = 4
	nxastPopQueue      = 5
	nxastRegMove       = 6
	nxastRegLoad       = 7
	nxastNote          = 8
	nxastSetTunnel64   = 9
	nxastResubmitTable = 14
	nxastOutputReg     = 15
	nxastExit          = 17
	nxastDecTTL        = 18
	nxastController    = 20
	nxastDecTTLCntIDs  = 21
	nxastWriteMetadata = 22
	nxastPushMPLS      = 23
	nxastPopMPLS       = 24
	nxastSetMPLSTTL    = 25
	nxastDecMPLSTTL    = 26
	nxastRegLoad2      = 33
	nxastController2   = 37
	nxastGroup         = 40
)

// Nicira controller2 property types.
const (
	nxac2MaxLen       = 0
	nxac2ControllerID = 1
	nxac2Reason       = 2
	nxac2Userdata     = 3
	nxac2Pause        = 4
	nxac2MeterID      = 5
)

// MaxActions bounds the actions of one list (OFPBAC_TOO_MANY beyond).
const MaxActions = 1024

func badActLen(what string, have, want int) *Error {
	return Errorf(ErrBadAction, BadActionBadLen, "%s action of %d bytes, must be %d", what, have, want)
}

// ParseActions decodes an action list of version v that fills b exactly.
func ParseActions(b []byte, v uint8) ([]Action, error) {
	n := 0
	for p := b; len(p) >= 4 && n <= MaxActions; n++ {
		l := int(be.Uint16(p[2:]))
		if l < 8 || l > len(p) {
			break
		}
		p = p[l:]
	}
	var out []Action
	if n > 0 {
		out = make([]Action, 0, n)
	}
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, Errorf(ErrBadAction, BadActionBadLen, "%d bytes left after the last action, an action needs at least 8", len(b))
		}
		typ, n := be.Uint16(b), int(be.Uint16(b[2:]))
		if n < 8 || n%8 != 0 || n > len(b) {
			return nil, Errorf(ErrBadAction, BadActionBadLen, "action type %d has length %d (%d bytes remain; a multiple of 8, at least 8)", typ, n, len(b))
		}
		if len(out) >= MaxActions {
			return nil, Errorf(ErrBadAction, BadActionTooMany, "more than %d actions", MaxActions)
		}
		a, err := parseAction(b[:n], v)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
		b = b[n:]
	}
	return out, nil
}

func parseAction(b []byte, v uint8) (Action, error) {
	typ, n := be.Uint16(b), len(b)
	if typ == atExperimenter {
		return parseExperimenterAction(b, v)
	}
	if v == Version10 {
		return parseAction10(b)
	}
	want := func(what string, l int) error {
		if n != l {
			return badActLen(what, n, l)
		}
		return nil
	}
	switch typ {
	case at13Output:
		if err := want("output", 16); err != nil {
			return nil, err
		}
		return ActionOutput{Port: be.Uint32(b[4:]), MaxLen: be.Uint16(b[8:])}, nil
	case at13CopyTTLOut, at13CopyTTLIn, at13DecMPLSTTL, at13PopVLAN, at13DecNWTTL, at13PopPBB:
		if err := want("header-only", 8); err != nil {
			return nil, err
		}
		switch typ {
		case at13CopyTTLOut:
			return ActionCopyTTLOut{}, nil
		case at13CopyTTLIn:
			return ActionCopyTTLIn{}, nil
		case at13DecMPLSTTL:
			return ActionDecMPLSTTL{}, nil
		case at13PopVLAN:
			return ActionPopVLAN{}, nil
		case at13DecNWTTL:
			return ActionDecNWTTL{}, nil
		}
		return ActionPopPBB{}, nil
	case at13SetMPLSTTL, at13SetNWTTL:
		if err := want("set-ttl", 8); err != nil {
			return nil, err
		}
		if typ == at13SetMPLSTTL {
			return ActionSetMPLSTTL{TTL: b[4]}, nil
		}
		return ActionSetNWTTL{TTL: b[4]}, nil
	case at13PushVLAN, at13PushMPLS, at13PopMPLS, at13PushPBB:
		if err := want("push/pop", 8); err != nil {
			return nil, err
		}
		et := be.Uint16(b[4:])
		switch typ {
		case at13PushVLAN:
			if et != 0x8100 && et != 0x88a8 {
				return nil, Errorf(ErrBadAction, BadActionBadArgument, "push_vlan ethertype 0x%04x (0x8100 or 0x88a8)", et)
			}
			return ActionPushVLAN{EtherType: et}, nil
		case at13PushMPLS:
			if et != 0x8847 && et != 0x8848 {
				return nil, Errorf(ErrBadAction, BadActionBadArgument, "push_mpls ethertype 0x%04x (0x8847 or 0x8848)", et)
			}
			return ActionPushMPLS{EtherType: et}, nil
		case at13PopMPLS:
			return ActionPopMPLS{EtherType: et}, nil
		}
		if et != 0x88e7 {
			return nil, Errorf(ErrBadAction, BadActionBadArgument, "push_pbb ethertype 0x%04x (0x88e7)", et)
		}
		return ActionPushPBB{EtherType: et}, nil
	case at13SetQueue, at13Group:
		if err := want("set_queue/group", 8); err != nil {
			return nil, err
		}
		if typ == at13SetQueue {
			return ActionSetQueue{QueueID: be.Uint32(b[4:])}, nil
		}
		return ActionGroup{GroupID: be.Uint32(b[4:])}, nil
	case at13SetField:
		return parseSetField(b[4:], false)
	}
	return nil, Errorf(ErrBadAction, BadActionBadType, "action type %d is not an OpenFlow 1.3 action", typ)
}

// parseSetField decodes the OXM of a set_field (or reg_load2) action; the
// rest of b is padding.
func parseSetField(b []byte, allowMask bool) (Action, error) {
	if len(b) < 4 {
		return nil, Errorf(ErrBadAction, BadActionBadSetLen, "set_field without an OXM header")
	}
	h := be.Uint32(b)
	n := int(h & 0xff)
	if 4+n > len(b) {
		return nil, Errorf(ErrBadAction, BadActionBadSetLen, "set_field OXM 0x%08x of %d bytes overruns the action (%d bytes)", h, n, len(b))
	}
	fields, err := parseOXMs(b[:4+n])
	if err != nil || len(fields) != 1 {
		return nil, Errorf(ErrBadAction, BadActionBadSetLen, "set_field OXM 0x%08x is malformed", h)
	}
	o := fields[0]
	if o.Mask != nil && !allowMask {
		return nil, Errorf(ErrBadAction, BadActionBadSetMask, "set_field of %s carries a mask (OpenFlow 1.3 set_field writes whole fields)", o.Name())
	}
	if err := checkSetField(o); err != nil {
		return nil, err
	}
	if !allZero(b[4+n:]) {
		return nil, Errorf(ErrBadAction, BadActionBadArgument, "set_field padding after %s is not zero", o.Name())
	}
	return ActionSetField{Field: o}, nil
}

// readOnly lists the fields that set_field cannot write.
var readOnly = map[FieldID]bool{
	FieldInPhyPort: true, FieldEthType: true, FieldIPProto: true, FieldMPLSBOS: true,
	FieldIPv6Exthdr: true, FieldTCPFlags: true, FieldIPFrag: true,
}

// checkSetField validates the field a set_field writes: known, writable,
// of its width, with a value in range.
func checkSetField(o OXM) error {
	d := lookupField(o.Class, o.Field, o.Experimenter)
	if d == nil {
		return Errorf(ErrBadAction, BadActionBadSetType, "set_field of unknown field %s", o.Name())
	}
	if readOnly[d.id] {
		return Errorf(ErrBadAction, BadActionBadSetType, "set_field of %s: the field is read-only", d.name)
	}
	if len(o.Value) != d.length || (o.Mask != nil && len(o.Mask) != d.length) {
		return Errorf(ErrBadAction, BadActionBadSetLen, "set_field of %s with %d bytes, the field is %d", d.name, len(o.Value), d.length)
	}
	if d.max != 0 {
		v, _ := o.Uint()
		max := d.max
		if d.id == FieldVLANVID {
			max = 0x1fff
		}
		if v > max {
			return Errorf(ErrBadAction, BadActionBadSetArgument, "set_field %s=0x%x is out of range (0 to 0x%x)", d.name, v, max)
		}
	}
	return nil
}

func parseAction10(b []byte) (Action, error) {
	typ, n := be.Uint16(b), len(b)
	want := func(what string, l int) error {
		if n != l {
			return badActLen(what, n, l)
		}
		return nil
	}
	switch typ {
	case at10Output:
		if err := want("output", 8); err != nil {
			return nil, err
		}
		return ActionOutput{Port: PortFrom10(be.Uint16(b[4:])), MaxLen: be.Uint16(b[6:])}, nil
	case at10SetVLANVID:
		if err := want("set_vlan_vid", 8); err != nil {
			return nil, err
		}
		vid := be.Uint16(b[4:])
		if vid > 0xfff {
			return nil, Errorf(ErrBadAction, BadActionBadArgument, "mod_vlan_vid:%d is out of range (0 to 4095)", vid)
		}
		return ActionSetVLANVID{VID: vid}, nil
	case at10SetVLANPCP:
		if err := want("set_vlan_pcp", 8); err != nil {
			return nil, err
		}
		if b[4] > 7 {
			return nil, Errorf(ErrBadAction, BadActionBadArgument, "mod_vlan_pcp:%d is out of range (0 to 7)", b[4])
		}
		return ActionSetVLANPCP{PCP: b[4]}, nil
	case at10StripVLAN:
		if err := want("strip_vlan", 8); err != nil {
			return nil, err
		}
		return ActionPopVLAN{}, nil
	case at10SetDLSrc, at10SetDLDst:
		if err := want("set_dl_addr", 16); err != nil {
			return nil, err
		}
		f := FieldEthSrc
		if typ == at10SetDLDst {
			f = FieldEthDst
		}
		return ActionSetField{Field: NewOXM(f, b[4:10], nil)}, nil
	case at10SetNWSrc, at10SetNWDst:
		if err := want("set_nw_addr", 8); err != nil {
			return nil, err
		}
		f := FieldIPv4Src
		if typ == at10SetNWDst {
			f = FieldIPv4Dst
		}
		return ActionSetField{Field: NewOXM(f, b[4:8], nil)}, nil
	case at10SetNWTos:
		if err := want("set_nw_tos", 8); err != nil {
			return nil, err
		}
		if b[4]&3 != 0 {
			return nil, Errorf(ErrBadAction, BadActionBadArgument, "mod_nw_tos:%d has ECN bits set (a multiple of 4)", b[4])
		}
		return ActionSetField{Field: OXMUint(FieldIPDSCP, uint64(b[4]>>2))}, nil
	case at10SetTPSrc, at10SetTPDst:
		if err := want("set_tp_port", 8); err != nil {
			return nil, err
		}
		return ActionSetL4Port{Dst: typ == at10SetTPDst, Port: be.Uint16(b[4:])}, nil
	case at10Enqueue:
		if err := want("enqueue", 16); err != nil {
			return nil, err
		}
		return ActionEnqueue{Port: PortFrom10(be.Uint16(b[4:])), QueueID: be.Uint32(b[12:])}, nil
	}
	return nil, Errorf(ErrBadAction, BadActionBadType, "action type %d is not an OpenFlow 1.0 action", typ)
}

func parseExperimenterAction(b []byte, v uint8) (Action, error) {
	exp := be.Uint32(b[4:])
	if exp != ExperimenterNicira || len(b) < 16 {
		return ActionExperimenter{Experimenter: exp, Data: b[8:]}, nil
	}
	sub := be.Uint16(b[8:])
	n := len(b)
	want := func(l int) error {
		if n != l {
			return badActLen("Nicira subtype "+utoa(uint64(sub)), n, l)
		}
		return nil
	}
	switch sub {
	case nxastResubmit, nxastResubmitTable:
		if err := want(16); err != nil {
			return nil, err
		}
		a := ActionResubmit{InPort: PortFrom10(be.Uint16(b[10:])), Table: TableAll}
		if sub == nxastResubmitTable {
			a.WithTable, a.Table = true, b[12]
		}
		return a, nil
	case nxastSetTunnel:
		if err := want(16); err != nil {
			return nil, err
		}
		return ActionSetTunnel{TunID: uint64(be.Uint32(b[12:]))}, nil
	case nxastSetTunnel64:
		if err := want(24); err != nil {
			return nil, err
		}
		return ActionSetTunnel{TunID: be.Uint64(b[16:]), Is64: true}, nil
	case nxastSetQueue:
		if err := want(16); err != nil {
			return nil, err
		}
		return ActionSetQueue{QueueID: be.Uint32(b[12:])}, nil
	case nxastPopQueue:
		if err := want(16); err != nil {
			return nil, err
		}
		return ActionPopQueue{}, nil
	case nxastExit:
		if err := want(16); err != nil {
			return nil, err
		}
		return ActionExit{}, nil
	case nxastDecTTL:
		if err := want(16); err != nil {
			return nil, err
		}
		return ActionDecNWTTL{Nicira: true}, nil
	case nxastDecMPLSTTL:
		if err := want(16); err != nil {
			return nil, err
		}
		return ActionDecMPLSTTL{}, nil
	case nxastSetMPLSTTL:
		if err := want(16); err != nil {
			return nil, err
		}
		return ActionSetMPLSTTL{TTL: b[10]}, nil
	case nxastPushMPLS, nxastPopMPLS:
		if err := want(16); err != nil {
			return nil, err
		}
		if et := be.Uint16(b[10:]); sub == nxastPushMPLS {
			if et != 0x8847 && et != 0x8848 {
				return nil, Errorf(ErrBadAction, BadActionBadArgument, "push_mpls ethertype 0x%04x (0x8847 or 0x8848)", et)
			}
			return ActionPushMPLS{EtherType: et}, nil
		}
		return ActionPopMPLS{EtherType: be.Uint16(b[10:])}, nil
	case nxastGroup:
		if err := want(16); err != nil {
			return nil, err
		}
		return ActionGroup{GroupID: be.Uint32(b[12:])}, nil
	case nxastRegMove:
		if n < 24 {
			return nil, badActLen("move", n, 24)
		}
		a := ActionRegMove{NBits: be.Uint16(b[10:]), SrcOfs: be.Uint16(b[12:]), DstOfs: be.Uint16(b[14:])}
		src, k, ok := parseRef(b[16:])
		if !ok {
			return nil, Errorf(ErrBadAction, BadActionBadLen, "move: source field header truncated")
		}
		dst, k2, ok := parseRef(b[16+k:])
		if !ok {
			return nil, Errorf(ErrBadAction, BadActionBadLen, "move: destination field header truncated")
		}
		if !allZero(b[16+k+k2:]) {
			return nil, Errorf(ErrBadAction, BadActionBadArgument, "move: nonzero padding")
		}
		a.Src, a.Dst = src, dst
		if err := checkBits("move source", a.Src, a.SrcOfs, a.NBits); err != nil {
			return nil, err
		}
		if err := checkBits("move destination", a.Dst, a.DstOfs, a.NBits); err != nil {
			return nil, err
		}
		return a, nil
	case nxastRegLoad:
		if err := want(24); err != nil {
			return nil, err
		}
		on := be.Uint16(b[10:])
		dst, _, _ := parseRef(b[12:16])
		a := ActionRegLoad{Dst: dst, Ofs: on >> 6, NBits: on&63 + 1, Value: be.Uint64(b[16:])}
		if err := checkBits("load", a.Dst, a.Ofs, a.NBits); err != nil {
			return nil, err
		}
		if a.NBits < 64 && a.Value>>a.NBits != 0 {
			return nil, Errorf(ErrBadAction, BadActionBadArgument, "load: value 0x%x does not fit in %d bits", a.Value, a.NBits)
		}
		return a, nil
	case nxastRegLoad2:
		// The OXM starts right after the 10-byte Nicira header.
		return parseSetField(b[10:], true)
	case nxastNote:
		return ActionNote{Note: b[10:]}, nil
	case nxastController:
		if err := want(16); err != nil {
			return nil, err
		}
		return ActionController{MaxLen: be.Uint16(b[10:]), ControllerID: be.Uint16(b[12:]), Reason: b[14]}, nil
	case nxastController2:
		return parseController2(b[16:])
	case nxastDecTTLCntIDs:
		cnt := int(be.Uint16(b[10:]))
		if n < 16+2*cnt {
			return nil, Errorf(ErrBadAction, BadActionBadLen, "dec_ttl with %d controller ids in %d bytes", cnt, n)
		}
		a := ActionDecTTLCntIDs{IDs: make([]uint16, cnt)}
		for i := range a.IDs {
			a.IDs[i] = be.Uint16(b[16+2*i:])
		}
		return a, nil
	case nxastOutputReg:
		if err := want(24); err != nil {
			return nil, err
		}
		on := be.Uint16(b[10:])
		src, _, _ := parseRef(b[12:16])
		a := ActionOutputReg{Src: src, Ofs: on >> 6, NBits: on&63 + 1, MaxLen: be.Uint16(b[16:])}
		if err := checkBits("output_reg", a.Src, a.Ofs, a.NBits); err != nil {
			return nil, err
		}
		return a, nil
	case nxastWriteMetadata:
		if err := want(32); err != nil {
			return nil, err
		}
		return ActionWriteMetadata{Metadata: be.Uint64(b[16:]), Mask: be.Uint64(b[24:])}, nil
	}
	return ActionExperimenter{Experimenter: exp, Data: b[8:]}, nil
}

// checkBits validates a bit range of a field reference.
func checkBits(what string, r FieldRef, ofs, nbits uint16) error {
	d := lookupField(r.Class, r.Field, r.Experimenter)
	if d == nil {
		return Errorf(ErrBadAction, BadActionBadSetType, "%s: unknown field %s", what, r)
	}
	if nbits == 0 || int(ofs)+int(nbits) > 8*d.length {
		return Errorf(ErrBadAction, BadActionBadSetLen, "%s: bits %d..%d are outside %s (%d bits)", what, ofs, int(ofs)+int(nbits)-1, d.name, 8*d.length)
	}
	return nil
}

func parseController2(b []byte) (Action, error) {
	a := ActionController{V2: true, MaxLen: ControllerNoBuffer, Reason: ReasonAction}
	for len(b) > 0 {
		if len(b) < 4 {
			if allZero(b) {
				break
			}
			return nil, Errorf(ErrBadAction, BadActionBadLen, "controller2: truncated property")
		}
		typ, n := be.Uint16(b), int(be.Uint16(b[2:]))
		if n < 4 || n > len(b) {
			if allZero(b) {
				break
			}
			return nil, Errorf(ErrBadAction, BadActionBadLen, "controller2 property %d of length %d (%d remain)", typ, n, len(b))
		}
		p := b[4:n]
		switch typ {
		case nxac2MaxLen:
			if len(p) != 2 {
				return nil, Errorf(ErrBadAction, BadActionBadLen, "controller2 max_len property of %d bytes", len(p))
			}
			a.MaxLen = be.Uint16(p)
		case nxac2ControllerID:
			if len(p) != 2 {
				return nil, Errorf(ErrBadAction, BadActionBadLen, "controller2 id property of %d bytes", len(p))
			}
			a.ControllerID = be.Uint16(p)
		case nxac2Reason:
			if len(p) != 1 {
				return nil, Errorf(ErrBadAction, BadActionBadLen, "controller2 reason property of %d bytes", len(p))
			}
			a.Reason = p[0]
		case nxac2Userdata:
			a.Userdata = p
		case nxac2Pause:
			a.Pause = true
		case nxac2MeterID:
			if len(p) != 4 {
				return nil, Errorf(ErrBadAction, BadActionBadLen, "controller2 meter_id property of %d bytes", len(p))
			}
			a.MeterID = be.Uint32(p)
		default:
			return nil, Errorf(ErrBadAction, BadActionBadArgument, "controller2: unknown property %d", typ)
		}
		adv := pad8(n)
		if adv > len(b) {
			adv = len(b)
		}
		b = b[adv:]
	}
	return a, nil
}

// AppendActions encodes acts for version v.
func AppendActions(b []byte, v uint8, acts []Action) ([]byte, error) {
	for _, a := range acts {
		var err error
		if b, err = appendAction(b, v, a); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func appendHdr(b []byte, typ, n uint16) []byte {
	return appendU16(appendU16(b, typ), n)
}

func appendNX(b []byte, n, sub uint16) []byte {
	b = appendHdr(b, atExperimenter, n)
	b = appendU32(b, ExperimenterNicira)
	return appendU16(b, sub)
}

func appendAction(b []byte, v uint8, a Action) ([]byte, error) {
	if v == Version10 {
		if out, ok, err := appendAction10(b, a); ok || err != nil {
			return out, err
		}
	} else {
		if out, ok := appendAction13(b, a); ok {
			return out, nil
		}
	}
	return appendNXAction(b, v, a)
}

func appendAction13(b []byte, a Action) ([]byte, bool) {
	switch a := a.(type) {
	case ActionOutput:
		b = appendHdr(b, at13Output, 16)
		b = appendU32(b, a.Port)
		b = appendU16(b, a.MaxLen)
		return appendZeros(b, 6), true
	case ActionEnqueue:
		b, _ = appendAction13(b, ActionSetQueue{QueueID: a.QueueID})
		return appendAction13(b, ActionOutput{Port: a.Port})
	case ActionCopyTTLOut:
		return appendZeros(appendHdr(b, at13CopyTTLOut, 8), 4), true
	case ActionCopyTTLIn:
		return appendZeros(appendHdr(b, at13CopyTTLIn, 8), 4), true
	case ActionDecMPLSTTL:
		return appendZeros(appendHdr(b, at13DecMPLSTTL, 8), 4), true
	case ActionPopVLAN:
		return appendZeros(appendHdr(b, at13PopVLAN, 8), 4), true
	case ActionDecNWTTL:
		if a.Nicira {
			return b, false
		}
		return appendZeros(appendHdr(b, at13DecNWTTL, 8), 4), true
	case ActionPopPBB:
		return appendZeros(appendHdr(b, at13PopPBB, 8), 4), true
	case ActionSetMPLSTTL:
		return appendZeros(append(appendHdr(b, at13SetMPLSTTL, 8), a.TTL), 3), true
	case ActionSetNWTTL:
		return appendZeros(append(appendHdr(b, at13SetNWTTL, 8), a.TTL), 3), true
	case ActionPushVLAN:
		return appendZeros(appendU16(appendHdr(b, at13PushVLAN, 8), a.EtherType), 2), true
	case ActionPushMPLS:
		return appendZeros(appendU16(appendHdr(b, at13PushMPLS, 8), a.EtherType), 2), true
	case ActionPopMPLS:
		return appendZeros(appendU16(appendHdr(b, at13PopMPLS, 8), a.EtherType), 2), true
	case ActionPushPBB:
		return appendZeros(appendU16(appendHdr(b, at13PushPBB, 8), a.EtherType), 2), true
	case ActionSetQueue:
		return appendU32(appendHdr(b, at13SetQueue, 8), a.QueueID), true
	case ActionGroup:
		return appendU32(appendHdr(b, at13Group, 8), a.GroupID), true
	case ActionSetField:
		if a.Field.Mask != nil {
			return b, false // reg_load2
		}
		off := len(b)
		b = appendHdr(b, at13SetField, 0)
		b = a.Field.append(b)
		b = padTo8(b, off)
		putLen16(b, off+2, off)
		return b, true
	case ActionSetVLANVID:
		// OpenFlow 1.3 has no "set or push"; set the VID of the tag.
		return appendAction13(b, ActionSetField{Field: OXMUint(FieldVLANVID, uint64(a.VID)|0x1000)})
	case ActionSetVLANPCP:
		return appendAction13(b, ActionSetField{Field: OXMUint(FieldVLANPCP, uint64(a.PCP))})
	}
	return b, false
}

// appendAction10 encodes the OpenFlow 1.0 spelling; ok false means the
// action needs its Nicira spelling.
func appendAction10(b []byte, a Action) ([]byte, bool, error) {
	switch a := a.(type) {
	case ActionOutput:
		p, ok := PortTo10(a.Port)
		if !ok {
			return nil, false, Errorf(ErrBadAction, BadActionBadOutPort, "output:%d cannot be expressed in OpenFlow 1.0", a.Port)
		}
		b = appendHdr(b, at10Output, 8)
		return appendU16(appendU16(b, p), a.MaxLen), true, nil
	case ActionEnqueue:
		p, ok := PortTo10(a.Port)
		if !ok {
			return nil, false, Errorf(ErrBadAction, BadActionBadOutPort, "enqueue:%d cannot be expressed in OpenFlow 1.0", a.Port)
		}
		b = appendU16(appendHdr(b, at10Enqueue, 16), p)
		return appendU32(appendZeros(b, 6), a.QueueID), true, nil
	case ActionSetVLANVID:
		return appendZeros(appendU16(appendHdr(b, at10SetVLANVID, 8), a.VID), 2), true, nil
	case ActionSetVLANPCP:
		return appendZeros(append(appendHdr(b, at10SetVLANPCP, 8), a.PCP), 3), true, nil
	case ActionPopVLAN:
		return appendZeros(appendHdr(b, at10StripVLAN, 8), 4), true, nil
	case ActionSetL4Port:
		t := uint16(at10SetTPSrc)
		if a.Dst {
			t = at10SetTPDst
		}
		return appendZeros(appendU16(appendHdr(b, t, 8), a.Port), 2), true, nil
	case ActionSetField:
		if a.Field.Mask != nil {
			return b, false, nil
		}
		v, _ := a.Field.Uint()
		switch a.Field.ID() {
		case FieldEthSrc, FieldEthDst:
			t := uint16(at10SetDLSrc)
			if a.Field.ID() == FieldEthDst {
				t = at10SetDLDst
			}
			return appendZeros(append(appendHdr(b, t, 16), a.Field.Value...), 6), true, nil
		case FieldIPv4Src, FieldIPv4Dst:
			t := uint16(at10SetNWSrc)
			if a.Field.ID() == FieldIPv4Dst {
				t = at10SetNWDst
			}
			return append(appendHdr(b, t, 8), a.Field.Value...), true, nil
		case FieldIPDSCP:
			return appendZeros(append(appendHdr(b, at10SetNWTos, 8), byte(v<<2)), 3), true, nil
		case FieldTCPSrc, FieldUDPSrc, FieldSCTPSrc:
			return appendZeros(appendU16(appendHdr(b, at10SetTPSrc, 8), uint16(v)), 2), true, nil
		case FieldTCPDst, FieldUDPDst, FieldSCTPDst:
			return appendZeros(appendU16(appendHdr(b, at10SetTPDst, 8), uint16(v)), 2), true, nil
		case FieldVLANPCP:
			return appendZeros(append(appendHdr(b, at10SetVLANPCP, 8), byte(v)), 3), true, nil
		case FieldVLANVID:
			if v&0x1000 != 0 {
				return appendZeros(appendU16(appendHdr(b, at10SetVLANVID, 8), uint16(v&0xfff)), 2), true, nil
			}
		}
	}
	return b, false, nil
}

func appendNXAction(b []byte, v uint8, a Action) ([]byte, error) {
	switch a := a.(type) {
	case ActionResubmit:
		p, ok := PortTo10(a.InPort)
		if !ok {
			return nil, Errorf(ErrBadAction, BadActionBadArgument, "resubmit in_port %d has no 16-bit form", a.InPort)
		}
		sub := uint16(nxastResubmit)
		if a.WithTable || a.Table != TableAll {
			sub = nxastResubmitTable
		}
		b = appendU16(appendNX(b, 16, sub), p)
		tbl := byte(0)
		if sub == nxastResubmitTable {
			tbl = a.Table
		}
		return appendZeros(append(b, tbl), 3), nil
	case ActionSetTunnel:
		if a.Is64 || a.TunID > 0xffffffff {
			return appendU64(appendZeros(appendNX(b, 24, nxastSetTunnel64), 6), a.TunID), nil
		}
		return appendU32(appendZeros(appendNX(b, 16, nxastSetTunnel), 2), uint32(a.TunID)), nil
	case ActionSetQueue:
		return appendU32(appendZeros(appendNX(b, 16, nxastSetQueue), 2), a.QueueID), nil
	case ActionPopQueue:
		return appendZeros(appendNX(b, 16, nxastPopQueue), 6), nil
	case ActionExit:
		return appendZeros(appendNX(b, 16, nxastExit), 6), nil
	case ActionDecNWTTL:
		return appendZeros(appendNX(b, 16, nxastDecTTL), 6), nil
	case ActionDecMPLSTTL:
		return appendZeros(appendNX(b, 16, nxastDecMPLSTTL), 6), nil
	case ActionSetMPLSTTL:
		return appendZeros(append(appendNX(b, 16, nxastSetMPLSTTL), a.TTL), 5), nil
	case ActionPushMPLS:
		return appendZeros(appendU16(appendNX(b, 16, nxastPushMPLS), a.EtherType), 4), nil
	case ActionPopMPLS:
		return appendZeros(appendU16(appendNX(b, 16, nxastPopMPLS), a.EtherType), 4), nil
	case ActionGroup:
		return appendU32(appendZeros(appendNX(b, 16, nxastGroup), 2), a.GroupID), nil
	case ActionRegMove:
		off := len(b)
		b = appendNX(b, 0, nxastRegMove)
		b = appendU16(appendU16(appendU16(b, a.NBits), a.SrcOfs), a.DstOfs)
		b = a.Dst.appendHeader(a.Src.appendHeader(b))
		b = padTo8(b, off)
		putLen16(b, off+2, off)
		return b, nil
	case ActionRegLoad:
		if a.Dst.Class == ClassExperimenter {
			return nil, Errorf(ErrBadAction, BadActionBadSetType, "load into experimenter field %s needs reg_load2", a.Dst)
		}
		b = appendNX(b, 24, nxastRegLoad)
		b = appendU16(b, a.Ofs<<6|(a.NBits-1)&63)
		return appendU64(appendU32(b, a.Dst.header()), a.Value), nil
	case ActionSetField:
		off := len(b)
		b = appendNX(b, 0, nxastRegLoad2)
		b = a.Field.append(b)
		b = padTo8(b, off)
		putLen16(b, off+2, off)
		return b, nil
	case ActionNote:
		off := len(b)
		b = append(appendNX(b, 0, nxastNote), a.Note...)
		if len(b)-off < 16 {
			b = appendZeros(b, 16-(len(b)-off))
		}
		b = padTo8(b, off)
		putLen16(b, off+2, off)
		return b, nil
	case ActionController:
		if !a.V2 && len(a.Userdata) == 0 && !a.Pause && a.MeterID == 0 {
			b = appendNX(b, 16, nxastController)
			b = appendU16(appendU16(b, a.MaxLen), a.ControllerID)
			return append(b, a.Reason, 0), nil
		}
		off := len(b)
		b = appendZeros(appendNX(b, 0, nxastController2), 6)
		prop := func(typ uint16, p []byte) {
			po := len(b)
			b = append(appendU16(appendU16(b, typ), uint16(4+len(p))), p...)
			b = padTo8(b, po)
		}
		if a.MaxLen != ControllerNoBuffer {
			prop(nxac2MaxLen, putUintN(uint64(a.MaxLen), 2))
		}
		if a.ControllerID != 0 {
			prop(nxac2ControllerID, putUintN(uint64(a.ControllerID), 2))
		}
		if a.Reason != ReasonAction {
			prop(nxac2Reason, []byte{a.Reason})
		}
		if len(a.Userdata) > 0 {
			prop(nxac2Userdata, a.Userdata)
		}
		if a.Pause {
			prop(nxac2Pause, nil)
		}
		if a.MeterID != 0 {
			prop(nxac2MeterID, putUintN(uint64(a.MeterID), 4))
		}
		putLen16(b, off+2, off)
		return b, nil
	case ActionDecTTLCntIDs:
		off := len(b)
		b = appendZeros(appendU16(appendNX(b, 0, nxastDecTTLCntIDs), uint16(len(a.IDs))), 4)
		for _, id := range a.IDs {
			b = appendU16(b, id)
		}
		b = padTo8(b, off)
		putLen16(b, off+2, off)
		return b, nil
	case ActionOutputReg:
		if a.Src.Class == ClassExperimenter {
			return nil, Errorf(ErrBadAction, BadActionBadSetType, "output from experimenter field %s is not supported", a.Src)
		}
		b = appendNX(b, 24, nxastOutputReg)
		b = appendU32(appendU16(b, a.Ofs<<6|(a.NBits-1)&63), a.Src.header())
		return appendZeros(appendU16(b, a.MaxLen), 6), nil
	case ActionWriteMetadata:
		b = appendZeros(appendNX(b, 32, nxastWriteMetadata), 6)
		return appendU64(appendU64(b, a.Metadata), a.Mask), nil
	case ActionExperimenter:
		off := len(b)
		b = appendU32(appendHdr(b, atExperimenter, 0), a.Experimenter)
		b = append(b, a.Data...)
		b = padTo8(b, off)
		putLen16(b, off+2, off)
		return b, nil
	}
	return nil, Errorf(ErrBadAction, BadActionBadType, "action %s has no %s encoding", a, VersionName(v))
}
