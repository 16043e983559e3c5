package datapath

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

func TestLearningAndFlooding(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	for _, n := range []string{"a", "b", "c"} {
		tb.add(n, PortConfig{})
	}
	A, B := mac(1), mac(2)

	// Broadcast from a floods to b and c, never back to a.
	tb.send("a", frame(bcast, A, -1, 46))
	if got := keys(tb.got()); got != "b:1 c:1" {
		t.Fatalf("broadcast went to %q, want b:1 c:1", got)
	}
	// Unknown unicast floods too.
	tb.send("a", frame(B, A, -1, 46))
	if got := keys(tb.got()); got != "b:1 c:1" {
		t.Fatalf("unknown unicast went to %q, want b:1 c:1", got)
	}
	// b answers a: a is known, so only a gets it; b is learned.
	tb.send("b", frame(A, B, -1, 46))
	if got := keys(tb.got()); got != "a:1" {
		t.Fatalf("reply went to %q, want a:1", got)
	}
	// Now a→b is known unicast: c sees nothing.
	tb.send("a", frame(B, A, -1, 46))
	if got := keys(tb.got()); got != "b:1" {
		t.Fatalf("known unicast went to %q, want b:1", got)
	}
	// A frame to a MAC on its own ingress port is filtered.
	tb.send("a", frame(A, mac(9), -1, 46))
	if got := keys(tb.got()); got != "" {
		t.Fatalf("frame to own port went to %q", got)
	}
	if n := tb.drops("a", DropSamePort); n != 1 {
		t.Fatalf("same-port drops = %d, want 1", n)
	}
	st := tb.b.Stats().FDB
	if st.Entries != 3 || st.Learned != 3 {
		t.Fatalf("fdb stats %+v, want 3 entries learned", st)
	}
	if c := tb.ports["b"].Counters(); c.RxPackets.Load() != 1 || c.TxPackets.Load() != 3 {
		t.Fatalf("b counters rx=%d tx=%d, want 1 and 3", c.RxPackets.Load(), c.TxPackets.Load())
	}
}

func TestInvalidSourcesAndLinkLocal(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	tb.add("a", PortConfig{})
	tb.add("b", PortConfig{})
	for _, src := range [][6]byte{bcast, {0x01, 0, 0x5e, 0, 0, 1}, {}} {
		tb.send("a", frame(mac(2), src, -1, 46))
	}
	if got := keys(tb.got()); got != "" {
		t.Fatalf("invalid sources forwarded to %q", got)
	}
	if n := tb.drops("a", DropInvalidSource); n != 3 {
		t.Fatalf("invalid-source drops = %d, want 3", n)
	}
	for i := 0; i <= 0x0f; i++ {
		tb.send("a", frame([6]byte{0x01, 0x80, 0xc2, 0, 0, byte(i)}, mac(1), -1, 46))
	}
	// 01:80:c2:00:00:10 is not link-local: it floods.
	tb.send("a", frame([6]byte{0x01, 0x80, 0xc2, 0, 0, 0x10}, mac(1), -1, 46))
	if got := keys(tb.got()); got != "b:1" {
		t.Fatalf("link-local handling: got %q, want only the 0x10 frame on b", got)
	}
	if n := tb.drops("a", DropLinkLocal); n != 16 {
		t.Fatalf("link-local drops = %d, want 16", n)
	}
	tb.send("a", []byte{1, 2, 3})
	if n := tb.drops("a", DropBadFrame); n != 1 {
		t.Fatalf("bad-frame drops = %d, want 1", n)
	}
	if st := tb.b.Stats().FDB; st.Entries != 1 {
		t.Fatalf("fdb has %d entries, want only mac(1)", st.Entries)
	}
}

func TestMoveAgingAndStatic(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{AgingTime: 30 * time.Second})
	tb.add("a", PortConfig{})
	tb.add("b", PortConfig{})
	tb.add("c", PortConfig{})
	t0 := tb.b.epoch
	tb.b.Tick(t0)
	A := mac(1)
	tb.send("a", frame(bcast, A, -1, 46))
	tb.got()
	// A moves to c.
	tb.send("c", frame(bcast, A, -1, 46))
	tb.got()
	tb.send("b", frame(A, mac(2), -1, 46))
	if got := keys(tb.got()); got != "c:1" {
		t.Fatalf("after move frame went to %q, want c:1", got)
	}
	if st := tb.b.Stats().FDB; st.Moved != 1 {
		t.Fatalf("moved = %d, want 1", st.Moved)
	}
	// A static entry neither moves nor ages.
	S := mac(7)
	if err := tb.b.AddStaticFDB(S, 0, "a", netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	tb.send("b", frame(bcast, S, -1, 46)) // S seen on b: must not move
	tb.got()
	tb.send("c", frame(S, mac(3), -1, 46))
	if got := keys(tb.got()); got != "a:1" {
		t.Fatalf("static entry moved: frame went to %q, want a:1", got)
	}
	// Within the aging time nothing ages; after it, learned entries go.
	tb.b.Tick(t0.Add(20 * time.Second))
	if n := len(tb.b.FDB(-1)); n != 4 {
		t.Fatalf("fdb has %d entries at 20s, want 4", n)
	}
	tb.b.Tick(t0.Add(60 * time.Second))
	fdb := tb.b.FDB(-1)
	if len(fdb) != 1 || fdb[0].MAC != S || !fdb[0].Static || fdb[0].PortName != "a" {
		t.Fatalf("after aging fdb = %+v, want only the static entry", fdb)
	}
	if st := tb.b.Stats().FDB; st.Aged != 3 {
		t.Fatalf("aged = %d, want 3", st.Aged)
	}
	// A seen again after aging is relearned.
	tb.send("a", frame(bcast, A, -1, 46))
	if n := len(tb.b.FDB(-1)); n != 2 {
		t.Fatalf("relearn: %d entries, want 2", n)
	}
}

func TestActivityRefreshesAge(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{AgingTime: 30 * time.Second})
	tb.add("a", PortConfig{})
	tb.add("b", PortConfig{})
	t0 := tb.b.epoch
	for s := 0; s <= 100; s += 10 {
		tb.b.Tick(t0.Add(time.Duration(s) * time.Second))
		tb.send("a", frame(bcast, mac(1), -1, 46))
	}
	if n := len(tb.b.FDB(-1)); n != 1 {
		t.Fatalf("an active address aged out")
	}
}

func TestFDBLimitPolicies(t *testing.T) {
	for _, policy := range []FullPolicy{FullRefuse, FullEvictOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			tb := newTestBridge(t, BridgeConfig{MaxLearned: 4, FullPolicy: policy})
			tb.add("a", PortConfig{})
			tb.add("b", PortConfig{})
			t0 := tb.b.epoch
			if err := tb.b.AddStaticFDB(mac(100), 0, "b", netip.Addr{}); err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 6; i++ {
				tb.b.Tick(t0.Add(time.Duration(i) * time.Second))
				tb.send("a", frame(bcast, mac(i), -1, 46))
			}
			st := tb.b.Stats().FDB
			if st.Entries != 5 || st.Static != 1 {
				t.Fatalf("entries=%d static=%d, want 4 learned + 1 static", st.Entries, st.Static)
			}
			has := func(i int) bool {
				for _, e := range tb.b.FDB(-1) {
					if e.MAC == mac(i) {
						return true
					}
				}
				return false
			}
			switch policy {
			case FullRefuse:
				if st.Refused != 2 || st.Evicted != 0 || !has(1) || has(6) {
					t.Fatalf("refuse: %+v; mac1=%v mac6=%v", st, has(1), has(6))
				}
				// An unlearned destination is flooded, not dropped.
				tb.got()
				tb.send("b", frame(mac(6), mac(100), -1, 46))
				if got := keys(tb.got()); got != "a:1" {
					t.Fatalf("frame to unlearned mac went to %q", got)
				}
			case FullEvictOldest:
				if st.Evicted != 2 || st.Refused != 0 || has(1) || has(2) || !has(6) {
					t.Fatalf("evict: %+v; mac1=%v mac6=%v", st, has(1), has(6))
				}
			}
			if !has(100) {
				t.Fatal("static entry was evicted")
			}
		})
	}
}

func TestVLANAccessAndTrunk(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	tb.add("a", access(10))
	tb.add("b", access(10))
	tb.add("c", access(20))
	tb.add("t1", trunk("10,20", 0, false))
	tb.add("t2", trunk("10,30", 10, false)) // native 10, untagged

	// Untagged broadcast on access 10: b untagged, t1 tagged 10, t2 untagged (native).
	tb.send("a", frame(bcast, mac(1), -1, 46))
	got := tb.got()
	if keys(got) != "b:1 t1:1 t2:1" {
		t.Fatalf("vlan 10 flood went to %q", keys(got))
	}
	if tagOf(got["b"][0]) != -1 || tagOf(got["t1"][0]) != 10 || tagOf(got["t2"][0]) != -1 {
		t.Fatalf("egress tags b=%d t1=%d t2=%d, want -1 10 -1", tagOf(got["b"][0]), tagOf(got["t1"][0]), tagOf(got["t2"][0]))
	}
	if !bytes.Equal(got["b"][0], frame(bcast, mac(1), -1, 46)) {
		t.Fatal("access egress frame differs from the ingress frame")
	}
	// Tagged frame into an access port is dropped.
	tb.send("a", frame(bcast, mac(1), 10, 46))
	if got := keys(tb.got()); got != "" || tb.drops("a", DropVLANNotAllowed) != 1 {
		t.Fatalf("tagged on access: got %q drops %d", got, tb.drops("a", DropVLANNotAllowed))
	}
	// Priority-tagged frame on an access port is accepted, PCP kept on trunks.
	tb.send("a", frame(bcast, mac(1), 5<<13, 46))
	got = tb.got()
	if tagOf(got["t1"][0]) != 5<<13|10 || tagOf(got["b"][0]) != -1 {
		t.Fatalf("priority tag: t1 tci=%#x b=%d", tagOf(got["t1"][0]), tagOf(got["b"][0]))
	}
	// Trunk: VLAN 20 tagged goes to c untagged only; PCP+DEI kept.
	tb.send("t1", frame(bcast, mac(2), 3<<13|1<<12|20, 46))
	got = tb.got()
	if keys(got) != "c:1" || tagOf(got["c"][0]) != -1 {
		t.Fatalf("vlan 20 from trunk went to %q", keys(got))
	}
	// Trunk to trunk keeps PCP and DEI.
	tb.send("t1", frame(bcast, mac(2), 6<<13|1<<12|10, 46))
	got = tb.got()
	if tagOf(got["t2"][0]) != -1 { // native 10 leaves t2 untagged
		t.Fatalf("native egress tagged: %#x", tagOf(got["t2"][0]))
	}
	tb.b.Port("t2").SetConfig(trunk("10,30", 10, true))
	tb.send("t1", frame(bcast, mac(2), 6<<13|1<<12|10, 46))
	got = tb.got()
	if tagOf(got["t2"][0]) != 6<<13|1<<12|10 {
		t.Fatalf("native-tagged trunk egress tci=%#x, want PCP 6 DEI 1 VID 10", tagOf(got["t2"][0]))
	}
	// VLAN outside the trunk, untagged on a trunk without native, VID 4095.
	tb.send("t1", frame(bcast, mac(2), 30, 46))
	tb.send("t1", frame(bcast, mac(2), -1, 46))
	tb.send("t1", frame(bcast, mac(2), 4095, 46))
	if got := keys(tb.got()); got != "" {
		t.Fatalf("disallowed frames went to %q", got)
	}
	if tb.drops("t1", DropVLANNotAllowed) != 2 || tb.drops("t1", DropVLANReserved) != 1 {
		t.Fatalf("trunk drops: not-allowed=%d reserved=%d", tb.drops("t1", DropVLANNotAllowed), tb.drops("t1", DropVLANReserved))
	}
	// Untagged on t2 lands in native VLAN 10 (accepted even when native-tagged).
	tb.send("t2", frame(bcast, mac(3), -1, 46))
	if got := keys(tb.got()); got != "a:1 b:1 t1:1" {
		t.Fatalf("native untagged went to %q", got)
	}
	// Learning is per VLAN: mac(3) is known in VLAN 10, unknown in 20.
	tb.send("c", frame(mac(3), mac(4), -1, 46))
	if got := keys(tb.got()); got != "t1:1" {
		t.Fatalf("per-VLAN learning: got %q, want flood in vlan 20 (t1 only)", got)
	}
	tb.send("a", frame(mac(3), mac(1), -1, 46))
	if got := keys(tb.got()); got != "t2:1" {
		t.Fatalf("known unicast in vlan 10 went to %q", got)
	}
}

func TestKnownUnicastTagTranslation(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	tb.add("a", access(10))
	tb.add("t1", trunk("10", 0, false))
	tb.send("t1", frame(bcast, mac(2), 2<<13|10, 46))
	tb.send("a", frame(mac(2), mac(1), -1, 46)) // learned → pushed tag
	tb.send("t1", frame(mac(1), mac(2), 4<<13|10, 46))
	got := tb.got()
	if len(got["t1"]) != 1 || tagOf(got["t1"][0]) != 10 {
		t.Fatalf("access→trunk unicast: %v", got["t1"])
	}
	if len(got["a"]) != 2 || tagOf(got["a"][1]) != -1 || !bytes.Equal(got["a"][1], frame(mac(1), mac(2), -1, 46)) {
		t.Fatalf("trunk→access unicast not untagged cleanly")
	}
}

func TestDefaultPortsShareUntaggedDomainOnly(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	tb.add("a", PortConfig{})
	tb.add("b", PortConfig{})
	tb.add("c", access(10))
	tb.send("a", frame(bcast, mac(1), -1, 46))
	if got := keys(tb.got()); got != "b:1" {
		t.Fatalf("untagged domain flood went to %q, want b:1", got)
	}
	// A tagged frame on a default port is carried tagged to other default
	// ports and untagged to the access port of its VLAN.
	tb.send("a", frame(bcast, mac(1), 10, 46))
	got := tb.got()
	if keys(got) != "b:1 c:1" || tagOf(got["b"][0]) != 10 || tagOf(got["c"][0]) != -1 {
		t.Fatalf("tagged flood on default ports: %q", keys(got))
	}
}

func TestSetConfigFlushesAndRejects(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	a := tb.add("a", access(10))
	tb.add("b", access(10))
	tb.send("a", frame(bcast, mac(1), -1, 46))
	if err := a.SetConfig(PortConfig{Mode: ModeAccess, VLAN: 4095}); err == nil {
		t.Fatal("vlan 4095 accepted")
	}
	if a.Config().VLAN != 10 || len(tb.b.FDB(-1)) != 1 {
		t.Fatal("rejected config changed the port or the FDB")
	}
	if err := a.SetConfig(access(20)); err != nil {
		t.Fatal(err)
	}
	if n := len(tb.b.FDB(-1)); n != 0 {
		t.Fatalf("VLAN change left %d entries", n)
	}
	if err := tb.b.RemovePort("b"); err != nil {
		t.Fatal(err)
	}
	if err := tb.b.RemovePort("b"); err == nil {
		t.Fatal("removing a missing port succeeded")
	}
}

func TestPatchPortsJoinBridgesPerVLAN(t *testing.T) {
	b1 := newTestBridge(t, BridgeConfig{})
	b2 := newTestBridge(t, BridgeConfig{})
	pa, pb := NewPatchPair()
	p1, err := b1.b.AddPort("p1", pa, trunk("10,20", 0, false))
	if err != nil {
		t.Fatal(err)
	}
	p2, err := b2.b.AddPort("p2", pb, trunk("10,20", 0, false))
	if err != nil {
		t.Fatal(err)
	}
	pa.Attach(p1)
	pb.Attach(p2)
	b1.add("a", access(10))
	b1.add("c", access(20))
	b2.add("b", access(10))
	b2.add("d", access(20))
	b1.send("a", frame(bcast, mac(1), -1, 46))
	if got := keys(b2.got()); got != "b:1" {
		t.Fatalf("vlan 10 across patch went to %q, want b:1", got)
	}
	if got := keys(b1.got()); got != "" {
		t.Fatalf("vlan 10 leaked on bridge 1: %q", got)
	}
	b2.send("d", frame(bcast, mac(4), -1, 46))
	if got := keys(b1.got()); got != "c:1" {
		t.Fatalf("vlan 20 across patch went to %q, want c:1", got)
	}
	// b answers a by unicast across the patch.
	b2.send("b", frame(mac(1), mac(2), -1, 46))
	if got := keys(b1.got()); got != "a:1" {
		t.Fatalf("unicast across patch went to %q", got)
	}
}

func TestTunnelPortVNIMapAndRemoteLearning(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	tb.add("a", access(10))
	tb.add("c", access(20))
	tb.add("x", PortConfig{Tunnel: true, VNIs: map[uint16]uint32{10: 5001, 20: 5002}})
	r1, _ := InternEndpoint(netip.MustParseAddr("198.18.0.2"))
	r2, _ := InternEndpoint(netip.MustParseAddr("198.18.0.3"))

	// Local broadcast in VLAN 10 goes to the tunnel untagged, VNI 5001, flood.
	tb.send("a", frame(bcast, mac(1), -1, 46))
	d := tb.devs["x"]
	d.mu.Lock()
	o := d.outs[0]
	d.mu.Unlock()
	if got := tb.got(); tagOf(got["x"][0]) != -1 || o.VNI != 5001 || o.Remote != NoEndpoint {
		t.Fatalf("to tunnel: tag=%d vni=%d remote=%v", tagOf(got["x"][0]), o.VNI, o.Remote)
	}
	// A frame decapsulated from VNI 5002 (VLAN 20) learns its VTEP.
	p := NewPacket(128)
	p.SetData(frame(mac(1), mac(9), -1, 46)) // same MAC as a's host, other tenant
	p.Tunnel = TunnelMeta{Valid: true, VNI: 5002, Remote: r2}
	tb.ports["x"].Receive([]*Packet{p})
	if got := keys(tb.got()); got != "c:1" {
		t.Fatalf("VNI 5002 frame went to %q, want c:1 only (tenant isolation)", got)
	}
	// An unknown VNI is dropped and counted.
	p.SetData(frame(bcast, mac(9), -1, 46))
	p.Tunnel = TunnelMeta{Valid: true, VNI: 7777, Remote: r1}
	tb.ports["x"].Receive([]*Packet{p})
	if tb.drops("x", DropUnknownVNI) != 1 {
		t.Fatal("unknown VNI not counted")
	}
	// c answers: unicast to mac(9) goes to x with VNI 5002 and remote r2.
	tb.send("c", frame(mac(9), mac(3), -1, 46))
	d.mu.Lock()
	o = d.outs[len(d.outs)-1]
	d.mu.Unlock()
	if o.VNI != 5002 || o.Remote != r2 || o.Remote.Addr() != netip.MustParseAddr("198.18.0.3") {
		t.Fatalf("unicast to remote: vni=%d remote=%v", o.VNI, o.Remote)
	}
	fdb := tb.b.FDB(20)
	if len(fdb) != 2 || fdb[1].RemoteIP.String() != "198.18.0.3" || fdb[1].PortName != "x" {
		t.Fatalf("fdb vlan 20 = %+v", fdb)
	}
}

func TestNoLearningPort(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	tb.add("a", PortConfig{NoLearning: true})
	tb.add("b", PortConfig{})
	tb.send("a", frame(bcast, mac(1), -1, 46))
	if n := len(tb.b.FDB(-1)); n != 0 {
		t.Fatalf("no-learning port learned %d entries", n)
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []PortConfig{
		{Mode: ModeAccess, VLAN: 0},
		{Mode: ModeAccess, VLAN: 4095},
		{Mode: ModeAccess, VLAN: 10, NativeVLAN: 5},
		{Mode: ModeTrunk, NativeVLAN: 4095},
		{Mode: ModeTrunk, NativeTagged: true},
		{Mode: 7},
		{VNIs: map[uint16]uint32{10: 1}}, // not a tunnel
		{Tunnel: true, VNIs: map[uint16]uint32{10: 1, 20: 1}},
		{Tunnel: true, VNIs: map[uint16]uint32{10: 1 << 24}},
		{Tunnel: true, VNI: 1 << 24},
	}
	for i, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("case %d: %+v accepted", i, c)
		}
	}
	if _, err := ParseVLANList("10,4095"); err == nil {
		t.Error("4095 accepted in a VLAN list")
	}
	if _, err := ParseVLANList("20-10"); err == nil {
		t.Error("backwards range accepted")
	}
	s, err := ParseVLANList("10, 20-22,5")
	if err != nil || s.String() != "5,10,20-22" {
		t.Errorf("ParseVLANList = %q, %v", s.String(), err)
	}
	if err := (&BridgeConfig{AgingTime: time.Second}).Validate(); err == nil {
		t.Error("aging 1s accepted")
	}
	if err := (&BridgeConfig{MaxLearned: -1}).Validate(); err == nil {
		t.Error("negative fdb-max accepted")
	}
}

// Two bridges joined by two patch pairs form a loop: a broadcast must stop
// at the hop limit, counted, instead of looping or deadlocking.
func TestPatchLoopStopsAtHopLimit(t *testing.T) {
	b1 := newTestBridge(t, BridgeConfig{})
	b2 := newTestBridge(t, BridgeConfig{})
	for _, n := range []string{"p", "q"} {
		x, y := NewPatchPair()
		px, _ := b1.b.AddPort(n+"1", x, PortConfig{})
		py, _ := b2.b.AddPort(n+"2", y, PortConfig{})
		x.Attach(px)
		y.Attach(py)
	}
	b1.add("a", PortConfig{})
	done := make(chan struct{})
	go func() {
		b1.send("a", frame(bcast, mac(1), -1, 46))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("broadcast in a patch loop did not finish (deadlock)")
	}
	var loops uint64
	for _, tb := range []*testBridge{b1, b2} {
		for _, p := range tb.b.Ports() {
			loops += p.Counters().Drops[DropLoop].Load()
		}
	}
	if loops == 0 {
		t.Fatal("no loop drop counted")
	}
}
