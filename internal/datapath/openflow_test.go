package datapath

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// udpFrame is an Ethernet/IPv4/UDP frame with a correct IP header
// checksum.
func udpFrame(dst, src [6]byte, sip, dip [4]byte, sport, dport uint16, tos, ttl uint8) []byte {
	b := make([]byte, 14+20+8+18)
	copy(b[0:], dst[:])
	copy(b[6:], src[:])
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0], ip[1] = 0x45, tos
	binary.BigEndian.PutUint16(ip[2:], uint16(len(b)-14))
	ip[8], ip[9] = ttl, 17
	copy(ip[12:], sip[:])
	copy(ip[16:], dip[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	u := ip[20:]
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+18))
	return b
}

func ip4(a, b, c, d byte) [4]byte { return [4]byte{a, b, c, d} }

// recorder is a PacketInHandler that keeps what it gets (copies).
type recorder struct {
	mu   sync.Mutex
	pins []PacketIn
	full bool // refuse everything
}

func (r *recorder) PacketIn(p PacketIn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.full {
		return false
	}
	p.Frame = append([]byte(nil), p.Frame...)
	p.Userdata = append([]byte(nil), p.Userdata...)
	r.pins = append(r.pins, p)
	return true
}

func (r *recorder) take() []PacketIn {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.pins
	r.pins = nil
	return l
}

func (tb *testBridge) flows(mods ...FlowMod) FlowChanges {
	tb.t.Helper()
	ch, i, err := tb.b.ApplyFlowMods(mods)
	if err != nil {
		tb.t.Fatalf("flow mod %d: %v", i, err)
	}
	return ch
}

func addRule(table uint8, prio uint16, m Match, acts ...Action) FlowMod {
	return FlowMod{Command: FlowAdd, Rule: Rule{Table: table, Priority: prio, Match: m, Instr: Instructions{Apply: acts, Goto: NoGoto}, Origin: OriginOpenFlow}}
}

func inPort(no uint16) Match {
	var m Match
	m.SetExact(FieldInPort, Value{Lo: uint64(no)})
	return m
}

func out(no uint32) Action { return Action{Kind: ActOutput, Port: no} }

// The table-miss rule, output:CONTROLLER with max_len, registers, a
// rewrite before the output, a tunnel and a refusing handler.
func TestPacketIns(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	tb.add("p1", PortConfig{})
	tb.add("p2", PortConfig{})
	rec := &recorder{}
	tb.b.SetPacketInHandler(rec)
	tb.flows(FlowMod{Command: FlowDelete, Rule: Rule{Table: TableAll}},
		addRule(0, 0, Match{}, Action{Kind: ActOutput, Port: PortController, MaxLen: 0xffff}),
		addRule(0, 10, inPort(2),
			Action{Kind: ActSetField, Field: FieldReg0 + 3, Value: Value{Lo: 7}, Mask: (FieldReg0 + 3).FullMask()},
			Action{Kind: ActSetField, Field: FieldEthSrc, Value: Value{Lo: 0x020000000099}, Mask: FieldEthSrc.FullMask()},
			Action{Kind: ActOutput, Port: PortController, MaxLen: 20}, out(1)))
	f := frame(mac(2), mac(1), -1, 40)
	tb.send("p1", f)
	pins := rec.take()
	if len(pins) != 1 || pins[0].Reason != PacketInNoMatch || pins[0].InPort != 1 || pins[0].MaxLen != MaxLenAll || string(pins[0].Frame) != string(f) {
		t.Fatalf("table-miss rule packet-in: %+v", pins)
	}
	tb.send("p2", f)
	pins = rec.take()
	if len(pins) != 1 {
		t.Fatalf("%d packet-ins", len(pins))
	}
	p := pins[0]
	if p.Reason != PacketInAction || p.InPort != 2 || p.MaxLen != 20 || p.Regs[3] != 7 || p.Cookie != 0 || p.TableID != 0 {
		t.Errorf("action packet-in %+v", p)
	}
	if src := p.Frame[6:12]; src[5] != 0x99 {
		t.Errorf("the packet-in does not carry the rewrite before it: src %x", src)
	}
	if got := tb.got(); len(got["p1"]) != 1 {
		t.Errorf("the output after the controller action: %v", keys(got))
	}
	// A handler that refuses counts a controller drop.
	rec.full = true
	tb.send("p1", f)
	if n := tb.drops("p1", DropController); n != 1 {
		t.Errorf("controller drops %d, want 1", n)
	}
	rec.full = false
	// No handler: dropped and counted too.
	tb.b.SetPacketInHandler(nil)
	tb.send("p1", f)
	if n := tb.drops("p1", DropController); n != 2 {
		t.Errorf("controller drops without a handler %d, want 2", n)
	}
	// no_packet_in on the ingress port.
	tb.b.SetPacketInHandler(rec)
	tb.ports["p1"].SetOpenFlowConfig(PortConfigNoPacketIn)
	tb.send("p1", f)
	if l := rec.take(); len(l) != 0 {
		t.Errorf("packet-in from a no_packet_in port: %+v", l)
	}
	tb.ports["p1"].SetOpenFlowConfig(0)
	// Table miss with no table-miss rule: dropped, or to the controller
	// with each connection's miss_send_len once asked.
	tb.flows(FlowMod{Command: FlowDelete, Rule: Rule{Table: TableAll}})
	tb.send("p1", f)
	if l := rec.take(); len(l) != 0 || tb.drops("p1", DropTableMiss) != 1 {
		t.Errorf("plain table miss: %d packet-ins, %d table-miss drops", len(l), tb.drops("p1", DropTableMiss))
	}
	tb.b.SetTableMissController(true)
	tb.send("p1", f)
	if l := rec.take(); len(l) != 1 || l[0].Reason != PacketInNoMatch || l[0].MaxLen != MaxLenMissSend || l[0].Cookie != ^uint64(0) {
		t.Errorf("table miss to controller: %+v", l)
	}
}

func TestPacketInTunnelMetadata(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	tb.add("p1", PortConfig{})
	tb.add("vx", PortConfig{Tunnel: true, VNI: 5001, TunnelLocal: netip.MustParseAddr("198.18.0.1")})
	rec := &recorder{}
	tb.b.SetPacketInHandler(rec)
	tb.flows(FlowMod{Command: FlowDelete, Rule: Rule{Table: TableAll}}, addRule(0, 0, Match{}, Action{Kind: ActOutput, Port: PortController, MaxLen: 0xffff}))
	ep, _ := InternEndpoint(netip.MustParseAddr("198.18.0.2"))
	pk := NewPacket(2048)
	pk.SetData(frame(mac(2), mac(1), -1, 40))
	pk.Tunnel = TunnelMeta{Valid: true, VNI: 5001, Remote: ep}
	tb.ports["vx"].Receive([]*Packet{pk})
	l := rec.take()
	if len(l) != 1 || !l[0].HasTunnel || l[0].TunnelID != 5001 || l[0].TunSrc.String() != "198.18.0.2" || l[0].TunDst.String() != "198.18.0.1" {
		t.Fatalf("tunnel packet-in %+v", l)
	}
}

type nopHandler struct{ n int }

func (h *nopHandler) PacketIn(p PacketIn) bool { h.n++; return true }

// The packet-in path allocates nothing per packet.
func TestPacketInAllocatesNothing(t *testing.T) {
	b, _ := NewBridge("alloc", BridgeConfig{})
	p1, _ := b.AddPort("a", &memPort{}, PortConfig{})
	b.AddPort("b", &memPort{}, PortConfig{})
	h := &nopHandler{}
	b.SetPacketInHandler(h)
	if _, _, err := b.ApplyFlowMods([]FlowMod{addRule(0, 100, Match{}, Action{Kind: ActOutput, Port: PortController, MaxLen: 128}, out(2))}); err != nil {
		t.Fatal(err)
	}
	batch := make([]*Packet, 32)
	frames := make([][]byte, 32)
	for i := range batch {
		batch[i] = NewPacket(2048)
		frames[i] = frame(mac(i+100), mac(i+1), -1, 46)
	}
	run := func() {
		for i, p := range batch {
			p.SetData(frames[i])
		}
		p1.Receive(batch)
	}
	run()
	if a := testing.AllocsPerRun(100, run); a != 0 {
		t.Fatalf("the packet-in path allocates %.1f times per batch", a)
	}
	if h.n == 0 {
		t.Fatal("no packet-ins")
	}
}

func TestFailOpenRuleWins(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	tb.add("p1", PortConfig{})
	tb.add("p2", PortConfig{})
	tb.flows(FlowMod{Command: FlowDelete, Rule: Rule{Table: TableAll}}, addRule(0, 65535, Match{}))
	f := frame(bcast, mac(1), -1, 40)
	tb.send("p1", f)
	if got := tb.got(); len(got) != 0 {
		t.Fatalf("the drop rule let %v through", keys(got))
	}
	tb.b.SetFailOpen(true)
	tb.send("p1", f)
	if got := tb.got(); len(got["p2"]) != 1 {
		t.Fatalf("fail-open did not flood: %v", keys(got))
	}
	for _, e := range tb.b.DumpFlows(TableAll, nil, 0, 0, PortAny) {
		if e.Rule == tb.b.snap.Load().of.failRule {
			t.Fatal("the fail-open rule is dumped")
		}
	}
	tb.b.SetFailOpen(false)
	tb.send("p1", f)
	if got := tb.got(); len(got) != 0 {
		t.Fatalf("after fail-open ended: %v", keys(got))
	}
}

func TestPacketOut(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	tb.add("p1", PortConfig{})
	tb.add("p2", PortConfig{})
	tb.add("p3", access(10))
	rec := &recorder{}
	tb.b.SetPacketInHandler(rec)
	f := frame(mac(2), mac(1), -1, 40)
	if err := tb.b.PacketOut(f, PortController, []Action{{Kind: ActSetField, Field: FieldEthDst, Value: Value{Lo: 0x020000000077}, Mask: FieldEthDst.FullMask()}, out(2)}); err != nil {
		t.Fatal(err)
	}
	got := tb.got()
	if len(got["p2"]) != 1 || got["p2"][0][5] != 0x77 || len(got) != 1 {
		t.Fatalf("output:2: %v", keys(got))
	}
	// NORMAL from the controller floods the untagged domain (not the
	// access port of VLAN 10) and learns nothing.
	tb.b.PacketOut(frame(bcast, mac(1), -1, 40), PortController, []Action{out(PortNormal)})
	if got := tb.got(); keys(got) != "p1:1 p2:1" {
		t.Errorf("NORMAL from the controller: %v", keys(got))
	}
	if len(tb.b.FDB(-1)) != 0 {
		t.Errorf("NORMAL from the controller learned %v", tb.b.FDB(-1))
	}
	// in_port and IN_PORT.
	tb.b.PacketOut(f, 1, []Action{out(PortInPort)})
	if got := tb.got(); keys(got) != "p1:1" {
		t.Errorf("output:IN_PORT: %v", keys(got))
	}
	// output:TABLE runs the pipeline and counts the rule.
	tb.flows(FlowMod{Command: FlowDelete, Rule: Rule{Table: TableAll}}, addRule(0, 5, inPort(1), out(3)))
	tb.b.PacketOut(f, 1, []Action{out(PortTable)})
	if got := tb.got(); keys(got) != "p3:1" {
		t.Errorf("output:TABLE: %v", keys(got))
	}
	if e := tb.b.DumpFlows(0, nil, 0, 0, PortAny); len(e) != 1 || e[0].Stats.Packets != 1 {
		t.Errorf("rule counters after output:TABLE: %+v", e)
	}
	// To the controller: reason packet_out.
	tb.b.PacketOut(f, PortController, []Action{out(PortController)})
	if l := rec.take(); len(l) != 1 || l[0].Reason != PacketInPacketOut || l[0].InPort != PortController {
		t.Errorf("packet-out to the controller: %+v", l)
	}
	if err := tb.b.PacketOut(f, 99, []Action{out(1)}); err == nil {
		t.Error("packet-out from a port that does not exist accepted")
	}
	if err := tb.b.PacketOut(f[:10], 1, nil); err == nil {
		t.Error("10-byte packet-out accepted")
	}
}

func TestGroups(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	for i := 1; i <= 4; i++ {
		tb.add(fmt.Sprintf("p%d", i), PortConfig{})
	}
	setDst := func(v uint64) Action {
		return Action{Kind: ActSetField, Field: FieldEthDst, Value: Value{Lo: v}, Mask: FieldEthDst.FullMask()}
	}
	// all: each bucket on its own copy; the action after the group sees
	// the packet as before it.
	if err := tb.b.AddGroup(GroupConfig{ID: 1, Type: GroupAll, Buckets: []Bucket{
		{WatchPort: PortAny, WatchGroup: GroupAny, Actions: []Action{setDst(0x0200000000a2), out(2)}},
		{WatchPort: PortAny, WatchGroup: GroupAny, Actions: []Action{setDst(0x0200000000a3), out(3)}}}}); err != nil {
		t.Fatal(err)
	}
	if err := tb.b.AddGroup(GroupConfig{ID: 1, Type: GroupIndirect, Buckets: []Bucket{{WatchPort: PortAny, WatchGroup: GroupAny}}}); err == nil {
		t.Error("a second group 1 accepted")
	}
	tb.flows(FlowMod{Command: FlowDelete, Rule: Rule{Table: TableAll}}, addRule(0, 1, inPort(1), Action{Kind: ActGroup, ID: 1}, out(4)))
	f := frame(mac(9), mac(1), -1, 40)
	tb.send("p1", f)
	got := tb.got()
	if len(got["p2"]) != 1 || got["p2"][0][5] != 0xa2 || len(got["p3"]) != 1 || got["p3"][0][5] != 0xa3 || len(got["p4"]) != 1 || got["p4"][0][5] != 9 {
		t.Fatalf("all group: %v", got)
	}
	if g := tb.b.Groups(); len(g) != 1 || g[0].Packets != 1 || g[0].Buckets[0].Packets != 1 || g[0].Buckets[1].Packets != 1 || g[0].RefCount != 1 {
		t.Errorf("group stats %+v", g)
	}
	// An OpenFlow rule naming a group that does not exist is refused.
	if _, _, err := tb.b.ApplyFlowMods([]FlowMod{addRule(0, 2, inPort(2), Action{Kind: ActGroup, ID: 9})}); err == nil {
		t.Error("rule to group 9 accepted")
	}
	// fast_failover follows the watch port's liveness, through the cache.
	if err := tb.b.AddGroup(GroupConfig{ID: 2, Type: GroupFastFailover, Buckets: []Bucket{
		{WatchPort: 2, WatchGroup: GroupAny, Actions: []Action{out(2)}},
		{WatchPort: 3, WatchGroup: GroupAny, Actions: []Action{out(3)}}}}); err != nil {
		t.Fatal(err)
	}
	tb.flows(addRule(0, 1, inPort(1), Action{Kind: ActGroup, ID: 2}))
	tb.send("p1", f)
	if got := tb.got(); keys(got) != "p2:1" {
		t.Fatalf("ff with port 2 live: %v", keys(got))
	}
	tb.ports["p2"].SetLinkUp(false)
	tb.send("p1", f)
	if got := tb.got(); keys(got) != "p3:1" {
		t.Fatalf("ff with port 2 down: %v", keys(got))
	}
	tb.ports["p3"].SetOpenFlowConfig(PortConfigDown)
	tb.send("p1", f)
	if got := tb.got(); len(got) != 0 {
		t.Fatalf("ff with no live bucket: %v", keys(got))
	}
	tb.ports["p2"].SetLinkUp(true)
	tb.ports["p3"].SetOpenFlowConfig(0)
	// select: weights honoured, a flow keeps its bucket, both directions
	// of a flow pick the same one.
	if err := tb.b.AddGroup(GroupConfig{ID: 3, Type: GroupSelect, Buckets: []Bucket{
		{Weight: 1, WatchPort: PortAny, WatchGroup: GroupAny, Actions: []Action{out(2)}},
		{Weight: 3, WatchPort: PortAny, WatchGroup: GroupAny, Actions: []Action{out(3)}}}}); err != nil {
		t.Fatal(err)
	}
	tb.flows(addRule(0, 1, inPort(1), Action{Kind: ActGroup, ID: 3}), addRule(0, 1, inPort(4), Action{Kind: ActGroup, ID: 3}))
	counts := map[string]int{}
	for i := 0; i < 2000; i++ {
		a, b := ip4(203, 0, 113, byte(i)), ip4(198, 51, 100, byte(i>>8))
		fw := udpFrame(mac(9), mac(1), a, b, uint16(1000+i), 53, 0, 64)
		tb.send("p1", fw)
		g := tb.got()
		var where string
		for k := range g {
			where = k
		}
		counts[where]++
		tb.send("p1", fw)
		if g2 := tb.got(); len(g2[where]) != 1 {
			t.Fatalf("flow %d moved from %s to %v", i, where, keys(g2))
		}
		if i%50 == 0 {
			back := udpFrame(mac(1), mac(9), b, a, 53, uint16(1000+i), 0, 64)
			tb.send("p4", back)
			if g3 := tb.got(); len(g3[where]) != 1 {
				t.Fatalf("reverse of flow %d went to %v, not %s", i, keys(g3), where)
			}
		}
	}
	if r := float64(counts["p3"]) / float64(counts["p2"]); r < 2.3 || r > 3.9 {
		t.Errorf("weights 1:3 gave %v", counts)
	}
	// Deleting a group another one chains to is refused; deleting one
	// removes its flows with reason group-delete.
	tb.b.AddGroup(GroupConfig{ID: 4, Type: GroupIndirect, Buckets: []Bucket{{WatchPort: PortAny, WatchGroup: GroupAny, Actions: []Action{{Kind: ActGroup, ID: 1}}}}})
	if _, err := tb.b.DeleteGroup(1); err == nil {
		t.Error("deleted group 1 although group 4 forwards to it")
	}
	if err := tb.b.ModifyGroup(GroupConfig{ID: 1, Type: GroupIndirect, Buckets: []Bucket{{WatchPort: PortAny, WatchGroup: GroupAny, Actions: []Action{{Kind: ActGroup, ID: 4}}}}}); err == nil {
		t.Error("a loop 1 → 4 → 1 accepted")
	}
	var removed []FlowRemoved
	tb.b.OnFlowRemoved(func(l []FlowRemoved) { removed = append(removed, l...) })
	ch, err := tb.b.DeleteGroup(3)
	if err != nil || len(ch.Removed) != 2 || len(removed) != 2 || removed[0].Reason != RemovedGroupDelete {
		t.Errorf("delete group 3: %v, changes %+v, told %+v", err, ch, removed)
	}
	if _, err := tb.b.DeleteGroup(GroupAllID); err != nil || len(tb.b.Groups()) != 0 {
		t.Errorf("delete all groups: %v, left %d", err, len(tb.b.Groups()))
	}
}

func TestMeters(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	tb.add("p1", PortConfig{})
	tb.add("p2", PortConfig{})
	if err := tb.b.AddMeter(MeterConfig{ID: 1, Packets: true, Burst: true, Bands: []MeterBand{{Type: MeterBandDrop, Rate: 1, Burst: 10}}}); err != nil {
		t.Fatal(err)
	}
	if err := tb.b.AddMeter(MeterConfig{ID: 1, Packets: true, Bands: []MeterBand{{Type: MeterBandDrop, Rate: 1}}}); err == nil {
		t.Error("a second meter 1 accepted")
	}
	m := FlowMod{Command: FlowAdd, Rule: Rule{Priority: 10, Match: inPort(1), Instr: Instructions{Meter: 1, Apply: []Action{out(2)}, Goto: NoGoto}, Origin: OriginOpenFlow}}
	tb.flows(FlowMod{Command: FlowDelete, Rule: Rule{Table: TableAll}}, m)
	frames := make([][]byte, 50)
	for i := range frames {
		frames[i] = frame(mac(9), mac(1), -1, 40)
	}
	tb.send("p1", frames...)
	if n := len(tb.got()["p2"]); n < 10 || n > 11 {
		t.Fatalf("a 1 pkt/s meter with a burst of 10 passed %d of 50", n)
	}
	me := tb.b.Meters()
	if len(me) != 1 || me[0].Packets != 50 || me[0].Bands[0].Packets < 39 || me[0].FlowCount != 1 {
		t.Errorf("meter stats %+v", me)
	}
	if tb.drops("p1", DropPoliced) < 39 {
		t.Errorf("policed drops %d", tb.drops("p1", DropPoliced))
	}
	// dscp_remark raises the drop precedence: AF11 (10) + 1 = AF12 (12).
	if err := tb.b.AddMeter(MeterConfig{ID: 2, Burst: true, Bands: []MeterBand{{Type: MeterBandDSCPRemark, Rate: 8, Burst: 1, PrecLevel: 1}}}); err != nil {
		t.Fatal(err)
	}
	m.Rule.Instr.Meter = 2
	tb.flows(m)
	var batch [][]byte
	for i := 0; i < 10; i++ {
		batch = append(batch, udpFrame(mac(9), mac(1), ip4(203, 0, 113, 1), ip4(203, 0, 113, 2), 1, 2, 10<<2, 64))
	}
	tb.send("p1", batch...)
	got := tb.got()["p2"]
	remarked := 0
	for _, f := range got {
		switch f[15] >> 2 {
		case 12:
			remarked++
			var sum uint32
			for i := 14; i < 34; i += 2 {
				sum += uint32(binary.BigEndian.Uint16(f[i:]))
			}
			for sum > 0xffff {
				sum = sum&0xffff + sum>>16
			}
			if sum != 0xffff {
				t.Fatalf("remarked frame has a bad IP checksum")
			}
		case 10:
		default:
			t.Fatalf("dscp %d", f[15]>>2)
		}
	}
	if len(got) != 10 || remarked < 8 {
		t.Errorf("%d frames, %d remarked (a 8 kbit/s bucket of 1 kbit takes one 60-byte frame)", len(got), remarked)
	}
	// A rule using an unknown meter is refused; deleting a meter deletes
	// its rules.
	if _, _, err := tb.b.ApplyFlowMods([]FlowMod{{Command: FlowAdd, Rule: Rule{Priority: 3, Instr: Instructions{Meter: 7}, Origin: OriginOpenFlow}}}); err == nil {
		t.Error("rule with meter 7 accepted")
	}
	ch := tb.b.DeleteMeter(2)
	if len(ch.Removed) != 1 || ch.Removed[0].Reason != RemovedMeterDelete {
		t.Errorf("delete meter 2: %+v", ch)
	}
	tb.b.DeleteMeter(MeterAllID)
	if len(tb.b.Meters()) != 0 {
		t.Error("meters left after delete all")
	}
}

func TestTokenBucket(t *testing.T) {
	tb := NewTokenBucket(1000, 10)
	now := Monotime()
	n := 0
	for i := 0; i < 20; i++ {
		if tb.Take(now, 1) {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("a bucket of 10 gave %d", n)
	}
	if !tb.Take(now+int64(5*time.Millisecond), 5) || tb.Take(now+int64(5*time.Millisecond), 1) {
		t.Fatal("5 ms at 1000/s did not refill 5 tokens exactly")
	}
}

func TestPortConfigBits(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	for i := 1; i <= 3; i++ {
		tb.add(fmt.Sprintf("p%d", i), PortConfig{})
	}
	f := frame(bcast, mac(1), -1, 40)
	tb.ports["p2"].SetOpenFlowConfig(PortConfigNoFwd)
	tb.send("p1", f)
	if got := tb.got(); keys(got) != "p3:1" {
		t.Errorf("NORMAL flood with p2 no_fwd: %v", keys(got))
	}
	tb.ports["p2"].SetOpenFlowConfig(PortConfigNoRecv)
	tb.send("p2", f)
	if got := tb.got(); len(got) != 0 || tb.drops("p2", DropPortDown) != 1 {
		t.Errorf("no_recv: %v, %d drops", keys(got), tb.drops("p2", DropPortDown))
	}
	tb.ports["p2"].SetOpenFlowConfig(PortConfigNoFlood)
	tb.flows(FlowMod{Command: FlowDelete, Rule: Rule{Table: TableAll}}, addRule(0, 1, inPort(1), out(PortFlood)), addRule(0, 1, inPort(3), out(PortAll)))
	tb.send("p1", f)
	if got := tb.got(); keys(got) != "p3:1" {
		t.Errorf("FLOOD with p2 no_flood: %v", keys(got))
	}
	tb.send("p3", f)
	if got := tb.got(); keys(got) != "p1:1 p2:1" {
		t.Errorf("ALL with p2 no_flood: %v", keys(got))
	}
	tb.ports["p1"].SetOpenFlowConfig(PortConfigDown)
	tb.send("p3", f)
	if got := tb.got(); keys(got) != "p2:1" || tb.ports["p1"].Live() {
		t.Errorf("ALL with p1 port_down: %v", keys(got))
	}
}

func TestFragmentDropExitAndOutputReg(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	tb.add("p1", PortConfig{})
	tb.add("p2", PortConfig{})
	tb.add("p3", PortConfig{})
	frag := udpFrame(bcast, mac(1), ip4(203, 0, 113, 1), ip4(203, 0, 113, 2), 1, 2, 0, 64)
	frag[14+6] = 0x20 // MF
	tb.b.SetFragmentDrop(true)
	tb.send("p1", frag)
	if got := tb.got(); len(got) != 0 {
		t.Errorf("fragment forwarded with frag=drop: %v", keys(got))
	}
	tb.b.SetFragmentDrop(false)
	tb.send("p1", frag)
	if got := tb.got(); len(got) != 2 {
		t.Errorf("fragment with frag=normal: %v", keys(got))
	}
	// output:reg0[0..15] and exit (the action set still runs).
	tb.flows(FlowMod{Command: FlowDelete, Rule: Rule{Table: TableAll}},
		FlowMod{Command: FlowAdd, Rule: Rule{Match: inPort(1), Origin: OriginOpenFlow, Instr: Instructions{
			Apply: []Action{{Kind: ActSetField, Field: FieldReg0, Value: Value{Lo: 3}, Mask: FieldReg0.FullMask()},
				{Kind: ActOutputReg, Src: FieldReg0, NBits: 16}, {Kind: ActExit}, out(2)},
			Write: []Action{out(2)}, Goto: NoGoto}}})
	tb.send("p1", frame(mac(5), mac(1), -1, 40))
	if got := tb.got(); keys(got) != "p2:1 p3:1" {
		t.Errorf("output_reg then exit (action set output:2): %v", keys(got))
	}
}
