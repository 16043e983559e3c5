package datapath

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// seenPort records, for the frame under test, which VLAN each copy that left
// this port belongs to, as a receiver on that port would classify it.
type seenPort struct {
	name string
	cfg  PortConfig
	got  *[]egress
}

type egress struct {
	port string
	vlan int // -1: the egress form is wrong for the port
	vni  uint32
}

func (s *seenPort) Send(batch []Out) {
	st := compile(s.cfg)
	for _, o := range batch {
		f := o.Pkt.Data()
		e := egress{port: s.name, vni: o.VNI, vlan: -1}
		tagged := len(f) >= 18 && binary.BigEndian.Uint16(f[12:]) == 0x8100
		switch {
		case tagged:
			vid := binary.BigEndian.Uint16(f[14:]) & 0xfff
			if st.tagged.Has(vid) && vid != 0 {
				e.vlan = int(vid)
			}
		case st.vlanOf != nil:
			if v, ok := st.vlanOf[o.VNI]; ok {
				e.vlan = int(v)
			}
		case st.hasNative && !st.tagged.Has(st.native):
			e.vlan = int(st.native)
		}
		*s.got = append(*s.got, e)
	}
}

// modelVLAN is an independent statement of 802.1Q ingress rules: the VLAN
// a frame belongs to on a port, or ok=false if the port must drop it.
func modelVLAN(cfg PortConfig, f []byte, vni uint32) (vlan int, ok bool) {
	if len(f) < 14 || f[6]&1 == 1 || [6]byte(f[6:12]) == [6]byte{} {
		return 0, false
	}
	vid, tagged := 0, false
	if binary.BigEndian.Uint16(f[12:]) == 0x8100 {
		if len(f) < 18 {
			return 0, false
		}
		vid, tagged = int(binary.BigEndian.Uint16(f[14:])&0xfff), true
	}
	if vid == 4095 {
		return 0, false
	}
	if f[0] == 1 && f[1] == 0x80 && f[2] == 0xc2 && f[3] == 0 && f[4] == 0 && f[5] < 0x10 {
		return 0, false
	}
	if tagged && vid != 0 {
		if cfg.Mode == ModeAccess || len(cfg.VNIs) > 0 {
			return 0, false
		}
		if cfg.Trunks.IsEmpty() || cfg.Trunks.Has(uint16(vid)) || vid == int(cfg.NativeVLAN) {
			return vid, true
		}
		return 0, false
	}
	switch {
	case cfg.Mode == ModeAccess:
		return int(cfg.VLAN), true
	case len(cfg.VNIs) > 0:
		for vl, vn := range cfg.VNIs {
			if vn == vni {
				return int(vl), true
			}
		}
		return 0, false
	case cfg.NativeVLAN != 0:
		return int(cfg.NativeVLAN), true
	case cfg.Trunks.IsEmpty():
		return 0, true
	}
	return 0, false
}

func isolationPorts() []*seenPort {
	return []*seenPort{
		{name: "a10", cfg: access(10)},
		{name: "b10", cfg: access(10)},
		{name: "c20", cfg: access(20)},
		{name: "t-10-20-30", cfg: trunk("10,20,30", 0, false)},
		{name: "t-20-40-n20", cfg: trunk("20,40", 20, false)},
		{name: "t-all-n30t", cfg: PortConfig{Mode: ModeTrunk, NativeVLAN: 30, NativeTagged: true}},
		{name: "default1", cfg: PortConfig{}},
		{name: "default2", cfg: PortConfig{}},
		{name: "vx", cfg: PortConfig{Tunnel: true, VNIs: map[uint16]uint32{10: 5001, 40: 5004}}},
		{name: "vx-access", cfg: PortConfig{Tunnel: true, Mode: ModeAccess, VLAN: 20, VNI: 5002}},
	}
}

// TestVLANIsolationProperty sends random frames (random VLANs, MACs, tags,
// priority tags, QinQ, truncations, garbage) through a bridge with mixed
// access, trunk, default and tunnel ports and checks, for every frame, that
// each copy leaves only on a port that carries the frame's VLAN, in the form
// that port expects, never on the ingress port, and that a frame that goes
// nowhere is counted as a drop with a reason.
func TestVLANIsolationProperty(t *testing.T) {
	n := 2_000_000
	if testing.Short() {
		n = 200_000
	}
	var got []egress
	b, err := NewBridge("prop", BridgeConfig{MaxLearned: 256, FullPolicy: FullEvictOldest})
	if err != nil {
		t.Fatal(err)
	}
	sp := isolationPorts()
	bps := make([]*Port, len(sp))
	for i, s := range sp {
		s.got = &got
		if bps[i], err = b.AddPort(s.name, s, s.cfg); err != nil {
			t.Fatal(err)
		}
	}
	states := make([]*portState, len(sp))
	for i, s := range sp {
		states[i] = compile(s.cfg)
	}
	ep, _ := InternEndpoint(netip.MustParseAddr("198.18.0.9"))
	rng := rand.New(rand.NewPCG(1, 2))
	vids := []int{0, 1, 10, 20, 30, 40, 50, 4094, 4095}
	macs := func() [6]byte {
		switch rng.IntN(12) {
		case 0:
			return bcast
		case 1:
			return [6]byte{0x01, 0x80, 0xc2, 0, 0, byte(rng.IntN(0x20))}
		case 2:
			return [6]byte{0x01, 0x00, 0x5e, 0, 0, 1}
		case 3:
			return [6]byte{}
		}
		return mac(rng.IntN(40))
	}
	pkt := NewPacket(256)
	buf := make([]byte, 0, 128)
	totalDrops := func(p *Port) (s uint64) {
		for r := range p.counters.Drops {
			s += p.counters.Drops[r].Load()
		}
		return s
	}
	for i := 0; i < n; i++ {
		in := rng.IntN(len(sp))
		dst, src := macs(), macs()
		buf = append(buf[:0], dst[:]...)
		buf = append(buf, src[:]...)
		switch rng.IntN(6) {
		case 0, 1: // untagged
		case 2, 3, 4: // 802.1Q, random PCP/DEI
			vid := vids[rng.IntN(len(vids))]
			if rng.IntN(8) == 0 {
				vid = rng.IntN(4096)
			}
			buf = binary.BigEndian.AppendUint16(buf, 0x8100)
			buf = binary.BigEndian.AppendUint16(buf, uint16(rng.IntN(16))<<12|uint16(vid))
		case 5: // 802.1ad outer tag: carried as an untagged frame
			buf = binary.BigEndian.AppendUint16(buf, 0x88a8)
			buf = binary.BigEndian.AppendUint16(buf, uint16(rng.IntN(4096)))
		}
		buf = binary.BigEndian.AppendUint16(buf, 0x0800)
		for j := rng.IntN(48); j > 0; j-- {
			buf = append(buf, byte(rng.Uint32()))
		}
		if rng.IntN(20) == 0 {
			buf = buf[:rng.IntN(len(buf)+1)]
		}
		vni := uint32(5001 + rng.IntN(5))
		if sp[in].name == "vx-access" {
			vni = 5002
		}
		wantVLAN, wantOK := modelVLAN(sp[in].cfg, buf, vni)

		pkt.SetData(buf)
		if sp[in].cfg.Tunnel {
			pkt.Tunnel = TunnelMeta{Valid: true, VNI: vni, Remote: ep}
		}
		got = got[:0]
		before := totalDrops(bps[in])
		bps[in].Receive([]*Packet{pkt})
		dropped := totalDrops(bps[in]) - before

		if !wantOK && len(got) > 0 {
			t.Fatalf("frame %d on %s (% x) must be dropped, went to %+v", i, sp[in].name, buf, got)
		}
		for _, e := range got {
			if e.port == sp[in].name {
				t.Fatalf("frame %d went back out of its ingress port %s", i, e.port)
			}
			if e.vlan != wantVLAN {
				t.Fatalf("frame %d from %s in VLAN %d left %s as VLAN %d (vni %d): % x",
					i, sp[in].name, wantVLAN, e.port, e.vlan, e.vni, buf)
			}
		}
		if wantOK && buf[0]&1 == 1 {
			// Broadcast/multicast must reach exactly the other ports of its VLAN.
			want := 0
			for j := range sp {
				if j != in && states[j].member.Has(uint16(wantVLAN)) {
					want++
				}
			}
			if len(got) != want {
				t.Fatalf("frame %d from %s in VLAN %d flooded to %d ports, want %d: %+v", i, sp[in].name, wantVLAN, len(got), want, got)
			}
		}
		if len(got) == 0 && dropped != 1 {
			t.Fatalf("frame %d on %s went nowhere but %d drops were counted: % x", i, sp[in].name, dropped, buf)
		}
		if len(got) > 0 && dropped != 0 {
			t.Fatalf("frame %d forwarded and counted as dropped", i)
		}
	}
}

// TestForwardingAllocatesNothing proves the per-packet path, including
// learning, VLAN push/pop and flooding to mixed tagged/untagged ports, does
// not allocate once warmed up.
func TestForwardingAllocatesNothing(t *testing.T) {
	b, _ := NewBridge("alloc", BridgeConfig{})
	ports := make([]*Port, 4)
	cfgs := []PortConfig{access(10), access(10), trunk("10", 0, false), PortConfig{}}
	for i := range ports {
		ports[i], _ = b.AddPort(string(rune('a'+i)), &memPort{}, cfgs[i])
	}
	batch := make([]*Packet, 64)
	frames := make([][]byte, 64)
	for i := range batch {
		batch[i] = NewPacket(2048)
		if i%4 == 0 {
			frames[i] = frame(bcast, mac(i), -1, 46)
		} else {
			frames[i] = frame(mac(i+1), mac(i), -1, 46)
		}
	}
	run := func() {
		for i, p := range batch {
			p.SetData(frames[i])
		}
		ports[0].Receive(batch)
		ports[1].Receive(batch)
	}
	// Warm up until the FDB has converged: the decision cache makes its
	// decisions (allocating) until the addresses stop changing.
	run()
	if a := testing.AllocsPerRun(100, run); a != 0 {
		t.Fatalf("Receive allocates %.1f times per batch", a)
	}
}
