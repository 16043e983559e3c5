package bond

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/lacp"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// memDev records the frames a device is sent.
type memDev struct {
	mu     sync.Mutex
	caps   datapath.Caps
	frames [][]byte
	n      int
	keep   bool
}

func (d *memDev) Send(batch []datapath.Out) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n += len(batch)
	if d.keep {
		for _, o := range batch {
			d.frames = append(d.frames, append([]byte(nil), o.Pkt.Data()...))
		}
	}
}

func (d *memDev) Caps() datapath.Caps { return d.caps }

func (d *memDev) take() [][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.frames
	d.frames = nil
	return f
}

func (d *memDev) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

// portLab is a bridge with a bond port (two in-memory members) and two
// host ports.
type portLab struct {
	t     *testing.T
	br    *datapath.Bridge
	bond  *Bond
	dev   *Port
	bp    *datapath.Port
	mem   [2]*memDev
	hosts [2]*datapath.Port
	hdev  [2]*memDev
	rx    [2]datapath.Receiver
	lacps [][]byte
	mu    sync.Mutex
}

func newPortLab(t *testing.T, b *Bond, cfg datapath.PortConfig) *portLab {
	t.Helper()
	br, err := datapath.NewBridge("br0", datapath.BridgeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	l := &portLab{t: t, br: br, bond: b}
	var devs []datapath.Device
	for i := range l.mem {
		l.mem[i] = &memDev{keep: true, caps: datapath.CapsAll}
		devs = append(devs, l.mem[i])
	}
	l.mem[1].caps = datapath.Caps{PartialCsum: true}
	l.dev = NewPort(b, devs, func(m int, f []byte) {
		l.mu.Lock()
		l.lacps = append(l.lacps, append([]byte(nil), f...))
		l.mu.Unlock()
	})
	if l.bp, err = br.AddPort("bond0", l.dev, cfg); err != nil {
		t.Fatal(err)
	}
	l.dev.Attach(l.bp)
	for i := range l.hosts {
		l.hdev[i] = &memDev{keep: true}
		if l.hosts[i], err = br.AddPort("h"+string(rune('1'+i)), l.hdev[i], cfg); err != nil {
			t.Fatal(err)
		}
	}
	for i := range l.rx {
		l.rx[i] = l.dev.MemberReceiver(i)
	}
	return l
}

func pkts(frames ...[]byte) []*datapath.Packet {
	l := make([]*datapath.Packet, len(frames))
	for i, f := range frames {
		l[i] = datapath.NewPacket(len(f) + 64)
		l[i].SetData(f)
	}
	return l
}

// udp builds a UDP frame from src to dst with source port sport, tagged
// with vid if vid > 0.
func udp(dst, src packet.MAC, sport uint16, vid int) []byte {
	f := frame(src, sport)
	copy(f[0:6], dst[:])
	if vid > 0 {
		t := make([]byte, 0, len(f)+4)
		t = append(t, f[:12]...)
		t = binary.BigEndian.AppendUint16(t, 0x8100)
		t = binary.BigEndian.AppendUint16(t, uint16(vid))
		f = append(t, f[12:]...)
	}
	return f
}

// negotiatedTCP returns a balance-tcp bond negotiated with an in-memory
// partner.
func negotiatedTCP(t *testing.T) *Bond {
	cfg := Config{Mode: BalanceTCP, LACP: LACPActive, LACPRate: lacp.Fast}
	a := newBond(t, cfg, 2)
	cfg.SystemID = packet.MAC{2, 0, 0, 0, 0xb, 0}
	bb := newBond(t, cfg, 2)
	p := &bondPair{a: a, b: bb, now: t0, up: []bool{true, true}}
	for i := 0; i < 2; i++ {
		p.pump(a.SetCarrier(i, true, p.now), true)
		p.pump(bb.SetCarrier(i, true, p.now), false)
	}
	p.run(3 * time.Second)
	if a.Selector().Hashing() != HashL4 {
		t.Fatalf("not negotiated: %+v", a.Status(p.now))
	}
	return a
}

func TestPortCapsIntersect(t *testing.T) {
	l := newPortLab(t, newBond(t, Config{}, 2), datapath.PortConfig{})
	if c := l.dev.Caps(); c.GSO != 0 || !c.PartialCsum {
		t.Fatalf("caps %+v, want the members' intersection", c)
	}
}

// Balance-tcp: flows from one host spread over both members, each frame
// leaves once, counted per member; floods too go out on one member.
func TestPortSendSpreadsFlows(t *testing.T) {
	l := newPortLab(t, negotiatedTCP(t), datapath.PortConfig{})
	src, dst := packet.MAC{2, 9, 0, 0, 0, 1}, packet.MAC{2, 9, 0, 0, 0, 2}
	var frames [][]byte
	for sp := uint16(2000); sp < 2200; sp++ {
		frames = append(frames, udp(dst, src, sp, 0))
	}
	l.hosts[0].Receive(pkts(frames...)) // dst unknown: flooded to h2 and the bond
	a, b := len(l.mem[0].take()), len(l.mem[1].take())
	if a+b != 200 || a < 60 || b < 60 {
		t.Fatalf("200 flows: %d on member 1, %d on member 2", a, b)
	}
	st := l.bond.Status(t0)
	if st.Members[0].Counters.TxPackets != uint64(a) || st.Members[1].Counters.TxPackets != uint64(b) {
		t.Fatalf("member counters %+v %+v", st.Members[0].Counters, st.Members[1].Counters)
	}
	if len(l.hdev[1].take()) != 200 {
		t.Fatal("flood did not reach h2")
	}
	// The same flow always takes the same member.
	l.hosts[0].Receive(pkts(frames[7], frames[7], frames[7]))
	if a, b := len(l.mem[0].take()), len(l.mem[1].take()); a*b != 0 {
		t.Fatalf("one flow on both members: %d %d", a, b)
	}
}

// No member may carry traffic (LACP configured, not negotiated): frames
// to the bond are dropped and counted as no-port on the bond port.
func TestPortSendDropsWithoutMember(t *testing.T) {
	b := newBond(t, Config{Mode: BalanceTCP, LACP: LACPActive}, 2)
	b.SetCarrier(0, true, t0)
	l := newPortLab(t, b, datapath.PortConfig{})
	l.hosts[0].Receive(pkts(udp(packet.Broadcast, packet.MAC{2, 1}, 1, 0)))
	if n := l.mem[0].count() + l.mem[1].count(); n != 0 {
		t.Fatalf("%d frames sent on a bond that is not negotiated", n)
	}
	if d := l.bp.Counters().Drops[datapath.DropNoPort].Load(); d != 1 {
		t.Fatalf("no-port drops %d", d)
	}
}

// Active-backup without LACP: the backup member's frames are dropped and
// counted; the active member's reach the bridge as the bond's (learned on
// the bond port); LACPDUs go to the control plane, not the bridge.
func TestMemberReceiverAdmission(t *testing.T) {
	b := newBond(t, Config{}, 2)
	b.SetCarrier(0, true, t0)
	b.SetCarrier(1, true, t0)
	l := newPortLab(t, b, datapath.PortConfig{})
	act := b.Selector().Active()
	back := 1 - act
	host := packet.MAC{2, 7, 7, 7, 7, 7}
	l.rx[back].Receive(pkts(udp(packet.Broadcast, host, 5, 0), udp(packet.MAC{2, 1}, host, 5, 0)))
	if got := len(l.hdev[0].take()); got != 0 {
		t.Fatalf("%d frames from the backup member forwarded", got)
	}
	if d := b.Counters(back).RxDropped.Load(); d != 2 {
		t.Fatalf("backup member dropped %d", d)
	}
	l.rx[act].Receive(pkts(udp(packet.Broadcast, host, 5, 0)))
	if got := len(l.hdev[0].take()); got != 1 {
		t.Fatalf("active member's broadcast reached h1 %d times", got)
	}
	if p, ok := l.br.LookupFDB(host, 0); !ok || p != l.bp.Number() {
		t.Fatalf("host learned on %d (%v), want the bond port", p, ok)
	}
	pdu := lacp.PDU{Actor: lacp.Info{System: packet.MAC{2, 0, 0, 0, 0xb, 0}, Key: 1, Port: 1, State: lacp.StateActivity}}
	l.rx[back].Receive(pkts(pdu.AppendFrame(nil, packet.MAC{2, 0, 0, 0, 0xb, 1})))
	if len(l.lacps) != 1 || len(l.hdev[0].take()) != 0 {
		t.Fatalf("LACPDU: %d to the control plane", len(l.lacps))
	}
	if c := b.Counters(act); c.RxPackets.Load() != 1 || c.RxBytes.Load() == 0 {
		t.Fatalf("member rx counters %d", c.RxPackets.Load())
	}
}

// Balance-slb without LACP: a frame whose source is learned on another
// port is our own flood reflected by the upstream switch: dropped, not
// learned. A gratuitous ARP from a host that really moved is admitted,
// unless it is the reflection of one that just left through the bond.
func TestSLBDropIfMoved(t *testing.T) {
	b := newBond(t, Config{Mode: BalanceSLB}, 2)
	b.SetCarrier(0, true, t0)
	b.SetCarrier(1, true, t0)
	l := newPortLab(t, b, datapath.PortConfig{Mode: datapath.ModeAccess, VLAN: 10})
	l.br.Tick(time.Now())
	host := packet.MAC{2, 5, 5, 5, 5, 5}
	l.hosts[0].Receive(pkts(udp(packet.MAC{2, 1}, host, 1, 0))) // learned on h1
	l.mem[0].take()
	l.mem[1].take()
	// Unicast on the non-active member: drop-if-moved.
	m := 1 - b.Selector().Active()
	l.rx[m].Receive(pkts(udp(packet.MAC{2, 1}, host, 1, 0)))
	if p, _ := l.br.LookupFDB(host, 10); p != l.hosts[0].Number() {
		t.Fatal("a reflected frame moved the host to the bond")
	}
	if b.Counters(m).RxDropped.Load() != 1 {
		t.Fatal("reflection not counted")
	}
	// The host's gratuitous ARP flooded out of the bond, reflected back
	// (broadcasts are admitted on the active member only): locked for 5 s.
	act := b.Selector().Active()
	garp := gratARP(host)
	l.hosts[0].Receive(pkts(garp))
	if len(l.mem[0].take())+len(l.mem[1].take()) != 1 {
		t.Fatal("gratuitous ARP not flooded out of the bond")
	}
	l.rx[act].Receive(pkts(garp))
	if p, _ := l.br.LookupFDB(host, 10); p != l.hosts[0].Number() {
		t.Fatal("the reflection of our own gratuitous ARP moved the host")
	}
	// Later (lock expired) the host really moved behind the upstream.
	l.br.Tick(time.Now().Add(7 * time.Second))
	l.rx[act].Receive(pkts(garp))
	if p, _ := l.br.LookupFDB(host, 10); p != l.bp.Number() {
		t.Fatalf("a moved host's gratuitous ARP was refused (on port %d)", p)
	}
}

func gratARP(host packet.MAC) []byte {
	f := make([]byte, 42)
	copy(f[0:6], packet.Broadcast[:])
	copy(f[6:12], host[:])
	binary.BigEndian.PutUint16(f[12:], packet.EtherTypeARP)
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:], 1)
	binary.BigEndian.PutUint16(a[2:], 0x0800)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 1)
	copy(a[8:14], host[:])
	copy(a[14:18], []byte{198, 18, 0, 9})
	copy(a[24:28], []byte{198, 18, 0, 9})
	return f
}

// Learning frames after a failover: one RARP per host learned elsewhere,
// on the member the bond now uses, in the port's egress form.
func TestSendLearning(t *testing.T) {
	b := newBond(t, Config{}, 2)
	b.SetCarrier(0, true, t0)
	b.SetCarrier(1, true, t0)
	l := newPortLab(t, b, datapath.PortConfig{Mode: datapath.ModeTrunk, NativeVLAN: 20})
	l.hosts[0].Receive(pkts(udp(packet.MAC{2, 1}, packet.MAC{2, 0, 0, 0, 0, 0xa}, 1, 30)))
	l.hosts[1].Receive(pkts(udp(packet.MAC{2, 1}, packet.MAC{2, 0, 0, 0, 0, 0xb}, 1, 0)))
	l.rx[b.Selector().Active()].Receive(pkts(udp(packet.MAC{2, 1}, packet.MAC{2, 0, 0, 0, 0, 0xc}, 1, 0)))
	l.mem[0].take()
	l.mem[1].take()
	out := b.SetCarrier(b.Selector().Active(), false, t0.Add(time.Second))
	if !out.SendLearning {
		t.Fatal("failover did not ask for learning frames")
	}
	act := b.Selector().Active()
	if n := l.dev.SendLearning(); n != 2 {
		t.Fatalf("sent %d learning frames, want 2 (hosts on h1, h2; not the one behind the bond)", n)
	}
	got := l.mem[act].take()
	if len(got) != 2 || len(l.mem[1-act].take()) != 0 {
		t.Fatalf("learning frames on the wrong member")
	}
	forms := map[int]bool{}
	for _, f := range got {
		if binary.BigEndian.Uint16(f[12:]) == 0x8100 {
			forms[int(binary.BigEndian.Uint16(f[14:])&0xfff)] = true
			if binary.BigEndian.Uint16(f[16:]) != 0x8035 {
				t.Fatal("not RARP")
			}
		} else {
			forms[0] = true
			if binary.BigEndian.Uint16(f[12:]) != 0x8035 {
				t.Fatal("not RARP")
			}
		}
	}
	if !forms[30] || !forms[0] {
		t.Fatalf("forms %v: want VLAN 30 tagged and the native VLAN 20 untagged", forms)
	}
}

// Send and the members' receive path allocate nothing per packet.
func TestPortAllocatesNothing(t *testing.T) {
	l := newPortLab(t, negotiatedTCP(t), datapath.PortConfig{})
	for i := range l.mem {
		l.mem[i].keep = false
	}
	l.hdev[0].keep, l.hdev[1].keep = false, false
	var outs []datapath.Out
	for sp := uint16(0); sp < 64; sp++ {
		p := datapath.NewPacket(128)
		p.SetData(udp(packet.MAC{2, 1}, packet.MAC{2, 9}, 1000+sp, 0))
		outs = append(outs, datapath.Out{Pkt: p})
	}
	l.dev.Send(outs)
	if n := testing.AllocsPerRun(200, func() { l.dev.Send(outs) }); n != 0 {
		t.Fatalf("Send: %v allocations per batch of 64", n)
	}
	in := pkts()
	for sp := uint16(0); sp < 64; sp++ {
		in = append(in, pkts(udp(packet.MAC{2, 0, 0, 0, 0, 0x11}, packet.MAC{2, 9}, 1000+sp, 0))...)
	}
	l.rx[0].Receive(in)
	if n := testing.AllocsPerRun(200, func() { l.rx[0].Receive(in) }); n != 0 {
		t.Fatalf("member receive: %v allocations per batch of 64", n)
	}
	if l.mem[0].count()+l.mem[1].count() < 64*200 {
		t.Fatal("frames did not leave")
	}
}

func BenchmarkPortSend(b *testing.B) {
	t := &testing.T{}
	for _, mode := range []Mode{ActiveBackup, BalanceSLB, BalanceTCP} {
		b.Run(mode.String(), func(b *testing.B) {
			var bd *Bond
			if mode == BalanceTCP {
				bd = negotiatedTCP(t)
			} else {
				var err error
				if bd, err = New(Config{Name: "b", Mode: mode}, members(2), t0); err != nil {
					b.Fatal(err)
				}
				bd.SetCarrier(0, true, t0)
				bd.SetCarrier(1, true, t0)
			}
			m := []datapath.Device{&memDev{}, &memDev{}}
			p := NewPort(bd, m, nil)
			br, _ := datapath.NewBridge("br0", datapath.BridgeConfig{})
			bp, _ := br.AddPort("bond0", p, datapath.PortConfig{})
			p.Attach(bp)
			var outs []datapath.Out
			for i := 0; i < 64; i++ {
				pk := datapath.NewPacket(128)
				pk.SetData(udp(packet.MAC{2, 1}, packet.MAC{2, 0, 0, 0, 0, byte(i)}, uint16(1000+i), 0))
				outs = append(outs, datapath.Out{Pkt: pk})
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.Send(outs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/frame")
		})
	}
}

// FuzzMemberReceive feeds arbitrary frames to a bond's members (LACP and
// SLB admission) and sends them back out of the bond: nothing panics, and
// every frame is accounted for on the member it arrived on.
func FuzzMemberReceive(f *testing.F) {
	f.Add(udp(packet.Broadcast, packet.MAC{2, 1}, 1, 0), uint8(0))
	f.Add(gratARP(packet.MAC{2, 5, 5, 5, 5, 5}), uint8(1))
	pdu := lacp.PDU{Actor: lacp.Info{System: packet.MAC{2, 0, 0, 0, 0xb, 0}, Key: 1, Port: 1, State: lacp.StateActivity}}
	f.Add(pdu.AppendFrame(nil, packet.MAC{2, 0, 0, 0, 0xb, 1}), uint8(0))
	f.Add(udp(packet.MAC{2, 1}, packet.MAC{2, 9}, 7, 4095), uint8(1))
	f.Add([]byte{0x01, 0x80, 0xc2, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0x09}, uint8(1))
	f.Fuzz(func(t *testing.T, frame []byte, m uint8) {
		for _, cfg := range []Config{{Mode: BalanceSLB}, {Mode: BalanceTCP, LACP: LACPActive, LACPFallbackAB: true}} {
			b := newBond(t, cfg, 2)
			b.SetCarrier(0, true, t0)
			b.SetCarrier(1, true, t0)
			l := newPortLab(t, b, datapath.PortConfig{})
			i := int(m & 1)
			l.rx[i].Receive(pkts(frame))
			for _, f := range l.lacps {
				b.ReceiveLACP(i, f, t0)
			}
			if c := b.Counters(i); c.RxPackets.Load() != 1 {
				t.Fatalf("member rx %d", c.RxPackets.Load())
			}
			l.dev.Send([]datapath.Out{{Pkt: pkts(frame)[0]}})
			l.dev.SendLearning()
		}
	})
}
