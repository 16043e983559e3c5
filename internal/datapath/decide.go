package datapath

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
)

// Decision is what the pipeline decided for a flow: the operations to apply
// to each of its packets, the key bits it consulted (its mask), and the
// snapshots it read (one per bridge it crossed). It is immutable once made,
// and shared by every packet of the flows its mask covers.
//
// A decision never depends on the FDB: NORMAL's forwarding step is an
// operation (opNormal) that looks the destination up in the lock-free FDB
// for every packet, so one decision serves all the traffic of a VLAN on a
// port, and learning, moves and aging invalidate nothing.
type Decision struct {
	ops []op
	// mask is the fields the decision consulted: while deciding, the
	// scratch's accumulator; once cached, the cache subtable's mask (every
	// entry of a subtable has the same one, so it is not stored 65,536
	// times); otherwise a copy of its own.
	mask  *Key
	snap  *snapshot   // the ingress bridge's snapshot
	snaps []*snapshot // the other bridges the decision crossed (patch ports)
	rules []*Rule
	// tables are the lookups the decision made: table id and whether a
	// rule matched (for OpenFlow table statistics).
	tables []tableHit
	// drop says why a packet that reaches no output is dropped.
	drop DropReason
	nOut int
	// keyed says execute must keep the packet's key in line with its
	// rewrites (a NORMAL step may continue through a patch port).
	keyed bool
	// normalOnly says the decision is NORMAL and nothing else (the
	// default pipeline): the receive loop runs the NORMAL step directly.
	normalOnly bool

	// Inline room for the common sizes, so a decision is one allocation.
	opsBuf   [2]op
	rulesBuf [4]*Rule
	tabsBuf  [4]tableHit
}

type tableHit struct {
	t       *table
	matched bool
}

// Outputs returns the ports the decision sends to (with repeats), for tests
// and traces.
func (d *Decision) Outputs() []*Port {
	var l []*Port
	for i := range d.ops {
		if d.ops[i].kind == opOutput {
			l = append(l, d.ops[i].port)
		}
	}
	return l
}

// Drop returns why packets of the decision that reach no output are
// dropped.
func (d *Decision) Drop() DropReason { return d.drop }

// maxDepth bounds resubmits and patch-port crossings (Open vSwitch: 64).
const maxDepth = 64

// maxPatchHops bounds how many patch ports one decision crosses, so two
// bridges joined twice cannot recurse a flood for long.
const maxPatchHops = 8

// xlate is the state of one decision being made.
type xlate struct {
	d      *Decision
	snap   *snapshot // the bridge the packet is in now
	key    Key       // the packet as the actions have changed it
	base   Key       // the packet as the operations so far leave it (words 0-13 only: commitWords)
	mask   Key       // the fields consulted so far (the decision's mask)
	in     *portView // the ingress port in this bridge (nil: none, e.g. packet-out)
	tr     *Trace
	depth  int
	hops   int
	table  uint8
	set    []Action // the action set (write_actions)
	tunSet bool     // an action set the tunnel fields (output uses them)
	exit   bool     // stop translating (drop by dec_ttl, resubmit limit)
	vlanOK bool     // the packet's VLAN was admitted by NORMAL (for traces)
	// ingress is the port the packet entered the first bridge on (drop
	// counts land there).
	ingress *Port
	// rule is the rule being run (nil: none, as for a packet-out's own
	// actions); inSet, inGroup say the action set or a group bucket is
	// running; packetOut says the actions are a packet-out's (output:TABLE
	// runs the pipeline); exitAction says an exit stopped the pipeline
	// (the action set still runs).
	rule       *Rule
	inSet      bool
	inGroup    int
	packetOut  bool
	exitAction bool
}

var xlatePool = sync.Pool{New: func() any { return new(xlate) }}

// decide runs the pipeline of snapshot s for key k arriving on port in
// (nil: no port, as for a packet-out from a controller) and returns the
// decision. It has no side effects; tr, if not nil, records every step.
func decide(s *snapshot, k *Key, in *portView, tr *Trace) *Decision {
	d := new(Decision)
	x := xlatePool.Get().(*xlate)
	decideInto(d, x, s, k, in, tr)
	d.ownMask()
	xlatePool.Put(x)
	return d
}

// ownMask gives d a copy of its mask (which points into decide's scratch
// until then).
func (d *Decision) ownMask() {
	m := new(Key)
	*m = *d.mask
	d.mask = m
}

// decideInto is decide into a zeroed decision d with scratch x (a receive
// context's own, or one from the pool).
func decideInto(d *Decision, x *xlate, s *snapshot, k *Key, in *portView, tr *Trace) *Decision {
	d.drop = DropNoPort
	d.ops, d.rules, d.tables = d.opsBuf[:0], d.rulesBuf[:0], d.tabsBuf[:0]
	// Field by field: a composite literal would build a 600-byte
	// temporary and copy it. Every field of xlate is set here.
	x.d, x.snap, x.in, x.tr = d, s, in, tr
	x.key = *k
	copy(x.base[:commitWords], k[:commitWords]) // all commit reads
	x.mask = Key{}
	d.mask = &x.mask // until the caller gives it a home (ownMask, or the cache's)
	x.depth, x.hops, x.table = 0, 0, 0
	x.set = x.set[:0]
	x.tunSet, x.exit, x.vlanOK = false, false, false
	x.ingress = nil
	x.rule, x.inSet, x.inGroup, x.packetOut, x.exitAction = nil, false, 0, false, false
	if in != nil {
		x.ingress = in.p
	}
	d.snap = s
	x.mask.unwildcard(FieldInPort)
	if x.admit() {
		x.pipeline(0)
		x.finishSet()
	}
	for i := range d.ops {
		if d.ops[i].kind == opNormal {
			d.keyed = d.keyed || d.ops[i].plan.snap.hasPatch
			d.ops[i].last = i == len(d.ops)-1
		}
	}
	d.normalOnly = len(d.ops) == 1 && d.ops[0].kind == opNormal
	return d
}

// pipeline runs the tables from table id.
func (x *xlate) pipeline(id uint8) {
	for !x.exit {
		x.table = id
		var r *Rule
		if id == 0 && x.snap.of.failOpen {
			r = x.snap.of.failRule // standalone with no controller: wins over every rule
		} else {
			r = x.snap.tables.lookup(id, &x.key, &x.mask)
			if t := x.snap.tables.t[id]; t != nil {
				x.d.tables = append(x.d.tables, tableHit{t: t, matched: r != nil})
			}
		}
		if r == nil {
			if x.snap.of.missCtl {
				if x.tr != nil {
					x.tracef(nodeTable, "table %d: no rule matched (table miss): to the controllers", id)
				}
				x.rule = nil
				x.controller(MaxLenMissSend, PacketInNoMatch, 0, "")
				return
			}
			if x.tr != nil {
				x.tracef(nodeTable, "table %d: no rule matched (table miss): drop", id)
			}
			if x.d.drop == DropNoPort && x.d.nOut == 0 {
				x.d.drop = DropTableMiss
			}
			return
		}
		x.rule = r
		x.d.rules = append(x.d.rules, r)
		if x.tr != nil && r == x.snap.of.failRule {
			x.tr.push(nodeTable, "table %d: fail-open rule (standalone fail mode, no controller connected): NORMAL", id)
		} else if x.tr != nil {
			m := x.fmtMatch(&r.Match)
			text := fmt.Sprintf("table %d: priority=%d", id, r.Priority)
			if m != "" {
				text += "," + m
			}
			if r.Cookie != 0 {
				text += fmt.Sprintf(" cookie=%#x", r.Cookie)
			}
			x.tr.push(nodeTable, "%s", text)
			x.tr.last().Rule = &TraceRule{Table: id, Priority: r.Priority, Cookie: r.Cookie, Match: m, Actions: x.fmtInstr(&r.Instr)}
		}
		in := &r.Instr
		if len(in.Apply) == 0 && !in.Clear && len(in.Write) == 0 && in.Goto == NoGoto && x.d.nOut == 0 && x.d.drop == DropNoPort {
			x.d.drop = DropByRule
		}
		if in.Meter != 0 {
			x.meter(in.Meter)
		}
		x.actions(in.Apply)
		if in.Clear {
			x.set = x.set[:0]
			x.tracef(nodeAction, "clear_actions")
		}
		if len(in.Write) > 0 {
			x.writeSet(in.Write)
		}
		if in.WriteMetadata {
			m := x.key.Get(FieldMetadata).Lo
			x.key.Set(FieldMetadata, Value{Lo: m&^in.MetadataMask | in.Metadata&in.MetadataMask})
			if x.tr != nil {
				x.tracef(nodeAction, "write_metadata:%#x/%#x", in.Metadata, in.MetadataMask)
			}
		}
		if x.tr != nil {
			x.tr.pop()
		}
		if in.Goto == NoGoto || x.exit {
			return
		}
		if x.tr != nil {
			x.tracef(nodeAction, "goto_table:%d", in.Goto)
		}
		id = uint8(in.Goto)
	}
}

// writeSet merges actions into the action set: one action per type, one
// set_field per field, the later one winning.
func (x *xlate) writeSet(l []Action) {
	for _, a := range l {
		if x.tr != nil {
			x.tracef(nodeAction, "write_actions(%s)", x.fmtAction(&a))
		}
		replaced := false
		for i := range x.set {
			if x.set[i].Kind == a.Kind && (a.Kind != ActSetField || x.set[i].Field == a.Field) {
				x.set[i], replaced = a, true
				break
			}
		}
		if !replaced {
			x.set = append(x.set, a)
		}
	}
}

// setOrder is the order OpenFlow 1.3 runs an action set in.
var setOrder = []ActionKind{ActPopVLAN, ActPushVLAN, ActDecTTL, ActSetField, ActMove, ActSetQueue, ActMeter, ActGroup, ActOutput, ActOutputReg, ActController, ActResubmit}

// finishSet runs the action set at the end of the pipeline.
func (x *xlate) finishSet() {
	if x.exitAction {
		x.exit, x.exitAction = false, false // exit stops the pipeline, not the action set
	}
	if len(x.set) == 0 || x.exit {
		return
	}
	set := x.set
	x.set = nil
	x.inSet = true
	defer func() { x.inSet = false }()
	x.tracef(nodeAction, "action set")
	hasGroup := false
	for _, a := range set {
		hasGroup = hasGroup || a.Kind == ActGroup
	}
	for _, kind := range setOrder {
		for i := range set {
			if set[i].Kind != kind || ((kind == ActOutput || kind == ActOutputReg) && hasGroup) {
				continue
			}
			x.actions(set[i : i+1])
		}
	}
}

// actions runs a list of actions.
func (x *xlate) actions(l []Action) {
	for i := range l {
		if x.exit {
			return
		}
		a := &l[i]
		switch a.Kind {
		case ActOutput:
			if x.tr != nil && a.Port != PortNormal {
				x.tracef(nodeAction, "%s", x.fmtAction(a))
			}
			x.output(a.Port, a.MaxLen)
		case ActController:
			x.controller(int(a.MaxLen), a.Reason, a.ControllerID, a.Userdata)
		case ActGroup:
			x.group(a.ID)
		case ActSetQueue:
			if x.tr != nil {
				x.tracef(nodeAction, "set_queue:%d (queues arrive with QoS)", a.ID)
			}
		case ActMeter:
			x.meter(a.ID)
		case ActOutputReg:
			x.outputReg(a)
		case ActExit:
			x.tracef(nodeAction, "exit")
			x.exit, x.exitAction = true, true
		case ActPushVLAN:
			x.pushVLAN(a.EtherType)
		case ActPopVLAN:
			x.popVLAN()
		case ActSetField:
			x.setField(a)
		case ActMove:
			x.move(a)
		case ActDecTTL:
			x.decTTL()
		case ActResubmit:
			x.resubmit(a)
		}
	}
}

func (x *xlate) tracef(kind traceKind, format string, a ...any) {
	if x.tr != nil {
		x.tr.add(kind, format, a...)
	}
}

// emit appends an operation for execute.
func (x *xlate) emit(o op) { x.d.ops = append(x.d.ops, o) }

// --- VLAN actions -----------------------------------------------------
//
// Actions change x.key, the packet as it should be; nothing touches the
// packet until it goes somewhere: commit then emits the operations that turn
// the packet as it is (x.base) into x.key, as Open vSwitch composes
// datapath set() actions. So a flood that sends tagged and untagged copies,
// or a patch port whose peer bridge rewrote the tag, needs no undo logic.

func (x *xlate) pushVLAN(tpid uint16) {
	x.mask.unwildcard(FieldVLANVID)
	x.mask.unwildcard(FieldVLANPCP)
	if tpid != etherTypeVLAN {
		// The key models one 802.1Q tag; an 802.1ad tag is pushed as bytes
		// (after what is pending) and not matched afterwards.
		if x.tr != nil {
			x.tracef(nodeAction, "push_vlan:%#x", tpid)
		}
		x.commit()
		x.emit(op{kind: opPushVLAN, u16: tpid})
		return
	}
	tci := x.key.wireTCI()
	if !x.key.vlanPresent() {
		tci = 0
	}
	x.tracef(nodeAction, "push_vlan:0x8100")
	x.setWireTCI(tci)
}

func (x *xlate) popVLAN() {
	x.mask.unwildcard(FieldVLANVID)
	if !x.key.vlanPresent() {
		x.tracef(nodeAction, "pop_vlan: no tag; nothing to pop")
		return
	}
	x.tracef(nodeAction, "pop_vlan")
	x.untag()
}

// setWireTCI makes the packet carry an 802.1Q tag with tci (PCP, DEI, VID).
func (x *xlate) setWireTCI(tci uint16) {
	x.key.setTCI(tci&0xefff | 0x1000)
	x.key[0] = x.key[0]&^(1<<48) | uint64(tci>>12&1)<<48
}

// untag makes the packet carry no 802.1Q tag.
func (x *xlate) untag() {
	x.key.setTCI(0)
	x.key[0] &^= 1 << 48
}

// packetFields are the fields commit compares: every writable field that
// lives in the packet's bytes (VLAN is handled apart).
var packetFields = []Field{FieldEthDst, FieldEthSrc, FieldIPv4Src, FieldIPv4Dst, FieldIPv6Src, FieldIPv6Dst,
	FieldIPDSCP, FieldIPECN, FieldIPTTL, FieldIPv6Label, FieldTPSrc, FieldTPDst, FieldARPOp, FieldARPSHA, FieldARPTHA,
	FieldNDTarget}

// commit emits the operations that make the packet what x.key says.
func (x *xlate) commit() {
	b, k := &x.base, &x.key
	switch bp, kp := b.vlanPresent(), k.vlanPresent(); {
	case bp && !kp:
		x.emit(op{kind: opPopVLAN})
	case !bp && kp:
		x.emit(op{kind: opPushVLAN, u16: etherTypeVLAN})
		x.emit(op{kind: opSetTCI, u16: k.wireTCI()})
	case bp && kp && b.wireTCI() != k.wireTCI():
		x.emit(op{kind: opSetTCI, u16: k.wireTCI()})
	}
	if [13]uint64(b[1:14]) != [13]uint64(k[1:14]) { // some field of the packet changed
		for _, f := range packetFields {
			if v := k.Get(f); v != b.Get(f) {
				x.emit(op{kind: opSetField, field: f, val: v})
			}
		}
	}
	// ICMP type/code share tp_src/tp_dst's bits, ND's link-layer addresses
	// share ARP's: the comparisons above cover them.
	copy(b[:commitWords], k[:commitWords])
}

// commitWords are the key words commit compares (the VLAN in word 0, the
// packet's own fields in 1-13): the only words of x.base that are kept.
const commitWords = 14

// --- set_field, move, dec_ttl ------------------------------------------

// setField writes a value into a field of the packet (and of the key).
func (x *xlate) setField(a *Action) {
	f := a.Field
	mask := a.Mask
	if mask.IsZero() {
		mask = f.FullMask()
	}
	if x.tr != nil {
		x.tracef(nodeAction, "%s", x.fmtAction(a))
	}
	x.writeField(f, a.Value, mask, a.PushVLAN)
}

// writeField stores v under m in field f: in the key, and as an operation
// on the packet when the field is in the packet.
func (x *xlate) writeField(f Field, v, m Value, push bool) {
	switch f {
	case FieldVLANVID, FieldVLANPCP:
		x.mask.unwildcard(FieldVLANVID)
		if !x.key.vlanPresent() {
			if !push {
				if x.tr != nil {
					x.tracef(nodeDetail, "no VLAN tag: %s not set", f)
				}
				return
			}
			x.setWireTCI(0)
		}
		x.mask.unwildcard(FieldVLANPCP)
		if f == FieldVLANVID {
			m.Lo &= 0xfff // the present bit stays
		}
		x.key.SetMasked(f, v, m)
		return
	case FieldMetadata, FieldTunID, FieldTunIPv4Src, FieldTunIPv4Dst, FieldTunIPv6Src, FieldTunIPv6Dst:
		x.key.SetMasked(f, v, m)
		if f != FieldMetadata {
			x.tunSet = true
		}
		return
	}
	if f >= FieldReg0 && f <= FieldRegLast {
		x.key.SetMasked(f, v, m)
		return
	}
	if !x.headerPresent(f) {
		if x.tr != nil {
			x.tracef(nodeDetail, "the packet has no %s header: not set", f)
		}
		return
	}
	if m != f.FullMask() {
		// A partial write reads the rest of the field.
		x.mask.SetMasked(f, f.FullMask(), f.FullMask())
	}
	x.key.SetMasked(f, v, m)
}

// headerPresent reports whether the packet has the header that holds f,
// consulting (and so un-wildcarding) eth_type and ip_proto.
func (x *xlate) headerPresent(f Field) bool {
	fi := fieldInfo[f]
	if fi.Prereq == PrereqNone && f != FieldEthSrc && f != FieldEthDst {
		return true
	}
	if f == FieldEthSrc || f == FieldEthDst {
		return true
	}
	x.mask.unwildcard(FieldEthType)
	et := x.key.ethType()
	needProto := func() uint8 {
		x.mask.unwildcard(FieldIPProto)
		return x.key.ipProto()
	}
	isIP := et == etherTypeIPv4 || et == etherTypeIPv6
	switch fi.Prereq {
	case PrereqIP:
		return isIP
	case PrereqIPv4:
		return et == etherTypeIPv4
	case PrereqIPv6:
		return et == etherTypeIPv6
	case PrereqARP:
		return et == etherTypeARP
	case PrereqTPort:
		p := needProto()
		return isIP && (p == 6 || p == 17 || p == 132)
	case PrereqTCP:
		return isIP && needProto() == 6
	case PrereqICMP:
		p := needProto()
		return et == etherTypeIPv4 && p == 1 || et == etherTypeIPv6 && p == 58
	case PrereqND, PrereqNDSLL, PrereqNDTLL:
		if et != etherTypeIPv6 || needProto() != 58 {
			return false
		}
		x.mask.unwildcard(FieldICMPType)
		t := x.key.Get(FieldICMPType).Lo
		switch fi.Prereq {
		case PrereqNDSLL:
			return t == 135
		case PrereqNDTLL:
			return t == 136
		}
		return t == 135 || t == 136
	}
	return true
}

// move copies bits between fields (move:SRC[a..b]->DST[c..d]).
func (x *xlate) move(a *Action) {
	if x.tr != nil {
		x.tracef(nodeAction, "%s", x.fmtAction(a))
	}
	src := x.key.Get(a.Src)
	x.mask.unwildcard(a.Src) // the result depends on the source's value
	var v, m Value
	if a.NBits >= 128 {
		v, m = src, a.Field.FullMask()
	} else {
		bits := (uint64(1)<<a.NBits - 1)
		if a.NBits == 64 {
			bits = ^uint64(0)
		}
		s := src.Lo
		if a.SrcOfs >= 64 {
			s = src.Hi >> (a.SrcOfs - 64)
		} else if a.SrcOfs > 0 {
			s = src.Lo>>a.SrcOfs | src.Hi<<(64-a.SrcOfs)
		}
		s &= bits
		if a.DstOfs >= 64 {
			v, m = Value{Hi: s << (a.DstOfs - 64)}, Value{Hi: bits << (a.DstOfs - 64)}
		} else {
			v, m = Value{Lo: s << a.DstOfs}, Value{Lo: bits << a.DstOfs}
			if a.DstOfs > 0 && a.NBits+a.DstOfs > 64 {
				v.Hi, m.Hi = s>>(64-a.DstOfs), bits>>(64-a.DstOfs)
			}
		}
	}
	x.writeField(a.Field, v, m, false)
}

func (x *xlate) decTTL() {
	x.mask.unwildcard(FieldEthType)
	et := x.key.ethType()
	if et != etherTypeIPv4 && et != etherTypeIPv6 {
		x.tracef(nodeAction, "dec_ttl: not IP; nothing to do")
		return
	}
	x.mask.unwildcard(FieldIPTTL)
	ttl := x.key.ttl()
	if ttl <= 1 {
		if x.tr != nil {
			x.tracef(nodeAction, "dec_ttl: TTL %d: drop (ttl-exceeded)", ttl)
		}
		if x.snap.ctl {
			x.controller(MaxLenAll, PacketInInvalidTTL, 0, "")
		}
		if x.d.nOut == 0 {
			x.d.drop = DropTTL
		}
		x.exit = true
		return
	}
	if x.tr != nil {
		x.tracef(nodeAction, "dec_ttl: TTL %d → %d", ttl, ttl-1)
	}
	x.key.Set(FieldIPTTL, Value{Lo: uint64(ttl - 1)})
}

func (x *xlate) resubmit(a *Action) {
	if x.depth >= maxDepth {
		if x.tr != nil {
			x.tracef(nodeAction, "resubmit: depth limit %d reached: drop", maxDepth)
		}
		if x.d.nOut == 0 {
			x.d.drop = DropLoop
		}
		x.exit = true
		return
	}
	table := a.Table
	if table == TableAll {
		table = x.table
	}
	oldIn, oldPort, oldTable, oldRule := x.in, x.key.Get(FieldInPort).Lo, x.table, x.rule
	if a.Port != PortInPort {
		x.key.Set(FieldInPort, Value{Lo: uint64(a.Port)})
		x.in = x.snap.ports[uint16(a.Port)]
	}
	if x.tr != nil {
		x.tr.push(nodeResubmit, "resubmit(%s,%d)", formatPortNo(a.Port, x.snap), table)
	}
	x.depth++
	x.pipeline(table)
	x.depth--
	if x.tr != nil {
		x.tr.pop()
	}
	x.in, x.table, x.rule = oldIn, oldTable, oldRule
	x.key.Set(FieldInPort, Value{Lo: oldPort})
}

// --- output ---------------------------------------------------------------

// output sends the packet to OpenFlow port no.
func (x *xlate) output(no uint32, maxLen uint16) {
	switch no {
	case PortNormal:
		x.normal()
		return
	case PortInPort:
		if x.in == nil || x.in == x.snap.ctlView {
			x.tracef(nodeDetail, "no input port: dropped")
			return
		}
		x.outputTo(x.in, true)
		return
	case PortFlood, PortAll:
		for _, q := range x.snap.list {
			if q != x.in && q.st.forwards() && !q.noFwd && !(no == PortFlood && q.noFlood) {
				x.outputTo(q, false)
			}
		}
		return
	case PortLocal:
		if x.snap.local == nil {
			if x.tr != nil {
				x.tracef(nodeDetail, "LOCAL: bridge %s has no port named %s: dropped", x.snap.b.name, x.snap.b.name)
			}
			return
		}
		x.outputTo(x.snap.local, false)
		return
	case PortController:
		x.controller(int(maxLen), x.reasonFor(), 0, "")
		return
	case PortTable:
		x.table0()
		return
	}
	q := x.snap.ports[uint16(no)]
	if no > MaxOFPort || q == nil {
		if x.tr != nil {
			x.tracef(nodeDetail, "no port %d on bridge %s: dropped", no, x.snap.b.name)
		}
		return
	}
	if !q.st.forwards() {
		if x.tr != nil {
			x.tracef(nodeDetail, "port %s is %s (spanning tree): not sent there", q.p.name, q.st.state)
		}
		x.dropAs(DropSTP)
		return
	}
	if q == x.in {
		x.tracef(nodeDetail, "skipping output to the input port (use in_port to send there)")
		if x.d.nOut == 0 {
			x.d.drop = DropSamePort
		}
		return
	}
	x.outputTo(q, false)
}

// outputTo queues the packet, as it is now, to port q (an explicit output,
// not NORMAL: no VLAN rules are applied).
func (x *xlate) outputTo(q *portView, hairpin bool) {
	_ = hairpin
	if q.noFwd {
		if x.tr != nil {
			x.tracef(nodeDetail, "port %s has port_down or no_fwd (OpenFlow port config): not sent there", q.p.name)
		}
		x.dropAs(DropPortDown)
		return
	}
	if _, ok := q.p.dev.(*Patch); ok {
		x.patch(q)
		return
	}
	o := op{kind: opOutput, port: q.p}
	if q.st.cfg.Tunnel {
		x.tunnelOut(q, &o, false, NoEndpoint)
	}
	if x.tr != nil {
		x.tracef(nodeOutput, "output to %s (port %d)%s", q.p.name, q.no, tunnelNote(&o, q))
		out := TraceOutput{Bridge: q.p.b.name, Port: q.p.name, VLAN: -1, VNI: o.vni}
		if x.key.vlanPresent() {
			out.VLAN, out.PCP = int(x.key.vlanTCI()&0xfff), int(x.key.vlanTCI()>>13)
		}
		if o.remote != NoEndpoint {
			out.Remote = o.remote.String()
		}
		x.traceOut(out)
	}
	x.commit()
	x.emit(o)
	x.d.nOut++
}

// tunnelOut fills the VNI and remote of an output to tunnel port q: from
// the tunnel fields when an action set them, else from the port (its VNI,
// or for a VNI-mapped port the VNI of the frame's VLAN, which leaves
// untagged inside it).
func (x *xlate) tunnelOut(q *portView, o *op, normal bool, remote Endpoint) {
	o.remote = remote
	if x.tunSet && !normal {
		o.vni = uint32(x.key.Get(FieldTunID).Lo) & MaxVNI
		var addr netip.Addr
		if d := x.key.Get(FieldTunIPv4Dst).Lo; d != 0 {
			addr = netip.AddrFrom4([4]byte{byte(d >> 24), byte(d >> 16), byte(d >> 8), byte(d)})
		} else if v := x.key.Get(FieldTunIPv6Dst); !v.IsZero() {
			var a [16]byte
			for i := 0; i < 8; i++ {
				a[i], a[8+i] = byte(v.Hi>>(56-8*i)), byte(v.Lo>>(56-8*i))
			}
			addr = netip.AddrFrom16(a)
		}
		if addr.IsValid() {
			if ep, err := InternEndpoint(addr); err == nil {
				o.remote = ep
			}
		}
		return
	}
	if q.st.vniOf != nil && !normal {
		x.mask.unwildcard(FieldVLANVID)
		if vid := x.key.vlanTCI() & 0xfff; x.key.vlanPresent() && q.st.member.Has(vid) {
			o.vni = q.st.vniOf[vid]
			x.popVLAN()
			return
		}
	}
	o.vni = q.st.cfg.VNI
}

func tunnelNote(o *op, q *portView) string {
	if !q.st.cfg.Tunnel {
		return ""
	}
	to := "flood to the port's remotes"
	if o.remote != NoEndpoint {
		to = "remote VTEP " + o.remote.String()
	}
	return fmt.Sprintf(": encapsulate with VNI %d, %s", o.vni, to)
}

// patch continues the decision in the bridge of q's peer: the frame leaves
// q and enters the peer port as it is now (Open vSwitch's
// patch_port_output). Registers and metadata start from zero there.
func (x *xlate) patch(q *portView) {
	peerEnd := q.p.dev.(*Patch).peer
	pp := peerEnd.port.Load()
	if pp == nil {
		if x.tr != nil {
			x.tracef(nodeDetail, "patch port %s: its peer is not attached: dropped", q.p.name)
		}
		return
	}
	if x.hops >= maxPatchHops || x.depth >= maxDepth {
		if x.tr != nil {
			x.tracef(nodeDetail, "patch port %s: %d patch ports crossed: dropped (loop)", q.p.name, x.hops)
		}
		x.emit(op{kind: opCountDrop, port: x.ingress, u16: uint16(DropLoop)})
		return
	}
	ps := pp.b.snap.Load()
	pv := ps.ports[pp.no]
	if pv == nil || pv.p != pp {
		if x.tr != nil {
			x.tracef(nodeDetail, "patch port %s: peer %s is not on its bridge yet: dropped", q.p.name, pp.name)
		}
		return
	}
	x.emit(op{kind: opPatch, port: q.p, peer: pp})
	if x.tr != nil {
		x.tr.push(nodePatch, "patch port %s → %s on bridge %s", q.p.name, pp.name, pp.b.name)
	}
	saved := *x
	x.d.snaps = append(x.d.snaps, ps)
	x.snap, x.in, x.set, x.tunSet = ps, pv, nil, false
	x.key.Set(FieldInPort, Value{Lo: uint64(pp.no)})
	x.key[14] = 0 // metadata
	for w := 15; w <= 28; w++ {
		x.key[w] = 0 // tunnel fields and registers
	}
	x.hops++
	x.depth++
	x.pipeline(0)
	x.finishSet()
	if x.tr != nil {
		x.tr.pop()
	}
	d, base, mask := x.d, x.base, x.mask
	*x = saved
	x.d, x.base, x.mask = d, base, mask // the packet is as the peer left it; the key as it was here
	x.exit = false
}

// DatapathActions renders the decision's operations as Open vSwitch's
// dpctl/dump-flows renders datapath actions: output port numbers, pushes,
// pops and sets in order, NORMAL's per-packet step as normal(…), "drop" for
// nothing.
func (d *Decision) DatapathActions() string {
	var parts []string
	for i := range d.ops {
		o := &d.ops[i]
		switch o.kind {
		case opOutput:
			s := fmt.Sprint(o.port.no)
			if o.port.b != d.snap.b {
				s = o.port.b.name + ":" + s
			}
			if o.port.st.cfg.Tunnel {
				dst := "flood"
				if o.remote != NoEndpoint {
					dst = o.remote.String()
				}
				s = fmt.Sprintf("tnl(vni=%d,dst=%s)%s", o.vni, dst, s)
			}
			parts = append(parts, s)
		case opLearn:
			parts = append(parts, "learn")
		case opNormal:
			fl := make([]string, 0, len(o.plan.flood))
			for _, f := range o.plan.flood {
				fl = append(fl, fmt.Sprint(f.pv.no))
			}
			parts = append(parts, fmt.Sprintf("normal(vlan=%d,learn=%v,flood=%s)", o.plan.vlan, o.plan.learn, strings.Join(fl, "+")))
		default:
			parts = append(parts, o.String())
		}
	}
	if len(parts) == 0 {
		return "drop"
	}
	return strings.Join(parts, ",")
}
