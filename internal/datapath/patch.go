package datapath

import (
	"sync"
	"sync/atomic"
)

// Patch is one end of a patch port pair: a port that joins two bridges
// inside the daemon, with no kernel device. A frame sent into one end is
// received by the bridge of the other end, on the sender's goroutine.
//
// Sends take no lock: each call borrows pooled scratch (copies of the frames
// and a receive context), so concurrent senders do not wait for each other
// and a loop of patch ports ends at the hop limit (counted as a loop drop)
// instead of deadlocking.
type Patch struct {
	peer    *Patch
	bp      atomic.Pointer[BridgePort]
	scratch sync.Pool // *patchScratch
}

type patchScratch struct {
	pkts []*Packet
	ptrs []*Packet
	rx   rxContext
}

// NewPatchPair returns the two ends of a patch port pair.
func NewPatchPair() (a, b *Patch) {
	a, b = &Patch{}, &Patch{}
	a.peer, b.peer = b, a
	return a, b
}

// Attach tells this end which bridge port it is; frames sent into the peer
// end are received there. Attach nil to detach.
func (p *Patch) Attach(bp *BridgePort) { p.bp.Store(bp) }

// Peer returns the other end.
func (p *Patch) Peer() *Patch { return p.peer }

// Send hands the frames to the peer's bridge. The frames are copied, because
// the other bridge rewrites VLAN tags in place while these packets may still
// be queued to other ports of this bridge.
func (p *Patch) Send(batch []Out) {
	q := p.peer
	bp := q.bp.Load()
	if bp == nil {
		return
	}
	s, _ := q.scratch.Get().(*patchScratch)
	if s == nil {
		s = &patchScratch{}
	}
	for len(s.pkts) < len(batch) {
		s.pkts = append(s.pkts, &Packet{})
	}
	s.ptrs = s.ptrs[:0]
	for i, o := range batch {
		d := s.pkts[i]
		growBuf(d, o.Pkt.Len)
		copyPacket(d, o.Pkt)
		d.Tunnel = TunnelMeta{}
		d.hops = o.Pkt.hops + 1
		s.ptrs = append(s.ptrs, d)
	}
	bp.receive(&s.rx, s.ptrs)
	q.scratch.Put(s)
}
