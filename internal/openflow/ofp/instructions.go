package ofp

import "fmt"

// Instruction is one OpenFlow 1.1+ instruction. OpenFlow 1.0 flows carry
// one InstApplyActions.
type Instruction interface {
	instruction()
	String() string
}

// InstGotoTable continues the pipeline in another table.
type InstGotoTable struct{ TableID uint8 }

// InstWriteMetadata writes the metadata field under a mask.
type InstWriteMetadata struct{ Metadata, Mask uint64 }

// InstWriteActions merges actions into the action set.
type InstWriteActions struct{ Actions []Action }

// InstApplyActions applies actions now.
type InstApplyActions struct{ Actions []Action }

// InstClearActions empties the action set.
type InstClearActions struct{}

// InstMeter sends the packet through a meter.
type InstMeter struct{ MeterID uint32 }

// InstExperimenter is an experimenter instruction (always refused with
// OFPBIC_BAD_EXPERIMENTER).
type InstExperimenter struct {
	Experimenter uint32
	Data         []byte
}

func (InstGotoTable) instruction()     {}
func (InstWriteMetadata) instruction() {}
func (InstWriteActions) instruction()  {}
func (InstApplyActions) instruction()  {}
func (InstClearActions) instruction()  {}
func (InstMeter) instruction()         {}
func (InstExperimenter) instruction()  {}

func (i InstGotoTable) String() string { return "goto_table:" + utoa(uint64(i.TableID)) }
func (i InstWriteMetadata) String() string {
	return fmt.Sprintf("write_metadata:0x%x/0x%x", i.Metadata, i.Mask)
}
func (i InstWriteActions) String() string { return "write_actions(" + ActionsString(i.Actions) + ")" }
func (i InstApplyActions) String() string { return ActionsString(i.Actions) }
func (InstClearActions) String() string   { return "clear_actions" }
func (i InstMeter) String() string        { return "meter:" + utoa(uint64(i.MeterID)) }
func (i InstExperimenter) String() string {
	return fmt.Sprintf("experimenter_instruction(0x%08x)", i.Experimenter)
}

// ActionsString formats an action list the way ovs-ofctl does (comma
// separated; "drop" when empty).
func ActionsString(acts []Action) string {
	if len(acts) == 0 {
		return "drop"
	}
	s := ""
	for i, a := range acts {
		if i > 0 {
			s += ","
		}
		s += a.String()
	}
	return s
}

// InstructionsString formats instructions the way ovs-ofctl does.
func InstructionsString(insts []Instruction) string {
	if len(insts) == 0 {
		return "drop"
	}
	s := ""
	for i, in := range insts {
		if i > 0 {
			s += ","
		}
		s += in.String()
	}
	return s
}

// Instruction types.
const (
	itGotoTable     = 1
	itWriteMetadata = 2
	itWriteActions  = 3
	itApplyActions  = 4
	itClearActions  = 5
	itMeter         = 6
	itExperimenter  = 0xffff
)

// ParseInstructions decodes an OpenFlow 1.3 instruction list that fills b
// exactly. Each instruction type may appear once (OFPBIC_DUP_INST).
func ParseInstructions(b []byte) ([]Instruction, error) {
	var out []Instruction
	var seen [8]bool
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, Errorf(ErrBadInstruction, BadInstructionBadLen, "%d bytes left after the last instruction, an instruction needs 8", len(b))
		}
		typ, n := be.Uint16(b), int(be.Uint16(b[2:]))
		if n < 8 || n%8 != 0 || n > len(b) {
			return nil, Errorf(ErrBadInstruction, BadInstructionBadLen, "instruction type %d has length %d (%d bytes remain; a multiple of 8, at least 8)", typ, n, len(b))
		}
		p := b[:n]
		want := func(l int) error {
			if n != l {
				return Errorf(ErrBadInstruction, BadInstructionBadLen, "instruction type %d of %d bytes, must be %d", typ, n, l)
			}
			return nil
		}
		var in Instruction
		switch typ {
		case itGotoTable:
			if err := want(8); err != nil {
				return nil, err
			}
			in = InstGotoTable{TableID: p[4]}
		case itWriteMetadata:
			if err := want(24); err != nil {
				return nil, err
			}
			in = InstWriteMetadata{Metadata: be.Uint64(p[8:]), Mask: be.Uint64(p[16:])}
		case itWriteActions, itApplyActions:
			acts, err := ParseActions(p[8:], Version13)
			if err != nil {
				return nil, err
			}
			if typ == itWriteActions {
				in = InstWriteActions{Actions: acts}
			} else {
				in = InstApplyActions{Actions: acts}
			}
		case itClearActions:
			if err := want(8); err != nil {
				return nil, err
			}
			in = InstClearActions{}
		case itMeter:
			if err := want(8); err != nil {
				return nil, err
			}
			in = InstMeter{MeterID: be.Uint32(p[4:])}
		case itExperimenter:
			in = InstExperimenter{Experimenter: be.Uint32(p[4:]), Data: p[8:]}
		default:
			return nil, Errorf(ErrBadInstruction, BadInstructionUnknownInst, "instruction type %d (1 goto_table … 6 meter)", typ)
		}
		if typ <= itMeter {
			if seen[typ] {
				return nil, Errorf(ErrBadInstruction, BadInstructionDupInst, "%T appears twice", in)
			}
			seen[typ] = true
		}
		out = append(out, in)
		b = b[n:]
	}
	return out, nil
}

// AppendInstructions encodes OpenFlow 1.3 instructions.
func AppendInstructions(b []byte, insts []Instruction) ([]byte, error) {
	for _, in := range insts {
		switch in := in.(type) {
		case InstGotoTable:
			b = appendZeros(append(appendHdr(b, itGotoTable, 8), in.TableID), 3)
		case InstWriteMetadata:
			b = appendZeros(appendHdr(b, itWriteMetadata, 24), 4)
			b = appendU64(appendU64(b, in.Metadata), in.Mask)
		case InstWriteActions, InstApplyActions:
			typ, acts := uint16(itApplyActions), []Action(nil)
			if w, ok := in.(InstWriteActions); ok {
				typ, acts = itWriteActions, w.Actions
			} else {
				acts = in.(InstApplyActions).Actions
			}
			off := len(b)
			b = appendZeros(appendHdr(b, typ, 0), 4)
			var err error
			if b, err = AppendActions(b, Version13, acts); err != nil {
				return nil, err
			}
			putLen16(b, off+2, off)
		case InstClearActions:
			b = appendZeros(appendHdr(b, itClearActions, 8), 4)
		case InstMeter:
			b = appendU32(appendHdr(b, itMeter, 8), in.MeterID)
		case InstExperimenter:
			off := len(b)
			b = appendU32(appendHdr(b, itExperimenter, 0), in.Experimenter)
			b = padTo8(append(b, in.Data...), off)
			putLen16(b, off+2, off)
		default:
			return nil, Errorf(ErrBadInstruction, BadInstructionUnknownInst, "instruction %T", in)
		}
	}
	return b, nil
}

// ApplyActions returns the actions of the instructions' apply_actions (the
// whole action list of an OpenFlow 1.0 flow).
func ApplyActions(insts []Instruction) []Action {
	for _, in := range insts {
		if a, ok := in.(InstApplyActions); ok {
			return a.Actions
		}
	}
	return nil
}

// actions10 turns instructions into an OpenFlow 1.0 action list, as Open
// vSwitch shows 1.3 flows to 1.0 clients: apply_actions as they are,
// goto_table as resubmit(,table), write_metadata as Nicira's
// write_metadata. write_actions, clear_actions and meter have no 1.0
// meaning and are left out (lossy is then true).
func actions10(insts []Instruction) (acts []Action, lossy bool) {
	var gotoTable *InstGotoTable
	for _, in := range insts {
		switch in := in.(type) {
		case InstApplyActions:
			acts = append(acts, in.Actions...)
		case InstWriteMetadata:
			acts = append(acts, ActionWriteMetadata{Metadata: in.Metadata, Mask: in.Mask})
		case InstGotoTable:
			g := in
			gotoTable = &g
		default:
			lossy = true
		}
	}
	if gotoTable != nil {
		acts = append(acts, ActionResubmit{InPort: PortInPort, Table: gotoTable.TableID, WithTable: true})
	}
	return fold10(acts), lossy
}

// fold10 rewrites action sequences that OpenFlow 1.0 spells as one action:
// push_vlan followed by set_field:vlan_vid is mod_vlan_vid.
func fold10(acts []Action) []Action {
	out := acts[:0:0]
	for i := 0; i < len(acts); i++ {
		if _, ok := acts[i].(ActionPushVLAN); ok && i+1 < len(acts) {
			if sf, ok := acts[i+1].(ActionSetField); ok && sf.Field.ID() == FieldVLANVID && sf.Field.Mask == nil {
				v, _ := sf.Field.Uint()
				out = append(out, ActionSetVLANVID{VID: uint16(v & 0xfff)})
				i++
				continue
			}
		}
		out = append(out, acts[i])
	}
	return out
}

// appendActions10Lossy encodes an action list for OpenFlow 1.0 leaving out
// what 1.0 cannot carry (used only for stats replies, never for requests).
func appendActions10Lossy(b []byte, acts []Action) []byte {
	for _, a := range acts {
		if out, err := appendAction(b, Version10, a); err == nil {
			b = out
		}
	}
	return b
}
