package datapath

import (
	"encoding/binary"
	"time"
)

// This file holds what the L2 control planes (spanning tree, bonds) need
// from the engine beyond the hooks of hooks.go: short aging during a
// topology change, a lock-free FDB lookup for a bond's admission rules,
// and a port's ingress VLAN classification.

// SetAgingOverride makes learned addresses age after d instead of the
// bridge's aging time, while d is shorter (802.1D-1998 8.3.5: during a
// topology change the FDB ages in forward-delay); 0 ends the override.
// It takes effect at the next Tick.
func (b *Bridge) SetAgingOverride(d time.Duration) {
	s := uint32(0)
	if d > 0 {
		s = max(uint32(d/time.Second), 1)
	}
	b.agingOverride.Store(s)
}

// AgingOverride returns the override set by SetAgingOverride (0: none).
func (b *Bridge) AgingOverride() time.Duration {
	return time.Duration(b.agingOverride.Load()) * time.Second
}

// effectiveAging is the aging time in force, in seconds.
func (b *Bridge) effectiveAging() uint32 {
	a := b.aging.Load()
	if o := b.agingOverride.Load(); o != 0 && o < a {
		return o
	}
	return a
}

// LookupFDB returns the port number mac in vlan is learned (or statically
// configured) on. It takes no lock and allocates nothing.
func (b *Bridge) LookupFDB(mac [6]byte, vlan uint16) (port uint16, ok bool) {
	v, ok := b.fdb.lookup(fdbKey(vlan, mac))
	if !ok {
		return 0, false
	}
	return valPort(v), true
}

// IngressVLAN returns the VLAN the port classifies frame into, as NORMAL
// does at ingress (access VLAN, tag, native VLAN), and false when the port
// does not admit the frame. It reads the port's published state without a
// lock and allocates nothing.
func (p *Port) IngressVLAN(frame []byte) (uint16, bool) {
	if len(frame) < 14 {
		return 0, false
	}
	v := p.b.snap.Load().port(p.no)
	if v == nil || v.p != p {
		return 0, false
	}
	present, tci := false, uint16(0)
	if binary.BigEndian.Uint16(frame[12:14]) == etherTypeVLAN && len(frame) >= 18 {
		present, tci = true, binary.BigEndian.Uint16(frame[14:16])
	}
	vlan, r := v.st.ingressVLAN(present, tci, 0)
	return vlan, r == forwarded
}

// transmitPatch hands control frames sent out of a patch port to the peer
// bridge's control handler, as if they had arrived on the peer port (a
// BPDU crossing a patch port between two spanning-tree bridges).
func (p *Port) transmitPatch(pt *Patch, frames [][]byte) {
	pp := pt.peer.port.Load()
	if pp == nil {
		return
	}
	h := pp.b.control.Load()
	for _, f := range frames {
		n := uint64(len(f))
		p.counters.TxPackets.Add(1)
		p.counters.TxBytes.Add(n)
		pp.counters.RxPackets.Add(1)
		pp.counters.RxBytes.Add(n)
		if h != nil {
			h.h(pp, f)
		}
	}
}

// transmitVNI is the tunnel key control frames leave a tunnel port with:
// the port's VNI (0 for other ports, and for a port with a VNI map).
func (p *Port) transmitVNI() uint32 {
	if v := p.b.snap.Load().port(p.no); v != nil && v.p == p && v.st.cfg.Tunnel && v.st.vniOf == nil {
		return v.st.cfg.VNI
	}
	return 0
}

// EgressForm says whether the port carries vlan, and whether frames of it
// leave tagged (a learning frame a bond sends for a host in vlan takes the
// form the port's data frames have).
func (p *Port) EgressForm(vlan uint16) (carries, tagged bool) {
	v := p.b.snap.Load().port(p.no)
	if v == nil || v.p != p {
		return false, false
	}
	return v.st.member.Has(vlan & 0xfff), v.st.tagged.Has(vlan & 0xfff)
}
