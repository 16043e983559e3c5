package datapath

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// traceOuts traces a key and renders its outputs as "port[:vlan]" (vlan -1
// untagged) sorted, or "drop(reason)".
func traceOuts(b *Bridge, k Key) string {
	tr, _ := b.TraceKey(k, nil)
	var l []string
	for _, o := range tr.Outputs {
		switch {
		case o.Drop != "":
			l = append(l, "drop("+o.Drop+")")
		case o.VLAN >= 0:
			l = append(l, fmt.Sprintf("%s:%d/%d", o.Port, o.VLAN, o.PCP))
		default:
			l = append(l, o.Port)
		}
	}
	slices.Sort(l)
	return strings.Join(l, " ")
}

// keyOf builds the key of a frame from port in with an optional tag.
func keyOf(in uint16, dst, src [6]byte, vid, pcp int) Key {
	tci := -1
	if vid >= 0 {
		tci = pcp<<13 | vid
	}
	k, ok := KeyOfFrame(frame(dst, src, tci, 46), in)
	if !ok {
		panic("bad frame")
	}
	return k
}

// TestTraceVLANTable asserts NORMAL's VLAN handling as Open vSwitch's test
// suite does with ofproto/trace: a table of (in_port, VLAN, PCP,
// destination) → outputs with their egress VLAN, checked through the trace
// with no packet sent.
func TestTraceVLANTable(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	ports := []struct {
		name string
		cfg  PortConfig
	}{
		{"a10", access(10)}, {"b10", access(10)}, {"c20", access(20)},
		{"t1020", trunk("10,20", 0, false)}, {"t1030n10", trunk("10,30", 10, false)},
		{"all", PortConfig{}}, {"n30t", PortConfig{Mode: ModeTrunk, NativeVLAN: 30, NativeTagged: true}},
	}
	no := map[string]uint16{}
	for _, p := range ports {
		no[p.name] = tb.add(p.name, p.cfg).Number()
	}
	known := mac(50)
	// Teach the bridge known in VLAN 10 on b10 and in VLAN 20 on t1020.
	tb.send("b10", frame(bcast, known, -1, 46))
	tb.send("t1020", frame(bcast, known, 20, 46))
	tb.got()
	fdbBefore := len(tb.b.FDB(-1))
	cases := []struct {
		in       string
		vid, pcp int // vid -1: untagged
		dst      [6]byte
		want     string
	}{
		{"a10", -1, 0, bcast, "all:10/0 b10 n30t:10/0 t1020:10/0 t1030n10"},
		{"a10", 10, 0, bcast, "drop(vlan-not-allowed)"},
		{"a10", 0, 5, bcast, "all:10/5 b10 n30t:10/5 t1020:10/5 t1030n10"}, // priority tag: PCP kept on trunks
		{"a10", -1, 0, known, "b10"},
		{"b10", -1, 0, known, "drop(same-port)"},
		{"c20", -1, 0, bcast, "all:20/0 n30t:20/0 t1020:20/0"},
		{"c20", -1, 0, known, "t1020:20/0"},
		{"t1020", 20, 3, bcast, "all:20/3 c20 n30t:20/3"},
		{"t1020", 20, 3, known, "drop(same-port)"},
		{"t1020", 30, 0, bcast, "drop(vlan-not-allowed)"},
		{"t1020", -1, 0, bcast, "drop(vlan-not-allowed)"},
		{"t1020", 10, 7, known, "b10"},
		{"t1030n10", -1, 0, bcast, "a10 all:10/0 b10 n30t:10/0 t1020:10/0"},
		{"t1030n10", 10, 2, bcast, "a10 all:10/2 b10 n30t:10/2 t1020:10/2"},
		{"t1030n10", 30, 1, bcast, "all:30/1 n30t:30/1"},
		{"t1030n10", 20, 0, bcast, "drop(vlan-not-allowed)"},
		{"all", -1, 0, bcast, "drop(no-port)"}, // VLAN 0: the untagged domain, nobody else
		{"all", 4095, 0, bcast, "drop(vlan-reserved)"},
		{"all", 30, 6, bcast, "n30t:30/6 t1030n10:30/6"},
		{"n30t", -1, 0, bcast, "all:30/0 t1030n10:30/0"},
		{"n30t", 30, 4, bcast, "all:30/4 t1030n10:30/4"},
		{"n30t", 10, 0, bcast, "a10 b10 t1020:10/0 t1030n10 all:10/0"},
	}
	for _, c := range cases {
		k := keyOf(no[c.in], c.dst, mac(99), c.vid, c.pcp)
		got := traceOuts(tb.b, k)
		want := strings.Fields(c.want)
		slices.Sort(want)
		if got != strings.Join(want, " ") {
			t.Errorf("in_port=%s vlan=%d pcp=%d dst=%s: got %q, want %q", c.in, c.vid, c.pcp, macString(c.dst), got, strings.Join(want, " "))
		}
	}
	if n := len(tb.b.FDB(-1)); n != fdbBefore {
		t.Fatalf("tracing learned addresses: %d entries, had %d", n, fdbBefore)
	}
	if got := keys(tb.got()); got != "" {
		t.Fatalf("tracing sent frames: %q", got)
	}
}

// TestTraceTunnelAndPatch: VNI maps, remote VTEPs and patch ports through
// the trace, and the trace's text names each step.
func TestTraceTunnelAndPatch(t *testing.T) {
	b1 := newTestBridge(t, BridgeConfig{})
	b2 := newTestBridge(t, BridgeConfig{})
	vm := b1.add("vm", access(10)).Number()
	vx := b1.add("vx", PortConfig{Tunnel: true, VNIs: map[uint16]uint32{10: 5001, 20: 5002}, TunnelLocal: netip.MustParseAddr("198.18.0.1")}).Number()
	pa, pb := NewPatchPair()
	p1, _ := b1.b.AddPort("p1", pa, trunk("10", 0, false))
	p2, _ := b2.b.AddPort("p2", pb, trunk("10", 0, false))
	pa.Attach(p1)
	pb.Attach(p2)
	b2.add("far", access(10))
	// A frame from VNI 5001 on the tunnel learns its VTEP.
	r, _ := InternEndpoint(netip.MustParseAddr("198.18.0.2"))
	pkt := NewPacket(128)
	pkt.SetData(frame(bcast, mac(7), -1, 46))
	pkt.Tunnel = TunnelMeta{Valid: true, VNI: 5001, Remote: r}
	b1.ports["vx"].Receive([]*Packet{pkt})
	b1.got()
	b2.got()

	if got := traceOuts(b1.b, keyOf(vm, bcast, mac(1), -1, 0)); got != "far vx" { // far is on the bridge behind p1
		t.Fatalf("broadcast from vm: %q", got)
	}
	tr, _ := b1.b.TraceKey(keyOf(vm, mac(7), mac(1), -1, 0), nil)
	if len(tr.Outputs) != 1 || tr.Outputs[0].Port != "vx" || tr.Outputs[0].VNI != 5001 || tr.Outputs[0].Remote != "198.18.0.2" {
		t.Fatalf("unicast to the remote MAC: %+v", tr.Outputs)
	}
	text := tr.String()
	for _, want := range []string{"ingress VLAN 10 on port vm", "FDB: 02:00:00:00:00:07 in VLAN 10 is on port vx", "encapsulate with VNI 5001, remote VTEP 198.18.0.2"} {
		if !strings.Contains(text, want) {
			t.Fatalf("trace lacks %q:\n%s", want, text)
		}
	}
	// From the tunnel, VNI 5002 is VLAN 20: nobody carries it but the tunnel.
	k := keyOf(vx, bcast, mac(8), -1, 0)
	k.Set(FieldTunID, Value{Lo: 5002})
	if got := traceOuts(b1.b, k); got != "drop(no-port)" {
		t.Fatalf("VNI 5002 broadcast: %q", got)
	}
	k.Set(FieldTunID, Value{Lo: 5001})
	if got := traceOuts(b1.b, k); got != "far vm" {
		t.Fatalf("VNI 5001 broadcast: %q", got)
	}
	tr, _ = b1.b.TraceKey(keyOf(vm, bcast, mac(1), -1, 0), nil)
	if !strings.Contains(tr.String(), "patch port p1 → p2 on bridge br-test") {
		t.Fatalf("the trace does not cross the patch port:\n%s", tr.String())
	}
}

// TestTraceFlowsTablesAndRewrites: a multi-table pipeline with rewrites,
// goto_table, resubmit and registers, each step in the trace.
func TestTraceFlowsTablesAndRewrites(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	a := tb.add("a", PortConfig{}).Number()
	tb.add("b", PortConfig{})
	tb.add("c", PortConfig{})
	r0 := Rule{Table: 0, Priority: 10, Instr: Instructions{Apply: []Action{
		{Kind: ActSetField, Field: FieldReg0 + 3, Value: Value{Lo: 7}, Mask: (FieldReg0 + 3).FullMask()},
		{Kind: ActSetField, Field: FieldVLANVID, Value: Value{Lo: 0x1000 | 42}, Mask: FieldVLANVID.FullMask(), PushVLAN: true},
	}, Goto: 1}}
	r1 := Rule{Table: 1, Priority: 10, Instr: Instructions{Apply: []Action{
		{Kind: ActOutput, Port: 2},
		{Kind: ActPopVLAN},
		{Kind: ActResubmit, Port: PortInPort, Table: 2},
	}, Goto: NoGoto}}
	r1.Match.SetExact(FieldReg0+3, Value{Lo: 7})
	r2 := Rule{Table: 2, Priority: 10, Instr: Instructions{Apply: []Action{{Kind: ActOutput, Port: 3}}, Goto: NoGoto}}
	r2.Match.Set(FieldVLANVID, Value{}, Value{Lo: 0x1000}) // untagged only
	if err := tb.b.ReplaceFlows([]Rule{r0, r1, r2}); err != nil {
		t.Fatal(err)
	}
	k := keyOf(a, mac(2), mac(1), -1, 0)
	if got := traceOuts(tb.b, k); got != "b:42/0 c" {
		t.Fatalf("outputs %q, want b tagged 42 and c untagged", got)
	}
	// The real path agrees, in the forms the trace said.
	tb.send("a", frame(mac(2), mac(1), -1, 46))
	got := tb.got()
	if tagOf(got["b"][0]) != 42 || tagOf(got["c"][0]) != -1 {
		t.Fatalf("sent tags b=%d c=%d", tagOf(got["b"][0]), tagOf(got["c"][0]))
	}
	tr, _ := tb.b.TraceKey(k, nil)
	for _, want := range []string{"table 0: priority=10", "goto_table:1", "table 1: priority=10", "resubmit(IN_PORT,2)", "table 2: priority=10", "output to c"} {
		if !strings.Contains(tr.String(), want) {
			t.Fatalf("trace lacks %q:\n%s", want, tr.String())
		}
	}
}
