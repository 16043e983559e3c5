package ofp

// Validation and normalization a switch applies to requests before they
// reach its flow tables: everything OpenFlow 1.3 asks to be refused on the
// request alone (bad command, flags, table, instructions, actions that do
// not fit the match), and one spelling for what several spellings mean.
// Nothing here looks at installed flows, groups, meters or ports.

// CheckFlowMod validates a flow-mod and returns a copy in the form a flow
// table should take it:
//
//   - the match canonical ([Match.Canonical]);
//   - actions normalized ([NormalizeActions]) in every instruction;
//   - OpenFlow 1.0 emergency flows, unknown flags, unknown commands, table
//     0xff for adds, goto_table backwards or to 0xff, experimenter
//     instructions and actions refused with their OpenFlow errors;
//   - set_field, pop_vlan, dec_ttl … checked against the match's
//     prerequisites (OFPBAC_MATCH_INCONSISTENT).
func CheckFlowMod(fm *FlowMod) (*FlowMod, error) {
	out := *fm
	switch fm.Command {
	case FlowAdd, FlowModify, FlowModifyStrict, FlowDelete, FlowDeleteStrict:
	default:
		return nil, Errorf(ErrFlowModFailed, FlowModFailedBadCommand, "command %d (0 add, 1 modify, 2 modify_strict, 3 delete, 4 delete_strict)", fm.Command)
	}
	if fm.Version == Version10 && fm.Flags&FlowFlagEmerg10 != 0 {
		return nil, Errorf(ErrFlowModFailed, FlowModFailedBadFlags, "OFPFF_EMERG: emergency flows are not supported")
	}
	allowed := flowFlags13
	if fm.Version == Version10 {
		allowed = FlowFlagSendFlowRem | FlowFlagCheckOverlap
	}
	if fm.Flags&^allowed != 0 {
		return nil, Errorf(ErrFlowModFailed, FlowModFailedBadFlags, "flags 0x%x: unknown bits 0x%x (send_flow_rem, check_overlap, reset_counts, no_pkt_counts, no_byt_counts)", fm.Flags, fm.Flags&^allowed)
	}
	adding := fm.Command == FlowAdd || fm.Command == FlowModify || fm.Command == FlowModifyStrict
	if fm.Version == Version10 && fm.Command == FlowAdd && fm.TableID == TableAll {
		// OpenFlow 1.0 (and flow_mod_table_id with table 0xff) lets the
		// switch choose: table 0, as Open vSwitch does.
		out.TableID = 0
	} else if fm.Command == FlowAdd && fm.TableID == TableAll {
		return nil, Errorf(ErrFlowModFailed, FlowModFailedBadTableID, "table 0xff (all tables) cannot be the table of an added flow (0 to 254)")
	}
	m, err := fm.Match.Canonical()
	if err != nil {
		return nil, err
	}
	out.Match = m
	if !adding {
		// Delete ignores instructions.
		return &out, nil
	}
	insts, err := CheckInstructions(fm.Instructions, &m, out.TableID)
	if err != nil {
		return nil, err
	}
	out.Instructions = insts
	return &out, nil
}

// CheckInstructions validates instructions of a flow in table (TableAll:
// any) against its canonical match and normalizes their actions.
func CheckInstructions(insts []Instruction, m *Match, table uint8) ([]Instruction, error) {
	out := make([]Instruction, 0, len(insts))
	var seen [8]bool
	st := matchState(m)
	// The action set is applied after apply-actions: write-actions are
	// checked in the state apply-actions leave.
	var apply, write []Action
	var haveApply, haveWrite bool
	for _, in := range insts {
		var typ int
		switch x := in.(type) {
		case InstGotoTable:
			typ = itGotoTable
			if x.TableID == TableAll || (table != TableAll && x.TableID <= table) {
				return nil, Errorf(ErrBadInstruction, BadInstructionBadTableID, "goto_table:%d from table %d (a later table, at most 254)", x.TableID, table)
			}
		case InstWriteMetadata:
			typ = itWriteMetadata
			if x.Metadata&^x.Mask != 0 {
				return nil, Errorf(ErrBadInstruction, BadInstructionUnsupMetadata, "write_metadata 0x%x has bits outside its mask 0x%x", x.Metadata, x.Mask)
			}
		case InstWriteActions:
			typ, write, haveWrite = itWriteActions, x.Actions, true
		case InstApplyActions:
			typ, apply, haveApply = itApplyActions, x.Actions, true
		case InstClearActions:
			typ = itClearActions
		case InstMeter:
			typ = itMeter
			if x.MeterID == 0 || (x.MeterID > MeterMax && x.MeterID != MeterSlowpath && x.MeterID != MeterController) {
				return nil, Errorf(ErrMeterModFailed, MeterModFailedInvalidMeter, "meter %d (1 to 0x%x)", x.MeterID, MeterMax)
			}
		case InstExperimenter:
			return nil, Errorf(ErrBadInstruction, BadInstructionBadExperimenter, "experimenter instruction 0x%08x is not supported", x.Experimenter)
		default:
			return nil, Errorf(ErrBadInstruction, BadInstructionUnknownInst, "instruction %T", in)
		}
		if seen[typ] {
			return nil, Errorf(ErrBadInstruction, BadInstructionDupInst, "%T appears twice", in)
		}
		seen[typ] = true
		out = append(out, in)
	}
	if haveApply {
		for i, in := range out {
			if _, ok := in.(InstApplyActions); ok {
				acts, err := normalizeChecked(apply, &st)
				if err != nil {
					return nil, err
				}
				out[i] = InstApplyActions{Actions: acts}
			}
		}
	}
	if haveWrite {
		for i, in := range out {
			if _, ok := in.(InstWriteActions); ok {
				acts, err := normalizeChecked(write, &st)
				if err != nil {
					return nil, err
				}
				out[i] = InstWriteActions{Actions: acts}
			}
		}
	}
	return out, nil
}

// NormalizeActions validates actions against a canonical match (nil: no
// match, prerequisites are not checked, as for group buckets) and rewrites Nicira and OpenFlow 1.0
// spellings into one vocabulary:
//
//   - load (NXAST_REG_LOAD) and set_tunnel(64) become ActionSetField, with
//     a mask when only some bits are written;
//   - enqueue becomes set_queue then output;
//   - OpenFlow 1.0 mod_tp_src/dst becomes set_field of the match's L4
//     protocol;
//   - controller(…) with no reason, id, userdata or pause becomes
//     output:CONTROLLER;
//   - set_field and move headers are spelled canonically.
//
// Experimenter actions this codec does not know are refused
// (OFPBAC_BAD_EXPERIMENTER / OFPBAC_BAD_EXP_TYPE).
func NormalizeActions(acts []Action, m *Match) ([]Action, error) {
	if m == nil {
		return normalizeChecked(acts, nil)
	}
	st := matchState(m)
	return normalizeChecked(acts, &st)
}

// has is ok for a known state; a nil state (prerequisites unknown) passes
// every check.
func (s *prereqState) has(p prereq) bool { return s == nil || s.ok(p) }

func matchState(m *Match) prereqState {
	var st prereqState
	if m == nil {
		return st
	}
	for _, o := range m.Fields {
		if o.Mask != nil && o.ID() != FieldVLANVID {
			continue
		}
		st.add(o.ID(), o)
	}
	return st
}

func inconsistent(what string, p prereq) error {
	return Errorf(ErrBadAction, BadActionMatchInconsistent, "%s needs %s in the match", what, prereqText[p])
}

func normalizeChecked(acts []Action, st *prereqState) ([]Action, error) {
	setVLAN := func(v bool) {
		if st != nil {
			st.vlanPresent = v
		}
	}
	out := make([]Action, 0, len(acts))
	for _, a := range acts {
		switch x := a.(type) {
		case ActionOutput:
			if x.Port == 0 || (x.Port > PortMax && x.Port < PortInPort) || x.Port == PortAny {
				return nil, Errorf(ErrBadAction, BadActionBadOutPort, "output:%d (1 to 0x%x or a reserved port IN_PORT, TABLE, NORMAL, FLOOD, ALL, CONTROLLER, LOCAL)", x.Port, PortMax)
			}
			out = append(out, x)
		case ActionEnqueue:
			out = append(out, ActionSetQueue{QueueID: x.QueueID}, ActionOutput{Port: x.Port})
		case ActionGroup:
			if x.GroupID > GroupMax {
				return nil, Errorf(ErrBadAction, BadActionBadOutGroup, "group:%d (0 to 0x%x)", x.GroupID, GroupMax)
			}
			out = append(out, x)
		case ActionSetField:
			sf, err := canonSetField(x.Field, st)
			if err != nil {
				return nil, err
			}
			out = append(out, sf)
		case ActionRegLoad:
			o, err := loadToSetField(x)
			if err != nil {
				return nil, err
			}
			sf, err := canonSetField(o, st)
			if err != nil {
				return nil, err
			}
			out = append(out, sf)
		case ActionSetTunnel:
			out = append(out, ActionSetField{Field: OXMUint(FieldTunnelID, x.TunID)})
		case ActionSetL4Port:
			var f FieldID
			switch {
			case st.has(preTCP):
				f = FieldTCPSrc
			case st.has(preUDP):
				f = FieldUDPSrc
			case st.has(preSCTP):
				f = FieldSCTPSrc
			default:
				return nil, inconsistent("mod_tp_src/mod_tp_dst", preTCP)
			}
			if x.Dst {
				f++
			}
			out = append(out, ActionSetField{Field: OXMUint(f, uint64(x.Port))})
		case ActionPushVLAN:
			setVLAN(true)
			out = append(out, x)
		case ActionPopVLAN:
			if !st.has(preVLAN) {
				return nil, inconsistent("pop_vlan", preVLAN)
			}
			setVLAN(false)
			out = append(out, x)
		case ActionSetVLANVID, ActionSetVLANPCP:
			setVLAN(true)
			out = append(out, x)
		case ActionPushMPLS:
			if st != nil {
				st.ethType, st.haveEthType = x.EtherType, true
				st.haveIPProto = false
			}
			out = append(out, x)
		case ActionPopMPLS:
			if !st.has(preMPLS) {
				return nil, inconsistent("pop_mpls", preMPLS)
			}
			if st != nil {
				st.ethType, st.haveEthType = x.EtherType, true
			}
			out = append(out, x)
		case ActionSetMPLSTTL, ActionDecMPLSTTL:
			if !st.has(preMPLS) {
				return nil, inconsistent(a.String(), preMPLS)
			}
			out = append(out, x)
		case ActionSetNWTTL, ActionDecNWTTL, ActionDecTTLCntIDs:
			if !st.has(preIP) {
				return nil, inconsistent(a.String(), preIP)
			}
			out = append(out, x)
		case ActionController:
			if !x.V2 && x.Reason == ReasonAction && x.ControllerID == 0 {
				out = append(out, ActionOutput{Port: PortController, MaxLen: x.MaxLen})
				continue
			}
			out = append(out, x)
		case ActionRegMove:
			x.Src, x.Dst = canonRef(x.Src), canonRef(x.Dst)
			if readOnly[x.Dst.ID()] {
				return nil, Errorf(ErrBadAction, BadActionBadSetType, "move into %s: the field is read-only", x.Dst)
			}
			out = append(out, x)
		case ActionOutputReg:
			x.Src = canonRef(x.Src)
			out = append(out, x)
		case ActionExperimenter:
			if x.Experimenter == ExperimenterNicira {
				sub := uint16(0)
				if len(x.Data) >= 2 {
					sub = be.Uint16(x.Data)
				}
				return nil, Errorf(ErrBadAction, BadActionBadExpType, "Nicira action subtype %d is not supported (resubmit, load, move, set_tunnel, note, controller, dec_ttl, output_reg, write_metadata, exit are)", sub)
			}
			return nil, Errorf(ErrBadAction, BadActionBadExperimenter, "experimenter 0x%08x actions are not supported", x.Experimenter)
		default:
			out = append(out, a)
		}
	}
	return out, nil
}

// canonRef spells a field reference by its canonical header where the
// canonical field has the same width (NXM_OF_ETH_SRC → eth_src).
func canonRef(r FieldRef) FieldRef {
	d := lookupField(r.Class, r.Field, r.Experimenter)
	if d == nil || canon[d.id] == nil || canon[d.id].length != d.length || d.id >= FieldInPort16 {
		return r
	}
	c := RefOf(d.id)
	return c
}

// canonSetField validates a set_field (possibly masked) against the
// prerequisites known to hold and spells it canonically.
func canonSetField(o OXM, st *prereqState) (ActionSetField, error) {
	if err := checkSetField(o); err != nil {
		return ActionSetField{}, err
	}
	d := lookupField(o.Class, o.Field, o.Experimenter)
	if d.id >= FieldInPort16 && d.id < FieldReg0 {
		return ActionSetField{}, Errorf(ErrBadAction, BadActionBadSetType, "set_field of %s is not supported", d.name)
	}
	if !st.has(d.pre) {
		return ActionSetField{}, inconsistent("set_field of "+d.name, d.pre)
	}
	if o.Mask != nil {
		for i := range o.Mask {
			o.Value[i] &= o.Mask[i]
		}
		if allOnes(o.Mask) {
			o.Mask = nil
		}
	}
	if o.Mask != nil && allZero(o.Mask) {
		return ActionSetField{}, Errorf(ErrBadAction, BadActionBadSetArgument, "load into %s writes no bits", d.name)
	}
	if d.id >= FieldXReg0 || d.id == FieldInPort16 || d.id == FieldVLANTCI || d.id == FieldIPTOS {
		// Wire-only spellings keep their header.
		return ActionSetField{Field: o}, nil
	}
	c := canon[d.id]
	o.Class, o.Field, o.Experimenter = c.class, c.field, c.exp
	return ActionSetField{Field: o}, nil
}

// loadToSetField turns NXAST_REG_LOAD into a masked set-field.
func loadToSetField(x ActionRegLoad) (OXM, error) {
	d := lookupField(x.Dst.Class, x.Dst.Field, x.Dst.Experimenter)
	if d == nil {
		return OXM{}, Errorf(ErrBadAction, BadActionBadSetType, "load into unknown field %s", x.Dst)
	}
	if x.NBits == 0 || int(x.Ofs)+int(x.NBits) > 8*d.length {
		return OXM{}, Errorf(ErrBadAction, BadActionBadSetLen, "load: bits %d..%d are outside %s (%d bits)", x.Ofs, int(x.Ofs)+int(x.NBits)-1, d.name, 8*d.length)
	}
	v := make([]byte, d.length)
	mask := make([]byte, d.length)
	for i := 0; i < int(x.NBits); i++ {
		bit := int(x.Ofs) + i
		byteAt, shift := d.length-1-bit/8, uint(bit%8)
		mask[byteAt] |= 1 << shift
		if i < 64 && x.Value>>uint(i)&1 != 0 {
			v[byteAt] |= 1 << shift
		}
	}
	return OXM{Class: d.class, Field: d.field, Experimenter: d.exp, Value: v, Mask: mask}, nil
}

// CheckGroupMod validates a group-mod on its own: command, type, group id,
// bucket weights and watches for the type, and normalizes bucket actions.
func CheckGroupMod(gm *GroupMod) (*GroupMod, error) {
	out := *gm
	switch gm.Command {
	case GroupAdd, GroupModify, GroupDelete:
	default:
		return nil, Errorf(ErrGroupModFailed, GroupModFailedBadCommand, "command %d (0 add, 1 modify, 2 delete)", gm.Command)
	}
	if gm.Command == GroupDelete {
		if gm.GroupID > GroupMax && gm.GroupID != GroupAll {
			return nil, Errorf(ErrGroupModFailed, GroupModFailedInvalidGroup, "group %d (0 to 0x%x, or ALL)", gm.GroupID, GroupMax)
		}
		out.Buckets = nil
		return &out, nil
	}
	if gm.GroupID > GroupMax {
		return nil, Errorf(ErrGroupModFailed, GroupModFailedInvalidGroup, "group %d (0 to 0x%x)", gm.GroupID, GroupMax)
	}
	switch gm.GroupType {
	case GroupTypeAll, GroupTypeSelect, GroupTypeIndirect, GroupTypeFastFailover:
	default:
		return nil, Errorf(ErrGroupModFailed, GroupModFailedBadType, "group type %d (0 all, 1 select, 2 indirect, 3 fast_failover)", gm.GroupType)
	}
	if gm.GroupType == GroupTypeIndirect && len(gm.Buckets) != 1 {
		return nil, Errorf(ErrGroupModFailed, GroupModFailedBadBucket, "an indirect group has exactly one bucket, not %d", len(gm.Buckets))
	}
	out.Buckets = make([]Bucket, len(gm.Buckets))
	for i, b := range gm.Buckets {
		if gm.GroupType != GroupTypeSelect && b.Weight != 0 {
			return nil, Errorf(ErrGroupModFailed, GroupModFailedBadBucket, "bucket %d: weight %d outside a select group", i, b.Weight)
		}
		if gm.GroupType == GroupTypeFastFailover && b.WatchPort == PortAny && b.WatchGroup == GroupAny {
			return nil, Errorf(ErrGroupModFailed, GroupModFailedBadWatch, "bucket %d of a fast_failover group watches neither a port nor a group", i)
		}
		if b.WatchGroup != GroupAny && b.WatchGroup == gm.GroupID {
			return nil, Errorf(ErrGroupModFailed, GroupModFailedLoop, "bucket %d watches its own group %d", i, gm.GroupID)
		}
		acts, err := NormalizeActions(b.Actions, nil)
		if err != nil {
			return nil, err
		}
		for _, a := range acts {
			if g, ok := a.(ActionGroup); ok && g.GroupID == gm.GroupID {
				return nil, Errorf(ErrGroupModFailed, GroupModFailedLoop, "bucket %d forwards to its own group %d", i, gm.GroupID)
			}
		}
		b.Actions = acts
		out.Buckets[i] = b
	}
	return &out, nil
}

// CheckMeterMod validates a meter-mod on its own: command, meter id, flags
// and bands.
func CheckMeterMod(mm *MeterMod) error {
	switch mm.Command {
	case MeterAdd, MeterModify, MeterDelete:
	default:
		return Errorf(ErrMeterModFailed, MeterModFailedBadCommand, "command %d (0 add, 1 modify, 2 delete)", mm.Command)
	}
	if mm.MeterID == 0 || (mm.MeterID > MeterMax && !(mm.Command == MeterDelete && mm.MeterID == MeterAll) && mm.MeterID != MeterSlowpath && mm.MeterID != MeterController) {
		return Errorf(ErrMeterModFailed, MeterModFailedInvalidMeter, "meter %d (1 to 0x%x)", mm.MeterID, MeterMax)
	}
	if mm.Command == MeterDelete {
		return nil
	}
	if mm.Flags&^(MeterFlagKbps|MeterFlagPktps|MeterFlagBurst|MeterFlagStats) != 0 {
		return Errorf(ErrMeterModFailed, MeterModFailedBadFlags, "flags 0x%x: unknown bits (kbps, pktps, burst, stats)", mm.Flags)
	}
	if (mm.Flags&MeterFlagKbps != 0) == (mm.Flags&MeterFlagPktps != 0) {
		return Errorf(ErrMeterModFailed, MeterModFailedBadFlags, "flags 0x%x: exactly one of kbps and pktps", mm.Flags)
	}
	for i, b := range mm.Bands {
		if b.Rate == 0 {
			return Errorf(ErrMeterModFailed, MeterModFailedBadRate, "band %d: rate 0", i)
		}
		if mm.Flags&MeterFlagBurst == 0 && b.BurstSize != 0 {
			return Errorf(ErrMeterModFailed, MeterModFailedBadBurst, "band %d: burst_size %d without the burst flag", i, b.BurstSize)
		}
		if b.BandType == MeterBandDSCPRemark && b.PrecLevel == 0 {
			return Errorf(ErrMeterModFailed, MeterModFailedBadBandValue, "band %d: dscp_remark with prec_level 0", i)
		}
	}
	return nil
}

// CheckPacketOut validates a packet-out and normalizes its actions. Data
// must be given (no buffers), and in_port must be a port, LOCAL, CONTROLLER
// or ANY (OpenFlow 1.0 NONE).
func CheckPacketOut(po *PacketOut) (*PacketOut, error) {
	out := *po
	if po.BufferID != NoBuffer {
		return nil, Errorf(ErrBadRequest, BadRequestBufferUnknown, "buffer %d: the switch keeps no buffers (n_buffers 0), send the packet data", po.BufferID)
	}
	if po.InPort == 0 || (po.InPort > PortMax && po.InPort != PortLocal && po.InPort != PortController && po.InPort != PortAny) {
		return nil, Errorf(ErrBadRequest, BadRequestBadPort, "in_port %d (a port, LOCAL, CONTROLLER or ANY)", po.InPort)
	}
	if len(po.Data) < 14 {
		return nil, Errorf(ErrBadRequest, BadRequestBadPacket, "packet of %d bytes is shorter than an Ethernet header", len(po.Data))
	}
	st := packetState(po.Data)
	acts, err := normalizeChecked(po.Actions, &st)
	if err != nil {
		return nil, err
	}
	out.Actions = acts
	return &out, nil
}

// packetState reads what prerequisites a frame meets: its VLAN tag, its
// EtherType and IP protocol.
func packetState(b []byte) prereqState {
	var st prereqState
	if len(b) < 14 {
		return st
	}
	et, off := be.Uint16(b[12:]), 14
	for (et == 0x8100 || et == 0x88a8) && len(b) >= off+4 {
		st.vlanPresent = true
		et, off = be.Uint16(b[off+2:]), off+4
	}
	st.ethType, st.haveEthType = et, true
	switch {
	case et == 0x0800 && len(b) >= off+20:
		st.ipProto, st.haveIPProto = b[off+9], true
	case et == 0x86dd && len(b) >= off+40:
		st.ipProto, st.haveIPProto = b[off+6], true
		if st.ipProto == 58 && len(b) >= off+41 {
			st.icmpv6Type, st.haveICMPv6 = b[off+40], true
		}
	}
	return st
}
