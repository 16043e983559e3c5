package overlay

import (
	"net/netip"
	"sync/atomic"

	"github.com/switchyard-net/switchyard/internal/datapath"
)

// remoteCount is one remote VTEP's counters on one tunnel port.
type remoteCount struct {
	rxPackets, rxBytes, txPackets, txBytes, txDrops atomic.Uint64
}

// remoteTable holds a port's per-remote counters, indexed by the remote's
// endpoint handle (datapath.Endpoint, at most 65,535 process-wide): a
// two-level array whose second level is made the first time a handle in its
// range is counted. Counting takes no lock and never allocates after that;
// the table is bounded by the handle space (at most 256 chunks of 256).
type remoteTable struct {
	chunks [256]atomic.Pointer[[256]remoteCount]
}

// get returns the counters of endpoint e (nil for NoEndpoint).
func (t *remoteTable) get(e datapath.Endpoint) *remoteCount {
	if e == datapath.NoEndpoint || e > datapath.MaxEndpoints {
		return nil
	}
	slot := &t.chunks[e>>8&255]
	c := slot.Load()
	if c == nil {
		c = new([256]remoteCount)
		if !slot.CompareAndSwap(nil, c) {
			c = slot.Load()
		}
	}
	return &c[e&255]
}

// each calls fn for every remote with a counter that is not zero.
func (t *remoteTable) each(fn func(remote netip.Addr, c *remoteCount)) {
	for hi := range t.chunks {
		c := t.chunks[hi].Load()
		if c == nil {
			continue
		}
		for lo := range c {
			r := &c[lo]
			if r.rxPackets.Load()|r.txPackets.Load()|r.txDrops.Load() == 0 {
				continue
			}
			fn(datapath.Endpoint(hi<<8|lo).Addr(), r)
		}
	}
}

// RemoteCounters calls fn once per remote VTEP this port received from or
// sent to (or failed to send to), with its counters. Frames flooded to
// every remote count once for each.
func (p *Port) RemoteCounters(fn func(remote netip.Addr, rxPackets, rxBytes, txPackets, txBytes, txDrops uint64)) {
	p.remotes.each(func(a netip.Addr, c *remoteCount) {
		fn(a, c.rxPackets.Load(), c.rxBytes.Load(), c.txPackets.Load(), c.txBytes.Load(), c.txDrops.Load())
	})
}

// remoteRun accumulates received frames of one port from one remote, so a
// batch touches each remote's counters once per run instead of per frame.
type remoteRun struct {
	port  *Port
	ep    datapath.Endpoint
	n, nb uint64
}

func (r *remoteRun) add(p *Port, ep datapath.Endpoint, bytes int) {
	if p == r.port && ep == r.ep {
		r.n++
		r.nb += uint64(bytes)
		return
	}
	r.flush()
	r.port, r.ep, r.n, r.nb = p, ep, 1, uint64(bytes)
}

func (r *remoteRun) flush() {
	if r.port != nil {
		if c := r.port.remotes.get(r.ep); c != nil {
			c.rxPackets.Add(r.n)
			c.rxBytes.Add(r.nb)
		}
	}
	*r = remoteRun{}
}

// remoteFor returns the counters of the remote at dst (nil if it has no
// endpoint handle), remembering the last one asked for. Called under txMu.
func (p *Port) remoteFor(dst netip.Addr) *remoteCount {
	if p.lastDst == dst && p.lastRC != nil {
		return p.lastRC
	}
	ep, err := datapath.InternEndpoint(dst)
	if err != nil {
		return nil
	}
	p.lastDst, p.lastRC = dst, p.remotes.get(ep)
	return p.lastRC
}
