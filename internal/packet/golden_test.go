package packet

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// readPcap returns the frames of a classic pcap or a pcapng file (Ethernet
// link type).
func readPcap(t testing.TB, name string) [][]byte {
	t.Helper()
	d, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	le := binary.LittleEndian
	switch le.Uint32(d) {
	case 0xa1b2c3d4:
		if lt := le.Uint32(d[20:]); lt != 1 {
			t.Fatalf("%s: link type %d, want Ethernet", name, lt)
		}
		for off := 24; off+16 <= len(d); {
			n := int(le.Uint32(d[off+8:]))
			frames = append(frames, d[off+16:off+16+n])
			off += 16 + n
		}
	case 0x0a0d0d0a: // pcapng: take the enhanced packet blocks
		for off := 0; off+12 <= len(d); {
			typ, blen := le.Uint32(d[off:]), int(le.Uint32(d[off+4:]))
			if typ == 6 {
				n := int(le.Uint32(d[off+20:]))
				frames = append(frames, d[off+28:off+28+n])
			}
			off += blen
		}
	default:
		t.Fatalf("%s: not a pcap file", name)
	}
	return frames
}

type vxlanRow struct {
	file                                               string
	frame                                              int
	outerSrc, outerDst                                 string
	srcPort, dstPort                                   uint16
	udpCsum                                            uint16
	flags                                              uint16 // tshark's vxlan.flags: flags byte and the next
	vni                                                uint32
	outerMACSrc, outerMACDst, innerMACSrc, innerMACDst string
	innerType                                          uint16
	innerSrcIP, innerDstIP                             string
}

// decapVXLAN parses outer Ethernet/IP/UDP/VXLAN and returns the pieces.
func decapVXLAN(t *testing.T, f []byte) (L2, []byte, UDP, VXLAN, uint32) {
	t.Helper()
	l, err := ParseL2(f)
	if err != nil {
		t.Fatal(err)
	}
	var l4 []byte
	var pseudo uint32
	switch l.EtherType {
	case EtherTypeIPv4:
		ip, err := ParseIPv4(f[l.L3:])
		if err != nil {
			t.Fatal(err)
		}
		if !ip.HeaderChecksumValid() {
			t.Fatalf("outer IPv4 header checksum %#04x does not verify", ip.HeaderChecksum())
		}
		l4, pseudo = ip.Payload(), ip.PseudoSum()
	case EtherTypeIPv6:
		ip, err := ParseIPv6(f[l.L3:])
		if err != nil {
			t.Fatal(err)
		}
		proto, off, err := ip.UpperLayer()
		if err != nil || proto != ProtoUDP {
			t.Fatalf("IPv6 upper layer %d, %v", proto, err)
		}
		l4, pseudo = ip[off:], ip.PseudoSum(proto, len(ip)-off)
	default:
		t.Fatalf("outer EtherType %#x", l.EtherType)
	}
	u, err := ParseUDP(l4)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseVXLAN(u.Payload())
	if err != nil {
		t.Fatal(err)
	}
	return l, f[l.L3:], u, v, pseudo
}

// TestGoldenVXLAN parses every frame of the kernel and OVS VXLAN captures
// and checks each field against what tshark reported for it.
func TestGoldenVXLAN(t *testing.T) {
	cache := map[string][][]byte{}
	for _, row := range vxlanGolden {
		if cache[row.file] == nil {
			cache[row.file] = readPcap(t, row.file)
		}
		f := cache[row.file][row.frame-1]
		l, l3, u, v, pseudo := decapVXLAN(t, f)
		where := row.file + " frame " + itoa(row.frame)
		var src, dst string
		if l.EtherType == EtherTypeIPv4 {
			src, dst = IPv4(l3).Src().String(), IPv4(l3).Dst().String()
		} else {
			src, dst = IPv6(l3).Src().String(), IPv6(l3).Dst().String()
		}
		if src != row.outerSrc || dst != row.outerDst {
			t.Errorf("%s: outer %s→%s, tshark %s→%s", where, src, dst, row.outerSrc, row.outerDst)
		}
		if l.Src.String() != row.outerMACSrc || l.Dst.String() != row.outerMACDst {
			t.Errorf("%s: outer MACs %s→%s", where, l.Src, l.Dst)
		}
		if u.SrcPort() != row.srcPort || u.DstPort() != row.dstPort || u.Checksum() != row.udpCsum {
			t.Errorf("%s: udp %d→%d csum %#04x, tshark %d→%d %#04x", where, u.SrcPort(), u.DstPort(), u.Checksum(), row.srcPort, row.dstPort, row.udpCsum)
		}
		if !u.ChecksumValid(pseudo) {
			t.Errorf("%s: outer UDP checksum %#04x does not verify", where, u.Checksum())
		}
		if uint16(v.Flags())<<8|uint16(v[1]) != row.flags || !v.HasI() || v.ReservedBitsSet() || v.VNI() != row.vni {
			t.Errorf("%s: vxlan flags %#02x vni %d reserved %v", where, v.Flags(), v.VNI(), v.ReservedBitsSet())
		}
		in, err := ParseL2(v.Payload())
		if err != nil {
			t.Fatal(err)
		}
		if in.Src.String() != row.innerMACSrc || in.Dst.String() != row.innerMACDst {
			t.Errorf("%s: inner MACs %s→%s", where, in.Src, in.Dst)
		}
		first := be.Uint16(v.Payload()[12:])
		if first != row.innerType {
			t.Errorf("%s: inner EtherType %#04x, tshark %#04x", where, first, row.innerType)
		}
		if row.innerSrcIP != "" {
			ip, err := ParseIPv4(v.Payload()[in.L3:])
			if err != nil {
				t.Fatalf("%s: inner IPv4: %v", where, err)
			}
			if ip.Src().String() != row.innerSrcIP || ip.Dst().String() != row.innerDstIP || !ip.HeaderChecksumValid() {
				t.Errorf("%s: inner IP %s→%s", where, ip.Src(), ip.Dst())
			}
			if ip.Protocol() == ProtoICMP {
				icmp, err := ParseICMP(ip.Payload())
				if err != nil || !icmp.ChecksumValid(0) || (icmp.Type() != 8 && icmp.Type() != 0) {
					t.Errorf("%s: inner ICMP type %d checksum bad", where, icmp.Type())
				}
			}
		} else if in.EtherType == EtherTypeARP {
			a, err := ParseARP(v.Payload()[in.L3:])
			if err != nil {
				t.Fatalf("%s: inner ARP: %v", where, err)
			}
			if a.SenderMAC() != in.Src {
				t.Errorf("%s: ARP sender %s, frame source %s", where, a.SenderMAC(), in.Src)
			}
		}
	}
}

// The VLAN capture: inner 802.1Q VID 100 with PCP 5 on the ICMP request,
// and one 802.1ad S-tag 200 over C-tag 100.
func TestGoldenInnerVLAN(t *testing.T) {
	frames := readPcap(t, "kernel-vxlan-vlan.pcap")
	for i, f := range frames {
		_, _, _, v, _ := decapVXLAN(t, f)
		in, err := ParseL2(v.Payload())
		if err != nil {
			t.Fatal(err)
		}
		switch i {
		case 0, 1, 3:
			if !in.Tagged || in.TPID != EtherTypeVLAN || in.TCI.VID() != 100 || in.InnerTagged {
				t.Errorf("frame %d: %+v", i+1, in)
			}
		case 2:
			if in.TCI.VID() != 100 || in.TCI.PCP() != 5 || in.EtherType != EtherTypeIPv4 {
				t.Errorf("frame 3: vid %d pcp %d", in.TCI.VID(), in.TCI.PCP())
			}
		case 4:
			if in.TPID != EtherTypeQinQ || in.TCI.VID() != 200 || !in.InnerTagged || in.InnerTCI.VID() != 100 || in.EtherType != EtherTypeIPv4 {
				t.Errorf("frame 5 (QinQ): %+v", in)
			}
		}
	}
}

// TestGoldenCrafted checks the crafted tunnel frames: good and malformed
// VXLAN headers, Geneve with an option, GRE TEB, NVGRE, STT, VXLAN over
// IPv6 and the largest VNI.
func TestGoldenCrafted(t *testing.T) {
	frames := readPcap(t, "crafted-tunnels.pcap")
	if len(frames) != 12 {
		t.Fatalf("%d frames, want 12", len(frames))
	}
	vx := func(i int) VXLAN { _, _, _, v, _ := decapVXLAN(t, frames[i-1]); return v }
	cases := []struct {
		frame          int
		hasI, reserved bool
		vni            uint32
	}{{1, true, false, 42}, {2, true, true, 42}, {3, false, false, 42}, {4, true, true, 42}, {5, true, false, 42}, {10, true, false, 42}, {11, true, false, 42}, {12, true, false, 16777215}}
	for _, c := range cases {
		v := vx(c.frame)
		if v.HasI() != c.hasI || v.ReservedBitsSet() != c.reserved || v.VNI() != c.vni {
			t.Errorf("frame %d: I=%v reserved=%v vni=%d, want %v %v %d", c.frame, v.HasI(), v.ReservedBitsSet(), v.VNI(), c.hasI, c.reserved, c.vni)
		}
	}
	if _, _, u, _, _ := decapVXLAN(t, frames[4]); u.DstPort() != VXLANLinuxPort {
		t.Errorf("frame 5 port %d", u.DstPort())
	}
	// Geneve: VNI 42, TEB, one option class 0x0102 type 0x80 (critical).
	_, _, u, _, _ := decapVXLAN(t, frames[5])
	g, err := ParseGeneve(u.Payload())
	if err != nil {
		t.Fatal(err)
	}
	opt, _, ok, err := g.NextOption(0)
	crit, _ := g.HasCriticalOption()
	if g.VNI() != 42 || g.Protocol() != EtherTypeTEB || !ok || err != nil || opt.Class != 0x0102 || opt.Type != 0x80 || !opt.Critical || !crit {
		t.Errorf("geneve: vni %d proto %#x opt %+v crit %v", g.VNI(), g.Protocol(), opt, crit)
	}
	// GRE TEB without key, then NVGRE key 0x00002a01.
	for i, want := range map[int]uint32{7: 0, 8: 0x2a01} {
		ip, _ := ParseIPv4(frames[i-1][14:])
		gr, err := ParseGRE(ip.Payload())
		if err != nil || ip.Protocol() != ProtoGRE || gr.Protocol() != EtherTypeTEB || gr.Key() != want {
			t.Errorf("frame %d: gre %v key %#x", i, err, gr.Key())
		}
		if _, err := ParseL2(gr.Payload()); err != nil {
			t.Errorf("frame %d inner: %v", i, err)
		}
	}
	ip, _ := ParseIPv4(frames[7][14:])
	if gr, _ := ParseGRE(ip.Payload()); gr.VSID() != 42 || gr.FlowID() != 1 {
		t.Errorf("nvgre vsid %d flow %d", gr.VSID(), gr.FlowID())
	}
	// STT: TCP port 7471, context 42.
	ip, _ = ParseIPv4(frames[8][14:])
	tcp, err := ParseTCP(ip.Payload())
	if err != nil || tcp.DstPort() != STTPort {
		t.Fatalf("stt tcp: %v %d", err, tcp.DstPort())
	}
	s, err := ParseSTT(tcp.Payload())
	if err != nil || s.ContextID() != 42 {
		t.Errorf("stt: %v context %d", err, s.ContextID())
	}
	if _, err := ParseL2(s.Payload()); err != nil {
		t.Error(err)
	}
}

// OVS userspace: VXLAN VNI 42, Geneve VNI 43, GRE key 44, VXLAN-GPE on 4790.
func TestGoldenOVSTunnels(t *testing.T) {
	frames := readPcap(t, "ovs-userspace-tunnels.pcap")
	if len(frames) != 5 {
		t.Fatalf("%d frames", len(frames))
	}
	_, l3, u, v, _ := decapVXLAN(t, frames[0])
	if v.VNI() != 42 || !IPv4(l3).DF() || IPv4(l3).ID() != 0 || u.Checksum() != 0 {
		t.Errorf("ovs vxlan: vni %d df %v", v.VNI(), IPv4(l3).DF())
	}
	_, _, u, _, _ = decapVXLAN(t, frames[1])
	if g, err := ParseGeneve(u.Payload()); err != nil || g.VNI() != 43 || u.DstPort() != GenevePort {
		t.Errorf("ovs geneve: %v", err)
	}
	ip, _ := ParseIPv4(frames[2][14:])
	if g, err := ParseGRE(ip.Payload()); err != nil || g.Key() != 44 {
		t.Errorf("ovs gre: %v", err)
	}
	_, _, u, v, _ = decapVXLAN(t, frames[3])
	if u.DstPort() != 4790 || v.HasI() != true || v.ReservedBitsSet() != true || v.VNI() != 45 {
		t.Errorf("ovs vxlan-gpe: port %d vni %d", u.DstPort(), v.VNI())
	}
}

// The BGP EVPN capture was taken on a veth with transmit checksum offload:
// tshark reports every TCP checksum bad (tcp.checksum.status 0), because
// each holds only the pseudo-header sum. PartialChecksum must recognise
// exactly that, and SetL4Checksum repair it.
func TestGoldenBGP(t *testing.T) {
	frames := readPcap(t, "frr-bgp-evpn.pcap")
	for i := range frames {
		f := append([]byte(nil), frames[i]...)
		l, err := ParseL2(f)
		if err != nil {
			t.Fatal(err)
		}
		if l.EtherType != EtherTypeIPv4 {
			continue
		}
		ip, err := ParseIPv4(f[l.L3:])
		if err != nil || !ip.HeaderChecksumValid() {
			t.Fatalf("frame %d: %v", i+1, err)
		}
		tcp, err := ParseTCP(ip.Payload())
		if err != nil || (tcp.SrcPort() != 179 && tcp.DstPort() != 179) {
			t.Fatalf("frame %d: tcp %v %d→%d", i+1, err, tcp.SrcPort(), tcp.DstPort())
		}
		if tcp.ChecksumValid(ip.PseudoSum()) || tcp.Checksum() != Fold(ip.PseudoSum()) {
			t.Fatalf("frame %d: checksum %#04x is not the partial one (pseudo %#04x)", i+1, tcp.Checksum(), Fold(ip.PseudoSum()))
		}
		s, partial := PartialChecksum(f)
		if !partial || s.Start != l.L3+ip.HeaderLen() || s.Offset != 16 || s.End != l.L3+len(ip) {
			t.Fatalf("frame %d: partial checksum not recognised: %v %+v", i+1, partial, s)
		}
		if !SetL4Checksum(f) || !tcp.ChecksumValid(ip.PseudoSum()) {
			t.Errorf("frame %d: partial TCP checksum not repaired", i+1)
		}
		if _, partial := PartialChecksum(f); partial {
			t.Errorf("frame %d: a complete checksum is taken for partial", i+1)
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
