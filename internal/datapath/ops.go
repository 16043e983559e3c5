package datapath

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net/netip"

	"github.com/switchyard-net/switchyard/internal/packet"
)

// opKind is the kind of one operation of a decision.
type opKind uint8

const (
	opOutput     opKind = iota // queue the packet, as it is now, to port
	opLearn                    // learn the source: key on port (with the frame's remote VTEP on a tunnel port)
	opPushVLAN                 // push a tag with TPID u16 (TCI 0; an opSetTCI follows for 802.1Q)
	opPopVLAN                  // pop the outer tag
	opSetTCI                   // set the outer tag's TCI to u16
	opSetField                 // write val into field (checksums kept correct)
	opPatch                    // the packet crossed patch port → peer (their counters)
	opCountDrop                // count a drop of reason u16 on port (the packet may still go elsewhere)
	opNormal                   // NORMAL's per-packet step: check and learn the source, find the destination (plan)
	opController               // send the packet, as it is now, to the controllers (ext: the packet-in's metadata)
	opMeter                    // pass the packet through a meter (ext.meter): drop it or remark its DSCP over a band
)

// op is one operation of a decision: concrete values only, so that
// executing it needs no lookup.
type op struct {
	kind   opKind
	tunnel bool
	u16    uint16
	field  Field
	vni    uint32
	remote Endpoint
	port   *Port
	peer   *Port
	fdb    *FDB
	key    uint64
	val    Value
	plan   *normalPlan
	// last (opNormal) says no operation follows: NORMAL's outputs may
	// rewrite the packet in place.
	last bool
	ext  *opExt // opController, opMeter (compared by content)
}

// same reports whether two operations do the same (NORMAL plans compare by
// content: a revalidated decision has a new plan of the same shape).
func (o *op) same(p *op) bool {
	if o.ext != nil && p.ext != nil {
		a, b := *o, *p
		a.ext, b.ext = nil, nil
		return a == b && *o.ext == *p.ext
	}
	if o.plan == nil || p.plan == nil {
		return *o == *p
	}
	a, b := *o, *p
	a.plan, b.plan = nil, nil
	if a != b {
		return false
	}
	x, y := o.plan, p.plan
	if x.in != y.in || x.vlan != y.vlan || x.tagged != y.tagged || x.learn != y.learn || x.tunnel != y.tunnel || len(x.flood) != len(y.flood) {
		return false
	}
	for i := range x.flood {
		f, g := x.flood[i], y.flood[i]
		if f.pv.p != g.pv.p || f.tagged != g.tagged || f.vni != g.vni || f.patch != g.patch {
			return false
		}
	}
	return true
}

func (o *op) String() string {
	switch o.kind {
	case opOutput:
		return "output:" + o.port.name
	case opLearn:
		return "learn"
	case opPushVLAN:
		return fmt.Sprintf("push_vlan(%#x)", o.u16)
	case opPopVLAN:
		return "pop_vlan"
	case opSetTCI:
		return fmt.Sprintf("set(vlan(vid=%d,pcp=%d))", o.u16&0xfff, o.u16>>13)
	case opSetField:
		return fmt.Sprintf("set(%s=%#x)", o.field, o.val.Lo)
	case opPatch:
		return fmt.Sprintf("patch(%s->%s)", o.port.name, o.peer.name)
	case opCountDrop:
		return fmt.Sprintf("drop(%s)", DropReason(o.u16))
	case opNormal:
		return fmt.Sprintf("normal(vlan=%d)", o.plan.vlan)
	case opController, opMeter:
		return o.ext.String()
	}
	return "?"
}

// execute applies decision d to pkt (whose key is key): learning, rewrites
// and outputs. A rewrite after an output works on a copy, so the copy
// already queued keeps the form it was sent in; shared says pkt is already
// queued somewhere (a patch-port continuation). It returns why the packet
// went nowhere, or forwarded.
func (c *rxContext) execute(d *Decision, pkt *Packet, shared bool, key *Key, lay layout, now uint32, depth int) DropReason {
	cur := pkt
	sent := false
	var why DropReason = forwarded
	for i := range d.ops {
		o := &d.ops[i]
		switch o.kind {
		case opOutput:
			c.queue(o.port, Out{Pkt: cur, VNI: o.vni, Remote: o.remote})
			shared, sent = true, true
		case opNormal:
			var r DropReason
			cur, shared, r = c.normal(o.plan, o.last, cur, shared, pkt, key, now, depth)
			if r == forwarded {
				sent = true
			} else if why == forwarded {
				why = r
			}
		case opLearn:
			ep := NoEndpoint
			if o.tunnel {
				ep = pkt.Tunnel.Remote
			}
			o.fdb.learn(o.key, o.port.no, ep, now)
		case opPatch:
			patchCross(o.port, o.peer, cur)
		case opCountDrop:
			o.port.counters.Drop(DropReason(o.u16), 1)
		case opController:
			if c.packetIn(o.ext, cur, key, pkt) {
				sent = true
			} else if why == forwarded {
				why = DropController
			}
		case opMeter:
			var pass bool
			if cur, shared, pass = c.meter(o.ext.meter, cur, shared, &lay, key); !pass {
				if sent {
					return forwarded
				}
				return DropPoliced
			}
		default:
			if shared {
				s := c.spare(cur.Len)
				copyPacket(s, cur)
				cur, shared = s, false
			}
			rewrite(cur, o, &lay)
			applyToKey(key, o)
		}
	}
	if sent {
		return forwarded
	}
	if why != forwarded {
		return why
	}
	return d.drop
}

// applyToKey keeps key in line with a rewrite, so NORMAL (and a NORMAL
// continuation through a patch port) sees the packet as it now is.
func applyToKey(k *Key, o *op) {
	switch o.kind {
	case opPushVLAN:
		if o.u16 == etherTypeVLAN {
			k.setTCI(0x1000)
			k[0] &^= 1 << 48
		}
	case opPopVLAN:
		k.setTCI(0)
		k[0] &^= 1 << 48
	case opSetTCI:
		k.setTCI(o.u16&0xefff | 0x1000)
		k[0] = k[0]&^(1<<48) | uint64(o.u16>>12&1)<<48
	case opSetField:
		k.Set(o.field, o.val)
	}
}

// normal is NORMAL's per-packet step (see normalPlan): it checks and learns
// the source, then sends the frame to the port the FDB knows for its
// destination, or floods it, each copy in its port's form of the VLAN (a
// copy made at most once per form). It returns the packet as later
// operations see it, whether it is queued, and why it went nowhere (or
// forwarded).
func (c *rxContext) normal(pl *normalPlan, last bool, cur *Packet, shared bool, orig *Packet, key *Key, now uint32, depth int) (*Packet, bool, DropReason) {
	// The key is the packet as it is now (execute keeps it so).
	dst, src := key.dstWord(), key.srcWord()
	if src>>40&1 != 0 || src == 0 {
		return cur, shared, DropInvalidSource
	}
	if dst>>4 == 0x0180c2000000>>4 {
		return cur, shared, DropLinkLocal
	}
	fdb := pl.snap.b.fdb
	if pl.learn {
		ep := NoEndpoint
		if pl.tunnel {
			ep = orig.Tunnel.Remote
		}
		fdb.learn(pl.vkey|src, pl.in.no, ep, now)
	}
	tagged := key.vlanPresent()
	var tci uint16
	if tagged {
		tci = key.wireTCI()
	}
	if dst>>40&1 == 0 {
		if v, ok := fdb.lookup(pl.vkey | dst); ok {
			no := valPort(v)
			if no == pl.in.no {
				return cur, shared, DropSamePort
			}
			if q := pl.snap.port(no); q != nil && q.st.member.Has(pl.vlan) {
				if q.noFwd {
					return cur, shared, DropPortDown // OpenFlow port config
				}
				qt := q.st.tagged.Has(pl.vlan)
				if !q.patch {
					if qt != tagged || tagged && tci&0xfff != pl.vlan {
						if shared || !last {
							f := formState{cur: cur, shared: shared, tagged: tagged, vid: tci & 0xfff, last: last}
							p := c.formed(&f, qt, pl.vlan, tci&0xf000)
							c.queue(q.p, Out{Pkt: p, VNI: q.st.vni(pl.vlan), Remote: valEndpoint(v)})
							return f.cur, f.shared, forwarded
						}
						reform(cur, qt, pl.vlan|tci&0xf000) // last and not queued: in place
					}
					c.queue(q.p, Out{Pkt: cur, VNI: q.st.vni(pl.vlan), Remote: valEndpoint(v)})
					return cur, true, forwarded
				}
				f := formState{cur: cur, shared: shared, tagged: tagged, vid: tci & 0xfff, last: last}
				c.normalOut(pl, floodOut{pv: q, tagged: qt, vni: q.st.vni(pl.vlan), patch: q.patch}, &f, tci&0xf000, valEndpoint(v), key, now, depth)
				return f.cur, f.shared, forwarded
			}
		}
	}
	pcpdei := tci & 0xf000
	f := formState{cur: cur, shared: shared, tagged: tagged, vid: tci & 0xfff, last: last}
	if len(pl.flood) == 0 {
		return cur, shared, DropNoPort
	}
	for i := range pl.flood {
		fo := &pl.flood[i]
		if !fo.patch && fo.tagged == f.tagged && (!fo.tagged || f.vid == pl.vlan) {
			c.queue(fo.pv.p, Out{Pkt: f.cur, VNI: fo.vni}) // this port takes the frame as it is
			f.shared = true
			continue
		}
		c.normalOut(pl, *fo, &f, pcpdei, NoEndpoint, key, now, depth)
	}
	return f.cur, f.shared, forwarded
}

// reform rewrites p in place into the tagged (with TCI tci) or untagged form.
func reform(p *Packet, tagged bool, tci uint16) {
	d := p.Data()
	has := len(d) >= 18 && binary.BigEndian.Uint16(d[12:14]) == etherTypeVLAN
	switch {
	case tagged && !has:
		pushTag(p, etherTypeVLAN)
		fallthrough
	case tagged:
		binary.BigEndian.PutUint16(p.Buf[p.Off+14:], tci)
	case has:
		popTag(p)
	}
}

// formState tracks the packet NORMAL works on and the one other VLAN form
// it made a copy in.
type formState struct {
	cur    *Packet
	shared bool
	tagged bool
	vid    uint16
	last   bool
	alt    *Packet // a copy in the other form (alt.tagged, alt.vid)
	altTag bool
	altVID uint16
}

// formed returns the packet in the wanted form: the current one if it is,
// else rewritten in place (when nothing after NORMAL needs the original and
// it is not queued yet) or a copy (made once per flood).
func (c *rxContext) formed(f *formState, tagged bool, vid, pcpdei uint16) *Packet {
	if f.tagged == tagged && (!tagged || f.vid == vid) {
		f.shared = true
		return f.cur
	}
	if f.alt != nil && f.altTag == tagged && (!tagged || f.altVID == vid) {
		return f.alt
	}
	p := f.cur
	if f.shared || !f.last {
		p = c.spare(f.cur.Len)
		copyPacket(p, f.cur)
		f.alt, f.altTag, f.altVID = p, tagged, vid
	} else {
		f.tagged, f.vid, f.shared = tagged, vid, true
	}
	reform(p, tagged, pcpdei|vid)
	return p
}

// normalOut sends the frame out of fo's port in that port's form, or on
// into the peer bridge of a patch port.
func (c *rxContext) normalOut(pl *normalPlan, fo floodOut, f *formState, pcpdei uint16, remote Endpoint, key *Key, now uint32, depth int) {
	p := c.formed(f, fo.tagged, pl.vlan, pcpdei)
	if fo.patch {
		c.continuePatch(fo.pv, p, fo.tagged, pl.vlan, pcpdei, key, now, depth)
		return
	}
	c.queue(fo.pv.p, Out{Pkt: p, VNI: fo.vni, Remote: remote})
}

// patchCross counts a frame crossing patch port a into its peer b, and
// shows it to their taps.
func patchCross(a, b *Port, p *Packet) {
	n := uint64(p.Len)
	a.counters.TxPackets.Add(1)
	a.counters.TxBytes.Add(n)
	b.counters.RxPackets.Add(1)
	b.counters.RxBytes.Add(n)
	if t := a.tap.Load(); t != nil {
		t.t.Sent(a, []Out{{Pkt: p}})
	}
	if t := b.tap.Load(); t != nil {
		t.t.Received(b, []*Packet{p})
	}
}

// continuePatch runs the frame, as it leaves patch port q, through the peer
// bridge: its key there is the frame's as it now is, arriving on the peer
// port, and its decision is the peer bridge's cached one (made on a miss).
func (c *rxContext) continuePatch(q *portView, p *Packet, tagged bool, vlan, pcpdei uint16, key *Key, now uint32, depth int) {
	pp := q.p.dev.(*Patch).peer.port.Load()
	if pp == nil {
		return
	}
	if depth >= maxPatchHops {
		q.p.counters.Drop(DropLoop, 1)
		return
	}
	b := pp.b
	s := b.snap.Load()
	pv := s.ports[pp.no]
	if pv == nil || pv.p != pp {
		return
	}
	n := uint64(p.Len)
	patchCross(q.p, pp, p)
	pk := *key
	pk.Set(FieldInPort, Value{Lo: uint64(pp.no)})
	for w := 14; w <= 28; w++ {
		pk[w] = 0 // metadata, tunnel fields, registers start from zero
	}
	if tagged {
		pk.setTCI(pcpdei&0xefff | vlan | 0x1000)
		pk[0] = pk[0]&^(1<<48) | uint64(pcpdei>>12&1)<<48
	} else {
		pk.setTCI(0)
		pk[0] &^= 1 << 48
	}
	d, e := b.decision(s, pv, &pk, now, nil)
	if r := c.execute(d, p, true, &pk, layout{}, now, depth+1); r != forwarded {
		pp.counters.Drop(r, 1)
	}
	if e != nil {
		e.count(1, n, now)
	} else {
		d.credit(1, n, now)
	}
}

// rewrite applies one modifying operation to p.
func rewrite(p *Packet, o *op, lay *layout) {
	switch o.kind {
	case opPushVLAN:
		pushTag(p, o.u16)
		lay.shift(4)
	case opPopVLAN:
		if d := p.Data(); len(d) >= 18 && isTagTPID(binary.BigEndian.Uint16(d[12:])) {
			popTag(p)
			lay.shift(-4)
		}
	case opSetTCI:
		if d := p.Data(); len(d) >= 18 && isTagTPID(binary.BigEndian.Uint16(d[12:])) {
			binary.BigEndian.PutUint16(d[14:], o.u16)
		}
	case opSetField:
		setField(p, lay, o.field, o.val)
	}
}

func isTagTPID(t uint16) bool { return t == etherTypeVLAN || t == 0x88a8 }

func (l *layout) shift(delta int) {
	if l.l3 != 0 {
		l.l3 = uint16(int(l.l3) + delta)
	}
	if l.l4 != 0 {
		l.l4 = uint16(int(l.l4) + delta)
	}
}

// pushTag opens a 4-byte tag with TPID tpid (TCI 0) after the MAC
// addresses. The headroom always has room: a port never receives into less
// than Headroom.
func pushTag(p *Packet, tpid uint16) {
	if p.Off < 4 {
		// Not reachable with packets from NewPacket; keep frames intact.
		n := copy(p.Buf[Headroom:], p.Buf[p.Off:p.Off+p.Len])
		p.Off, p.Len = Headroom, n
	}
	off, _ := packet.PushVLAN(p.Buf, p.Off, p.Len, tpid, 0)
	p.Off = off
	p.Len += 4
	p.Offload.Shift(4)
}

// popTag removes the tag after the MAC addresses.
func popTag(p *Packet) {
	off, err := packet.PopVLAN(p.Buf, p.Off, p.Len)
	if err != nil {
		return
	}
	p.Off = off
	p.Len -= 4
	p.Offload.Shift(-4)
}

// locate finds the L3 and L4 headers of frame d if extraction did not go
// that deep.
func locate(d []byte, lay *layout) {
	if lay.depth >= parseL4 {
		return
	}
	var k Key
	var l layout
	extract(&k, d, 0, nil, noAddr, parseL4, &l)
	*lay = l
	lay.depth = parseL4
}

// etherType returns the frame's EtherType after one VLAN tag.
func etherType(d []byte) uint16 {
	et := binary.BigEndian.Uint16(d[12:])
	if et == etherTypeVLAN && len(d) >= 18 {
		et = binary.BigEndian.Uint16(d[16:])
	}
	return et
}

// setField writes v into field f of the packet, keeping the IPv4 header
// checksum and the L4 checksum correct: incrementally for a complete
// checksum, and for a partial one (a frame with NeedsCsum, which every
// super-frame is) by updating the pseudo-header sum it holds.
func setField(p *Packet, lay *layout, f Field, v Value) {
	d := p.Data()
	if len(d) < 14 {
		return
	}
	switch f {
	case FieldEthDst:
		putMAC(d[0:6], v.Lo)
		return
	case FieldEthSrc:
		putMAC(d[6:12], v.Lo)
		return
	}
	locate(d, lay)
	l3, l4 := int(lay.l3), int(lay.l4)
	if l3 == 0 {
		return
	}
	switch etherType(d) {
	case etherTypeIPv4:
		setIPv4(p, d, l3, l4, f, v)
	case etherTypeIPv6:
		setIPv6(p, d, l3, l4, f, v)
	case etherTypeARP:
		a := d[l3:]
		switch f {
		case FieldARPOp:
			binary.BigEndian.PutUint16(a[6:], uint16(v.Lo))
		case FieldARPSHA:
			putMAC(a[8:14], v.Lo)
		case FieldIPv4Src:
			binary.BigEndian.PutUint32(a[14:], uint32(v.Lo))
		case FieldARPTHA:
			putMAC(a[18:24], v.Lo)
		case FieldIPv4Dst:
			binary.BigEndian.PutUint32(a[24:], uint32(v.Lo))
		}
	}
}

func putMAC(b []byte, w uint64) {
	for i := 0; i < 6; i++ {
		b[i] = byte(w >> (40 - 8*i))
	}
}

// l4csum returns the offset in d of the L4 checksum covering a
// pseudo-header (TCP, UDP with a checksum, ICMPv6), or -1.
func l4csum(d []byte, l4 int, proto uint8, v6 bool) int {
	if l4 == 0 {
		return -1
	}
	switch proto {
	case 6:
		if len(d) >= l4+18 {
			return l4 + 16
		}
	case 17:
		if len(d) >= l4+8 && (v6 || binary.BigEndian.Uint16(d[l4+6:]) != 0) {
			return l4 + 6
		}
	case 58:
		if v6 && len(d) >= l4+4 {
			return l4 + 2
		}
	}
	return -1
}

// csumReplace updates the checksum at d[at:at+2] for 16-bit-aligned bytes
// old → new. partial says the field holds a pseudo-header sum that is not
// complemented (CHECKSUM_PARTIAL) rather than a checksum.
func csumReplace(d []byte, at int, old, new []byte, partial bool) {
	c := binary.BigEndian.Uint16(d[at:])
	if partial {
		c = ^c
	}
	for i := 0; i+1 < len(old); i += 2 {
		c = packet.UpdateChecksum(c, binary.BigEndian.Uint16(old[i:]), binary.BigEndian.Uint16(new[i:]))
	}
	if partial {
		c = ^c
	}
	binary.BigEndian.PutUint16(d[at:], c)
}

// fixUDPZero keeps a UDP checksum that came out as 0 from meaning "none".
func fixUDPZero(d []byte, at int, proto uint8) {
	if proto == 17 && binary.BigEndian.Uint16(d[at:]) == 0 {
		binary.BigEndian.PutUint16(d[at:], 0xffff)
	}
}

func setIPv4(p *Packet, d []byte, l3, l4 int, f Field, v Value) {
	ip := d[l3:]
	if len(ip) < 20 {
		return
	}
	proto := ip[9]
	partial := p.Offload.NeedsCsum
	later := binary.BigEndian.Uint16(ip[6:])&0x1fff != 0 // no L4 header in this fragment
	var old [4]byte
	switch f {
	case FieldIPv4Src, FieldIPv4Dst:
		at := 12
		if f == FieldIPv4Dst {
			at = 16
		}
		copy(old[:], ip[at:at+4])
		binary.BigEndian.PutUint32(ip[at:], uint32(v.Lo))
		csumReplace(ip, 10, old[:], ip[at:at+4], false)
		if c := l4csum(d, l4, proto, false); c >= 0 && !later {
			csumReplace(d, c, old[:], ip[at:at+4], partial)
			if !partial {
				fixUDPZero(d, c, proto)
			}
		}
	case FieldIPDSCP, FieldIPECN:
		copy(old[:2], ip[0:2])
		if f == FieldIPDSCP {
			ip[1] = ip[1]&0x03 | uint8(v.Lo)<<2
		} else {
			ip[1] = ip[1]&0xfc | uint8(v.Lo)&3
		}
		csumReplace(ip, 10, old[:2], ip[0:2], false)
	case FieldIPTTL:
		copy(old[:2], ip[8:10])
		ip[8] = uint8(v.Lo)
		csumReplace(ip, 10, old[:2], ip[8:10], false)
	case FieldTPSrc, FieldTPDst:
		if later {
			return
		}
		setL4Port(p, d, l4, proto, false, f, v)
	}
}

func setIPv6(p *Packet, d []byte, l3, l4 int, f Field, v Value) {
	ip := d[l3:]
	if len(ip) < 40 {
		return
	}
	partial := p.Offload.NeedsCsum
	proto := protoV6(d)
	switch f {
	case FieldIPv6Src, FieldIPv6Dst:
		at := 8
		if f == FieldIPv6Dst {
			at = 24
		}
		var old [16]byte
		copy(old[:], ip[at:at+16])
		binary.BigEndian.PutUint64(ip[at:], v.Hi)
		binary.BigEndian.PutUint64(ip[at+8:], v.Lo)
		if c := l4csum(d, l4, proto, true); c >= 0 {
			csumReplace(d, c, old[:], ip[at:at+16], partial)
			if !partial {
				fixUDPZero(d, c, proto)
			}
		}
	case FieldIPDSCP, FieldIPECN:
		vtf := binary.BigEndian.Uint32(ip)
		tc := uint8(vtf >> 20)
		if f == FieldIPDSCP {
			tc = tc&0x03 | uint8(v.Lo)<<2
		} else {
			tc = tc&0xfc | uint8(v.Lo)&3
		}
		binary.BigEndian.PutUint32(ip, vtf&^(0xff<<20)|uint32(tc)<<20)
	case FieldIPTTL:
		ip[7] = uint8(v.Lo)
	case FieldIPv6Label:
		vtf := binary.BigEndian.Uint32(ip)
		binary.BigEndian.PutUint32(ip, vtf&^0xfffff|uint32(v.Lo)&0xfffff)
	case FieldTPSrc, FieldTPDst:
		setL4Port(p, d, l4, proto, true, f, v)
	case FieldNDTarget, FieldARPSHA, FieldARPTHA:
		setND(d, l4, proto, f, v)
	}
}

// protoV6 returns the upper-layer protocol of an IPv6 frame (after its
// extension headers).
func protoV6(d []byte) uint8 {
	var k Key
	var l layout
	extract(&k, d, 0, nil, noAddr, parseL3, &l)
	return k.ipProto()
}

var noAddr netip.Addr

// setL4Port writes tp_src/tp_dst (ports, or ICMP type/code).
func setL4Port(p *Packet, d []byte, l4 int, proto uint8, v6 bool, f Field, v Value) {
	if l4 == 0 {
		return
	}
	partial := p.Offload.NeedsCsum
	switch proto {
	case 6, 17, 132:
		at := l4
		if f == FieldTPDst {
			at += 2
		}
		if len(d) < at+2 {
			return
		}
		var old [2]byte
		copy(old[:], d[at:at+2])
		binary.BigEndian.PutUint16(d[at:], uint16(v.Lo))
		if proto == 132 {
			sctpCRC(d, l4)
			return
		}
		// Ports are not in the pseudo-header: a partial checksum covers
		// them when it is finished.
		if c := l4csum(d, l4, proto, v6); c >= 0 && !partial {
			csumReplace(d, c, old[:], d[at:at+2], false)
			fixUDPZero(d, c, proto)
		}
	case 1, 58: // ICMP type (tp_src) and code (tp_dst)
		if len(d) < l4+4 {
			return
		}
		var old [2]byte
		copy(old[:], d[l4:l4+2])
		if f == FieldTPSrc {
			d[l4] = uint8(v.Lo)
		} else {
			d[l4+1] = uint8(v.Lo)
		}
		if !(partial && proto == 58) { // a partial ICMPv6 sum covers it when finished
			csumReplace(d, l4+2, old[:], d[l4:l4+2], false)
		}
	}
}

// setND writes an ND target or link-layer address option.
func setND(d []byte, l4 int, proto uint8, f Field, v Value) {
	if proto != 58 || l4 == 0 || len(d) < l4+24 {
		return
	}
	typ := d[l4]
	if typ != 135 && typ != 136 {
		return
	}
	if f == FieldNDTarget {
		var old [16]byte
		copy(old[:], d[l4+8:l4+24])
		binary.BigEndian.PutUint64(d[l4+8:], v.Hi)
		binary.BigEndian.PutUint64(d[l4+16:], v.Lo)
		csumReplace(d, l4+2, old[:], d[l4+8:l4+24], false)
		return
	}
	want := byte(1) // source link-layer address, in NS
	if f == FieldARPTHA {
		want = 2
	}
	for o := l4 + 24; o+8 <= len(d); {
		l := int(d[o+1]) * 8
		if l == 0 || o+l > len(d) {
			return
		}
		if d[o] == want && l == 8 {
			var old [6]byte
			copy(old[:], d[o+2:o+8])
			putMAC(d[o+2:o+8], v.Lo)
			csumReplace(d, l4+2, old[:], d[o+2:o+8], false)
			return
		}
		o += l
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sctpCRC recomputes an SCTP packet's CRC32c.
func sctpCRC(d []byte, l4 int) {
	if len(d) < l4+12 {
		return
	}
	s := d[l4:]
	binary.LittleEndian.PutUint32(s[8:], 0)
	binary.LittleEndian.PutUint32(s[8:], crc32.Checksum(s, castagnoli))
}
