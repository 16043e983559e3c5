package datapath

import (
	"encoding/binary"
	"testing"

	"github.com/switchyard-net/switchyard/internal/packet"
)

// l4Frame builds an IPv4 or IPv6 TCP/UDP frame with payload n bytes and a
// complete checksum.
func l4Frame(v6 bool, proto uint8, payload int) []byte {
	dst, src := mac(2), mac(1)
	b := append(append([]byte{}, dst[:]...), src[:]...)
	if v6 {
		b = binary.BigEndian.AppendUint16(b, etherTypeIPv6)
	} else {
		b = binary.BigEndian.AppendUint16(b, etherTypeIPv4)
	}
	l4len := 20 + payload
	if proto == 17 {
		l4len = 8 + payload
	}
	if v6 {
		ip := make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(l4len))
		ip[6], ip[7] = proto, 64
		copy(ip[8:], []byte{0x20, 0x01, 0x0d, 0xb8, 15: 1})
		copy(ip[24:], []byte{0x20, 0x01, 0x0d, 0xb8, 15: 2})
		b = append(b, ip...)
	} else {
		ip := make([]byte, 20)
		ip[0], ip[8], ip[9] = 0x45, 64, proto
		binary.BigEndian.PutUint16(ip[2:], uint16(20+l4len))
		copy(ip[12:], []byte{198, 18, 0, 1, 203, 0, 113, 5})
		packet.IPv4(ip).SetHeaderChecksum()
		b = append(b, ip...)
	}
	l4 := make([]byte, l4len)
	binary.BigEndian.PutUint16(l4[0:], 1000)
	binary.BigEndian.PutUint16(l4[2:], 80)
	if proto == 6 {
		l4[12] = 5 << 4
		l4[13] = 0x18
	} else {
		binary.BigEndian.PutUint16(l4[4:], uint16(l4len))
		l4[6] = 1 // not "no checksum": SetL4Checksum computes it
	}
	for i := range payload {
		l4[len(l4)-payload+i] = byte(i * 7)
	}
	b = append(b, l4...)
	if !packet.SetL4Checksum(b) {
		panic("no L4 checksum")
	}
	return b
}

func l4Valid(f []byte) bool {
	if packet.TCPChecksumValid(f) || packet.UDPChecksumValid(f) {
		return ipv4HeaderOK(f)
	}
	return false
}

func ipv4HeaderOK(f []byte) bool {
	if etherType(f) != etherTypeIPv4 {
		return true
	}
	return packet.IPv4(f[14:34]).HeaderChecksumValid()
}

// rewriteAll applies set_field rewrites the way execute does and returns the
// frame.
func rewriteAll(t *testing.T, p *Packet, fields map[Field]Value) {
	t.Helper()
	var lay layout
	for f, v := range fields {
		rewrite(p, &op{kind: opSetField, field: f, val: v}, &lay)
	}
}

// Every rewrite keeps the IPv4 header checksum and the L4 checksum correct:
// for complete checksums, for partial ones (finished afterwards), and for
// 64 KiB super-frames (each segment's checksum after segmentation).
func TestRewritesKeepChecksums(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, proto := range []uint8{6, 17} {
			fields := map[Field]Value{FieldTPSrc: {Lo: 4242}, FieldTPDst: {Lo: 8080}, FieldIPTTL: {Lo: 9}, FieldIPDSCP: {Lo: 46}, FieldIPECN: {Lo: 2}}
			if v6 {
				fields[FieldIPv6Src] = Value{Hi: 0x20010db800000000, Lo: 0x99}
				fields[FieldIPv6Dst] = Value{Hi: 0x20010db8ffff0000, Lo: 0x1234}
			} else {
				fields[FieldIPv4Src] = Value{Lo: 0xc6120063}
				fields[FieldIPv4Dst] = Value{Lo: 0xcb0071fe}
			}
			// Complete checksums.
			f := l4Frame(v6, proto, 100)
			p := NewPacket(len(f) + 64)
			p.SetData(f)
			rewriteAll(t, p, fields)
			if !l4Valid(p.Data()) {
				t.Errorf("v6=%v proto=%d: checksum wrong after rewriting a complete frame", v6, proto)
			}
			k, _ := KeyOfFrame(p.Data(), 1)
			for fl, want := range fields {
				if got := k.Get(fl); got != want {
					t.Errorf("v6=%v proto=%d: %s is %#x, want %#x", v6, proto, fl, got.Lo, want.Lo)
				}
			}
			// A partial checksum (the pseudo-header sum, as a VM with
			// checksum offload sends it) stays right: finishing it after the
			// rewrite gives a valid checksum.
			f = l4Frame(v6, proto, 100)
			s, _ := packet.FindL4Checksum(f)
			binary.BigEndian.PutUint16(f[s.Start+s.Offset:], packet.Fold(s.Pseudo))
			p.SetData(f)
			p.Offload = packet.GSO{NeedsCsum: true, CsumStart: s.Start, CsumOffset: s.Offset}
			rewriteAll(t, p, fields)
			d := p.Data()
			if err := packet.FinishChecksum(d, p.Offload.CsumStart, p.Offload.CsumOffset); err != nil {
				t.Fatal(err)
			}
			if !l4Valid(d) {
				t.Errorf("v6=%v proto=%d: partial checksum wrong after rewriting", v6, proto)
			}
		}
	}
}

func TestRewriteSuperFrame(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		const mss = 1400
		f := l4Frame(v6, 6, 40*mss)
		s, _ := packet.FindL4Checksum(f)
		binary.BigEndian.PutUint16(f[s.Start+s.Offset:], packet.Fold(s.Pseudo))
		p := NewPacket(len(f) + 64)
		p.SetData(f)
		typ := uint8(packet.GSOTypeTCPv4)
		if v6 {
			typ = packet.GSOTypeTCPv6
		}
		p.Offload = packet.GSO{Type: typ, Size: mss, NeedsCsum: true, CsumStart: s.Start, CsumOffset: s.Offset}
		fields := map[Field]Value{FieldTPDst: {Lo: 9999}, FieldIPTTL: {Lo: 3}}
		if v6 {
			fields[FieldIPv6Dst] = Value{Hi: 0x20010db8aaaa0000, Lo: 7}
		} else {
			fields[FieldIPv4Dst] = Value{Lo: 0xcb007101}
		}
		rewriteAll(t, p, fields)
		// As the kernel would take it from a TAP: finish the partial sum of
		// the super-frame itself…
		whole := append([]byte(nil), p.Data()...)
		if err := packet.FinishChecksum(whole, p.Offload.CsumStart, p.Offload.CsumOffset); err != nil || !packet.TCPChecksumValid(whole) {
			t.Fatalf("v6=%v: the super-frame's partial checksum is wrong after rewriting (%v)", v6, err)
		}
		// …and as the engine's egress step cuts it for a port without TSO.
		n, maxLen := packet.SegmentCount(p.Data(), p.Offload)
		out := make([][]byte, n)
		for i := range out {
			out[i] = make([]byte, maxLen)
		}
		m, err := packet.Segment(p.Data(), p.Offload, out)
		if err != nil || m != 40 {
			t.Fatalf("v6=%v: segment: %d, %v", v6, m, err)
		}
		for i := 0; i < m; i++ {
			if !l4Valid(out[i]) {
				t.Fatalf("v6=%v: segment %d has a bad checksum", v6, i)
			}
			k, _ := KeyOfFrame(out[i], 1)
			if k.Get(FieldTPDst).Lo != 9999 || k.Get(FieldIPTTL).Lo != 3 {
				t.Fatalf("v6=%v: segment %d lost the rewrite", v6, i)
			}
		}
	}
}

// dec_ttl through the pipeline: decremented with the checksum kept, and a
// frame at TTL 1 dropped and counted.
func TestDecTTLDropsAtOne(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	tb.add("a", PortConfig{})
	tb.add("b", PortConfig{})
	r := Rule{Priority: 10, Instr: Instructions{Apply: []Action{{Kind: ActDecTTL}, {Kind: ActOutput, Port: 2}}, Goto: NoGoto}}
	r.Match.SetExact(FieldEthType, Value{Lo: etherTypeIPv4})
	if err := tb.b.ReplaceFlows([]Rule{r}); err != nil {
		t.Fatal(err)
	}
	f := l4Frame(false, 6, 10)
	tb.send("a", f)
	got := tb.got()["b"]
	if len(got) != 1 || got[0][22] != 63 || !l4Valid(got[0]) {
		t.Fatalf("dec_ttl: %d frames, ttl %d", len(got), got[0][22])
	}
	f[22] = 1
	packet.IPv4(f[14:34]).SetHeaderChecksum()
	tb.send("a", f)
	if got := keys(tb.got()); got != "" || tb.drops("a", DropTTL) != 1 {
		t.Fatalf("TTL 1: went to %q, ttl drops %d", got, tb.drops("a", DropTTL))
	}
}
