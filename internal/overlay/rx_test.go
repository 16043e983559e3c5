package overlay

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// capture is a device that keeps copies of what the bridge sends it.
type capture struct {
	mu     sync.Mutex
	frames [][]byte
	offs   []packet.GSO
}

// Caps: the capture takes super-frames and partial checksums as they are.
func (c *capture) Caps() datapath.Caps { return datapath.CapsAll }

func (c *capture) Send(batch []datapath.Out) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range batch {
		c.frames = append(c.frames, append([]byte(nil), o.Pkt.Data()...))
		c.offs = append(c.offs, o.Pkt.Offload)
	}
}

// rxHarness is a tunnel port on a bridge whose other port captures.
type rxHarness struct {
	port *Port
	out  *capture
	meta datapath.TunnelMeta
}

func newRxHarness(t *testing.T) *rxHarness {
	t.Helper()
	br, err := datapath.NewBridge("br0", datapath.BridgeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h := &rxHarness{port: &Port{name: "vx0", mtu: 1500, cfg: (&PortConfig{Local: netip.MustParseAddr("198.18.0.1")}).withDefaults()}, out: &capture{}}
	bp, err := br.AddPort("vx0", h.port, datapath.PortConfig{Tunnel: true, VNI: 42})
	if err != nil {
		t.Fatal(err)
	}
	h.port.bp.Store(&attached{rx: bp})
	if _, err := br.AddPort("tap0", h.out, datapath.PortConfig{}); err != nil {
		t.Fatal(err)
	}
	ep, _ := datapath.InternEndpoint(netip.MustParseAddr("198.18.0.2"))
	h.meta = datapath.TunnelMeta{Valid: true, VNI: 42, Remote: ep}
	return h
}

var (
	macA = [6]byte{2, 0, 0, 0, 0, 0xa}
	macB = [6]byte{2, 0, 0, 0, 0, 0xb}
)

const tcpACK, tcpPSH, tcpFIN = 0x10, 0x08, 0x01

// tcpSeg builds an Ethernet/IPv4/TCP segment from port sport with valid
// checksums (partial: the TCP checksum holds the pseudo-header sum only).
func tcpSeg(sport uint16, seq uint32, flags uint8, payload []byte, partial bool) []byte {
	f := make([]byte, 14+20+20+len(payload))
	copy(f[0:], macB[:])
	copy(f[6:], macA[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, packet.ProtoTCP
	binary.BigEndian.PutUint16(ip[2:], uint16(20+20+len(payload)))
	binary.BigEndian.PutUint16(ip[4:], uint16(seq))
	ip[6] = 0x40
	copy(ip[12:], []byte{203, 0, 113, 1})
	copy(ip[16:], []byte{203, 0, 113, 2})
	packet.IPv4(ip).SetHeaderChecksum()
	tcp := f[34:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], 5201)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	binary.BigEndian.PutUint32(tcp[8:], 777)
	tcp[12], tcp[13] = 5<<4, flags
	binary.BigEndian.PutUint16(tcp[14:], 512)
	copy(tcp[20:], payload)
	v4, _ := packet.ParseIPv4(f[14:])
	if partial {
		binary.BigEndian.PutUint16(tcp[16:], packet.Fold(v4.PseudoSum()))
	} else {
		packet.TCP(tcp).SetChecksum(v4.PseudoSum())
	}
	return f
}

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

// finished returns a copy of frame with its offload finished in software:
// the bytes a receiver that takes no offloads would get, joined.
func finished(t *testing.T, f []byte, o packet.GSO) []byte {
	t.Helper()
	f = append([]byte(nil), f...)
	if o.NeedsCsum {
		if err := packet.FinishChecksum(f, o.CsumStart, o.CsumOffset); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestRxMergesInOrderSegmentsOfAFlow(t *testing.T) {
	h := newRxHarness(t)
	a := newRxAssembler(true)
	const mss = 1400
	var want []byte
	for i := 0; i < 10; i++ {
		pl := payload(mss, byte(i))
		want = append(want, pl...)
		seg := tcpSeg(40000, uint32(1000+i*mss), tcpACK, pl, i%2 == 0)
		p := datapath.NewPacket(len(seg) + 8)
		copy(p.Buf[datapath.Headroom+8:], seg)
		a.add(h.port, h.meta, p.Buf[datapath.Headroom+8:datapath.Headroom+8+len(seg)], p, datapath.Headroom+8, 0)
	}
	a.flush()
	if len(h.out.frames) != 1 {
		t.Fatalf("%d frames reached the VM, want 1 super-frame", len(h.out.frames))
	}
	o := h.out.offs[0]
	if o.Type != packet.GSOTypeTCPv4 || o.Size != mss || !o.NeedsCsum || o.CsumStart != 34 || o.CsumOffset != 16 {
		t.Fatalf("offload %+v", o)
	}
	f := finished(t, h.out.frames[0], o)
	if !packet.TCPChecksumValid(f) || !bytes.Equal(f[54:], want) {
		t.Fatalf("super-frame: checksum valid %v, payload equal %v", packet.TCPChecksumValid(f), bytes.Equal(f[54:], want))
	}
	if n := testing.AllocsPerRun(100, func() {
		for i := 0; i < 4; i++ {
			seg := tcpSeg(40000, uint32(1000+i*mss), tcpACK, want[:mss], false)
			a.add(h.port, h.meta, seg, nil, 0, 0)
		}
		a.flush()
	}); n > 4*5 { // the test's own tcpSeg/payload allocations only
		t.Fatalf("assembler allocates %.0f times per round", n)
	}
}

func TestRxKeepsOrderAcrossFlowsGapsAndControlSegments(t *testing.T) {
	h := newRxHarness(t)
	a := newRxAssembler(true)
	const mss = 1000
	add := func(f []byte) { a.add(h.port, h.meta, f, nil, 0, 0) }
	add(tcpSeg(1, 0, tcpACK, payload(mss, 1), false))
	add(tcpSeg(2, 0, tcpACK, payload(mss, 2), false)) // another flow
	add(tcpSeg(1, mss, tcpACK, payload(mss, 3), false))
	add(tcpSeg(1, 2*mss, tcpACK, nil, false))                   // pure ACK: ends flow 1's run
	add(tcpSeg(1, 2*mss, tcpACK, payload(mss, 4), false))       // a new run after it
	add(tcpSeg(2, 5*mss, tcpACK, payload(mss, 5), false))       // a gap in flow 2
	add(tcpSeg(1, 3*mss, tcpACK|tcpFIN, payload(10, 6), false)) // FIN: never merged
	a.flush()
	type got struct {
		sport uint16
		seq   uint32
		n     int
	}
	var g []got
	for _, f := range h.out.frames {
		g = append(g, got{binary.BigEndian.Uint16(f[34:]), binary.BigEndian.Uint32(f[38:]), len(f) - 54})
	}
	want := []got{{1, 0, 2 * mss}, {2, 0, mss}, {1, 2 * mss, 0}, {1, 2 * mss, mss}, {2, 5 * mss, mss}, {1, 3 * mss, 10}}
	if len(g) != len(want) {
		t.Fatalf("frames %v, want %v", g, want)
	}
	for i := range want {
		if g[i] != want[i] {
			t.Fatalf("frame %d is %+v, want %+v (all: %v)", i, g[i], want[i], g)
		}
	}
}

func TestRxMarksPartialChecksumsAndSuperFrames(t *testing.T) {
	h := newRxHarness(t)
	a := newRxAssembler(true)
	// A single partial segment (a kernel peer over veth) keeps its bytes and
	// is marked NEEDS_CSUM; finished, it is valid.
	seg := tcpSeg(7, 0, tcpACK|tcpPSH, payload(100, 9), true)
	a.add(h.port, h.meta, seg, nil, 0, 0)
	// An unsegmented 60 KB inner super-frame (tunnel GSO from a kernel peer)
	// passes in place, marked as TCP GSO with the reported segment size.
	big := tcpSeg(8, 0, tcpACK, payload(60000, 3), true)
	own := datapath.NewPacket(len(big) + 8)
	copy(own.Buf[datapath.Headroom+8:], big)
	a.add(h.port, h.meta, own.Buf[datapath.Headroom+8:datapath.Headroom+8+len(big)], own, datapath.Headroom+8, 1448)
	a.flush()
	if len(h.out.frames) != 2 {
		t.Fatalf("%d frames", len(h.out.frames))
	}
	if o := h.out.offs[0]; !o.NeedsCsum || o.IsSuper() || !packet.TCPChecksumValid(finished(t, h.out.frames[0], o)) {
		t.Fatalf("partial segment: %+v", o)
	}
	o := h.out.offs[1]
	if o.Type != packet.GSOTypeTCPv4 || o.Size != 1448 || !o.NeedsCsum {
		t.Fatalf("super-frame: %+v", o)
	}
	if !packet.TCPChecksumValid(finished(t, h.out.frames[1], o)) {
		t.Fatal("super-frame checksum wrong once finished")
	}
}

func TestRxSplitsGROGluedDatagrams(t *testing.T) {
	h := newRxHarness(t)
	a := newRxAssembler(true)
	s := &rxSock{key: sockKey{encap: VXLAN}}
	s.locals.Store(&[]netip.Addr{})
	targets := map[uint32]*Port{42: h.port}
	const mss = 1200
	var d, want []byte
	for i := 0; i < 5; i++ {
		pl := payload(mss, byte(i))
		if i == 4 {
			pl = pl[:300] // the last may be short
		}
		want = append(want, pl...)
		vx := make([]byte, 8)
		_ = packet.PutVXLAN(vx, 42)
		d = append(d, vx...)
		d = append(d, tcpSeg(9, uint32(i*mss), tcpACK, pl, false)...)
	}
	seg := 8 + 54 + mss
	if s.singleSuper(d, seg) {
		t.Fatal("glued datagrams taken for one super-frame")
	}
	p := datapath.NewPacket(len(d))
	copy(p.Buf[datapath.Headroom:], d)
	s.datagram(a, p, p.Buf[datapath.Headroom:datapath.Headroom+len(d)], seg, netip.MustParseAddr("198.18.0.2"), targets)
	a.flush()
	if s.received.Load() != 5 || len(h.out.frames) != 1 {
		t.Fatalf("received %d tunnel packets, %d frames out", s.received.Load(), len(h.out.frames))
	}
	f := finished(t, h.out.frames[0], h.out.offs[0])
	if !bytes.Equal(f[54:], want) || !packet.TCPChecksumValid(f) {
		t.Fatal("merged payload or checksum wrong")
	}
	// One VXLAN packet around a super-frame, reported with the inner MSS.
	vx := make([]byte, 8)
	_ = packet.PutVXLAN(vx, 42)
	one := append(vx, tcpSeg(10, 0, tcpACK, payload(20000, 1), true)...)
	if !s.singleSuper(one, 1448) {
		t.Fatal("an unsegmented super-frame taken for glued datagrams")
	}
}

func TestRxDoesNotMergeACorruptedSegment(t *testing.T) {
	h := newRxHarness(t)
	a := newRxAssembler(true)
	const mss = 1000
	a.add(h.port, h.meta, tcpSeg(3, 0, tcpACK, payload(mss, 1), false), nil, 0, 0)
	bad := tcpSeg(3, mss, tcpACK, payload(mss, 2), false)
	bad[60] ^= 0xff // payload corrupted under a complete checksum
	a.add(h.port, h.meta, bad, nil, 0, 0)
	a.add(h.port, h.meta, tcpSeg(3, 2*mss, tcpACK, payload(mss, 3), false), nil, 0, 0)
	a.flush()
	if len(h.out.frames) != 3 {
		t.Fatalf("%d frames: a corrupted segment was merged (its error would be hidden)", len(h.out.frames))
	}
	if packet.TCPChecksumValid(h.out.frames[1]) || h.out.offs[1].NeedsCsum {
		t.Fatal("the corrupted segment lost its bad checksum")
	}
}

// udpDgram builds an Ethernet/IPv4/UDP datagram from port sport with a
// complete checksum.
func udpDgram(sport uint16, pl []byte) []byte {
	f := make([]byte, 14+20+8+len(pl))
	copy(f[0:], macB[:])
	copy(f[6:], macA[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, packet.ProtoUDP
	binary.BigEndian.PutUint16(ip[2:], uint16(28+len(pl)))
	copy(ip[12:], []byte{203, 0, 113, 1})
	copy(ip[16:], []byte{203, 0, 113, 2})
	packet.IPv4(ip).SetHeaderChecksum()
	u := f[34:]
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], 5201)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(pl)))
	copy(u[8:], pl)
	v4, _ := packet.ParseIPv4(f[14:])
	packet.UDP(u).SetChecksum(v4.PseudoSum())
	return f
}

func TestRxMergesSameSizedUDPDatagrams(t *testing.T) {
	h := newRxHarness(t)
	a := newRxAssembler(true)
	var want [][]byte
	for i := 0; i < 20; i++ {
		pl := payload(64, byte(i))
		want = append(want, pl)
		a.add(h.port, h.meta, udpDgram(4000, pl), nil, 0, 0)
	}
	a.add(h.port, h.meta, udpDgram(4001, payload(64, 99)), nil, 0, 0) // another flow
	a.flush()
	if len(h.out.frames) != 2 {
		t.Fatalf("%d frames, want one UDP super-frame and one datagram", len(h.out.frames))
	}
	o := h.out.offs[0]
	if o.Type != packet.GSOTypeUDPL4 || o.Size != 64 || o.CsumOffset != 6 {
		t.Fatalf("offload %+v", o)
	}
	g := o
	n, maxLen := packet.SegmentCount(h.out.frames[0], g)
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, maxLen)
	}
	if _, err := packet.Segment(h.out.frames[0], g, out); err != nil || n != 20 {
		t.Fatalf("segment: %v, %d datagrams", err, n)
	}
	for i, d := range out {
		if !bytes.Equal(d[42:], want[i]) || !packet.UDPChecksumValid(d) {
			t.Fatalf("datagram %d does not come back", i)
		}
	}
}

func TestTxRunsOfSameSizedFrames(t *testing.T) {
	p := testPort(VXLAN, "198.18.0.1", PortConfig{})
	p.gsoEnabled = true
	ep, _ := datapath.InternEndpoint(netip.MustParseAddr("198.18.0.2"))
	other, _ := datapath.InternEndpoint(netip.MustParseAddr("198.18.0.3"))
	var batch []datapath.Out
	add := func(f []byte, remote datapath.Endpoint) {
		pkt := datapath.NewPacket(len(f))
		pkt.SetData(f)
		batch = append(batch, datapath.Out{Pkt: pkt, VNI: 42, Remote: remote})
	}
	for i := 0; i < 5; i++ {
		add(udpDgram(4000, payload(64, byte(i))), ep)
	}
	add(udpDgram(4000, payload(30, 9)), ep)    // shorter: ends the run, in it
	add(udpDgram(4000, payload(64, 9)), ep)    // a new run...
	add(udpDgram(4000, payload(64, 9)), other) // ...cut by another destination
	add(udpDgram(4001, payload(64, 9)), other) // another flow
	add(udpDgram(4001, payload(64, 9)), other)
	prep := p.prepare(batch)
	var runs []int
	for i := 0; i < len(batch); {
		j := p.runEnd(batch, prep, i)
		runs = append(runs, j-i)
		i = j
	}
	want := []int{6, 1, 1, 2}
	if fmt.Sprint(runs) != fmt.Sprint(want) {
		t.Fatalf("runs %v, want %v", runs, want)
	}
	p.cfg.NoUDPCsum = true // the kernel refuses GSO with zero checksums
	if j := p.runEnd(batch, prep, 0); j != 1 {
		t.Fatalf("a run of %d without UDP checksums", j)
	}
}
