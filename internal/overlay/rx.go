package overlay

import (
	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// The receive side's batch assembly. A receive round yields datagrams —
// single tunnel packets, or with UDP_GRO a run of same-sized tunnel packets
// of one flow glued together, or (from a Linux VXLAN peer over veth) one
// tunnel packet around an unsegmented 64 KiB inner super-frame. Each inner
// frame is decapsulated, and in-order TCP segments of one flow are merged
// into one super-frame (software GRO) so that a TAP takes a whole burst in
// one write. Frames that are not merged go to the engine from where they
// lie when they own their datagram, or are copied when they share one.

const (
	// maxOpenRuns bounds the super-frames open for appending at once.
	maxOpenRuns = 16
	// rxPoolSize is the number of packets a receive round may fill with
	// merged or copied frames before it hands what it has to the engine.
	rxPoolSize = 64
	// poolBufSize holds a merged super-frame.
	poolBufSize = datapath.MaxFrame + datapath.Headroom
	// maxMergeFrame is the largest segment merged: a jumbo frame. Larger
	// inner frames are super-frames already.
	maxMergeFrame = 9216 + 18
)

// rxEntry is one frame for the engine, in arrival order.
type rxEntry struct {
	port *Port
	pkt  *datapath.Packet
	run  int // index into runs+1 when the packet is a merge, else 0
}

// rxRun is a super-frame being merged: TCP segments or UDP datagrams.
type rxRun struct {
	b    packet.GROBuilder
	u    packet.UDPGROBuilder
	udp  bool
	key  packet.GROKey
	meta datapath.TunnelMeta
	port *Port
	open bool
}

// rxAssembler collects one receive round's frames.
type rxAssembler struct {
	gro     bool // merge TCP segments
	entries []rxEntry
	runs    []rxRun
	open    []int // indices into runs of the open ones, oldest first
	pool    []*datapath.Packet
	npool   int
	groups  []rxGroup
	mss     func(*Port) int
}

type rxGroup struct {
	port *Port
	pkts []*datapath.Packet
}

func newRxAssembler(gro bool) *rxAssembler {
	a := &rxAssembler{gro: gro, runs: make([]rxRun, 0, rxPoolSize)}
	a.pool = make([]*datapath.Packet, rxPoolSize)
	for i := range a.pool {
		a.pool[i] = datapath.NewPacket(poolBufSize - datapath.Headroom)
	}
	return a
}

// add takes one decapsulated inner frame. own is the datagram's packet when
// the frame is the only one in it (the frame is then passed on in place);
// nil when the frame shares its datagram and must be copied if it is not
// merged. superMSS is the segment size the kernel reported for a datagram
// that holds an unsegmented super-frame (0 if unknown).
func (a *rxAssembler) add(port *Port, meta datapath.TunnelMeta, inner []byte, own *datapath.Packet, off int, superMSS int) {
	if a.gro && len(inner) <= maxMergeFrame {
		f, ok := packet.ParseGRO(inner)
		switch {
		case ok && checksumOK(inner):
			a.merge(port, meta, inner, false, f, packet.UDPGROFlow{})
			return
		case f.Key.SrcPort != 0 || f.Key.DstPort != 0:
			a.closeFlow(f.Key) // TCP, but not to be merged (an ACK, a FIN)
		default:
			u, ok := packet.ParseUDPGRO(inner)
			if ok && checksumOK(inner) {
				a.merge(port, meta, inner, true, packet.GROFlow{}, u)
				return
			}
			a.closeFlow(u.Key)
		}
	}
	var pkt *datapath.Packet
	if own != nil {
		pkt = own
		pkt.Off, pkt.Len = off, len(inner)
	} else {
		pkt = a.take(len(inner))
		if pkt == nil {
			return
		}
		pkt.Len = copy(pkt.Buf[pkt.Off:], inner)
	}
	pkt.Tunnel = meta
	markChecksum(pkt, superMSS, port)
	a.entries = append(a.entries, rxEntry{port: port, pkt: pkt})
}

// merge appends a TCP segment (udp false, f set) or a UDP datagram (udp
// true, u set) to its flow's open super-frame, or starts one.
func (a *rxAssembler) merge(port *Port, meta datapath.TunnelMeta, inner []byte, udp bool, f packet.GROFlow, u packet.UDPGROFlow) {
	key := f.Key
	if udp {
		key = u.Key
	}
	for i := len(a.open) - 1; i >= 0; i-- {
		r := &a.runs[a.open[i]]
		if r.key != key || r.port != port || r.meta != meta {
			continue
		}
		if udp && r.u.TryAppend(inner, u) || !udp && r.b.TryAppend(inner, f) {
			return
		}
		// Same flow, not contiguous: this run is over.
		a.closeRun(i)
		break
	}
	r, pkt := a.startRun(port, meta, key)
	if r == nil {
		return
	}
	r.udp = udp
	dst := pkt.Buf[pkt.Off:]
	if udp && !r.u.Start(dst, inner, u) || !udp && !r.b.Start(dst, inner, f) {
		a.abandonRun(port, meta, inner, pkt)
		return
	}
	a.openRun(port, pkt)
}

// startRun takes a pool packet and a new run for a flow.
func (a *rxAssembler) startRun(port *Port, meta datapath.TunnelMeta, key packet.GROKey) (*rxRun, *datapath.Packet) {
	pkt := a.take(poolBufSize - datapath.Headroom)
	if pkt == nil {
		return nil, nil
	}
	if len(a.open) == maxOpenRuns {
		a.closeRun(0)
	}
	a.runs = append(a.runs, rxRun{key: key, meta: meta, port: port, open: true})
	pkt.Tunnel = meta
	return &a.runs[len(a.runs)-1], pkt
}

// openRun records the newest run as open and its packet as the next frame.
func (a *rxAssembler) openRun(port *Port, pkt *datapath.Packet) {
	a.open = append(a.open, len(a.runs)-1)
	a.entries = append(a.entries, rxEntry{port: port, pkt: pkt, run: len(a.runs)})
}

// abandonRun drops the newest run, whose builder refused its first frame,
// and carries the frame as a plain copy in the packet taken for it.
func (a *rxAssembler) abandonRun(port *Port, meta datapath.TunnelMeta, inner []byte, pkt *datapath.Packet) {
	a.runs = a.runs[:len(a.runs)-1]
	pkt.Len = copy(pkt.Buf[pkt.Off:], inner)
	pkt.Tunnel = meta
	markChecksum(pkt, 0, port)
	a.entries = append(a.entries, rxEntry{port: port, pkt: pkt})
}

// closeFlow ends the open run of the flow a TCP frame that cannot be merged
// belongs to (a pure ACK, a FIN), so that nothing of that flow overtakes it.
func (a *rxAssembler) closeFlow(k packet.GROKey) {
	if len(a.open) == 0 || k.SrcPort == 0 && k.DstPort == 0 {
		return
	}
	for i := len(a.open) - 1; i >= 0; i-- {
		if a.runs[a.open[i]].key == k {
			a.closeRun(i)
			return
		}
	}
}

func (a *rxAssembler) closeRun(i int) {
	a.runs[a.open[i]].open = false
	a.open = append(a.open[:i], a.open[i+1:]...)
}

// take returns a pool packet with room for n bytes, handing the round's
// frames to the engine first if the pool is used up.
func (a *rxAssembler) take(n int) *datapath.Packet {
	if n > poolBufSize-datapath.Headroom {
		return nil
	}
	if a.npool == len(a.pool) {
		a.flush()
	}
	p := a.pool[a.npool]
	a.npool++
	p.Reset()
	return p
}

// flush finishes the merges and hands every frame to its bridge port, in
// arrival order per port.
func (a *rxAssembler) flush() {
	a.groups = a.groups[:0]
	for _, e := range a.entries {
		if e.run > 0 {
			r := &a.runs[e.run-1]
			frame, g := r.b.Finish()
			segs := r.b.Segments()
			if r.udp {
				frame, g = r.u.Finish()
				segs = r.u.Segments()
			}
			e.pkt.Len = len(frame)
			if segs > 1 {
				e.pkt.Offload = g
			} else {
				markChecksum(e.pkt, 0, e.port)
			}
		}
		j := 0
		for j < len(a.groups) && a.groups[j].port != e.port {
			j++
		}
		if j == len(a.groups) {
			if cap(a.groups) > j {
				a.groups = a.groups[:j+1]
				a.groups[j].port, a.groups[j].pkts = e.port, a.groups[j].pkts[:0]
			} else {
				a.groups = append(a.groups, rxGroup{port: e.port})
			}
		}
		a.groups[j].pkts = append(a.groups[j].pkts, e.pkt)
	}
	for i := range a.groups {
		g := &a.groups[i]
		if bp := g.port.bp.Load(); bp != nil {
			bp.rx.Receive(g.pkts)
		}
		clear(g.pkts)
		g.port = nil
	}
	clear(a.entries)
	a.entries = a.entries[:0]
	for i := range a.runs {
		a.runs[i] = rxRun{}
	}
	a.runs = a.runs[:0]
	a.open = a.open[:0]
	a.npool = 0
}

// checksumOK reports whether a segment or datagram may be merged: its
// checksum is partial (a kernel peer over veth left it for offload; there is
// nothing to check) or verifies (or, UDP over IPv4, there is none). A merged super-frame gets a fresh partial checksum,
// so a segment corrupted on an underlay without outer UDP checksums must
// not be merged: it goes on alone, for the VM to drop, as the kernel's GRO
// does.
func checksumOK(inner []byte) bool {
	if _, partial := packet.PartialChecksum(inner); partial {
		return true
	}
	return packet.TCPChecksumValid(inner) || packet.UDPChecksumValid(inner)
}

// markChecksum records a partial inner checksum as offload metadata instead
// of computing it (a Linux VXLAN peer over veth leaves it partial; a TAP with
// a vnet header takes it as is, and a port without offloads finishes it), and
// marks an unsegmented inner TCP super-frame as GSO with the segment size the
// kernel reported, or the largest the tunnel carries.
func markChecksum(p *datapath.Packet, superMSS int, port *Port) {
	f := p.Data()
	s, ok := packet.FindL4Checksum(f)
	if !ok {
		return
	}
	partial := s.Field(f) == packet.Fold(s.Pseudo)
	// A TCP frame whose payload is more than one segment — the segment size
	// the kernel reported, or the largest the tunnel carries — is a
	// super-frame (a jumbo frame within the MSS is not).
	super := false
	var hl, mss int
	if s.Offset == 16 && len(f) > 1518+8 {
		hl = s.Start + int(f[s.Start+12]>>4)*4
		mss = superMSS
		if mss <= 0 {
			mss = port.VMMTU() - (hl - packet.EthernetLen)
		}
		super = mss > 0 && s.End-hl > mss
	}
	if !partial && !super {
		return
	}
	if super {
		typ := uint8(packet.GSOTypeTCPv4)
		if s.IPv6 {
			typ = packet.GSOTypeTCPv6
		}
		if !partial {
			// A complete checksum becomes a partial one: the metadata says so.
			f[s.Start+16], f[s.Start+17] = byte(packet.Fold(s.Pseudo)>>8), byte(packet.Fold(s.Pseudo))
		}
		p.Offload = packet.GSO{Type: typ, Size: mss, HdrLen: hl, NeedsCsum: true, CsumStart: s.Start, CsumOffset: 16}
		return
	}
	p.Offload = packet.GSO{NeedsCsum: true, CsumStart: s.Start, CsumOffset: s.Offset}
}
