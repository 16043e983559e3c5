package datapath

import (
	"net/netip"
	"testing"
	"time"
)

func TestAgingOverride(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{AgingTime: 300 * time.Second})
	tb.add("a", PortConfig{})
	tb.add("b", PortConfig{})
	t0 := tb.b.epoch
	tb.b.Tick(t0.Add(time.Second))
	tb.send("a", frame(bcast, mac(1), -1, 10))
	if _, ok := tb.b.LookupFDB(mac(1), 0); !ok {
		t.Fatal("not learned")
	}
	tb.b.SetAgingOverride(4 * time.Second)
	if tb.b.AgingOverride() != 4*time.Second {
		t.Fatal(tb.b.AgingOverride())
	}
	tb.b.Tick(t0.Add(3 * time.Second))
	if _, ok := tb.b.LookupFDB(mac(1), 0); !ok {
		t.Fatal("aged before the short aging time")
	}
	for s := 4; s <= 7; s++ {
		tb.b.Tick(t0.Add(time.Duration(s) * time.Second))
	}
	if _, ok := tb.b.LookupFDB(mac(1), 0); ok {
		t.Fatal("not aged within the short aging time")
	}
	// Back to the bridge's aging: a new entry lives on.
	tb.b.SetAgingOverride(0)
	tb.send("a", frame(bcast, mac(2), -1, 10))
	for s := 8; s <= 30; s++ {
		tb.b.Tick(t0.Add(time.Duration(s) * time.Second))
	}
	if p, ok := tb.b.LookupFDB(mac(2), 0); !ok || p != tb.ports["a"].Number() {
		t.Fatalf("aged with the override off: %v %v", p, ok)
	}
	// An override longer than the aging time does not lengthen it.
	tb.b.SetAgingOverride(time.Hour)
	if a := tb.b.effectiveAging(); a != 300 {
		t.Fatalf("effective aging %d", a)
	}
}

func TestLookupFDBAllocs(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	tb.add("a", access(10))
	tb.add("b", access(10))
	tb.send("a", frame(bcast, mac(7), -1, 10))
	if p, ok := tb.b.LookupFDB(mac(7), 10); !ok || p != tb.ports["a"].Number() {
		t.Fatalf("lookup %v %v", p, ok)
	}
	if _, ok := tb.b.LookupFDB(mac(7), 11); ok {
		t.Fatal("found in another VLAN")
	}
	if n := testing.AllocsPerRun(100, func() { tb.b.LookupFDB(mac(7), 10) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

func TestIngressVLAN(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	acc := tb.add("acc", access(10))
	tr := tb.add("tr", trunk("20,30", 30, false))
	all := tb.add("all", PortConfig{})
	for _, c := range []struct {
		p    *Port
		tci  int
		vlan uint16
		ok   bool
	}{
		{acc, -1, 10, true}, {acc, 20, 0, false}, {acc, 0, 10, true},
		{tr, -1, 30, true}, {tr, 20, 20, true}, {tr, 40, 0, false}, {tr, 0xfff, 0, false},
		{all, -1, 0, true}, {all, 55, 55, true},
	} {
		v, ok := c.p.IngressVLAN(frame(bcast, mac(1), c.tci, 10))
		if ok != c.ok || ok && v != c.vlan {
			t.Errorf("%s tci %d: vlan %d ok %v, want %d %v", c.p.Name(), c.tci, v, ok, c.vlan, c.ok)
		}
	}
	f := frame(bcast, mac(1), 20, 10)
	if n := testing.AllocsPerRun(100, func() { tr.IngressVLAN(f) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
	if _, ok := acc.IngressVLAN(f[:10]); ok {
		t.Fatal("runt admitted")
	}
}

// Control frames sent out of a patch port reach the peer bridge's control
// handler as received on the peer port; a tunnel port sends them with its
// VNI.
func TestTransmitPatchAndTunnel(t *testing.T) {
	b1, _ := NewBridge("b1", BridgeConfig{})
	b2, _ := NewBridge("b2", BridgeConfig{})
	e1, e2 := NewPatchPair()
	p1, err := b1.AddPort("pa", e1, PortConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := b2.AddPort("pb", e2, PortConfig{})
	if err != nil {
		t.Fatal(err)
	}
	e1.Attach(p1)
	e2.Attach(p2)
	var got [][]byte
	var on []*Port
	b2.SetControl(func(p *Port, f []byte) bool {
		got = append(got, append([]byte(nil), f...))
		on = append(on, p)
		return true
	})
	bpdu := frame([6]byte{0x01, 0x80, 0xc2, 0, 0, 0}, mac(3), -1, 40)
	p1.Transmit(bpdu)
	if len(got) != 1 || on[0] != p2 || string(got[0]) != string(bpdu) {
		t.Fatalf("peer handler got %d frames on %v", len(got), on)
	}
	if p1.Counters().TxPackets.Load() != 1 || p2.Counters().RxPackets.Load() != 1 {
		t.Fatal("patch crossing not counted")
	}

	tun := &memPort{keep: true}
	tp, err := b1.AddPort("vx", tun, PortConfig{Tunnel: true, VNI: 5001, TunnelLocal: netip.MustParseAddr("198.18.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	tp.Transmit(bpdu)
	tun.mu.Lock()
	defer tun.mu.Unlock()
	if len(tun.outs) != 1 || tun.outs[0].VNI != 5001 {
		t.Fatalf("tunnel transmit: %+v", tun.outs)
	}
}
