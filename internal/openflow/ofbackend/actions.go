package ofbackend

import (
	dp "github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
)

// segment is a run of bits of an OpenFlow field reference that lives in one
// engine field: bits [start, start+n) of the reference are bits
// [0, n) of engine field f.
type segment struct {
	f        dp.Field
	start, n int
}

// segments returns where a field (as a move, load or output_reg names it)
// lives in the engine: one segment for most fields; NXM_OF_VLAN_TCI is
// vlan_vid (VID and the present bit) and vlan_pcp, NXM_OF_IP_TOS is ip_ecn
// and ip_dscp, xreg and xxreg are the registers they are made of (most
// significant first).
func segments(id ofp.FieldID) ([]segment, bool) {
	switch {
	case id == ofp.FieldVLANTCI:
		return []segment{{dp.FieldVLANVID, 0, 13}, {dp.FieldVLANPCP, 13, 3}}, true
	case id == ofp.FieldIPTOS:
		return []segment{{dp.FieldIPECN, 0, 2}, {dp.FieldIPDSCP, 2, 6}}, true
	case id == ofp.FieldInPort16:
		return []segment{{dp.FieldInPort, 0, 16}}, true
	case id >= ofp.FieldXReg0 && id <= ofp.FieldXReg7:
		r := dp.FieldReg0 + dp.Field(2*(id-ofp.FieldXReg0))
		return []segment{{r + 1, 0, 32}, {r, 32, 32}}, true
	case id >= ofp.FieldXXReg0 && id <= ofp.FieldXXReg3:
		r := dp.FieldReg0 + dp.Field(4*(id-ofp.FieldXXReg0))
		return []segment{{r + 3, 0, 32}, {r + 2, 32, 32}, {r + 1, 64, 32}, {r, 96, 32}}, true
	}
	f, ok := engineField(id)
	if !ok {
		return nil, false
	}
	return []segment{{f, 0, int(f.Info().Bits)}}, true
}

func segAt(segs []segment, bit int) (segment, bool) {
	for _, s := range segs {
		if bit >= s.start && bit < s.start+s.n {
			return s, true
		}
	}
	return segment{}, false
}

func badSet(format string, a ...any) error {
	return ofp.Errorf(ofp.ErrBadAction, ofp.BadActionBadSetType, format, a...)
}

func unsupported(a ofp.Action) error {
	return ofp.Errorf(ofp.ErrBadAction, ofp.BadActionBadType, "%s is not supported (no MPLS, PBB or TTL copies)", a)
}

// moves splits a Nicira move into engine moves, one per run of bits that
// stays in one engine field on both sides and within 64 bits.
func moves(x ofp.ActionRegMove) ([]dp.Action, error) {
	ss, ok := segments(x.Src.ID())
	if !ok {
		return nil, badSet("move from %s: Switchyard has no such field", x.Src)
	}
	ds, ok := segments(x.Dst.ID())
	if !ok {
		return nil, badSet("move into %s: Switchyard has no such field", x.Dst)
	}
	n := int(x.NBits)
	if n == 0 {
		return nil, ofp.Errorf(ofp.ErrBadAction, ofp.BadActionBadSetLen, "move of 0 bits")
	}
	// A whole 128-bit field into another.
	if len(ss) == 1 && len(ds) == 1 && ss[0].n == 128 && ds[0].n == 128 && n == 128 && x.SrcOfs == 0 && x.DstOfs == 0 {
		return []dp.Action{{Kind: dp.ActMove, Src: ss[0].f, Field: ds[0].f, NBits: 128}}, nil
	}
	var out []dp.Action
	for i := 0; i < n; {
		sb, db := int(x.SrcOfs)+i, int(x.DstOfs)+i
		s, ok1 := segAt(ss, sb)
		d, ok2 := segAt(ds, db)
		if !ok1 || !ok2 {
			return nil, ofp.Errorf(ofp.ErrBadAction, ofp.BadActionBadSetLen, "move:%s[%d..%d]->%s[%d..%d]: bits outside the fields", x.Src, x.SrcOfs, int(x.SrcOfs)+n-1, x.Dst, x.DstOfs, int(x.DstOfs)+n-1)
		}
		so, do := sb-s.start, db-d.start
		c := min(n-i, s.start+s.n-sb, d.start+d.n-db, 64-so%64, 64-do%64)
		out = append(out, dp.Action{Kind: dp.ActMove, Src: s.f, SrcOfs: uint8(so), Field: d.f, DstOfs: uint8(do), NBits: uint8(c)})
		i += c
	}
	return out, nil
}

// setFields converts a (possibly masked) set-field into engine actions.
func setFields(o ofp.OXM, pm PortMap) ([]dp.Action, error) {
	id := o.ID()
	v := value(o.Value)
	full := o.Mask == nil
	var m dp.Value
	if !full {
		m = value(o.Mask)
	}
	set := func(f dp.Field, val, mask dp.Value, push bool) dp.Action {
		return dp.Action{Kind: dp.ActSetField, Field: f, Value: val.And(mask), Mask: mask, PushVLAN: push}
	}
	maskOf := func(f dp.Field) dp.Value {
		if full {
			return f.FullMask()
		}
		return m.And(f.FullMask())
	}
	switch {
	case id == ofp.FieldVLANTCI:
		tci, tm := v.Lo, uint64(0xffff)
		if !full {
			tm = m.Lo
		}
		if tm&0x1000 != 0 && tci&0x1000 == 0 {
			return []dp.Action{{Kind: dp.ActPopVLAN}}, nil // CFI cleared: no tag
		}
		push := tm&0x1000 != 0
		var out []dp.Action
		if tm&0xfff != 0 {
			out = append(out, set(dp.FieldVLANVID, dp.Value{Lo: tci&0xfff | 0x1000}, dp.Value{Lo: tm & 0xfff}, push))
		}
		if tm>>13 != 0 {
			out = append(out, set(dp.FieldVLANPCP, dp.Value{Lo: tci >> 13}, dp.Value{Lo: tm >> 13}, push))
		}
		if len(out) == 0 && push {
			out = append(out, set(dp.FieldVLANVID, dp.Value{Lo: 0x1000}, dp.Value{Lo: 0}, true))
		}
		return out, nil
	case id == ofp.FieldIPTOS:
		tos, tm := v.Lo, uint64(0xff)
		if !full {
			tm = m.Lo
		}
		var out []dp.Action
		if tm>>2 != 0 {
			out = append(out, set(dp.FieldIPDSCP, dp.Value{Lo: tos >> 2}, dp.Value{Lo: tm >> 2}, false))
		}
		if tm&3 != 0 {
			out = append(out, set(dp.FieldIPECN, dp.Value{Lo: tos & 3}, dp.Value{Lo: tm & 3}, false))
		}
		return out, nil
	case id == ofp.FieldInPort || id == ofp.FieldInPort16:
		return nil, badSet("in_port cannot be written")
	case id >= ofp.FieldXReg0 && id <= ofp.FieldXReg7 || id >= ofp.FieldXXReg0 && id <= ofp.FieldXXReg3:
		segs, _ := segments(id)
		var out []dp.Action
		for _, s := range segs {
			bv := shiftDown(v, s.start) & 0xffffffff
			bm := uint64(0xffffffff)
			if !full {
				bm = shiftDown(m, s.start) & 0xffffffff
			}
			if bm != 0 {
				out = append(out, set(s.f, dp.Value{Lo: bv}, dp.Value{Lo: bm}, false))
			}
		}
		return out, nil
	}
	f, ok := engineField(id)
	if !ok || !f.Info().Writable {
		return nil, badSet("set_field of %s is not supported", o.Name())
	}
	return []dp.Action{set(f, v, maskOf(f), false)}, nil
}

func shiftDown(v dp.Value, n int) uint64 {
	switch {
	case n == 0:
		return v.Lo
	case n >= 64:
		return v.Hi >> (n - 64)
	}
	return v.Lo>>n | v.Hi<<(64-n)
}

// Actions converts normalized OpenFlow actions (ofp.NormalizeActions) into
// the engine's.
func Actions(acts []ofp.Action, pm PortMap) ([]dp.Action, error) {
	out := make([]dp.Action, 0, len(acts))
	for _, a := range acts {
		switch x := a.(type) {
		case ofp.ActionOutput:
			a := dp.Action{Kind: dp.ActOutput, Port: pm.ToEngine(x.Port)}
			if x.Port == ofp.PortController {
				a.MaxLen = x.MaxLen // meaningless for other ports
			}
			out = append(out, a)
		case ofp.ActionGroup:
			out = append(out, dp.Action{Kind: dp.ActGroup, ID: x.GroupID})
		case ofp.ActionSetQueue:
			out = append(out, dp.Action{Kind: dp.ActSetQueue, ID: x.QueueID})
		case ofp.ActionEnqueue:
			out = append(out, dp.Action{Kind: dp.ActSetQueue, ID: x.QueueID}, dp.Action{Kind: dp.ActOutput, Port: pm.ToEngine(x.Port)})
		case ofp.ActionSetNWTTL:
			out = append(out, dp.Action{Kind: dp.ActSetField, Field: dp.FieldIPTTL, Value: dp.Value{Lo: uint64(x.TTL)}, Mask: dp.FieldIPTTL.FullMask()})
		case ofp.ActionDecNWTTL, ofp.ActionDecTTLCntIDs:
			out = append(out, dp.Action{Kind: dp.ActDecTTL})
		case ofp.ActionPushVLAN:
			out = append(out, dp.Action{Kind: dp.ActPushVLAN, EtherType: x.EtherType})
		case ofp.ActionPopVLAN:
			out = append(out, dp.Action{Kind: dp.ActPopVLAN})
		case ofp.ActionSetVLANVID:
			out = append(out, dp.Action{Kind: dp.ActSetField, Field: dp.FieldVLANVID, Value: dp.Value{Lo: uint64(x.VID&0xfff) | 0x1000}, Mask: dp.FieldVLANVID.FullMask(), PushVLAN: true})
		case ofp.ActionSetVLANPCP:
			out = append(out, dp.Action{Kind: dp.ActSetField, Field: dp.FieldVLANPCP, Value: dp.Value{Lo: uint64(x.PCP & 7)}, Mask: dp.FieldVLANPCP.FullMask(), PushVLAN: true})
		case ofp.ActionSetField:
			l, err := setFields(x.Field, pm)
			if err != nil {
				return nil, err
			}
			out = append(out, l...)
		case ofp.ActionRegLoad:
			// CheckFlowMod turns loads into set-fields; this is for
			// callers that did not.
			return nil, ofp.Errorf(ofp.ErrBadAction, ofp.BadActionBadType, "load must be normalized to set_field first")
		case ofp.ActionSetTunnel:
			out = append(out, dp.Action{Kind: dp.ActSetField, Field: dp.FieldTunID, Value: dp.Value{Lo: x.TunID}, Mask: dp.FieldTunID.FullMask()})
		case ofp.ActionRegMove:
			l, err := moves(x)
			if err != nil {
				return nil, err
			}
			out = append(out, l...)
		case ofp.ActionResubmit:
			in := x.InPort
			if in != ofp.PortInPort {
				in = pm.ToEngine(in)
			}
			t := uint8(dp.TableAll)
			if x.WithTable {
				t = x.Table
			}
			out = append(out, dp.Action{Kind: dp.ActResubmit, Port: in, Table: t})
		case ofp.ActionController:
			if x.Pause {
				return nil, ofp.Errorf(ofp.ErrBadAction, ofp.BadActionBadArgument, "controller(pause): continuations are not supported")
			}
			if x.MeterID != 0 {
				return nil, ofp.Errorf(ofp.ErrBadAction, ofp.BadActionBadArgument, "controller(meter_id=%d): per-action controller meters are not supported (the bridge's packet-in rate applies)", x.MeterID)
			}
			if x.Reason == ofp.ReasonAction && x.ControllerID == 0 && len(x.Userdata) == 0 {
				out = append(out, dp.Action{Kind: dp.ActOutput, Port: dp.PortController, MaxLen: x.MaxLen})
				continue
			}
			out = append(out, dp.Action{Kind: dp.ActController, MaxLen: x.MaxLen, Reason: x.Reason, ControllerID: x.ControllerID, Userdata: string(x.Userdata)})
		case ofp.ActionOutputReg:
			segs, ok := segments(x.Src.ID())
			if !ok {
				return nil, ofp.Errorf(ofp.ErrBadAction, ofp.BadActionBadArgument, "output from %s: no such field", x.Src)
			}
			s, ok := segAt(segs, int(x.Ofs))
			if !ok || int(x.Ofs)+int(x.NBits) > s.start+s.n || x.NBits == 0 || x.NBits > 32 {
				return nil, ofp.Errorf(ofp.ErrBadAction, ofp.BadActionBadArgument, "output:%s[%d..%d]: the bits must lie in one field, at most 32", x.Src, x.Ofs, int(x.Ofs)+int(x.NBits)-1)
			}
			out = append(out, dp.Action{Kind: dp.ActOutputReg, Src: s.f, SrcOfs: uint8(int(x.Ofs) - s.start), NBits: uint8(x.NBits), MaxLen: x.MaxLen})
		case ofp.ActionWriteMetadata:
			out = append(out, dp.Action{Kind: dp.ActSetField, Field: dp.FieldMetadata, Value: dp.Value{Lo: x.Metadata & x.Mask}, Mask: dp.Value{Lo: x.Mask}})
		case ofp.ActionExit:
			out = append(out, dp.Action{Kind: dp.ActExit})
		case ofp.ActionNote, ofp.ActionPopQueue:
			// No effect on the packet (queues arrive with QoS).
		case ofp.ActionSetL4Port:
			return nil, ofp.Errorf(ofp.ErrBadAction, ofp.BadActionBadType, "mod_tp_src/dst must be normalized to set_field first")
		case ofp.ActionExperimenter:
			return nil, ofp.Errorf(ofp.ErrBadAction, ofp.BadActionBadExperimenter, "experimenter action 0x%08x is not supported", x.Experimenter)
		default:
			return nil, unsupported(a)
		}
	}
	if len(out) == 0 {
		return nil, nil // an empty list is no list
	}
	if len(out) > ofp.MaxActions {
		return nil, ofp.Errorf(ofp.ErrBadAction, ofp.BadActionTooMany, "%d actions, at most %d", len(out), ofp.MaxActions)
	}
	return out, nil // the engine validates the actions where they are used
}

// refOf is the canonical field reference of an engine field.
func refOf(f dp.Field, c matchCtx) ofp.FieldRef { return ofp.RefOf(ofField(f, c)) }

// ActionsToOF converts engine actions into OpenFlow actions (c: the rule's
// match, for the names of shared fields).
func ActionsToOF(acts []dp.Action, pm PortMap, m *dp.Match) []ofp.Action {
	c := matchCtx{}
	if m != nil {
		c = ctxOf(m)
	}
	out := make([]ofp.Action, 0, len(acts))
	for _, a := range acts {
		switch a.Kind {
		case dp.ActOutput:
			if a.Port == dp.PortController {
				out = append(out, ofp.ActionOutput{Port: ofp.PortController, MaxLen: a.MaxLen})
			} else {
				out = append(out, ofp.ActionOutput{Port: pm.ToOF(a.Port)})
			}
		case dp.ActController:
			if a.Reason == dp.PacketInAction && a.ControllerID == 0 && a.Userdata == "" {
				out = append(out, ofp.ActionOutput{Port: ofp.PortController, MaxLen: a.MaxLen})
			} else {
				ac := ofp.ActionController{MaxLen: a.MaxLen, Reason: a.Reason, ControllerID: a.ControllerID}
				if a.Userdata != "" {
					ac.V2, ac.Userdata = true, []byte(a.Userdata)
				}
				out = append(out, ac)
			}
		case dp.ActGroup:
			out = append(out, ofp.ActionGroup{GroupID: a.ID})
		case dp.ActSetQueue:
			out = append(out, ofp.ActionSetQueue{QueueID: a.ID})
		case dp.ActPushVLAN:
			out = append(out, ofp.ActionPushVLAN{EtherType: a.EtherType})
		case dp.ActPopVLAN:
			out = append(out, ofp.ActionPopVLAN{})
		case dp.ActDecTTL:
			out = append(out, ofp.ActionDecNWTTL{})
		case dp.ActSetField:
			out = append(out, setFieldToOF(a, c))
		case dp.ActMove:
			n := uint16(a.NBits)
			out = append(out, ofp.ActionRegMove{Src: refOf(a.Src, c), Dst: refOf(a.Field, c), NBits: n, SrcOfs: uint16(a.SrcOfs), DstOfs: uint16(a.DstOfs)})
		case dp.ActResubmit:
			in := a.Port
			if in != dp.PortInPort {
				in = pm.ToOF(in)
			}
			out = append(out, ofp.ActionResubmit{InPort: in, Table: a.Table, WithTable: a.Table != dp.TableAll})
		case dp.ActOutputReg:
			out = append(out, ofp.ActionOutputReg{Src: refOf(a.Src, c), Ofs: uint16(a.SrcOfs), NBits: uint16(a.NBits), MaxLen: a.MaxLen})
		case dp.ActExit:
			out = append(out, ofp.ActionExit{})
		}
	}
	return out
}

func setFieldToOF(a dp.Action, c matchCtx) ofp.Action {
	f := a.Field
	full := a.Mask == f.FullMask() || a.Mask.IsZero()
	switch {
	case f == dp.FieldVLANVID && a.PushVLAN && full:
		return ofp.ActionSetVLANVID{VID: uint16(a.Value.Lo & 0xfff)}
	case f == dp.FieldVLANPCP && a.PushVLAN && full:
		return ofp.ActionSetVLANPCP{PCP: uint8(a.Value.Lo & 7)}
	case f == dp.FieldMetadata && !full:
		return ofp.ActionWriteMetadata{Metadata: a.Value.Lo, Mask: a.Mask.Lo}
	}
	id := ofField(f, c)
	n := id.Len()
	v := a.Value
	if f == dp.FieldVLANVID {
		v.Lo |= 0x1000 // OFPVID_PRESENT
	}
	o := ofp.NewOXM(id, bytesOf(v, n), nil)
	if !full {
		o.Mask = bytesOf(a.Mask, n)
	}
	return ofp.ActionSetField{Field: o}
}

// Instructions converts checked OpenFlow instructions (ofp.CheckFlowMod)
// into the engine's.
func Instructions(insts []ofp.Instruction, pm PortMap) (dp.Instructions, error) {
	out := dp.Instructions{Goto: dp.NoGoto}
	for _, in := range insts {
		switch x := in.(type) {
		case ofp.InstGotoTable:
			if int(x.TableID) >= dp.NumTables {
				return dp.Instructions{}, ofp.Errorf(ofp.ErrBadInstruction, ofp.BadInstructionBadTableID, "goto_table:%d (tables 0-%d)", x.TableID, dp.NumTables-1)
			}
			out.Goto = int(x.TableID)
		case ofp.InstWriteMetadata:
			out.WriteMetadata, out.Metadata, out.MetadataMask = true, x.Metadata, x.Mask
		case ofp.InstWriteActions:
			acts, err := Actions(x.Actions, pm)
			if err != nil {
				return dp.Instructions{}, err
			}
			out.Write = acts
		case ofp.InstApplyActions:
			acts, err := Actions(x.Actions, pm)
			if err != nil {
				return dp.Instructions{}, err
			}
			out.Apply = acts
		case ofp.InstClearActions:
			out.Clear = true
		case ofp.InstMeter:
			out.Meter = x.MeterID
		default:
			return dp.Instructions{}, ofp.Errorf(ofp.ErrBadInstruction, ofp.BadInstructionUnsupInst, "%s is not supported", in)
		}
	}
	return out, nil
}

// InstructionsToOF converts engine instructions to OpenFlow's, in the
// order OpenFlow 1.3 lists them.
func InstructionsToOF(in *dp.Instructions, pm PortMap, m *dp.Match) []ofp.Instruction {
	var out []ofp.Instruction
	if in.Meter != 0 {
		out = append(out, ofp.InstMeter{MeterID: in.Meter})
	}
	if len(in.Apply) > 0 {
		out = append(out, ofp.InstApplyActions{Actions: ActionsToOF(in.Apply, pm, m)})
	}
	if in.Clear {
		out = append(out, ofp.InstClearActions{})
	}
	if len(in.Write) > 0 {
		out = append(out, ofp.InstWriteActions{Actions: ActionsToOF(in.Write, pm, m)})
	}
	if in.WriteMetadata {
		out = append(out, ofp.InstWriteMetadata{Metadata: in.Metadata, Mask: in.MetadataMask})
	}
	if in.Goto != dp.NoGoto && in.Goto > 0 {
		out = append(out, ofp.InstGotoTable{TableID: uint8(in.Goto)})
	}
	return out
}
