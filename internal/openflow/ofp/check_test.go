package ofp

import (
	"reflect"
	"testing"
)

func ipMatch(extra ...OXM) Match {
	return Match{Fields: append([]OXM{OXMUint(FieldEthType, 0x0800)}, extra...)}
}

func TestCheckFlowMod(t *testing.T) {
	apply := func(a ...Action) []Instruction { return []Instruction{InstApplyActions{Actions: a}} }
	cases := []struct {
		name string
		fm   FlowMod
		typ  ErrorType
		code uint16
	}{
		{"bad command", FlowMod{Command: 9}, ErrFlowModFailed, FlowModFailedBadCommand},
		{"bad flags", FlowMod{Version: Version13, Flags: 1 << 7}, ErrFlowModFailed, FlowModFailedBadFlags},
		{"emergency", FlowMod{Version: Version10, Flags: FlowFlagEmerg10}, ErrFlowModFailed, FlowModFailedBadFlags},
		{"add to all tables", FlowMod{TableID: TableAll}, ErrFlowModFailed, FlowModFailedBadTableID},
		{"goto backwards", FlowMod{TableID: 3, Instructions: []Instruction{InstGotoTable{TableID: 3}}}, ErrBadInstruction, BadInstructionBadTableID},
		{"dup instruction", FlowMod{Instructions: []Instruction{InstClearActions{}, InstClearActions{}}}, ErrBadInstruction, BadInstructionDupInst},
		{"experimenter instruction", FlowMod{Instructions: []Instruction{InstExperimenter{Experimenter: 1}}}, ErrBadInstruction, BadInstructionBadExperimenter},
		{"metadata outside mask", FlowMod{Instructions: []Instruction{InstWriteMetadata{Metadata: 3, Mask: 1}}}, ErrBadInstruction, BadInstructionUnsupMetadata},
		{"set ipv4 without ip", FlowMod{Instructions: apply(ActionSetField{Field: OXMUint(FieldIPv4Dst, 1)})}, ErrBadAction, BadActionMatchInconsistent},
		{"set tcp on udp", FlowMod{Match: ipMatch(OXMUint(FieldIPProto, 17)), Instructions: apply(ActionSetField{Field: OXMUint(FieldTCPDst, 1)})}, ErrBadAction, BadActionMatchInconsistent},
		{"pop_vlan untagged", FlowMod{Instructions: apply(ActionPopVLAN{})}, ErrBadAction, BadActionMatchInconsistent},
		{"dec_ttl on arp", FlowMod{Match: Match{Fields: []OXM{OXMUint(FieldEthType, 0x0806)}}, Instructions: apply(ActionDecNWTTL{})}, ErrBadAction, BadActionMatchInconsistent},
		{"output port 0", FlowMod{Instructions: apply(ActionOutput{Port: 0})}, ErrBadAction, BadActionBadOutPort},
		{"learn", FlowMod{Instructions: apply(ActionExperimenter{Experimenter: ExperimenterNicira, Data: []byte{0, 16, 0, 0, 0, 0}})}, ErrBadAction, BadActionBadExpType},
		{"other experimenter", FlowMod{Instructions: apply(ActionExperimenter{Experimenter: 0x1234})}, ErrBadAction, BadActionBadExperimenter},
		{"read-only set", FlowMod{Match: ipMatch(), Instructions: apply(ActionSetField{Field: OXMUint(FieldIPProto, 6)})}, ErrBadAction, BadActionBadSetType},
		{"bad match", FlowMod{Match: Match{Fields: []OXM{OXMUint(FieldTCPDst, 1)}}}, ErrBadMatch, BadMatchBadPrereq},
		{"meter 0", FlowMod{Instructions: []Instruction{InstMeter{MeterID: 0}}}, ErrMeterModFailed, MeterModFailedInvalidMeter},
	}
	for _, c := range cases {
		fm := c.fm
		if fm.Version == 0 {
			fm.Version = Version13
		}
		_, err := CheckFlowMod(&fm)
		if !isErr(err, c.typ, c.code) {
			t.Errorf("%s: %v, want %s", c.name, err, ErrorName(c.typ, c.code))
		}
	}

	// A valid flow-mod is normalized: canonical match, Nicira actions in
	// set-field form, simple controller actions as output.
	fm := &FlowMod{Version: Version10, NXM: true, Command: FlowAdd, TableID: 2,
		Match: Match{Fields: []OXM{{Class: ClassNXM0, Field: 3, Value: u16(0x0800)}, {Class: ClassNXM0, Field: 6, Value: []byte{6}}}},
		Instructions: []Instruction{InstApplyActions{Actions: []Action{
			ActionRegLoad{Dst: RefOf(FieldReg0 + 1), Ofs: 8, NBits: 8, Value: 0xab},
			ActionSetTunnel{TunID: 5},
			ActionSetL4Port{Dst: true, Port: 8080},
			ActionController{MaxLen: 128, Reason: ReasonAction},
			ActionEnqueue{Port: 2, QueueID: 7},
			ActionRegMove{Src: FieldRef{Class: ClassNXM0, Field: 2, Len: 6}, Dst: FieldRef{Class: ClassNXM0, Field: 1, Len: 6}, NBits: 48},
			ActionDecNWTTL{Nicira: true},
		}}}}
	got, err := CheckFlowMod(fm)
	if err != nil {
		t.Fatal(err)
	}
	want := []Action{
		ActionSetField{Field: NewOXM(FieldReg0+1, []byte{0, 0, 0xab, 0}, []byte{0, 0, 0xff, 0})},
		ActionSetField{Field: OXMUint(FieldTunnelID, 5)},
		ActionSetField{Field: OXMUint(FieldTCPDst, 8080)},
		ActionOutput{Port: PortController, MaxLen: 128},
		ActionSetQueue{QueueID: 7}, ActionOutput{Port: 2},
		ActionRegMove{Src: RefOf(FieldEthSrc), Dst: RefOf(FieldEthDst), NBits: 48},
		ActionDecNWTTL{Nicira: true},
	}
	if acts := ApplyActions(got.Instructions); !reflect.DeepEqual(acts, want) {
		t.Errorf("normalized\n got %v\nwant %v", acts, want)
	}
	if !reflect.DeepEqual(got.Match.Fields, []OXM{OXMUint(FieldEthType, 0x0800), OXMUint(FieldIPProto, 6)}) {
		t.Errorf("match %v", got.Match.Fields)
	}
	// push_vlan makes set_field vlan_vid consistent; write_actions are
	// checked after apply_actions.
	fm2 := &FlowMod{Version: Version13, Instructions: []Instruction{
		InstWriteActions{Actions: []Action{ActionSetField{Field: OXMUint(FieldVLANPCP, 3)}}},
		InstApplyActions{Actions: []Action{ActionPushVLAN{EtherType: 0x8100}, ActionSetField{Field: OXMUint(FieldVLANVID, 0x1005)}}},
	}}
	if _, err := CheckFlowMod(fm2); err != nil {
		t.Errorf("push_vlan then set vlan_vid: %v", err)
	}
	// Deletes ignore instructions.
	del := &FlowMod{Version: Version13, Command: FlowDelete, TableID: TableAll, Instructions: []Instruction{InstGotoTable{TableID: 0}}}
	if _, err := CheckFlowMod(del); err != nil {
		t.Errorf("delete: %v", err)
	}
}

func TestCheckGroupMeterPacketOut(t *testing.T) {
	for _, c := range []struct {
		gm   GroupMod
		code uint16
	}{
		{GroupMod{Command: 7}, GroupModFailedBadCommand},
		{GroupMod{GroupType: 9}, GroupModFailedBadType},
		{GroupMod{GroupID: GroupAll}, GroupModFailedInvalidGroup},
		{GroupMod{GroupType: GroupTypeIndirect}, GroupModFailedBadBucket},
		{GroupMod{GroupType: GroupTypeAll, Buckets: []Bucket{{Weight: 5}}}, GroupModFailedBadBucket},
		{GroupMod{GroupType: GroupTypeFastFailover, Buckets: []Bucket{{WatchPort: PortAny, WatchGroup: GroupAny}}}, GroupModFailedBadWatch},
		{GroupMod{GroupID: 4, GroupType: GroupTypeAll, Buckets: []Bucket{{WatchPort: PortAny, WatchGroup: GroupAny, Actions: []Action{ActionGroup{GroupID: 4}}}}}, GroupModFailedLoop},
	} {
		if _, err := CheckGroupMod(&c.gm); !isErr(err, ErrGroupModFailed, c.code) {
			t.Errorf("%+v: %v, want %s", c.gm, err, ErrorName(ErrGroupModFailed, c.code))
		}
	}
	if _, err := CheckGroupMod(&GroupMod{Command: GroupDelete, GroupID: GroupAll}); err != nil {
		t.Errorf("delete all groups: %v", err)
	}
	for _, c := range []struct {
		mm   MeterMod
		code uint16
	}{
		{MeterMod{Command: 5, MeterID: 1}, MeterModFailedBadCommand},
		{MeterMod{MeterID: 0}, MeterModFailedInvalidMeter},
		{MeterMod{MeterID: 1, Flags: MeterFlagKbps | MeterFlagPktps}, MeterModFailedBadFlags},
		{MeterMod{MeterID: 1, Flags: MeterFlagKbps, Bands: []MeterBand{{BandType: MeterBandDrop}}}, MeterModFailedBadRate},
		{MeterMod{MeterID: 1, Flags: MeterFlagKbps, Bands: []MeterBand{{BandType: MeterBandDrop, Rate: 1, BurstSize: 9}}}, MeterModFailedBadBurst},
	} {
		if err := CheckMeterMod(&c.mm); !isErr(err, ErrMeterModFailed, c.code) {
			t.Errorf("%+v: %v, want %s", c.mm, err, ErrorName(ErrMeterModFailed, c.code))
		}
	}
	frame := make([]byte, 34)
	frame[12], frame[13] = 0x08, 0x00
	frame[14+9] = 17
	po := &PacketOut{BufferID: NoBuffer, InPort: PortController, Data: frame, Actions: []Action{ActionSetField{Field: OXMUint(FieldUDPDst, 53)}, ActionOutput{Port: PortTable}}}
	if _, err := CheckPacketOut(po); err != nil {
		t.Errorf("packet-out: %v", err)
	}
	po.Actions = []Action{ActionSetField{Field: OXMUint(FieldTCPDst, 53)}}
	if _, err := CheckPacketOut(po); !isErr(err, ErrBadAction, BadActionMatchInconsistent) {
		t.Errorf("tcp set on udp packet: %v", err)
	}
	po.BufferID = 5
	if _, err := CheckPacketOut(po); !isErr(err, ErrBadRequest, BadRequestBufferUnknown) {
		t.Errorf("buffer id: %v", err)
	}
}
