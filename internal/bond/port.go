package bond

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/lacp"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// Port is a bond port's device: the datapath.Device the bridge sends the
// bond's frames to (Send chooses each frame's member with the Bond's
// Selector), and the receive side of its members (MemberReceiver: LACPDUs
// are trapped, the admission rules applied, and admitted frames handed to
// the bridge port as the bond's). Sending and receiving allocate nothing
// per packet.
type Port struct {
	b       *Bond
	members []datapath.Device
	mc      []*Counters
	caps    datapath.Caps
	onLACP  func(member int, frame []byte)

	bp       atomic.Pointer[datapath.Port]
	counters atomic.Pointer[datapath.Counters]
	scratch  sync.Pool // *sendScratch
	garp     garpLock

	ctlMu  sync.Mutex
	ctlPkt []*datapath.Packet
	ctlOut []datapath.Out
}

// sendScratch is one Send call's per-member batches.
type sendScratch struct {
	per [][]datapath.Out
}

// NewPort returns the device of bond b whose members' devices are members
// (in b's member order). onLACP gets every slow-protocols frame a member
// receives (LACPDUs, markers); it runs on the member's receive goroutine,
// must not block and must copy the frame if it keeps it.
func NewPort(b *Bond, members []datapath.Device, onLACP func(member int, frame []byte)) *Port {
	p := &Port{b: b, members: members, onLACP: onLACP}
	for i := range members {
		p.mc = append(p.mc, b.Counters(i))
	}
	p.caps = datapath.CapsAll
	for _, m := range members {
		c := datapath.Caps{}
		if cr, ok := m.(datapath.CapsReporter); ok {
			c = cr.Caps()
		}
		p.caps.GSO &= c.GSO
		p.caps.PartialCsum = p.caps.PartialCsum && c.PartialCsum
	}
	n := len(members)
	p.scratch.New = func() any {
		s := &sendScratch{per: make([][]datapath.Out, n)}
		for i := range s.per {
			s.per[i] = make([]datapath.Out, 0, 64)
		}
		return s
	}
	return p
}

// Bond returns the bond's control state.
func (p *Port) Bond() *Bond { return p.b }

// Caps is what every member takes (the intersection of their offloads):
// the engine finishes the rest before Send.
func (p *Port) Caps() datapath.Caps { return p.caps }

// BindCounters receives the bond port's counters: frames no member may
// carry are counted there as no-port drops, and the members' own drops
// (send errors, full socket buffers) too.
func (p *Port) BindCounters(c *datapath.Counters) {
	p.counters.Store(c)
	for _, m := range p.members {
		if cb, ok := m.(datapath.CounterBinder); ok {
			cb.BindCounters(c)
		}
	}
}

// Attach tells the device which bridge port it is (for the admission rules'
// FDB lookups and the learning frames). Call it before the members start
// receiving.
func (p *Port) Attach(bp *datapath.Port) { p.bp.Store(bp) }

// Send transmits a batch: every frame leaves on the member the Selector
// chooses for it (floods too, on one member), its bytes accounted to its
// hash bucket for rebalancing. Frames no member may carry are dropped and
// counted. It may run on several goroutines at once.
func (p *Port) Send(batch []datapath.Out) {
	sel := p.b.Selector()
	s := p.scratch.Get().(*sendScratch)
	bp := p.bp.Load()
	dropped := 0
	hash := sel.Hashing()
	for _, o := range batch {
		f := o.Pkt.Data()
		var vlan uint16
		if hash == HashSrcMAC && bp != nil {
			vlan, _ = bp.IngressVLAN(f) // the frame's logical VLAN, as the port sees it
		}
		m, bk := sel.Choose(f, vlan)
		if m < 0 || m >= len(s.per) {
			dropped++
			continue
		}
		if bk >= 0 {
			sel.Account(bk, len(f))
		}
		if hash == HashSrcMAC && bp != nil && isARP(f) && IsGratuitousARP(f) {
			// A gratuitous ARP learned on another port leaves through the
			// bond: its reflection must not move the host (grat-ARP lock).
			p.garp.note(packet.MAC(f[6:12]), vlan, bp.Bridge().Clock())
		}
		s.per[m] = append(s.per[m], o)
	}
	for i, outs := range s.per {
		if len(outs) == 0 {
			continue
		}
		p.members[i].Send(outs)
		n := 0
		for _, o := range outs {
			n += o.Pkt.Len
		}
		p.mc[i].TxPackets.Add(uint64(len(outs)))
		p.mc[i].TxBytes.Add(uint64(n))
		clear(outs)
		s.per[i] = outs[:0]
	}
	p.scratch.Put(s)
	if dropped > 0 {
		if c := p.counters.Load(); c != nil {
			c.Drop(datapath.DropNoPort, dropped)
		}
	}
}

// SendOn sends control frames (LACPDUs, learning frames) on member i as
// they are, bypassing the member choice. It may be called from any
// goroutine.
func (p *Port) SendOn(i int, frames ...[]byte) {
	if i < 0 || i >= len(p.members) || len(frames) == 0 {
		return
	}
	p.ctlMu.Lock()
	defer p.ctlMu.Unlock()
	outs := p.ctlOut[:0]
	n := 0
	for k, f := range frames {
		if k == len(p.ctlPkt) {
			p.ctlPkt = append(p.ctlPkt, datapath.NewPacket(2048))
		}
		pk := p.ctlPkt[k]
		if len(pk.Buf) < datapath.Headroom+len(f) {
			pk.Buf = make([]byte, datapath.Headroom+len(f))
		}
		pk.SetData(f)
		outs = append(outs, datapath.Out{Pkt: pk})
		n += len(f)
	}
	p.members[i].Send(outs)
	p.mc[i].TxPackets.Add(uint64(len(outs)))
	p.mc[i].TxBytes.Add(uint64(n))
	clear(outs)
	p.ctlOut = outs[:0]
}

// SendLearning sends, for every address the bridge learned on a port other
// than this bond, a learning frame (Selector.LearningFrame, in the form the
// bond's data frames of that VLAN have) on the member that now carries
// that host's traffic, so an upstream switch relearns where it is after a
// failover (Output.SendLearning). It returns how many it sent.
func (p *Port) SendLearning() int {
	bp := p.bp.Load()
	if bp == nil {
		return 0
	}
	sel := p.b.Selector()
	sent := 0
	var buf []byte
	for _, e := range bp.Bridge().FDB(-1) {
		if e.Port == bp.Number() || e.Static {
			continue
		}
		carries, tagged := bp.EgressForm(e.VLAN)
		if !carries {
			continue
		}
		tag := uint16(0)
		if tagged {
			tag = e.VLAN
		}
		_, f := sel.LearningFrame(buf[:0], packet.MAC(e.MAC), tag)
		buf = f
		m, _ := sel.Choose(f, e.VLAN)
		if m < 0 {
			continue
		}
		p.SendOn(m, f)
		sent++
	}
	return sent
}

// MemberReceiver returns the receiver member i's device hands its frames
// to: slow-protocols frames go to onLACP, the others are checked by the
// admission rules (Selector.Admit) and the admitted ones reach the bridge
// port through a receiver of their own (datapath.Port.NewReceiver), so the
// members receive in parallel. Attach must have been called.
func (p *Port) MemberReceiver(i int) datapath.Receiver {
	bp := p.bp.Load()
	if bp == nil {
		panic("bond: MemberReceiver before Attach")
	}
	return &memberRx{p: p, i: i, bp: bp, rx: bp.NewReceiver(), keep: make([]*datapath.Packet, 0, 64)}
}

type memberRx struct {
	p    *Port
	i    int
	bp   *datapath.Port
	rx   datapath.Receiver
	keep []*datapath.Packet
}

// Receive implements datapath.Receiver.
func (r *memberRx) Receive(pkts []*datapath.Packet) {
	p := r.p
	sel := p.b.Selector()
	keep := r.keep[:0]
	var bytes, dropped int
	for _, pk := range pkts {
		f := pk.Data()
		bytes += len(f)
		if lacp.IsSlowProtocols(f) {
			if p.onLACP != nil {
				p.onLACP(r.i, f)
			}
			continue
		}
		if len(f) >= 14 {
			switch sel.Admit(r.i, packet.MAC(f[0:6])) {
			case Drop:
				dropped++
				continue
			case DropIfMoved:
				if r.moved(f) {
					dropped++
					continue
				}
			}
		}
		keep = append(keep, pk)
	}
	c := p.mc[r.i]
	c.RxPackets.Add(uint64(len(pkts)))
	c.RxBytes.Add(uint64(bytes))
	if dropped > 0 {
		c.RxDropped.Add(uint64(dropped))
	}
	if len(keep) > 0 {
		r.rx.Receive(keep)
	}
	clear(keep)
	r.keep = keep[:0]
}

// moved is the DropIfMoved check: the source is learned on another port
// of the bridge, so this is our own flood coming back through a non-LACP
// upstream — unless it is a gratuitous ARP (the host moved) that is not
// the reflection of one we just sent out.
func (r *memberRx) moved(f []byte) bool {
	vlan, ok := r.bp.IngressVLAN(f)
	if !ok {
		return false // the engine drops it (and counts why)
	}
	src := packet.MAC(f[6:12])
	port, found := r.bp.Bridge().LookupFDB(src, vlan)
	if !found || port == r.bp.Number() {
		return false
	}
	if isARP(f) && IsGratuitousARP(f) && !r.p.garp.locked(src, vlan, r.bp.Bridge().Clock()) {
		return false
	}
	return true
}

// isARP reports whether the frame's EtherType (after one 802.1Q tag) is
// ARP.
func isARP(f []byte) bool {
	if len(f) < 14 {
		return false
	}
	et := binary.BigEndian.Uint16(f[12:14])
	if et == packet.EtherTypeVLAN && len(f) >= 18 {
		et = binary.BigEndian.Uint16(f[16:18])
	}
	return et == packet.EtherTypeARP
}

// GratARPLockSeconds is how long after a gratuitous ARP for a host left
// through the bond the same host's gratuitous ARPs arriving on the bond
// are taken for its reflection (Open vSwitch's grat_arp_lock, 5 s).
const GratARPLockSeconds = 5

// garpLock remembers recent gratuitous ARPs sent out of the bond, in a
// small lossy table (a collision only forgets a lock early).
type garpLock struct {
	slots [64]struct {
		key atomic.Uint64 // vlan<<48 | mac, +1 so that 0 is empty
		at  atomic.Uint32 // bridge clock, seconds
	}
}

func garpKey(mac packet.MAC, vlan uint16) uint64 {
	return (uint64(vlan&0xfff)<<48 | uint64(mac[0])<<40 | uint64(mac[1])<<32 | uint64(mac[2])<<24 |
		uint64(mac[3])<<16 | uint64(mac[4])<<8 | uint64(mac[5])) + 1
}

func (g *garpLock) slot(k uint64) int { return int(fmix(k) & 63) }

func (g *garpLock) note(mac packet.MAC, vlan uint16, now uint32) {
	k := garpKey(mac, vlan)
	s := &g.slots[g.slot(k)]
	s.at.Store(now)
	s.key.Store(k)
}

func (g *garpLock) locked(mac packet.MAC, vlan uint16, now uint32) bool {
	k := garpKey(mac, vlan)
	s := &g.slots[g.slot(k)]
	return s.key.Load() == k && now-s.at.Load() <= GratARPLockSeconds
}
