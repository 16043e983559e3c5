package ofp

import (
	"bytes"
	"math/rand"
	"testing"
)

// gen builds random well-formed messages for round-trip properties.
type gen struct{ r *rand.Rand }

func (g gen) bytes(n int) []byte {
	b := make([]byte, n)
	g.r.Read(b)
	return b
}

func (g gen) u16() uint16    { return uint16(g.r.Uint32()) }
func (g gen) u32() uint32    { return g.r.Uint32() }
func (g gen) u64() uint64    { return g.r.Uint64() }
func (g gen) pick(n int) int { return g.r.Intn(n) }
func (g gen) coin() bool     { return g.r.Intn(2) == 0 }

// match returns a random valid canonical match (dependency-ordered).
func (g gen) match(tenOnly bool) Match {
	var m Match
	if g.coin() {
		m.Add(OXMUint(FieldInPort, uint64(1+g.pick(100))))
	}
	if g.coin() {
		mac := g.bytes(6)
		if !tenOnly && g.coin() {
			mask := []byte{0xff, 0xff, 0xff, 0, 0, 0}
			for i := range mac {
				mac[i] &= mask[i]
			}
			m.Add(NewOXM(FieldEthSrc, mac, mask))
		} else {
			m.Add(NewOXM(FieldEthSrc, mac, nil))
		}
	}
	switch g.pick(3) {
	case 1:
		m.Add(OXMUint(FieldVLANVID, 0))
	case 2:
		m.Add(OXMUint(FieldVLANVID, 0x1000|uint64(g.pick(4095))))
		if g.coin() {
			m.Add(OXMUint(FieldVLANPCP, uint64(g.pick(8))))
		}
	}
	switch g.pick(4) {
	case 0:
		m.Add(OXMUint(FieldEthType, 0x0800))
		if g.coin() {
			m.Add(OXMUint(FieldIPDSCP, uint64(g.pick(64))))
		}
		n := 8 * g.pick(5)
		mask := ^uint32(0) << uint(32-n)
		if n == 0 {
			mask = 0xffffffff
		}
		m.Add(OXMUint(FieldIPv4Dst, uint64(g.u32()&mask), uint64(mask)))
		switch g.pick(3) {
		case 0:
			m.Add(OXMUint(FieldIPProto, 6), OXMUint(FieldTCPDst, uint64(g.u16())))
			if !tenOnly && g.coin() {
				m.Add(OXMUint(FieldTCPFlags, 2, 0x12))
			}
		case 1:
			m.Add(OXMUint(FieldIPProto, 17), OXMUint(FieldUDPSrc, uint64(g.u16())))
		case 2:
			m.Add(OXMUint(FieldIPProto, 1), OXMUint(FieldICMPv4Type, uint64(g.pick(256))))
		}
	case 1:
		m.Add(OXMUint(FieldEthType, 0x0806), OXMUint(FieldARPOp, uint64(1+g.pick(2))), OXMUint(FieldARPSPA, uint64(g.u32())))
	case 2:
		if tenOnly {
			break
		}
		m.Add(OXMUint(FieldEthType, 0x86dd), NewOXM(FieldIPv6Src, g.bytes(16), nil), OXMUint(FieldIPv6FLabel, uint64(g.pick(1<<20))))
		m.Add(OXMUint(FieldIPProto, 58), OXMUint(FieldICMPv6Type, 135), NewOXM(FieldIPv6NDTarget, g.bytes(16), nil))
	}
	if !tenOnly {
		if g.coin() {
			m.Add(OXMUint(FieldReg0+FieldID(g.pick(16)), uint64(g.u32())))
		}
		if g.coin() {
			m.Add(OXMUint(FieldTunnelID, g.u64()))
		}
		if g.coin() {
			v := g.u64()
			m.Add(OXMUint(FieldMetadata, v&0xff00, 0xff00))
		}
	}
	return m
}

// actions returns random actions that have a spelling in version v.
func (g gen) actions(v uint8) []Action {
	var out []Action
	n := g.pick(6)
	for i := 0; i < n; i++ {
		var a Action
		switch g.pick(14) {
		case 0:
			a = ActionOutput{Port: uint32(1 + g.pick(60000)), MaxLen: g.u16()}
		case 1:
			a = ActionOutput{Port: PortController, MaxLen: 128}
		case 2:
			a = ActionGroup{GroupID: g.u32() & 0xffff}
		case 3:
			a = ActionSetQueue{QueueID: g.u32()}
		case 4:
			a = ActionPopVLAN{}
		case 5:
			a = ActionSetField{Field: NewOXM(FieldEthDst, g.bytes(6), nil)}
		case 6:
			a = ActionSetField{Field: OXMUint(FieldIPv4Src, uint64(g.u32()))}
		case 7:
			a = ActionResubmit{InPort: PortInPort, Table: uint8(g.pick(254)), WithTable: true}
		case 8:
			a = ActionRegLoad{Dst: RefOf(FieldReg0 + FieldID(g.pick(16))), Ofs: 0, NBits: 16, Value: uint64(g.u16())}
		case 9:
			a = ActionRegMove{Src: RefOf(FieldReg0), Dst: RefOf(FieldReg0 + 1), NBits: 32}
		case 10:
			a = ActionNote{Note: g.bytes(6 + 8*g.pick(3))}
		case 11:
			a = ActionController{V2: true, MaxLen: 200, Reason: ReasonNoMatch, Userdata: g.bytes(1 + g.pick(9)), Pause: g.coin()}
		case 12:
			a = ActionSetTunnel{TunID: g.u64(), Is64: true}
		case 13:
			if v == Version10 {
				a = ActionSetVLANVID{VID: uint16(g.pick(4096))}
			} else {
				a = ActionPushVLAN{EtherType: 0x8100}
			}
		}
		out = append(out, a)
	}
	return out
}

func (g gen) instructions() []Instruction {
	var out []Instruction
	if g.coin() {
		out = append(out, InstApplyActions{Actions: g.actions(Version13)})
	}
	if g.coin() {
		out = append(out, InstWriteActions{Actions: g.actions(Version13)})
	}
	if g.coin() {
		out = append(out, InstWriteMetadata{Metadata: 1, Mask: 0xff})
	}
	if g.coin() {
		out = append(out, InstMeter{MeterID: 1 + g.u32()%100})
	}
	if g.coin() {
		out = append(out, InstGotoTable{TableID: uint8(1 + g.pick(250))})
	}
	return out
}

func (g gen) port() Port {
	return Port{PortNo: uint32(1 + g.pick(1000)), HWAddr: g.bytes(6), Name: "p" + utoa(uint64(g.pick(1000))),
		Config: PortConfigDown, State: PortStateLive, Curr: PortFeature10GbFD | PortFeatureCopper, CurrSpeed: 10000000}
}

func (g gen) message(v uint8, o *Options) Message {
	switch g.pick(26) {
	case 0:
		return &Hello{Versions: SupportedVersions}
	case 1:
		return &EchoRequest{Data: g.bytes(g.pick(20))}
	case 2:
		return &FeaturesReply{DatapathID: g.u64(), NTables: 254, Capabilities: CapFlowStats}
	case 3:
		return &SetConfig{SwitchConfig{Flags: 0, MissSendLen: g.u16()}}
	case 4:
		return &PacketIn{BufferID: NoBuffer, TotalLen: 60, Reason: ReasonAction, Cookie: g.u64(), Match: Match{Fields: []OXM{OXMUint(FieldInPort, 3)}}, Data: g.bytes(60), Format: []uint32{0, 1, 2}[g.pick(3)]}
	case 5:
		return &PortStatus{Reason: PortAdded, Port: g.port()}
	case 6:
		return &PacketOut{BufferID: NoBuffer, InPort: PortController, Actions: g.actions(v), Data: g.bytes(64)}
	case 7, 8:
		fm := &FlowMod{Cookie: g.u64(), Command: uint8(g.pick(5)), IdleTimeout: g.u16(), HardTimeout: g.u16(), Priority: g.u16(), BufferID: NoBuffer, OutPort: PortAny, OutGroup: GroupAny, Flags: FlowFlagSendFlowRem}
		if v == Version10 {
			fm.NXM = g.coin()
			fm.OutGroup = GroupAny
			fm.Match = g.match(!fm.NXM)
			if acts := g.actions(v); len(acts) > 0 {
				fm.Instructions = []Instruction{InstApplyActions{Actions: acts}}
			}
			if o.FlowModTableID {
				fm.TableID = uint8(g.pick(254))
			} else if fm.Command != FlowAdd {
				fm.TableID = TableAll
			}
			if fm.NXM {
				fm.CookieMask = g.u64()
				fm.NXCookie = g.u64() & fm.CookieMask
			}
		} else {
			fm.CookieMask, fm.TableID = g.u64(), uint8(g.pick(254))
			fm.Match, fm.Instructions = g.match(false), g.instructions()
		}
		return fm
	case 9:
		return &FlowRemoved{Cookie: g.u64(), Priority: g.u16(), Reason: RemovedDelete, TableID: 3, DurationSec: g.u32(), PacketCount: g.u64(), ByteCount: g.u64(), Match: g.match(v == Version10), NXM: v == Version10 && g.coin()}
	case 10:
		return &PortMod{PortNo: 5, HWAddr: g.bytes(6), Config: PortConfigDown, Mask: PortConfigDown, Advertise: PortFeature1GbFD}
	case 11:
		return &BarrierRequest{}
	case 12:
		return &MultipartRequest{Body: &FlowStatsRequest{TableID: TableAll, OutPort: PortAny, OutGroup: GroupAny, Match: g.match(v == Version10), NXM: v == Version10 && g.coin()}}
	case 13:
		var flows []FlowStats
		for i := g.pick(4); i > 0; i-- {
			f := FlowStats{TableID: uint8(g.pick(254)), DurationSec: g.u32(), Priority: g.u16(), Cookie: g.u64(), PacketCount: g.u64(), Match: g.match(v == Version10)}
			if v == Version10 {
				if acts := g.actions(v); len(acts) > 0 {
					f.Instructions = []Instruction{InstApplyActions{Actions: acts}}
				}
			} else {
				f.Instructions = g.instructions()
			}
			flows = append(flows, f)
		}
		return &MultipartReply{Body: &FlowStatsReply{Flows: flows, NXM: v == Version10 && g.coin()}}
	case 14:
		return &MultipartReply{Body: &PortStatsReply{Ports: []PortStats{{PortNo: 1, RxPackets: g.u64(), TxBytes: g.u64()}}}}
	case 15:
		return &MultipartReply{Body: &PortDescReply{Ports: []Port{g.port(), g.port()}}}
	case 16:
		return &MultipartReply{Body: &AggregateStats{PacketCount: g.u64(), ByteCount: g.u64(), FlowCount: g.u32(), NXM: v == Version10 && g.coin()}}
	case 17:
		return &MultipartReply{Body: &DescStats{MfrDesc: "Switchyard", HWDesc: "hw", SWDesc: "sw", SerialNum: "1", DPDesc: "br0"}}
	case 18:
		return &RoleRequest{Role: RoleMaster, GenerationID: g.u64()}
	case 19:
		return &ErrorMsg{ErrType: 1, Code: 6, Data: g.bytes(g.pick(64))}
	}
	if v == Version10 {
		return &NXSetFlowFormat{Format: FlowFormatNXM}
	}
	switch g.pick(7) {
	case 0:
		return &GroupMod{Command: GroupAdd, GroupType: GroupTypeSelect, GroupID: 7, Buckets: []Bucket{{Weight: 3, WatchPort: PortAny, WatchGroup: GroupAny, Actions: g.actions(v)}}}
	case 1:
		return &MeterMod{Command: MeterAdd, Flags: MeterFlagKbps, MeterID: 1, Bands: []MeterBand{{BandType: MeterBandDrop, Rate: 1000}, {BandType: MeterBandDSCPRemark, Rate: 10, PrecLevel: 1}}}
	case 2:
		return &SetAsync{DefaultAsyncConfig}
	case 3:
		return &MultipartReply{Body: &GroupDescReply{Groups: []GroupDesc{{GroupType: GroupTypeAll, GroupID: 1, Buckets: []Bucket{{WatchPort: PortAny, WatchGroup: GroupAny, Actions: g.actions(v)}}}}}}
	case 4:
		return &MultipartReply{Body: &MeterStatsReply{Meters: []MeterStats{{MeterID: 1, FlowCount: 2, Bands: []MeterBandStats{{1, 2}}}}}}
	case 5:
		return &MultipartReply{Body: &TableFeaturesReply{Tables: []TableFeatures{{TableID: 0, Name: "t0", MaxEntries: 1000, Properties: []TableFeatureProp{
			PropInstructions(TFPInstructions, 1, 2, 3, 4, 5, 6), PropNextTables(TFPNextTables, 1, 2, 3),
			PropFields(TFPMatch, FieldID.Maskable, FieldInPort, FieldEthDst, FieldTCPFlags)}}}}}
	}
	return &RoleStatus{Role: RoleSlave, GenerationID: g.u64()}
}

// TestRoundTripProperty: encode → decode → encode is the identity on bytes
// for random messages of both versions.
func TestRoundTripProperty(t *testing.T) {
	g := gen{rand.New(rand.NewSource(1))}
	for i := 0; i < 20000; i++ {
		v := []uint8{Version10, Version13}[g.pick(2)]
		o := &Options{FlowModTableID: g.coin()}
		m := g.message(v, o)
		b1, err := MarshalOptions(v, g.u32(), m, o)
		if err != nil {
			t.Fatalf("marshal %T in %s: %v", m, VersionName(v), err)
		}
		h, m2, err := UnmarshalOptions(b1, o)
		if err != nil {
			t.Fatalf("unmarshal %T in %s: %v\n%x", m, VersionName(v), err, b1)
		}
		b2, err := MarshalOptions(h.Version, h.XID, m2, o)
		if err != nil {
			t.Fatalf("re-marshal %T: %v", m2, err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("%T in %s differs after a round trip\n%x\n%x", m, VersionName(v), b1, b2)
		}
	}
}

// TestMultipartSplit: a large flow stats reply is split into messages of
// at most 64 KiB, REPLY_MORE on all but the last, and nothing is lost.
func TestMultipartSplit(t *testing.T) {
	g := gen{rand.New(rand.NewSource(2))}
	for _, v := range []uint8{Version10, Version13} {
		for _, nxm := range []bool{false, true} {
			if nxm && v != Version10 {
				continue
			}
			var flows []FlowStats
			for i := 0; i < 3000; i++ {
				f := FlowStats{TableID: 1, Priority: uint16(i), Cookie: uint64(i), Match: g.match(v == Version10 && !nxm)}
				f.Instructions = []Instruction{InstApplyActions{Actions: []Action{ActionOutput{Port: uint32(i%100 + 1)}}}}
				flows = append(flows, f)
			}
			msgs, err := MarshalMultipartReply(v, 99, &FlowStatsReply{Flows: flows, NXM: nxm}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) < 3 {
				t.Fatalf("%s nxm=%v: %d messages for 3000 flows", VersionName(v), nxm, len(msgs))
			}
			var got []FlowStats
			for i, b := range msgs {
				if len(b) > MaxMessageLen {
					t.Fatalf("message %d of %d bytes", i, len(b))
				}
				h, m, err := Unmarshal(b)
				if err != nil {
					t.Fatal(err)
				}
				r := m.(*MultipartReply)
				more := r.Flags&MultipartReplyMore != 0
				if more != (i < len(msgs)-1) || h.XID != 99 {
					t.Fatalf("message %d/%d: more=%v xid=%d", i, len(msgs), more, h.XID)
				}
				got = append(got, r.Body.(*FlowStatsReply).Flows...)
			}
			if len(got) != len(flows) {
				t.Fatalf("%d flows after splitting, want %d", len(got), len(flows))
			}
			for i := range got {
				if got[i].Cookie != uint64(i) {
					t.Fatalf("flow %d has cookie %d", i, got[i].Cookie)
				}
			}
		}
	}
	// An empty reply is one message without REPLY_MORE.
	msgs, err := MarshalMultipartReply(Version13, 1, &FlowStatsReply{}, 0)
	if err != nil || len(msgs) != 1 || len(msgs[0]) != 16 {
		t.Fatalf("empty reply: %d msgs %v", len(msgs), err)
	}
}
