package overlay

import (
	"net/netip"
	"testing"

	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/packet"
)

var innerFrame = func() []byte {
	// An Ethernet/IPv4/UDP frame, 02:..:01 → 02:..:02, 203.0.113.1 → .2.
	f := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
		0x45, 0x10, 0, 32, 0, 1, 0x40, 0, 64, 17, 0, 0, 203, 0, 113, 1, 203, 0, 113, 2,
		0x30, 0x39, 0x00, 0x35, 0, 12, 0, 0, 'a', 'b', 'c', 'd'}
	packet.IPv4(f[14:34]).SetHeaderChecksum()
	ip, _ := packet.ParseIPv4(f[14:])
	packet.UDP(ip.Payload()).SetChecksum(ip.PseudoSum())
	return f
}()

func testPort(encap Encap, local string, cfg PortConfig) *Port {
	cfg.Encap = encap
	cfg.Local = netip.MustParseAddr(local)
	cfg = cfg.withDefaults()
	p := &Port{cfg: cfg, v6: cfg.Local.Is6(), mtu: 1500}
	return p
}

// encap builds a whole outer packet (IP header onwards) the way Send does.
func encap(p *Port, dst string, vni uint32, inner []byte) []byte {
	h := make([]byte, maxHdr)
	withSum := p.cfg.Encap != GRE && (p.v6 || !p.cfg.NoUDPCsum)
	sum := packet.Checksum(inner, 0)
	sport := packet.SourcePort(packet.FlowHash(inner), p.cfg.SrcPortMin, p.cfg.SrcPortMax)
	tos := p.cfg.TOS
	if p.cfg.InheritTOS {
		tos = innerTOS(inner)
	}
	n := p.buildHeader(h, netip.MustParseAddr(dst), vni, len(inner), sport, tos, sum, withSum)
	return append(h[:n:n], inner...)
}

func TestVXLANHeaderToTheLetter(t *testing.T) {
	for _, csum := range []bool{true, false} {
		p := testPort(VXLAN, "198.18.0.1", PortConfig{NoUDPCsum: !csum, InheritTOS: true})
		b := encap(p, "198.18.0.2", 5001, innerFrame)
		ip, err := packet.ParseIPv4(b)
		if err != nil || !ip.HeaderChecksumValid() || !ip.DF() || ip.TTL() != 64 || ip.Protocol() != packet.ProtoUDP || ip.TOS() != 0x10 {
			t.Fatalf("outer IPv4: %v df=%v ttl=%d tos=%#x", err, ip.DF(), ip.TTL(), ip.TOS())
		}
		u, err := packet.ParseUDP(ip.Payload())
		if err != nil || u.DstPort() != 4789 || u.SrcPort() < 49152 {
			t.Fatalf("udp: %v %d→%d", err, u.SrcPort(), u.DstPort())
		}
		if (u.Checksum() != 0) != csum || !u.ChecksumValid(ip.PseudoSum()) {
			t.Fatalf("udp checksum %#04x (want computed=%v)", u.Checksum(), csum)
		}
		v, _ := packet.ParseVXLAN(u.Payload())
		if v.Flags() != 0x08 || v.ReservedBitsSet() || v.VNI() != 5001 || string(v.Payload()) != string(innerFrame) {
			t.Fatal("vxlan header")
		}
		if got := encap(p, "198.18.0.2", 5001, innerFrame); packet.UDP(got[20:]).SrcPort() != u.SrcPort() {
			t.Fatal("the same flow got another source port")
		}
	}
}

func TestIPv6AndGeneveAndGREHeaders(t *testing.T) {
	p := testPort(VXLAN, "2001:db8::1", PortConfig{NoUDPCsum: true})
	b := encap(p, "2001:db8::2", 42, innerFrame)
	ip, err := packet.ParseIPv6(b)
	if err != nil || ip.NextHeader() != packet.ProtoUDP || ip.HopLimit() != 64 {
		t.Fatalf("ipv6: %v", err)
	}
	u, _ := packet.ParseUDP(b[40:])
	if u.Checksum() == 0 || !u.ChecksumValid(ip.PseudoSum(packet.ProtoUDP, len(u))) {
		t.Fatal("IPv6 UDP checksum must always be computed")
	}
	if p.Overhead() != 70 || testPort(VXLAN, "198.18.0.1", PortConfig{}).Overhead() != 50 {
		t.Fatalf("overheads %d / %d", p.Overhead(), testPort(VXLAN, "198.18.0.1", PortConfig{}).Overhead())
	}
	g := testPort(Geneve, "198.18.0.1", PortConfig{})
	b = encap(g, "198.18.0.2", 43, innerFrame)
	u, _ = packet.ParseUDP(b[20:])
	gh, err := packet.ParseGeneve(u.Payload())
	if err != nil || u.DstPort() != 6081 || gh.VNI() != 43 || gh.Protocol() != packet.EtherTypeTEB {
		t.Fatalf("geneve: %v", err)
	}
	r := testPort(GRE, "198.18.0.1", PortConfig{})
	b = encap(r, "198.18.0.2", 44, innerFrame)
	ip4, _ := packet.ParseIPv4(b)
	gr, err := packet.ParseGRE(ip4.Payload())
	if err != nil || ip4.Protocol() != packet.ProtoGRE || gr.Key() != 44 || string(gr.Payload()) != string(innerFrame) {
		t.Fatalf("gre: %v", err)
	}
	if m := testPort(VXLAN, "198.18.0.1", PortConfig{Group: netip.MustParseAddr("239.1.1.100")}); m.cfg.TTL != 1 {
		t.Fatalf("multicast default TTL %d, want 1 (as Linux)", m.cfg.TTL)
	}
}

// decapOne runs the socket's decapsulation on one datagram.
func decapOne(t *testing.T, s *rxSock, datagram []byte, targets map[uint32]*Port) (*Port, *datapath.Packet) {
	t.Helper()
	port, meta, hdr := s.decap(datagram, netip.MustParseAddr("198.18.0.9"), targets)
	p := datapath.NewPacket(bufSize)
	if port != nil {
		p.SetData(datagram[hdr:])
		p.Tunnel = meta
	}
	return port, p
}

func TestDecapRules(t *testing.T) {
	port := &Port{name: "vx0"}
	targets := map[uint32]*Port{42: port}
	s := &rxSock{key: sockKey{encap: VXLAN}}
	s.locals.Store(&[]netip.Addr{netip.MustParseAddr("198.18.0.1")})
	vx := func(hdr string) []byte {
		h := make([]byte, 8)
		for i := 0; i < 8; i++ {
			h[i] = unhex(hdr[2*i])<<4 | unhex(hdr[2*i+1])
		}
		return append(h, innerFrame...)
	}
	// The headers the notes probed the kernel with.
	cases := []struct {
		hdr        string
		ok         bool
		bad, unkwn uint64
	}{
		{"0800000000002a00", true, 0, 0},  // valid
		{"0000000000002a00", false, 1, 0}, // I flag clear: dropped
		{"0c00000000002a00", true, 1, 0},  // reserved flag: ignored (RFC 7348)
		{"08abcdef00002a00", true, 1, 0},  // reserved bytes: ignored
		{"0800000000002a55", true, 1, 0},  // reserved byte 7: ignored
		{"0800000000002b00", false, 1, 1}, // VNI 43: nobody carries it
	}
	for _, c := range cases {
		got, p := decapOne(t, s, vx(c.hdr), targets)
		if (got != nil) != c.ok || s.badHeader.Load() != c.bad || s.unknownVNI.Load() != c.unkwn {
			t.Fatalf("%s: port %v bad %d unknown %d", c.hdr, got != nil, s.badHeader.Load(), s.unknownVNI.Load())
		}
		if c.ok && (string(p.Data()) != string(innerFrame) || p.Tunnel.VNI != 42 || p.Tunnel.Remote.Addr() != netip.MustParseAddr("198.18.0.9")) {
			t.Fatalf("%s: decapsulated wrongly", c.hdr)
		}
	}
	// Geneve: a critical option is dropped, a non-critical one carried; the
	// O bit is never forwarded.
	g := &rxSock{key: sockKey{encap: Geneve}}
	g.locals.Store(&[]netip.Addr{})
	gen := func(flags byte, optType byte) []byte {
		h := []byte{0x01, flags, 0x65, 0x58, 0, 0, 42, 0, 0x01, 0x02, optType, 0x00}
		return append(h, innerFrame...)
	}
	if p, _ := decapOne(t, g, gen(0, 0x01), targets); p == nil {
		t.Fatal("geneve with a non-critical option dropped")
	}
	if p, _ := decapOne(t, g, gen(0x40, 0x80), targets); p != nil || g.badHeader.Load() != 1 {
		t.Fatal("geneve with a critical option forwarded")
	}
	if p, _ := decapOne(t, g, gen(0x80, 0x01), targets); p != nil || g.badHeader.Load() != 2 {
		t.Fatal("geneve OAM frame forwarded")
	}
	// Our own multicast flood looping back is never taken in.
	own := &rxSock{key: sockKey{encap: VXLAN}}
	own.locals.Store(&[]netip.Addr{netip.MustParseAddr("198.18.0.9")})
	if p, _ := decapOne(t, own, vx("0800000000002a00"), targets); p != nil {
		t.Fatal("a packet from our own address was taken in")
	}
}

func TestEncapDecapAllocateNothing(t *testing.T) {
	p := testPort(VXLAN, "198.18.0.1", PortConfig{})
	h := make([]byte, maxHdr)
	dst := netip.MustParseAddr("198.18.0.2")
	s := &rxSock{key: sockKey{encap: VXLAN}}
	s.locals.Store(&[]netip.Addr{})
	targets := map[uint32]*Port{5001: {}}
	datagram := encap(p, "198.18.0.2", 5001, innerFrame)[28:]
	pkt := datapath.NewPacket(bufSize)
	copy(pkt.Buf[datapath.Headroom:], datagram)
	src := netip.MustParseAddr("198.18.0.2")
	_, _ = datapath.InternEndpoint(src)
	n := testing.AllocsPerRun(500, func() {
		sum := packet.Checksum(innerFrame, 0)
		sport := packet.SourcePort(packet.FlowHash(innerFrame), 49152, 65535)
		p.buildHeader(h, dst, 5001, len(innerFrame), sport, 0, sum, true)
		pkt.Reset()
		s.decap(pkt.Buf[datapath.Headroom:datapath.Headroom+len(datagram)], src, targets)
	})
	if n != 0 {
		t.Fatalf("encap+decap allocate %.1f times per packet", n)
	}
}

func unhex(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 10
	}
	return c - '0'
}
