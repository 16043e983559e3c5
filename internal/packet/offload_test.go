package packet

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// frameSpec describes a TCP or UDP test frame (or super-frame).
type frameSpec struct {
	v6      bool
	udp     bool
	tags    int    // 0, 1 (802.1Q) or 2 (802.1ad + 802.1Q)
	ipOpts  int    // IPv4 option bytes (NOPs), a multiple of 4
	tcpOpts []byte // TCP options, a multiple of 4 bytes
	payload int
	seed    uint64 // payload contents
	seq     uint32
	ack     uint32
	id      uint16
	flags   uint8 // TCP flags; 0 means ACK
	partial bool  // L4 checksum field holds only the pseudo-header sum
	pad     int   // Ethernet padding after the IP packet
	port    uint16
}

var tsOpts = []byte{1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78} // NOP NOP timestamps

func (s frameSpec) l3() int { return EthernetLen + 4*s.tags }

func (s frameSpec) l4() int {
	if s.v6 {
		return s.l3() + IPv6Len
	}
	return s.l3() + IPv4MinLen + s.ipOpts
}

func (s frameSpec) hdrLen() int {
	if s.udp {
		return s.l4() + UDPLen
	}
	return s.l4() + TCPMinLen + len(s.tcpOpts)
}

func (s frameSpec) gso(size int) GSO {
	g := GSO{Size: size, HdrLen: 0, NeedsCsum: true, CsumStart: s.l4(), CsumOffset: 16}
	switch {
	case s.udp:
		g.Type, g.CsumOffset = GSOTypeUDPL4, 6
	case s.v6:
		g.Type = GSOTypeTCPv6
	default:
		g.Type = GSOTypeTCPv4
	}
	return g
}

func fill(b []byte, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// build writes the frame.
func (s frameSpec) build() []byte {
	l3, l4, hdr := s.l3(), s.l4(), s.hdrLen()
	b := make([]byte, hdr+s.payload+s.pad)
	copy(b, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1})
	off := 12
	if s.tags == 2 {
		be.PutUint16(b[off:], EtherTypeQinQ)
		be.PutUint16(b[off+2:], 300)
		off += 4
	}
	if s.tags >= 1 {
		be.PutUint16(b[off:], EtherTypeVLAN)
		be.PutUint16(b[off+2:], uint16(MakeTCI(3, false, 100)))
		off += 4
	}
	proto := uint8(ProtoTCP)
	if s.udp {
		proto = ProtoUDP
	}
	l4len := hdr - l4 + s.payload
	ip := b[l3:l4]
	if s.v6 {
		be.PutUint16(b[off:], EtherTypeIPv6)
		be.PutUint32(ip[0:], 6<<28|0x28<<20|0x12345)
		be.PutUint16(ip[4:], uint16(l4len))
		ip[6], ip[7] = proto, 64
		copy(ip[8:], []byte{0x20, 0x01, 0x0d, 0xb8, 15: 1})
		copy(ip[24:], []byte{0x20, 0x01, 0x0d, 0xb8, 15: 2})
	} else {
		be.PutUint16(b[off:], EtherTypeIPv4)
		ip[0], ip[1] = 0x40|uint8((IPv4MinLen+s.ipOpts)/4), 0x28
		be.PutUint16(ip[2:], uint16(l4-l3+l4len))
		be.PutUint16(ip[4:], s.id)
		ip[6], ip[8], ip[9] = 0x40, 64, proto
		copy(ip[12:], []byte{198, 51, 100, 1, 198, 51, 100, 2})
		for i := IPv4MinLen; i < len(ip); i++ {
			ip[i] = 1 // NOP
		}
		IPv4(ip).SetHeaderChecksum()
	}
	t := b[l4 : hdr+s.payload]
	port := s.port
	if port == 0 {
		port = 40000
	}
	be.PutUint16(t[0:], port)
	be.PutUint16(t[2:], 5201)
	fill(t[hdr-l4:], s.seed)
	var pseudo uint32
	if s.v6 {
		pseudo = IPv6(b[l3:]).PseudoSum(proto, l4len)
	} else {
		pseudo = PseudoHeaderSum(ip[12:16], ip[16:20], proto, l4len)
	}
	at := 16
	if s.udp {
		be.PutUint16(t[4:], uint16(l4len))
		at = 6
	} else {
		be.PutUint32(t[4:], s.seq)
		be.PutUint32(t[8:], s.ack)
		t[12] = uint8((TCPMinLen + len(s.tcpOpts)) / 4 << 4)
		t[13] = s.flags
		if s.flags == 0 {
			t[13] = tcpACK
		}
		be.PutUint16(t[14:], 0x2000)
		copy(t[TCPMinLen:], s.tcpOpts)
	}
	if s.partial {
		be.PutUint16(t[at:], Fold(pseudo))
	} else if s.udp {
		UDP(t).SetChecksum(pseudo)
	} else {
		TCP(t).SetChecksum(pseudo)
	}
	return b
}

// seg is a parsed output frame.
type seg struct {
	ip4     IPv4
	ip6     IPv6
	l4      []byte
	pseudo  uint32
	payload []byte
}

// parseSeg parses a frame with the existing views, independently of the
// code under test, and checks lengths and checksums.
func parseSeg(fr []byte) (seg, error) {
	var s seg
	l, err := ParseL2(fr)
	if err != nil {
		return s, err
	}
	var proto uint8
	switch l.EtherType {
	case EtherTypeIPv4:
		ip, err := ParseIPv4(fr[l.L3:])
		if err != nil {
			return s, err
		}
		if !ip.HeaderChecksumValid() {
			return s, fmt.Errorf("bad IPv4 header checksum")
		}
		s.ip4, s.l4, s.pseudo, proto = ip, ip.Payload(), ip.PseudoSum(), ip.Protocol()
		if l.L3+len(ip) != len(fr) {
			return s, fmt.Errorf("IPv4 total %d, frame %d", len(ip), len(fr)-l.L3)
		}
	case EtherTypeIPv6:
		ip, err := ParseIPv6(fr[l.L3:])
		if err != nil {
			return s, err
		}
		s.ip6, s.l4, proto = ip, ip[IPv6Len:], ip.NextHeader()
		s.pseudo = ip.PseudoSum(proto, len(s.l4))
		if l.L3+len(ip) != len(fr) {
			return s, fmt.Errorf("IPv6 length %d, frame %d", len(ip), len(fr)-l.L3)
		}
	default:
		return s, fmt.Errorf("ethertype %#x", l.EtherType)
	}
	switch proto {
	case ProtoTCP:
		t, err := ParseTCP(s.l4)
		if err != nil {
			return s, err
		}
		if !t.ChecksumValid(s.pseudo) {
			return s, fmt.Errorf("bad TCP checksum %#04x", t.Checksum())
		}
		s.payload = t.Payload()
	case ProtoUDP:
		u, err := ParseUDP(s.l4)
		if err != nil {
			return s, err
		}
		if len(u) != len(s.l4) {
			return s, fmt.Errorf("UDP length %d, data %d", len(u), len(s.l4))
		}
		if u.Checksum() == 0 || !u.ChecksumValid(s.pseudo) {
			return s, fmt.Errorf("bad UDP checksum %#04x", u.Checksum())
		}
		s.payload = u.Payload()
	default:
		return s, fmt.Errorf("protocol %d", proto)
	}
	return s, nil
}

func makeOut(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, 0, size)
	}
	return out
}

// checkSegments verifies segments against the super-frame they came from.
func checkSegments(t *testing.T, orig []byte, s frameSpec, size int, segs [][]byte) {
	t.Helper()
	hdr := s.hdrLen()
	payload := orig[hdr : hdr+s.payload]
	want := 1
	if s.payload > 0 {
		want = (s.payload + size - 1) / size
	}
	if len(segs) != want {
		t.Fatalf("%d segments, want %d", len(segs), want)
	}
	var origFlags uint8
	if !s.udp {
		origFlags = orig[s.l4()+13]
	}
	var cat []byte
	for i, fr := range segs {
		p, err := parseSeg(fr)
		if err != nil {
			t.Fatalf("segment %d/%d: %v", i, len(segs), err)
		}
		wantLen := size
		if i == len(segs)-1 {
			wantLen = s.payload - i*size
		}
		if len(p.payload) != wantLen {
			t.Fatalf("segment %d: payload %d, want %d", i, len(p.payload), wantLen)
		}
		if !bytes.Equal(fr[:s.l3()], orig[:s.l3()]) {
			t.Fatalf("segment %d: L2 header changed", i)
		}
		if p.ip4 != nil {
			if p.ip4.ID() != s.id+uint16(i) {
				t.Fatalf("segment %d: IPv4 ID %d, want %d", i, p.ip4.ID(), s.id+uint16(i))
			}
			if p.ip4.TOS() != 0x28 || p.ip4.TTL() != 64 || !p.ip4.DF() || p.ip4.HeaderLen() != IPv4MinLen+s.ipOpts {
				t.Fatalf("segment %d: IPv4 fields changed", i)
			}
			if !bytes.Equal(p.ip4[12:p.ip4.HeaderLen()], orig[s.l3()+12:s.l4()]) {
				t.Fatalf("segment %d: IPv4 addresses/options changed", i)
			}
		} else if !bytes.Equal(p.ip6[:4], orig[s.l3():s.l3()+4]) || !bytes.Equal(p.ip6[6:40], orig[s.l3()+6:s.l3()+40]) {
			t.Fatalf("segment %d: IPv6 header changed", i)
		}
		if s.udp {
			if !bytes.Equal(p.l4[:4], orig[s.l4():s.l4()+4]) {
				t.Fatalf("segment %d: ports changed", i)
			}
		} else {
			tc := TCP(p.l4)
			if tc.Seq() != s.seq+uint32(i*size) {
				t.Fatalf("segment %d: seq %d, want %d", i, tc.Seq(), s.seq+uint32(i*size))
			}
			wf := origFlags
			if i != 0 {
				wf &^= tcpCWR
			}
			if i != len(segs)-1 {
				wf &^= tcpFIN | tcpPSH
			}
			if tc.Flags() != wf {
				t.Fatalf("segment %d: flags %#02x, want %#02x", i, tc.Flags(), wf)
			}
			o := orig[s.l4():]
			if !bytes.Equal(p.l4[:4], o[:4]) || !bytes.Equal(p.l4[8:13], o[8:13]) || !bytes.Equal(p.l4[14:16], o[14:16]) || !bytes.Equal(p.l4[18:tc.HeaderLen()], o[18:hdr-s.l4()]) {
				t.Fatalf("segment %d: TCP header fields changed", i)
			}
		}
		cat = append(cat, p.payload...)
	}
	if !bytes.Equal(cat, payload) {
		t.Fatal("segment payloads do not concatenate to the original payload")
	}
}

func TestSegmentTable(t *testing.T) {
	type row struct {
		name    string
		spec    frameSpec
		size    int
		segs    int
		lastLen int
	}
	var rows []row
	for _, v6 := range []bool{false, true} {
		for _, udp := range []bool{false, true} {
			for _, tags := range []int{0, 1, 2} {
				base := frameSpec{v6: v6, udp: udp, tags: tags, seq: 0xfffff000, id: 0xfffe, partial: true, flags: tcpACK | tcpPSH | tcpFIN | tcpCWR}
				if !udp {
					base.tcpOpts = tsOpts
				}
				name := fmt.Sprintf("v6=%v/udp=%v/tags=%d", v6, udp, tags)
				for _, c := range []struct{ payload, size, segs, last int }{
					{0, 1448, 1, 0},
					{1, 1448, 1, 1},
					{1447, 1448, 1, 1447},
					{1448, 1448, 1, 1448},
					{1449, 1448, 2, 1},
					{3 * 1448, 1448, 3, 1448},
					{3*1448 + 7, 1448, 4, 7},
					{1001, 7, 143, 0},
					{99, 1, 99, 1},
					{65535 - 100, 1448, 46, 65435 - 45*1448},
				} {
					s := base
					s.payload, s.seed = c.payload, uint64(c.payload)
					if s.hdrLen()-s.l3()+s.payload > 65535 {
						s.payload = 65535 - (s.hdrLen() - s.l3())
						c.segs = (s.payload + c.size - 1) / c.size
						c.last = s.payload - (c.segs-1)*c.size
					}
					if c.last == 0 && c.payload != 0 {
						c.last = s.payload - (c.segs-1)*c.size
					}
					rows = append(rows, row{fmt.Sprintf("%s/payload=%d/size=%d", name, s.payload, c.size), s, c.size, c.segs, c.last})
				}
			}
		}
	}
	rows = append(rows, row{"ipv4-options", frameSpec{ipOpts: 8, tcpOpts: tsOpts, payload: 5000, partial: true}, 1000, 5, 1000})
	rows = append(rows, row{"padding-dropped", frameSpec{payload: 3, pad: 3, partial: true}, 1448, 1, 3})
	rows = append(rows, row{"complete-csum-input", frameSpec{v6: true, payload: 3000}, 1400, 3, 200})
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			fr := r.spec.build()
			g := r.spec.gso(r.size)
			n, maxLen := SegmentCount(fr, g)
			if n != r.segs {
				t.Fatalf("SegmentCount %d, want %d", n, r.segs)
			}
			if hl, err := GSOHeaderLen(fr, g); err != nil || hl != r.spec.hdrLen() {
				t.Fatalf("GSOHeaderLen %d %v, want %d", hl, err, r.spec.hdrLen())
			}
			out := makeOut(n+1, maxLen)
			got, err := Segment(fr, g, out)
			if err != nil || got != r.segs {
				t.Fatalf("Segment: %d, %v", got, err)
			}
			if l := len(out[got-1]) - r.spec.hdrLen(); l != r.lastLen {
				t.Fatalf("last segment payload %d, want %d", l, r.lastLen)
			}
			if len(out[got]) != 0 {
				t.Fatal("Segment wrote past the segments it reported")
			}
			checkSegments(t, fr, r.spec, r.size, out[:got])
		})
	}
}

// A GSO frame that fits one segment, and a GSOTypeNone NEEDS_CSUM frame,
// come out as one frame with the checksum finished.
func TestSegmentOneFrameNeedsCsum(t *testing.T) {
	for _, s := range []frameSpec{
		{payload: 100, partial: true},
		{v6: true, tags: 1, payload: 1, partial: true},
		{udp: true, payload: 31, partial: true},
		{v6: true, udp: true, payload: 0, partial: true},
	} {
		full := s
		full.partial = false
		want := full.build()
		fr := s.build()
		if _, err := parseSeg(fr); err == nil && s.payload > 0 {
			t.Fatal("partial test frame verifies")
		}
		for _, g := range []GSO{s.gso(1448), {Type: GSOTypeNone, NeedsCsum: true, CsumStart: s.gso(0).CsumStart, CsumOffset: s.gso(0).CsumOffset}} {
			out := makeOut(1, len(fr))
			n, err := Segment(fr, g, out)
			if err != nil || n != 1 {
				t.Fatalf("%+v: %d %v", g, n, err)
			}
			if _, err := parseSeg(out[0]); err != nil {
				t.Fatalf("%+v: %v", g, err)
			}
			if !bytes.Equal(out[0], want) {
				// Equal except possibly 0 vs 0xffff, which this data avoids.
				t.Fatalf("%+v: not the complete-checksum frame", g)
			}
		}
	}
	// GSOTypeNone without NEEDS_CSUM is a plain copy, of any protocol.
	arp := make([]byte, 42)
	fill(arp, 9)
	out := makeOut(1, 64)
	if n, err := Segment(arp, GSO{}, out); err != nil || n != 1 || !bytes.Equal(out[0], arp) {
		t.Fatalf("plain copy: %d %v", n, err)
	}
}

func TestSegmentErrors(t *testing.T) {
	good := frameSpec{tcpOpts: tsOpts, payload: 3000, partial: true}
	fr := good.build()
	g := good.gso(1000) // 3 segments
	v6udp := frameSpec{v6: true, udp: true, payload: 100}.build()
	ext := frameSpec{v6: true, payload: 100}.build()
	ext[EthernetLen+6] = 0 // hop-by-hop
	frag := good.build()
	be.PutUint16(frag[EthernetLen+6:], 0x2001)
	long := good.build()
	be.PutUint16(long[EthernetLen+2:], uint16(len(long)))
	icmp := good.build()
	icmp[EthernetLen+9] = ProtoICMP
	arp := make([]byte, 60)
	be.PutUint16(arp[12:], EtherTypeARP)
	badDoff := good.build()
	badDoff[good.l4()+12] = 4 << 4
	for _, c := range []struct {
		name  string
		frame []byte
		g     GSO
		out   [][]byte
		want  error
	}{
		{"legacy UFO", v6udp, GSO{Type: GSOTypeUDP, Size: 10}, makeOut(20, 2000), ErrGSOType},
		{"unknown type 2", fr, GSO{Type: 2, Size: 1000}, makeOut(4, 2000), ErrGSOType},
		{"unknown type 6", fr, GSO{Type: 6, Size: 1000}, makeOut(4, 2000), ErrGSOType},
		{"ECN alone", fr, GSO{Type: GSOTypeECN, Size: 1000}, makeOut(4, 2000), ErrGSOType},
		{"size 0", fr, GSO{Type: GSOTypeTCPv4}, makeOut(4, 2000), ErrGSOSize},
		{"size negative", fr, GSO{Type: GSOTypeTCPv4, Size: -1}, makeOut(4, 2000), ErrGSOSize},
		{"empty frame", nil, g, makeOut(4, 2000), ErrGSOHeader},
		{"truncated in TCP", fr[:good.l4()+10], g, makeOut(4, 2000), ErrGSOHeader},
		{"ip length beyond frame", long, g, makeOut(4, 2000), ErrGSOHeader},
		{"bad data offset", badDoff, g, makeOut(4, 2000), ErrGSOHeader},
		{"ARP", arp, g, makeOut(4, 2000), ErrGSOHeader},
		{"ICMP", icmp, g, makeOut(4, 2000), ErrGSOHeader},
		{"IPv4 fragment", frag, g, makeOut(4, 2000), ErrGSOHeader},
		{"IPv6 extension header", ext, GSO{Type: GSOTypeTCPv6, Size: 10}, makeOut(20, 2000), ErrGSOHeader},
		{"TCPv6 on IPv4", fr, GSO{Type: GSOTypeTCPv6, Size: 1000}, makeOut(4, 2000), ErrGSOTypeMismatch},
		{"TCPv4 on IPv6 UDP", v6udp, GSO{Type: GSOTypeTCPv4, Size: 10}, makeOut(20, 2000), ErrGSOTypeMismatch},
		{"UDP_L4 on TCP", fr, GSO{Type: GSOTypeUDPL4, Size: 1000}, makeOut(4, 2000), ErrGSOTypeMismatch},
		{"too few buffers", fr, g, makeOut(2, 2000), ErrGSOOutBuffers},
		{"no buffers", fr, g, nil, ErrGSOOutBuffers},
		{"none, no buffers", fr, GSO{}, nil, ErrGSOOutBuffers},
		{"first buffer small", fr, g, [][]byte{make([]byte, 0, 1000), make([]byte, 0, 2000), make([]byte, 0, 2000)}, ErrGSOBufferSmall},
		{"middle buffer one short", fr, g, [][]byte{make([]byte, 0, 2000), make([]byte, 0, good.hdrLen()+999), make([]byte, 0, 2000)}, ErrGSOBufferSmall},
		{"last buffer one short", fr, g, [][]byte{make([]byte, 0, 2000), make([]byte, 0, 2000), make([]byte, 0, good.hdrLen()+999)}, ErrGSOBufferSmall},
		{"none, buffer small", fr, GSO{}, makeOut(1, len(fr)-1), ErrGSOBufferSmall},
		{"none, csum field past end", fr, GSO{NeedsCsum: true, CsumStart: len(fr) - 1}, makeOut(1, len(fr)), ErrCsumRange},
		{"none, negative csum start", fr, GSO{NeedsCsum: true, CsumStart: -2, CsumOffset: 4}, makeOut(1, len(fr)), ErrCsumRange},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := make([][]byte, len(c.out))
			for i := range c.out {
				before[i] = c.out[i]
			}
			n, err := Segment(c.frame, c.g, c.out)
			if !errors.Is(err, c.want) || n != 0 {
				t.Fatalf("got %d, %v; want %v", n, err, c.want)
			}
			for i := range c.out {
				if len(c.out[i]) != len(before[i]) {
					t.Fatal("out buffer re-sliced on error")
				}
			}
			if c.want != ErrGSOOutBuffers && c.want != ErrGSOBufferSmall {
				if n, m := SegmentCount(c.frame, c.g); n != 0 || m != 0 {
					t.Fatalf("SegmentCount %d %d for a rejected frame", n, m)
				}
			}
		})
	}
	// The boundary: exactly hdr+size for full segments, hdr+rest for the last.
	out := [][]byte{make([]byte, 0, good.hdrLen()+1000), make([]byte, 0, good.hdrLen()+1000), make([]byte, 0, good.hdrLen()+1000)}
	if n, err := Segment(fr, g, out); n != 3 || err != nil {
		t.Fatalf("exact-size buffers: %d %v", n, err)
	}
}

func TestFinishChecksum(t *testing.T) {
	for _, s := range []frameSpec{{payload: 999}, {v6: true, tags: 2, payload: 3}, {udp: true, payload: 17}, {v6: true, udp: true, payload: 1000}} {
		s.partial = true
		fr := s.build()
		g := s.gso(0)
		if err := FinishChecksum(fr, g.CsumStart, g.CsumOffset); err != nil {
			t.Fatal(err)
		}
		if _, err := parseSeg(fr); err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
	}
	// A UDP datagram whose checksum comes out as 0 is sent as 0xffff.
	s := frameSpec{udp: true, payload: 8, partial: true}
	fr := s.build()
	l4 := fr[s.l4():]
	ip := IPv4(fr[EthernetLen:])
	// Choose the last payload word so that the complete sum is 0xffff.
	be.PutUint16(l4[14:], 0)
	be.PutUint16(l4[6:], 0)
	sum := Fold(Checksum(l4, ip.PseudoSum()))
	be.PutUint16(l4[14:], ^sum)
	be.PutUint16(l4[6:], Fold(ip.PseudoSum()))
	if err := FinishChecksum(fr, s.l4(), 6); err != nil {
		t.Fatal(err)
	}
	if c := UDP(l4).Checksum(); c != 0xffff {
		t.Fatalf("zero UDP checksum stored as %#04x, want 0xffff", c)
	}
	if !UDP(l4).ChecksumValid(ip.PseudoSum()) {
		t.Fatal("0xffff does not verify")
	}
	// Ranges.
	b := make([]byte, 10)
	for _, c := range []struct {
		start, off int
		ok         bool
	}{
		{0, 8, true}, {8, 0, true}, {0, 9, false}, {9, 0, false}, {10, 0, false}, {11, 0, false},
		{-1, 2, false}, {2, -1, false}, {0, 1 << 62, false}, {1 << 62, 0, false}, {4, 4, true}, {4, 5, false},
	} {
		for i := range b {
			b[i] = byte(i)
		}
		err := FinishChecksum(b, c.start, c.off)
		if (err == nil) != c.ok {
			t.Fatalf("FinishChecksum(start %d, off %d): %v, want ok=%v", c.start, c.off, err, c.ok)
		}
		if err != nil {
			if !errors.Is(err, ErrCsumRange) {
				t.Fatalf("error %v", err)
			}
			for i := range b {
				if b[i] != byte(i) {
					t.Fatal("frame modified on error")
				}
			}
		}
	}
}

// Random frames and sizes: every segment verifies and the payload comes back.
func TestSegmentProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	out := makeOut(70000, 0)
	buf := make([]byte, 70000*80+2*65600)
	for i := 0; i < 400; i++ {
		s := frameSpec{
			v6: r.IntN(2) == 0, udp: r.IntN(2) == 0, tags: r.IntN(3),
			seq: r.Uint32(), id: uint16(r.Uint32()), seed: r.Uint64(),
			partial: r.IntN(2) == 0, flags: tcpACK | uint8(r.IntN(2))*tcpPSH | uint8(r.IntN(2))*tcpFIN | uint8(r.IntN(2))*tcpCWR,
		}
		if !s.v6 && r.IntN(3) == 0 {
			s.ipOpts = 4 * r.IntN(11)
		}
		if !s.udp {
			s.tcpOpts = make([]byte, 4*r.IntN(11))
			fill(s.tcpOpts, r.Uint64())
		}
		maxPay := 65535 - (s.hdrLen() - s.l3())
		switch r.IntN(3) {
		case 0:
			s.payload = r.IntN(3000)
		case 1:
			s.payload = r.IntN(maxPay + 1)
		default:
			s.payload = maxPay - r.IntN(10)
		}
		size := 1 + r.IntN(9000)
		if r.IntN(4) == 0 {
			size = 1 + r.IntN(64)
		}
		fr := s.build()
		g := s.gso(size)
		n, maxLen := SegmentCount(fr, g)
		// Carve the out buffers from one big slab.
		for j := 0; j < n; j++ {
			out[j] = buf[j*maxLen : j*maxLen : (j+1)*maxLen]
		}
		got, err := Segment(fr, g, out[:n])
		if err != nil || got != n {
			t.Fatalf("%+v size %d: %d %v", s, size, got, err)
		}
		checkSegments(t, fr, s, size, out[:n])
	}
}

// segmentAll segments a super-frame into fresh buffers.
func segmentAll(t testing.TB, fr []byte, g GSO) [][]byte {
	t.Helper()
	n, maxLen := SegmentCount(fr, g)
	out := makeOut(n, maxLen)
	if _, err := Segment(fr, g, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// groAll coalesces frames that must all merge into one super-frame.
func groAll(t testing.TB, b *GROBuilder, dst []byte, frames [][]byte) ([]byte, GSO) {
	t.Helper()
	for i, fr := range frames {
		f, ok := ParseGRO(fr)
		if !ok {
			t.Fatalf("segment %d not mergeable", i)
		}
		if i == 0 {
			if !b.Start(dst, fr, f) {
				t.Fatal("Start refused")
			}
		} else if !b.TryAppend(fr, f) {
			t.Fatalf("segment %d/%d refused", i, len(frames))
		}
	}
	if b.Segments() != len(frames) {
		t.Fatalf("Segments %d, want %d", b.Segments(), len(frames))
	}
	return b.Finish()
}

// Segment then GRO gives back the super-frame, byte for byte, once both have
// their checksum finished. (The IPv4 ID matches too because GRO keeps the
// first segment's ID, which is the super-frame's; segments from a real
// sender with other IDs would merge to the first one's.)
func TestSegmentGRORoundTrip(t *testing.T) {
	dst := make([]byte, 65535+22)
	var b GROBuilder
	for _, v6 := range []bool{false, true} {
		for _, tags := range []int{0, 1, 2} {
			for _, c := range []struct {
				payload, size int
				opts          []byte
				flags         uint8
			}{
				{2 * 1448, 1448, tsOpts, tcpACK},
				{10*1448 + 1, 1448, tsOpts, tcpACK | tcpPSH},
				{44 * 1448, 1448, tsOpts, tcpACK | tcpPSH},
				{65535 - 100, 1460, nil, tcpACK},
				{777, 100, []byte{2, 4, 5, 0xb4}, tcpACK},
				{3, 1, nil, tcpACK | tcpPSH},
			} {
				s := frameSpec{v6: v6, tags: tags, tcpOpts: c.opts, payload: c.payload, seq: 0xffffff00, ack: 77, id: 0xfff0, flags: c.flags, partial: true, seed: uint64(c.payload)}
				name := fmt.Sprintf("v6=%v/tags=%d/payload=%d/size=%d", v6, tags, c.payload, c.size)
				super := s.build()
				g := s.gso(c.size)
				segs := segmentAll(t, super, g)
				merged, mg := groAll(t, &b, dst, segs)
				want := GSO{Type: g.Type, Size: c.size, HdrLen: s.hdrLen(), NeedsCsum: true, CsumStart: s.l4(), CsumOffset: 16}
				if mg != want {
					t.Fatalf("%s: GSO %+v, want %+v", name, mg, want)
				}
				if !bytes.Equal(merged, super) {
					t.Fatalf("%s: merged frame (partial checksum) differs from the super-frame", name)
				}
				if err := FinishChecksum(merged, mg.CsumStart, mg.CsumOffset); err != nil {
					t.Fatal(err)
				}
				if err := FinishChecksum(super, g.CsumStart, g.CsumOffset); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(merged, super) || !TCPChecksumValid(merged) {
					t.Fatalf("%s: finished frames differ or do not verify", name)
				}
				// Re-segmenting the merged frame gives the same segments.
				again := segmentAll(t, merged, mg)
				for i := range segs {
					if !bytes.Equal(again[i], segs[i]) {
						t.Fatalf("%s: re-segmented segment %d differs", name, i)
					}
				}
			}
		}
	}
}

// groSegs returns the segments of a TCP super-frame with the given payload,
// MSS 1000, for the refusal tests.
func groSegs(t *testing.T, s frameSpec) [][]byte {
	s.partial = true
	if s.tcpOpts == nil {
		s.tcpOpts = tsOpts
	}
	return segmentAll(t, s.build(), s.gso(1000))
}

// fix recomputes a modified segment's checksums.
func fix(fr []byte) []byte {
	l, _ := ParseL2(fr)
	if l.EtherType == EtherTypeIPv4 {
		ip := IPv4(fr[l.L3:])
		ip.SetHeaderChecksum()
		TCP(ip[ip.HeaderLen():ip.TotalLen()]).SetChecksum(IPv4(fr[l.L3 : l.L3+ip.TotalLen()]).PseudoSum())
	} else {
		ip := IPv6(fr[l.L3:])
		TCP(ip[40:]).SetChecksum(ip.PseudoSum(ProtoTCP, len(ip)-40))
	}
	return fr
}

func mutate(fr []byte, f func(fr []byte, l4 int)) []byte {
	c := append([]byte(nil), fr...)
	l, _ := ParseL2(c)
	l4 := l.L3 + IPv4MinLen
	if l.EtherType == EtherTypeIPv6 {
		l4 = l.L3 + IPv6Len
	}
	f(c, l4)
	return fix(c)
}

func TestGRORefuses(t *testing.T) {
	base := frameSpec{payload: 4000, seq: 1000, ack: 5}
	segs := groSegs(t, base) // 4 x 1000
	v6segs := groSegs(t, frameSpec{v6: true, payload: 4000, seq: 1000, ack: 5})
	short := groSegs(t, frameSpec{payload: 500, seq: 3000, ack: 5})[0]      // 500 bytes after segs[1]
	shortNext := groSegs(t, frameSpec{payload: 1000, seq: 3500, ack: 5})[0] // after it
	bigger := frameSpec{payload: 1001, seq: 3000, ack: 5, tcpOpts: tsOpts}.build()

	type step struct {
		frame  []byte
		accept bool
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"in order", []step{{segs[0], true}, {segs[1], true}, {segs[2], true}, {segs[3], true}}},
		{"out of order", []step{{segs[0], true}, {segs[2], false}, {segs[1], true}}},
		{"duplicate", []step{{segs[0], true}, {segs[1], true}, {segs[1], false}}},
		{"gap", []step{{segs[0], true}, {mutate(segs[1], func(fr []byte, l4 int) { be.PutUint32(fr[l4+4:], 2001) }), false}}},
		{"other port", []step{{segs[0], true}, {mutate(segs[1], func(fr []byte, l4 int) { fr[l4]++ }), false}}},
		{"other address", []step{{segs[0], true}, {mutate(segs[1], func(fr []byte, l4 int) { fr[EthernetLen+15]++ }), false}}},
		{"other MAC", []step{{segs[0], true}, {mutate(segs[1], func(fr []byte, l4 int) { fr[5]++ }), false}}},
		{"IPv6 vs IPv4", []step{{segs[0], true}, {v6segs[1], false}}},
		{"other ack", []step{{segs[0], true}, {mutate(segs[1], func(fr []byte, l4 int) { fr[l4+11]++ }), false}}},
		{"other window", []step{{segs[0], true}, {mutate(segs[1], func(fr []byte, l4 int) { fr[l4+15]++ }), false}}},
		{"other TOS", []step{{segs[0], true}, {mutate(segs[1], func(fr []byte, l4 int) { fr[EthernetLen+1] |= 3 }), false}}},
		{"other TTL", []step{{segs[0], true}, {mutate(segs[1], func(fr []byte, l4 int) { fr[EthernetLen+8]-- }), false}}},
		{"DF cleared", []step{{segs[0], true}, {mutate(segs[1], func(fr []byte, l4 int) { fr[EthernetLen+6] = 0 }), false}}},
		{"ACK cleared", []step{{segs[0], true}, {mutate(segs[1], func(fr []byte, l4 int) { fr[l4+13] = 0 }), false}}},
		{"other flow label", []step{{v6segs[0], true}, {mutate(v6segs[1], func(fr []byte, l4 int) { fr[EthernetLen+3]++ }), false}}},
		{"other hop limit", []step{{v6segs[0], true}, {mutate(v6segs[1], func(fr []byte, l4 int) { fr[EthernetLen+7]++ }), false}}},
		{"options differ", []step{{segs[0], true}, {mutate(segs[1], func(fr []byte, l4 int) { fr[l4+TCPMinLen+7]++ }), false}}},
		{"reserved bits differ", []step{{segs[0], true}, {mutate(segs[1], func(fr []byte, l4 int) { fr[l4+12] |= 1 }), false}}},
		{"short then another", []step{{segs[0], true}, {segs[1], true}, {short, true}, {shortNext, false}}},
		{"larger than the first", []step{{segs[0], true}, {segs[1], true}, {bigger, false}}},
		{"after PSH", []step{{segs[0], true}, {mutate(segs[1], func(fr []byte, l4 int) { fr[l4+13] |= tcpPSH }), true}, {segs[2], false}}},
		{"first has PSH", []step{{mutate(segs[0], func(fr []byte, l4 int) { fr[l4+13] |= tcpPSH }), true}, {segs[1], false}}},
	}
	dst := make([]byte, 65535+22)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b GROBuilder
			for i, st := range c.steps {
				f, ok := ParseGRO(st.frame)
				if !ok {
					t.Fatalf("step %d: ParseGRO refused", i)
				}
				var got bool
				if i == 0 {
					got = b.Start(dst, st.frame, f)
				} else {
					got = b.TryAppend(st.frame, f)
				}
				if got != st.accept {
					t.Fatalf("step %d: accepted=%v, want %v", i, got, st.accept)
				}
			}
			want := 0
			for _, st := range c.steps {
				if st.accept {
					want++
				}
			}
			// Out-of-order stops counting at the first refusal in a real
			// caller; here later accepted steps continue the run.
			if b.Segments() != want {
				t.Fatalf("Segments %d, want %d", b.Segments(), want)
			}
			fr, g := b.Finish()
			if want > 1 {
				if err := FinishChecksum(fr, g.CsumStart, g.CsumOffset); err != nil || !TCPChecksumValid(fr) {
					t.Fatalf("merged frame does not verify: %v", err)
				}
			}
		})
	}
	t.Run("after Finish", func(t *testing.T) {
		var b GROBuilder
		groAll(t, &b, dst, segs[:2])
		f, _ := ParseGRO(segs[2])
		if b.TryAppend(segs[2], f) {
			t.Fatal("appended after Finish")
		}
		fr1, g1 := b.Finish()
		fr2, g2 := b.Finish()
		if g1 != g2 || !bytes.Equal(fr1, fr2) || len(fr1) != len(segs[0])+1000 {
			t.Fatal("Finish not idempotent")
		}
	})
	t.Run("dst limits", func(t *testing.T) {
		var b GROBuilder
		f, _ := ParseGRO(segs[0])
		if b.Start(make([]byte, len(segs[0])-1), segs[0], f) || b.Segments() != 0 {
			t.Fatal("Start into a too-small dst")
		}
		if fr, g := b.Finish(); fr != nil || g != (GSO{}) {
			t.Fatal("Finish of an empty builder")
		}
		if b.TryAppend(segs[1], f) {
			t.Fatal("TryAppend on an empty builder")
		}
		small := make([]byte, len(segs[0])+1999)
		if !b.Start(small, segs[0], f) {
			t.Fatal("Start")
		}
		f1, _ := ParseGRO(segs[1])
		f2, _ := ParseGRO(segs[2])
		if !b.TryAppend(segs[1], f1) || b.TryAppend(segs[2], f2) {
			t.Fatal("dst length not respected")
		}
		var zero GROBuilder
		if zero.TryAppend(segs[0], f) || zero.Segments() != 0 {
			t.Fatal("zero builder")
		}
		if fr, _ := zero.Finish(); fr != nil {
			t.Fatal("zero builder Finish")
		}
	})
	t.Run("64 KiB limit", func(t *testing.T) {
		// Full 1448-byte segments with 12 bytes of options: 52 bytes of
		// headers, so 45 segments make 65212 bytes and a 46th would not fit.
		// dst has room beyond that: the IP limit is what stops the run.
		s := frameSpec{tcpOpts: tsOpts, payload: 1448, ack: 5}
		dst := make([]byte, 80000)
		var b GROBuilder
		n := 0
		for i := 0; i < 60; i++ {
			s.seq, s.seed = uint32(i*1448), uint64(i)
			fr := s.build()
			f, ok := ParseGRO(fr)
			if !ok {
				t.Fatal("ParseGRO")
			}
			if i == 0 {
				b.Start(dst, fr, f)
				n++
				continue
			}
			if !b.TryAppend(fr, f) {
				break
			}
			n++
		}
		if want := (65535 - 52) / 1448; n != want {
			t.Fatalf("merged %d segments, want %d", n, want)
		}
		fr, g := b.Finish()
		if ip, err := ParseIPv4(fr[EthernetLen:]); err != nil || len(ip) != 52+n*1448 || len(fr) != EthernetLen+len(ip) || !ip.HeaderChecksumValid() {
			t.Fatalf("merged IPv4: %v", err)
		}
		if err := FinishChecksum(fr, g.CsumStart, g.CsumOffset); err != nil || !TCPChecksumValid(fr) {
			t.Fatal("merged checksum")
		}
	})
	t.Run("single segment unchanged", func(t *testing.T) {
		var b GROBuilder
		padded := frameSpec{payload: 2, pad: 4}.build()
		f, ok := ParseGRO(padded)
		if !ok || f.PayloadLen != 2 {
			t.Fatalf("padded small frame: ok=%v len=%d", ok, f.PayloadLen)
		}
		b.Start(dst, padded, f)
		fr, g := b.Finish()
		if !bytes.Equal(fr, padded) || g != (GSO{}) || b.Segments() != 1 {
			t.Fatal("single padded segment not returned unchanged")
		}
		// A padded first segment: the padding is replaced by the next payload.
		next := frameSpec{payload: 2, seq: 2}.build()
		fn, _ := ParseGRO(next)
		b.Start(dst, padded, f)
		if !b.TryAppend(next, fn) {
			t.Fatal("append after padded")
		}
		fr, g = b.Finish()
		if len(fr) != len(padded)-4+2 || FinishChecksum(fr, g.CsumStart, 16) != nil || !TCPChecksumValid(fr) {
			t.Fatal("padded merge")
		}
	})
}

func TestParseGRORefuses(t *testing.T) {
	good := frameSpec{tcpOpts: tsOpts, payload: 100, seq: 1, ack: 1}
	g4 := fix(good.build())
	if f, ok := ParseGRO(g4); !ok || f.PayloadLen != 100 || f.TCPHdrLen != 32 || f.PayloadOff != 66 || f.Seq != 1 || f.Key.SrcPort != 40000 || !f.DF || f.TTL != 64 || f.TOS != 0x28 {
		t.Fatalf("good frame: %v %+v", ok, f)
	}
	g6 := frameSpec{v6: true, tags: 2, payload: 100}.build()
	if f, ok := ParseGRO(g6); !ok || !f.Key.IPv6 || f.FlowLabel != 0x12345 || f.TOS != 0x28 || f.Key.Tags[0]>>16 != EtherTypeQinQ || f.Key.Tags[1]>>16 != EtherTypeVLAN || f.L4 != 62 {
		t.Fatalf("good v6 frame: %v %+v", ok, f)
	}
	ext := frameSpec{v6: true, payload: 100}.build()
	ext[EthernetLen+6] = 0
	badHdr := good.build()
	badHdr[EthernetLen+8]-- // TTL changed, checksum stale
	refuse := map[string][]byte{
		"SYN":                mutate(g4, func(fr []byte, l4 int) { fr[l4+13] |= tcpSYN }),
		"FIN":                mutate(g4, func(fr []byte, l4 int) { fr[l4+13] |= tcpFIN }),
		"RST":                mutate(g4, func(fr []byte, l4 int) { fr[l4+13] |= tcpRST }),
		"URG":                mutate(g4, func(fr []byte, l4 int) { fr[l4+13] |= tcpURG }),
		"ECE":                mutate(g4, func(fr []byte, l4 int) { fr[l4+13] |= tcpECE }),
		"CWR":                mutate(g4, func(fr []byte, l4 int) { fr[l4+13] |= tcpCWR }),
		"no payload":         frameSpec{tcpOpts: tsOpts}.build(),
		"UDP":                frameSpec{udp: true, payload: 100}.build(),
		"IPv4 options":       frameSpec{ipOpts: 4, payload: 100}.build(),
		"IPv4 fragment":      mutate(g4, func(fr []byte, l4 int) { fr[EthernetLen+6] |= 0x20 }),
		"IPv4 frag offset":   mutate(g4, func(fr []byte, l4 int) { fr[EthernetLen+7] = 1 }),
		"IPv4 bad checksum":  badHdr,
		"IPv6 ext header":    ext,
		"total > frame":      g4[:len(g4)-1],
		"padding on big":     append(append([]byte(nil), g4...), 0, 0),
		"truncated header":   g4[:EthernetLen+IPv4MinLen+10],
		"data offset > data": mutate(frameSpec{payload: 30}.build(), func(fr []byte, l4 int) { fr[l4+12] = 0xf0 }),
		"data offset = data": mutate(frameSpec{payload: 40}.build(), func(fr []byte, l4 int) { fr[l4+12] = 0xf0 }),
		"data offset < 20":   mutate(g4, func(fr []byte, l4 int) { fr[l4+12] = 0x40 }),
		"empty":              nil,
	}
	for name, fr := range refuse {
		if _, ok := ParseGRO(fr); ok {
			t.Errorf("%s: ParseGRO accepted", name)
		}
	}
}

func TestTCPChecksumValid(t *testing.T) {
	for _, s := range []frameSpec{{payload: 10}, {v6: true, tags: 1, payload: 1001}} {
		fr := s.build()
		if !TCPChecksumValid(fr) {
			t.Fatal("valid frame refused")
		}
		fr[len(fr)-1] ^= 0x40
		if TCPChecksumValid(fr) {
			t.Fatal("corrupted frame verifies")
		}
	}
	if TCPChecksumValid(frameSpec{udp: true, payload: 10}.build()) || TCPChecksumValid(nil) {
		t.Fatal("non-TCP verifies")
	}
}

func TestOffloadAllocatesNothing(t *testing.T) {
	s := frameSpec{tcpOpts: tsOpts, payload: 65000, partial: true}
	super := s.build()
	g := s.gso(1448)
	n, maxLen := SegmentCount(super, g)
	out := makeOut(n, maxLen)
	small := makeOut(n, 100)
	one := makeOut(1, 100)
	if _, err := Segment(super, g, out); err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 65535+22)
	var b GROBuilder
	for name, f := range map[string]func(){
		"Segment": func() {
			if _, err := Segment(super, g, out); err != nil {
				t.Fatal(err)
			}
		},
		"Segment error": func() {
			if _, err := Segment(super, g, small); err == nil {
				t.Fatal("no error")
			}
			_, _ = Segment(super[:30], g, out)
			_, _ = Segment(super, GSO{Type: GSOTypeUDP, Size: 1}, out)
		},
		"Segment none": func() { _, _ = Segment(super[:100], GSO{NeedsCsum: true, CsumStart: 34, CsumOffset: 16}, one) },
		"SegmentCount": func() { _, _ = SegmentCount(super, g) },
		"GSOHeaderLen": func() { _, _ = GSOHeaderLen(super, g) },
		"FinishChecksum": func() {
			_ = FinishChecksum(super, 34, 16)
			_ = FinishChecksum(super, -1, 16)
		},
		"GRO": func() {
			for i := 0; i < n; i++ {
				f, ok := ParseGRO(out[i])
				if !ok {
					t.Fatal("ParseGRO")
				}
				if i == 0 {
					b.Start(dst, out[i], f)
				} else if !b.TryAppend(out[i], f) {
					t.Fatal("TryAppend")
				}
			}
			_, _ = b.Finish()
		},
		"TCPChecksumValid": func() { _ = TCPChecksumValid(out[0]) },
	} {
		if a := testing.AllocsPerRun(20, f); a != 0 {
			t.Errorf("%s: %v allocations per call", name, a)
		}
	}
}

func BenchmarkSegment64K(b *testing.B) {
	s := frameSpec{tcpOpts: tsOpts, payload: 65535 - 52, partial: true}
	super := s.build()
	g := s.gso(1448)
	n, maxLen := SegmentCount(super, g)
	out := makeOut(n, maxLen)
	b.SetBytes(int64(len(super)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Segment(super, g, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "segs/op")
}

func BenchmarkGRO(b *testing.B) {
	s := frameSpec{tcpOpts: tsOpts, payload: 44 * 1448, partial: true}
	super := s.build()
	segs := segmentAll(b, super, s.gso(1448))
	flows := make([]GROFlow, len(segs))
	dst := make([]byte, 65535+22)
	var gb GROBuilder
	b.SetBytes(int64(len(super)))
	b.ReportAllocs()
	for b.Loop() {
		for i, fr := range segs {
			f, ok := ParseGRO(fr)
			if !ok {
				b.Fatal("ParseGRO")
			}
			flows[i] = f
			if i == 0 {
				gb.Start(dst, fr, f)
			} else if !gb.TryAppend(fr, f) {
				b.Fatal("TryAppend")
			}
		}
		if _, g := gb.Finish(); g.Type != GSOTypeTCPv4 {
			b.Fatal("Finish")
		}
	}
	b.ReportMetric(float64(len(segs)), "segs/op")
}
