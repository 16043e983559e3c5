package packet

import (
	"net/netip"
	"testing"
)

func TestVLANPushPopRoundTrip(t *testing.T) {
	buf := make([]byte, 64)
	frame := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45}
	off := copy(buf[16:], frame)
	_ = off
	o, err := PushVLAN(buf, 16, len(frame), EtherTypeVLAN, MakeTCI(5, true, 100))
	if err != nil || o != 12 {
		t.Fatal(o, err)
	}
	l, _ := ParseL2(buf[o : o+len(frame)+4])
	if !l.Tagged || l.TCI.VID() != 100 || l.TCI.PCP() != 5 || !l.TCI.DEI() || l.EtherType != EtherTypeIPv4 || l.Src != MAC(frame[6:12]) {
		t.Fatalf("pushed: %+v", l)
	}
	o2, err := PopVLAN(buf, o, len(frame)+4)
	if err != nil || o2 != 16 || string(buf[16:16+len(frame)]) != string(frame) {
		t.Fatalf("pop: %d %v", o2, err)
	}
	if _, err := PushVLAN(buf, 2, 20, EtherTypeVLAN, 1); err != ErrNoSpace {
		t.Fatal("push without headroom accepted")
	}
	if _, err := PopVLAN(buf, 16, len(frame)); err == nil {
		t.Fatal("pop of an untagged frame accepted")
	}
}

// buildVXLAN encapsulates inner as the encoder will, for round-trip tests.
func buildVXLAN(inner []byte, csum bool) []byte {
	b := make([]byte, 14+20+8+8+len(inner))
	copy(b[50:], inner)
	_ = PutVXLAN(b[42:], 5001)
	src, dst := netip.MustParseAddr("198.18.0.1").As4(), netip.MustParseAddr("198.18.0.2").As4()
	var pseudo *uint32
	if csum {
		s := PseudoHeaderSum(src[:], dst[:], ProtoUDP, 8+8+len(inner))
		pseudo = &s
	}
	_ = PutUDP(b[34:], SourcePort(FlowHash(inner), 49152, 65535), VXLANPort, 8+len(inner), pseudo)
	_ = PutIPv4(b[14:], &OuterIPv4{Src: src, Dst: dst, TTL: 64, Proto: ProtoUDP, DF: true}, 8+8+len(inner))
	Ethernet(b).SetEtherType(EtherTypeIPv4)
	return b
}

func TestEncapRoundTripAndChecksums(t *testing.T) {
	inner := readPcap(t, "kernel-vxlan-arp-icmp.pcap")[2][50:]
	for _, csum := range []bool{false, true} {
		b := buildVXLAN(inner, csum)
		ip, err := ParseIPv4(b[14:])
		if err != nil || !ip.HeaderChecksumValid() || !ip.DF() || ip.TTL() != 64 {
			t.Fatalf("outer ip: %v", err)
		}
		u, err := ParseUDP(ip.Payload())
		if err != nil || (u.Checksum() == 0) == csum || !u.ChecksumValid(ip.PseudoSum()) {
			t.Fatalf("udp csum=%v: %#04x", csum, u.Checksum())
		}
		if u.SrcPort() < 49152 {
			t.Fatalf("source port %d below 49152", u.SrcPort())
		}
		v, _ := ParseVXLAN(u.Payload())
		if v.Flags() != 0x08 || v.ReservedBitsSet() || v.VNI() != 5001 || string(v.Payload()) != string(inner) {
			t.Fatal("vxlan round trip")
		}
		// A flipped payload bit breaks a computed checksum.
		if csum {
			v.Payload()[20] ^= 1
			if u.ChecksumValid(ip.PseudoSum()) {
				t.Fatal("corrupted datagram verifies")
			}
		}
	}
}

func TestFlowHashAndSourcePort(t *testing.T) {
	frames := readPcap(t, "kernel-vxlan-arp-icmp.pcap")
	a := FlowHash(frames[2][50:])
	if a != FlowHash(frames[4][50:]) {
		t.Fatal("the same ICMP flow hashed differently")
	}
	if a == FlowHash(frames[0][50:]) {
		t.Fatal("ARP and ICMP hash the same")
	}
	seen := map[uint16]bool{}
	for i := uint32(0); i < 100000; i++ {
		p := SourcePort(i*2654435761, 49152, 65535)
		if p < 49152 {
			t.Fatalf("port %d out of range", p)
		}
		seen[p] = true
	}
	if len(seen) < 15000 {
		t.Fatalf("only %d distinct ports: poor spread", len(seen))
	}
	if SourcePort(123, 5000, 5000) != 5000 {
		t.Fatal("one-port range")
	}
}

func TestCorruptChecksumIsNotPartial(t *testing.T) {
	f := append([]byte(nil), readPcap(t, "frr-bgp-evpn.pcap")[0]...)
	SetL4Checksum(f)
	ip, _ := ParseIPv4(f[14:])
	tcp, _ := ParseTCP(ip.Payload())
	tcp[16] ^= 0x55 // wrong, and not the partial value
	if _, partial := PartialChecksum(f); partial {
		t.Fatal("a corrupted checksum is taken for a partial one")
	}
}

func TestSetL4Checksum(t *testing.T) {
	// IPv4/UDP frame whose checksum field holds garbage.
	f := []byte{
		0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,
		0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 203, 0, 113, 1, 203, 0, 113, 2,
		0x30, 0x39, 0x00, 0x35, 0, 12, 0x12, 0x34, 'a', 'b', 'c', 'd',
	}
	if !SetL4Checksum(f) {
		t.Fatal("UDP frame not handled")
	}
	// Reference: ones' complement sum of pseudo-header + UDP, computed here
	// independently.
	sum := uint32(0xcb00+0x7101+0xcb00+0x7102) + 17 + 12 + 0x3039 + 0x0035 + 12 + 0x6162 + 0x6364
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	if got, want := be.Uint16(f[40:]), ^uint16(sum); got != want {
		t.Fatalf("checksum %#04x, want %#04x", got, want)
	}
	if SetL4Checksum(f[:20]) {
		t.Fatal("truncated frame handled")
	}
}

func TestUpdateChecksum(t *testing.T) {
	ip := IPv4(readPcap(t, "kernel-vxlan-arp-icmp.pcap")[0][14:34])
	old := be.Uint16(ip[8:]) // TTL+proto
	ip[8]--
	be.PutUint16(ip[10:], UpdateChecksum(ip.HeaderChecksum(), old, be.Uint16(ip[8:])))
	if !ip.HeaderChecksumValid() {
		t.Fatal("incremental update broke the header checksum")
	}
}

func TestParsersAllocateNothing(t *testing.T) {
	frames := readPcap(t, "crafted-tunnels.pcap")
	f := frames[5]
	buf := make([]byte, 128)
	n := testing.AllocsPerRun(200, func() {
		l, _ := ParseL2(f)
		ip, _ := ParseIPv4(f[l.L3:])
		u, _ := ParseUDP(ip.Payload())
		g, _ := ParseGeneve(u.Payload())
		_, _ = g.HasCriticalOption()
		_ = u.ChecksumValid(ip.PseudoSum())
		_ = FlowHash(g.Payload())
		_ = PutVXLAN(buf, 42)
		_ = PutIPv4(buf[8:], &OuterIPv4{TTL: 64, Proto: ProtoUDP}, 50)
		_, _ = ParseVXLAN(u.Payload())
		_, _ = ParseIPv4(buf[:3])
	})
	if n != 0 {
		t.Fatalf("parsers and builders allocate %.1f times per run", n)
	}
}

func TestParseMAC(t *testing.T) {
	m, err := ParseMAC("02:00:00:00:0a:FF")
	if err != nil || m.String() != "02:00:00:00:0a:ff" || m.IsMulticast() {
		t.Fatal(m, err)
	}
	for _, bad := range []string{"", "02:00:00:00:00", "02:00:00:00:00:0g", "0200.0000.0001"} {
		if _, err := ParseMAC(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if !(MAC{0x01, 0x80, 0xc2, 0, 0, 0x0e}).IsLinkLocal() || (MAC{0x01, 0x80, 0xc2, 0, 0, 0x10}).IsLinkLocal() {
		t.Fatal("link-local range")
	}
}

func BenchmarkParseL2(b *testing.B) {
	f := readPcap(b, "kernel-vxlan-vlan.pcap")[2][50:]
	b.ReportAllocs()
	for b.Loop() {
		_, _ = ParseL2(f)
	}
}

func BenchmarkChecksum1500(b *testing.B) {
	buf := make([]byte, 1500)
	for i := range buf {
		buf[i] = byte(i)
	}
	b.SetBytes(1500)
	b.ReportAllocs()
	for b.Loop() {
		_ = Checksum(buf, 0)
	}
}

func BenchmarkVXLANEncapHeaders(b *testing.B) {
	inner := readPcap(b, "kernel-vxlan-arp-icmp.pcap")[2][50:]
	buf := make([]byte, 64)
	src, dst := [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}
	b.ReportAllocs()
	for b.Loop() {
		_ = PutVXLAN(buf[42:], 5001)
		_ = PutUDP(buf[34:], SourcePort(FlowHash(inner), 49152, 65535), VXLANPort, 8+len(inner), nil)
		_ = PutIPv4(buf[14:], &OuterIPv4{Src: src, Dst: dst, TTL: 64, Proto: ProtoUDP}, 16+len(inner))
	}
}

// Partial sums must add without overflow: the checksum of a whole equals
// the folded sum of the checksums of its even-length parts.
func TestChecksumPartsAdd(t *testing.T) {
	b := make([]byte, 4000)
	for i := range b {
		b[i] = 0xff - byte(i%3)
	}
	whole := Fold(Checksum(b, 0))
	var s uint32
	for i := 0; i < len(b); i += 400 {
		s += Checksum(b[i:i+400], 0)
	}
	if Fold(s) != whole {
		t.Fatalf("sum of parts %#04x, whole %#04x", Fold(s), whole)
	}
}
