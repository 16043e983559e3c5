package ofp

import (
	"net"
	"reflect"
	"testing"
)

// decodedGolden returns the decoded messages of one golden file in order,
// with their direction.
func decodedGolden(t *testing.T, file string) []decoded {
	t.Helper()
	var out []decoded
	opts := map[int]*Options{}
	for _, g := range readGolden(t) {
		if g.file != file {
			continue
		}
		o := opts[g.conn]
		if o == nil {
			o = &Options{}
			opts[g.conn] = o
		}
		h, m, err := UnmarshalOptions(g.raw, o)
		if err != nil {
			t.Fatalf("%s:%d: %v", g.file, g.line, err)
		}
		if tid, ok := m.(*NXFlowModTableID); ok {
			o.FlowModTableID = tid.Enable
		}
		out = append(out, decoded{h, m, g.client})
	}
	if len(out) == 0 {
		t.Fatalf("no messages in %s", file)
	}
	return out
}

type decoded struct {
	h      Header
	m      Message
	client bool
}

func first[T Message](t *testing.T, file string) T {
	t.Helper()
	for _, d := range decodedGolden(t, file) {
		if m, ok := d.m.(T); ok {
			return m
		}
	}
	var zero T
	t.Fatalf("%s: no %T", file, zero)
	return zero
}

func canonical(t *testing.T, m Match) Match {
	t.Helper()
	c, err := m.Canonical()
	if err != nil {
		t.Fatalf("canonical: %v", err)
	}
	return c
}

func wantUint(t *testing.T, m Match, f FieldID, v, mask uint64) {
	t.Helper()
	gv, gm, ok := m.Uint(f)
	if !ok {
		t.Errorf("match has no %s: %v", f, m.Fields)
		return
	}
	if gv != v || gm != mask {
		t.Errorf("%s = 0x%x/0x%x, want 0x%x/0x%x", f, gv, gm, v, mask)
	}
}

func TestGoldenHelloNegotiation(t *testing.T) {
	// Plain ovs-ofctl offers only OpenFlow 1.0 and no bitmap.
	d := decodedGolden(t, "p10_dump_flows.txt")
	for _, x := range d {
		if h, ok := x.m.(*Hello); ok && x.client {
			if x.h.Version != Version10 || h.Versions != 0 {
				t.Errorf("plain ovs-ofctl hello: version %d bitmap %#x", x.h.Version, h.Versions)
			}
			if v, ok := Negotiate(SupportedVersions, x.h.Version, h); !ok || v != Version10 {
				t.Errorf("negotiated %d %v with plain ovs-ofctl, want 1.0", v, ok)
			}
		}
		if h, ok := x.m.(*Hello); ok && !x.client {
			// ovs-vswitchd allowing 1.0–1.5 sends version 6, no bitmap.
			if x.h.Version != Version15 || h.Versions != 0 {
				t.Errorf("ovs-vswitchd hello: version %d bitmap %#x", x.h.Version, h.Versions)
			}
			if v, _ := Negotiate(SupportedVersions, x.h.Version, h); v != Version13 {
				t.Errorf("with a 1.5 peer we negotiate %d, want 1.3", v)
			}
		}
	}
	d = decodedGolden(t, "p13_show.txt")
	h := d[1].m.(*Hello)
	if !d[1].client || h.Versions != 1<<Version13 {
		t.Fatalf("ovs-ofctl -O OpenFlow13 hello: %+v", d[1])
	}
	if v, ok := Negotiate(SupportedVersions, d[1].h.Version, h); !ok || v != Version13 {
		t.Errorf("negotiated %d %v", v, ok)
	}
	if _, ok := Negotiate(SupportedVersions, Version15, &Hello{Versions: 1 << Version15}); ok {
		t.Error("a 1.5-only peer must not negotiate")
	}
	if _, ok := Negotiate(SupportedVersions, Version12, nil); ok {
		t.Error("a 1.2 peer without bitmap must not negotiate (we lack 1.2)")
	}
}

func TestGoldenNXFlowMod(t *testing.T) {
	fm := first[*FlowMod](t, "p10_add_flow_nx.txt")
	if !fm.NXM || fm.Version != Version10 || fm.Command != FlowAdd || fm.TableID != 0 || fm.Priority != 200 {
		t.Fatalf("flow mod header: %+v", fm)
	}
	m := canonical(t, fm.Match)
	wantUint(t, m, FieldReg0, 5, 0xff)
	wantUint(t, m, FieldTunnelID, 0x2a, ^uint64(0))
	wantUint(t, m, FieldInPort, 1, 0xffffffff)
	want := []Action{
		ActionRegLoad{Dst: RefOf(FieldReg0 + 1), Ofs: 0, NBits: 16, Value: 0x2a},
		ActionRegMove{Src: FieldRef{Class: ClassNXM0, Field: 2, Len: 6}, Dst: FieldRef{Class: ClassNXM0, Field: 1, Len: 6}, NBits: 48},
		ActionResubmit{InPort: PortInPort, Table: 1, WithTable: true},
		ActionSetTunnel{TunID: 5},
		ActionDecNWTTL{Nicira: true},
		ActionNote{Note: []byte{0xab, 0xcd, 0, 0, 0, 0}},
		ActionOutput{Port: 1},
	}
	if got := ApplyActions(fm.Instructions); !reflect.DeepEqual(got, want) {
		t.Errorf("actions\n got %v\nwant %v", got, want)
	}
}

func TestGoldenFlowMod10TableID(t *testing.T) {
	fm := first[*FlowMod](t, "p10_del_flows_strict.txt")
	if fm.NXM || fm.Command != FlowDeleteStrict || fm.TableID != 1 || fm.Priority != 10 {
		t.Fatalf("%+v", fm)
	}
	m := canonical(t, fm.Match)
	wantUint(t, m, FieldEthType, 0x0800, 0xffff)
	wantUint(t, m, FieldIPProto, 6, 0xff)
	wantUint(t, m, FieldTCPDst, 80, 0xffff)
	if len(m.Fields) != 3 {
		t.Errorf("match %v", m.Fields)
	}
	// Without flow_mod_table_id a table in the command is refused.
	raw := mustMarshal(t, Version10, fm, &Options{FlowModTableID: true})
	if _, _, err := Unmarshal(raw); !isErr(err, ErrFlowModFailed, FlowModFailedBadCommand) {
		t.Errorf("table id without NXT_FLOW_MOD_TABLE_ID: %v", err)
	}
	fm10 := first[*FlowMod](t, "p10_add_flow.txt")
	m = canonical(t, fm10.Match)
	wantUint(t, m, FieldIPv4Dst, 0xcb007100, 0xffffff00)
	wantUint(t, m, FieldInPort, 1, 0xffffffff)
	if got := ApplyActions(fm10.Instructions); !reflect.DeepEqual(got, []Action{ActionOutput{Port: PortLocal}}) {
		t.Errorf("actions %v", got)
	}
}

func TestGoldenFlowMod13(t *testing.T) {
	fm := first[*FlowMod](t, "p13_add_flow_all.txt")
	if fm.Version != Version13 || fm.TableID != 1 || fm.Priority != 10 || fm.IdleTimeout != 30 || fm.HardTimeout != 60 || fm.Flags != FlowFlagSendFlowRem {
		t.Fatalf("%+v", fm)
	}
	m := canonical(t, fm.Match)
	wantUint(t, m, FieldVLANVID, 0x1000, 0x1000)
	wantUint(t, m, FieldTCPFlags, 0x002, 0x012)
	wantUint(t, m, FieldTCPDst, 80, 0xffff)
	want := []Instruction{
		InstApplyActions{Actions: []Action{
			ActionPushVLAN{EtherType: 0x8100},
			ActionSetField{Field: OXMUint(FieldVLANVID, 4196)},
			ActionSetField{Field: NewOXM(FieldIPv4Dst, net.IPv4(203, 0, 113, 9).To4(), nil)},
			ActionDecNWTTL{},
			ActionGroup{GroupID: 1},
			ActionSetQueue{QueueID: 3},
			ActionOutput{Port: PortController, MaxLen: 128},
		}},
		InstGotoTable{TableID: 2},
	}
	if !reflect.DeepEqual(fm.Instructions, want) {
		t.Errorf("instructions\n got %#v\nwant %#v", fm.Instructions, want)
	}
	fs := first[*MultipartReply](t, "p13_dump_flows.txt").Body.(*FlowStatsReply)
	found := false
	for _, f := range fs.Flows {
		if f.Cookie == 0x1234 {
			found = true
			wantUint(t, canonical(t, f.Match), FieldReg0, 5, 0xff)
		}
	}
	if !found || len(fs.Flows) < 5 {
		t.Errorf("flow stats: %d flows, cookie 0x1234 found %v", len(fs.Flows), found)
	}
}

func TestGoldenAsyncMessages(t *testing.T) {
	d := decodedGolden(t, "p13_monitor.txt")
	var pin *PacketIn
	var fr *FlowRemoved
	for _, x := range d {
		switch m := x.m.(type) {
		case *PacketIn:
			pin = m
		case *FlowRemoved:
			fr = m
		}
	}
	if pin == nil || fr == nil {
		t.Fatalf("p13_monitor: packet-in %v flow-removed %v", pin, fr)
	}
	if pin.Format != PacketInFormatNXT2 || pin.Reason != ReasonAction || pin.TotalLen != 36 || len(pin.Data) != 36 {
		t.Errorf("packet-in %+v", pin)
	}
	wantUint(t, pin.Match, FieldReg0+3, 5, 0xffffffff)
	wantUint(t, pin.Match, FieldTunnelID, 0x2a, ^uint64(0))
	if p, _ := pin.Match.InPort(); p != PortLocal {
		t.Errorf("packet-in in_port %d", p)
	}
	if fr.Cookie != 0x77 || fr.Reason != RemovedHardTimeout || fr.TableID != 7 || fr.Priority != 9 {
		t.Errorf("flow removed %+v", fr)
	}
	wantUint(t, canonical(t, fr.Match), FieldIPv4Src, 0xcb007107, 0xffffffff)

	fr10 := first[*FlowRemoved](t, "p10_monitor2.txt")
	if fr10.Cookie != 0x78 || fr10.Reason != RemovedHardTimeout || fr10.NXM {
		t.Errorf("1.0 flow removed %+v", fr10)
	}
	ps := first[*PortStatus](t, "p10_monitor.txt")
	if ps.Reason != PortModified || ps.Port.Name != "p1" || ps.Port.PortNo != 1 || ps.Port.Curr != PortFeature10GbFD|PortFeatureCopper {
		t.Errorf("port status %+v", ps)
	}
}

func TestGoldenFeaturesGroupsMeters(t *testing.T) {
	fr := first[*FeaturesReply](t, "p13_show.txt")
	if fr.DatapathID != 0x0000020000aa0001 || fr.NTables != 254 || len(fr.Ports) != 0 {
		t.Errorf("features %+v", fr)
	}
	fr10 := first[*FeaturesReply](t, "p10_show.txt")
	if len(fr10.Ports) != 2 || fr10.Ports[0].PortNo != PortLocal || fr10.Ports[0].Name != "br0" || fr10.Ports[0].Config != PortConfigDown || fr10.Ports[0].Curr != PortFeature10GbFD|PortFeatureCopper {
		t.Errorf("1.0 features ports %+v", fr10.Ports)
	}
	gm := first[*GroupMod](t, "p13_add_group.txt")
	if gm.Command != GroupAdd || gm.GroupType != GroupTypeSelect || gm.GroupID != 1 || len(gm.Buckets) != 2 ||
		gm.Buckets[0].Weight != 10 || gm.Buckets[0].WatchPort != 1 || gm.Buckets[1].Weight != 20 {
		t.Errorf("group mod %+v", gm)
	}
	mm := first[*MeterMod](t, "p13_add_meter.txt")
	if mm.Command != MeterAdd || mm.MeterID != 1 || mm.Flags != MeterFlagKbps|MeterFlagBurst|MeterFlagStats ||
		!reflect.DeepEqual(mm.Bands, []MeterBand{{BandType: MeterBandDrop, Rate: 1000, BurstSize: 100}}) {
		t.Errorf("meter mod %+v", mm)
	}
	em := first[*ErrorMsg](t, "p13_add_meter2.txt")
	if e := em.Err(Version13); e.Type != ErrMeterModFailed || e.Code != MeterModFailedBadBand {
		t.Errorf("error %v", e)
	}
	req := first[*MultipartRequest](t, "p10_dump_flows.txt")
	fs, ok := req.Body.(*FlowStatsRequest)
	if !ok || !fs.NXM || fs.TableID != TableAll || fs.OutPort != PortAny {
		t.Errorf("NXST_FLOW request %+v", req.Body)
	}
}

func mustMarshal(t *testing.T, v uint8, m Message, o *Options) []byte {
	t.Helper()
	b, err := MarshalOptions(v, 1, m, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func isErr(err error, typ ErrorType, code uint16) bool {
	t, c := ErrorFor(err)
	return err != nil && t == typ && c == code
}
