package datapath

import "fmt"

// normalPlan is NORMAL's part of a decision: everything that depends only on
// the ingress port and VLAN (decided once, cached) — the VLAN, whether to
// learn, the flood set with each port's form — leaving to each packet what
// depends on the FDB: where its destination is.
type normalPlan struct {
	snap   *snapshot
	in     *Port
	vlan   uint16
	vkey   uint64 // the VLAN's part of an FDB key (fdbKeyWord(vlan, 0))
	tagged bool   // for frames that arrive tagged
	learn  bool
	tunnel bool // ingress is a tunnel port: learn the remote VTEP
	flood  []floodOut
}

// floodOut is one port of a flood set, in its form of the VLAN.
type floodOut struct {
	pv     *portView
	tagged bool
	vni    uint32
	patch  bool
}

// normal is the NORMAL action: the IEEE 802.1D learning switch with 802.1Q
// VLANs and the tunnel ports' VNI maps (Open vSwitch's xlate_normal). Its
// decision consults only the ingress port, the VLAN tag and (on a
// VNI-mapped tunnel port) the VNI, so one cached decision serves every frame
// of that VLAN on that port; learning the source, checking it and looking up
// the destination are done for each packet against the live FDB (opNormal).
// Traced, it also tells what that per-packet step does now.
func (x *xlate) normal() {
	k := &x.key
	if x.tr != nil {
		x.tr.push(nodeNormal, "NORMAL")
		defer x.tr.pop()
	}
	in := x.in
	if in == nil {
		if x.tr != nil {
			x.tracef(nodeDetail, "no input port (a packet from the controller): NORMAL drops it")
		}
		return
	}
	x.mask.unwildcard(FieldVLANVID)
	present, tci := k.vlanPresent(), k.wireTCI()
	if in.st.vlanOf != nil {
		x.mask.unwildcard(FieldTunID) // untagged and priority-tagged frames take their VLAN from the VNI
	}
	vlan, r := in.st.ingressVLAN(present, tci, uint32(k.Get(FieldTunID).Lo))
	if r != forwarded {
		if x.tr != nil {
			x.tracef(nodeDetail, "port %s (%s) does not admit this frame: drop (%s)", in.p.name, describePort(in.st), r)
		}
		x.dropAs(r)
		return
	}
	if x.tr != nil {
		x.tracef(nodeDetail, "ingress VLAN %d on port %s (%s)%s", vlan, in.p.name, describePort(in.st), vlanWhy(in.st, present, tci))
	}
	if in.st.state != StateForwarding {
		if in.st.state == StateLearning && !in.st.cfg.NoLearning {
			// Learn, forward nothing (the decision then depends on the source).
			x.mask.unwildcard(FieldEthSrc)
			if src := k.ethSrc(); src[0]&1 == 0 && src != [6]byte{} {
				x.emit(op{kind: opLearn, fdb: x.snap.b.fdb, port: in.p, key: fdbKeyWord(vlan, k.srcWord()), tunnel: in.st.cfg.Tunnel})
			}
		}
		if x.tr != nil {
			x.tracef(nodeDetail, "port %s is %s (spanning tree): drop (stp-blocked)", in.p.name, in.st.state)
		}
		x.dropAs(DropSTP)
		return
	}
	pl := x.snap.planFor(in, vlan, present)
	x.commit()
	x.emit(op{kind: opNormal, plan: pl})
	x.d.nOut++ // NORMAL sends the frame somewhere or counts why not, per packet
	if x.tr != nil {
		x.traceNormal(pl)
	}
}

// planFor returns NORMAL's plan for frames of vlan arriving on in (tagged
// or not), made once per snapshot.
func (s *snapshot) planFor(in *portView, vlan uint16, present bool) *normalPlan {
	if pl := in.plan.Load(); pl != nil && pl.snap == s && pl.vlan == vlan && pl.tagged == present {
		return pl
	}
	pl := s.planLocked(in, vlan, present)
	in.plan.Store(pl)
	return pl
}

func (s *snapshot) planLocked(in *portView, vlan uint16, present bool) *normalPlan {
	k := uint64(in.no)<<16 | uint64(vlan)<<1
	if present {
		k |= 1
	}
	s.plansMu.Lock()
	defer s.plansMu.Unlock()
	pl := s.plans[k]
	if pl == nil {
		if s.plans == nil {
			s.plans = map[uint64]*normalPlan{}
		}
		pl = s.plan(in, vlan, present)
		s.plans[k] = pl
	}
	return pl
}

// plan makes NORMAL's plan for frames of vlan arriving on in (tagged or
// not): the flood set, ports that take the frame as it comes first.
func (s *snapshot) plan(in *portView, vlan uint16, present bool) *normalPlan {
	pl := &normalPlan{snap: s, in: in.p, vlan: vlan, vkey: fdbKeyWord(vlan, 0), tagged: present, learn: !in.st.cfg.NoLearning, tunnel: in.st.cfg.Tunnel}
	var second []floodOut
	for _, q := range s.list {
		if q == in || !q.st.member.Has(vlan) || !q.st.forwards() || q.noFwd || q.noFlood {
			continue
		}
		fo := floodOut{pv: q, tagged: q.st.tagged.Has(vlan), vni: q.st.vni(vlan), patch: q.patch}
		if fo.tagged == present {
			pl.flood = append(pl.flood, fo)
		} else {
			second = append(second, fo)
		}
	}
	pl.flood = append(pl.flood, second...)
	return pl
}

// dropAs records why the frame goes nowhere, unless it already went
// somewhere.
func (x *xlate) dropAs(r DropReason) {
	if x.d.nOut == 0 {
		x.d.drop = r
	}
}

// traceNormal explains what opNormal does for this key with the FDB as it
// is now, following patch ports into their peer bridges.
func (x *xlate) traceNormal(pl *normalPlan) {
	k := &x.key
	src, dst := k.ethSrc(), k.ethDst()
	vlan := pl.vlan
	if src[0]&1 != 0 || src == [6]byte{} {
		x.tracef(nodeDetail, "source %s is multicast, broadcast or zero: drop (invalid-source)", macString(src))
		x.traceOut(TraceOutput{Drop: DropInvalidSource.String()})
		return
	}
	if isLinkLocal(dst) {
		x.tracef(nodeDetail, "destination %s is a link-local group (STP, LACP, pause): never forwarded: drop (link-local)", macString(dst))
		x.traceOut(TraceOutput{Drop: DropLinkLocal.String()})
		return
	}
	fdb := pl.snap.b.fdb
	now := pl.snap.b.clock.Load()
	if pl.learn {
		if v, ok := fdb.lookup(fdbKeyWord(vlan, k.srcWord())); ok && valPort(v) == pl.in.no {
			x.tracef(nodeDetail, "learn: %s in VLAN %d is on port %s already (its age is refreshed)", macString(src), vlan, pl.in.name)
		} else {
			x.tracef(nodeDetail, "learn: %s in VLAN %d on port %s", macString(src), vlan, pl.in.name)
		}
	} else {
		x.tracef(nodeDetail, "learning is off on port %s", pl.in.name)
	}
	pcpdei := uint16(0)
	if k.vlanPresent() {
		pcpdei = k.wireTCI() & 0xf000
	}
	if dst[0]&1 == 0 {
		v, ok := fdb.lookup(fdbKeyWord(vlan, k.dstWord()))
		if pl.learn && dst == src && !(ok && valIsStatic(v)) {
			// Learning comes first: the destination is the source just learned.
			v, ok = fdbVal(pl.in.no, false, NoEndpoint, now), true
		}
		if ok {
			no := valPort(v)
			kind := "learned"
			if valIsStatic(v) {
				kind = "static"
			}
			if no == pl.in.no {
				x.tracef(nodeDetail, "FDB: %s in VLAN %d is on the ingress port %s (%s): drop (same-port)", macString(dst), vlan, pl.in.name, kind)
				x.traceOut(TraceOutput{Drop: DropSamePort.String()})
				return
			}
			if q := pl.snap.ports[no]; q != nil && q.st.member.Has(vlan) {
				if !q.st.forwards() {
					x.tracef(nodeDetail, "FDB: %s is on port %s, which is %s (spanning tree): drop (stp-blocked)", macString(dst), q.p.name, q.st.state)
					x.traceOut(TraceOutput{Drop: DropSTP.String()})
					return
				}
				if kind == "learned" {
					kind += fmt.Sprintf(", age %ds", age(now, valSeen(v)))
				}
				x.tracef(nodeDetail, "FDB: %s in VLAN %d is on port %s (%s)", macString(dst), vlan, q.p.name, kind)
				_, patch := q.p.dev.(*Patch)
				x.traceNormalOut(floodOut{pv: q, tagged: q.st.tagged.Has(vlan), vni: q.st.vni(vlan), patch: patch}, vlan, pcpdei, valEndpoint(v))
				return
			}
			x.tracef(nodeDetail, "FDB: %s is on port %d, which does not carry VLAN %d: flood", macString(dst), no, vlan)
		} else {
			x.tracef(nodeDetail, "FDB: %s in VLAN %d is unknown: flood", macString(dst), vlan)
		}
	} else {
		x.tracef(nodeDetail, "destination %s is broadcast/multicast: flood", macString(dst))
	}
	for _, q := range pl.snap.list {
		switch {
		case q.p == pl.in:
			x.tracef(nodeDetail, "flood: skip %s: the ingress port", q.p.name)
		case !q.st.member.Has(vlan):
			x.tracef(nodeDetail, "flood: skip %s: does not carry VLAN %d (%s)", q.p.name, vlan, describePort(q.st))
		case !q.st.forwards():
			x.tracef(nodeDetail, "flood: skip %s: %s (spanning tree)", q.p.name, q.st.state)
		}
	}
	if len(pl.flood) == 0 {
		x.tracef(nodeDetail, "flood: no other port carries VLAN %d: drop (no-port)", vlan)
		x.traceOut(TraceOutput{Drop: DropNoPort.String()})
		return
	}
	for _, fo := range pl.flood {
		x.traceNormalOut(fo, vlan, pcpdei, NoEndpoint)
	}
}

// traceNormalOut explains one NORMAL output (into a peer bridge for a patch
// port).
func (x *xlate) traceNormalOut(fo floodOut, vlan, pcpdei uint16, remote Endpoint) {
	q := fo.pv
	saved := x.key
	if fo.tagged {
		x.setWireTCI(pcpdei | vlan)
	} else {
		x.untag()
	}
	if fo.patch {
		x.tracePatch(q)
		x.key = saved
		return
	}
	o := op{kind: opOutput, port: q.p, vni: fo.vni, remote: remote}
	x.tracef(nodeOutput, "output to %s (port %d) %s%s", q.p.name, q.no, formForm(q.st, vlan, pcpdei), tunnelNote(&o, q))
	out := TraceOutput{Bridge: q.p.b.name, Port: q.p.name, VLAN: -1, VNI: fo.vni}
	if fo.tagged {
		out.VLAN, out.PCP = int(vlan), int(pcpdei>>13)
	}
	if remote != NoEndpoint {
		out.Remote = remote.String()
	}
	x.traceOut(out)
	x.key = saved
}

// isLinkLocal reports whether mac is one of 01:80:C2:00:00:00–0F (STP,
// LACP, pause…), which a bridge never forwards.
func isLinkLocal(m [6]byte) bool {
	return m[0] == 0x01 && m[1] == 0x80 && m[2] == 0xc2 && m[3] == 0 && m[4] == 0 && m[5]&0xf0 == 0
}

// tracePatch explains a NORMAL output to patch port q: the frame continues
// in the peer bridge's pipeline (the trace follows it with a decision of its
// own, as the packet would meet the peer bridge's cached decision).
func (x *xlate) tracePatch(q *portView) {
	pp := q.p.dev.(*Patch).peer.port.Load()
	if pp == nil {
		x.tracef(nodeDetail, "patch port %s: its peer is not attached: dropped", q.p.name)
		return
	}
	if x.hops >= maxPatchHops {
		x.tracef(nodeDetail, "patch port %s: %d patch ports crossed: dropped (loop)", q.p.name, x.hops)
		x.traceOut(TraceOutput{Drop: DropLoop.String()})
		return
	}
	ps := pp.b.snap.Load()
	pv := ps.ports[pp.no]
	if pv == nil || pv.p != pp {
		x.tracef(nodeDetail, "patch port %s: peer %s is not on its bridge yet: dropped", q.p.name, pp.name)
		return
	}
	x.tr.push(nodePatch, "patch port %s → %s on bridge %s", q.p.name, pp.name, pp.b.name)
	y := &xlate{d: &Decision{drop: DropNoPort}, snap: ps, key: x.key, in: pv, tr: x.tr, hops: x.hops + 1, depth: x.depth + 1, ingress: x.ingress}
	y.key.Set(FieldInPort, Value{Lo: uint64(pp.no)})
	for w := 14; w <= 28; w++ {
		y.key[w] = 0 // metadata, tunnel fields, registers
	}
	y.base = y.key
	y.d.snap = ps
	y.pipeline(0)
	y.finishSet()
	x.tr.pop()
}

// traceOut records a final output (or drop) of a traced frame.
func (x *xlate) traceOut(o TraceOutput) {
	if x.tr != nil {
		x.tr.Outputs = append(x.tr.Outputs, o)
	}
}
