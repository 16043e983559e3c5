package datapath

import (
	"encoding/binary"
	"net/netip"

	"github.com/switchyard-net/switchyard/internal/packet"
)

// touchMinSlots is the FDB table size (64K slots, 1 MiB) above which the
// receive path touches a batch's slots before using them.
const touchMinSlots = 1 << 16

// rxContext is the scratch state of one receive goroutine: keys, output
// queues (one per port of any bridge a decision may reach), spare packets
// for copies, and segment buffers for the egress step.
type rxContext struct {
	keys     []Key
	lays     []layout
	out      [][]Out // by port gid
	outPort  []*Port // by port gid: the port the queue is for
	outBytes []int   // by port gid: the bytes queued
	offl     bool    // some queued frame has offload metadata (egress has work)
	touched  []*Port // ports with queued frames, in first-queued order
	spares   []*Packet
	nspare   int
	drops    [NumDropReasons]int
	seg      segScratch
	touch    uint64      // keeps the pass-1 loads from being optimised away
	hits     uint64      // cache hits of the batch, added to the cache's counter once
	last     *cacheEntry // the entry of the last cache hit (a one-entry memo within a batch)
	lastD    *Decision
	hint     *cacheSub // the cache subtable of the last hit
	xl       xlate     // decide's scratch on a miss
}

func (c *rxContext) spare(n int) *Packet {
	if c.nspare == len(c.spares) {
		c.spares = append(c.spares, &Packet{})
	}
	s := c.spares[c.nspare]
	c.nspare++
	growBuf(s, n)
	return s
}

// queue adds one frame to port p's output batch.
func (c *rxContext) queue(p *Port, o Out) {
	g := p.gid
	if int(g) < len(c.out) && len(c.out[g]) != 0 && c.outPort[g] == p {
		c.out[g] = append(c.out[g], o)
		c.outBytes[g] += o.Pkt.Len
		c.offl = c.offl || o.Pkt.Offload.NeedsCsum || o.Pkt.Offload.Type != 0
		return
	}
	c.queueFirst(p, o)
}

func (c *rxContext) queueFirst(p *Port, o Out) {
	g := p.gid
	if int(g) >= len(c.out) {
		n := int(g) + 1
		c.out = append(c.out, make([][]Out, n-len(c.out))...)
		c.outPort = append(c.outPort, make([]*Port, n-len(c.outPort))...)
		c.outBytes = append(c.outBytes, make([]int, n-len(c.outBytes))...)
	}
	if len(c.out[g]) == 0 {
		c.outPort[g] = p
		c.touched = append(c.touched, p)
	} else if c.outPort[g] != p {
		// The port was removed and its index reused while this batch ran.
		return
	}
	c.out[g] = append(c.out[g], o)
	c.outBytes[g] += o.Pkt.Len
	c.offl = c.offl || o.Pkt.Offload.NeedsCsum || o.Pkt.Offload.Type != 0
}

// Receive hands a batch of frames that arrived on the port to the bridge,
// which forwards them and sends them out before it returns. The packets are
// borrowed for the call. One goroutine at a time may call Receive for a port.
func (p *Port) Receive(pkts []*Packet) { p.receive(&p.rx, pkts) }

func (p *Port) receive(c *rxContext, pkts []*Packet) {
	b := p.b
	s := b.snap.Load()
	in := s.ports[p.no]
	if in == nil || in.p != p {
		p.counters.Drop(DropNoPort, len(pkts)) // removed while its device ran
		return
	}
	now := b.clock.Load()
	if cap(c.keys) < len(pkts) {
		c.keys = make([]Key, len(pkts)) // zeroed: see extract
		c.lays = make([]layout, len(pkts))
	}
	keys, lays := c.keys[:len(pkts)], c.lays[:len(pkts)]
	var tunLocal netip.Addr
	if in.st.cfg.Tunnel {
		tunLocal = in.st.cfg.TunnelLocal
	}
	// When the FDB is larger than the caches, a first pass extracts every
	// key and touches the slot each source and destination hash to, so
	// the cache misses of the whole batch overlap (with 1M entries: +55 %
	// forwarding rate); otherwise keys are extracted as packets go.
	t := b.fdb.table.Load()
	prefetch := len(t.slots) > touchMinSlots
	var bytes int
	if prefetch {
		var touch uint64
		for i, pkt := range pkts {
			k := &keys[i]
			if extract(k, pkt.Data(), p.no, &pkt.Tunnel, tunLocal, s.depth, &lays[i]) != forwarded {
				k[0] = badFrame
				continue
			}
			touch += t.touch(fdbKeyWord(k.vlanTCI()&0xfff, k.srcWord()))
			touch += t.touch(fdbKeyWord(k.vlanTCI()&0xfff, k.dstWord()))
		}
		c.touch = touch
	}
	fast := s.depth == parseL2 && !in.st.cfg.Tunnel
	if fast {
		clear(lays) // the fast path's layout: the zero one (L2 only)
	}
	if tp := p.tap.Load(); tp != nil {
		tp.t.Received(p, pkts)
	}
	control := b.control.Load()
	var run *cacheEntry
	var runN, runB uint64
	for i, pkt := range pkts {
		bytes += pkt.Len
		k := &keys[i]
		if !prefetch {
			d := pkt.Buf[pkt.Off : pkt.Off+pkt.Len]
			if fast && len(d) >= 18 {
				// The L2 key inline: the frame's MACs, its 802.1Q tag.
				k[0] = uint64(p.no)
				k[1] = binary.BigEndian.Uint64(d[0:8]) >> 16
				k[2] = binary.BigEndian.Uint64(d[4:12]) & (1<<48 - 1)
				et := binary.BigEndian.Uint16(d[12:14])
				if et == etherTypeVLAN {
					tci := binary.BigEndian.Uint16(d[14:16])
					k[0] |= uint64(tci&0xefff|0x1000)<<32 | uint64(tci>>12&1)<<48
					et = binary.BigEndian.Uint16(d[16:18])
				}
				k[1] |= uint64(et) << 48
			} else if extract(k, d, p.no, &pkt.Tunnel, tunLocal, s.depth, &lays[i]) != forwarded {
				c.drops[DropBadFrame]++
				continue
			}
		} else if k[0] == badFrame {
			c.drops[DropBadFrame]++
			continue
		}
		if control != nil && k[1]&(1<<48-1)>>4 == 0x0180c2000000>>4 && control.h(p, pkt.Data()) {
			continue // a control frame (BPDU, LLDP…), consumed
		}
		var d *Decision
		var e *cacheEntry
		// The memo is tried only within a run (the two frames before had
		// one entry): with many flows interleaved it would fail every time.
		if m := c.last; m != nil && runN != 1 && c.lastD.snap == s && m.sub.dm.equal(k, m.vals) {
			d, e = c.lastD, m // the same megaflow as the packet before
			c.hits++
		} else {
			d, e = b.decision(s, in, k, now, c)
		}
		var r DropReason
		if d.normalOnly {
			_, _, r = c.normal(d.ops[0].plan, true, pkt, false, pkt, k, now, 0)
		} else {
			r = c.execute(d, pkt, false, k, lays[i], now, 0)
		}
		if r != forwarded {
			c.drops[r]++
		}
		if e != run {
			if run != nil {
				run.count(runN, runB, now)
			}
			run, runN, runB = e, 0, 0
		}
		if e == nil {
			d.credit(1, uint64(pkt.Len), now)
			continue
		}
		runN++
		runB += uint64(pkt.Len)
	}
	if run != nil {
		run.count(runN, runB, now)
	}
	if c.hits != 0 {
		b.cache.hits.Add(c.hits)
		c.hits = 0
	}
	if lt := b.live.Load(); lt != nil {
		lt.offer(s, in, pkts, keys)
	}
	p.counters.RxPackets.Add(uint64(len(pkts)))
	p.counters.RxBytes.Add(uint64(bytes))
	for r, n := range c.drops {
		if n != 0 {
			p.counters.Drops[r].Add(uint64(n))
			c.drops[r] = 0
		}
	}
	c.flush()
}

// decision returns the cached decision for key k on port in (deciding and
// caching it on a miss, or again when it is stale), and its cache entry
// (nil when the cache was busy and the decision runs uncached).
func (b *Bridge) decision(s *snapshot, in *portView, k *Key, now uint32, c *rxContext) (*Decision, *cacheEntry) {
	var hint *cacheSub
	h := &hint
	if c != nil {
		h = &c.hint
	}
	if e := b.cache.lookup(k, h); e != nil {
		if d := e.d.Load(); d.valid(s) {
			if c != nil {
				c.hits++
				if len(d.snaps) == 0 { // one bridge: the memo needs no more checks
					c.last, c.lastD = e, d
				}
			} else {
				b.cache.hits.Add(1)
			}
			return d, e
		}
		return b.revalidate(s, in, k, e, now)
	}
	b.cache.misses.Add(1)
	if c == nil {
		d := decide(s, k, in, nil)
		return d, b.cache.insert(k, d, nil, now, nil)
	}
	// One allocation for the decision, its cache entry and the entry's key.
	a := new(missAlloc)
	decideInto(&a.d, &c.xl, s, k, in, nil)
	e := b.cache.insert(k, &a.d, nil, now, a)
	if e == nil {
		a.d.ownMask() // running uncached: its mask must outlive the scratch
	}
	return &a.d, e
}

// missAlloc is what a cache miss allocates, in one piece: the decision, the
// entry that caches it and room for the entry's masked key.
type missAlloc struct {
	d    Decision
	e    cacheEntry
	vals [missVals]uint64
}

// missVals is the number of mask words an entry's key holds inline.
const missVals = 8

// badFrame marks a key whose frame extraction refused (in_port's word can
// never hold it: port numbers are 16 bits).
const badFrame = 1 << 63

// revalidate decides again for a stale entry: if the decision is the same
// the entry keeps it (and its counters), else it is replaced.
func (b *Bridge) revalidate(s *snapshot, in *portView, k *Key, e *cacheEntry, now uint32) (*Decision, *cacheEntry) {
	old := e.d.Load()
	d := decide(s, k, in, nil)
	if d.same(old) {
		d.mask = old.mask // the same; and the subtable's, not a copy
		b.cache.revalidations.Add(1)
		e.d.Store(d)
		return d, e
	}
	b.cache.replaced.Add(1)
	return d, b.cache.insert(k, d, e, now, nil)
}

// count adds a run of n packets of b bytes to the entry.
func (e *cacheEntry) count(n, b uint64, now uint32) {
	e.packets.Add(n)
	e.bytes.Add(b)
	if e.used.Load() != now {
		e.used.Store(now)
	}
}

// flush sends every port's batch (after the egress step) and resets the
// context.
func (c *rxContext) flush() {
	for _, q := range c.touched {
		outs := c.out[q.gid]
		sent := outs
		if c.offl {
			sent = c.egress(q, outs)
		}
		if tp := q.tap.Load(); tp != nil {
			tp.t.Sent(q, sent)
		}
		q.dev.Send(sent)
		q.counters.TxPackets.Add(uint64(len(outs)))
		q.counters.TxBytes.Add(uint64(c.outBytes[q.gid]))
		clear(outs) // drop packet references
		c.out[q.gid] = outs[:0]
		c.outPort[q.gid] = nil
		c.outBytes[q.gid] = 0
	}
	c.offl = false
	clear(c.touched)
	c.touched = c.touched[:0]
	c.nspare = 0
	c.seg.reset()
	c.last, c.lastD = nil, nil
}

// segScratch holds the buffers the egress step segments super-frames into.
type segScratch struct {
	pkts []*Packet
	n    int
	bufs [][]byte
	outs []Out
}

func (s *segScratch) reset() { s.n = 0 }

// segBufSize is the size of one segment buffer: a jumbo segment with its
// headers.
const segBufSize = 9216 + 128

// egress makes every frame of outs something q's device accepts: a partial
// checksum is finished (in place: the frame stays the same frame for the
// other ports of a flood) and a super-frame the device cannot send whole is
// cut into segments in the context's own buffers. It is the one place that
// does this for every device.
func (c *rxContext) egress(q *Port, outs []Out) []Out {
	caps := q.caps
	need := false
	for i := range outs {
		o := &outs[i].Pkt.Offload
		if o.IsSuper() && !caps.accepts(o.Type&^packet.GSOTypeECN) || o.NeedsCsum && !caps.PartialCsum {
			need = true
			break
		}
	}
	if !need {
		return outs
	}
	res := c.seg.outs[:0]
	for _, o := range outs {
		g := &o.Pkt.Offload
		switch {
		case g.IsSuper() && !caps.accepts(g.Type&^packet.GSOTypeECN):
			res = c.segment(q, o, res)
		case g.NeedsCsum && !caps.PartialCsum:
			if err := packet.FinishChecksum(o.Pkt.Data(), g.CsumStart, g.CsumOffset); err != nil {
				q.counters.Drop(DropBadFrame, 1)
				continue
			}
			g.NeedsCsum, g.CsumStart, g.CsumOffset = false, 0, 0
			res = append(res, o)
		default:
			res = append(res, o)
		}
	}
	c.seg.outs = res
	return res
}

// segment cuts super-frame o into segments for q (each a complete frame
// with its checksums).
func (c *rxContext) segment(q *Port, o Out, res []Out) []Out {
	d := o.Pkt.Data()
	g := o.Pkt.Offload
	n, maxLen := packet.SegmentCount(d, g)
	if n <= 0 || maxLen+Headroom > segBufSize {
		q.counters.Drop(DropBadFrame, 1)
		return res
	}
	s := &c.seg
	for len(s.pkts) < s.n+n {
		s.pkts = append(s.pkts, &Packet{Buf: make([]byte, segBufSize)})
	}
	if cap(s.bufs) < n {
		s.bufs = make([][]byte, n)
	}
	bufs := s.bufs[:n]
	for i := range bufs {
		bufs[i] = s.pkts[s.n+i].Buf[Headroom:]
	}
	m, err := packet.Segment(d, g, bufs)
	if err != nil {
		q.counters.Drop(DropBadFrame, 1)
		return res
	}
	for i := 0; i < m; i++ {
		sp := s.pkts[s.n+i]
		sp.Off, sp.Len = Headroom, len(bufs[i])
		sp.Offload = packet.GSO{}
		sp.Tunnel = o.Pkt.Tunnel
		res = append(res, Out{Pkt: sp, VNI: o.VNI, Remote: o.Remote})
	}
	s.n += m
	return res
}
