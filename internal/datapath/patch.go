package datapath

import "sync"

// Patch is one end of a patch port pair: a port that joins two bridges
// inside the daemon, with no kernel device. A frame sent into one end is
// received by the bridge of the other end, on the sender's goroutine.
type Patch struct {
	mu   sync.Mutex // serialises receive on this end's bridge port
	peer *Patch
	bp   *BridgePort
	pkts []*Packet
	ptrs []*Packet
}

// NewPatchPair returns the two ends of a patch port pair.
func NewPatchPair() (a, b *Patch) {
	a, b = &Patch{}, &Patch{}
	a.peer, b.peer = b, a
	return a, b
}

// Attach tells this end which bridge port it is; frames sent into the peer
// end are received there. Attach nil to detach.
func (p *Patch) Attach(bp *BridgePort) {
	p.mu.Lock()
	p.bp = bp
	p.mu.Unlock()
}

// Peer returns the other end.
func (p *Patch) Peer() *Patch { return p.peer }

// Send hands the frames to the peer's bridge. The frames are copied, because
// the other bridge rewrites VLAN tags in place while these packets may still
// be queued to other ports of this bridge.
func (p *Patch) Send(batch []Out) {
	q := p.peer
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.bp == nil {
		return
	}
	for len(q.pkts) < len(batch) {
		q.pkts = append(q.pkts, &Packet{})
	}
	q.ptrs = q.ptrs[:0]
	for i, o := range batch {
		d := q.pkts[i]
		if len(d.Buf) < Headroom+o.Pkt.Len+4 {
			d.Buf = make([]byte, Headroom+max(o.Pkt.Len+4, 2048))
		}
		copyPacket(d, o.Pkt)
		d.Tunnel = TunnelMeta{}
		q.ptrs = append(q.ptrs, d)
	}
	q.bp.Receive(q.ptrs)
}
